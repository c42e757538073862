"""Aligning the 68-landmark definition with AFLW2000-3D's annotations (edgeface.export.landmarks)."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")  # the alignment lives with the training tools

import edgeface
from edgeface import cli
from edgeface.export import landmarks as alignment
from edgeface.tools.datasets import Aflw2000

pytestmark = pytest.mark.train


def test_simplex_projection_lands_on_the_simplex_and_keeps_points_already_there():
    rng = np.random.default_rng(0)
    for _ in range(50):
        w = alignment.project_to_simplex(rng.normal(size=7) * 3)
        assert w.min() >= 0 and abs(w.sum() - 1) < 1e-12
    inside = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(alignment.project_to_simplex(inside), inside, atol=1e-15)


def test_fit_recovers_a_planted_convex_definition():
    rng = np.random.default_rng(1)
    dense = rng.normal(size=(60, 30, 2)) * 40 + 200
    candidates = np.stack([rng.choice(30, 5, replace=False) for _ in range(68)])
    planted = rng.dirichlet(np.ones(5) * 0.5, size=68)
    truth = alignment.landmarks(dense, candidates, planted)
    fitted = alignment.fit(dense, truth, candidates)[0]
    np.testing.assert_allclose(fitted, planted, atol=2e-3)
    assert fitted.min() >= 0 and np.allclose(fitted.sum(1), 1)


def test_fit_leaves_kept_landmarks_on_their_own_vertex():
    rng = np.random.default_rng(3)
    dense = rng.normal(size=(40, 30, 2)) * 40 + 200
    candidates = np.stack([rng.choice(30, 5, replace=False) for _ in range(68)])
    truth = alignment.landmarks(dense, candidates, rng.dirichlet(np.ones(5), size=68))
    fitted = alignment.fit(dense, truth, candidates, kept=alignment.KEPT_LANDMARKS)[0]
    kept = list(alignment.KEPT_LANDMARKS)
    assert (fitted[kept, 0] == 1).all() and (fitted[kept, 1:] == 0).all()
    others = [j for j in range(68) if j not in kept]
    np.testing.assert_allclose(fitted[others], alignment.fit(dense, truth, candidates)[0][others])


def test_fit_recovers_a_definition_that_changes_with_yaw():
    """Heads turned by -60 to 60 degrees whose annotated landmark slides between two planted
    definitions (one per anchor, interpolated by yaw): the per-yaw fit recovers both, one shared
    definition cannot."""
    rng = np.random.default_rng(2)
    dense = rng.normal(size=(120, 30, 2)) * 40 + 200
    yaw = rng.uniform(-60, 60, 120)
    anchors = (-60.0, 60.0)
    candidates = np.stack([rng.choice(30, 5, replace=False) for _ in range(68)])
    planted = rng.dirichlet(np.ones(5) * 0.5, size=(2, 68))
    truth = alignment.landmarks(dense, candidates, planted, yaw, anchors)
    fitted = alignment.fit(dense, truth, candidates, yaw, anchors)
    np.testing.assert_allclose(fitted, planted, atol=3e-3)
    single = alignment.fit(dense, truth, candidates)
    residual = alignment.nme(alignment.landmarks(dense, candidates, single[0]), truth)
    assert (
        residual.mean()
        > 0.01
        > alignment.nme(alignment.landmarks(dense, candidates, fitted, yaw, anchors), truth).mean()
    )


def test_compact_drops_negligible_weights_and_still_sums_to_one():
    points, weights = alignment.compact(np.array([[4, 5, 6]] * 68), np.array([[0.7, 0.2999, 0.0001]] * 68))
    assert points[0] == [4, 5] and abs(sum(weights[0]) - 1) < 1e-9


def _small_dev_set(dev_set, root, count):
    (root / "images").mkdir(parents=True)
    for i in range(count):
        shutil.copy(dev_set.image_path(i), root / "images" / dev_set.names[i])
    full = np.load(dev_set.root / "labels.npz")
    np.savez(root / "labels.npz", **{k: full[k][:count] for k in full.files})
    return Aflw2000.load(root)


def test_align_landmarks_writes_a_definition_the_runtime_uses(fixture_pack, dev_set, tmp_path, capsys):
    """End to end on the fixture model: the fitted half's squared error (what the fit minimises) can
    only fall, since each landmark's own ICT vertex is one of its candidates and so the old
    definition is a feasible answer; the manifest
    passes the runtime's checks, and `evaluate` then reports the images the fit did not see."""
    from edgeface.tools.evaluate import evaluate_landmarks
    from edgeface.train.morphable import MorphableModel

    ict = MorphableModel.default_path()
    if ict is None or not ict.exists():
        pytest.skip("ICT-FaceKit not found: set EDGEFACE_DATA to the shared data folder")
    small = _small_dev_set(dev_set, tmp_path / "dev", 24)
    pack = shutil.copytree(fixture_pack, tmp_path / "pack")
    # one pass, as the alignment reads the network
    before = evaluate_landmarks(edgeface.Reconstructor("onnx", model=pack, refine=False), small, progress=False)
    assert "nme_balanced_held_out" not in before
    assert (
        cli.main(
            [
                "align-landmarks",
                "--model",
                str(pack),
                "--root",
                str(small.root),
                "--neighbours",
                "8",
                "--json",
                str(tmp_path / "align.json"),
            ]
        )
        == 0
    )
    assert "two-fold balanced NME" in capsys.readouterr().out
    manifest = json.loads((pack / "edgeface.json").read_text())
    info = manifest["topology"]["landmark_weights"]["alignment"]
    assert info["n_fit"] == 12 and info["neighbours"] == 8
    assert manifest["topology"]["landmark_weights"]["by_yaw"]["yaw_degrees"] == list(alignment.YAW_ANCHORS)
    rec = edgeface.Reconstructor("onnx", model=pack, refine=False)
    after = evaluate_landmarks(rec, small, progress=False)
    assert after["n_held_out"] == 12
    fitted_before = _squared_error(edgeface.Reconstructor("onnx", model=fixture_pack, refine=False), small)
    fitted_after = _squared_error(rec, small)
    assert fitted_after < fitted_before
    report = json.loads((tmp_path / "align.json").read_text())
    assert report["fold0_aligned"]["nme_balanced"] == pytest.approx(after["nme_balanced_held_out"], rel=1e-4)


