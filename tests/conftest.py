"""Fixtures by what they need. The runtime's (tests/runtime) need no torch and no data: the
fixture pack is committed, the face is the package's synthetic portrait. Tests that need the data
folder, torch or platform tools are marked `data`, `train` or `platform` and skip, saying why,
where those are absent."""

import os
import shutil
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from edgeface.runtime import backends
from edgeface.tools.datasets import Aflw2000, data_root

# the .pt2 files the tests load are the ones they exported themselves (the torch backend refuses
# untrusted ones: tests/runtime/test_security.py takes this away to check that)
os.environ["EDGEFACE_TRUST_TORCH_FILES"] = "1"

COMMITTED_FIXTURE_PACK = Path(__file__).parent / "runtime" / "fixture_pack"
PORTRAIT = Path(__file__).resolve().parents[1] / "edgeface" / "runtime" / "assets" / "portrait.jpg"


def pytest_collection_modifyitems(items):
    for item in items:
        if "dev_set" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.data)


@pytest.fixture(scope="session")
def fixture_pack(tmp_path_factory) -> Path:
    """The committed test-fixture pack (ONNX, OpenVINO, TFLite); where torch is installed, with the
    torch backend's file added, exported from the same seeded network."""
    pack = Path(shutil.copytree(COMMITTED_FIXTURE_PACK, tmp_path_factory.mktemp("fixture") / "pack"))
    if find_spec("torch") is not None:
        import fixture_model

        from edgeface.export.fp32 import Listed, export_torch
        from edgeface.runtime.pack import PackManifest, read_manifest

        names = read_manifest(pack).tensor_shapes  # the tensors of its files, in order
        info = export_torch(Listed(fixture_model.network().eval(), names), fixture_model.SIZE, pack / "model_fp32.pt2")
        manifest = PackManifest.open(pack)
        manifest.add_file(pack / "model_fp32.pt2", "torch", "fp32", info["outputs"], layout=info["layout"])
        manifest.save()
    return pack


@pytest.fixture(scope="session")
def built_fixture_pack(tmp_path_factory) -> Path:
    """The fixture pack exported now, in every format (needs the train extra)."""
    pytest.importorskip("torch", reason="exporting the test model needs torch (pip install 'edgeface[train]')")
    import fixture_model

    return fixture_model.build(tmp_path_factory.mktemp("built_fixture_pack"))


@pytest.fixture
def pack_copy(fixture_pack, tmp_path) -> Path:
    """A private copy of the fixture pack that a test may damage."""
    return Path(shutil.copytree(fixture_pack, tmp_path / "pack"))


@pytest.fixture(scope="session")
def installed_backends() -> list[str]:
    return backends.installed()


@pytest.fixture(scope="session")
def dev_set() -> Aflw2000:
    root = data_root()
    if root is None and (Path(__file__).resolve().parents[2] / "shared" / "data").is_dir():
        root = Path(__file__).resolve().parents[2] / "shared" / "data"
    if root is None or not (root / "aflw2000_dev" / "labels.npz").exists():
        pytest.skip("AFLW2000-3D dev set not found: set EDGEFACE_DATA to the shared data folder")
    return Aflw2000.load(root / "aflw2000_dev")


@pytest.fixture(scope="session")
def face_image() -> np.ndarray:
    """A 450x450 frontal face (BGR): the synthetic portrait shipped in the package (ICT-FaceKit, MIT)."""
    from edgeface.runtime.image import load_image

    return load_image(PORTRAIT)
