"""Each backend extra alone, as a user installs it: a fresh virtual environment with this checkout's
wheel and one extra (versions from constraints.txt), then `edgeface info` and `edgeface run` on a
real photo. The onnx extra also runs on OpenCV 5.1, whose TFLite importer lost ENGINE_CLASSIC: the
detector runs on OpenCV there (no LiteRT), so this is where a vanished constant would show."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[1]

#: (extra, OpenCV pin or None for the lock's)
CASES = [("tflite", None), ("onnx", None), ("openvino", None), ("onnx", "5.1.0.95")]


def _run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(REPO)])
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("edgeface-*.whl")
    return path


@pytest.mark.slow
@pytest.mark.parametrize("extra, opencv", CASES, ids=[f"{e}-opencv{o or 'lock'}" for e, o in CASES])
def test_extra_alone_installs_and_runs_a_photo(wheel, extra, opencv, dev_set, tmp_path):
    constraints = tmp_path / "constraints.txt"
    lines = (REPO / "constraints.txt").read_text().splitlines()
    if opencv:
        lines = [line for line in lines if not line.startswith("opencv-python-headless==")]
        lines.append(f"opencv-python-headless=={opencv}")
    constraints.write_text("\n".join(lines) + "\n")
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python = venv / "bin" / "python"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_PROGRESS_BAR": "off"}
    env.pop("PYTHONPATH", None)
    installed = _run(
        [str(python), "-m", "pip", "install", "--quiet", "-c", str(constraints), f"{wheel}[{extra}]"], env=env
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    edgeface = [str(venv / "bin" / "edgeface")]

    info = _run(edgeface + ["info"], env=env, cwd=tmp_path)
    assert info.returncode == 0, info.stderr[-3000:]
    lines = info.stdout.splitlines()
    backends = {
        line.split()[0]: "installed (" in line
        for line in lines
        if line.startswith("  ") and ("installed (" in line or "not installed" in line)
    }
    assert backends[extra] and sum(backends.values()) == 1, info.stdout

    photo = dev_set.image_path(0)
    out = tmp_path / "out"
    run = _run(edgeface + ["run", str(photo), "--out", str(out)], env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert f"backend='{extra}'" in run.stdout
    face = json.loads((out / f"{photo.stem}_face0.json").read_text())
    assert len(face["landmarks"]) == 68
    if opencv:
        version = _run([str(python), "-c", "import cv2; print(cv2.__version__)"], env=env)
        assert version.stdout.strip() == opencv.rsplit(".", 1)[0]
