"""The stages a face goes through, in order: detect -> landmark box -> crop -> infer -> decode.

`Pipeline` owns them, with flip averaging (inside infer) and refine (a second crop from the first
answer). `Reconstructor` (image mode) and `Tracker` (video mode) are two drivers over one
`Pipeline`: the first runs it once per image, the second keeps each face's crop between frames and
calls `run_crops` from there. Every decoding rule of the network's outputs lives here.
"""

from __future__ import annotations

import bisect
import threading

import numpy as np

from . import detectors, resample
from .errors import EdgefaceError, ModelError, OptionError, shown
from .geometry import Crop, euler_to_matrix, landmark_box, square_crop
from .model import Model
from .pack import Manifest
from .results import Face, Mesh, Pose

#: A horizontal flip of the crop, seen on the pose output (pitch, yaw, roll, tx, ty, scale): yaw and
#: roll turn the other way and tx mirrors about the crop's centre, so mirrored = pose * SIGN + OFFSET.
#: Shared by the runtime's flip averaging and the training's flip-averaged teacher.
POSE_MIRROR_SIGN = np.array([1.0, -1.0, -1.0, -1.0, 1.0, 1.0], np.float32)
POSE_MIRROR_OFFSET = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0], np.float32)
#: A face box may reach past the photo (a close selfie), but not by this factor of its longer side.
MAX_BOX_TO_IMAGE = 16
#: A network's points lie in and near the crop it was shown (a profile's hidden jaw a fraction of
#: the crop outside); this many crop sizes from the crop's centre is a damaged file, not a face.
MAX_POINTS_FROM_CROP = 4.0


