"""edgeface: single-image 3D face reconstruction for edge devices.

import edgeface
rec = edgeface.Reconstructor("auto")      # or "tflite", "onnx", "openvino"
for face in rec("photo.jpg"):
    print(face.pose.yaw, face.landmarks.shape, face.attributes)
"""

from .runtime.errors import BackendNotInstalledError, DetectorError, EdgefaceError, ImageError, ModelError, OptionError
from .runtime.image import load_image
from .runtime.reconstructor import Reconstructor, ReconstructorOptions
from .runtime.results import Face, Mesh, Pose, draw
from .runtime.video import OneEuroFilter, Tracker

__version__ = "0.5.0"


def sample_image_path():
    """The path of the real photo shipped with the package: NASA's portrait of the astronaut Eileen
    Collins, public domain (edgeface/runtime/assets/astronaut.txt says where it comes from)."""
    from pathlib import Path

    return Path(__file__).parent / "runtime" / "assets" / "astronaut.jpg"


def sample_image():
    """The shipped real photo (`sample_image_path`) as a (512, 512, 3) uint8 BGR array."""
    return load_image(sample_image_path())


__all__ = [
    "Reconstructor",
    "ReconstructorOptions",
    "load_image",
    "Face",
    "Mesh",
    "Pose",
    "draw",
    "Tracker",
    "OneEuroFilter",
    "EdgefaceError",
    "ImageError",
    "ModelError",
    "BackendNotInstalledError",
    "DetectorError",
    "OptionError",
    "sample_image",
    "sample_image_path",
    "__version__",
]
