"""The real training sets beside AFLW-21 and the synthetic engine: AFLW-68 (MERL-RAV points with
visibility states), CelebA (40 attributes, identities) and UTKFace (age, gender; ethnicity kept for
the fairness report only). Each yields `data.example` dicts, so one batch mixes them all.

Every crop is framed as the runtime frames a face: AFLW by its points (`tools.conventions.face_box_from_aflw`),
the aligned CelebA and UTKFace photos by the crop the runtime itself makes of them, detector first
(`frame`, cached once per set, since those photos come pre-cropped around the face: a fixed crop
would teach a framing the runtime never makes). Each set reads its own folder under
$EDGEFACE_DATA (research-only data, never packed into the repository).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..runtime.geometry import euler_to_matrix, matrix_to_euler
from . import topology
from .data import AflwShard, AflwTraining, crop_matrix, example, jitter

#: CelebA's 40 attribute names, in its own order and spelling
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)
#: expression attributes the synthetic engine measures that CelebA does not name
EXPRESSION_ONLY = (
    "Mouth_Wide_Open",
    "Eyes_Closed",
    "Left_Eye_Closed",
    "Right_Eye_Closed",
    "Brows_Raised",
    "Frowning",
    "Pursed_Lips",
)
#: the attribute head's names: CelebA's, then the expression ones
ATTRIBUTES = CELEBA_ATTRIBUTES + EXPRESSION_ONLY
#: identity ids of CelebA people sit above the synthetic engine's, so the two never collide in SIR
CELEBA_ID_OFFSET = 1 << 40
#: MERL-RAV states: 1 visible, 2 occluded by an object (position labelled), 0 self-occluded (unknown)
STATE_WEIGHT = {0: 0.0, 1: 1.0, 2: 0.5}


def flip68() -> np.ndarray:
    """The 68-landmark permutation a horizontal flip applies (from the topology's mirror map)."""
    topo = topology.load()
    lm, mirror = list(topo["landmarks68"]), topo["mirror"]
    return np.array([lm.index(mirror[v]) for v in lm])


def degrade(crop: np.ndarray, rng) -> np.ndarray:
    """Low-resolution and JPEG-degraded copies (archives, small photos, chat apps): a (S, S, 3)
    uint8 crop shrunk 2-4x and blown up again, and/or re-encoded at quality 15-60. Grey copies
    are made batched with the colour changes (`data.photometric`)."""
    size = crop.shape[0]
    if rng.random() < 0.25:
        small = max(12, int(size / rng.uniform(2.0, 4.0)))
        crop = cv2.resize(
            cv2.resize(crop, (small, small), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR
        )
    if rng.random() < 0.25:
        ok, data = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 61))])
        crop = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return crop


#: a mirrored face's (pitch, yaw, roll): yaw and roll change sign
POSE_FLIP = np.array([1.0, -1.0, -1.0], np.float32)


class TeacherAnswers:
    """A set's cached teacher answers (`train.teachers`), mapped into a training crop: the 3DDFA_V2
    points and pose, Cydral's age and gender, dlib's descriptor, each only where it was run."""

    def __init__(self, path, names: np.ndarray):
        d = np.load(path)
        if not np.array_equal(d["names"], names):
            raise ValueError(f"{path} was made for another copy of the set (names differ)")
        self.points, self.pose = d["landmarks68"], d["pose"]
        self.age, self.female, self.descriptor = d["age"], d["female"], d["descriptor"]
        self.flip = flip68()

    def answers(self, row: int, m: np.ndarray, size: int, flipped: bool) -> dict:
        """`data.example` keyword arguments for photo row `row` cut by the affine `m` into a crop of
        `size` pixels (mirrored after the cut when `flipped`)."""
        out = {}
        points = self.points[row]
        if np.isfinite(points).all():
            uv = (points @ m[:, :2].T + m[:, 2] + 0.5) / size
            pose = turned_pose(self.pose[row], m)
            if flipped:
                uv, pose = uv[self.flip] * [-1, 1] + [1, 0], pose * POSE_FLIP
            out["teacher68"], out["teacher_pose"] = uv, pose
        if np.isfinite(self.female[row]):
            out["teacher_age"], out["teacher_female"] = float(self.age[row]), float(self.female[row])
        if np.isfinite(self.descriptor[row]).all():
            out["descriptor"] = self.descriptor[row]
        return out


