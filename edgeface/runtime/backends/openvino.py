"""OpenVINO backend (CPU plugin), reading IR (.xml + .bin) or ONNX."""

from __future__ import annotations

import numpy as np
import openvino as ov

from . import ModelBytes, TensorInfo

name = "openvino"
file_format = "openvino"

_DTYPES = {"f32": "float32", "i8": "int8", "u8": "uint8"}


def _name(port) -> str:
    """A port may carry several names (an ONNX output name and an internal one, e.g.
    '/Gather_9_output_0'); the plain one is the name the model was exported with."""
    names = sorted(port.get_names())
    plain = [n for n in names if "/" not in n and ":" not in n]
    return (plain or names or [port.get_any_name()])[0]


def _info(port) -> TensorInfo:
    shape = tuple(d.get_length() if d.is_static else None for d in port.get_partial_shape())
    return TensorInfo(
        _name(port),
        shape,
        _DTYPES.get(port.get_element_type().get_type_name(), port.get_element_type().get_type_name()),
    )


class OpenVinoBackend:
    name = name
    file_format = file_format

    def __init__(self, model: ModelBytes, num_threads: int | None = None):
        core = ov.Core()
        # On CPUs with bf16 support OpenVINO runs float layers in bf16 unless told otherwise;
        # that moves points by ~0.5 % of the crop. Quantized layers still run in int8.
        config: dict[str, str | int] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if num_threads:
            config["INFERENCE_NUM_THREADS"] = int(num_threads)
        weights = model.name.rsplit(".", 1)[0] + ".bin"
        if list(model.companions) != [weights]:
            raise ValueError(
                f"an OpenVINO file needs exactly its weights {weights!r} listed (and hashed) in the "
                f"manifest's companions; listed: {list(model.companions)}"
            )
        # from memory: the IR's weights are the listed, hashed bytes and nothing else on disk
        network = core.read_model(model.content, ov.Tensor(np.frombuffer(model.companions[weights], np.uint8)))
        self._compiled = core.compile_model(network, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self.inputs = [_info(p) for p in self._compiled.inputs]
        self.outputs = [_info(p) for p in self._compiled.outputs]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        result = self._request.infer({0: batch})
        return [np.array(result[port]) for port in self._compiled.outputs]


def load(model: ModelBytes, num_threads: int | None = None) -> OpenVinoBackend:
    return OpenVinoBackend(model, num_threads)
