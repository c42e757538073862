"""Training data: AFLW crops with 21 sparse points, packed into one shard, augmented like runtime crops.

`edgeface data aflw-shard --root $EDGEFACE_DATA/aflw_train --out .shards/aflw_train.npz`
re-encodes the crops as WebP (all 19,080 fit in ~48 MB, small enough to travel to a GPU machine).
The shard lives in an ignored folder: AFLW is research-only and never enters the repository.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..tools.conventions import crop_labels, face_box_from_aflw, usable_crops

#: AFLW-21 points mirrored by a horizontal flip (image-left <-> image-right)
AFLW_FLIP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12, 19, 18, 17, 20]


def pack(root, out, limit: int | None = None) -> Path:
    """Pack the folder's crops (the first `limit` only, if given) into one WebP shard."""
    from tqdm import tqdm

    root, out = Path(root), Path(out)
    labels = dict(np.load(root / "labels.npz"))
    if limit:
        labels = {k: v[:limit] for k, v in labels.items()}
    blobs, offsets = [], [0]
    for name in tqdm(labels["names"], desc="pack AFLW"):
        image = cv2.imread(str(root / "images" / str(name)))
        data = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes()
        blobs.append(np.frombuffer(data, np.uint8))
        offsets.append(offsets[-1] + len(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        blob=np.concatenate(blobs),
        offsets=np.array(offsets, np.int64),
        names=labels["names"],
        points21=labels["points21"],
        visible=labels["visible"],
        yaw_degrees=labels["yaw_degrees"],
    )
    return out


class AflwShard:
    """Random access to a packed shard (or, with `from_folder`, to the original folder)."""

    def __init__(self, path, indices=None):
        d = np.load(path)
        self.blob, self.offsets = d["blob"], d["offsets"]
        self.points, self.visible, self.yaw = crop_labels(d)
        usable = usable_crops(self.points, self.visible, self.yaw)
        self.indices = usable if indices is None else usable[np.asarray(indices)]

    def __len__(self):
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        j = self.indices[i]
        return cv2.imdecode(self.blob[self.offsets[j] : self.offsets[j + 1]], cv2.IMREAD_COLOR)

    def labels(self, i: int):
        j = self.indices[i]
        return self.points[j], self.visible[j], self.yaw[j]


def crop_matrix(centre, side: float, angle: float, out_size: int) -> np.ndarray:
    """2x3 affine from image pixels to an out_size crop of `side` pixels around `centre`, turned by
    `angle` radians; angle 0 gives exactly edgeface.runtime.geometry.Crop.affine."""
    s = out_size / side
    c, si = np.cos(angle) * s, np.sin(angle) * s
    cx, cy = centre
    # x_out + 0.5 = S/2 + s R (x - c)
    return np.array(
        [[c, -si, out_size / 2 - 0.5 - c * cx + si * cy], [si, c, out_size / 2 - 0.5 - si * cx - c * cy]], np.float64
    )


def jitter(centre, side: float, rng) -> tuple[np.ndarray, float, float]:
    """The crop jitter of every real training crop: scale, shift, and in-plane rotation 60 % of the time."""
    side *= np.exp(rng.uniform(-0.15, 0.15))
    centre = np.asarray(centre, np.float64) + rng.uniform(-0.08, 0.08, 2) * side
    angle = rng.uniform(-0.5, 0.5) if rng.random() < 0.6 else 0.0
    return centre, side, angle


def photometric(images, generator=None):
    """Colour, blur, noise and grey on a uint8 (N, 3, H, W) torch batch, on whatever device it is;
    returns floats in [0, 1]. The degradations a phone or webcam frame shows."""
    import torch
    import torch.nn.functional as F

    x = images.float() / 255.0
    n, dev = x.shape[0], x.device

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, device=dev, generator=generator)

    x = x * u(0.6, 1.4, 1, 1, 1) + u(-0.12, 0.12, 1, 1, 1)  # contrast, brightness
    grey = x.mean(1, keepdim=True)
    x = grey + (x - grey) * u(0.5, 1.5, 1, 1, 1)  # saturation
    x = x * u(0.85, 1.15, 3, 1, 1)  # white balance
    x = torch.where(u(0, 1, 1, 1, 1) < 0.1, x.mean(1, keepdim=True).expand_as(x), x)
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=dev)
    k = (k[:, None] * k[None, :] / 256.0).expand(3, 1, 5, 5)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), k, groups=3)
    x = torch.where(u(0, 1, 1, 1, 1) < 0.3, blurred, x)
    noise = torch.randn(x.shape, device=dev, generator=generator) * u(0.0, 0.04, 1, 1, 1)
    x = x + torch.where(u(0, 1, 1, 1, 1) < 0.3, noise, torch.zeros_like(noise))
    return x.clamp(0.0, 1.0)


