"""Training code on a few real AFLW crops: data, losses, a short fit, checkpoint -> runtime pack."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

from edgeface.tools.datasets import data_root  # noqa: E402

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def data_dir():
    root = data_root()
    if root is None or not (root / "aflw_train" / "labels.npz").exists() or not (root / "ict_facekit.npz").exists():
        pytest.skip("AFLW training crops / ICT model not found: set EDGEFACE_DATA")
    return root


@pytest.fixture(scope="module")
def shard(data_dir, tmp_path_factory):
    from edgeface.train.data import pack

    return pack(data_dir / "aflw_train", tmp_path_factory.mktemp("shard") / "aflw.npz", limit=96)


def test_augmented_points_follow_the_image(shard):
    """The 21 labels stay on the face through crop jitter, rotation and flips: flipped or not, the
    image-left eye centre stays on the image's left (flips swap the labels too), and the face's
    points (ear lobes aside: they may fall outside a tight crop) stay inside the crop."""
    from edgeface.train.data import AflwShard, AflwTraining

    data = AflwTraining(AflwShard(shard), 112, 1.4, seed=3)
    ordered = []
    for i in range(len(data)):
        image, uv, visible, _ = data[i]
        assert image.dtype == np.uint8 and image.shape == (3, 112, 112)
        face = (visible > 0) & ~np.isin(np.arange(21), [12, 16])
        assert ((uv[face] > -0.1) & (uv[face] < 1.1)).all()
        if visible[7] and visible[10]:
            ordered.append(uv[7, 0] < uv[10, 0])
    assert np.mean(ordered) > 0.9  # a few source faces are rolled far enough to reverse it


def test_a_short_fit_lowers_the_landmark_error_and_exports(shard, data_dir, tmp_path):
    import edgeface
    from edgeface.export.fp32 import export_checkpoint
    from edgeface.train import build, trainer

    config = {
        "name": "test",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "crop_scale": 1.4,
        "identity_size": 40,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "train": {"epochs": 4, "batch_size": 24, "lr": 0.003, "weight_decay": 0.0001, "workers": 0, "seed": 0},
        "loss": {"landmarks": 1.0, "yaw": 0.1, "identity_prior": 0.001, "expression_prior": 0.001},
    }
    ict = data_dir / "ict_facekit.npz"
    # an interrupted run (2 of 4 epochs), then resumed: it continues rather than starting over
    trainer.train(config, tmp_path / "run", ict_path=ict, device="cpu", stop_after=2)
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 1 + 2
    best = trainer.train(config, tmp_path / "run", ict_path=ict, device="cpu", resume=True)
    log = _log(tmp_path / "run")
    assert [int(row["epoch"]) for row in log] == [0, 1, 2, 3]
    train_loss = [float(row["train_loss"]) for row in log]
    assert train_loss[-1] < train_loss[0]

    pack = export_checkpoint(
        best, tmp_path / "pack", formats=("onnx",), ict=data_dir / "ict_facekit.npz", card={"license": "test"}
    )
    manifest = json.loads((pack / "edgeface.json").read_text())
    assert manifest["topology"]["num_points"] == 520 and manifest["input"]["size"] == 112
    rec = edgeface.Reconstructor("onnx", model=pack)
    crops = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    out = rec.model(crops)
    state = torch.load(best, weights_only=True)
    from edgeface.train.morphable import MorphableModel

    net = build.load_checkpoint(best, MorphableModel.load(ict), "cpu")
    with torch.no_grad():
        x = build.normalise(torch.from_numpy(crops[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255)
        ref = net(x)[0].numpy()
    np.testing.assert_allclose(out["dense"], ref, atol=1e-4)
    assert state["config"]["name"] == "test"

    from edgeface.cli import main

    card = tmp_path / "card.json"
    card.write_text(json.dumps({"name": "carded", "version": "9.9", "license": "card licence"}))
    assert (
        main(
            [
                "export",
                "--checkpoint",
                str(best),
                "--out",
                str(tmp_path / "cli_pack"),
                "--formats",
                "onnx",
                "--ict",
                str(ict),
                "--card",
                str(card),
                "--license",
                "flag licence",
            ]
        )
        == 0
    )
    manifest = edgeface.Reconstructor("onnx", model=tmp_path / "cli_pack").manifest.data
    assert (manifest["name"], manifest["version"], manifest["license"]) == ("carded", "9.9", "flag licence")
    assert len(manifest["topology"]["mirror"]) == 520  # exported packs can flip-average


# ---- in-batch hybrid-task training ---------------------------------------------------------------
#: The small network with attribute and visibility heads that several tests build.
NETWORK = {
    "backbone": "mobilenetv2_050",
    "input_size": 112,
    "crop_scale": 1.4,
    "identity_size": 40,
    "attribute_head": True,
    "visibility_head": True,
}


def _heads_network(data_dir):
    from edgeface.train import build
    from edgeface.train.morphable import MorphableModel

    return build.build_model(NETWORK, MorphableModel.load(data_dir / "ict_facekit.npz")).eval()


def _log(run):
    import csv

    with open(run / "log.csv") as f:
        return list(csv.DictReader(f))


def test_hybrid_batches_mix_real_and_whole_identity_groups():
    from edgeface.train.data import HybridBatches

    batches = HybridBatches(n_real=100, n_synthetic=400, batch_size=16, synthetic_fraction=0.5, group=4, seed=1)
    assert (batches.real, batches.persons) == (8, 2) and len(batches) == 100 // 8
    seen_real = set()
    for batch in batches:
        real, synthetic = [i for i in batch if i < 100], [i - 100 for i in batch if i >= 100]
        assert len(real) == 8 and len(synthetic) == 8 and len(batch) == 16
        people = {i // 4 for i in synthetic}
        assert len(people) == 2 and all(
            sorted(i for i in synthetic if i // 4 == p) == [4 * p + k for k in range(4)] for p in people
        )
        seen_real.update(real)
    assert len(seen_real) == 96  # an epoch uses each real sample at most once
    synthetic_only = HybridBatches(0, 400, 16, 1.0, 4, steps=5)
    assert len(list(synthetic_only)) == 5 and all(min(b) >= 0 for b in synthetic_only)
    with pytest.raises(ValueError):
        HybridBatches(0, 0, 16, 0.5, 4)


def test_sir_pulls_renders_of_a_person_together_and_pushes_people_apart():
    from edgeface.train.losses import sir

    ids = torch.tensor([0, 0, 1, 1, -1])
    together = torch.tensor([[0.0, 0], [0, 0], [5, 0], [5, 0], [9, 9]])
    pull, push = sir(together, ids, margin=3.0)
    assert pull.item() == 0 and push.item() == 0
    spread = torch.tensor([[0.0, 0], [2, 0], [1, 0], [1, 0.5], [9, 9]], requires_grad=True)
    pull, push = sir(spread, ids, margin=3.0)
    assert pull.item() > 0 and push.item() > 0
    (pull + push).backward()
    assert spread.grad[4].abs().sum() == 0  # samples without an identity label take no part
    # a gradient step lowers both
    with torch.no_grad():
        stepped = spread - 0.1 * spread.grad
    p2, q2 = sir(stepped, ids, margin=3.0)
    assert p2 < pull and q2 < push


def test_attribute_loss_weights_rare_positives():
    from edgeface.train.losses import attributes

    logits = torch.zeros(4, 2)
    has = torch.ones(4)
    rare = torch.tensor([[1.0, 0], [0, 0], [0, 0], [0, 0]])
    common_rate, rare_rate = torch.tensor([0.5, 0.5]), torch.tensor([0.1, 0.5])
    assert attributes(logits, rare, has, rare_rate) > attributes(logits, rare, has, common_rate)
    assert attributes(logits, rare, torch.zeros(4), rare_rate) == 0


def test_hybrid_training_runs_every_loss_and_exports_22_attributes(shard, data_dir, tmp_path):
    """A tiny in-batch hybrid run: AFLW and synthetic samples in every batch, all loss terms finite,
    and the exported pack carries the attribute and visibility heads."""
    import edgeface
    from edgeface.export.fp32 import export_checkpoint
    from edgeface.train import build, objective, trainer, wiring

    config = {
        "name": "hybrid",
        **NETWORK,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "synthetic": {"count": 64, "fraction": 0.5, "renders_per_identity": 4, "seed": 0, "validation": 8},
        "train": {
            "epochs": 1,
            "batch_size": 16,
            "lr": 0.003,
            "weight_decay": 0.0001,
            "workers": 0,
            "seed": 0,
            "steps_per_epoch": 2,
        },
        "loss": {
            "landmarks": 1.0,
            "yaw": 0.1,
            "dense": 1.0,
            "pose": 0.5,
            "identity": 0.01,
            "expression": 0.1,
            "visibility": 0.05,
            "attributes": 0.05,
            "sir_pull": 0.01,
            "sir_push": 0.01,
            "identity_prior": 0.001,
            "expression_prior": 0.001,
        },
    }
    ict = data_dir / "ict_facekit.npz"
    data = wiring.training_data(config, ict)
    train_set, batches = data.dataset, data.batches
    batch = torch.utils.data.default_collate([train_set[i] for i in next(iter(batches))])
    assert batch["has_dense"].sum() == 8 and batch["has_points21"].sum() == 8
    model = build.build_model(config, __import__("edgeface.train.morphable", fromlist=["x"]).MorphableModel.load(ict))
    images = build.normalise(batch["image"].float() / 255)
    loss, terms = objective.HybridLoss(config, model, "cpu")(model(images), batch)
    expected = {
        "landmarks",
        "yaw",
        "dense",
        "pose",
        "identity",
        "expression",
        "visibility",
        "attributes",
        "sir_pull",
        "sir_push",
        "identity_prior",
        "expression_prior",
    }
    assert expected <= set(terms) and all(np.isfinite(v) for v in terms.values()) and torch.isfinite(loss)

    best = trainer.train(config, tmp_path / "run", ict_path=ict, device="cpu")
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    header, first = log[0].split(","), log[1].split(",")
    assert np.isfinite(float(first[header.index("val_synthetic_dense_nme")]))
    pack = export_checkpoint(best, tmp_path / "pack", formats=("onnx",), ict=ict, card={"license": "test"})
    rec = edgeface.Reconstructor("onnx", model=pack)
    assert len(rec.manifest.attribute_names) == 22 and "Big_Nose" in rec.manifest.attribute_names


def test_pseudo_labels_count_only_on_samples_without_3d_labels(shard, data_dir):
    """`distill.only_without_3d_labels`: a network's answers teach only on the crops that lack 3D labels
    (real AFLW), so where synthetic ground truth exists it alone decides; without it, everywhere."""
    from edgeface.train import build, objective, wiring
    from edgeface.train.morphable import MorphableModel

    config = {
        "name": "pseudo",
        **NETWORK,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "synthetic": {"count": 16, "fraction": 0.5, "renders_per_identity": 4, "seed": 0, "validation": 8},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "workers": 0,
            "seed": 0,
            "steps_per_epoch": 1,
        },
        "loss": {"landmarks": 1.0},
        "distill": {"dense": 1.0},
    }
    ict = data_dir / "ict_facekit.npz"
    data = wiring.training_data(config, ict)
    train_set, batches = data.dataset, data.batches
    batch = torch.utils.data.default_collate([train_set[i] for i in next(iter(batches))])
    labelled = batch["has_dense"].bool()
    assert labelled.any() and (~labelled).any()
    model = build.build_model(config, MorphableModel.load(ict)).eval()
    with torch.no_grad():
        outputs = model(build.normalise(batch["image"].float() / 255))

    def distilled(only_without_3d_labels, moved):
        teacher = type(outputs)(*(None if o is None else o.clone() for o in outputs))
        teacher.dense[moved] += 0.05  # the pseudo-label's points sit 0.05 of the crop away on these samples
        distill = {"dense": 1.0, "only_without_3d_labels": only_without_3d_labels}
        loss = objective.HybridLoss({**config, "distill": distill}, model, "cpu")
        return loss(outputs, batch, teacher)[1]["distill_dense"]

    moved = 0.05 * 3**0.5
    assert distilled(True, labelled) == pytest.approx(0.0, abs=1e-6)
    assert distilled(True, ~labelled) == pytest.approx(moved, rel=1e-4)
    assert distilled(False, labelled) == pytest.approx(moved * labelled.float().mean().item(), rel=1e-4)


def test_fine_tuning_starts_from_a_checkpoint_without_the_new_heads(data_dir, tmp_path):
    """--init takes every matching tensor of an older run, and the head rows it had (pose, identity,
    expression), while the new attribute and visibility rows keep their fresh initialisation."""
    from edgeface.train import build
    from edgeface.train.morphable import MorphableModel

    morphable = MorphableModel.load(data_dir / "ict_facekit.npz")
    base = {"backbone": "mobilenetv2_050", "input_size": 112, "crop_scale": 1.4, "identity_size": 40}
    old = build.build_model(base, morphable)
    with torch.no_grad():
        old.head.weight.normal_()
    torch.save({"model": old.state_dict(), "config": base}, tmp_path / "old.pt")
    new = build.build_model({**base, "attribute_head": True, "visibility_head": True}, morphable)
    fresh_extra = new.head.weight[old.head.weight.shape[0] :].clone()
    taken, total = build.init_from(new, tmp_path / "old.pt", "cpu")
    assert taken == len(old.state_dict()) and total == len(new.state_dict())
    rows = old.head.weight.shape[0]
    assert new.head.weight.shape[0] > rows
    assert torch.equal(new.head.weight[:rows], old.head.weight)
    assert torch.equal(new.head.weight[rows:], fresh_extra)
    first = next(n for n, _ in old.backbone.named_parameters())
    assert torch.equal(dict(new.backbone.named_parameters())[first], dict(old.backbone.named_parameters())[first])


def test_flip_averaged_teacher_answers_a_mirrored_crop_with_the_mirrored_face(data_dir):
    """The self-distillation teacher is flip-equivariant where the mirror map is mutual (all 68
    landmarks): its answer for a mirrored crop, mapped back, is its answer for the crop. A single
    pass of the same network is not, so the averaging is what makes it so."""
    from edgeface.train import topology
    from edgeface.train.facemodel import FlipAveraged

    torch.manual_seed(0)
    model = _heads_network(data_dir)
    with torch.no_grad():
        model.head.weight.normal_(std=0.05)  # a network whose answer depends on the picture
    mirror = np.asarray(topology.load()["mirror"])
    landmarks = np.arange(68)
    assert np.array_equal(mirror[mirror[landmarks]], landmarks)
    teacher = FlipAveraged(model, mirror).eval()
    x = torch.randn(2, 3, 112, 112)

    def mirrored_back(dense):
        d = dense[:, mirror[landmarks]]
        return torch.stack([1.0 - d[..., 0], d[..., 1], d[..., 2]], -1)

    with torch.no_grad():
        plain, flipped = teacher(x), teacher(x.flip(-1))
        single, single_flipped = model(x), model(x.flip(-1))
    assert torch.allclose(mirrored_back(flipped[0]), plain[0][:, landmarks], atol=1e-5)
    assert torch.allclose(flipped[1][:, 1], -plain[1][:, 1], atol=1e-6)  # yaw
    assert (mirrored_back(single_flipped[0]) - single[0][:, landmarks]).abs().max() > 1e-3


def test_real_crops_frame_a_turned_head_as_the_runtime_does(data_dir):
    """AFLW crops are framed from the visible core points; the runtime frames the 68-landmark box.
    On synthetic faces, where both are known, the yaw-aware estimate lands near the 68 box where the
    yaw-free one is a face-size fraction off, and the constants still match the engine."""
    from edgeface.runtime.geometry import landmark_box
    from edgeface.tools import conventions
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.synthetic import SyntheticConfig, SyntheticFaces

    engine = SyntheticFaces(MorphableModel.load(data_dir / "ict_facekit.npz"), SyntheticConfig(size=112), seed=7)
    samples = [engine.sample(i) for i in range(400)]
    drift = conventions.core_box_drift(samples, engine.aflw21)
    assert abs(drift["yaw_shift"] - conventions.YAW_SHIFT) < 0.03
    owner = np.argmax(engine.aflw21, axis=1)
    errors = {True: [], False: []}
    for s in samples:
        yaw = s["pose"][1]
        visible = s["visible"][owner].astype(bool)
        if abs(yaw) < np.radians(40) or visible[conventions.AFLW_CORE].sum() < 3:
            continue
        truth = np.asarray(landmark_box(s["landmarks68"][:, :2]))
        size = 0.5 * ((truth[2] - truth[0]) + (truth[3] - truth[1]))
        for aware in (True, False):
            box = conventions.face_box_from_aflw(s["points21"], visible, yaw if aware else 0.0)
            errors[aware].append(np.abs(0.5 * (box[0] + box[2] - truth[0] - truth[2])) / size)
    assert len(errors[True]) > 50
    assert np.mean(errors[True]) < 0.5 * np.mean(errors[False])
    assert np.mean(errors[False]) > 0.1


class _BlobFinder(torch.nn.Module):
    """A stand-in network whose answer is where the bright blob is: its 'face' (68 landmarks in a
    0.4-wide square, depth 0.1) is centred on the blob's centroid in crop-normalised units."""

    def __init__(self, landmarks68):
        super().__init__()
        self.landmarks68 = landmarks68

    def forward(self, x):
        n, _, h, w = x.shape
        mass = (x[:, 0] + 1.0).clamp(min=0.0)  # black (-1 after normalising) weighs nothing
        u = (torch.arange(w, dtype=x.dtype) + 0.5) / w
        v = (torch.arange(h, dtype=x.dtype) + 0.5) / h
        total = mass.sum((1, 2))
        centre = torch.stack(
            [(mass * u[None, None, :]).sum((1, 2)) / total, (mass * v[None, :, None]).sum((1, 2)) / total], -1
        )
        dense = torch.zeros(n, 520, 3)
        offsets = torch.linspace(-0.2, 0.2, 68)
        dense[:, :, :2] = centre[:, None, :]
        dense[:, self.landmarks68, 0] += offsets
        dense[:, self.landmarks68, 1] += offsets.flip(0)
        dense[..., 2] = 0.1
        pose = torch.cat([torch.zeros(n, 3), centre, torch.full((n, 1), 0.3)], -1)
        from edgeface.train.facemodel import Outputs

        return Outputs(dense, pose, torch.zeros(n, 40), torch.zeros(n, 53), torch.zeros(n, 22), torch.zeros(n, 520))


