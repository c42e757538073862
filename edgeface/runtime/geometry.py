"""Geometry shared by the runtime, the evaluation and the training code.

Conventions (one place for all of them):
- Image coordinates: x to the right, y down, in pixels; depth z grows towards the camera.
- Crops are square and axis-aligned: `Crop(x0, y0, size)` maps image pixels to crop
  coordinates u = (x - x0) / size, v = (y - y0) / size, so the crop spans [0, 1]^2.
- Model coordinates (ICT-FaceKit): x towards the subject's left (the image's right in a frontal
  view), y up, z towards the viewer, centimetres.
- Euler angles (pitch, yaw, roll) here are in radians (the public `Face.pose` reports the same
  angles in degrees) and follow AFLW/AFLW2000-3D's signs (checked on both
  label sets): positive yaw turns the nose to the image's left (the subject turns to their right),
  positive pitch raises the face, positive roll turns it clockwise in the image. As a matrix on
  model coordinates: R = Rz(-roll) @ Ry(-yaw) @ Rx(-pitch), with Rx, Ry, Rz the right-handed
  rotations. An image point is (x, y) = translation + scale * ((R X)_x, -(R X)_y).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Crop:
    """An axis-aligned square region of an image, in image pixels."""

    x0: float
    y0: float
    size: float

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2 or 3) crop-normalised points to image pixels; z scales like x and y."""
        out = np.asarray(points, dtype=np.float32) * np.float32(self.size)
        out[..., 0] += self.x0
        out[..., 1] += self.y0
        return out

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Inverse of `to_image` for (..., 2) image points."""
        out = np.asarray(points, dtype=np.float32).copy()
        out[..., 0] -= self.x0
        out[..., 1] -= self.y0
        return out / np.float32(self.size)

    def affine(self, out_size: int) -> np.ndarray:
        """2x3 matrix taking image pixels to the pixels of an out_size x out_size crop.

        Pixel centres sit at integer coordinates (OpenCV's convention) and the crop's outer
        edges at x0 and x0 + size, so a point's crop-normalised coordinate does not depend
        on the crop's resolution: u = (x_crop + 0.5) / out_size.
        """
        s = out_size / self.size
        return np.array([[s, 0.0, -self.x0 * s - 0.5], [0.0, s, -self.y0 * s - 0.5]], dtype=np.float64)


def square_crop(box, scale: float, shift_y: float = 0.0) -> Crop:
    """The crop rule used everywhere: a square of side `scale` * mean(w, h), centred on the box
    centre moved down by `shift_y` * h. Detectors, the evaluation's ROI boxes, the tracker's
    landmark boxes and the synthetic training crops all go through this function."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    if not (w > 0 and h > 0):
        raise ValueError(f"box must have positive width and height, got {box}")
    side = scale * 0.5 * (w + h)
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2) + shift_y * h
    return Crop(cx - 0.5 * side, cy - 0.5 * side, side)


def iou(box, boxes) -> np.ndarray:
    """Intersection over union of one (4,) box with (N, 4) boxes, all x1, y1, x2, y2."""
    box, boxes = np.asarray(box, np.float64), np.atleast_2d(np.asarray(boxes, np.float64))
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def landmark_box(points: np.ndarray) -> np.ndarray:
    """Tight (x1, y1, x2, y2) box of (N, 2+) points."""
    p = np.asarray(points)[:, :2]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], dtype=np.float32)


def euler_to_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    cx, sx = np.cos(-pitch), np.sin(-pitch)
    cy, sy = np.cos(-yaw), np.sin(-yaw)
    cz, sz = np.cos(-roll), np.sin(-roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return (rz @ ry @ rx).astype(np.float32)


def matrix_to_euler(r: np.ndarray) -> tuple[float, float, float]:
    """(pitch, yaw, roll) in radians of `euler_to_matrix`'s convention."""
    r = np.asarray(r, dtype=np.float64)
    yaw = float(np.arcsin(np.clip(-r[2, 0], -1.0, 1.0)))
    if abs(r[2, 0]) < 0.999999:
        pitch = float(np.arctan2(r[2, 1], r[2, 2]))
        roll = float(np.arctan2(r[1, 0], r[0, 0]))
    else:  # gimbal lock: roll is not observable separately, fold it into pitch
        pitch = float(np.arctan2(-r[1, 2], r[1, 1]))
        roll = 0.0
    return -pitch, -yaw, -roll
