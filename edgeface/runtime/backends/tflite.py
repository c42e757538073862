"""TFLite backend: ai-edge-litert, else tflite-runtime, else TensorFlow's bundled interpreter."""

from __future__ import annotations

import numpy as np

from . import ModelBytes, TensorInfo

name = "tflite"
file_format = "tflite"


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            from tensorflow.lite import Interpreter
    return Interpreter


def _info(detail) -> TensorInfo:
    signature = detail.get("shape_signature", detail["shape"])
    shape = tuple(None if d < 0 else int(d) for d in signature)
    scale, zero_point = detail.get("quantization", (0.0, 0))
    quant = (float(scale), int(zero_point)) if scale else None
    return TensorInfo(detail["name"], shape, np.dtype(detail["dtype"]).name, quant)


class TfliteBackend:
    name = name
    file_format = file_format

    def __init__(self, model, num_threads: int | None = None):
        """`model`: a pack file's checked bytes (ModelBytes), or the path of a file of the package."""
        if isinstance(model, ModelBytes):
            if model.companions:
                raise ValueError("a TFLite file takes no companion files")
            self._content = model.content  # the interpreter reads from this buffer: keep it alive
            self._interpreter = _interpreter_class()(model_content=self._content, num_threads=num_threads)
        else:
            self._interpreter = _interpreter_class()(model_path=str(model), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self.inputs = [_info(d) for d in self._interpreter.get_input_details()]
        self.outputs = [_info(d) for d in self._outputs]
        self._batch = int(self._input["shape"][0])
        self._fixed_batch = self.inputs[0].shape[0] is not None

    def _resize(self, batch: int) -> None:
        shape = list(self._input["shape"])
        shape[0] = batch
        self._interpreter.resize_tensor_input(self._input["index"], shape)
        self._interpreter.allocate_tensors()
        self._batch = batch

    def _run_once(self, batch: np.ndarray) -> list[np.ndarray]:
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(d["index"]).copy() for d in self._outputs]

    def run(self, batch: np.ndarray) -> list[np.ndarray]:
        n = batch.shape[0]
        if self._fixed_batch and n != self._batch:
            # A file exported with a fixed batch runs image by image (resizing its
            # first dimension is not supported by every converted graph).
            parts = [self._run_once(batch[i : i + 1]) for i in range(n)]
            return [np.concatenate(arrays) for arrays in zip(*parts)]
        if n != self._batch:
            self._resize(n)
        return self._run_once(batch)


def load(model: ModelBytes, num_threads: int | None = None) -> TfliteBackend:
    return TfliteBackend(model, num_threads)
