"""`Reconstructor`: image in, one `Face` per face out, on whichever backend is installed."""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from . import detectors, resample
from .errors import EdgefaceError, ModelError, OptionError
from .geometry import Crop, euler_to_matrix, landmark_box, square_crop
from .image import load_image
from .model import POSE_MIRROR_OFFSET, POSE_MIRROR_SIGN, Manifest, Model, mirror_twins, read_manifest
from .results import Face, Mesh, Pose


@dataclass
class ReconstructorOptions:
    """Everything `Reconstructor` can be told; `Reconstructor.create(options)` takes one of these.

    backend: "auto", "tflite", "onnx", "openvino" or "torch".
    model: a model pack directory (or its edgeface.json); None for the pack shipped in the package.
    precision: "auto" (int8 on ARM, fp32 on x86; README "Backends"), "fp32", "fp16" or "int8".
    num_threads: threads for the network; None lets the backend decide.
    detector: "auto" or a name from edgeface.detectors.DETECTORS.
    max_faces: keep at most this many detections, largest first; None keeps all.
    refine: run a second pass on a crop made from the first pass's landmarks (fixes loose
        detector boxes at the price of a second network run).
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
    refine: bool = False
    min_face_size: float = 16.0
    flip_average: bool = False

    def __post_init__(self):
        if not isinstance(self.backend, str):
            raise OptionError(f"backend must be a name such as 'auto' or 'onnx', not {self.backend!r}")
        if not isinstance(self.precision, str):
            raise OptionError(f"precision must be 'auto', 'fp32', 'fp16' or 'int8', not {self.precision!r}")
        if self.num_threads is not None and (isinstance(self.num_threads, bool) or not isinstance(self.num_threads, int)
                                             or self.num_threads < 1):
            raise OptionError(f"num_threads must be a positive whole number or None, not {self.num_threads!r}")
        if self.max_faces is not None and (isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int)
                                           or self.max_faces < 1):
            raise OptionError(f"max_faces must be a positive whole number or None (all faces), not {self.max_faces!r}")
        if not isinstance(self.min_face_size, (int, float)) or not 0 <= self.min_face_size < float("inf"):
            raise OptionError(f"min_face_size must be a finite number of pixels >= 0, not {self.min_face_size!r}")


class Reconstructor:
    """3D face reconstruction from single images.

    >>> rec = edgeface.Reconstructor("onnx")
    >>> faces = rec("photo.jpg")            # or a BGR uint8 array; color="rgb" for RGB arrays
    >>> faces[0].pose.yaw, faces[0].landmarks.shape, faces[0].attributes["Smiling"]

    Thread safety: one instance may be called from several threads; calls are serialised by
    an internal lock, because TFLite interpreters and OpenCV networks are not re-entrant.
    For parallel throughput, create one Reconstructor per thread (they share nothing).
    """

    def __init__(self, backend: str = "auto", model=None, precision: str = "auto",
                 num_threads: int | None = None, detector: str = "auto", **options):
        self.options = ReconstructorOptions(backend=backend, model=model, precision=precision,
                                            num_threads=num_threads, detector=detector, **options)
        self.manifest: Manifest = read_manifest(model)
        self.model = Model(self.manifest, backend, precision, num_threads)
        self._mirror = _MirrorMaps(self.manifest) if self.options.flip_average else None
        self._detector = None  # created on first use: callers passing boxes never pay for it
        self._lock = threading.Lock()

    @classmethod
    def create(cls, options: ReconstructorOptions | None = None) -> "Reconstructor":
        o = options or ReconstructorOptions()
        return cls(o.backend, o.model, o.precision, o.num_threads, o.detector, max_faces=o.max_faces,
                   refine=o.refine, min_face_size=o.min_face_size, flip_average=o.flip_average)

    @property
    def backend(self) -> str:
        return self.model.backend_name

    @property
    def precision(self) -> str:
        return self.model.file.precision

    @property
    def detector(self):
        if self._detector is None:
            self._detector = detectors.create(self.options.detector)
        return self._detector

    def __repr__(self) -> str:
        return (f"Reconstructor(backend={self.backend!r}, precision={self.precision!r}, "
                f"model={self.manifest.name!r}, detector={self.options.detector!r})")

    # -- public API ------------------------------------------------------------------------

    def __call__(self, image, boxes=None, color: str = "bgr") -> list[Face]:
        """Reconstruct every face in `image` (a path or an (H, W, 3) uint8 array).

        `boxes` (N, 4) x1, y1, x2, y2 skips detection; they are read as detector boxes of the
        default detector (loose face boxes); use `from_landmark_boxes` for tight landmark boxes.
        Returns [] when no face is found.
        """
        image = load_image(image, color)
        with self._lock:
            if boxes is None:
                found = self._detect(image)
                boxes = [d.box for d in found]
                scores = [d.score for d in found]
                calibration = self.detector.to_landmarks
            else:
                boxes = _check_boxes(boxes, image.shape)
                scores = [1.0] * len(boxes)
                calibration = detectors.caller_box_calibration()
            lboxes = [detectors.to_landmark_box(b, calibration) for b in boxes]
            return self._reconstruct(image, boxes, scores, lboxes)

    def from_landmark_boxes(self, image, landmark_boxes, color: str = "bgr") -> list[Face]:
        """Reconstruct from boxes that tightly enclose each face's 68 landmarks (no detection)."""
        image = load_image(image, color)
        lboxes = _check_boxes(landmark_boxes, image.shape)
        with self._lock:
            return self._reconstruct(image, lboxes, [1.0] * len(lboxes), lboxes)

    def tracker(self, **options):
        """A video `Tracker` on this reconstructor (see edgeface.video.Tracker)."""
        from .video import Tracker

        return Tracker(self, **options)

    # -- internals shared with the tracker and the evaluation --------------------------------

    def _detect(self, image: np.ndarray):
        found = [d for d in self.detector(image)
                 if min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= self.options.min_face_size]
        found.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return found[: self.options.max_faces]

    def _reconstruct(self, image, boxes, scores, lboxes) -> list[Face]:
        if not len(boxes):
            return []
        crops = [self.crop_for(lb) for lb in lboxes]
        faces = self.run_crops(image, crops, boxes, scores)
        if self.options.refine:
            crops = [self.crop_for_face(f) for f in faces]
            faces = self.run_crops(image, crops, boxes, scores)
        return faces

    def crop_for(self, landmark_box_xyxy) -> Crop:
        """The network's crop for a face whose 68 landmarks span `landmark_box_xyxy`."""
        return square_crop(landmark_box_xyxy, self.manifest.crop_scale, self.manifest.crop_shift_y)

    def face_box(self, face: Face) -> np.ndarray:
        """The box of a face's ICT landmark vertices: the box the crop rule was trained on, which
        refine and video tracking follow. Aligned landmarks (manifest `landmark_weights`) sit
        where a benchmark's annotators put them, so their box is a slightly different one."""
        return landmark_box(face.dense[self.manifest.landmarks68])

    def crop_for_face(self, face: Face) -> Crop:
        """The crop that follows `face` into another pass (refine, the next video frame)."""
        return self.crop_for(self.face_box(face))

    def cut(self, image: np.ndarray, crops: list[Crop]) -> np.ndarray:
        """(N, S, S, 3) uint8 crops; outside the image is black, as in training (edgeface.resample)."""
        size = self.manifest.input_size
        out = np.empty((len(crops), size, size, 3), np.uint8)
        for i, crop in enumerate(crops):
            if crop.size > 2 * size:
                # a bilinear warp has no area filter: pre-shrink the region so sampling does not alias
                out[i] = _area_crop(image, crop, size)
            else:
                out[i] = resample.warp_affine(image, crop.affine(size), size, size)
        return out

    def run_crops(self, image, crops: list[Crop], boxes, scores) -> list[Face]:
        batch = self.cut(image, crops)
        outputs = self.model(batch)
        if self._mirror is not None:
            outputs = self._mirror.average(outputs, self.model(np.ascontiguousarray(batch[:, :, ::-1])))
        faces = [self.decode(outputs, i, crop, box, score)
                 for i, (crop, box, score) in enumerate(zip(crops, boxes, scores))]
        for face in faces:
            if not (np.isfinite(face.dense).all() and np.isfinite(face.pose.scale)
                    and np.isfinite(face.pose.translation).all()):
                raise ModelError(f"model file {self.model.file.path.name} gave points or a pose too large for "
                                 "the image (overflow): the file's weights are damaged")
        return faces

    def decode(self, outputs: dict, i: int, crop: Crop, box, score: float) -> Face:
        m = self.manifest
        dense = crop.to_image(outputs["dense"][i])
        pitch, yaw, roll, tx, ty, s = (float(v) for v in outputs["pose"][i])
        pose = Pose(yaw=float(np.degrees(yaw)), pitch=float(np.degrees(pitch)), roll=float(np.degrees(roll)),
                    rotation=euler_to_matrix(pitch, yaw, roll),
                    translation=crop.to_image(np.array([tx, ty], np.float32)),
                    scale=s * crop.size)
        expression = dict(zip(m.expression_names, outputs["expression"][i].tolist()))
        logits = outputs["attributes"][i]
        attributes = dict(zip(m.attribute_names, _sigmoid(logits[:len(m.attribute_names)]).tolist()))
        age = None if m.age_column is None else max(0.0, float(logits[m.age_column]))
        gender = None
        if m.gender_attribute is not None:
            gender = "male" if attributes[m.gender_attribute] >= 0.5 else "female"
        return Face(box=np.asarray(box, np.float32), score=float(score), landmarks=m.landmarks_from(dense, pose.yaw),
                    dense=dense, mesh=Mesh(dense, m.triangles), pose=pose,
                    identity=outputs["identity"][i].copy(), expression=expression, attributes=attributes,
                    visibility=_sigmoid(outputs["visibility"][i]), crop=(crop.x0, crop.y0, crop.size),
                    age=age, gender=gender)


