"""0.4's in-batch hybrid-task training: the real sources (AFLW-68, CelebA, UTKFace), the mixed
batches, each loss's masking, the recovered pack, the age/gender outputs and the evaluate modes."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

from edgeface.runtime.errors import EdgefaceError, ModelError  # noqa: E402
from edgeface.tools.datasets import data_root  # noqa: E402

pytestmark = pytest.mark.train


def _need(*parts):
    root = data_root()
    if root is None or not all((root / p).exists() for p in parts):
        pytest.skip(f"{', '.join(parts)} not found: set EDGEFACE_DATA")
    return root


# ---- losses: a sample without a label contributes zero to that loss ---------------------------


def _unlabelled_changes_nothing(loss_of, *, pred, target, mask, unlabelled: int):
    """The loss and its gradient must not see the unlabelled sample's target or prediction."""
    pred = pred.clone().requires_grad_(True)
    base = loss_of(pred, target, mask)
    base.backward()
    assert pred.grad[unlabelled].abs().max() == 0
    other = target.clone()
    other[unlabelled] = other[unlabelled] + 7.0
    assert torch.allclose(loss_of(pred, other, mask), base)
    return float(base.detach())


def test_each_new_loss_ignores_samples_without_its_label():
    from edgeface.train import losses

    g = torch.Generator().manual_seed(0)
    dense = torch.rand(3, 520, 3, generator=g)
    indices = torch.arange(68) * 7
    weight = torch.ones(3, 68)
    weight[1] = 0.0
    weight[2, :10] = 0.0  # a self-occluded far jaw on the third
    value = _unlabelled_changes_nothing(
        lambda p, t, m: losses.landmarks68(p, indices, t, m),
        pred=dense,
        target=torch.rand(3, 68, 2, generator=g),
        mask=weight,
        unlabelled=1,
    )
    assert value > 0

    logits, target = torch.randn(3, 47, generator=g), (torch.rand(3, 47, generator=g) > 0.5).float()
    mask = torch.zeros(3, 47)
    mask[0, :40] = 1.0  # CelebA: its 40
    mask[2, 20] = 1.0  # UTKFace: Male only
    rate = torch.full((47,), 0.3)
    loss = lambda p, t, m: losses.attributes(p, t, m, rate, balance=0.0)  # noqa: E731
    _unlabelled_changes_nothing(loss, pred=logits, target=target, mask=mask, unlabelled=1)
    # and within a labelled sample, an unlabelled column does not count either
    p = logits.clone().requires_grad_(True)
    loss(p, target, mask).backward()
    assert p.grad[2, :20].abs().max() == 0 and p.grad[2, 20] != 0

    years, truth = torch.tensor([30.0, 50.0, 20.0]), torch.tensor([25.0, 0.0, 60.0])
    has = torch.tensor([1.0, 0.0, 1.0])
    _unlabelled_changes_nothing(losses.age, pred=years, target=truth, mask=has, unlabelled=1)
    _unlabelled_changes_nothing(
        losses.young,
        pred=torch.tensor([60.0, 60.0, 10.0]),
        target=torch.tensor([1.0, 1.0, 0.0]),
        mask=has,
        unlabelled=1,
    )
    # Young: a young face at 25 and a not-young one at 50 are within the bounds and cost nothing
    assert float(losses.young(torch.tensor([25.0, 50.0]), torch.tensor([1.0, 0.0]), torch.ones(2))) == 0.0

    identity = torch.randn(4, 40, generator=g).requires_grad_(True)
    pull, push = losses.sir(identity, torch.tensor([5, 5, -1, 9]), 3.0)
    (pull + push).backward()
    assert identity.grad[2].abs().max() == 0 and identity.grad[0].abs().max() > 0