def turned_pose(pose: np.ndarray, m: np.ndarray) -> np.ndarray:
    """A photo's head pose (pitch, yaw, roll; radians) as the crop cut by the affine `m` shows it.
    The crop turns the photo by phi in plane (`jitter`), so it shows the head turned too: in
    edgeface.runtime.geometry's convention (image point = t + s ((R X)_x, -(R X)_y)) a crop turned by
    phi shows Rz(-phi) R, whose roll is the photo's plus phi and whose pitch and yaw mix by phi."""
    phi = math.atan2(m[1, 0], m[0, 0])
    if phi == 0.0:
        return pose
    c, s = math.cos(-phi), math.sin(-phi)
    turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return np.asarray(matrix_to_euler(turn @ euler_to_matrix(*pose).astype(np.float64)), np.float32)


def teacher_answers(path, names) -> TeacherAnswers | None:
    return TeacherAnswers(path, names) if path else None


class Aflw68Examples:
    """AFLW crops with 68 MERL-RAV points where they exist (21 AFLW points and yaw always).

    Self-occluded points (state 0) are not supervised; the 3D model places them. Points occluded by
    an object count half."""

    def __init__(
        self,
        shard: AflwShard,
        labels68_path,
        size: int,
        crop_scale: float,
        seed: int = 0,
        augment: bool = True,
        teachers=None,
    ):
        self.training = AflwTraining(shard, size, crop_scale, augment=augment, seed=seed)
        d = np.load(labels68_path)
        #: cached teacher answers (`teachers`: the set's cache file), rows as the labels' rows
        self.teachers = teacher_answers(teachers, d["names"])
        rows = shard.indices
        self.has68 = d["has68"][rows]
        self.points68 = np.nan_to_num(d["points68"][rows].astype(np.float32), nan=0.0)
        weight = np.vectorize(STATE_WEIGHT.get)(d["state68"][rows]).astype(np.float32)
        self.weight68 = np.where(np.isfinite(d["points68"][rows]).all(-1), weight, 0.0).astype(np.float32)
        self.flip = flip68()
        self.epoch = 0

    def __len__(self):
        return len(self.training)

    def __getitem__(self, i):
        t = self.training
        t.epoch = self.epoch
        rng = np.random.default_rng((t.seed, self.epoch, i, 68))
        image = t.shard.image(i)
        points, visible, yaw = t.shard.labels(i)
        from ..tools.conventions import face_box_from_aflw
        from .data import AFLW_FLIP

        box = face_box_from_aflw(points, visible, yaw)
        centre, side, angle = (
            0.5 * (box[:2] + box[2:]),
            t.crop_scale * 0.5 * ((box[2] - box[0]) + (box[3] - box[1])),
            0.0,
        )
        if t.augment:
            centre, side, angle = jitter(centre, side, rng)
        m = crop_matrix(centre, side, angle, t.size)
        crop = cv2.warpAffine(image, m, (t.size, t.size), flags=cv2.INTER_LINEAR)
        if t.augment:
            crop = degrade(crop, rng)
        to_crop = lambda p: (p @ m[:, :2].T + m[:, 2] + 0.5) / t.size  # noqa: E731
        uv21, uv68 = to_crop(points), to_crop(self.points68[i])
        weight68 = self.weight68[i] if self.has68[i] else np.zeros(68, np.float32)
        flipped = bool(t.augment and rng.random() < 0.5)
        if flipped:
            crop = crop[:, ::-1]
            uv21, visible = uv21[AFLW_FLIP] * [-1, 1] + [1, 0], visible[AFLW_FLIP]
            uv68, weight68 = uv68[self.flip] * [-1, 1] + [1, 0], weight68[self.flip]
            yaw = -yaw
        taught = self.teachers.answers(t.shard.indices[i], m, t.size, flipped) if self.teachers else {}
        return example(
            np.ascontiguousarray(crop[..., ::-1].transpose(2, 0, 1)),
            points21=uv21,
            visible21=visible.astype(np.float32),
            yaw=yaw,
            points68=uv68 if self.has68[i] else None,
            weight68=weight68,
            num_attributes=len(ATTRIBUTES),
            **taught,
        )


