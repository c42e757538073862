"""The committed edgeface-520 topology is what the builder makes from ICT-FaceKit, and is sound."""

import json

import numpy as np
import pytest

from edgeface.train import topology

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def topo():
    return topology.load()


def test_shape_of_the_committed_topology(topo):
    assert topo["num_points"] == 520 and len(topo["vertices"]) == 520 == len(set(topo["vertices"]))
    assert len(topo["landmarks68"]) == 68 and topo["landmarks68"] == list(range(68))
    tris = np.array(topo["triangles"])
    assert tris.min() >= 0 and tris.max() < 520 and len(tris) > 900
    assert (np.sort(tris, 1)[:, :-1] != np.sort(tris, 1)[:, 1:]).all()  # no degenerate triangles
    assert len(topo["aflw21"]) == 21
    assert set(topo["regions"]) == {"brows", "nose", "eyes", "lips"}


def test_builder_reproduces_the_committed_file(topo):
    """Deterministic: rebuilding from the model gives the committed file (needs the data folder)."""
    from edgeface.tools.datasets import data_root
    from edgeface.train.morphable import MorphableModel

    root = data_root()
    if root is None or not (root / "ict_facekit.npz").exists():
        pytest.skip("ict_facekit.npz not found: set EDGEFACE_DATA")
    rebuilt = topology.build(MorphableModel.load(root / "ict_facekit.npz"))
    assert json.loads(json.dumps(rebuilt)) == topo


def test_every_interior_edge_is_traversed_once_each_way_and_every_point_has_a_triangle(topo):
    """Consistent winding (what renderers and normal estimation need), a manifold mesh, and no
    free vertex for a loader to drop (the pupils close the eye openings, the ear lobes join the rim)."""
    t = np.array(topo["triangles"])
    directed = np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]])
    _, twice = np.unique(directed, axis=0, return_counts=True)
    assert twice.max() == 1  # an edge run the same way by two triangles is a winding flip
    undirected, counts = np.unique(np.sort(directed, 1), axis=0, return_counts=True)
    assert counts.max() <= 2
    opposite = {tuple(e) for e in directed}
    interior = undirected[counts == 2]
    assert all((a, b) in opposite and (b, a) in opposite for a, b in interior)
    assert set(t.ravel().tolist()) == set(range(topo["num_points"]))
    assert len(topology.boundary_loops(t)) == 2  # the outer rim and the mouth


def test_the_shipped_pack_carries_the_committed_mesh(topo):
    from edgeface.runtime.pack import read_manifest

    np.testing.assert_array_equal(read_manifest(None).triangles, np.array(topo["triangles"]))


def test_mesh_is_oriented_towards_the_viewer_and_mostly_manifold(topo):
    from edgeface.tools.datasets import data_root
    from edgeface.train.morphable import MorphableModel

    root = data_root()
    if root is None or not (root / "ict_facekit.npz").exists():
        pytest.skip("ict_facekit.npz not found: set EDGEFACE_DATA")
    model = MorphableModel.load(root / "ict_facekit.npz")
    v = model.neutral[topo["vertices"]]
    t = np.array(topo["triangles"])
    nz = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])[:, 2]
    # outwards: towards the viewer, except where the surface folds away (eyelids, nostrils, lips)
    assert (nz > 0).mean() > 0.85
    edges = np.sort(np.concatenate([t[:, [0, 1]], t[:, [1, 2]], t[:, [2, 0]]]), 1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts <= 2).mean() > 0.99
    # the 68 landmarks are ICT's own landmark vertices
    assert [topo["vertices"][i] for i in topo["landmarks68"]] == model.landmarks68.tolist()
    # eyes and lips are sampled more densely than the rest of the face
    area = len(topo["regions"]["eyes"]) + len(topo["regions"]["lips"])
    assert area > 0.2 * 520
