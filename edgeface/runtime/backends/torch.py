"""PyTorch backend, for development: runs an exported program (.pt2, torch.export)."""
from __future__ import annotations

import numpy as np
import torch

from . import TensorInfo

name = "torch"
file_format = "torch"


class TorchBackend:
    name = name
    file_format = file_format

    def __init__(self, path, num_threads: int | None = None):
        if num_threads:
            torch.set_num_threads(num_threads)
        program = torch.export.load(str(path))
        self._module = program.module()
        placeholder = next(n for n in program.graph.nodes
                           if n.op == "placeholder" and n.name in program.graph_signature.user_inputs)
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


def load(path, num_threads: int | None = None) -> TorchBackend:
    return TorchBackend(path, num_threads)