def test_hybrid_loss_runs_every_term_and_an_empty_source_adds_nothing():
    """The trainer's loss on a batch where one sample has no labels at all: its outputs get no
    gradient from any supervised term (the priors apply to everyone)."""
    root = _need("ict_facekit.npz")
    from edgeface.train import build, objective
    from edgeface.train.data import example
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.sources import ATTRIBUTES

    config = {
        "backbone": "mobilenetv2_050",
        "input_size": 64,
        "crop_scale": 1.4,
        "identity_size": 8,
        "attributes": "celeba",
        "age_head": True,
        "visibility_head": True,
        "loss": {"landmarks68": 1.0, "attributes": 1.0, "age": 1.0, "young": 1.0, "sir_pull": 1.0, "sir_push": 1.0},
    }
    model = build.build_model(config, MorphableModel.load(root / "ict_facekit.npz"))
    loss = objective.HybridLoss(config, model, "cpu", positive_rate=np.full(len(ATTRIBUTES), 0.3))
    img = np.zeros((3, 64, 64), np.uint8)
    mask = np.zeros(len(ATTRIBUTES), np.float32)
    mask[:40] = 1
    samples = [
        example(
            img,
            attributes=np.ones(len(ATTRIBUTES)),
            attribute_mask=mask,
            young=1.0,
            identity_id=3,
            num_attributes=len(ATTRIBUTES),
        ),
        example(img, num_attributes=len(ATTRIBUTES)),  # nothing labelled
        example(
            img,
            points68=np.full((68, 2), 0.5),
            weight68=np.ones(68),
            age=40.0,
            identity_id=3,
            num_attributes=len(ATTRIBUTES),
        ),
    ]
    batch = {k: torch.as_tensor(np.stack([s[k] for s in samples])) for k in samples[0]}
    model.eval()
    answer = model(torch.zeros(3, 3, 64, 64))
    outputs = type(answer)(*(o.detach().requires_grad_(True) for o in answer))
    total, terms = loss(outputs, batch)
    assert {"landmarks68", "attributes", "age", "young", "sir_pull"} <= set(terms)
    total.backward()
    for o in outputs:
        if o.grad is not None:
            assert o.grad[1].abs().max() == 0


def test_mixed_batches_give_each_source_its_share_and_whole_people():
    from edgeface.train.data import MixedBatches

    people = [np.array([0, 1]), np.array([2, 3, 4]), np.array([5, 6])]
    b = MixedBatches([10, 7, 3], [4, 4, 2], steps=6, groups=[None, people, None], group=[1, 2, 1], seed=1)
    seen = []
    for batch in b:
        assert len(batch) == 10
        first, second, third = batch[:4], batch[4:8], batch[8:]
        assert all(0 <= i < 10 for i in first) and all(17 <= i < 20 for i in third)
        for pair in (second[:2], second[2:]):
            local = [i - 10 for i in pair]
            assert any(set(local) <= set(p.tolist()) for p in people)  # both photos of one person
        seen += first
    assert set(seen) == set(range(10))  # a small source wraps around: every sample comes up
    with pytest.raises(ValueError, match="whole groups"):
        MixedBatches([10, 7], [4, 3], steps=1, groups=[None, people], group=[1, 2])


# ---- loaders -------------------------------------------------------------------------------


def test_aflw68_points_follow_the_crop_and_the_flip(tmp_path):
    root = _need("aflw_train/labels.npz", "aflw_train/labels68.npz", "ict_facekit.npz")
    from edgeface.train.data import AflwShard, pack
    from edgeface.train.sources import Aflw68Examples

    shard = pack(root / "aflw_train", tmp_path / "aflw.npz", limit=64)
    data = Aflw68Examples(AflwShard(shard), root / "aflw_train" / "labels68.npz", 112, 1.4, seed=0)
    checked, flipped, gaps = 0, 0, []
    for epoch in range(3):
        data.epoch = epoch
        for i in range(len(data)):
            s = data[i]
            if not s["weight68"].any() or not s["has_points21"]:
                continue
            # AFLW's outer eye corners (21-point 6, 11) and the 68-point ones (36, 45) mark the same places
            for a, b in ((6, 36), (11, 45)):
                if s["visible21"][a] and s["weight68"][b]:
                    gaps.append(np.linalg.norm(s["points21"][a] - s["points68"][b]))
            # the subject's right eye's outer corner (68-point 36) stays on image-left of the left one's (45)
            if s["weight68"][36] and s["weight68"][45]:
                assert s["points68"][36, 0] < s["points68"][45, 0]
                flipped += 1
            checked += 1
            assert set(np.unique(s["weight68"])) <= {0.0, 0.5, 1.0}
    assert checked > 20 and flipped > 10
    assert np.median(gaps) < 0.025 and np.percentile(gaps, 90) < 0.06


