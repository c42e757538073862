"""The `edgeface` command on images, folders and videos, with every installed backend."""
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgeface.cli import main


@pytest.mark.parametrize("backend", ["onnx", "openvino", "tflite", "torch"])
def test_run_writes_overlay_obj_and_json(backend, installed_backends, fixture_pack, dev_set, tmp_path, capsys):
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    image = dev_set.image_path(0)
    assert main(["run", str(image), "--backend", backend, "--model", str(fixture_pack), "--out", str(tmp_path)]) == 0
    stem = image.stem
    overlay = cv2.imread(str(tmp_path / f"{stem}_overlay.png"))
    assert overlay.shape == cv2.imread(str(image)).shape
    data = json.loads((tmp_path / f"{stem}_face0.json").read_text())
    assert np.array(data["landmarks"]).shape == (68, 3)
    obj = (tmp_path / f"{stem}_face0.obj").read_text()
    assert obj.count("\nv ") == 520
    assert f"backend='{backend}'" in capsys.readouterr().out


def test_run_on_a_folder_skips_bad_files_and_reports_them(fixture_pack, dev_set, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(2):
        shutil.copy(dev_set.image_path(i), folder / f"face{i}.jpg")
    (folder / "broken.jpg").write_text("not an image")
    out = tmp_path / "out"
    assert main(["run", str(folder), "--model", str(fixture_pack), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*_overlay.png")) == ["face0_overlay.png", "face1_overlay.png"]
    assert "broken.jpg: skipped: cannot decode" in capsys.readouterr().err


def test_run_on_a_video_tracks(fixture_pack, face_image, tmp_path, capsys):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (640, 480))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4")
    for i in range(10):
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[15:465, 40 + 5 * i:490 + 5 * i] = face_image
        writer.write(frame)
    writer.release()
    assert main(["run", str(path), "--model", str(fixture_pack), "--out", str(tmp_path / "out")]) == 0
    tracks = json.loads((tmp_path / "out" / "clip_tracks.json").read_text())
    assert len(tracks) == 10 and all(len(t["faces"]) == 1 for t in tracks)
    assert "detector ran on 1" in capsys.readouterr().out


def test_errors_are_one_line_not_tracebacks(fixture_pack, tmp_path, capsys):
    assert main(["run", str(tmp_path / "missing.jpg"), "--model", str(fixture_pack)]) == 2
    assert "edgeface: error: input not found" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--model", str(tmp_path / "nopack")]) == 2
    assert "no model pack" in capsys.readouterr().err


def test_info_lists_backends_and_model(fixture_pack, installed_backends, capsys):
    assert main(["info", "--model", str(fixture_pack)]) == 0
    out = capsys.readouterr().out
    for backend in installed_backends:
        assert f"{backend} " in out and "installed" in out
    assert "edgeface-test-fixture (test-fixture)" in out
    assert "blazeface_short (default)" in out


def test_evaluate_writes_the_documented_keys(fixture_pack, dev_set, tmp_path):
    path = tmp_path / "result.json"
    assert main(["evaluate", "--root", str(dev_set.root), "--model", str(fixture_pack), "--backend", "onnx",
                 "--limit", "12", "--json", str(path)]) == 0
    result = json.loads(path.read_text())
    for key in ("nme_0_30", "nme_30_60", "nme_60_90", "nme_balanced", "nme_mean", "pose_mae_deg",
                "detected_fraction", "n_images"):
        assert key in result
    assert result["n_images"] == 12 and result["detected_fraction"] == 1.0
    # an untrained fixture is far from the truth, but its error is finite and positive
    assert 0 < result["nme_mean"] < 1


def test_console_script_is_installed():
    exe = shutil.which("edgeface")
    if exe is None:
        pytest.skip("package not installed (pip install -e .)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.startswith("edgeface ")


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "edgeface", "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "evaluate" in out.stdout
