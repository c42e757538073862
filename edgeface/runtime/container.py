"""The frame size a video file declares, read from its container before any frame is decoded.

OpenCV's capture decodes frames while it opens a file, so a 2 MB Matroska file of 16000 x 16000
frames takes gigabytes before its size can be asked. `declared_frame_sizes` walks the container's
own headers instead (Matroska/WebM, MP4/MOV, AVI) and returns every frame size they declare, so the
caller refuses an oversized video having read only its headers. Unknown containers return [] and
are checked by the capture itself after opening.
"""

from __future__ import annotations

import struct

#: how much of a file's start is searched for headers (Matroska and AVI put them first; MP4 may
#: put its `moov` last, which is walked by box sizes without reading the media between)
HEAD_BYTES = 8 * 1024 * 1024
_MKV_SEGMENT, _MKV_TRACKS, _MKV_ENTRY, _MKV_VIDEO = 0x18538067, 0x1654AE6B, 0xAE, 0xE0
_MKV_WIDTH, _MKV_HEIGHT, _MKV_CLUSTER = 0xB0, 0xBA, 0x1F43B675
_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}
_MP4_VISUAL = {
    b"avc1",
    b"avc3",
    b"hvc1",
    b"hev1",
    b"mp4v",
    b"av01",
    b"vp08",
    b"vp09",
    b"jpeg",
    b"mjpa",
    b"mjpb",
    b"s263",
    b"h263",
    b"apch",
    b"apcn",
    b"ap4h",
    b"dvh1",
    b"dvhe",
}


def declared_frame_sizes(path) -> list[tuple[int, int]]:
    """Every (width, height) the file's container declares; [] when none is found."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
        if head[:4] == b"\x1a\x45\xdf\xa3":
            return _matroska(head)
        if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
            return _avi(head)
        if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
            return _mp4(f)
    return []


def _vint(data: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML number")
    value = first if keep_marker else first & (0xFF >> length)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return (-1 if unknown else value), pos + length


def _matroska(data: bytes) -> list[tuple[int, int]]:
    sizes, stack, pos, width, height = [], [len(data)], 0, None, None
    try:
        while pos < len(data):
            while pos >= stack[-1] and len(stack) > 1:
                stack.pop()
            ident, pos = _vint(data, pos, keep_marker=True)
            size, pos = _vint(data, pos, keep_marker=False)
            end = len(data) if size < 0 else min(pos + size, len(data))
            if ident == _MKV_CLUSTER:
                break  # media from here on; the tracks come before it
            if ident in (_MKV_SEGMENT, _MKV_TRACKS, _MKV_ENTRY, _MKV_VIDEO):
                stack.append(end)
                continue
            if ident in (_MKV_WIDTH, _MKV_HEIGHT) and 0 < size <= 8:
                value = int.from_bytes(data[pos:end], "big")
                width, height = (value, height) if ident == _MKV_WIDTH else (width, value)
                if width is not None and height is not None:
                    sizes.append((width, height))
                    width = height = None
            pos = end
    except (ValueError, IndexError):
        pass  # a damaged header: what was read so far, and the capture's own check after opening
    return sizes


def _avi(data: bytes) -> list[tuple[int, int]]:
    sizes = []
    at = data.find(b"avih")
    if at >= 0 and at + 48 <= len(data):
        sizes.append(struct.unpack_from("<II", data, at + 8 + 32))
    at = data.find(b"strf")
    while 0 <= at and at + 20 <= len(data):
        width, height = struct.unpack_from("<ii", data, at + 8 + 4)
        sizes.append((abs(width), abs(height)))
        at = data.find(b"strf", at + 4)
    return sizes


def _mp4(f) -> list[tuple[int, int]]:
    f.seek(0, 2)
    file_end = f.tell()
    sizes: list[tuple[int, int]] = []
    _mp4_boxes(f, 0, file_end, sizes, depth=0)
    return sizes


def _mp4_boxes(f, start: int, end: int, sizes: list, depth: int) -> None:
    pos = start
    while pos + 8 <= end and depth < 8 and len(sizes) < 64:
        f.seek(pos)
        header = f.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack_from(">I4s", header)
        body = pos + 8
        if size == 1 and len(header) >= 16:
            size, body = struct.unpack_from(">Q", header, 8)[0], pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos:
            return
        box_end = min(pos + size, end)
        if kind in _MP4_CONTAINERS:
            _mp4_boxes(f, body, box_end, sizes, depth + 1)
        elif kind == b"tkhd":
            f.seek(body)
            content = f.read(min(box_end - body, 96))
            if len(content) >= 84:
                w, h = struct.unpack_from(">II", content, len(content) - 8)
                if w or h:
                    sizes.append((w >> 16, h >> 16))
        elif kind == b"stsd":
            entry_pos = body + 8  # after version, flags and the entry count
            while entry_pos + 36 <= box_end:
                f.seek(entry_pos)
                entry = f.read(36)
                entry_size, entry_kind = struct.unpack_from(">I4s", entry)
                if entry_kind in _MP4_VISUAL:
                    sizes.append(struct.unpack_from(">HH", entry, 32))
                if entry_size < 8:
                    break
                entry_pos += entry_size
        pos = box_end
