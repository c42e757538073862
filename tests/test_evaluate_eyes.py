"""`edgeface evaluate --dataset eyes`: closed eyes on real photos, end to end, on the AFLW crops
that no training stage saw, scored against MERL-RAV's labelled eye openings."""

import json

import numpy as np
import pytest

from edgeface.runtime.errors import EdgefaceError
from edgeface.tools.datasets import data_root


def _need_aflw():
    root = data_root()
    if root is None or not (root / "aflw_train" / "labels68.npz").exists():
        pytest.skip("aflw_train/labels68.npz not found: set EDGEFACE_DATA")
    return root / "aflw_train"


def test_roc_auc_counts_ties_half():
    from edgeface.tools.evaluate_faces import roc_auc

    assert roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2, 0.3])) == 1.0
    assert roc_auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0.5
    assert roc_auc(np.array([0.5, 0.9]), np.array([0.5, 0.1])) == pytest.approx(0.875)
    assert roc_auc(np.array([-np.inf, 2.0]), np.array([1.0, np.inf])) == 0.25


def test_the_held_out_crops_are_the_training_stages_validation_split(tmp_path):
    """What the evaluation reads from the labels is what the training stages hold out of their
    shard: the same rows, by the shard's own route (packed, usable crops, split)."""
    root = _need_aflw()
    from edgeface.tools.conventions import held_out_crops, holdout_split
    from edgeface.train.data import AflwShard, pack

    count = 400
    shard = AflwShard(pack(root, tmp_path / "shard.npz", limit=count))
    from_shard = shard.indices[holdout_split(len(shard), 0.03, 0)[1]]
    labels = {k: v[:count] for k, v in np.load(root / "labels.npz").items()}
    held = held_out_crops(labels)
    assert held.tolist() == from_shard.tolist() and len(held) == round(0.03 * len(shard.indices))


def test_evaluate_eyes_end_to_end_on_a_few_crops(tmp_path, capsys):
    root = _need_aflw()
    import edgeface
    from edgeface.cli import main as cli
    from edgeface.tools.evaluate_eyes import evaluate_eyes

    rec = edgeface.Reconstructor("onnx", precision="fp32")
    r = evaluate_eyes(rec, root, limit=40, progress=False)
    assert r["n_images"] == 40 and r["n_images"] <= r["n_eyes"] <= 2 * r["n_images"]
    assert r["detected_fraction"] > 0.9
    assert -1 <= r["eye_aperture_correlation"] <= 1 and -1 <= r["eye_blink_correlation"] <= 1
    assert 0.1 < r["eye_opening_mean_open"] < 0.5
    # the CLI writes the same figures; a split it does not know is a user error, named
    out = tmp_path / "eyes.json"
    assert (
        cli(
            [
                "evaluate",
                "eyes",
                "--root",
                str(root),
                "--limit",
                "40",
                "--backend",
                "onnx",
                "--precision",
                "fp32",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["n_eyes"] == r["n_eyes"]
    with pytest.raises(SystemExit) as refused:
        cli(["evaluate", "eyes", "--root", str(root), "--split", "train"])
    assert refused.value.code == 2 and "invalid choice: 'train'" in capsys.readouterr().err


def test_evaluate_eyes_names_a_folder_without_68_points(tmp_path):
    root = _need_aflw()
    import edgeface
    from edgeface.tools.evaluate_eyes import evaluate_eyes

    folder = tmp_path / "crops"
    (folder / "images").mkdir(parents=True)
    (folder / "labels.npz").symlink_to(root / "labels.npz")
    with pytest.raises(EdgefaceError, match="labels68.npz is missing"):
        evaluate_eyes(edgeface.Reconstructor("onnx", precision="fp32"), folder, progress=False)