def test_celeba_and_utkface_examples_carry_only_their_labels():
    root = _need("celeba/labels.npz", "utkface/labels.npz")
    import tempfile
    from pathlib import Path

    from edgeface.train.framing import frame
    from edgeface.train.sources import ATTRIBUTES, CELEBA_ID_OFFSET, CelebaExamples, UtkfaceExamples

    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        for name in ("celeba", "utkface"):
            sub = Path(tmp) / name
            (sub / "images").mkdir(parents=True)
            labels = dict(np.load(root / name / "labels.npz"))
            rows = np.flatnonzero(labels["split"] == "train")[:24]
            if name == "celeba":  # two photos of one person, for the groups
                ids = labels["identity"][np.flatnonzero(labels["split"] == "train")]
                person = np.flatnonzero(labels["split"] == "train")[np.flatnonzero(ids == np.argmax(np.bincount(ids)))]
                rows = np.unique(np.concatenate([rows, person[:3]]))
            n = len(labels["names"])
            np.savez(sub / "labels.npz", **{k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in labels.items()})
            for r in rows:
                (sub / "images" / str(labels["names"][r])).symlink_to(root / name / "images" / str(labels["names"][r]))
            out[name] = (sub, frame(sub, Path(tmp) / f"{name}_frames.npz", backend="onnx"))
        celeba = CelebaExamples(out["celeba"][0], out["celeba"][1], 112, seed=0)
        assert len(celeba.groups) >= 1 and all(len(g) >= 2 for g in celeba.groups)
        s = celeba[0]
        assert s["image"].shape == (3, 112, 112) and s["image"].dtype == np.uint8
        assert s["attribute_mask"][:40].all() and not s["attribute_mask"][40:].any()
        assert s["identity_id"] >= CELEBA_ID_OFFSET and s["has_young"] == 1
        assert not s["has_age"] and not s["has_dense"] and not s["weight68"].any() and not s["has_points21"]
        utk = UtkfaceExamples(out["utkface"][0], out["utkface"][1], "train", 112)
        u = utk[0]
        male = ATTRIBUTES.index("Male")
        assert u["has_age"] == 1 and 0 < u["age"] < 120
        assert u["attribute_mask"][male] == 1 and u["attribute_mask"].sum() == 1 and u["identity_id"] == -1
        # the crop is the runtime's: the face fills about 1 / crop_scale of it, not the whole photo
        frames = np.load(out["utkface"][1])
        assert frames["detected"].mean() > 0.8 and (frames["crop"][:, 2] > 100).all()


# ---- recovery, manifest, runtime -----------------------------------------------------------


@pytest.mark.parametrize("commit", ["e49be1e", "bd75bbf", "67bc217", None], ids=["0.3.0", "0.4.0", "0.4.1", "shipped"])
def test_a_recovered_pack_computes_what_its_onnx_file_computes(tmp_path, commit):
    """Released packs (from git history, as the recipe's release stage takes them) back in torch:
    0.3.0, 0.4.0 (an age column; a mesh changed after export, so the baked visibility normals
    must come from the file), 0.4.1 (an attribute branch) and the shipped one (an eyelid branch too)."""
    root = _need("ict_facekit.npz")
    import subprocess

    import onnxruntime as ort

    from edgeface.cli.recipe import ROOT
    from edgeface.runtime.pack import DEFAULT_PACK
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.recover import pack_model

    for name in ("edgeface.json", "model_fp32.onnx"):
        if commit is None:
            (tmp_path / name).write_bytes((DEFAULT_PACK / name).read_bytes())
            continue
        blob = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:edgeface/models/default/{name}"], capture_output=True
        )
        if blob.returncode:
            pytest.skip(f"the pack of {commit} is read from git history: this checkout has none")
        (tmp_path / name).write_bytes(blob.stdout)
    model = pack_model(tmp_path, MorphableModel.load(root / "ict_facekit.npz"))
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(x)
    session = ort.InferenceSession(str(tmp_path / "model_fp32.onnx"))
    names = [o.name for o in session.get_outputs()]
    mine = ours._asdict()
    if "age" not in names and mine["age"] is not None:  # a schema-1 file: age the column after the logits
        mine["attributes"] = torch.cat([mine["attributes"], mine.pop("age")], 1)
    for name, theirs in zip(names, session.run(None, {"image": x.numpy()})):
        np.testing.assert_allclose(mine[name].numpy(), theirs, atol=2e-5, err_msg=name)


