import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeface.runtime import backends
from edgeface.tools.datasets import Aflw2000, data_root


@pytest.fixture(scope="session")
def fixture_pack(tmp_path_factory) -> Path:
    """The test-fixture model pack in every format the installed export tools can write."""
    pytest.importorskip("torch", reason="building the test model needs torch (pip install 'edgeface[train]')")
    import fixture_model

    formats = ["torch"]
    for module, fmt in (("onnx", "onnx"), ("openvino", "openvino"), ("litert_torch", "tflite")):
        try:
            __import__(module)
            formats.append(fmt)
        except ImportError:
            pass
    return fixture_model.build(tmp_path_factory.mktemp("fixture_pack"), formats=tuple(formats))


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
def face_image(dev_set) -> np.ndarray:
    """A real 450x450 frontal face photo (BGR) from the dev set."""
    from edgeface.runtime.image import load_image

    return load_image(dev_set.image_path(0))
