"""The ICT-FaceKit morphable model (MIT): load, sample, decode; numpy here, a torch twin for training.

Units are centimetres; model coordinates are x to the subject's left, y up, z towards the viewer
(edgeface.runtime.geometry). Identity weights are ~N(0, 1) per component; expression weights are the 53
ARKit blendshapes in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgefaceError
from ..tools.datasets import data_root


@dataclass
class MorphableModel:
    neutral: np.ndarray  # (V, 3) float32
    id_basis: np.ndarray  # (K_id, V, 3) float32
    exp_basis: np.ndarray  # (K_exp, V, 3) float32
    exp_names: list[str]
    triangles: np.ndarray  # (T, 3) int32
    landmarks68: np.ndarray  # (68,) int32
    part_ranges: dict[str, tuple[int, int]]
    vertex_ids: np.ndarray | None = None  # for a subset: the full model's ids of its vertices

    @staticmethod
    def default_path() -> Path | None:
        """`ict_facekit.npz` in the data folder (EDGEFACE_DATA), if there is one."""
        root = data_root()
        return root / "ict_facekit.npz" if root else None

    @classmethod
    def load(cls, path=None) -> "MorphableModel":
        """Read `ict_facekit.npz` from `path`, or from the data folder (EDGEFACE_DATA)."""
        path = path or cls.default_path()
        if path is None or not Path(path).exists():
            raise EdgefaceError(f"ICT-FaceKit model not found ({path}); set EDGEFACE_DATA or pass its path")
        d = np.load(path)
        if "vertex_ids" in d.files:  # a subset written by `save`
            return cls(
                d["neutral"],
                d["id_basis"].astype(np.float32),
                d["exp_basis"].astype(np.float32),
                [str(n) for n in d["exp_names"]],
                np.zeros((0, 3), np.int32),
                np.zeros(0, np.int32),
                {},
                d["vertex_ids"],
            )
        return cls(
            neutral=d["neutral"].astype(np.float32),
            id_basis=d["id_basis"].astype(np.float32),
            exp_basis=d["exp_basis"].astype(np.float32),
            exp_names=[str(n) for n in d["exp_names"]],
            triangles=d["triangles"].astype(np.int32),
            landmarks68=d["landmarks68"].astype(np.int32),
            part_ranges={str(n): (int(a), int(b)) for n, (a, b) in zip(d["part_names"], d["part_ranges"])},
        )

    @property
    def num_vertices(self) -> int:
        return len(self.neutral)

    def part(self, name: str) -> np.ndarray:
        a, b = self.part_ranges[name]
        return np.arange(a, b)

    def decode(self, identity=None, expression=None, vertices=None) -> np.ndarray:
        """Vertices for identity (K <= K_id) and expression (53) weights, optionally a subset."""
        idx = slice(None) if vertices is None else np.asarray(vertices)
        out = self.neutral[idx].copy()
        if identity is not None:
            k = len(identity)
            out += np.tensordot(np.asarray(identity, np.float32), self.id_basis[:k, idx], axes=1)
        if expression is not None:
            out += np.tensordot(np.asarray(expression, np.float32), self.exp_basis[:, idx], axes=1)
        return out

    def subset(self, vertices: np.ndarray, identity_size: int | None = None) -> "MorphableModel":
        """The model restricted to some vertices (e.g. the 520 of the dense topology)."""
        v = np.asarray(vertices)
        if self.vertex_ids is not None:
            if np.array_equal(v, self.vertex_ids):
                v = np.arange(len(v))
            else:
                raise EdgefaceError("this morphable model is already a subset of other vertices")
        k = identity_size or len(self.id_basis)
        return MorphableModel(
            self.neutral[v],
            self.id_basis[:k, v],
            self.exp_basis[:, v],
            self.exp_names,
            np.zeros((0, 3), np.int32),
            np.zeros(0, np.int32),
            {},
            np.asarray(vertices) if self.vertex_ids is None else self.vertex_ids,
        )

    def save(self, path) -> None:
        """Write a subset (e.g. the 520 dense vertices; kilobytes, not the full model) to npz."""
        if self.vertex_ids is None:
            raise EdgefaceError("save() writes subsets only; the full model stays where it was read from")
        np.savez(
            path,
            neutral=self.neutral,
            id_basis=self.id_basis.astype(np.float16),
            exp_basis=self.exp_basis.astype(np.float16),
            exp_names=np.array(self.exp_names),
            vertex_ids=self.vertex_ids,
        )


def torch_decoder(model: MorphableModel, identity_size: int):
    """A torch module decoding (identity, expression) weights to vertices: the in-graph decoder.

    Its bases are buffers, so an exported network carries them and the runtime needs no basis file.
    """
    import torch
    from torch import nn

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            v = model.num_vertices
            self.register_buffer("neutral", torch.from_numpy(model.neutral.reshape(1, v * 3)))
            self.register_buffer(
                "id_basis", torch.from_numpy(model.id_basis[:identity_size].reshape(identity_size, v * 3))
            )
            self.register_buffer("exp_basis", torch.from_numpy(model.exp_basis.reshape(len(model.exp_basis), v * 3)))
            self.num_vertices = v

        def forward(self, identity, expression):
            flat = self.neutral + identity @ self.id_basis + expression @ self.exp_basis
            return flat.view(-1, self.num_vertices, 3)

    return Decoder()
