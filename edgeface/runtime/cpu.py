"""What the CPU offers for integer inference, read once from /proc/cpuinfo (Linux)."""

from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path

#: Features that decide whether int8 kernels beat fp32: x86 VNNI/AMX dot products, ARM dot product/i8mm.
INT8_DOT_PRODUCT = {"avx512_vnni", "avx_vnni", "amx_int8", "asimddp", "i8mm"}
REPORTED = INT8_DOT_PRODUCT | {"avx2", "avx512f", "avx512_bf16", "asimd", "fp16", "sve"}


@lru_cache(maxsize=1)
def features() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    flags = set()
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            flags.update(line.split(":", 1)[1].split())
    return frozenset(flags & REPORTED)


def is_arm() -> bool:
    return platform.machine().lower() in ("aarch64", "arm64", "armv7l", "armv8l")


def int8_is_faster(file_format: str) -> bool:
    """Whether int8 is expected to beat fp32 for this format here: with a dot-product int8
    instruction (VNNI, AMX, ARM dotprod) for every format, and on any ARM core for TFLite and
    ONNX Runtime (the measurements behind this: docs/experiments.md, "Runtime defaults")."""
    dot = bool(features() & INT8_DOT_PRODUCT)
    return dot or (is_arm() and file_format in ("tflite", "onnx"))
