"""The OBJ-release converter reproduces the npz edgeface reads (checked on the shared sample)."""

import numpy as np
import pytest

from edgeface.tools.datasets import data_root
from edgeface.train import ict_convert

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def data():
    root = data_root()
    if root is None or not (root / "ict_obj_sample").exists() or not (root / "ict_facekit.npz").exists():
        pytest.skip("ICT-FaceKit sample or npz not found: set EDGEFACE_DATA")
    return root


def test_converter_round_trip(data):
    converted = ict_convert.convert(data / "ict_obj_sample", identities=1, expressions=["jawOpen"])
    reference = np.load(data / "ict_facekit.npz")
    np.testing.assert_array_equal(converted["neutral"], reference["neutral"])
    np.testing.assert_allclose(
        converted["id_basis"][0].astype(np.float32), reference["id_basis"][0].astype(np.float32), atol=2e-3
    )
    k = list(reference["exp_names"]).index("jawOpen")
    np.testing.assert_allclose(
        converted["exp_basis"][0].astype(np.float32), reference["exp_basis"][k].astype(np.float32), atol=2e-3
    )
    for key in ("triangles", "triangle_uv", "triangle_material", "uv", "landmarks68", "rigid_vertices", "part_ranges"):
        np.testing.assert_array_equal(converted[key], reference[key], err_msg=key)
    assert list(converted["material_names"]) == list(reference["material_names"])
    assert list(converted["part_names"]) == list(reference["part_names"])
