"""`edgeface run` on a video file or a camera: track, write an overlay video and tracks.json.

The overlay is H.264 (plays in browsers) through the ffmpeg binary of the `video` extra
(imageio-ffmpeg); without it, OpenCV's mp4v. tracks.json is written as the frames go (memory stays
flat however long the video): {"source", "fps", "model", "frames": [{"frame",
"time", "faces": [{"track_id", "score", "box", "landmarks", "pose"}]}]}; time in seconds.
A camera is named by its index ("0") or its device path (/dev/video0); its frames are timed by
the clock, and it runs until --frames, Ctrl-C or (with a display) the q key.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ..runtime.errors import EdgefaceError
from ..runtime.image import MAX_PIXELS
from ..runtime.results import draw
from .outputs import Outputs, display


def is_camera(name: str) -> bool:
    return bool(re.fullmatch(r"\d{1,2}", name)) or name.startswith("/dev/video")


def open_capture(name: str) -> cv2.VideoCapture:
    """The capture of a camera or video, refused before its first frame is read when the stream
    declares frames over the image limit (edgeface.runtime.image.MAX_PIXELS)."""
    from ..runtime.container import declared_frame_sizes

    if not is_camera(name) or Path(name).is_file():
        try:
            declared = declared_frame_sizes(name)
        except OSError as error:
            raise EdgefaceError(f"cannot read video {display(name)}: {error.strerror or error}") from None
        for width, height in declared:
            if width * height > MAX_PIXELS:
                raise EdgefaceError(
                    f"{display(name)} declares frames of {width}x{height} pixels, over the limit "
                    f"of {MAX_PIXELS:,} (refused before decoding)"
                )
    capture = cv2.VideoCapture(int(name) if name.isdigit() else name)
    if not capture.isOpened():
        what = "camera" if is_camera(name) else "video"
        raise EdgefaceError(
            f"cannot open {what} {display(name)}" + (" (is it connected, and free?)" if what == "camera" else "")
        )
    width, height = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    if width * height > MAX_PIXELS:
        capture.release()
        raise EdgefaceError(
            f"{display(name)} declares frames of {width:.0f}x{height:.0f} pixels, over the limit of {MAX_PIXELS:,}"
        )
    return capture


class OverlayWriter:
    """H.264 through imageio-ffmpeg where installed, else mp4v through OpenCV; same call either way."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]):
        self.path, self.size = path, size
        self.even = (size[0] + size[0] % 2, size[1] + size[1] % 2)  # yuv420p needs even sides
        try:
            import imageio_ffmpeg
        except ImportError:
            imageio_ffmpeg = None
        if imageio_ffmpeg is not None:
            self.codec = "h264"
            self._ffmpeg = imageio_ffmpeg.write_frames(
                str(path),
                self.even,
                fps=fps,
                codec="libx264",
                pix_fmt_in="bgr24",
                pix_fmt_out="yuv420p",
                macro_block_size=1,
                ffmpeg_log_level="error",
                output_params=["-movflags", "+faststart"],
            )
            self._ffmpeg.send(None)
        else:
            self.codec, self._ffmpeg = "mp4v", None
            self._cv = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            if not self._cv.isOpened():
                raise EdgefaceError(f"cannot write {path}")

    def write(self, frame: np.ndarray) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:  # a stream that changes size mid-way
            frame = cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA)
        if self._ffmpeg is None:
            self._cv.write(frame)
            return
        if self.even != self.size:
            frame = cv2.copyMakeBorder(
                frame, 0, self.even[1] - self.size[1], 0, self.even[0] - self.size[0], cv2.BORDER_REPLICATE
            )
        self._ffmpeg.send(np.ascontiguousarray(frame).tobytes())

    def close(self) -> None:
        if self._ffmpeg is not None:
            self._ffmpeg.close()
        else:
            self._cv.release()


def _window() -> bool:
    """Can this OpenCV open a window? (opencv-python-headless cannot; nor can a machine without a display.)"""
    try:
        cv2.namedWindow("edgeface", cv2.WINDOW_NORMAL)
        return True
    except cv2.error:
        return False