def _squared_error(rec, dataset):
    """Sum over the even (fitted) images of squared landmark error in units of face size."""
    from edgeface.runtime.geometry import landmark_box
    from edgeface.tools.evaluate import predict_faces

    total = 0.0
    for i, face in enumerate(predict_faces(rec, dataset, progress=False)):
        if i % 2 == 0:
            x1, y1, x2, y2 = landmark_box(dataset.points68[i])
            total += float((((face.landmarks[:, :2] - dataset.points68[i]) ** 2).sum()) / ((x2 - x1) * (y2 - y1)))
    return total


def test_align_landmarks_compares_two_packs_on_every_image_held_out(fixture_pack, dev_set, tmp_path, capsys):
    """`--compare` aligns both packs and pairs their per-image held-out errors: each image counts
    under the fold that did not fit on it, so the odd images reproduce fold 0's figure; the same
    network in two packs differs by exactly nothing."""
    from edgeface.tools.evaluate import nme_by_yaw
    from edgeface.train.morphable import MorphableModel

    ict = MorphableModel.default_path()
    if ict is None or not ict.exists():
        pytest.skip("ICT-FaceKit not found: set EDGEFACE_DATA to the shared data folder")
    small = _small_dev_set(dev_set, tmp_path / "dev", 24)
    a = shutil.copytree(fixture_pack, tmp_path / "a")
    b = shutil.copytree(fixture_pack, tmp_path / "b")
    assert (
        cli.main(
            [
                "align-landmarks",
                "--model",
                str(a),
                "--root",
                str(small.root),
                "--neighbours",
                "8",
                "--compare",
                str(b),
                "--json",
                str(tmp_path / "align.json"),
            ]
        )
        == 0
    )
    assert "difference +0.00 points" in capsys.readouterr().out
    report = json.loads((tmp_path / "align.json").read_text())
    held_out, bins = np.array(report["held_out_nme"]), small.yaw_bin()
    odd = np.arange(24) % 2 == 1
    assert nme_by_yaw(held_out[odd], bins[odd])["nme_mean"] == pytest.approx(report["fold0_aligned"]["nme_mean"])
    assert nme_by_yaw(held_out[~odd], bins[~odd])["nme_mean"] == pytest.approx(report["fold1_aligned"]["nme_mean"])
    assert report["compare"]["difference"] == 0 and report["compare"]["nme_balanced_a"] > 0
    assert json.loads((b / "edgeface.json").read_text())["topology"]["landmark_weights"]["alignment"]["n_fit"] == 12
