"""Face detectors that ship with edgeface: no download, open licences, core dependencies only.

`create(name)` builds one by name from `DETECTORS`; "auto" is the default, chosen by the
detection rates by face and frame size (README, "Face detection"). Every detector is a `Detector`;
a one-network detector is also a `SinglePassDetector`, whose stages a port reproduces one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..errors import DetectorError


@dataclass(frozen=True)
class Detection:
    box: np.ndarray  # (4,) x1, y1, x2, y2 in image pixels
    score: float
    keypoints: np.ndarray  # (K, 2) image pixels (BlazeFace: eyes, nose, mouth, ear tragions)


class Detector(Protocol):
    """What the pipeline and the tracker use of a detector."""

    name: str
    size: int  # input side in pixels (a crop of this side is what `Tracker` verifies a track on)
    to_landmarks: tuple[float, float]  # this detector's box -> 68-landmark box (`to_landmark_box`)

    def __call__(self, image: np.ndarray, enough: int | None = None, min_size: float = 0.0) -> list[Detection]:
        """Faces in `image`. `enough`: the caller keeps at most this many faces of at least
        `min_size` pixels, so a detector of several passes may stop once it has found them."""
        ...

    def to_landmark_box(self, box) -> np.ndarray: ...


class SinglePassDetector(Detector, Protocol):
    """One network: preprocess -> forward -> decode, each stage public so a port can check it."""

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]: ...

    def forward(self, canvas: np.ndarray) -> list[np.ndarray]: ...

    def decode(self, raw: list[np.ndarray], scale: float, px: float, py: float) -> list[Detection]: ...


@dataclass(frozen=True)
class DetectorSpec:
    """One entry of `DETECTORS`: the module (in this package) whose `create` builds it, and its options."""

    module: str
    options: dict = field(default_factory=dict)
    #: (size ratio, centre shift down as a fraction of box height) taking this detector's box to
    #: the box of the face's 68 landmarks, the box every crop rule is defined on; measured by
    #: `edgeface evaluate detector` on the AFLW2000-3D dev set (the median over matched faces).
    to_landmarks: tuple[float, float] | None = None


DETECTORS = {
    "blazeface_short": DetectorSpec("blazeface", {"variant": "short_range"}, (0.93, 0.048)),
    "blazeface_full": DetectorSpec("blazeface", {"variant": "full_range"}, (0.884, 0.089)),
    "blazeface_back": DetectorSpec("blazeface", {"variant": "back"}, (0.928, 0.060)),
    # short-range first, then the back model on the whole frame and on tiles of large frames
    "cascade": DetectorSpec("cascade", {"first": "blazeface_short", "second": "blazeface_back"}),
}
#: What "auto" means: chosen by the table by face and frame size (README, "Face detection").
DEFAULT = "cascade"
#: The one-pass model a port implements and the Kotlin core is checked against (edgeface.tools.goldens).
SINGLE = "blazeface_short"


def create(name: str = "auto", **options) -> Detector:
    if name == "auto":
        name = DEFAULT
    if name not in DETECTORS:
        raise DetectorError(f"unknown detector {name!r}; choose one of {sorted(DETECTORS)} or 'auto'")
    spec = DETECTORS[name]
    from importlib import import_module

    module = import_module(f"{__name__}.{spec.module}")
    calibration = {} if spec.to_landmarks is None else {"to_landmarks": spec.to_landmarks}
    return module.create(name=name, **{**spec.options, **calibration, **options})


def caller_box_calibration() -> tuple[float, float]:
    """How a box passed in by a caller is read: as a box of the default detector (whose boxes are
    in its first pass's calibration)."""
    calibration = DETECTORS[SINGLE].to_landmarks
    assert calibration is not None  # the default detector's spec states its calibration
    return calibration


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
