"""Issue 34: the candidates for the crop, timed on one core (medians of 200 calls). A 112 px crop of a
face in a 450 px dev photo (its 320 px region), and the first halving of a 1520 px face's region in a
4K frame, with the alternatives tried for it.

    taskset -c 0 python docs/experiments/crop_candidates.py   (EDGEFACE_DATA for the dev photo)
"""

import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

from edgeface.runtime import resample
from edgeface.tools.bench import sample_image


def median_ms(fn, calls: int = 200) -> float:
    for _ in range(10):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def crop_at_77a18ce():
    """0.5.0's crop for a face over twice the input (pipeline.area_crop of 77a18ce): an area shrink
    to twice the input in numpy, then the numpy float32 warp (geometry.Crop is unchanged since)."""
    import importlib.util
    import tempfile

    from edgeface.runtime.geometry import Crop

    text = subprocess.run(
        ["git", "show", "77a18ce:edgeface/runtime/resample.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    path = Path(tempfile.mkdtemp()) / "resample_77a18ce.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("resample_77a18ce", path)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)

    def cut(image, x0, y0, side, size):
        ix, iy = int(np.floor(x0)), int(np.floor(y0))
        window = int(np.ceil(side + (x0 - ix)))
        scale = 2 * size / side
        small = old.resize_area_window(image, ix, iy, window, window, scale)
        half = Crop((x0 - ix + 0.5) * scale - 0.5, (y0 - iy + 0.5) * scale - 0.5, side * scale)
        return old.warp_affine(small, half.affine(size), size, size)

    return cut


def main() -> int:
    cv2.setNumThreads(1)
    photo = sample_image()
    x0, y0, side, size = 65.3, 60.7, 320.2, 112
    window = np.ascontiguousarray(photo[60:380, 65:385])
    rng = np.random.default_rng(0)
    k = 4  # taps per output pixel and axis, as a separable filter of this shrink has
    rows = np.clip((np.arange(size)[:, None] * 2.86 + np.arange(k)).astype(np.intp), 0, 319)
    weights = rng.integers(0, 4096, (size, k)).astype(np.int32)

    def separable_int32():
        acc = np.zeros((size, 320, 3), np.int32)
        for t in range(k):
            acc += weights[:, t, None, None] * window[rows[:, t]]
        acc = (acc + 128) >> 8
        out = np.zeros((size, size, 3), np.int32)
        for t in range(k):
            out += weights[None, :, t, None] * acc[:, rows[:, t]]
        return ((out + 32768) >> 16).astype(np.uint8)

    dense = np.zeros((size, 320), np.float32)
    for t in range(k):
        dense[np.arange(size), rows[:, t]] += weights[:, t]
    flat = window.reshape(320, -1).astype(np.float32)
    old = crop_at_77a18ce()
    print("a 112 px crop of a 320 px face region in a 450 px photo, ms:")
    for name, fn in {
        "0.5.0: numpy area shrink to 224 px, then numpy float32 warp": lambda: old(photo, x0, y0, side, size),
        "a separable fixed-point filter in numpy (int32 taps, both passes)": separable_int32,
        "its vertical pass alone as a dense float32 matrix product": lambda: dense @ flat,
        "OpenCV INTER_AREA to 112 px at a non-integer factor": lambda: cv2.resize(
            window, (112, 112), interpolation=cv2.INTER_AREA
        ),
        "OpenCV INTER_AREA to 224 px at a non-integer factor": lambda: cv2.resize(
            window, (224, 224), interpolation=cv2.INTER_AREA
        ),
        "now: 2x2 integer halving, then OpenCV's warp (resample.crop)": lambda: resample.crop(
            photo, x0, y0, side, size
        ),
    }.items():
        print(f"  {median_ms(fn):7.3f}  {name}")
    frame = np.ascontiguousarray(np.tile(photo, (5, 9, 1))[:2160, :3840])
    region = frame[300:1820, 1000:2520]
    print("the first step for a 1520 px face region in a 4K frame, ms:")
    for name, fn in {
        "now: one 2x2 halving (OpenCV INTER_AREA at one half)": lambda: cv2.resize(
            region, (760, 760), interpolation=cv2.INTER_AREA
        ),
        "OpenCV INTER_AREA at one quarter in one pass": lambda: cv2.resize(
            region, (380, 380), interpolation=cv2.INTER_AREA
        ),
        "OpenCV INTER_AREA at one eighth in one pass": lambda: cv2.resize(
            region, (190, 190), interpolation=cv2.INTER_AREA
        ),
        "every other row, halved across only (OpenCV's generic path)": lambda: cv2.resize(
            region[::2], (760, 760), interpolation=cv2.INTER_AREA
        ),
    }.items():
        print(f"  {median_ms(fn, 20):7.3f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
