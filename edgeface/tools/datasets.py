"""Where the data lives, and readers for the dataset layouts edgeface evaluates on.

Data is never bundled: paths come from a flag or from EDGEFACE_DATA, which points at a folder
holding `aflw2000_dev/`, `aflw_train/` and `ict_facekit.npz` (the layout of the shared data
folder beside this repository).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgefaceError

YAW_BINS = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0001))


def read_npz(path, what: str = "labels") -> dict:
    """Every array of an .npz file (never a pickled object), or an EdgefaceError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise EdgefaceError(f"{what} file {path} does not exist") from None
    except Exception as error:  # noqa: BLE001 - a file-format boundary: zipfile, zlib and numpy raise a dozen kinds
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise EdgefaceError(f"{what} file {path} is not a readable .npz of plain arrays: {first}") from None


def check_fields(labels: dict, path, fields: dict) -> dict:
    """Refuse labels that lack a field, or whose field is not one row per photo of the named kind
    and shape: `fields` maps a name to (dtype kinds, shape after the row axis; None = any)."""
    n = len(labels["names"]) if "names" in labels and labels["names"].ndim == 1 else None
    if n is None:
        raise EdgefaceError(f"{path} must hold `names`, one file name per photo")
    for name, (kinds, rest) in fields.items():
        if name not in labels:
            raise EdgefaceError(f"{path} lacks {name}")
        value = labels[name]
        if (
            value.ndim == 0
            or len(value) != n
            or value.dtype.kind not in kinds
            or (rest is not None and value.shape[1:] != rest)
        ):
            want = f"({n}{''.join(f', {d}' for d in (rest or ()))})"
            raise EdgefaceError(f"{path}: {name} must be {want} of kind {kinds!r}, not {value.shape} {value.dtype}")
        if value.dtype.kind == "f" and not np.isfinite(value).all() and name != "points68":
            raise EdgefaceError(f"{path}: {name} holds values that are not finite")
    return labels


def data_root(explicit=None) -> Path | None:
    """The data folder: `explicit`, else $EDGEFACE_DATA, else ../shared/data beside a source checkout."""
    if explicit:
        return Path(explicit)
    if os.environ.get("EDGEFACE_DATA"):
        return Path(os.environ["EDGEFACE_DATA"])
    beside_checkout = Path(__file__).resolve().parents[3] / "shared" / "data"
    return beside_checkout if beside_checkout.is_dir() else None


@dataclass
class Aflw2000:
    """A directory in the AFLW2000-3D layout: images/ + labels.npz (see the shared README)."""

    root: Path
    names: np.ndarray
    points68: np.ndarray  # (N, 68, 2) re-annotated 2D landmarks
    roi_box: np.ndarray  # (N, 4)
    pitch_yaw_roll: np.ndarray  # (N, 3) radians

    @classmethod
    def load(cls, root) -> "Aflw2000":
        root = Path(root)
        labels_path = root / "labels.npz"
        if not labels_path.exists():
            raise EdgefaceError(f"{root} is not an AFLW2000-3D folder: {labels_path} is missing")
        labels = check_fields(
            read_npz(labels_path),
            labels_path,
            {
                "names": ("U", ()),
                "points68_2d": ("f", (68, 2)),
                "roi_box": ("f", (4,)),
                "pose_pitch_yaw_roll_radians": ("f", (3,)),
            },
        )
        if not len(labels["names"]):
            raise EdgefaceError(f"{labels_path} lists no photos")
        return cls(
            root,
            labels["names"],
            labels["points68_2d"].astype(np.float32),
            labels["roi_box"].astype(np.float32),
            labels["pose_pitch_yaw_roll_radians"].astype(np.float32),
        )

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices) -> "Aflw2000":
        """The images at `indices` (an index array, a slice or a boolean mask)."""
        return Aflw2000(
            self.root, self.names[indices], self.points68[indices], self.roi_box[indices], self.pitch_yaw_roll[indices]
        )

    def image_path(self, i: int) -> Path:
        return self.root / "images" / str(self.names[i])

    @property
    def abs_yaw_degrees(self) -> np.ndarray:
        return np.abs(np.degrees(self.pitch_yaw_roll[:, 1]))

    def yaw_bin(self) -> np.ndarray:
        """Index of each image's |yaw| bin in YAW_BINS."""
        yaw = np.minimum(self.abs_yaw_degrees, 90.0)
        return np.digitize(yaw, [30.0, 60.0])
