"""The edgeface-520 topology: which 520 ICT-FaceKit vertices the network predicts, their mesh,
the 68-landmark subset, the AFLW-21 mapping, the regions the losses weight, and each point's
mirror twin (flip averaging).

`edgeface data topology --model ict_facekit.npz` rebuilds `edgeface520_v1.json`
deterministically; only that file (vertex ids, triangles, index lists) is committed, never the model.

How the 520 are chosen: the 68 landmark vertices, the two pupils and the two ear lobes are forced
in; the rest are farthest-point samples over the narrow face region, with distances counted double
near the eyes and lips so that eyelids and lips get the density blinks and open mouths need.
The mesh is the dual of a geodesic Voronoi partition of the face surface (multi-source Dijkstra on
the mesh's edges): a triangle of ICT whose three corners fall to three different samples becomes a
triangle of those samples, so the eye and mouth openings stay open.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .morphable import MorphableModel

NAME, VERSION, NUM_POINTS = "edgeface-520", 1, 520
TOPOLOGY_FILE = Path(__file__).with_name("edgeface520_v1.json")

#: AFLW's 21 points in the order of ../shared/data/aflw_train (index: definition), as 68-landmark
#: indices or named extra vertices; a pair is averaged (the mouth centre lies between the lips).
AFLW21 = [
    ("brow_image_left_outer", [17]),
    ("brow_image_left_centre", [19]),
    ("brow_image_left_inner", [21]),
    ("brow_image_right_inner", [22]),
    ("brow_image_right_centre", [24]),
    ("brow_image_right_outer", [26]),
    ("eye_image_left_outer", [36]),
    ("eye_image_left_centre", ["pupil_image_left"]),
    ("eye_image_left_inner", [39]),
    ("eye_image_right_inner", [42]),
    ("eye_image_right_centre", ["pupil_image_right"]),
    ("eye_image_right_outer", [45]),
    ("ear_image_left", ["earlobe_image_left"]),
    ("nose_image_left", [31]),
    ("nose_tip", [30]),
    ("nose_image_right", [35]),
    ("ear_image_right", ["earlobe_image_right"]),
    ("mouth_image_left", [48]),
    ("mouth_centre", [62, 66]),
    ("mouth_image_right", [54]),
    ("chin", [8]),
]

#: Loss regions as 68-landmark index ranges; a dense point belongs to a region when it lies within
#: REGION_RADIUS cm of one of the region's landmarks on the neutral face.
REGIONS = {"brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48), "lips": range(48, 68)}
REGION_RADIUS = 1.0


def extra_vertices(model: MorphableModel) -> dict[str, int]:
    """Pupils (the most forward eyeball vertex) and ear lobes (the lowest ear vertex)."""
    n = model.neutral
    extras = {}
    # ICT's eyeball_left is the subject's left eye, at +x: the image's right in a frontal view
    for part, side in (("eyeball_left", "image_right"), ("eyeball_right", "image_left")):
        idx = model.part(part)
        extras[f"pupil_{side}"] = int(idx[np.argmax(n[idx, 2])])
    head = model.part("head_neck")
    for sign, side in ((1, "image_right"), (-1, "image_left")):
        ear = head[
            (sign * n[head, 0] > 7.0) & (n[head, 1] > -4) & (n[head, 1] < 6) & (n[head, 2] > -4) & (n[head, 2] < 2)
        ]
        extras[f"earlobe_{side}"] = int(ear[np.argmin(n[ear, 1])])
    return extras


def _farthest_points(points: np.ndarray, weight: np.ndarray, seeds: list[int], count: int) -> list[int]:
    chosen = list(seeds)
    dist = np.full(len(points), np.inf)
    for s in seeds:
        dist = np.minimum(dist, np.linalg.norm(points - points[s], axis=1) * weight)
    for _ in range(count):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(points - points[nxt], axis=1) * weight)
    return chosen


def build(model: MorphableModel) -> dict:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    n = model.neutral
    lo, hi = model.part_ranges["face_narrow"]
    surface = np.arange(lo, hi)
    tris = model.triangles[(model.triangles >= lo).all(1) & (model.triangles < hi).all(1)] - lo
    points = n[surface]
    lm = model.landmarks68 - lo
    near = np.zeros(len(points), bool)
    for i in list(range(36, 48)) + list(range(48, 68)):
        near |= np.linalg.norm(points - points[lm[i]], axis=1) < 1.2
    weight = np.where(near, 2.0, 1.0)
    extras = extra_vertices(model)
    samples = _farthest_points(points, weight, list(lm), NUM_POINTS - 68 - len(extras) - 0)
    samples = list(dict.fromkeys(samples))  # 68 landmarks first, in order; no repeats
    assert len(samples) == NUM_POINTS - len(extras), len(samples)

    # geodesic Voronoi labels of every surface vertex, then its dual triangles
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    length = np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1)
    graph = coo_matrix(
        (
            np.concatenate([length, length]),
            (np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]])),
        ),
        shape=(len(points), len(points)),
    ).tocsr()
    _, _, source = dijkstra(graph, indices=samples, min_only=True, return_predecessors=True)
    label_of_sample = {s: k for k, s in enumerate(samples)}
    label = np.array([label_of_sample[s] for s in source])
    coarse = {}
    for a, b, c in label[tris]:
        if a != b and b != c and a != c:
            key = tuple(sorted((a, b, c)))
            coarse.setdefault(key, (a, b, c))
    triangles = np.array(list(coarse.values()), np.int64)
    triangles = orient(triangles, points[np.array(samples)])

    vertices = [int(s + lo) for s in samples] + [extras[k] for k in sorted(extras)]
    index_of = {v: i for i, v in enumerate(vertices)}
    landmarks68 = [index_of[int(v)] for v in model.landmarks68]
    extra_index = {k: index_of[extras[k]] for k in extras}
    triangles = attach_free_points(triangles, n[np.array(vertices)], list(extra_index.values()))
    aflw = []
    for name, refs in AFLW21:
        ids = [landmarks68[r] if isinstance(r, int) else extra_index[r] for r in refs]
        aflw.append({"name": name, "points": ids, "weights": [1.0 / len(ids)] * len(ids)})
    dense_xyz = n[np.array(vertices)]
    regions = {}
    for region, idx in REGIONS.items():
        centres = n[model.landmarks68[list(idx)]]
        d = np.linalg.norm(dense_xyz[:, None] - centres[None], axis=2).min(1)
        regions[region] = np.flatnonzero(d < REGION_RADIUS).tolist()
    return {
        "name": NAME,
        "version": VERSION,
        "num_points": NUM_POINTS,
        "vertices": vertices,
        "landmarks68": landmarks68,
        "extras": extra_index,
        "triangles": triangles.tolist(),
        "aflw21": aflw,
        "regions": regions,
        "mirror": mirror_map(dense_xyz).tolist(),
    }


def orient(triangles: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The triangles wound consistently and outwards: each shares every interior edge with its
    neighbour traversed the other way, spreading from the triangle facing the viewer (+z) most
    squarely in each connected piece. (Orienting each triangle by its own normal is not enough:
    on eyelids, nostrils and lip corners the surface folds away from the viewer.)"""
    tris = np.array(triangles, np.int64)
    normal_z = np.cross(points[tris[:, 1]] - points[tris[:, 0]], points[tris[:, 2]] - points[tris[:, 0]])[:, 2]
    by_edge: dict[tuple[int, int], list[int]] = {}
    for i, t in enumerate(tris):
        for k in range(3):
            a, b = int(t[k]), int(t[(k + 1) % 3])
            by_edge.setdefault((min(a, b), max(a, b)), []).append(i)
    done = np.zeros(len(tris), bool)
    for seed in np.argsort(-np.abs(normal_z)):
        if done[seed]:
            continue
        if normal_z[seed] < 0:
            tris[seed] = tris[seed][[0, 2, 1]]
        done[seed], queue = True, [int(seed)]
        while queue:
            i = queue.pop()
            for k in range(3):
                a, b = int(tris[i][k]), int(tris[i][(k + 1) % 3])
                for j in by_edge[(min(a, b), max(a, b))]:
                    if done[j]:
                        continue
                    # the neighbour must run b -> a along the shared edge
                    if any(int(tris[j][m]) == a and int(tris[j][(m + 1) % 3]) == b for m in range(3)):
                        tris[j] = tris[j][[0, 2, 1]]
                    done[j] = True
                    queue.append(j)
    return tris


