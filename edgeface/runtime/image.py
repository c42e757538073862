"""Turn whatever the caller passed into one validated 8-bit BGR image.

Every entry point (Python API, CLI, evaluation) goes through `load_image`, so the rules on
what is accepted live here only.

Files are JPEG, PNG, BMP or WebP. Each file's header is read before any pixel is decoded:
its declared size must be under `MAX_PIXELS`, and for JPEG and PNG the file must hold enough
data for that size (a compressor cannot shrink pixels below a known floor), so a small file that
declares a huge image (a decompression bomb) is refused without allocating it. JPEG and PNG
files must also be complete (an end marker after the image data; bytes after it, such as phone
trailers or Motion Photo videos, are ignored). EXIF orientation is applied, as photo viewers do,
so a sideways-stored phone photo is reconstructed upright.
"""

from __future__ import annotations

import os
import re
import stat
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError, OptionError

#: Larger images are refused: decoding them would take gigabytes. (Large ones below the limit are
#: downscaled for detection only; crops come from the original.)
MAX_PIXELS = 100_000_000
#: Larger files are refused before they are read.
MAX_FILE_BYTES = 256 * 1024 * 1024
FORMATS = "JPEG, PNG, BMP or WebP"
#: the most pixels a WebP file may declare per byte it holds
WEBP_PIXELS_PER_BYTE = 4096


def load_image(image, color: str = "bgr") -> np.ndarray:
    """Return a C-contiguous (H, W, 3) uint8 BGR image.

    `image` is a path (str or Path), the bytes of an image file, or a numpy array. Arrays are
    (H, W, 3) uint8 in the channel order named by `color` ("bgr", OpenCV's, or "rgb"). Anything
    else (grayscale, alpha, 16-bit, float, empty) is refused with an ImageError that says what it
    is, because silently converting it would hide a caller's bug and give a wrong answer.
    """
    if not isinstance(color, str) or color.lower() not in ("bgr", "rgb"):
        raise OptionError(f"color must be 'bgr' or 'rgb', not {color!r}")
    color = color.lower()
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        return decode(_read_file(path), str(path))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return decode(bytes(image), "image bytes")
    if not isinstance(image, np.ndarray):
        raise ImageError(f"image must be a file path, file bytes or a numpy array, not {type(image).__name__}")
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
            "convert it with cv2.cvtColor(img, cv2.COLOR_GRAY2BGR) if grayscale is really what you have"
        )
    if image.ndim != 3:
        raise ImageError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.shape[2] == 4:
        raise ImageError(
            "image has 4 channels (an alpha channel); drop it first, e.g. cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)"
        )
    if image.shape[2] != 3:
        raise ImageError(f"image must have 3 channels, got {image.shape[2]}")
    if image.dtype == np.uint16:
        raise ImageError("image is 16-bit; edgeface needs 8-bit colour: scale it, e.g. (img >> 8).astype(np.uint8)")
    if image.dtype.kind == "f":
        raise ImageError(
            f"image is floating point ({image.dtype}); edgeface needs uint8 in [0, 255]: "
            "convert it, e.g. (img * 255).clip(0, 255).astype(np.uint8) if it holds values in [0, 1]"
        )
    if image.dtype != np.uint8:
        raise ImageError(f"image must be uint8, got {image.dtype}")
    _check_pixels(image.shape[1], image.shape[0], "image")


def _check_pixels(width: int, height: int, what: str) -> None:
    if width * height > MAX_PIXELS:
        raise ImageError(f"{what} is {width}x{height} pixels, over the limit of {MAX_PIXELS:,}")


