"""Convert the public ICT-FaceKit OBJ release (`FaceXModel/`) to the one-file npz edgeface reads.

    edgeface data ict --facekit ICT-FaceKit/FaceXModel --out ict_facekit.npz

Keeps the first 24,591 vertices (face, head and neck, mouth socket, eye sockets, gums and tongue,
teeth, eyeballs) and drops the lacrimal fluid, eye blend, eye occlusion and eyelash meshes; splits
quads into (0, 1, 2) and (0, 2, 3); stores bases as float16 deltas from the neutral mesh.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

KEPT_VERTICES = 24591
PARTS = (
    ("face", 0, 9409),
    ("face_narrow", 0, 6706),
    ("head_neck", 9409, 11248),
    ("mouth_socket", 11248, 13294),
    ("eye_socket_left", 13294, 13678),
    ("eye_socket_right", 13678, 14062),
    ("gums_tongue", 14062, 17039),
    ("teeth", 17039, 21451),
    ("eyeball_left", 21451, 23021),
    ("eyeball_right", 23021, 24591),
)
MATERIALS = (
    "M_Face",
    "M_BackHead",
    "M_GumsTongue",
    "M_Teeth",
    "M_ScleraLeft",
    "M_IrisLeft",
    "M_ScleraRight",
    "M_IrisRight",
    "M_LacrimalFluid",
    "M_EyeBlend",
    "M_EyeOcclusion",
    "M_EyeLashes",
)


def read_obj(path) -> dict:
    vertices, uv, faces, face_uv, material, current = [], [], [], [], [], None
    with open(path) as f:
        for line in f:
            if line.startswith("v "):
                vertices.append(line.split()[1:4])
            elif line.startswith("vt "):
                uv.append(line.split()[1:3])
            elif line.startswith("usemtl"):
                current = line.split()[1]
            elif line.startswith("f "):
                corners = [c.split("/") for c in line.split()[1:]]
                faces.append([int(c[0]) - 1 for c in corners])
                face_uv.append([int(c[1]) - 1 if len(c) > 1 and c[1] else -1 for c in corners])
                material.append(current)
    return {
        "vertices": np.asarray(vertices, np.float32),
        "uv": np.asarray(uv, np.float32),
        "faces": faces,
        "face_uv": face_uv,
        "material": material,
    }


def _triangulate(faces, face_uv, material):
    tris, tri_uv, tri_mat = [], [], []
    for f, u, m in zip(faces, face_uv, material):
        if max(f) >= KEPT_VERTICES:
            continue
        for a, b, c in ((0, 1, 2), (0, 2, 3))[: len(f) - 2]:
            tris.append([f[a], f[b], f[c]])
            tri_uv.append([u[a], u[b], u[c]])
            tri_mat.append(MATERIALS.index(m))
    return np.asarray(tris, np.int32), np.asarray(tri_uv, np.int32), np.asarray(tri_mat, np.int16)


def convert(facekit, identities: int | None = None, expressions=None) -> dict:
    """Arrays of the npz from a FaceXModel folder; `identities` / `expressions` limit what is read
    (all by default: identity000..identity099 and the 53 expressions of vertex_indices.json)."""
    folder = Path(facekit)
    meta = json.loads((folder / "vertex_indices.json").read_text())
    names = list(expressions or meta["expressions"])
    neutral = read_obj(folder / "generic_neutral_mesh.obj")
    base = neutral["vertices"][:KEPT_VERTICES]
    count = identities if identities is not None else len(list(folder.glob("identity[0-9][0-9][0-9].obj")))

    def delta(path):
        return (read_obj(path)["vertices"][:KEPT_VERTICES] - base).astype(np.float16)

    from tqdm import tqdm

    id_basis = np.stack([delta(folder / f"identity{k:03d}.obj") for k in tqdm(range(count), desc="identities")])
    exp_basis = np.stack([delta(folder / f"{n}.obj") for n in tqdm(names, desc="expressions")])
    triangles, triangle_uv, triangle_material = _triangulate(neutral["faces"], neutral["face_uv"], neutral["material"])
    return {
        "neutral": base,
        "id_basis": id_basis,
        "exp_basis": exp_basis,
        "exp_names": np.array(names),
        "triangles": triangles,
        "triangle_uv": triangle_uv,
        "uv": neutral["uv"],
        "triangle_material": triangle_material,
        "material_names": np.array(MATERIALS),
        "landmarks68": np.asarray(meta["idx_to_landmark_verts"], np.int32),
        "rigid_vertices": np.asarray(meta["idx_to_rigid_verts"], np.int32),
        "part_names": np.array([p[0] for p in PARTS]),
        "part_ranges": np.array([p[1:] for p in PARTS], np.int32),
        "units": np.array("cm"),
        "source": np.array(f"ICT-FaceKit FaceXModel (MIT), converted from {folder.name}"),
    }
