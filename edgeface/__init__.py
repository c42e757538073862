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

__version__ = "0.1.0"

__all__ = [
    "Reconstructor", "ReconstructorOptions", "load_image", "Face", "Mesh", "Pose", "draw", "Tracker", "OneEuroFilter",
    "EdgefaceError", "ImageError", "ModelError", "BackendNotInstalledError", "DetectorError",
    "OptionError", "__version__",
]
