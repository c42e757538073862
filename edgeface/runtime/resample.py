"""The crop arithmetic, defined once: the Python runtime runs it and the Kotlin core
(android_demo/core, `CropCutter`) implements the same operations in the same order, so both feed
the network the same bytes whatever OpenCV is installed. OpenCV's own kernels changed their
rounding between releases (5.0 -> 5.1 moved a crop byte), which is why the crop is not theirs.

Bilinear warp: the inverse map in double (OpenCV's invertAffineTransform), then source
coordinates and interpolation in float32, rounded half to even, black outside the image.
Area shrink: OpenCV's INTER_AREA tables for a non-integer factor, accumulated in float32.
"""
from __future__ import annotations

import math

import numpy as np

_F32 = np.float32


def warp_affine(image: np.ndarray, m, width: int, height: int) -> np.ndarray:
    """(height, width, C) uint8: `image` sampled bilinearly at the inverse of `m` (2x3, image to output)."""
    m = [float(v) for v in np.asarray(m, np.float64).reshape(6)]
    d = m[0] * m[4] - m[1] * m[3]
    d = 1.0 / d if d != 0.0 else 0.0
    a11, a22, a12, a21 = m[4] * d, m[0] * d, -m[1] * d, -m[3] * d
    b1, b2 = -a11 * m[2] - a12 * m[5], -a21 * m[2] - a22 * m[5]
    i0, i1, i2, i3, i4, i5 = (_F32(v) for v in (a11, a12, b1, a21, a22, b2))
    fy = np.arange(height, dtype=_F32)[:, None]
    fx = np.arange(width, dtype=_F32)[None, :]
    sx = i0 * fx + (i1 * fy + i2)
    sy = i3 * fx + (i4 * fy + i5)
    fx0, fy0 = np.floor(sx), np.floor(sy)
    ax, ay = (sx - fx0)[..., None], (sy - fy0)[..., None]
    h, w = image.shape[:2]
    # Coordinates far outside the image only need to stay outside: clamp before the integer cast.
    x0 = np.clip(fx0, -2, w + 1).astype(np.int64)
    y0 = np.clip(fy0, -2, h + 1).astype(np.int64)
    # The source pixels the warp reads, with a black border: every tap is then a plain gather.
    left, top = int(x0.min()), int(y0.min())
    right, bottom = int(x0.max()) + 2, int(y0.max()) + 2
    region = np.zeros((bottom - top, right - left) + image.shape[2:], image.dtype)
    cx0, cy0, cx1, cy1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if cx1 > cx0 and cy1 > cy0:
        region[cy0 - top:cy1 - top, cx0 - left:cx1 - left] = image[cy0:cy1, cx0:cx1]
    stride = right - left
    pixels = region.reshape(region.shape[0] * stride, -1)
    index = (y0 - top) * stride + (x0 - left)

    def at(offset):
        return np.take(pixels, index + offset, axis=0).astype(_F32)

    p00, p01, p10, p11 = at(0), at(1), at(stride), at(stride + 1)
    v0 = p00 + ax * (p01 - p00)
    v1 = p10 + ax * (p11 - p10)
    v = v0 + ay * (v1 - v0)
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def _area_taps(source: int, dest: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(dest, K) source indices and float32 weights of each output pixel, zero-padded
    (OpenCV's computeResizeAreaTab): a leading partial tap, whole taps, a trailing partial tap."""
    fsx1 = np.arange(dest, dtype=np.float64) * step
    fsx2 = fsx1 + step
    cell = np.minimum(step, source - fsx1)
    sx2 = np.minimum(np.floor(fsx2), source - 1).astype(np.int64)
    sx1 = np.minimum(np.ceil(fsx1), sx2).astype(np.int64)
    lead = sx1 - fsx1 > 1e-3
    trail = fsx2 - sx2 > 1e-3
    whole = sx2 - sx1
    k = int((lead + whole + trail).max(initial=1))
    column = np.arange(k)[None, :]
    # column j of row i is tap number j; the whole taps start after the lead tap, if any
    source_index = (sx1 - lead)[:, None] + column
    weight = np.where(column < whole[:, None] + lead[:, None], 1.0 / cell[:, None], 0.0)
    weight = np.where(lead[:, None] & (column == 0), ((sx1 - fsx1) / cell)[:, None], weight)
    last = lead + whole
    trailing = trail[:, None] & (column == last[:, None])
    weight = np.where(trailing, (np.minimum(np.minimum(fsx2 - sx2, 1.0), cell) / cell)[:, None], weight)
    used = column < (last + trail)[:, None]
    return np.where(used, source_index, 0), np.where(used, weight, 0.0).astype(_F32)


def resize_area(image: np.ndarray, scale: float) -> np.ndarray:
    """Shrink by `scale` < 1 with area averaging (cv2.resize(..., fx=scale, fy=scale, INTER_AREA))."""
    h, w = image.shape[:2]
    return resize_area_window(image, 0, 0, w, h, scale)


def resize_area_window(image: np.ndarray, x0: int, y0: int, width: int, height: int, scale: float) -> np.ndarray:
    """`resize_area` of the width x height window at (x0, y0) of the image padded with black,
    without building the padding: a face box far larger than the photo costs the photo's size.

    Taps are added in order, one at a time in float32. Taps on the padding would add exact zeros,
    as do the zero-weight ones that fill the tap tables, so they are dropped: the sums are those of
    a loop over each pixel's own taps."""
    h, w = image.shape[:2]
    dw, dh = round(width * scale), round(height * scale)
    x_index, x_weight = _area_taps(width, dw, 1.0 / scale)
    y_index, y_weight = _area_taps(height, dh, 1.0 / scale)
    # window -> image coordinates; taps outside the image get weight 0
    x_index, y_index = x_index + x0, y_index + y0
    x_weight = np.where((x_index >= 0) & (x_index < w), x_weight, _F32(0))
    y_weight = np.where((y_index >= 0) & (y_index < h), y_weight, _F32(0))
    x_index, x_weight = _compact(x_index, x_weight)
    y_index, y_weight = _compact(y_index, y_weight)
    top, bottom = max(y0, 0), min(y0 + height, h)
    if bottom <= top:
        return np.zeros((dh, dw) + image.shape[2:], np.uint8)
    channels = image.shape[2] if image.ndim == 3 else 1
    # rows of pixels as flat (x, channel) lanes: each tap is one gather and one multiply into a
    # reused buffer, the same float32 operations in the same order as a loop over each pixel
    strip = image[top:bottom].reshape(bottom - top, w * channels)
    x_index = np.clip(x_index, 0, w - 1)
    y_index = np.clip(y_index, top, bottom - 1) - top
    lanes = (x_index.T[:, :, None] * channels + np.arange(channels)).reshape(x_index.shape[1], dw * channels)
    lane_weight = np.repeat(x_weight.T, channels, axis=1)
    rows = np.zeros((bottom - top, dw * channels), _F32)
    tap = np.empty_like(rows)
    for k in range(lanes.shape[0]):
        np.multiply(np.take(strip, lanes[k], axis=1), lane_weight[k], out=tap, dtype=_F32, casting="unsafe")
        rows += tap
    out = np.zeros((dh, dw * channels), _F32)
    tap = np.empty_like(out)
    for k in range(y_index.shape[1]):
        np.multiply(np.take(rows, y_index[:, k], axis=0), y_weight[:, k, None], out=tap)
        out += tap
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape((dh, dw) + image.shape[2:])


def _compact(index: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's non-zero taps moved to the front in their order, and the all-zero columns cut."""
    order = np.argsort(weight == 0, axis=1, kind="stable")
    width = max(int((weight != 0).sum(1).max(initial=0)), 1)
    order = order[:, :width]
    return np.take_along_axis(index, order, 1), np.take_along_axis(weight, order, 1)
