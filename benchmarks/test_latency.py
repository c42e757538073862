"""Latency: `pytest benchmarks/ --benchmark-only` (add --benchmark-json FILE for the report).

Every case of edgeface.tools.bench: the network per installed backend x precision x threads x batch,
pre/post-processing, one photo end to end, a video frame in tracking mode, and MediaPipe's
face-landmark network and FaceMesh pipeline where the `bench` extra installed them. Each case
also checks its output, so the short CI run (few rounds) still tests every installed backend.
"""

import pytest

from edgeface.runtime import backends
from edgeface.runtime.pack import DEFAULT_PACK, MANIFEST_NAME
from edgeface.tools import bench

CASES = bench.cases() if (DEFAULT_PACK / MANIFEST_NAME).exists() else []


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_latency(benchmark, case):
    benchmark.group = case.group
    benchmark.extra_info["note"] = case.note
    fn = case.make()
    for _ in range(10):  # warm-up: first runs allocate buffers and fill caches
        fn()
    result = benchmark(fn)
    assert case.check(result), case.name


@pytest.mark.parametrize("backend", ["tflite", "onnx", "openvino"])
def test_backend_is_benchmarked(backend):
    """Each runtime backend is timed when installed, and reported as skipped (with the extra to
    install) when not; likewise the MediaPipe peer."""
    if not CASES:
        pytest.skip("no default model in this build")
    if backend not in backends.installed():
        pytest.skip(f"{backend} not installed: pip install 'edgeface[{backends.BACKENDS[backend].extra}]'")
    assert any(c.name.startswith(f"network/{backend}/") for c in CASES)


def test_mediapipe_peer_is_benchmarked():
    if bench.mediapipe_landmark_file() is None:
        pytest.skip("MediaPipe peer absent: pip install 'edgeface[bench]' (a separate environment from 'train')")
    assert any(c.name.startswith("network/mediapipe") for c in CASES)
