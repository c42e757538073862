"""A recipe's align-landmarks and int8 stages call the export functions (no argv through the CLI) and
do exactly what `edgeface align-landmarks` and `edgeface export --precision int8` do, on the fixture
model and a few AFLW2000-3D dev photos."""

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch", reason="export needs the train extra")
pytest.importorskip("onnxruntime")

from edgeface import cli  # noqa: E402
from edgeface.runtime.pack import read_manifest  # noqa: E402

pytestmark = pytest.mark.train


def _data_folder(dev_set, root, count=24):
    """EDGEFACE_DATA with the first `count` dev photos and ICT-FaceKit."""
    from edgeface.train.morphable import MorphableModel

    ict = MorphableModel.default_path()
    if ict is None or not ict.exists():
        pytest.skip("ICT-FaceKit not found: set EDGEFACE_DATA to the shared data folder")
    dev = root / "aflw2000_dev"
    (dev / "images").mkdir(parents=True)
    for i in range(count):
        shutil.copy(dev_set.image_path(i), dev / "images" / dev_set.names[i])
    full = np.load(dev_set.root / "labels.npz")
    np.savez(dev / "labels.npz", **{k: full[k][:count] for k in full.files})
    (root / "ict_facekit.npz").symlink_to(ict)
    return root


def test_align_and_int8_stages_match_the_cli(fixture_pack, dev_set, tmp_path, monkeypatch):
    from edgeface.cli.recipe import Recipe
    from edgeface.export import gate, quantize

    data = _data_folder(dev_set, tmp_path / "data")
    monkeypatch.setenv("EDGEFACE_DATA", str(data))
    monkeypatch.setattr(quantize, "QUANTIZED_ONNX", ("/features/",))  # the fixture's module name
    monkeypatch.setattr(gate, "GATE_SYNTHETIC_FACES", 8)
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    import cv2

    rng = np.random.default_rng(0)
    for i in range(16):
        crop = cv2.resize(rng.integers(0, 256, (8, 8, 3)).astype(np.uint8), (64, 64))
        cv2.imwrite(str(calibration / f"{i}.png"), crop)
    # the recipe: an export stage already done (the fixture pack), then the two stages
    run = tmp_path / "run"
    shutil.copytree(fixture_pack, run / "export" / "pack")
    (run / "export" / "done.json").write_text(json.dumps({"product": str(run / "export" / "pack")}))
    recipe = {
        "name": "stages",
        "out": str(run),
        "stages": [
            {"name": "export", "run": "export", "checkpoint": "none"},
            {"name": "align", "run": "align-landmarks", "neighbours": 8},
            {"name": "int8", "run": "int8", "calibration": str(calibration), "formats": ["onnx"]},
        ],
    }
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    said = []
    Recipe(path).run(progress=said.append)
    assert "[align] align-landmarks" in said and "[int8] int8" in said
    # the same two steps through the CLI, on another copy of the fixture pack
    other = shutil.copytree(fixture_pack, tmp_path / "cli_pack")
    assert cli.main(["align-landmarks", "--model", str(other), "--neighbours", "8"]) == 0
    code = cli.main(
        [
            "export",
            "--out",
            str(other),
            "--formats",
            "onnx",
            "--precision",
            "int8",
            "--calibration",
            str(calibration),
            "--gate-json",
            str(tmp_path / "gate.json"),
        ]
    )
    assert code in (0, 3)
    staged, direct = read_manifest(run / "export" / "pack"), read_manifest(other)
    assert staged.landmark_weights_by_yaw is not None  # the stage wrote a definition per yaw anchor
    np.testing.assert_array_equal(staged.landmark_points, direct.landmark_points)
    np.testing.assert_array_equal(staged.landmark_weights_by_yaw, direct.landmark_weights_by_yaw)
    gate, cli_gate = (
        json.loads((run / "int8" / "gate.json").read_text()),
        json.loads((tmp_path / "gate.json").read_text()),
    )
    assert set(gate) == {"onnx"} and gate == cli_gate
    assert (run / "export" / "pack" / "model_int8.onnx").exists() == gate["onnx"]["passed"]
