"""Training data: AFLW crops with 21 sparse points, packed into one shard, augmented like runtime crops.

`python -m edgeface.train.data pack --root $EDGEFACE_DATA/aflw_train --out .shards/aflw_train.npz`
re-encodes the crops as WebP (all 19,080 fit in ~48 MB, small enough to travel to a GPU machine).
The shard lives in an ignored folder: AFLW is research-only and never enters the repository.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

#: AFLW-21 points mirrored by a horizontal flip (image-left <-> image-right)
AFLW_FLIP = [5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 16, 15, 14, 13, 12, 19, 18, 17, 20]
#: the AFLW points that bound the face core (all but the ear lobes), and the measured ratio between
#: the box of the same points and the box of all 68 landmarks (median on AFLW2000-3D's 68 points;
#: both boxes share their vertical centre)
AFLW_CORE = [0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 14, 15, 17, 19, 20]
CORE_TO_68_BOX = 1.18


def pack(root, out) -> Path:
    from tqdm import tqdm

    root, out = Path(root), Path(out)
    labels = np.load(root / "labels.npz")
    blobs, offsets = [], [0]
    for name in tqdm(labels["names"], desc="pack AFLW"):
        image = cv2.imread(str(root / "images" / str(name)))
        data = cv2.imencode(".webp", image, [cv2.IMWRITE_WEBP_QUALITY, 80])[1].tobytes()
        blobs.append(np.frombuffer(data, np.uint8))
        offsets.append(offsets[-1] + len(data))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, blob=np.concatenate(blobs), offsets=np.array(offsets, np.int64), names=labels["names"],
             points21=labels["points21"], visible=labels["visible"], yaw_degrees=labels["yaw_degrees"])
    return out


class AflwShard:
    """Random access to a packed shard (or, with `from_folder`, to the original folder)."""

    def __init__(self, path, indices=None):
        d = np.load(path)
        self.blob, self.offsets = d["blob"], d["offsets"]
        self.points = d["points21"].astype(np.float32)
        self.visible = d["visible"] & (self.points >= 0).all(-1)
        self.yaw = np.radians(d["yaw_degrees"].astype(np.float32))
        self.indices = np.arange(len(self.points)) if indices is None else np.asarray(indices)

    def __len__(self):
        return len(self.indices)

    def image(self, i: int) -> np.ndarray:
        j = self.indices[i]
        return cv2.imdecode(self.blob[self.offsets[j]:self.offsets[j + 1]], cv2.IMREAD_COLOR)

    def labels(self, i: int):
        j = self.indices[i]
        return self.points[j], self.visible[j], self.yaw[j]


def face_box_from_aflw(points: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Estimate of the 68-landmark box from the visible core AFLW points."""
    core = [k for k in AFLW_CORE if visible[k]]
    p = points[core] if len(core) >= 3 else points[visible]
    x1, y1 = p.min(0)
    x2, y2 = p.max(0)
    cx, cy, half = 0.5 * (x1 + x2), 0.5 * (y1 + y2), 0.25 * CORE_TO_68_BOX * ((x2 - x1) + (y2 - y1))
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


def crop_matrix(centre, side: float, angle: float, out_size: int) -> np.ndarray:
    """2x3 affine from image pixels to an out_size crop of `side` pixels around `centre`, turned by
    `angle` radians; angle 0 gives exactly edgeface.geometry.Crop.affine."""
    s = out_size / side
    c, si = np.cos(angle) * s, np.sin(angle) * s
    cx, cy = centre
    # x_out + 0.5 = S/2 + s R (x - c)
    return np.array([[c, -si, out_size / 2 - 0.5 - c * cx + si * cy],
                     [si, c, out_size / 2 - 0.5 - si * cx - c * cy]], np.float64)


def photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Colour, blur, noise and grey: the degradations a phone or webcam frame shows."""
    x = image.astype(np.float32)
    x = x * rng.uniform(0.6, 1.4) + rng.uniform(-30, 30)  # contrast, brightness
    grey = x.mean(2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.5, 1.5)  # saturation
    x = x * rng.uniform(0.85, 1.15, size=3)  # white balance
    if rng.random() < 0.1:
        x = np.repeat(x.mean(2, keepdims=True), 3, 2)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5]))
        x = cv2.GaussianBlur(x, (k, k), 0)
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(2, 10), x.shape)
    return np.clip(x, 0, 255).astype(np.uint8)


class AflwTraining:
    """torch-style dataset: (image CHW float, points21 crop-normalised, visible, yaw, flip flag)."""

    def __init__(self, shard: AflwShard, size: int, crop_scale: float, mean=0.5, std=0.5, augment=True, seed=0):
        self.shard, self.size, self.crop_scale = shard, size, crop_scale
        self.mean, self.std, self.augment, self.seed = mean, std, augment, seed
        self.epoch = 0

    def __len__(self):
        return len(self.shard)

    def __getitem__(self, i):
        rng = np.random.default_rng((self.seed, self.epoch, i)) if self.augment else None
        image = self.shard.image(i)
        points, visible, yaw = self.shard.labels(i)
        box = face_box_from_aflw(points, visible)
        centre = 0.5 * (box[:2] + box[2:])
        side = self.crop_scale * 0.5 * ((box[2] - box[0]) + (box[3] - box[1]))
        angle = 0.0
        if rng is not None:
            side *= np.exp(rng.uniform(-0.15, 0.15))
            centre = centre + rng.uniform(-0.08, 0.08, 2) * side
            if rng.random() < 0.6:
                angle = rng.uniform(-0.5, 0.5)
        m = crop_matrix(centre, side, angle, self.size)
        crop = cv2.warpAffine(image, m, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        uv = (points @ m[:, :2].T + m[:, 2] + 0.5) / self.size
        if rng is not None:
            crop = photometric(crop, rng)
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
                uv = uv[AFLW_FLIP] * [-1, 1] + [1, 0]
                visible = visible[AFLW_FLIP]
                yaw = -yaw
        x = (crop[..., ::-1].astype(np.float32) / 255.0 - self.mean) / self.std
        return (np.ascontiguousarray(x.transpose(2, 0, 1)), uv.astype(np.float32), visible.astype(np.float32),
                np.float32(yaw))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="pack training data into a shard")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--root", required=True, help="aflw_train folder (images/ + labels.npz)")
    p.add_argument("--out", default=".shards/aflw_train.npz")
    args = parser.parse_args(argv)
    print(pack(args.root, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
