"""Face detectors that ship with edgeface: no download, open licences, core dependencies only.

`create(name)` builds one by name; `DETECTORS` lists them with their measured detection rate
on the AFLW2000-3D dev images (README, "Face detection"). "auto" is the default chosen by
those numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DetectorError


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    score: float
    keypoints: np.ndarray  # (K, 2) image pixels (BlazeFace: eyes, nose, mouth, ear tragions)


#: Name -> (module, constructor kwargs). `to_landmarks` = (size ratio, centre shift down as a
#: fraction of box height) taking a detector box to the box of the face's 68 landmarks, the
#: box every crop rule is defined on; measured by `edgeface evaluate --detector` on the
#: AFLW2000-3D dev set (the median over matched faces; README, "Face detection").
DETECTORS = {
    "blazeface_short": ("blazeface", {"variant": "short_range", "to_landmarks": (0.93, 0.048)}),
    "blazeface_full": ("blazeface", {"variant": "full_range", "to_landmarks": (0.884, 0.089)}),
    "blazeface_back": ("blazeface", {"variant": "back", "to_landmarks": (0.928, 0.060)}),
    # short-range first, then the back model on the whole frame and on tiles of large frames
    "cascade": ("cascade", {"first": "blazeface_short", "second": "blazeface_back"}),
}
#: What "auto" means: chosen by the table by face and frame size (README, "Face detection").
DEFAULT = "cascade"
#: The one-pass model a port implements and the Kotlin core is checked against (edgeface.goldens).
SINGLE = "blazeface_short"


def create(name: str = "auto", **options):
    if name == "auto":
        name = DEFAULT
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose one of {sorted(DETECTORS)} or 'auto'")
    module_name, kwargs = DETECTORS[name]
    from importlib import import_module

    module = import_module(f"{__name__}.{module_name}")
    return module.create(name=name, **{**kwargs, **options})


def caller_box_calibration() -> tuple[float, float]:
    """How a box passed in by a caller is read: as a box of the default detector (whose boxes are
    in its first pass's calibration)."""
    return DETECTORS[SINGLE][1]["to_landmarks"]


def to_landmark_box(box, to_landmarks: tuple[float, float]) -> np.ndarray:
    """Estimate the 68-landmark box from a detector box with the detector's calibration."""
    x1, y1, x2, y2 = (float(v) for v in box)
    ratio, shift_y = to_landmarks
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2) + shift_y * (y2 - y1)
    hw, hh = 0.5 * ratio * (x2 - x1), 0.5 * ratio * (y2 - y1)
    return np.array([cx - hw, cy - hh, cx + hw, cy + hh], dtype=np.float32)


def from_landmark_box(landmark_box, to_landmarks: tuple[float, float]) -> np.ndarray:
    """The detector box whose calibrated landmark box is `landmark_box` (`to_landmark_box`'s inverse):
    what a tracked face reports as its box, so that its box means the same as a detected face's."""
    x1, y1, x2, y2 = (float(v) for v in landmark_box)
    ratio, shift_y = to_landmarks
    w, h = (x2 - x1) / ratio, (y2 - y1) / ratio
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2) - shift_y * h
    return np.array([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dtype=np.float32)
