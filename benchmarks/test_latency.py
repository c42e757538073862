"""Latency of the shipped model: `pytest benchmarks/ --benchmark-only` (add --benchmark-json F).

The network alone per installed backend and thread count (batch 1), and one image end to end
(detector + crop + network + decoding). Every benchmark also checks that its backend produced
output of the right shape, so a short CI run (--benchmark-min-rounds small) still tests something.
"""
import numpy as np
import pytest

import edgeface
from edgeface import backends
from edgeface.image import load_image

BACKENDS = ["onnx", "openvino", "tflite"]


def _skip_missing(backend):
    if backend not in backends.installed():
        pytest.skip(f"{backend} not installed: pip install 'edgeface[{backends.BACKENDS[backend].extra}]'")


@pytest.fixture(scope="module")
def crop():
    return np.random.default_rng(0).integers(0, 256, (1, 112, 112, 3), dtype=np.uint8)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backend", BACKENDS)
def test_network(benchmark, backend, threads, crop):
    _skip_missing(backend)
    model = edgeface.Reconstructor(backend, num_threads=threads).model
    tensor = model.preprocess(crop)
    for _ in range(10):
        model.backend.run(tensor)
    outputs = benchmark(model.backend.run, tensor)
    assert model.postprocess(outputs)["dense"].shape == (1, 520, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_end_to_end_image(benchmark, backend):
    _skip_missing(backend)
    import cv2

    cv2.setNumThreads(1)
    from edgeface.datasets import data_root

    root = data_root()
    if root is None or not (root / "aflw2000_dev").exists():
        pytest.skip("dev images not found: set EDGEFACE_DATA")
    image = load_image(root / "aflw2000_dev" / "images" / "image00002.jpg")
    rec = edgeface.Reconstructor(backend, num_threads=1)
    rec(image)
    faces = benchmark(rec, image)
    assert len(faces) == 1