@pytest.fixture(scope="module")
def age_pack(tmp_path_factory):
    """An untrained network with the 0.4 head (CelebA's 40 + expression attributes, age), as ONNX."""
    root = _need("ict_facekit.npz")
    from edgeface.export.fp32 import export_checkpoint
    from edgeface.train.build import build_model
    from edgeface.train.morphable import MorphableModel

    config = {
        "name": "age-test",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "crop_scale": 1.4,
        "identity_size": 40,
        "attributes": "celeba",
        "age_head": True,
        "visibility_head": True,
    }
    model = build_model(config, MorphableModel.load(root / "ict_facekit.npz"))
    with torch.no_grad():
        model.head.bias[model.core + len(model.attribute_names)] = 0.5  # 45 years
    tmp = tmp_path_factory.mktemp("age_pack")
    torch.save({"model": model.state_dict(), "config": config}, tmp / "ckpt.pt")
    return export_checkpoint(tmp / "ckpt.pt", tmp / "pack", formats=("onnx",), ict=root / "ict_facekit.npz")


def test_age_and_gender_come_from_their_declared_outputs(age_pack):
    import edgeface
    from edgeface.runtime.pack import read_manifest

    m = read_manifest(age_pack)
    assert m.version == 2 and len(m.attribute_names) == 47 and m.gender_attribute == "Male"
    assert m.output_shapes["attributes"] == (47,) and m.outputs["age"].shape == (1,)
    rec = edgeface.Reconstructor("onnx", model=age_pack)
    face = rec(np.full((200, 200, 3), 128, np.uint8), boxes=[[50, 50, 150, 150]])[0]
    assert abs(face.age - 45.0) < 1.0 and face.gender in ("female", "male")
    assert len(face.attributes) == 47 and "age" not in face.attributes
    assert (face.gender == "male") == (face.attributes["Male"] >= 0.5)
    assert face.to_dict()["age"] == face.age
    flipped = edgeface.Reconstructor("onnx", model=age_pack, flip_average=True)
    assert abs(flipped(np.full((200, 200, 3), 128, np.uint8), boxes=[[50, 50, 150, 150]])[0].age - 45.0) < 1.0


@pytest.mark.parametrize(
    "field,value,problem",
    [
        ("age", {"column": 3}, "age is not a field of this manifest's schema version"),  # schema 2: an output
        ("outputs", [], "outputs has 0 items"),
        ("gender", {"attribute": "Wide_Face"}, "gender.attribute"),
    ],
)
def test_manifest_age_and_gender_fields_are_checked(age_pack, tmp_path, field, value, problem):
    import shutil

    from edgeface.runtime.pack import read_manifest

    pack = tmp_path / "pack"
    shutil.copytree(age_pack, pack)
    data = json.loads((pack / "edgeface.json").read_text())
    data[field] = value
    (pack / "edgeface.json").write_text(json.dumps(data))
    with pytest.raises(ModelError, match=problem):
        read_manifest(pack)


# ---- evaluate modes ------------------------------------------------------------------------