class Pipeline:
    """One model and one detector, and the stages between an image and its faces.

    `lock` serialises calls: TFLite interpreters and OpenCV networks are not re-entrant."""

    def __init__(
        self,
        manifest: Manifest,
        model: Model,
        detector: str = "auto",
        min_face_size: float = 16.0,
        max_faces: int | None = None,
        refine: bool = False,
        flip_average: bool = False,
    ):
        self.manifest, self.model = manifest, model
        self.detector_name, self.min_face_size, self.max_faces = detector, min_face_size, max_faces
        self.refine = refine
        self.flip = FlipAverage(manifest) if flip_average else None
        self.lock = threading.Lock()
        self._detector: detectors.Detector | None = None  # created on first use: callers passing boxes never pay for it

    @property
    def detector(self):
        if self._detector is None:
            self._detector = detectors.create(self.detector_name)
        return self._detector

    # -- the stages, in order ------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[detectors.Detection]:
        """Faces at least `min_face_size` across, largest first, at most `max_faces`."""
        found = [
            d
            for d in self.detector(image, enough=self.max_faces, min_size=self.min_face_size)
            if min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= self.min_face_size
        ]
        found.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return found[: self.max_faces]

    def crop_for(self, landmark_box_xyxy) -> Crop:
        """The network's crop for a face whose 68 landmarks span `landmark_box_xyxy`."""
        return square_crop(landmark_box_xyxy, self.manifest.crop_scale, self.manifest.crop_shift_y)

    def cut(self, image: np.ndarray, crops: list[Crop]) -> np.ndarray:
        """(N, S, S, 3) uint8 crops; outside the image is black, as in training (edgeface.runtime.resample)."""
        size = self.manifest.input_size
        out = np.empty((len(crops), size, size, 3), np.uint8)
        for i, crop in enumerate(crops):
            resample.crop(image, crop.x0, crop.y0, crop.size, size, out=out[i])
        return out

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """The network's named outputs for a batch of crops (flip-averaged when asked)."""
        outputs = self.model(batch)
        if self.flip is not None:
            outputs = self.flip.average(outputs, self.model(np.ascontiguousarray(batch[:, :, ::-1])))
        return outputs

    def decode(self, outputs: dict, i: int, crop: Crop, box, score: float) -> Face:
        """The i-th face of a batch's outputs, in image coordinates."""
        m = self.manifest
        dense = crop.to_image(outputs["dense"][i])
        pitch, yaw, roll, tx, ty, s = (float(v) for v in outputs["pose"][i])
        pose = Pose(
            yaw=float(np.degrees(yaw)),
            pitch=float(np.degrees(pitch)),
            roll=float(np.degrees(roll)),
            rotation=euler_to_matrix(pitch, yaw, roll),
            translation=crop.to_image(np.array([tx, ty], np.float32)),
            scale=s * crop.size,
        )
        expression = dict(zip(m.expression_names, outputs["expression"][i].tolist()))
        attributes = dict(zip(m.attribute_names, sigmoid(outputs["attributes"][i]).tolist()))
        age = max(0.0, float(outputs["age"][i, 0])) if "age" in outputs else None
        gender = None
        if m.gender_attribute is not None:
            gender = "male" if attributes[m.gender_attribute] >= 0.5 else "female"
        return Face(
            box=np.asarray(box, np.float32),
            score=float(score),
            landmarks=landmarks(m, dense, pose.yaw),
            dense=dense,
            mesh=Mesh(dense, m.triangles),
            pose=pose,
            identity=outputs["identity"][i].copy(),
            expression=expression,
            attributes=attributes,
            visibility=sigmoid(outputs["visibility"][i]),
            crop=(crop.x0, crop.y0, crop.size),
            age=age,
            gender=gender,
            embedding=identity_embedding(m, outputs["identity"][i]),
            extra={name: outputs[name][i].copy() for name in m.extra_outputs},
        )

    # -- the stages chained ----------------------------------------------------------------

    def run_crops(self, image, crops: list[Crop], boxes, scores) -> list[Face]:
        """cut -> infer -> decode for faces whose crops are known."""
        return self.faces(self.infer(self.cut(image, crops)), crops, boxes, scores)

    def faces(self, outputs: dict, crops: list[Crop], boxes, scores) -> list[Face]:
        """decode for a batch's outputs, refusing answers that overflowed."""
        faces = [
            self.decode(outputs, i, crop, box, score) for i, (crop, box, score) in enumerate(zip(crops, boxes, scores))
        ]
        for face, crop in zip(faces, crops):
            pose_finite = np.isfinite(face.pose.scale) and np.isfinite(face.pose.translation).all()
            self.check_points(face.dense, crop, pose_finite)
        return faces

    def reconstruct(self, image, boxes, scores, landmark_boxes) -> list[Face]:
        """Faces from their landmark boxes: one pass, and with `refine` a second from its landmarks
        (`two_looks`)."""
        if not len(boxes):
            return []
        crops = [self.crop_for(b) for b in landmark_boxes]
        outputs = self.infer(self.cut(image, crops))
        if self.refine:
            # the second crop needs only the first answer's landmark box, not a decoded face
            crops = [self.crop_for(self.answer_box(outputs, i, crop)) for i, crop in enumerate(crops)]
            outputs = two_looks(outputs, self.infer(self.cut(image, crops)))
        return self.faces(outputs, crops, boxes, scores)

    def detected(self, image) -> tuple[list, list, list]:
        """detect -> landmark box: (detector boxes, scores, landmark boxes) of the faces in `image`."""
        found = self.detect(image)
        return ([d.box for d in found], [d.score for d in found], [self.detector.to_landmark_box(d.box) for d in found])

    # -- where a face's next crop comes from (refine, the next video frame) ---------------------

    def face_box(self, face: Face) -> np.ndarray:
        """The box of a face's ICT landmark vertices: the box the crop rule was trained on, which
        refine and video tracking follow. Aligned landmarks (manifest `landmark_weights`) sit
        where a benchmark's annotators put them, so their box is a slightly different one."""
        return landmark_box(face.dense[self.manifest.landmarks68])

    def crop_for_face(self, face: Face) -> Crop:
        return self.crop_for(self.face_box(face))

    def answer_box(self, outputs: dict, i: int, crop: Crop) -> np.ndarray:
        """`face_box` of the i-th answer of a batch, read from the outputs without decoding the face
        (its points checked as `faces` checks a face's)."""
        points = crop.to_image(outputs["dense"][i][self.manifest.landmarks68])
        self.check_points(points, crop)
        return landmark_box(points)

    def check_points(self, points: np.ndarray, crop: Crop, pose_finite: bool = True) -> None:
        """Refuse answers that overflowed, or points that no working network puts where they are."""
        if not (np.isfinite(points).all() and pose_finite):
            raise ModelError(
                f"model file {self.model.file.path.name} gave points or a pose too large for "
                "the image (overflow): the file's weights are damaged"
            )
        # points are answered in the crop's frame; a working network keeps them near it
        inside = (points[:, :2] - np.array([crop.x0, crop.y0], np.float32)) / crop.size
        if np.abs(inside - 0.5).max() > MAX_POINTS_FROM_CROP:
            raise ModelError(
                f"model file {self.model.file.path.name} gave points {MAX_POINTS_FROM_CROP} crop "
                "sizes or more from the face's crop: the file's weights are damaged"
            )


