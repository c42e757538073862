"""OpenVINO backend (CPU plugin), reading IR (.xml + .bin) or ONNX."""
from __future__ import annotations

import numpy as np
import openvino as ov

from . import TensorInfo

name = "openvino"
file_format = "openvino"

_DTYPES = {"f32": "float32", "i8": "int8", "u8": "uint8"}


def _info(port) -> TensorInfo:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorInfo(port.get_any_name(), shape, _DTYPES.get(port.get_element_type().get_type_name(),
                                                              port.get_element_type().get_type_name()))


class OpenVinoBackend:
    name = name
    file_format = file_format

    def __init__(self, path, num_threads: int | None = None):
        core = ov.Core()
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        model = core.read_model(str(path))
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.inputs = [_info(p) for p in self._compiled.inputs]
        self.outputs = [_info(p) for p in self._compiled.outputs]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self._request.infer({0: batch})
        return [np.array(result[port]) for port in self._compiled.outputs]


def load(path, num_threads: int | None = None) -> OpenVinoBackend:
    return OpenVinoBackend(path, num_threads)