def test_refined_teacher_maps_its_second_look_back_into_the_input_crop():
    """The refined teacher looks again at a tighter crop around its first answer; whatever that
    crop is, its answer must come back in the input crop's coordinates: the blob is found where
    it is, and sizes shrink by the second crop's side (1.4 x the 0.4-wide landmark box)."""
    from edgeface.train import topology
    from edgeface.train.facemodel import Refined

    landmarks68 = torch.as_tensor(topology.load()["landmarks68"])
    finder = _BlobFinder(landmarks68)
    yy, xx = torch.meshgrid(torch.arange(112) + 0.5, torch.arange(112) + 0.5, indexing="ij")
    centre = torch.tensor([0.38, 0.61])
    blob = torch.exp(-((xx / 112 - centre[0]) ** 2 + (yy / 112 - centre[1]) ** 2) / (2 * 0.03**2))
    x = (2.0 * blob - 1.0).expand(1, 3, 112, 112).clone()
    refined = Refined(finder, landmarks68, 1.4, black=[-1.0, -1.0, -1.0])
    with torch.no_grad():
        dense, pose = refined(x)[:2]
        first = finder(x)[0]
    side = 1.4 * 0.4
    assert torch.allclose(first[0, :, :2].mean(0), centre, atol=2e-3)
    assert torch.allclose(dense[0, :, :2].mean(0), centre, atol=5e-3)
    assert torch.allclose(pose[0, 3:5], centre, atol=5e-3)
    assert pose[0, 5].item() == pytest.approx(0.3 * side, rel=1e-4)
    assert dense[0, 0, 2].item() == pytest.approx(0.1 * side, rel=1e-4)
    width = dense[0, landmarks68, 0].max() - dense[0, landmarks68, 0].min()
    assert width.item() == pytest.approx(0.4 * side, rel=1e-4)