#: Outputs that refine reads from both crops of a face, averaged; the others come from the second
#: crop alone. The second crop frames the face as training did, so its geometry is the better one;
#: what a face looks like and who it is are the same in both crops, and two views of them measured
#: better than either (docs/experiments.md, "Refine by default").
BOTH_LOOKS = ("identity", "attributes", "age")


def two_looks(first: dict, second: dict) -> dict:
    """A batch's outputs from its refined crops, with `BOTH_LOOKS` averaged over both crops."""
    return {k: (0.5 * (first[k] + v)).astype(v.dtype) if k in BOTH_LOOKS else v for k, v in second.items()}


def identity_embedding(manifest: Manifest, identity: np.ndarray) -> np.ndarray:
    """The unit vector faces are compared by: the identity coefficients centred and whitened by the
    pack's identity_metric. Raw coefficients share a large offset and vary most along directions
    that differ little between people, so their plain cosine tells people apart worse."""
    return embed(identity, manifest.identity_mean, manifest.identity_whitening)


def embed(identity: np.ndarray, mean: np.ndarray | None = None, whitening: np.ndarray | None = None) -> np.ndarray:
    """(..., K) identity coefficients -> (..., K) unit vectors: whitening . (identity - mean), or
    the coefficients alone without a metric, scaled to unit length."""
    e = np.asarray(identity, np.float64)
    if mean is not None:
        e = (e - mean) @ np.asarray(whitening, np.float64).T
    length = np.linalg.norm(e, axis=-1, keepdims=True)
    return (e / np.where(length > 0, length, 1.0)).astype(np.float32)


def yaw_mixing(yaw: np.ndarray, anchors) -> np.ndarray:
    """(N, A) how much each anchor yaw's landmark weights count for heads at `yaw` (degrees):
    linear between neighbouring anchors, held beyond the ends (one anchor: always that one)."""
    anchors = np.asarray(anchors, np.float64)
    mix = np.zeros((len(yaw), len(anchors)))
    if len(anchors) == 1:
        mix[:] = 1.0
        return mix
    yaw = np.clip(yaw, anchors[0], anchors[-1])
    j = np.clip(np.searchsorted(anchors, yaw) - 1, 0, len(anchors) - 2)
    f = (yaw - anchors[j]) / (anchors[j + 1] - anchors[j])
    rows = np.arange(len(yaw))
    mix[rows, j], mix[rows, j + 1] = 1.0 - f, f
    return mix


def landmark_weights_at(manifest: Manifest, yaw_degrees: float) -> np.ndarray:
    """(68, K) weights of the pack's landmark definition for a head at this yaw (degrees)."""
    anchors, weights = manifest.landmark_yaw, manifest.landmark_weights_by_yaw
    if anchors is None or weights is None:
        return manifest.landmark_weights
    if len(anchors) == 1:
        return weights[0]
    # yaw_mixing for one head, in scalars: two neighbouring anchors, mixed linearly (the float64
    # sum of their two terms is einsum's over all anchors, whose other terms are exact zeros)
    yaw = min(max(float(yaw_degrees), float(anchors[0])), float(anchors[-1]))
    j = min(max(bisect.bisect_left(anchors.tolist(), yaw) - 1, 0), len(anchors) - 2)
    f = (yaw - float(anchors[j])) / (float(anchors[j + 1]) - float(anchors[j]))
    total = (1.0 - f) * weights[j].astype(np.float64)
    total += f * weights[j + 1].astype(np.float64)
    return total.astype(np.float32)


def landmarks(manifest: Manifest, dense: np.ndarray, yaw_degrees: float = 0.0) -> np.ndarray:
    """The 68 landmarks of one face's dense points (N, 3) -> (68, 3); the yaw (degrees) matters
    only for a definition given per yaw."""
    if manifest.landmark_points.shape[1] == 1:
        return dense[manifest.landmark_points[:, 0]]
    weights = landmark_weights_at(manifest, yaw_degrees)
    return np.einsum("jk,jkc->jc", weights, dense[manifest.landmark_points]).astype(dense.dtype)