class FramedPhotos:
    """Photos of a labelled folder (`images/`, `labels.npz`) cut at the runtime's crop of each face
    (`frames`: (N, 3) x0, y0, size in photo pixels, from `frame`), jittered and degraded."""

    def __init__(self, root, frames_path, split: str, size: int, seed: int = 0, teachers=None):
        self.root, self.size, self.seed = Path(root), size, seed
        self.labels = dict(np.load(self.root / "labels.npz"))
        self.teachers = teacher_answers(teachers, self.labels["names"])
        frames = np.load(frames_path)
        if not np.array_equal(frames["names"], self.labels["names"]):
            raise ValueError(f"{frames_path} was framed for another copy of {self.root} (names differ)")
        self.rows = np.flatnonzero(self.labels["split"] == split)
        self.crops = frames["crop"]
        self.epoch = 0

    def __len__(self):
        return len(self.rows)

    def crop(self, i: int, augment: bool = True) -> tuple[np.ndarray, bool]:
        """(S, S, 3) BGR crop of sample i, and whether it was mirrored."""
        image, flipped, _ = self.cut(i, augment)
        return image, flipped

    def taught(self, i: int, augment: bool = True) -> tuple[np.ndarray, dict]:
        """(3, S, S) RGB crop of sample i and its teacher answers as `example` keyword arguments."""
        image, flipped, m = self.cut(i, augment)
        return image, self.teachers.answers(self.rows[i], m, self.size, flipped) if self.teachers else {}

    def cut(self, i: int, augment: bool = True) -> tuple[np.ndarray, bool, np.ndarray]:
        """The crop of sample i, whether it was mirrored, and the affine that cut it."""
        row = self.rows[i]
        image = cv2.imread(str(self.root / "images" / str(self.labels["names"][row])), cv2.IMREAD_COLOR)
        x0, y0, side = (float(v) for v in self.crops[row])
        centre, angle, flipped = (x0 + 0.5 * side, y0 + 0.5 * side), 0.0, False
        rng = np.random.default_rng((self.seed, self.epoch, int(row)))
        if augment:
            centre, side, angle = jitter(centre, side, rng)
        m = crop_matrix(centre, side, angle, self.size)
        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR)
        if augment:
            crop = degrade(crop, rng)
            if rng.random() < 0.5:
                crop, flipped = crop[:, ::-1], True
        return np.ascontiguousarray(crop[..., ::-1].transpose(2, 0, 1)), flipped, m


class CelebaExamples(FramedPhotos):
    """CelebA training photos: the 40 attributes and the person (for SIR), nothing geometric."""

    def __init__(self, root, frames_path, size: int, seed: int = 0, split: str = "train", teachers=None):
        super().__init__(root, frames_path, split, size, seed, teachers)
        names = [str(n) for n in self.labels["attribute_names"]]
        if tuple(names) != CELEBA_ATTRIBUTES:
            raise ValueError(f"{self.root}: attribute names are not CelebA's 40 in CelebA's order")
        ids = self.labels["identity"][self.rows]
        people, counts = np.unique(ids, return_counts=True)
        #: sample indices of each person with two or more photos (SIR needs pairs in a batch)
        self.groups = [np.flatnonzero(ids == p) for p in people[counts >= 2]]

    def __getitem__(self, i):
        image, taught = self.taught(i)
        row = self.rows[i]
        attributes = np.zeros(len(ATTRIBUTES), np.float32)
        attributes[:40] = self.labels["attributes"][row]
        mask = np.zeros(len(ATTRIBUTES), np.float32)
        mask[:40] = 1.0
        return example(
            image,
            attributes=attributes,
            attribute_mask=mask,
            young=float(attributes[39]),
            identity_id=CELEBA_ID_OFFSET + int(self.labels["identity"][row]),
            num_attributes=len(ATTRIBUTES),
            **taught,
        )


class UtkfaceExamples(FramedPhotos):
    """UTKFace training photos: age in years and gender (into CelebA's `Male`). Ethnicity is not
    a training target of any head; it only splits the evaluation (the fairness report)."""

    MALE = CELEBA_ATTRIBUTES.index("Male")

    def __getitem__(self, i):
        image, taught = self.taught(i)
        row = self.rows[i]
        attributes = np.zeros(len(ATTRIBUTES), np.float32)
        attributes[self.MALE] = float(self.labels["gender"][row] == 0)
        mask = np.zeros(len(ATTRIBUTES), np.float32)
        mask[self.MALE] = 1.0
        return example(
            image,
            attributes=attributes,
            attribute_mask=mask,
            age=float(self.labels["age"][row]),
            num_attributes=len(ATTRIBUTES),
            **taught,
        )