def test_one_cycle_by_progress_warms_up_then_anneals_to_nearly_zero():
    from edgeface.train.trainer import one_cycle

    lrs = [one_cycle(x, 1e-3) for x in np.linspace(0, 1, 201)]
    peak = int(np.argmax(lrs))
    assert lrs[0] == pytest.approx(1e-3 / 25) and lrs[peak] == pytest.approx(1e-3, rel=1e-3)
    assert 0.04 <= peak / 200 <= 0.06
    assert all(a <= b for a, b in zip(lrs[:peak], lrs[1 : peak + 1]))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :])) and lrs[-1] < 1e-8


def test_student_of_a_larger_teacher_trains_on_the_clock(shard, data_dir, tmp_path, monkeypatch):
    """A wall-clock schedule ends the run when its minutes are spent, whatever the epoch count; with
    `render_size` the crops are made at the teacher's size, the teacher sees them so and the
    student shrunk to its own input."""
    from edgeface.train import build, trainer

    loss = {"landmarks": 1.0, "yaw": 0.1, "identity_prior": 0.001, "expression_prior": 0.001}
    base = {
        "crop_scale": 1.4,
        "identity_size": 40,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "loss": loss,
        "distill": {"dense": 1.0, "pose": 0.1},
    }
    ict = data_dir / "ict_facekit.npz"
    teacher = trainer.train(
        {
            **base,
            "name": "t",
            "backbone": "resnet34",
            "input_size": 128,
            "train": {
                "epochs": 1,
                "batch_size": 8,
                "lr": 1e-3,
                "weight_decay": 0.0,
                "workers": 0,
                "seed": 0,
                "steps_per_epoch": 1,
            },
        },
        tmp_path / "teacher",
        ict_path=ict,
        device="cpu",
    )
    sizes = []
    resized = build.resized
    monkeypatch.setattr(trainer, "resized", lambda x, size: sizes.append((x.shape[-1], size)) or resized(x, size))
    student = {
        **base,
        "name": "s",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "render_size": 128,
        "train": {
            "epochs": 1000,
            "batch_size": 8,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "workers": 0,
            "seed": 0,
            "steps_per_epoch": 2,
            "minutes": 0.1,
        },
    }
    best = trainer.train(student, tmp_path / "student", ict_path=ict, device="cpu", teacher_path=teacher)
    log = _log(tmp_path / "student")
    assert 1 <= len(log) < 1000 and sum(int(row["steps"]) for row in log) >= 1
    lrs = [float(row["lr"]) for row in log]  # the last step's rate of each epoch: once past the warm-up, falling
    peak = lrs.index(max(lrs))
    assert all(a >= b for a, b in zip(lrs[peak:], lrs[peak + 1 :])) and lrs[-1] < 1e-3
    assert set(sizes) == {(128, 112), (128, 128)}
    assert torch.load(best, weights_only=True)["config"]["input_size"] == 112