def test_evaluate_modes_on_a_few_photos(age_pack, tmp_path):
    root = _need("celeba/labels.npz", "utkface/labels.npz")
    import edgeface
    from edgeface.tools import evaluate_faces as ef

    rec = edgeface.Reconstructor("onnx", model=age_pack)
    celeba = ef.LabelledPhotos.load(root / "celeba")
    ids = celeba.labels["identity"]
    twice = np.flatnonzero(np.bincount(ids)[ids] >= 2)
    celeba = celeba.subset(twice[np.argsort(ids[twice], kind="stable")][:12])  # six or so people, pairs among them
    r = ef.evaluate_celeba(rec, celeba, progress=False)
    assert r["n_images"] == 12 and 0 <= r["attribute_accuracy_mean"] <= 1 and len(r["attribute_accuracy"]) == 40
    assert 0 <= r["verification_eer"] <= 1 and r["detected_fraction"] > 0.8
    utk = ef.LabelledPhotos.load(root / "utkface").limit(12)
    u = ef.evaluate_utkface(rec, utk, progress=False)
    assert set(u) >= {"age_mae", "gender_accuracy", "by_race"}
    assert sum(g["n"] for g in u["by_race"].values()) == 12
    # a verification folder with its own pairs
    folder = tmp_path / "verify"
    (folder / "images").mkdir(parents=True)
    for n in celeba.names:
        (folder / "images" / str(n)).symlink_to(root / "celeba" / "images" / str(n))
    np.savez(folder / "labels.npz", names=celeba.names, identity=np.arange(12) // 2)
    np.savez(
        folder / "pairs.npz", pairs=np.array([[0, 1], [2, 3], [0, 5], [4, 9]]), is_same=np.array([1, 1, 0, 0], bool)
    )
    v = ef.evaluate_verification(rec, ef.LabelledPhotos.load(folder, split=None), progress=False)
    assert v["n_pairs"] == 4 and set(v) >= {"eer", "roc_auc", "tar_at_far_0.01", "detected_fraction"}
    np.savez(folder / "pairs.npz", pairs=np.array([[0, 99]]), is_same=np.array([True]))
    with pytest.raises(EdgefaceError, match="indices of the 12 photos"):
        ef.evaluate_verification(rec, ef.LabelledPhotos.load(folder, split=None), progress=False)


def test_verification_counts_a_missed_face_as_an_error():
    from types import SimpleNamespace

    from edgeface.tools.evaluate_faces import verification, verification_pairs

    identity = np.array([0, 0, 1, 1, 2, 2])
    pairs, same = verification_pairs(identity, seed=0)
    assert same.sum() == 3 and (~same).sum() == 3
    assert (identity[pairs[same, 0]] == identity[pairs[same, 1]]).all()
    assert (identity[pairs[~same, 0]] != identity[pairs[~same, 1]]).all()
    again, _ = verification_pairs(identity, seed=0)
    np.testing.assert_array_equal(pairs, again)  # deterministic
    perfect = [SimpleNamespace(embedding=np.eye(3)[i]) for i in identity]
    assert verification(perfect, identity)["eer"] == 0.0
    missed = list(perfect)
    missed[0] = None  # a same pair with a miss is rejected however well the rest separate
    r = verification(missed, identity)
    assert r["eer"] > 0.0 and r["detected_fraction"] == pytest.approx(5 / 6)


# ---- the recipe ------------------------------------------------------------------------------


def _subset_folder(source, target, rows, extra=()):
    """A labelled folder holding some rows of another (images linked, labels cut)."""
    (target / "images").mkdir(parents=True)
    for name in ("labels.npz", *extra):
        data = dict(np.load(source / name))
        n = len(data["names"])
        np.savez(target / name, **{k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in data.items()})
    names = np.load(source / "labels.npz")["names"][rows]
    for n in names:
        (target / "images" / str(n)).symlink_to(source / "images" / str(n))


def test_a_recipe_runs_its_chain_resumes_and_reruns_a_stage(tmp_path, monkeypatch):
    root = _need("aflw_train/labels68.npz", "celeba/labels.npz", "utkface/labels.npz", "ict_facekit.npz")
    import subprocess

    from edgeface.cli.recipe import ROOT, Recipe
    from edgeface.runtime.pack import read_manifest

    if subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", "e49be1ef241169d98f925f137272c7d122827405"], capture_output=True
    ).returncode:
        pytest.skip("the release stage reads git history: this checkout has none")
    data = tmp_path / "data"
    _subset_folder(root / "aflw_train", data / "aflw_train", np.arange(80), extra=("labels68.npz",))
    for name in ("celeba", "utkface"):
        labels = np.load(root / name / "labels.npz")
        rows = np.flatnonzero(labels["split"] == "train")
        if name == "celeba":  # people with two or more photos, so that SIR has pairs
            ids = labels["identity"][rows]
            rows = rows[np.bincount(ids)[ids] >= 2]
            rows = rows[np.argsort(labels["identity"][rows], kind="stable")]
        _subset_folder(root / name, data / name, np.sort(rows[:30]))
    (data / "ict_facekit.npz").symlink_to(root / "ict_facekit.npz")
    monkeypatch.setenv("EDGEFACE_DATA", str(data))
    recipe_file = json.loads((ROOT / "recipes" / "edgeface-0.4.0.json").read_text())
    shards = tmp_path / "shards"
    for stage in recipe_file["stages"]:
        if stage["run"] == "prepare":
            stage["shards"] = str(shards)
        if stage["run"] == "train":
            for part in ("aflw", "celeba", "utkface"):
                key = "shard" if part == "aflw" else "frames"
                stage["config"]["sources"][part][key] = str(
                    shards / (("aflw_train" if part == "aflw" else part + "_frames") + ".npz")
                )
        if stage["run"] == "export":
            stage["formats"] = ["onnx"]
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe_file))
    tiny = {
        "train": {"epochs": 1, "steps_per_epoch": 2, "workers": 0, "minutes": None},
        "sources": {"synthetic": {"count": 64}},
    }
    said = []
    recipe = Recipe(path, tmp_path / "run", tiny)
    recipe.run(stop_after="export", progress=said.append)
    assert not any("done before" in s for s in said)
    pack = recipe.product("export")
    m = read_manifest(pack)
    assert "age" in m.outputs and m.gender_attribute == "Male" and "Eyeglasses" in m.attribute_names
    assert (tmp_path / "run" / "student" / "last.pt").exists() and recipe.done("align") is None
    # a rerun finds every stage done; --from reruns the export alone from the student's checkpoint
    said.clear()
    Recipe(path, tmp_path / "run", tiny).run(stop_after="export", progress=said.append)
    assert sum("done before" in s for s in said) == 5  # release, prepare, student, heads, export
    said.clear()
    Recipe(path, tmp_path / "run", tiny).run(stop_after="export", start_at="export", progress=said.append)
    assert any(s.startswith("[export] export") for s in said) and sum("done before" in s for s in said) == 0
    # --from a stage reruns the later ones too, even when they were done before
    said.clear()
    Recipe(path, tmp_path / "run", tiny).run(stop_after="export", start_at="student", progress=said.append)
    assert "[student] train" in said and "[export] export" in said and not any("done before" in s for s in said)
    # the heads stage moved only the CelebA attribute rows and the age row
    student = torch.load(recipe.product("student"), weights_only=True)["model"]["head.weight"]
    heads = torch.load(recipe.product("heads"), weights_only=True)["model"]["head.weight"]
    changed = torch.nonzero((student - heads).abs().amax(1) > 0).flatten()
    assert set(changed.tolist()) <= set(range(99, 99 + 40)) | {99 + 47} and len(changed) > 10
    with pytest.raises(ValueError, match="no stage 'nope'"):
        Recipe(path, tmp_path / "run", tiny).run(stop_after="nope")