class _MirrorMaps:
    """What a horizontal flip of the crop does to each output, for flip averaging."""

    def __init__(self, manifest: Manifest):
        if manifest.mirror is None:
            raise EdgefaceError(f"model {manifest.name!r} cannot flip-average: its manifest has no mirror map "
                                "(topology.mirror); re-export it with this edgeface")
        self.points = manifest.mirror
        self.expression = mirror_twins(manifest.expression_names)
        twins = mirror_twins(manifest.attribute_names)
        # the age column (if any) is its own mirror twin
        self.attributes = np.concatenate([twins, np.arange(len(twins), manifest.output_shapes["attributes"][0])])

    def average(self, plain: dict, flipped: dict) -> dict:
        """Outputs of a batch and of the same batch mirrored -> their average, in the plain frame."""
        dense = flipped["dense"][:, self.points].copy()
        dense[..., 0] = 1.0 - dense[..., 0]  # u = (x + 0.5) / S, so a flip maps u to 1 - u
        pose = flipped["pose"] * POSE_MIRROR_SIGN + POSE_MIRROR_OFFSET
        mirrored = {"dense": dense, "pose": pose, "identity": plain["identity"],
                    "expression": flipped["expression"][:, self.expression],
                    "attributes": flipped["attributes"][:, self.attributes],
                    "visibility": flipped["visibility"][:, self.points]}
        return {k: (0.5 * (plain[k] + mirrored[k])).astype(plain[k].dtype) for k in plain}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


