"""The crop's area shrink against its definition, one pixel at a time: the tap tables, the weights, the
image's edges and the rounding (Python and the Kotlin core must cut the same bytes)."""
import numpy as np
import pytest

from edgeface.runtime import resample


def _by_definition(image, x0, y0, width, height, scale):
    """`resize_area_window` written as the loop its docstring describes, one pixel at a time."""
    h, w = image.shape[:2]
    dw, dh = round(width * scale), round(height * scale)
    x_index, x_weight = resample._area_taps(width, dw, 1.0 / scale)
    y_index, y_weight = resample._area_taps(height, dh, 1.0 / scale)
    f32 = np.float32
    out = np.zeros((dh, dw, image.shape[2]), np.uint8)
    for oy in range(dh):
        for ox in range(dw):
            for c in range(image.shape[2]):
                total = f32(0)
                for sy, wy in zip(y_index[oy] + y0, y_weight[oy]):
                    if wy == 0 or not 0 <= sy < h:
                        continue
                    row = f32(0)
                    for sx, wx in zip(x_index[ox] + x0, x_weight[ox]):
                        if wx != 0 and 0 <= sx < w:
                            row = f32(row + f32(image[sy, sx, c]) * wx)
                    total = f32(total + wy * row)
                out[oy, ox, c] = np.clip(np.rint(total), 0, 255)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_area_shrink_is_its_definition(seed):
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(6, 40, 2))
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    side = int(rng.integers(8, 60))
    # windows inside the image, over its edges and partly off it
    x0, y0 = int(rng.integers(-side // 2, w)), int(rng.integers(-side // 2, h))
    scale = float(rng.uniform(0.15, 0.95))
    got = resample.resize_area_window(image, x0, y0, side, side, scale)
    np.testing.assert_array_equal(got, _by_definition(image, x0, y0, side, side, scale))