def test_paired_eer_comparison_sees_a_better_model_and_not_itself():
    from types import SimpleNamespace

    from edgeface.tools.evaluate_faces import compare_verification

    rng = np.random.default_rng(0)
    identity = np.repeat(np.arange(60), 2)
    centres = rng.normal(size=(60, 16))

    def unit(v):
        return v / np.linalg.norm(v)

    sharp = [SimpleNamespace(embedding=unit(centres[i] + 0.3 * rng.normal(size=16))) for i in identity]
    blurred = [SimpleNamespace(embedding=unit(centres[i] + 1.5 * rng.normal(size=16))) for i in identity]
    same = compare_verification(sharp, sharp, identity, resamples=300)
    assert same["eer_difference"] == 0 and same["eer_difference_ci95_low"] == same["eer_difference_ci95_high"] == 0
    assert (
        same["roc_auc_difference"] == 0
        and same["roc_auc_difference_ci95_low"] == same["roc_auc_difference_ci95_high"] == 0
    )
    better = compare_verification(sharp, blurred, identity, resamples=300)
    assert better["eer_a"] < better["eer_b"] and better["eer_difference_ci95_high"] < 0
    assert better["roc_auc_a"] > better["roc_auc_b"] and better["roc_auc_difference_ci95_low"] > 0


