"""Evaluation statistics: the paired comparison of two models on the same images."""

import json

import numpy as np

from edgeface.cli import main
from edgeface.tools.evaluate import paired_difference


def test_paired_difference_finds_a_shift_and_not_noise():
    rng = np.random.default_rng(1)
    bins = np.repeat([0, 1, 2], [150, 60, 40])
    a = rng.gamma(4.0, 0.012, len(bins)) * (1 + bins)  # harder bins, larger and more spread errors
    same = paired_difference(a, a, bins, resamples=200)
    assert same["difference"] == 0 and same["difference_ci95_low"] == same["difference_ci95_high"] == 0
    shifted = paired_difference(a, a - 0.002, bins, resamples=200)  # b better by 0.2 points on every image
    assert np.isclose(shifted["difference"], 0.002) and np.isclose(shifted["difference_ci95_low"], 0.002)
    noisy = paired_difference(a, a + rng.normal(0, 0.01, len(bins)), bins, resamples=500)
    assert noisy["difference_ci95_low"] < 0 < noisy["difference_ci95_high"]  # independent noise: no verdict
    # balanced means each bin once, whatever its size
    assert np.isclose(same["nme_balanced_a"], np.mean([a[bins == k].mean() for k in range(3)]))


def test_evaluate_compare_reports_the_paired_difference(fixture_pack, dev_set, tmp_path):
    path = tmp_path / "compare.json"
    assert (
        main(
            [
                "evaluate",
                "aflw2000",
                "--root",
                str(dev_set.root),
                "--model",
                str(fixture_pack),
                "--backend",
                "onnx",
                "--limit",
                "12",
                "--compare",
                str(fixture_pack),
                "--json",
                str(path),
            ]
        )
        == 0
    )
    result = json.loads(path.read_text())
    assert result["n_compared"] == 12
    assert result["nme_balanced_a"] == result["nme_balanced_b"] > 0 and result["difference"] == 0


def test_evaluate_compare_end_to_end_crops_from_the_detector(dev_set, tmp_path):
    """--compare with --end-to-end compares the detector's crops (it once compared the benchmark's
    boxes whatever the flag said): the shipped pack against itself gives the end-to-end figure."""

    def run(*flags):
        path = tmp_path / f"{len(flags)}.json"
        args = ["evaluate", "aflw2000", "--root", str(dev_set.root), "--backend", "onnx", "--precision", "fp32"]
        assert main([*args, "--limit", "16", *flags, "--json", str(path)]) == 0
        return json.loads(path.read_text())

    from edgeface.runtime.pack import DEFAULT_PACK

    end_to_end, boxes = run("--end-to-end", "--compare", str(DEFAULT_PACK)), run("--compare", str(DEFAULT_PACK))
    alone = run("--end-to-end")
    assert end_to_end["difference"] == 0 and end_to_end["n_compared"] == round(16 * alone["detected_fraction"])
    assert np.isclose(end_to_end["nme_balanced_a"], alone["nme_balanced"], atol=1e-6)
    assert not np.isclose(end_to_end["nme_balanced_a"], boxes["nme_balanced_a"], atol=1e-6)


def test_pose_figures_wrap_filter_and_measure_the_rotation_itself():
    from types import SimpleNamespace

    from edgeface.tools.evaluate import aflw2000_angles, aflw2000_rotation, pose_figures

    labels = np.array([[10.0, 20.0, -5.0], [-204.0, -78.0, 203.0], [0.0, 0.0, 0.0], [30.0, -40.0, 15.0]])
    for angles in labels[[0, 3]]:
        assert np.allclose(aflw2000_angles(aflw2000_rotation(angles)), angles)
    turn = np.radians(10.0)  # the third face's prediction: ten degrees about the camera's axis
    off = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    rotations = [aflw2000_rotation(labels[0]), aflw2000_rotation(labels[1]), off, None]
    faces = [None if r is None else SimpleNamespace(pose=SimpleNamespace(rotation=r)) for r in rotations]
    got = pose_figures(faces, SimpleNamespace(pitch_yaw_roll=np.radians(labels)))
    # the second label is beyond 99 degrees: left out of the angle figure, kept in the rotation's
    assert got["n_pose_within_99"] == 2
    assert np.isclose(got["pose_mae_deg_within_99"], 10.0 / 6)  # (0 + 10) over two faces' three angles
    assert np.isclose(got["pose_rotation_error_deg"], 10.0 / 3, atol=1e-6)  # 0, 0 and 10 degrees
    assert np.isclose(got["pose_rotation_error_median_deg"], 0.0, atol=1e-6)