class AflwTraining:
    """torch-style dataset: (uint8 RGB crop CHW, points21 crop-normalised, visible, yaw).

    Geometry (crop jitter, rotation, flip) happens here, per sample; colour degradations happen
    batched on the training device (`photometric`), where they cost nothing.
    """

    def __init__(self, shard: AflwShard, size: int, crop_scale: float, augment=True, seed=0):
        self.shard, self.size, self.crop_scale = shard, size, crop_scale
        self.augment, self.seed = augment, seed
        self.epoch = 0

    def __len__(self):
        return len(self.shard)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i)) if self.augment else None
        image = self.shard.image(i)
        points, visible, yaw = self.shard.labels(i)
        box = face_box_from_aflw(points, visible, yaw)
        centre = 0.5 * (box[:2] + box[2:])
        side = self.crop_scale * 0.5 * ((box[2] - box[0]) + (box[3] - box[1]))
        angle = 0.0
        if rng is not None:
            centre, side, angle = jitter(centre, side, rng)
        m = crop_matrix(centre, side, angle, self.size)
        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        uv = (points @ m[:, :2].T + m[:, 2] + 0.5) / self.size
        if rng is not None:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
                uv = uv[AFLW_FLIP] * [-1, 1] + [1, 0]
                visible = visible[AFLW_FLIP]
                yaw = -yaw
        return (
            np.ascontiguousarray(crop[..., ::-1].transpose(2, 0, 1)),
            uv.astype(np.float32),
            visible.astype(np.float32),
            np.float32(yaw),
        )


# ---- in-batch hybrid-task training: one example format for real and synthetic samples -----------
def example(
    image_chw,
    *,
    points21=None,
    visible21=None,
    yaw=None,
    dense=None,
    visible=None,
    pose=None,
    expression=None,
    identity=None,
    attributes=None,
    attribute_mask=None,
    identity_id=-1,
    points68=None,
    weight68=None,
    age=None,
    young=None,
    teacher68=None,
    teacher_pose=None,
    teacher_age=None,
    teacher_female=None,
    descriptor=None,
    num_points=520,
    num_attributes=22,
) -> dict:
    """A training example with every label slot present; `has_*` masks say which are real, so a
    batch can mix datasets and each sample contributes only the losses it has labels for.
    `attribute_mask` says which attributes are labelled (all, when `attributes` is given alone);
    `weight68` weighs each of the 68 points (0 where its position is unknown). The `teacher*`
    slots and `descriptor` hold cached teachers' answers (`train.teachers`)."""
    f = np.float32

    def slot(value, shape):
        return (np.zeros(shape, f), f(0)) if value is None else (np.asarray(value, f), f(1))

    out = {"image": image_chw}
    out["points21"], out["has_points21"] = slot(points21, (21, 2))
    out["visible21"] = np.zeros(21, f) if visible21 is None else np.asarray(visible21, f)
    out["points68"], has68 = slot(points68, (68, 2))
    out["weight68"] = np.zeros(68, f) if points68 is None or weight68 is None else np.asarray(weight68, f) * has68
    out["yaw"], out["has_yaw"] = slot(yaw, ())
    out["dense"], out["has_dense"] = slot(dense, (num_points, 3))
    out["visible"] = np.zeros(num_points, f) if visible is None else np.asarray(visible, f)
    out["pose"], out["has_pose"] = slot(pose, (3,))
    out["expression"], out["has_expression"] = slot(expression, (53,))
    out["identity"], out["has_identity"] = slot(identity, (100,))
    out["attributes"], out["has_attributes"] = slot(attributes, (num_attributes,))
    if attributes is None:
        out["attribute_mask"] = np.zeros(num_attributes, f)
    else:
        out["attribute_mask"] = np.ones(num_attributes, f) if attribute_mask is None else np.asarray(attribute_mask, f)
    out["age"], out["has_age"] = slot(age, ())
    out["young"], out["has_young"] = slot(young, ())
    out["identity_id"] = np.int64(identity_id)
    out["teacher68"], out["has_teacher68"] = slot(teacher68, (68, 2))
    out["teacher_pose"], out["has_teacher_pose"] = slot(teacher_pose, (3,))
    out["teacher_age"], out["has_teacher_age"] = slot(teacher_age, ())
    out["teacher_female"], out["has_teacher_female"] = slot(teacher_female, ())
    out["descriptor"], out["has_descriptor"] = slot(descriptor, (128,))
    return out


class AflwExamples:
    """AFLW crops as hybrid examples: 21 sparse points and yaw, nothing else."""

    def __init__(self, training: AflwTraining):
        self.training = training

    def __len__(self):
        return len(self.training)

    @property
    def epoch(self):
        return self.training.epoch

    @epoch.setter
    def epoch(self, value):
        self.training.epoch = value

    def __getitem__(self, i):
        image, points, visible, yaw = self.training[i]
        return example(image, points21=points, visible21=visible, yaw=yaw)