def test_head_refit_learns_linear_attributes_and_age():
    from edgeface.train.heads import fit_age, fit_logistic

    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 12))
    y = np.stack([(x[:, 0] > 0), (x[:, 1] + x[:, 2] > 0.5)], 1).astype(float)
    y[:300, 1] = np.nan  # the second attribute labelled on half the photos only
    w, b = fit_logistic(x, y, l2=1e-4)
    assert (((x @ w.T + b) > 0) == (np.nan_to_num(y) > 0.5))[:, 0].mean() > 0.97
    assert (((x @ w.T + b)[300:, 1] > 0) == (y[300:, 1] > 0.5)).mean() > 0.95
    years = 30 + 8 * x[:, 3]
    wa, ba = fit_age(x, years, 35.0, 20.0, l2=1e-6)
    assert np.abs(35 + 20 * (x @ wa + ba) - years).mean() < 1.0


def test_pose_rotation_loss_is_the_angle_between_poses_and_has_no_gimbal_lock():
    from edgeface.runtime.geometry import euler_to_matrix, matrix_to_euler
    from edgeface.train import losses

    rng = np.random.default_rng(1)
    poses = rng.uniform([-0.6, -1.4, -0.6], [0.6, 1.4, 0.6], (16, 3))
    got = losses.rotation(*torch.tensor(poses).unbind(-1)).numpy()
    want = np.stack([euler_to_matrix(*p) for p in poses])
    assert np.abs(got - want).max() < 1e-5
    # a 0.1 rad turn about any axis costs 0.1
    turn = np.array([[1, 0, 0], [0, np.cos(0.1), -np.sin(0.1)], [0, np.sin(0.1), np.cos(0.1)]])
    turned = np.array([matrix_to_euler(turn @ euler_to_matrix(*p)) for p in poses])
    value = losses.pose_rotation(torch.tensor(poses), torch.tensor(turned), torch.ones(16))
    assert abs(float(value) - 0.1) < 1e-3
    # near yaw 90 deg, pitch and roll trade places: their Euler angles differ by 0.8 rad, the rotations by 0.04
    a, b = np.array([0.4, 1.55, 0.0]), np.array([0.0, 1.55, 0.4])
    assert float(losses.pose_rotation(torch.tensor(a[None]), torch.tensor(b[None]), torch.ones(1))) < 0.05
    # an unlabelled sample, and one beyond max_yaw, change nothing
    pred, target = torch.tensor(poses[:3]), torch.tensor(turned[:3])
    target[1, 1] = 1.3
    _unlabelled_changes_nothing(
        lambda p, t, m: losses.pose_rotation(p, t, m),
        pred=pred,
        target=target,
        mask=torch.tensor([1.0, 0.0, 1.0]),
        unlabelled=1,
    )
    _unlabelled_changes_nothing(
        lambda p, t, m: losses.pose_rotation(p, t, m, max_yaw=1.0),
        pred=pred,
        target=target,
        mask=torch.ones(3),
        unlabelled=1,
    )