def boundary_loops(triangles: np.ndarray) -> list[list[int]]:
    """Each hole's rim (and the outer rim) as a vertex loop, in the direction its triangles run."""
    count: dict[tuple[int, int], int] = {}
    for t in triangles:
        for k in range(3):
            key = tuple(sorted((int(t[k]), int(t[(k + 1) % 3]))))
            count[key] = count.get(key, 0) + 1
    following = {}
    for t in triangles:
        for k in range(3):
            a, b = int(t[k]), int(t[(k + 1) % 3])
            if count[tuple(sorted((a, b)))] == 1:
                following[a] = b
    loops, seen = [], set()
    for start in following:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = following[v]
        loops.append(loop)
    return loops


def attach_free_points(triangles: np.ndarray, points: np.ndarray, free: list[int]) -> np.ndarray:
    """Give every point a triangle, so that mesh loaders (which drop unreferenced vertices) keep
    all of them in order: a point inside a small rim (a pupil in its eye opening) closes that hole
    with a fan; any other (an ear lobe beside the outer rim) joins the nearest rim edge. New
    triangles run against their rim edge, keeping the winding consistent."""
    loops = boundary_loops(triangles)
    outer = max(loops, key=len)
    added = []
    for p in free:
        inside = [
            loop
            for loop in loops
            if loop is not outer
            and np.linalg.norm(points[loop, :2].mean(0) - points[p, :2]) < np.ptp(points[loop, :2], 0).max() / 2
        ]
        if inside:
            loop = inside[0]
            added += [(loop[(k + 1) % len(loop)], loop[k], p) for k in range(len(loop))]
        else:
            edges = [(outer[k], outer[(k + 1) % len(outer)]) for k in range(len(outer))]
            a, b = min(edges, key=lambda e: np.linalg.norm((points[e[0]] + points[e[1]]) / 2 - points[p]))
            added.append((b, a, p))
    return np.concatenate([triangles, np.array(added, np.int64).reshape(-1, 3)])


def mirror_map(points: np.ndarray) -> np.ndarray:
    """For each point, the point nearest its mirror image across the face's midplane (x = 0 on
    the neutral face): what a horizontally flipped photo turns each point into."""
    mirrored = points * np.array([-1.0, 1.0, 1.0])
    return np.linalg.norm(points[:, None, :] - mirrored[None, :, :], axis=2).argmin(1)


def aflw21_matrix(topo: dict) -> np.ndarray:
    """(21, num_points) weights that make AFLW's 21 points from the dense points."""
    matrix = np.zeros((21, len(topo["vertices"])), np.float32)
    for k, entry in enumerate(topo["aflw21"]):
        matrix[k, entry["points"]] = entry["weights"]
    return matrix


def load() -> dict:
    return json.loads(TOPOLOGY_FILE.read_text())
