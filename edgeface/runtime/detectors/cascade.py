"""The default detector: BlazeFace short-range on the whole frame, then the back-camera model on the
whole frame and on overlapping tiles where a frame is large enough to hold faces the first pass
cannot see (README, "Face detection", has the table by face and frame size that chose this).

A photo whose face the short-range model finds, and which is no larger than `whole_above`, costs
one short-range run, as before; so does any frame where the caller keeps at most `enough` faces and
the short-range model found that many (`Reconstructor(max_faces=1)`). Boxes from every pass are put
in the short-range model's calibration (through each model's 68-landmark box) and merged by
non-maximum suppression.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import iou
from . import Detection, from_landmark_box, to_landmark_box


class Cascade:
    def __init__(
        self,
        name: str,
        first,
        second,
        whole_above: int = 480,
        tile_above: int = 960,
        tile: int = 800,
        overlap: int = 200,
        tiled_up_to: int = 1920,
        tile_face_max: float = 0.25,
        iou_threshold: float = 0.3,
    ):
        self.name, self.first, self.second = name, first, second
        self.to_landmarks, self.size = first.to_landmarks, first.size
        self.whole_above, self.tile_above = whole_above, tile_above
        self.tile, self.overlap, self.iou_threshold = tile, overlap, iou_threshold
        self.tiled_up_to, self.tile_face_max = tiled_up_to, tile_face_max

    def to_landmark_box(self, box) -> np.ndarray:
        return to_landmark_box(box, self.to_landmarks)

    def passes(self, image: np.ndarray) -> int:
        """How many detector runs this frame takes at most (1 for a small photo with a face)."""
        h, w = image.shape[:2]
        shrink = min(1.0, self.tiled_up_to / max(w, h))
        return 2 + len(self.tiles(*_shrunk(w, h, shrink)))

    def tiles(self, w: int, h: int) -> list[tuple[int, int, int, int]]:
        if max(w, h) <= self.tile_above:
            return []
        step = self.tile - self.overlap

        def starts(n):
            if n <= self.tile:
                return [0]
            count = int(np.ceil((n - self.tile) / step)) + 1
            return np.linspace(0, n - self.tile, count).round().astype(int).tolist()

        return [(x, y, min(w, x + self.tile), min(h, y + self.tile)) for y in starts(h) for x in starts(w)]

    def _recalibrated(self, detections, source) -> list[Detection]:
        return [
            Detection(
                from_landmark_box(to_landmark_box(d.box, source.to_landmarks), self.to_landmarks), d.score, d.keypoints
            )
            for d in detections
        ]

    def __call__(self, image: np.ndarray, enough: int | None = None, min_size: float = 0.0) -> list[Detection]:
        found = list(self.first(image))
        h, w = image.shape[:2]
        if found and max(w, h) <= self.whole_above:
            return found
        if (
            enough is not None
            and sum(min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= min_size for d in found) >= enough
        ):
            return found  # the caller keeps no more faces than these: the other passes cannot add one
        found += self._recalibrated(self.second(image), self.second)
        # tiles look for faces small in the frame, so they never need more than `tiled_up_to`
        # pixels of it: a larger frame is shrunk first (and costs no more tiles than 1080p)
        shrink = min(1.0, self.tiled_up_to / max(w, h))
        small = image if shrink == 1.0 else cv2.resize(image, _shrunk(w, h, shrink), interpolation=cv2.INTER_AREA)
        sh, sw = small.shape[:2]
        for x1, y1, x2, y2 in self.tiles(sw, sh):
            shift = np.array([x1, y1], np.float32)
            # only small faces: a large one is the whole-frame passes' job, and a tile shows only part of it
            part = [
                Detection((d.box + np.tile(shift, 2)) / shrink, d.score, (d.keypoints + shift) / shrink)
                for d in self.second(small[y1:y2, x1:x2])
                if max(d.box[2] - d.box[0], d.box[3] - d.box[1]) <= self.tile_face_max * self.tile
            ]
            found += self._recalibrated(part, self.second)
        return _merge(found, self.iou_threshold)


def _shrunk(w: int, h: int, shrink: float) -> tuple[int, int]:
    """A frame's size shrunk, never below one pixel a side (a 4000x1 strip stays 1920x1, not 1920x0)."""
    return max(1, round(w * shrink)), max(1, round(h * shrink))


def _merge(found: list[Detection], iou_threshold: float) -> list[Detection]:
    """Highest score first; a box overlapping a kept one by `iou_threshold` (or lying inside it) goes."""
    found = sorted(found, key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in found:
        if not kept:
            kept.append(d)
            continue
        boxes = np.stack([k.box for k in kept])
        overlap = iou(d.box, boxes)
        ix = np.clip(np.minimum(boxes[:, 2], d.box[2]) - np.maximum(boxes[:, 0], d.box[0]), 0, None)
        iy = np.clip(np.minimum(boxes[:, 3], d.box[3]) - np.maximum(boxes[:, 1], d.box[1]), 0, None)
        inside = ix * iy / ((d.box[2] - d.box[0]) * (d.box[3] - d.box[1])) > 0.7
        if not (overlap >= iou_threshold).any() and not inside.any():
            kept.append(d)
    return kept


def create(name: str, first: str, second: str, **options) -> Cascade:
    from . import create as create_one

    runner = {k: options.pop(k) for k in ("runner", "num_threads") if k in options}
    return Cascade(name, create_one(first, **runner), create_one(second, **runner), **options)
