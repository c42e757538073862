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
    """Whether int8 is expected to beat fp32 for this format here (measured: docs/benchmarks.md).

    With a dot-product int8 instruction (VNNI, AMX, ARM dotprod), for every format: measured on
    x86 with AVX-512 VNNI, 1 thread, TFLite 0.42 ms int8 against 0.64 ms fp32, ONNX Runtime 0.70
    against 0.86, OpenVINO 0.81 against 1.52. Without one, x86 int8 was measured rarely faster
    (team notes, AVX2-only CPU). The ARM rule (TFLite and ONNX Runtime int8 on any ARM core) is an
    expectation, not yet measured on ARM hardware.
    """
    dot = bool(features() & INT8_DOT_PRODUCT)
    return dot or (is_arm() and file_format in ("tflite", "onnx"))