def test_frozen_batchnorm_keeps_its_statistics_while_the_weights_learn(shard, data_dir, tmp_path):
    """`train.freeze_batchnorm`: a fine-tune at a small batch leaves every running mean and variance
    as the starting checkpoint had them, and still moves the convolutions."""
    from edgeface.train import trainer

    config = {
        "name": "frozen",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "crop_scale": 1.4,
        "identity_size": 40,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "loss": {"landmarks": 1.0, "yaw": 0.1},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "workers": 0,
            "seed": 0,
            "steps_per_epoch": 3,
        },
    }
    ict = data_dir / "ict_facekit.npz"
    start = trainer.train(config, tmp_path / "start", ict_path=ict, device="cpu")
    before = torch.load(start, weights_only=True)["model"]
    statistics = [k for k in before if k.endswith(("running_mean", "running_var"))]
    weights = [k for k in before if k.endswith("weight") and before[k].dim() == 4]
    assert statistics and weights
    for freeze in (True, False):
        run = {**config, "train": {**config["train"], "freeze_batchnorm": freeze}}
        trainer.train(run, tmp_path / str(freeze), ict_path=ict, device="cpu", init_path=start)
        after = torch.load(tmp_path / str(freeze) / "last.pt", weights_only=True)["model"]
        assert all(torch.equal(before[k], after[k]) for k in statistics) == freeze
        assert not all(torch.equal(before[k], after[k]) for k in weights)


