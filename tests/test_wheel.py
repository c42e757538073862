"""The package as a user gets it: `python -m build` makes the sdist and the wheel, the wheel with one
backend extra goes into a fresh environment, and the main job (`edgeface demo`, on the packaged
photo) runs there from outside the checkout, without the data folder."""

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from importlib.util import find_spec
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=1200, **kwargs)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    if find_spec("build") is None:
        pytest.skip("the build package is not installed (pip install 'edgeface[dev]')")
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(REPO)])
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    return out


def test_sdist_and_wheel_hold_what_a_user_needs(dist):
    import edgeface

    (wheel,) = dist.glob("edgeface-*.whl")
    (sdist,) = dist.glob("edgeface-*.tar.gz")
    assert wheel.name.startswith(f"edgeface-{edgeface.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "edgeface/models/default/edgeface.json",
        "edgeface/runtime/assets/astronaut.jpg",
        "edgeface/runtime/assets/astronaut.txt",
        "edgeface/runtime/pack.schema.json",
        "edgeface/models/README.md",
    ):
        assert needed in names, needed
    manifest = json.loads((REPO / "edgeface/models/default/edgeface.json").read_text())
    for f in manifest["files"]:
        for name in [f["path"], *f.get("companions", [])]:
            assert f"edgeface/models/default/{name}" in names, name
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1] for m in tar.getmembers() if "/" in m.name}
    assert {"README.md", "LICENSE", "pyproject.toml"} <= members


def test_the_wheel_runs_the_main_job_outside_the_checkout(dist, tmp_path):
    (wheel,) = dist.glob("edgeface-*.whl")
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_PROGRESS_BAR": "off",
        "EDGEFACE_DATA": str(tmp_path / "no-data-here"),
    }
    env.pop("PYTHONPATH", None)
    installed = _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            str(REPO / "constraints.txt"),
            f"{wheel}[onnx]",
        ],
        env=env,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    work = tmp_path / "elsewhere"
    work.mkdir()
    edgeface = str(venv / "bin" / "edgeface")
    version = _run([edgeface, "--version"], env=env, cwd=work)
    assert version.returncode == 0
    package, model = version.stdout.split(" (model ")
    assert package.split()[-1] == model.split()[-1].rstrip(")"), version.stdout  # one version
    demo = _run([edgeface, "demo", "--out", "out"], env=env, cwd=work)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert "evaluation is skipped" in demo.stdout
    face = json.loads((work / "out" / "astronaut_face0.json").read_text())
    assert len(face["landmarks"]) == 68 and face["gender"] in ("female", "male")
    assert (work / "out" / "astronaut_overlay.png").stat().st_size > 10_000
    assert (work / "out" / "astronaut_face0.obj").read_text().count("\nv ") == 520
    # the installed package is the wheel's, not the checkout's
    where = _run([str(venv / "bin" / "python"), "-c", "import edgeface; print(edgeface.__file__)"], env=env, cwd=work)
    assert str(venv) in where.stdout
