"""The crop's area shrink before and after it was vectorised over flat pixel lanes (aacbefc):
the same bytes on random windows, and the time on the benchmark portrait's face window.

    python docs/experiments/area_shrink_speed.py      (needs the git history: the old code comes from 59fe44f,
                                                       the new from 77a18ce, the last commit with that shrink)
"""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from edgeface.tools.bench import interleaved, sample_image


def resample_at(commit: str):
    source = subprocess.run(
        ["git", "show", f"{commit}:edgeface/runtime/resample.py"],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    path = Path(tempfile.mkdtemp()) / f"resample_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"resample_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    old, resample = resample_at("59fe44f"), resample_at("77a18ce")
    rng = np.random.default_rng(1)
    differing = 0
    for _ in range(500):
        h, w = (int(v) for v in rng.integers(5, 600, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        width, height = int(rng.integers(3, 900)), int(rng.integers(3, 900))
        x0, y0 = int(rng.integers(-400, w + 50)), int(rng.integers(-400, h + 50))
        scale = float(rng.uniform(0.02, 0.999))
        a = old.resize_area_window(image, x0, y0, width, height, scale)
        b = resample.resize_area_window(image, x0, y0, width, height, scale)
        differing += a.shape != b.shape or not np.array_equal(a, b)
    print(f"500 random windows: {differing} differ")
    image = sample_image()
    window = (92, 125, 297, 297, 224 / 295.4)  # the portrait's first-pass crop, shrunk to twice the input
    times = interleaved(
        {
            "before": lambda: old.resize_area_window(image, *window),
            "after": lambda: resample.resize_area_window(image, *window),
        },
        rounds=30,
        per_round=20,
    )
    before, after = (float(np.median(times[k])) for k in ("before", "after"))
    print(f"portrait window: before {before:.2f} ms, after {after:.2f} ms ({before / after:.1f}x)")


if __name__ == "__main__":
    main()
