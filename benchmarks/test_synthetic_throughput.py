"""Throughput of the synthetic engine: `pytest benchmarks/test_synthetic_throughput.py --benchmark-only`.

Times one process rendering labelled 128x128 samples (what each writer worker does); the
writer runs one such process per core (`edgeface synthesize write --workers N`). samples/s per
process is in the report's extra_info.
"""

import numpy as np
import pytest

pytest.importorskip("numba", reason="the synthetic engine needs numba (pip install 'edgeface[train]')")

from edgeface.tools.datasets import data_root  # noqa: E402

BATCH = 8


@pytest.fixture(scope="module")
def engine():
    root = data_root()
    if root is None or not (root / "ict_facekit.npz").exists():
        pytest.skip("ICT-FaceKit model not found: set EDGEFACE_DATA (see ../shared/README.md)")
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.synthetic import SyntheticFaces

    return SyntheticFaces(MorphableModel.load(root / "ict_facekit.npz"), seed=0)


@pytest.mark.parametrize("supersample", [1, 2])
def test_synthetic_samples_per_second(benchmark, engine, supersample):
    from threadpoolctl import threadpool_limits

    benchmark.group = "synthetic engine, 1 process"
    engine.config.supersample = supersample
    counter = iter(range(10**9))

    def render():
        start = next(counter) * BATCH
        return engine.batch(range(start, start + BATCH))

    with threadpool_limits(1):
        render()  # compiles nothing (numba caches to disk) but warms the caches
        samples = benchmark(render)
    engine.config.supersample = 2
    benchmark.extra_info["samples_per_second"] = BATCH / benchmark.stats.stats.mean
    assert len(samples) == BATCH and all(s["image"].shape == (128, 128, 3) for s in samples)
    assert all(np.isfinite(s["points"]).all() for s in samples)