class SyntheticExamples:
    """Synthetic faces rendered on the fly at the network's input size and crop rule, with all
    labels (crop-normalised). Index i is the engine's sample i: groups of consecutive indices
    share a person, which the batch samplers keep together for the SIR identity loss.

    `attribute_names`: the attribute head's names; the engine's attributes fill the columns of the
    same name and only those count (default: the engine's own 22, in its order)."""

    def __init__(self, engine, length: int, attribute_names=None):
        self.engine, self.length = engine, length
        self.attribute_names = None if attribute_names is None else list(attribute_names)
        self._columns = None

    def __len__(self):
        return self.length

    def _attributes(self, values: np.ndarray):
        if self.attribute_names is None:
            return values, None
        if self._columns is None:
            from .attributes import load as load_attributes

            own = list(load_attributes())
            self._columns = [(own.index(n), k) for k, n in enumerate(self.attribute_names) if n in own]
        out = np.zeros(len(self.attribute_names), np.float32)
        mask = np.zeros(len(self.attribute_names), np.float32)
        for source, column in self._columns:
            out[column], mask[column] = values[source], 1.0
        return out, mask

    def __getitem__(self, i):
        s = self.engine.sample(int(i))
        size = np.float32(s["image"].shape[0])
        attributes, mask = self._attributes(np.asarray(s["attributes"], np.float32))
        # the dense points supervise everything the 21 sparse ones would, so those slots stay empty
        return example(
            np.ascontiguousarray(s["image"].transpose(2, 0, 1)),
            yaw=s["pose"][1],
            dense=s["points"] / size,
            visible=s["visible"] & ~s["occluded"],
            pose=s["pose"],
            expression=s["expression"],
            identity=s["identity"],
            attributes=attributes,
            attribute_mask=mask,
            identity_id=int(s["identity_id"]),
            num_attributes=len(attributes),
        )


class HybridBatches:
    """Index batches over ConcatDataset([real, synthetic]): each batch holds `batch_size` samples of
    which a `synthetic_fraction` are synthetic, taken as whole identity groups (`group` renders of
    one person). An epoch ends when the real samples are used up (or after `steps`)."""

    def __init__(
        self,
        n_real: int,
        n_synthetic: int,
        batch_size: int,
        synthetic_fraction: float,
        group: int,
        seed: int = 0,
        steps: int | None = None,
    ):
        self.n_real, self.n_synthetic, self.batch_size, self.group = n_real, n_synthetic, batch_size, group
        persons = int(round(batch_size * synthetic_fraction / group)) if n_synthetic else 0
        self.persons, self.real = persons, batch_size - persons * group
        if self.real < 0 or (self.real == 0 and not n_synthetic) or (self.real > 0 and n_real == 0):
            raise ValueError("batch composition impossible: check batch_size, synthetic_fraction and the data")
        self.steps = steps or (n_real // self.real if self.real else n_synthetic // max(persons * group, 1))
        self.seed, self.epoch = seed, 0

    def __len__(self):
        return self.steps

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        real = rng.permutation(self.n_real) if self.n_real else np.zeros(0, int)
        people = rng.permutation(self.n_synthetic // self.group) if self.persons else np.zeros(0, int)
        for step in range(self.steps):
            r = real[(step * self.real + np.arange(self.real)) % max(len(real), 1)] if self.real else []
            p = people[(step * self.persons + np.arange(self.persons)) % max(len(people), 1)]
            s = (p[:, None] * self.group + np.arange(self.group)).ravel() + self.n_real
            yield [int(i) for i in np.concatenate([np.asarray(r, int), s])]


class MixedBatches:
    """Index batches over ConcatDataset(parts) for any number of sources: each batch holds
    `per_batch[k]` samples of part k. A part with `groups` (arrays of its sample indices, one per
    person) is drawn a person at a time, `group` photos each, so that SIR sees pairs; the others are
    drawn one sample at a time. Every part is walked in a fresh order each epoch and wraps around,
    so a small set is seen more often than a large one, as its share of the batch says."""

    def __init__(
        self,
        lengths: list[int],
        per_batch: list[int],
        steps: int,
        groups: list | None = None,
        group: list[int] | None = None,
        seed: int = 0,
    ):
        self.lengths, self.per_batch, self.steps = list(lengths), list(per_batch), int(steps)
        self.groups = list(groups or [None] * len(lengths))
        self.group = list(group or [1] * len(lengths))
        if not (len(self.lengths) == len(self.per_batch) == len(self.groups) == len(self.group)):
            raise ValueError("one length, share, grouping and group size per part")
        for n, k, people, g in zip(self.lengths, self.per_batch, self.groups, self.group):
            if k and not n:
                raise ValueError("a part with a share of the batch has no samples")
            if people is not None and (k % g or not len(people)):
                raise ValueError("a grouped part's share must be whole groups, and it needs people")
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(int)
        self.seed, self.epoch = seed, 0

    def __len__(self):
        return self.steps

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.epoch))
        orders = [rng.permutation(len(p) if p is not None else n) for n, p in zip(self.lengths, self.groups)]
        for step in range(self.steps):
            batch = []
            for k, (share, people, g) in enumerate(zip(self.per_batch, self.groups, self.group)):
                if not share:
                    continue
                order = orders[k]
                if people is None:
                    picked = order[(step * share + np.arange(share)) % len(order)]
                else:
                    persons = order[(step * (share // g) + np.arange(share // g)) % len(order)]
                    picked = np.concatenate(
                        [rng.choice(people[p], size=g, replace=len(people[p]) < g) for p in persons]
                    )
                batch += [int(i) + int(self.offsets[k]) for i in picked]
            yield batch
