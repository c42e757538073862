"""The crop arithmetic, defined once: the Python runtime runs it and the Kotlin core
(android_demo/core, `CropCutter`) implements the same operations in the same order.

The network's crop of an axis-aligned square (x0, y0, side) into S x S pixels (`crop`):
- anti-aliasing first, where the crop is more than twice S: the region around the crop, on a grid
  of whole pixels that `crop_window` fixes, halved k = 2^m times by averaging 2x2 blocks in
  integers, (a + b + c + d + 2) >> 2, black outside the image, until at most two of its pixels
  fall on one crop pixel;
- then one bilinear warp onto the S x S crop, black outside.
Both steps run in OpenCV (INTER_AREA at exactly one half, warpAffine INTER_LINEAR), faster than any
exact numpy filter tried (docs/experiments.md, "End to end as fast as the network"). The halving is
exact in the installed OpenCV (a test) and in Kotlin; the warp's rounding differs between OpenCV
releases (5.0 -> 5.1 moved a crop byte) and from the Kotlin core's float32 warp by at most one grey
level, which tests/runtime/test_resample.py pins for the installed OpenCV (it holds that float32
warp, `warp_affine`, as the definition: the inverse map in double, as OpenCV's
invertAffineTransform, then source coordinates and interpolation in float32, rounded half to even,
black outside the image).
"""

from __future__ import annotations

import cv2
import numpy as np

#: A crop more than this many times the network's input is halved first (anti-aliasing).
MAX_WARP_FACTOR = 2.0


def halvings(side: float, size: int) -> int:
    """How many times the region of a crop of `side` pixels is halved before its warp to `size`:
    the fewest that leave at most MAX_WARP_FACTOR source pixels per crop pixel."""
    m = 0
    while side / (size * 2**m) > MAX_WARP_FACTOR:
        m += 1
    return m


def crop_window(x0: float, y0: float, side: float, k: int) -> tuple[int, int, int]:
    """The whole-pixel square (left, top, width) that a crop of `side` at (x0, y0) halved k times
    reads: one halved pixel of margin beyond the crop on each side for the bilinear taps, its
    width a multiple of k, its corner on the image's grid of k x k blocks (so that a face moving
    by a pixel moves the blocks by nothing or by one whole block, never re-phases them)."""
    left = (int(np.floor(x0)) // k - 1) * k
    top = (int(np.floor(y0)) // k - 1) * k
    blocks = max(int(np.ceil((x0 + side - left) / k)), int(np.ceil((y0 + side - top) / k)))
    return left, top, (blocks + 2) * k


def window(image: np.ndarray, left: int, top: int, width: int, height: int) -> np.ndarray:
    """The width x height region of `image` at (left, top), black outside it (a view when inside)."""
    h, w = image.shape[:2]
    if left >= 0 and top >= 0 and left + width <= w and top + height <= h:
        return image[top : top + height, left : left + width]
    out = np.zeros((height, width) + image.shape[2:], image.dtype)
    cx0, cy0, cx1, cy1 = max(left, 0), max(top, 0), min(left + width, w), min(top + height, h)
    if cx1 > cx0 and cy1 > cy0:
        out[cy0 - top : cy1 - top, cx0 - left : cx1 - left] = image[cy0:cy1, cx0:cx1]
    return out


def _on_image(start: int, length: int, n: int, k: int) -> tuple[int, int]:
    """The whole k-blocks of [start, start + length) that reach into [0, n): (first pixel, length)."""
    first = start + max(0, -start) // k * k
    end = start + -(-(min(start + length, n) - start) // k) * k
    return first, max(end - first, 0)


def halve(image: np.ndarray) -> np.ndarray:
    """(2H, 2W, C) uint8 -> (H, W, C): each 2x2 block's (a + b + c + d + 2) >> 2 (OpenCV's
    INTER_AREA at exactly one half, which tests/runtime/test_resample.py holds to this)."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)


def crop(image: np.ndarray, x0: float, y0: float, side: float, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """(size, size, 3) uint8: the square crop (x0, y0, side) of `image` (pixel centres at integer
    coordinates, the crop's outer edges at x0 and x0 + side), black outside the image."""
    if out is None:
        out = np.empty((size, size) + image.shape[2:], np.uint8)
    m = halvings(side, size)
    f = side / size
    if m == 0:
        source, k, left, top = image, 1, 0, 0
    else:
        k = 2**m
        left, top, width = crop_window(x0, y0, side, k)
        # only the blocks that hold image pixels are built and halved: the rest is black, which
        # is also what the warp reads outside its source (a face box far larger than the photo
        # costs the photo's size)
        h, w = image.shape[:2]
        left, cols = _on_image(left, width, w, k)
        top, rows = _on_image(top, width, h, k)
        if cols == 0 or rows == 0:
            out[...] = 0
            return out
        source = window(image, left, top, cols, rows)
        for _ in range(m):
            source = halve(source)
    # the crop pixel o's centre sits at x0 + (o + 0.5) f in the image (Crop.affine), and the halved
    # pixel u's at left + k u + (k - 1) / 2
    s, shift = k / f, (k - 1) / 2.0
    matrix = np.array([[s, 0.0, (left + shift - x0) / f - 0.5], [0.0, s, (top + shift - y0) / f - 0.5]], np.float64)
    cv2.warpAffine(
        source, matrix, (size, size), dst=out, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    return out
