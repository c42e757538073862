"""The same input through every installed backend gives the same answer (fp32)."""

import numpy as np
import pytest

import edgeface

#: fp32 parity bound, in crop-normalised units (1e-4 of the crop side: 0.04 px on a 400 px face).
DENSE_TOLERANCE = 1e-4
#: and for coefficients and logits
VALUE_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    gradient = np.broadcast_to(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None, None], (1, 64, 64, 3))
    return np.concatenate([noise, gradient])


def test_all_backends_agree_on_crops(fixture_pack, installed_backends, crops):
    results = {b: edgeface.Reconstructor(b, model=fixture_pack).model(crops) for b in installed_backends}
    assert len(results) >= 2, "parity needs at least two backends installed"
    reference = results.pop("onnx" if "onnx" in installed_backends else next(iter(results)))
    for backend, outputs in results.items():
        for name, value in outputs.items():
            tol = DENSE_TOLERANCE if name == "dense" else VALUE_TOLERANCE
            np.testing.assert_allclose(value, reference[name], atol=tol, err_msg=f"{backend}: {name}")


def test_all_backends_agree_on_a_photo(fixture_pack, installed_backends, face_image):
    faces = {b: edgeface.Reconstructor(b, model=fixture_pack)(face_image) for b in installed_backends}
    reference = faces["onnx"][0] if "onnx" in faces else next(iter(faces.values()))[0]
    side = reference.crop[2]
    for backend, found in faces.items():
        assert len(found) == 1, backend
        np.testing.assert_allclose(found[0].dense, reference.dense, atol=DENSE_TOLERANCE * side, err_msg=backend)
        assert found[0].pose.yaw == pytest.approx(reference.pose.yaw, abs=0.1)


def test_batch_equals_one_by_one(fixture_pack, installed_backends, crops):
    for backend in installed_backends:
        model = edgeface.Reconstructor(backend, model=fixture_pack).model
        batch = model(crops)
        single = [model(crops[i : i + 1]) for i in range(len(crops))]
        for name in batch:
            np.testing.assert_allclose(
                batch[name], np.concatenate([s[name] for s in single]), atol=1e-5, err_msg=f"{backend}: {name}"
            )


def test_thread_count_is_honoured(fixture_pack, installed_backends, crops):
    for backend in installed_backends:
        one = edgeface.Reconstructor(backend, model=fixture_pack, num_threads=1).model(crops)
        two = edgeface.Reconstructor(backend, model=fixture_pack, num_threads=2).model(crops)
        np.testing.assert_allclose(one["dense"], two["dense"], atol=DENSE_TOLERANCE)
