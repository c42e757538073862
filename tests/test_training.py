"""Training code on a few real AFLW crops: data, losses, a short fit, checkpoint -> runtime pack."""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

from edgeface.datasets import data_root  # noqa: E402


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
    from edgeface.train import trainer
    from edgeface.train.export import export_checkpoint

    config = {"name": "test", "backbone": "mobilenetv2_050", "input_size": 112, "crop_scale": 1.4, "identity_size": 40,
              "data": {"aflw_shard": str(shard), "val_fraction": 0.25},
              "train": {"epochs": 4, "batch_size": 24, "lr": 0.003, "weight_decay": 0.0001, "workers": 0, "seed": 0},
              "loss": {"landmarks": 1.0, "yaw": 0.1, "identity_prior": 0.001, "expression_prior": 0.001}}
    ict = data_dir / "ict_facekit.npz"
    # an interrupted run (2 of 4 epochs), then resumed: it continues rather than starting over
    trainer.train(config, tmp_path / "run", ict_path=ict, device="cpu", stop_after=2)
    assert len((tmp_path / "run" / "log.csv").read_text().splitlines()) == 1 + 2
    best = trainer.train(config, tmp_path / "run", ict_path=ict, device="cpu", resume=True)
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in log] == [0, 1, 2, 3]
    train_loss = [float(row.split(",")[4]) for row in log]
    assert train_loss[-1] < train_loss[0]

    pack = export_checkpoint(best, tmp_path / "pack", formats=("onnx",), ict=data_dir / "ict_facekit.npz",
                             card={"license": "test"})
    manifest = json.loads((pack / "edgeface.json").read_text())
    assert manifest["topology"]["num_points"] == 520 and manifest["input"]["size"] == 112
    rec = edgeface.Reconstructor("onnx", model=pack)
    crops = np.random.default_rng(0).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    out = rec.model(crops)
    state = torch.load(best, weights_only=False)
    from edgeface.train.morphable import MorphableModel

    net = trainer.load_checkpoint(best, MorphableModel.load(ict), "cpu")
    with torch.no_grad():
        x = trainer.normalise(torch.from_numpy(crops[..., ::-1].copy()).permute(0, 3, 1, 2).float() / 255)
        ref = net(x)[0].numpy()
    np.testing.assert_allclose(out["dense"], ref, atol=1e-4)
    assert state["config"]["name"] == "test"

    from edgeface.cli import main

    assert main(["export", "--checkpoint", str(best), "--out", str(tmp_path / "cli_pack"), "--formats", "onnx",
                 "--ict", str(ict)]) == 0
    assert edgeface.Reconstructor("onnx", model=tmp_path / "cli_pack").manifest.name == "test"
