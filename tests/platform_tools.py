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
    for candidate in (
        os.environ.get("KOTLINC"),
        REPO / "android_demo" / "node_modules" / "kotlin-compiler" / "bin" / "kotlinc",
        shutil.which("kotlinc"),
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def jar(*names: str) -> Path | None:
    for name in names:
        path = Path("/usr/share/java") / name
        if path.is_file():
            return path
    return None


# -- an arm64 Debian userland run under qemu-user (tests/test_aarch64.py) ----------------------

#: Raspberry Pi OS Bookworm's Debian release and Python; the wheels the README tells Pi users to install.
AARCH64_SUITE = "bookworm"
AARCH64_DEBS = ["python3.11", "libpython3.11-stdlib", "libstdc++6", "libgomp1"]
#: What `pip install 'edgeface[tflite,onnx]'` needs, as pyproject.toml declares it, pinned to the releases checked.
AARCH64_EXTRAS = ("tflite", "onnx")
AARCH64_PINS = ["numpy==2.4.6", "opencv-python-headless==5.0.0.93", "ai-edge-litert==2.3.0", "onnxruntime==1.32.0"]
#: pip --platform takes exact tags: every manylinux tag that bookworm's glibc 2.36 accepts.
AARCH64_PLATFORMS = ["manylinux2014_aarch64", *(f"manylinux_2_{minor}_aarch64" for minor in range(17, 37))]


def run_as_root(command: list[str]) -> list[str]:
    """chroot needs root: as root run it as is, otherwise inside a user namespace that maps us to root."""
    return command if os.geteuid() == 0 else ["unshare", "--map-root-user", *command]


def runtime_requirements(extras) -> list[str]:
    """The runtime's requirements with these extras, read from pyproject.toml."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        pytest.skip("reading pyproject.toml needs Python 3.11's tomllib")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *(r for e in extras for r in project["optional-dependencies"][e])]


def pip_for_aarch64() -> list[str]:
    """pip installing aarch64 CPython 3.11 wheels only (Bookworm's Python), whatever this machine is."""
    import sys

    platforms = [arg for tag in AARCH64_PLATFORMS for arg in ("--platform", tag)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--only-binary=:all:",
        *platforms,
        "--python-version",
        "3.11",
        "--implementation",
        "cp",
    ]


def aarch64_userland(cache: Path) -> Path:
    """An arm64 Debian root filesystem with Python and the runtime's dependencies as aarch64 wheels
    (pyproject.toml's, for the tflite and onnx extras, pinned to the releases checked), built once and
    kept in `cache` (rebuilt when the package lists change). Packages are only unpacked
    (mmdebstrap's extract variant): nothing runs emulated until the test does. The tree has no
    /sys and no /proc, so a process chrooted into it cannot read the host's x86 CPU description
    (TFLite crashes under qemu when it does)."""
    import json
    import subprocess

    requirements = runtime_requirements(AARCH64_EXTRAS)
    key = json.dumps([AARCH64_SUITE, AARCH64_DEBS, requirements, AARCH64_PINS])
    root, stamp = cache / "rootfs", cache / "built-from.json"
    if stamp.exists() and stamp.read_text() == key:
        return root
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    subprocess.run(
        [
            "mmdebstrap",
            "--quiet",
            "--mode=auto",
            "--variant=extract",
            "--architectures=arm64",
            f"--include={','.join(AARCH64_DEBS)}",
            AARCH64_SUITE,
            str(root),
            "http://deb.debian.org/debian",
        ],
        check=True,
        capture_output=True,
        timeout=1200,
    )
    pins = cache / "pins.txt"
    pins.write_text("\n".join(AARCH64_PINS) + "\n")
    subprocess.run(
        [*pip_for_aarch64(), "--target", str(root / "opt" / "wheels"), "--constraint", str(pins), *requirements],
        check=True,
        capture_output=True,
        timeout=1800,
    )
    shutil.copy(shutil.which("qemu-aarch64-static"), root / "usr" / "bin" / "qemu-aarch64-static")
    stamp.write_text(key)
    return root