def face_record(face) -> dict:
    return {
        "track_id": face.track_id,
        "score": round(face.score, 4),
        "box": np.round(face.box, 2).tolist(),
        "landmarks": np.round(face.landmarks, 2).tolist(),
        "pose": {"yaw": round(face.pose.yaw, 2), "pitch": round(face.pose.pitch, 2), "roll": round(face.pose.roll, 2)},
    }


def run(
    rec,
    name: str,
    outputs: Outputs,
    stem: str,
    max_faces: int | None = None,
    frames: int | None = None,
    show: bool | None = None,
) -> tuple[int, int, dict]:
    """Track through `name`; returns (frames done, frames the container declares (0 if unknown), summary).
    Both files are written under temporary names and renamed into place at the end, whatever
    ends the run (the last frame, --frames, Ctrl-C or an error): tracks.json is then always a
    complete JSON document."""
    from tqdm import tqdm

    camera = is_camera(name)
    capture = open_capture(name)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if 0 < fps < 1000 else 30.0
    declared = 0 if camera else int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    total = min(declared, frames) if declared and frames else (frames or declared or None)
    tracker = rec.tracker(max_faces=max_faces, fps=fps)
    show = camera and _window() if show is None else show and _window()
    writer, index, ids, last = None, 0, set(), 0.0
    targets, temporary = _temporaries(outputs, stem)
    start = time.monotonic()
    bar = tqdm(total=total, unit="frame", desc=stem, file=sys.stderr, disable=None)
    tracks = open(temporary["_tracks.json"], "w", encoding="utf-8")
    try:
        tracks.write(
            json.dumps({"source": display(name), "fps": fps, "model": rec.manifest.name})[:-1] + ', "frames": [\n'
        )
        while frames is None or index < frames:
            ok, frame = capture.read()
            if not ok:
                break
            t = time.monotonic() - start if camera else index / fps
            last = t if index == 0 else max(t, last + 1e-3)  # a camera clock may repeat a reading
            faces = tracker(frame, timestamp=last)
            overlay = draw(frame, faces, attributes=0)
            if writer is None:
                writer = OverlayWriter(Path(temporary["_overlay.mp4"]), fps, (frame.shape[1], frame.shape[0]))
            writer.write(overlay)
            ids.update(f.track_id for f in faces)
            tracks.write(
                ("" if index == 0 else ",\n")
                + json.dumps({"frame": index, "time": round(last, 4), "faces": [face_record(f) for f in faces]})
            )
            index += 1
            bar.update(1)
            if show:
                cv2.imshow("edgeface", overlay)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    except KeyboardInterrupt:
        pass  # a camera stops here; the files are closed below and stay valid
    finally:
        tracks.write("\n]}\n")
        tracks.close()
        bar.close()
        capture.release()
        if writer is not None:
            writer.close()
        if show:
            cv2.destroyAllWindows()
        _into_place(targets, temporary, overlay_written=writer is not None)
    summary = {
        "frames": index,
        "fps": fps,
        "tracks": len(ids),
        "detector_runs": tracker.detector_runs,
        "overlay_codec": writer.codec if writer else None,
    }
    return index, declared, summary


def _temporaries(outputs: Outputs, stem: str) -> tuple[dict, dict]:
    """The run's two files (tracks, overlay) and the temporary names they are written under."""
    import os
    import tempfile

    targets = {kind: outputs.path(stem, kind) for kind in ("_tracks.json", "_overlay.mp4")}
    temporary = {}
    for kind, target in targets.items():
        fd, temporary[kind] = tempfile.mkstemp(prefix=".edgeface-", suffix=target.suffix, dir=outputs.out)
        os.close(fd)
    return targets, temporary


def _into_place(targets: dict, temporary: dict, overlay_written: bool) -> None:
    import os

    os.replace(temporary["_tracks.json"], targets["_tracks.json"])
    if overlay_written:
        os.replace(temporary["_overlay.mp4"], targets["_overlay.mp4"])
    else:
        os.unlink(temporary["_overlay.mp4"])
