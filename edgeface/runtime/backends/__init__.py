"""Inference backends: one small module each, behind the `Backend` protocol.

A backend knows how to load one model file and run a batch through it; nothing else. It is handed
the file's bytes (`ModelBytes`), already checked against the manifest's sha256, and never opens a
file itself: a file the manifest does not name and hash (an OpenVINO weights file left out of
`companions`, an ONNX external-data file) cannot be read.
Pre-processing, (de)quantization, output naming and decoding are shared (`edgeface.runtime.model`),
so every backend gives the same answer for the same input.

`auto` takes the first installed backend of `AUTO_ORDER` that has a file of the requested
precision: fastest first by single-image latency (docs/network_benchmarks.md), TFLite first for int8
because its int8 kernels are the mobile path (docs/experiments.md, "Runtime defaults").
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from ..errors import BackendNotInstalledError, OptionError


@dataclass(frozen=True)
class TensorInfo:
    """What a model file says about one of its tensors."""

    name: str
    shape: tuple  # None for a dynamic dimension
    dtype: str  # numpy dtype name: "float32", "int8", "uint8"
    quantization: tuple[float, int] | None = None  # (scale, zero_point) of an integer tensor


class Backend(Protocol):
    """Load a model file; run a batch of already pre-processed crops.

    `run` takes one array laid out and typed exactly as `inputs[0]` describes (any batch size)
    and returns one array per entry of `outputs`, in that order, as the file produced them.
    """

    name: str
    file_format: str  # "tflite", "onnx", "openvino" or "torch"
    inputs: Sequence[TensorInfo]
    outputs: Sequence[TensorInfo]

    def run(self, batch: np.ndarray) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class ModelBytes:
    """A model file's bytes and its companions' (by file name), as the manifest listed and hashed them."""

    name: str
    content: bytes
    companions: dict


@dataclass(frozen=True)
class BackendSpec:
    name: str
    module: str  # edgeface.runtime.backends.<module>
    file_format: str
    probe: tuple[str, ...]  # importable modules that make it available, first found wins
    extra: str  # pip extra that installs it


BACKENDS: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("onnx", "onnx", "onnx", ("onnxruntime",), "onnx"),
        BackendSpec("openvino", "openvino", "openvino", ("openvino",), "openvino"),
        BackendSpec(
            "tflite",
            "tflite",
            "tflite",
            ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow"),
            "tflite",
        ),
        BackendSpec("torch", "torch", "torch", ("torch",), "train"),
    )
}

AUTO_ORDER = {
    "fp32": ("tflite", "onnx", "openvino"),
    "int8": ("tflite", "onnx", "openvino"),
}
#: backends whose files can run code when loaded (a .pt2 is unpickled): never chosen by `auto`,
#: and loaded only for a caller who trusts the pack (SECURITY.md)
UNSAFE = ("torch",)


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing raises instead of returning None
        return False


def installed() -> list[str]:
    """Names of the backends whose runtime library is importable here."""
    return [name for name, spec in BACKENDS.items() if any(importable(m) for m in spec.probe)]


def require(name: str) -> BackendSpec:
    """The spec of backend `name`, or a BackendNotInstalledError that says how to get it."""
    if name not in BACKENDS:
        raise OptionError(f"unknown backend {name!r}; choose one of {sorted(BACKENDS)} or 'auto'")
    spec = BACKENDS[name]
    if name not in installed():
        raise BackendNotInstalledError(
            f"backend {name!r} is not installed: pip install 'edgeface[{spec.extra}]'. "
            f"Installed backends: {', '.join(installed()) or 'none'}"
        )
    return spec


def load(name: str, model: ModelBytes, num_threads: int | None) -> Backend:
    """Create backend `name` for a model file's checked bytes."""
    spec = require(name)
    module = importlib.import_module(f"{__name__}.{spec.module}")
    return module.load(model, num_threads=num_threads)