def _read_file(path: Path) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"image file not found: {path}") from None
    except OSError as error:
        raise ImageError(f"cannot read image file {path}: {error.strerror or error}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"image path is a directory: {path}")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"image path is not a regular file (a device, pipe or socket): {path}")
    if info.st_size > MAX_FILE_BYTES:
        raise ImageError(f"image file is {info.st_size:,} bytes, over the limit of {MAX_FILE_BYTES:,}: {path}")
    try:
        with open(path, "rb") as f:  # open + imdecode also handles non-ASCII paths
            return f.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ImageError(f"cannot read image file {path}: {error.strerror or error}") from None


@dataclass(frozen=True)
class Header:
    """What a file says about itself before any pixel is decoded."""

    format: str
    width: int
    height: int
    orientation: int = 1  # EXIF, 1-8; 1 = stored upright
    end: int | None = None  # offset just past the image data (JPEG, PNG)
    min_bytes: int = 0  # the least data that can hold the declared pixels


def decode(data: bytes, name: str = "image") -> np.ndarray:
    """The bytes of a JPEG, PNG, BMP or WebP file -> (H, W, 3) uint8 BGR, upright."""
    if not data:
        raise ImageError(f"image file is empty: {name}")
    header = probe(data, name)
    _check_pixels(header.width, header.height, f"{name} declares an image that")
    if header.width <= 0 or header.height <= 0:
        raise ImageError(f"{name} declares an image of {header.width}x{header.height} pixels")
    if len(data) < header.min_bytes:
        raise ImageError(
            f"{name} declares {header.width}x{header.height} pixels but holds only {len(data):,} "
            "bytes, too few for that many: it is corrupt or a decompression bomb"
        )
    if header.end is not None:
        data = data[: header.end]
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageError(f"cannot decode {name} ({header.format}): {_first_line(error)}") from None
    if image is None:
        raise ImageError(f"cannot decode image file (not an image, or truncated/corrupt): {name}")
    if image.ndim == 2:
        # A grayscale file is a legitimate photo format; the array API refuses grayscale only
        # because there the caller controls the conversion.
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.dtype == np.uint16:
        image = np.right_shift(image, 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"image file {name} has unsupported pixel type {image.dtype}")
    image = np.ascontiguousarray(orient(image, header.orientation))
    _check_array(image)
    return image


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image stored with this EXIF orientation upright (as PIL's exif_transpose)."""
    return {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }.get(orientation, lambda a: a)(image)


def probe(data: bytes, name: str = "image") -> Header:
    """Read a file's header: format, declared size, orientation, where the image data ends."""
    try:
        if data[:3] == b"\xff\xd8\xff":
            return _probe_jpeg(data, name)
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _probe_png(data, name)
        if data[:2] == b"BM" and len(data) >= 26:
            # OS/2 1.x headers (12 bytes) hold 16-bit sizes, and OpenCV decodes their pixels wrongly
            # (a 24-bit file comes back as one grey channel): refused rather than misread
            if struct.unpack_from("<I", data, 14)[0] == 12:
                raise ImageError(
                    f"cannot decode {name}: OS/2 1.x bitmaps are not supported (save it as a Windows BMP, PNG or JPEG)"
                )
            width, height = struct.unpack_from("<ii", data, 18)
            return Header("BMP", width, abs(height), min_bytes=(max(width, 0) * abs(height)) // 256)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _probe_webp(data, name)
    except struct.error:
        raise ImageError(f"{name} is truncated inside its header") from None
    raise ImageError(f"cannot decode {name}: not a {FORMATS} file")


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_ARITHMETIC = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# In entropy-coded data a 0xFF byte is followed by 0x00 (stuffing) or a restart marker; anything
# else starts the next segment.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
# Between segments: standalone markers (TEM, restarts) and fill bytes, any number, then the next
# segment's marker; possessive, so a file of a million fill bytes is walked at C speed, once.
_JPEG_SEGMENT = re.compile(rb"(?:\xff++[\x01\xd0-\xd7])*+\xff++([^\xff\x01\xd0-\xd7])")


def _probe_jpeg(data: bytes, name: str) -> Header:
    pos, size, orientation, arithmetic = 2, None, 1, False
    while True:
        if pos + 2 > len(data):
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        if data[pos] != 0xFF:
            raise ImageError(f"cannot decode {name}: a JPEG segment does not start with a marker")
        found = _JPEG_SEGMENT.match(data, pos)
        if found is None:
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        pos, marker = found.end() - 2, found.group(1)[0]
        if marker == 0xD9:
            end = pos + 2
            break
        if pos + 4 > len(data):
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        length = struct.unpack_from(">H", data, pos + 2)[0]
        body = data[pos + 4 : pos + 2 + length]
        if length < 2 or pos + 2 + length > len(data):
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        if marker in _JPEG_SOF and size is None:
            height, width = struct.unpack_from(">HH", body, 1)
            size, arithmetic = (width, height), marker in _JPEG_ARITHMETIC
        elif marker == 0xE1 and body[:6] == b"Exif\x00\x00":
            orientation = _exif_orientation(body[6:])
        pos += 2 + length
        if marker == 0xDA:  # start of scan: skip the entropy-coded data to the next marker
            found = _JPEG_NEXT_MARKER.search(data, pos)
            if found is None:
                raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
            pos = found.start()
    if size is None:
        raise ImageError(f"cannot decode {name}: the JPEG has no frame header")
    width, height = size
    # Huffman coding spends at least one bit per 8x8 block on its DC coefficient.
    floor = 0 if arithmetic else (width * height) // 512
    return Header("JPEG", width, height, orientation, end, floor)


def _probe_png(data: bytes, name: str) -> Header:
    pos, orientation, ihdr = 8, 1, None
    while True:
        if pos + 12 > len(data):
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        length, kind = struct.unpack_from(">I4s", data, pos)
        if pos + 12 + length > len(data):
            raise ImageError(f"image file is truncated (its end-of-image marker is missing): {name}")
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR" and length >= 13:
            ihdr = struct.unpack_from(">IIBB", body)
        elif kind == b"eXIf":
            orientation = _exif_orientation(body)
        pos += 12 + length
        if kind == b"IEND":
            break
    if ihdr is None:
        raise ImageError(f"cannot decode {name}: the PNG has no IHDR header")
    width, height, depth, colour = ihdr
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 4)
    raw = height * (1 + (width * channels * max(depth, 1) + 7) // 8)
    # deflate cannot compress beyond about 1032:1
    return Header("PNG", width, height, orientation, pos, raw // 1100)


def _probe_webp(data: bytes, name: str) -> Header:
    chunk = data[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
    elif chunk == b"VP8L":
        bits = struct.unpack_from("<I", data, 21)[0]
        width, height = 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    elif chunk == b"VP8 ":
        width, height = (v & 0x3FFF for v in struct.unpack_from("<HH", data, 26))
    else:
        raise ImageError(f"cannot decode {name}: unknown WebP chunk {chunk!r}")
    # neither WebP coder packs a photo below a byte per 4,096 pixels; a 4 KB file that declares
    # 100 megapixels is a decompression bomb
    return Header("WebP", width, height, min_bytes=(width * height) // WEBP_PIXELS_PER_BYTE)


def _exif_orientation(tiff: bytes) -> int:
    """The Orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block; 1 when absent or unreadable."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        ifd = struct.unpack_from(order + "I", tiff, 4)[0]
        count = struct.unpack_from(order + "H", tiff, ifd)[0]
        for i in range(min(count, 512)):
            tag, kind, _, value = struct.unpack_from(order + "HHI4s", tiff, ifd + 2 + 12 * i)
            if tag == 0x0112 and kind == 3:
                orientation = struct.unpack_from(order + "H", value)[0]
                return orientation if 1 <= orientation <= 8 else 1
    except (KeyError, struct.error):
        pass
    return 1


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__