#: A face box may reach past the photo (a close selfie), but not by this factor of its longer side.
MAX_BOX_TO_IMAGE = 16


def _check_boxes(boxes, image_shape) -> np.ndarray:
    """(N, 4) float32 boxes; one box may be given as (4,). Refuses what would give a wrong answer
    in silence: another shape, empty or non-finite boxes, boxes off the image or absurdly large."""
    try:
        arr = np.asarray(boxes, dtype=np.float32)
    except (ValueError, TypeError):
        raise OptionError(f"boxes must be an (N, 4) array of x1, y1, x2, y2, got {boxes!r}") from None
    if arr.ndim == 1 and arr.shape[0] in (0, 4):
        arr = arr.reshape(-1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise OptionError(f"boxes must be an (N, 4) array of x1, y1, x2, y2, got shape {arr.shape}")
    bad = ~np.isfinite(arr).all(1) | (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        raise OptionError(f"box {arr[np.flatnonzero(bad)[0]].tolist()} is empty or not finite "
                          "(boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1)")
    h, w = image_shape[:2]
    off = (arr[:, 2] <= 0) | (arr[:, 3] <= 0) | (arr[:, 0] >= w) | (arr[:, 1] >= h)
    if off.any():
        raise OptionError(f"box {arr[np.flatnonzero(off)[0]].tolist()} lies outside the {w}x{h} image")
    huge = np.maximum(arr[:, 2] - arr[:, 0], arr[:, 3] - arr[:, 1]) > MAX_BOX_TO_IMAGE * max(h, w)
    if huge.any():
        raise OptionError(f"box {arr[np.flatnonzero(huge)[0]].tolist()} is over {MAX_BOX_TO_IMAGE} times the "
                          f"{w}x{h} image's longer side: not a face in this image")
    return arr


def _area_crop(image: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """Area-shrink the crop region at full resolution (black outside the image), then warp."""
    x0, y0 = int(np.floor(crop.x0)), int(np.floor(crop.y0))
    side = int(np.ceil(crop.size + (crop.x0 - x0)))
    sub = Crop(crop.x0 - x0, crop.y0 - y0, crop.size)
    scale = 2 * size / crop.size
    small = resample.resize_area_window(image, x0, y0, side, side, scale)
    # resize maps pixel centres: x_small = (x + 0.5) * scale - 0.5
    half = Crop((sub.x0 + 0.5) * scale - 0.5, (sub.y0 + 0.5) * scale - 0.5, sub.size * scale)
    return resample.warp_affine(small, half.affine(size), size, size)