def test_frozen_prefixes_do_not_learn_and_the_rest_does(shard, data_dir, tmp_path):
    """`train.frozen`: a continuation that keeps the backbone below a branch's tap leaves those
    parameters exactly as it started (batch-norm statistics frozen too), while the layers above and
    the head move; a list that freezes everything is refused by name."""
    from edgeface.train import trainer

    config = {
        "name": "frozen",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "crop_scale": 1.4,
        "identity_size": 40,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "loss": {"landmarks": 1.0, "yaw": 0.1},
        "train": {
            "epochs": 1,
            "batch_size": 8,
            "lr": 1e-3,
            "weight_decay": 0.0,
            "workers": 0,
            "seed": 0,
            "steps_per_epoch": 3,
            "freeze_batchnorm": True,
        },
    }
    ict = data_dir / "ict_facekit.npz"
    start = trainer.train(config, tmp_path / "start", ict_path=ict, device="cpu")
    before = torch.load(start, weights_only=True)["model"]
    below = tuple(f"backbone.features.{i}." for i in range(7))
    run = {**config, "train": {**config["train"], "frozen": list(below)}}
    trainer.train(run, tmp_path / "continued", ict_path=ict, device="cpu", init_path=start)
    after = torch.load(tmp_path / "continued" / "last.pt", weights_only=True)["model"]
    kept = [k for k in before if k.startswith(below)]
    assert kept and all(torch.equal(before[k], after[k]) for k in kept)
    assert not torch.equal(
        before["backbone.features.7.block.0.0.weight"], after["backbone.features.7.block.0.0.weight"]
    )
    assert not torch.equal(before["head.weight"], after["head.weight"])
    everything = {**config, "train": {**config["train"], "frozen": ["backbone.", "head."]}}
    with pytest.raises(ValueError, match="leaves nothing to learn"):
        trainer.train(everything, tmp_path / "nothing", ict_path=ict, device="cpu", init_path=start)


