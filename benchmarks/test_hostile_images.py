"""How fast hostile files are refused: `pytest benchmarks/test_hostile_images.py --benchmark-only`.

The decompression bombs of issue 18 must be refused from their header, in well under 50 ms each
(memory is checked in tests/test_image.py). Each round also checks the refusal.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import hostile  # noqa: E402

from edgeface.runtime.errors import ImageError  # noqa: E402
from edgeface.runtime.image import load_image  # noqa: E402


@pytest.fixture(scope="module")
def bombs():
    # a face-like photo is not needed: the scan data is never decoded
    photo = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    return hostile.bombs(photo)


@pytest.mark.parametrize(
    "name",
    [
        "jpeg_22343x43084",
        "png_20000x20000",
        "png_60000x60000",
        "jpeg_65000x65000",
        "png_9000x9000_tiny",
        "jpeg_9000x9000_4kb",
    ],
)
def test_bomb_refusal(benchmark, bombs, name, tmp_path):
    benchmark.group = "refuse a decompression bomb (read file + header probe)"
    path = tmp_path / name
    path.write_bytes(bombs[name])

    def refuse():
        try:
            load_image(path)
        except ImageError:
            return True
        return False

    assert benchmark(refuse)
    if benchmark.stats is not None:
        assert benchmark.stats.stats.max < 0.05, f"{name}: {benchmark.stats.stats.max * 1e3:.1f} ms"
