"""Where the non-Python tools of the platform tests are, and what to do when one is missing.

`.ci/run` and README's test command install them (tests/install_platform_tools.sh) and set
EDGEFACE_PLATFORM_TESTS=required, which turns a missing tool into a failure instead of a skip, so
CI cannot pass by skipping the Android and aarch64 checks.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def require(what: str, found) -> None:
    if found:
        return
    message = f"{what} not found: run tests/install_platform_tools.sh"
    if os.environ.get("EDGEFACE_PLATFORM_TESTS") == "required":
        pytest.fail(message)
    pytest.skip(message)


def kotlinc() -> Path | None:
    for candidate in (os.environ.get("KOTLINC"), REPO / "android_demo" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc",
                      shutil.which("kotlinc")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def jar(*names: str) -> Path | None:
    for name in names:
        path = Path("/usr/share/java") / name
        if path.is_file():
            return path
    return None
