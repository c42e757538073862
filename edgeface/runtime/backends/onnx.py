"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from . import ModelBytes, TensorInfo

name = "onnx"
file_format = "onnx"

_DTYPES = {"tensor(float)": "float32", "tensor(int8)": "int8", "tensor(uint8)": "uint8"}


def _info(node) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else None for d in node.shape)
    return TensorInfo(node.name, shape, _DTYPES.get(node.type, node.type))


class OnnxBackend:
    name = name
    file_format = file_format

    def __init__(self, model: ModelBytes, num_threads: int | None = None):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if num_threads:
            options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
        # Spinning threads burn a core while idle between frames; on 2-core boards that
        # slows the camera and detector threads more than it speeds up the network.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if model.companions:
            raise ValueError("an ONNX file takes no companion files (external data is not accepted)")
        # from bytes: a graph that names external data files cannot reach them
        self._session = ort.InferenceSession(model.content, options, providers=["CPUExecutionProvider"])
        self.inputs = [_info(n) for n in self._session.get_inputs()]
        self.outputs = [_info(n) for n in self._session.get_outputs()]
        self._input_name = self.inputs[0].name

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        return self._session.run(None, {self._input_name: batch})


def load(model: ModelBytes, num_threads: int | None = None) -> OnnxBackend:
    return OnnxBackend(model, num_threads)
