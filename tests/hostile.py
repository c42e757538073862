"""Hostile and awkward image files, built byte by byte: decompression bombs, EXIF-rotated photos,
files with trailers. Shared by the image tests, the fuzz harness and the refusal benchmark."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def with_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0) declaring another size; the scan data is unchanged."""
    pos = data.index(b"\xff\xc0")
    return data[: pos + 5] + struct.pack(">HH", height, width) + data[pos + 9 :]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(width: int, height: int, data_bytes: int | None = None) -> bytes:
    """An 8-bit RGB PNG of `width` x `height` black pixels. With `data_bytes`, only that much
    compressed image data is written (a header that lies about its content); otherwise all of it,
    streamed row by row so that building it never holds the pixels (20000^2 is about 1.2 MB)."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if data_bytes is not None:
        idat = zlib.compress(b"\x00" * 4096)[:data_bytes]
    else:
        packer, row, parts = zlib.compressobj(9), b"\x00" * (1 + 3 * width), []
        for _ in range(height):
            parts.append(packer.compress(row))
        parts.append(packer.flush())
        idat = b"".join(parts)
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def exif_orientation_block(orientation: int) -> bytes:
    """A big-endian TIFF block whose IFD0 holds one tag: Orientation."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    return b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def with_jpeg_orientation(data: bytes, orientation: int) -> bytes:
    body = b"Exif\x00\x00" + exif_orientation_block(orientation)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body + data[2:]


def with_png_orientation(data: bytes, orientation: int) -> bytes:
    end_of_ihdr = 8 + 25
    return data[:end_of_ihdr] + png_chunk(b"eXIf", exif_orientation_block(orientation)) + data[end_of_ihdr:]


#: Orientation -> how a camera stores an upright image under that tag (the inverse of displaying it).
STORE = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),
}


def bombs(photo: np.ndarray) -> dict[str, bytes]:
    """The decompression bombs of issue 18, by name, made from a (small JPEG of a) photo."""
    small_jpeg = jpeg(cv2.resize(photo, (128, 128), interpolation=cv2.INTER_AREA), quality=75)
    jpeg_bomb = with_jpeg_size(small_jpeg, 22343, 43084)
    return {
        "jpeg_22343x43084": jpeg_bomb + b"\x00" * max(0, 16_000 - len(jpeg_bomb)),
        "png_20000x20000": png_bomb(20000, 20000),
        "png_60000x60000": png_bomb(60000, 60000, data_bytes=2000),
        "jpeg_65000x65000": with_jpeg_size(small_jpeg, 65000, 65000),
        # under the pixel limit, but far too few bytes for the pixels they declare
        "png_9000x9000_tiny": png_bomb(9000, 9000, data_bytes=1000),
        "jpeg_9000x9000_4kb": with_jpeg_size(small_jpeg, 9000, 9000),
    }


def webp_lossless_bomb(width: int = 10000, height: int = 10000) -> bytes:
    """A tiny VP8L (lossless) WebP of one flat colour whose header declares `width` x `height`:
    flat lossless WebP compresses a whole 100 Mpx image into a few KB (issue 35, finding 15)."""
    small = cv2.imencode(".webp", np.full((16, 16, 3), 90, np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert small[12:16] == b"VP8L"
    bits = struct.unpack_from("<I", small, 21)[0]
    bits = (bits & ~0x0FFFFFFF) | ((width - 1) & 0x3FFF) | (((height - 1) & 0x3FFF) << 14)
    return small[:21] + struct.pack("<I", bits) + small[25:]


def os2_bmp(image: np.ndarray) -> bytes:
    """A 24-bit OS/2 1.x bitmap (BITMAPCOREHEADER: 12 bytes, 16-bit width and height)."""
    h, w = image.shape[:2]
    stride = (w * 3 + 3) & ~3
    rows = b"".join(image[y].tobytes() + b"\x00" * (stride - w * 3) for y in range(h - 1, -1, -1))
    header = struct.pack("<IHHHH", 12, w, h, 1, 24)
    offset = 14 + len(header)
    return b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset) + header + rows


def avi(frames: int = 3, size: tuple[int, int] = (64, 48), path=None) -> bytes:
    """A small MJPG AVI made by OpenCV (the seed of the video cases)."""
    import os
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".avi")
    os.close(fd)
    try:
        writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
        y, x = np.mgrid[0 : size[1], 0 : size[0]]
        for k in range(frames):
            writer.write(np.stack([x * 3 + k, y * 3, (x + y) * 2], -1).astype(np.uint8))
        writer.release()
        with open(name, "rb") as f:
            return f.read()
    finally:
        os.unlink(name)


def avi_declaring(data: bytes, width: int, height: int) -> bytes:
    """The AVI with its main header (avih) and stream format (strf) declaring another frame size."""
    out = bytearray(data)
    avih = out.index(b"avih") + 8
    struct.pack_into("<II", out, avih + 32, width, height)
    strf = out.index(b"strf") + 8
    struct.pack_into("<ii", out, strf + 4, width, height)
    return bytes(out)
