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
        labels = np.load(labels_path)
        return cls(root, labels["names"], labels["points68_2d"].astype(np.float32),
                   labels["roi_box"].astype(np.float32), labels["pose_pitch_yaw_roll_radians"].astype(np.float32))

    def __len__(self) -> int:
        return len(self.names)

    def subset(self, indices) -> "Aflw2000":
        """The images at `indices` (an index array, a slice or a boolean mask)."""
        return Aflw2000(self.root, self.names[indices], self.points68[indices], self.roi_box[indices],
                        self.pitch_yaw_roll[indices])

    def image_path(self, i: int) -> Path:
        return self.root / "images" / str(self.names[i])

    @property
    def abs_yaw_degrees(self) -> np.ndarray:
        return np.abs(np.degrees(self.pitch_yaw_roll[:, 1]))

    def yaw_bin(self) -> np.ndarray:
        """Index of each image's |yaw| bin in YAW_BINS."""
        yaw = np.minimum(self.abs_yaw_degrees, 90.0)
        return np.digitize(yaw, [30.0, 60.0])
