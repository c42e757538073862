"""Turn whatever the caller passed into one validated 8-bit BGR image.

Every entry point (Python API, CLI, evaluation) goes through `load_image`, so the rules on
what is accepted live here only.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

#: Larger images are refused: decoding them would take gigabytes. (Large ones below the limit are
#: downscaled for detection only; crops come from the original.)
MAX_PIXELS = 100_000_000


def load_image(image, color: str = "bgr") -> np.ndarray:
    """Return a C-contiguous (H, W, 3) uint8 BGR image.

    `image` is a path (str or Path) or a numpy array. Arrays are (H, W, 3) uint8 in the
    channel order named by `color` ("bgr", OpenCV's, or "rgb"). Anything else (grayscale,
    alpha, 16-bit, float, empty) is refused with an ImageError that says what it is, because
    silently converting it would hide a caller's bug and give a wrong answer.
    """
    if color not in ("bgr", "rgb"):
        raise ValueError(f"color must be 'bgr' or 'rgb', not {color!r}")
    if isinstance(image, (str, os.PathLike)):
        return _read_file(Path(image))
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a file path or a numpy array, not {type(image).__name__}")
    _check_array(image)
    if color == "rgb":
        image = image[..., ::-1]
    return np.ascontiguousarray(image)


def _check_array(image: np.ndarray) -> None:
    if image.size == 0:
        raise ImageError(f"image is empty (shape {image.shape})")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        raise ImageError(
            f"image is grayscale (shape {image.shape}); edgeface needs a 3-channel colour image: "
            "convert it with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if grayscale is really what you have")
    if image.ndim != 3:
        raise ImageError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.shape[2] == 4:
        raise ImageError(
            "image has 4 channels (an alpha channel); drop it first, e.g. cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)")
    if image.shape[2] != 3:
        raise ImageError(f"image must have 3 channels, got {image.shape[2]}")
    if image.dtype == np.uint16:
        raise ImageError(
            "image is 16-bit; edgeface needs 8-bit colour: scale it, e.g. (img >> 8).astype(np.uint8)")
    if image.dtype.kind == "f":
        raise ImageError(
            f"image is floating point ({image.dtype}); edgeface needs uint8 in [0, 255]: "
            "convert it, e.g. (img * 255).clip(0, 255).astype(np.uint8) if it holds values in [0, 1]")
    if image.dtype != np.uint8:
        raise ImageError(f"image must be uint8, got {image.dtype}")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise ImageError(f"image is {image.shape[1]}x{image.shape[0]} pixels, over the limit of {MAX_PIXELS:,}")


def _read_file(path: Path) -> np.ndarray:
    if not path.exists():
        raise ImageError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageError(f"image path is a directory: {path}")
    data = np.fromfile(path, dtype=np.uint8)  # fromfile + imdecode also handles non-ASCII paths
    if data.size == 0:
        raise ImageError(f"image file is empty: {path}")
    if _is_truncated(data):
        raise ImageError(f"image file is truncated (its end-of-image marker is missing): {path}")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ImageError(f"cannot decode image file (not an image, or truncated/corrupt): {path}")
    if image.ndim == 2:
        # A grayscale file is a legitimate photo format; the array API refuses grayscale only
        # because there the caller controls the conversion.
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"image file {path} has unsupported pixel type {image.dtype}")
    _check_array(image)
    return image


def _is_truncated(data: np.ndarray) -> bool:
    """True for a JPEG or PNG whose end marker is missing.

    libjpeg decodes a cut-off JPEG into an image whose lower part is grey, with only a
    warning on stderr; results on it would be silently wrong, so it is refused instead.
    """
    head = data[:8].tobytes()
    tail = data[-64:].tobytes()
    if head[:3] == b"\xff\xd8\xff":
        return b"\xff\xd9" not in tail
    if head == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in tail
    return False
