"""PyTorch backend, for development: runs an exported program (.pt2, torch.export).

Loading a .pt2 unpickles it, and a pickle can run code: this backend is never chosen by `auto`
and loads only when the caller trusts the pack (`EDGEFACE_TRUST_TORCH_FILES=1`, SECURITY.md).
"""

from __future__ import annotations

import io
import os

import numpy as np
import torch

from . import ModelBytes, TensorInfo

#: the environment variable that says the caller trusts the .pt2 files it loads
TRUST = "EDGEFACE_TRUST_TORCH_FILES"


class UntrustedFile(PermissionError):
    """A .pt2 file was to be loaded without the caller's trust."""


name = "torch"
file_format = "torch"


class TorchBackend:
    name = name
    file_format = file_format

    def __init__(self, model: ModelBytes, num_threads: int | None = None):
        if os.environ.get(TRUST) != "1":
            raise UntrustedFile(
                f"loading a .pt2 file can run code from it; the torch backend is for development: "
                f"set {TRUST}=1 to load files you made yourself"
            )
        if num_threads:
            torch.set_num_threads(num_threads)
        program = torch.export.load(io.BytesIO(model.content))
        self._module = program.module()
        placeholder = next(
            n for n in program.graph.nodes if n.op == "placeholder" and n.name in program.graph_signature.user_inputs
        )
        value = placeholder.meta["val"]
        shape = tuple(int(d) if isinstance(d, int) else None for d in value.shape)
        self.inputs = [TensorInfo("image", shape, str(value.dtype).replace("torch.", ""))]
        outputs = [n for n in program.graph.nodes if n.op == "output"][0].args[0]
        self.outputs = []
        for i, node in enumerate(outputs):
            val = node.meta["val"]
            shape = tuple(int(d) if isinstance(d, int) else None for d in val.shape)
            self.outputs.append(TensorInfo(f"output_{i}", shape, str(val.dtype).replace("torch.", "")))

    @torch.inference_mode()
    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self._module(torch.from_numpy(batch))
        return [t.numpy() for t in result]


def load(model: ModelBytes, num_threads: int | None = None) -> TorchBackend:
    return TorchBackend(model, num_threads)
