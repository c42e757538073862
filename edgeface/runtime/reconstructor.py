"""`Reconstructor`: image in, one `Face` per face out, on whichever backend is installed."""

from __future__ import annotations

from dataclasses import dataclass, fields

from . import detectors
from .errors import OptionError
from .image import load_image
from .model import Model
from .pack import Manifest, read_manifest
from .pipeline import Pipeline, check_boxes
from .results import Face

#: more network threads than this is a mistake, not a speed-up (each is an OS thread)
MAX_THREADS = 64


@dataclass
class ReconstructorOptions:
    """Everything `Reconstructor` can be told; `Reconstructor.create(options)` takes one of these.

    backend: "auto", "tflite", "onnx", "openvino" or "torch".
    model: a model pack directory (or its edgeface.json); None for the pack shipped in the package.
    precision: "auto" (int8 on ARM, fp32 on x86; README "Backends"), "fp32", "fp16" or "int8".
    num_threads: threads for the network; None lets the backend decide.
    detector: "auto" or a name from edgeface.runtime.detectors.DETECTORS.
    max_faces: keep at most this many detections, largest first; None keeps all.
    refine: run a second pass on a crop made from the first pass's landmarks, the crop the
        network was trained on: geometry from the second crop, identity and attributes (age and
        gender included) averaged over both. On by default: landmarks, attributes, identity, age
        and gender measured better with it on real photos; False runs the network once per face,
        not twice (model card, "Refine").
    min_face_size: detections smaller than this (pixels, box side) are ignored.
    flip_average: also run each crop mirrored and average the two answers: more accurate
        landmarks, dense points and pose for twice the network time (model card: "Flip
        averaging"). Identity comes from the unmirrored crop (a mirrored face is another face).
    """

    backend: str = "auto"
    model: object = None
    precision: str = "auto"
    num_threads: int | None = None
    detector: str = "auto"
    max_faces: int | None = None
    refine: bool = True
    min_face_size: float = 16.0
    flip_average: bool = False

    def __post_init__(self):
        if not isinstance(self.backend, str):
            raise OptionError(f"backend must be a name such as 'auto' or 'onnx', not {self.backend!r}")
        if not isinstance(self.detector, str) or (self.detector != "auto" and self.detector not in detectors.DETECTORS):
            raise OptionError(
                f"unknown detector {self.detector!r}; choose one of {sorted(detectors.DETECTORS)} or 'auto'"
            )
        if not isinstance(self.precision, str):
            raise OptionError(f"precision must be 'auto', 'fp32', 'fp16' or 'int8', not {self.precision!r}")
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or not 1 <= self.num_threads <= MAX_THREADS
        ):
            raise OptionError(
                f"num_threads must be a whole number from 1 to {MAX_THREADS}, or None, not {self.num_threads!r}"
            )
        if self.max_faces is not None and (
            isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int) or self.max_faces < 1
        ):
            raise OptionError(f"max_faces must be a positive whole number or None (all faces), not {self.max_faces!r}")
        if not isinstance(self.min_face_size, (int, float)) or not 0 <= self.min_face_size < float("inf"):
            raise OptionError(f"min_face_size must be a finite number of pixels >= 0, not {self.min_face_size!r}")


class Reconstructor:
    """3D face reconstruction from single images: the image-mode driver of one `Pipeline`.

    >>> rec = edgeface.Reconstructor("onnx")
    >>> faces = rec("photo.jpg")            # or a BGR uint8 array; color="rgb" for RGB arrays
    >>> faces[0].pose.yaw, faces[0].landmarks.shape, faces[0].attributes["Smiling"]

    Thread safety: one instance may be called from several threads; calls are serialised by
    an internal lock, because TFLite interpreters and OpenCV networks are not re-entrant.
    For parallel throughput, create one Reconstructor per thread (they share nothing).
    """

    def __init__(
        self,
        backend: str = "auto",
        model=None,
        precision: str = "auto",
        num_threads: int | None = None,
        detector: str = "auto",
        **options,
    ):
        self.options = ReconstructorOptions(
            backend=backend, model=model, precision=precision, num_threads=num_threads, detector=detector, **options
        )
        self.manifest: Manifest = read_manifest(model)
        self.model = Model(self.manifest, backend, precision, num_threads)
        o = self.options
        self.pipeline = Pipeline(
            self.manifest,
            self.model,
            detector=o.detector,
            min_face_size=o.min_face_size,
            max_faces=o.max_faces,
            refine=o.refine,
            flip_average=o.flip_average,
        )

    @classmethod
    def create(cls, options: ReconstructorOptions | None = None) -> "Reconstructor":
        """A Reconstructor from one options object (MediaPipe Tasks' style): the same path as the
        keyword form, field by field, so an option added to ReconstructorOptions needs no change here."""
        o = options or ReconstructorOptions()
        return cls(**{f.name: getattr(o, f.name) for f in fields(o)})

    @property
    def backend(self) -> str:
        return self.model.backend_name

    @property
    def precision(self) -> str:
        return self.model.file.precision

    @property
    def detector(self):
        return self.pipeline.detector

    def __repr__(self) -> str:
        return (
            f"Reconstructor(backend={self.backend!r}, precision={self.precision!r}, "
            f"model={self.manifest.name!r}, detector={self.options.detector!r})"
        )

    def __call__(self, image, boxes=None, color: str = "bgr") -> list[Face]:
        """Reconstruct every face in `image` (a path or an (H, W, 3) uint8 array).

        `boxes` (N, 4) x1, y1, x2, y2 skips detection; they are read as detector boxes of the
        default detector (loose face boxes); use `from_landmark_boxes` for tight landmark boxes.
        Returns [] when no face is found.
        """
        image = load_image(image, color)
        with self.pipeline.lock:
            if boxes is None:
                boxes, scores, landmark_boxes = self.pipeline.detected(image)
            else:
                boxes = check_boxes(boxes, image.shape)
                scores = [1.0] * len(boxes)
                calibration = detectors.caller_box_calibration()
                landmark_boxes = [detectors.to_landmark_box(b, calibration) for b in boxes]
            return self.pipeline.reconstruct(image, boxes, scores, landmark_boxes)

    def from_landmark_boxes(self, image, landmark_boxes, color: str = "bgr") -> list[Face]:
        """Reconstruct from boxes that tightly enclose each face's 68 landmarks (no detection)."""
        image = load_image(image, color)
        landmark_boxes = check_boxes(landmark_boxes, image.shape)
        with self.pipeline.lock:
            return self.pipeline.reconstruct(image, landmark_boxes, [1.0] * len(landmark_boxes), landmark_boxes)

    def tracker(self, **options):
        """A video `Tracker` on this reconstructor (see edgeface.runtime.video.Tracker)."""
        from .video import Tracker

        return Tracker(self, **options)