def mirror_twins(names: list[str]) -> np.ndarray:
    """Index of each name's mirror twin (eyeBlink_L <-> eyeBlink_R, Left_Eye_Closed <->
    Right_Eye_Closed); a name without a twin maps to itself."""

    def twin(name: str) -> str:
        for a, b in (("_L", "_R"), ("_R", "_L")):
            if name.endswith(a):
                return name[: -len(a)] + b
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if a in name:
                return name.replace(a, b)
        return name

    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(twin(n), i) for i, n in enumerate(names)])


class FlipAverage:
    """What a horizontal flip of the crop does to each output, for flip averaging."""

    def __init__(self, manifest: Manifest):
        if manifest.mirror is None:
            raise EdgefaceError(
                f"model {manifest.name!r} cannot flip-average: its manifest has no mirror map "
                "(topology.mirror); re-export it with this edgeface"
            )
        self.points = manifest.mirror
        self.expression = mirror_twins(manifest.expression_names)
        self.attributes = mirror_twins(manifest.attribute_names)

    def average(self, plain: dict, flipped: dict) -> dict:
        """Outputs of a batch and of the same batch mirrored -> their average, in the plain frame.
        Identity comes from the unmirrored crop (a mirrored face is another face), and so does an
        output the runtime does not know (how a mirror changes it is unknown); age is its own twin."""
        dense = flipped["dense"][:, self.points].copy()
        dense[..., 0] = 1.0 - dense[..., 0]  # u = (x + 0.5) / S, so a flip maps u to 1 - u
        pose = flipped["pose"] * POSE_MIRROR_SIGN + POSE_MIRROR_OFFSET
        mirrored = {
            "dense": dense,
            "pose": pose,
            "identity": plain["identity"],
            "expression": flipped["expression"][:, self.expression],
            "attributes": flipped["attributes"][:, self.attributes],
            "visibility": flipped["visibility"][:, self.points],
            **({"age": flipped["age"]} if "age" in flipped else {}),
        }
        return {
            k: (0.5 * (plain[k] + mirrored[k])).astype(plain[k].dtype) if k in mirrored else plain[k] for k in plain
        }


def sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -30.0, 30.0)))).astype(np.float32)


#: at most this many caller boxes a call: each costs a crop and a network pass
MAX_BOXES = 256


def check_boxes(boxes, image_shape) -> np.ndarray:
    """(N, 4) float32 boxes, a copy (no face shares memory with the caller's array); one box may be
    given as (4,). Refuses what would give a wrong answer in silence: another shape, empty or
    non-finite boxes, boxes off the image or absurdly large, more than MAX_BOXES."""
    try:
        arr = np.array(boxes, dtype=np.float32, copy=True)
    except (ValueError, TypeError, OverflowError):
        raise OptionError(f"boxes must be an (N, 4) array of x1, y1, x2, y2, got {shown(boxes)}") from None
    if arr.ndim == 1 and arr.shape[0] in (0, 4):
        arr = arr.reshape(-1, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise OptionError(f"boxes must be an (N, 4) array of x1, y1, x2, y2, got shape {arr.shape}")
    if len(arr) > MAX_BOXES:
        raise OptionError(f"{len(arr)} boxes in one call; at most {MAX_BOXES} (call again for more)")
    bad = ~np.isfinite(arr).all(1) | (arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1])
    if bad.any():
        raise OptionError(
            f"box {arr[np.flatnonzero(bad)[0]].tolist()} is empty or not finite "
            "(boxes are x1, y1, x2, y2 with x2 > x1 and y2 > y1)"
        )
    h, w = image_shape[:2]
    off = (arr[:, 2] <= 0) | (arr[:, 3] <= 0) | (arr[:, 0] >= w) | (arr[:, 1] >= h)
    if off.any():
        raise OptionError(f"box {arr[np.flatnonzero(off)[0]].tolist()} lies outside the {w}x{h} image")
    huge = np.maximum(arr[:, 2] - arr[:, 0], arr[:, 3] - arr[:, 1]) > MAX_BOX_TO_IMAGE * max(h, w)
    if huge.any():
        raise OptionError(
            f"box {arr[np.flatnonzero(huge)[0]].tolist()} is over {MAX_BOX_TO_IMAGE} times the "
            f"{w}x{h} image's longer side: not a face in this image"
        )
    return arr