def test_the_network_answers_by_name_in_the_runtimes_order(data_dir):
    """FaceModel returns `Outputs`, whose names are the runtime's `OUTPUTS` in order (the export
    writes each tensor under its name), and its wrappers (flip averaging, refine) keep them."""
    from edgeface.runtime.pack import OUTPUTS
    from edgeface.train import topology
    from edgeface.train.facemodel import FlipAveraged, Outputs, Refined

    assert Outputs._fields == tuple(OUTPUTS)
    model = _heads_network(data_dir)
    x = torch.zeros(2, 3, 112, 112)
    topo = topology.load()
    with torch.no_grad():
        for net in (
            model,
            FlipAveraged(model, topo["mirror"]),
            Refined(model, topo["landmarks68"], 1.4, torch.zeros(3)),
        ):
            out = net(x)
            assert isinstance(out, Outputs)
            assert out.dense.shape == (2, 520, 3) and out.pose.shape == (2, 6) and out.identity.shape == (2, 40)


def test_train_config_mode_through_the_cli(shard, data_dir, tmp_path):
    """`edgeface train --config FILE`: the file is checked as it is read (a misspelt key stops it,
    naming the key), then one run trains, stops after the epochs asked and resumes to the end."""
    from edgeface.cli import EXIT_ERROR, main

    config = {
        "name": "cli",
        "backbone": "mobilenetv2_050",
        "input_size": 112,
        "crop_scale": 1.4,
        "identity_size": 40,
        "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
        "train": {"epochs": 2, "steps_per_epoch": 2, "batch_size": 8, "lr": 0.003, "workers": 0},
        "loss": {"landmarks": 1.0},
    }
    path, out = tmp_path / "config.json", tmp_path / "run"
    path.write_text(json.dumps({**config, "loss": {"landmark": 1.0}}))
    assert main(["train", "--config", str(path), "--out", str(out)]) == EXIT_ERROR
    assert not out.exists()
    path.write_text(json.dumps(config))
    ict = ["--ict", str(data_dir / "ict_facekit.npz")]
    assert main(["train", "--config", str(path), "--out", str(out), *ict, "--stop-after-epochs", "1"]) == 0
    assert len(_log(out)) == 1
    assert main(["train", "--config", str(path), "--out", str(out), *ict, "--resume"]) == 0
    assert [int(row["epoch"]) for row in _log(out)] == [0, 1]
    assert json.loads((out / "config.json").read_text())["train"]["steps_per_epoch"] == 2
