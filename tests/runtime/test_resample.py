"""The crop against its definition (edgeface/runtime/resample.py), which the Kotlin core implements:
the halving exact in the installed OpenCV, the warp within one grey level of the float32 definition
(the difference between OpenCV releases, pinned here for the installed one), the geometry of every
number of halvings, and faces far larger than the photo."""

import cv2
import numpy as np
import pytest

from edgeface.runtime import resample
from edgeface.runtime.geometry import Crop

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
        region[cy0 - top : cy1 - top, cx0 - left : cx1 - left] = image[cy0:cy1, cx0:cx1]
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


def _halve_by_definition(image):
    blocks = image.astype(np.int32).reshape(image.shape[0] // 2, 2, image.shape[1] // 2, 2, -1).sum((1, 3))
    return ((blocks + 2) >> 2).astype(np.uint8)


def _crop_by_definition(image, x0, y0, side, size):
    """The crop as the Kotlin core computes it: the same window and halvings, the float32 warp."""
    m = resample.halvings(side, size)
    f = side / size
    if m == 0:
        return warp_affine(image, Crop(x0, y0, side).affine(size), size, size)
    k = 2**m
    left, top, width = resample.crop_window(x0, y0, side, k)
    left, cols = resample._on_image(left, width, image.shape[1], k)
    top, rows = resample._on_image(top, width, image.shape[0], k)
    if cols == 0 or rows == 0:
        return np.zeros((size, size, 3), np.uint8)
    source = resample.window(image, left, top, cols, rows)
    for _ in range(m):
        source = _halve_by_definition(source)
    shift = (k - 1) / 2
    matrix = [[k / f, 0.0, (left + shift - x0) / f - 0.5], [0.0, k / f, (top + shift - y0) / f - 0.5]]
    return warp_affine(source, matrix, size, size)


@pytest.mark.parametrize("seed", range(4))
def test_halving_is_exact_in_the_installed_opencv(seed):
    rng = np.random.default_rng(seed)
    h, w = (2 * int(v) for v in rng.integers(1, 200, 2))
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resample.halve(image), _halve_by_definition(image))


def test_crop_is_within_one_grey_level_of_its_definition():
    """OpenCV's warp rounds its float32 coordinates differently from the definition (and OpenCV 5.1
    from 5.0): at most one grey level, on a small share of the bytes."""
    rng = np.random.default_rng(0)
    differing, total, worst = 0, 0, 0
    photo = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (5, 5), 1.5)
    for _ in range(60):
        side = float(np.exp(rng.uniform(np.log(20), np.log(3000))))
        x0, y0 = float(rng.uniform(-side, 400)), float(rng.uniform(-side, 300))
        got = resample.crop(photo, x0, y0, side, 112).astype(int)
        expected = _crop_by_definition(photo, x0, y0, side, 112).astype(int)
        difference = np.abs(got - expected)
        worst = max(worst, int(difference.max()))
        differing += int((difference > 0).sum())
        total += difference.size
    assert worst <= 1, f"OpenCV {cv2.__version__}: the crop differs from its definition by {worst} grey levels"
    assert differing / total < 0.02, f"OpenCV {cv2.__version__}: {differing / total:.2%} of crop bytes differ"


@pytest.mark.parametrize("side", [60.0, 200.0, 300.7, 500.2, 1100.0, 2500.0])
def test_crop_samples_where_the_crop_says(side):
    """A ramp image's crop reads the ramp at each crop pixel's centre, x0 + (o + 0.5) side / S,
    whatever the number of halvings (their rounding adds at most a quarter of a grey level each)."""
    n = 3000
    ramp = np.zeros((n, n, 3), np.uint8)
    ramp[..., 0] = ((np.arange(n) * 250 // n)[None, :]).astype(np.uint8)
    ramp[..., 1] = ((np.arange(n) * 250 // n)[:, None]).astype(np.uint8)
    x0, y0, size = 37.3, 51.9, 112
    got = resample.crop(ramp, x0, y0, side, size).astype(float)
    centres = np.arange(size) + 0.5
    expected_x = np.floor((x0 + centres * side / size) * 250 / n)
    expected_y = np.floor((y0 + centres * side / size) * 250 / n)
    inner = slice(4, size - 4)
    # the floor of a ramp averages half a level below the ramp; the crop's mean error sits near it
    assert abs((got[56, inner, 0] - expected_x[inner]).mean()) < 1.0
    assert abs((got[inner, 56, 1] - expected_y[inner]).mean()) < 1.0


def test_a_face_far_larger_than_the_photo_costs_the_photo():
    """A box 16 times the photo (the largest accepted) builds only the blocks on the photo."""
    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    side = 16 * 300.0
    got = resample.crop(photo, -side / 2, -side / 2, side, 112)
    expected = _crop_by_definition(photo, -side / 2, -side / 2, side, 112)
    assert np.abs(got.astype(int) - expected).max() <= 1
    # the photo is the crop's pixels 56-63 across and 56-61 down (it starts at the crop's centre)
    assert got[:55].max() == 0 and got[63:].max() == 0 and got[:, :55].max() == 0 and got[:, 65:].max() == 0
    assert got[57:60, 57:62].min() > 0
