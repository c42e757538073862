"""The runtime's outputs on the synthetic portrait against the figures committed beside it
(expected/portrait.json, written by make_expected.py): the shipped default pack on every backend and
precision, and the fixture pack. A refactor must leave them where they are; a change meant to move
them rewrites the file in the same commit."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import COMMITTED_FIXTURE_PACK, PORTRAIT

import edgeface

EXPECTED = json.loads((Path(__file__).parent / "expected" / "portrait.json").read_text())
#: agreement asked of a rerun on another x86-64 CPU (other SIMD kernels reorder float sums)
PIXELS, DEGREES, PROBABILITY, COEFFICIENT = 0.05, 0.05, 0.002, 0.002
#: the embedding is whitened, which stretches some coefficient directions: a looser hold
EMBEDDING = 0.005


@pytest.mark.parametrize("row", sorted(EXPECTED))
def test_outputs_on_the_portrait_are_the_committed_ones(row, installed_backends):
    pack, backend, precision = row.split("/")
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    rec = edgeface.Reconstructor(
        backend, model=None if pack == "default" else COMMITTED_FIXTURE_PACK, precision=precision
    )
    faces = rec(str(PORTRAIT))
    expected = EXPECTED[row]
    assert len(faces) == len(expected) == 1
    face, want = faces[0], expected[0]
    np.testing.assert_allclose(face.box, want["box"], atol=PIXELS)
    np.testing.assert_allclose(face.landmarks, want["landmarks"], atol=PIXELS)
    np.testing.assert_allclose([face.pose.yaw, face.pose.pitch, face.pose.roll], want["angles"], atol=DEGREES)
    np.testing.assert_allclose(face.identity, want["identity"], atol=COEFFICIENT)
    np.testing.assert_allclose(face.embedding, want["embedding"], atol=EMBEDDING)
    assert list(face.attributes) == list(want["attributes"])
    np.testing.assert_allclose(list(face.attributes.values()), list(want["attributes"].values()), atol=PROBABILITY)
    np.testing.assert_allclose(list(face.expression.values()), list(want["expression"].values()), atol=PROBABILITY)
    assert face.gender == want["gender"]
    assert (face.age is None) == (want["age"] is None)
    if face.age is not None:
        assert abs(face.age - want["age"]) < 0.05


def _portrait_face(backend, precision, installed_backends):
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    return edgeface.Reconstructor(backend, precision=precision)(str(PORTRAIT))[0]


@pytest.mark.parametrize("backend", ["openvino", "tflite"])
def test_the_fp32_files_agree_with_onnx(backend, installed_backends):
    """One pre/post path: the default pack's fp32 files give one answer on every backend."""
    a, b = (_portrait_face(name, "fp32", installed_backends) for name in ("onnx", backend))
    np.testing.assert_allclose(b.landmarks, a.landmarks, atol=0.01)
    np.testing.assert_allclose(
        [b.pose.yaw, b.pose.pitch, b.pose.roll], [a.pose.yaw, a.pose.pitch, a.pose.roll], atol=0.01
    )


@pytest.mark.parametrize("backend", ["onnx", "openvino", "tflite"])
def test_int8_stays_near_fp32(backend, installed_backends):
    fp32, int8 = (_portrait_face(backend, precision, installed_backends) for precision in ("fp32", "int8"))
    # within 1.5 % of the face's 213 px box on average: the INT8 gate's scale of error, not a rounding slip
    assert np.abs(int8.landmarks[:, :2] - fp32.landmarks[:, :2]).mean() < 3.0
    # the synthetic portrait is an ambiguous face for gender (0.4.1 fp32: Male 0.63), so INT8 may land
    # on either side of 0.5 (OpenVINO: 0.49); what must hold is that the answer barely moves. How
    # often INT8 flips an attribute on real photos is the gate's check (CelebA dev, under 1 %).
    assert abs(float(int8.attributes["Male"]) - float(fp32.attributes["Male"])) < 0.2
    assert abs(int8.age - fp32.age) < 6.0
