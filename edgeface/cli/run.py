"""`edgeface run`: reconstruct faces in an image, a folder of images, a video or a camera."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_OK, EXIT_PARTIAL, add_model_options, reconstructor
from .outputs import Outputs, display, safe_text

HELP = "reconstruct faces in an image, a folder of images, or a video"
#: what a folder's images are collected by: the formats edgeface.runtime.image decodes
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "input",
        nargs="?",
        default=None,
        help="image file, folder of images, video file, or camera (0, 1, ... or /dev/videoN); "
        "left out: the real photo shipped with the package (edgeface.sample_image_path())",
    )
    p.add_argument("--out", default="edgeface_out", help="output folder (default: edgeface_out)")
    p.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="images: a second pass cropped from the first pass's landmarks (default; --no-refine: one pass)",
    )
    p.add_argument(
        "--max-faces",
        type=int,
        default=None,
        help="at most this many faces per image or video frame, largest first (default: all)",
    )
    p.add_argument("--frames", type=int, default=None, help="video or camera: stop after this many frames")
    p.add_argument(
        "--show",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="video or camera: a live overlay window (default: for cameras, where a display exists)",
    )
    add_model_options(p)


def run(args) -> int:
    from .run_video import is_camera

    if args.input is None:
        from .. import sample_image_path

        args.input = str(sample_image_path())
        print(f"no input given: running on the packaged sample photo {args.input}")
    for flag, value in (("input", args.input), ("--out", args.out)):
        if not value.strip():
            raise EdgefaceError(f"{flag} is empty: name a file or folder ('.' for the current folder)")
    source = Path(args.input)
    camera = is_camera(args.input) and not source.exists()
    if not source.exists() and not camera:
        raise EdgefaceError(
            f"input not found: {display(source)} (a camera is named by its index, such as 0, or /dev/videoN)"
        )
    if args.frames is not None and args.frames < 1:
        raise EdgefaceError(f"--frames must be 1 or more, not {args.frames}")
    out = writable_folder(Path(args.out))
    rec = reconstructor(args, refine=args.refine, max_faces=args.max_faces)
    if camera or (source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES):
        return track_video(rec, args.input, out, args.frames, args.show)
    paths = (
        sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if source.is_dir()
        else [source]
    )
    if not paths:
        raise EdgefaceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {display(source)}")
    return reconstruct_images(rec, paths, out)


def writable_folder(out: Path) -> Path:
    """Create the output folder and prove it takes files, before any input is read."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise EdgefaceError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".edgeface-write-check-"):
            pass
    except OSError as error:
        raise EdgefaceError(f"cannot write results to --out {out}: {error.strerror or error}") from None
    return out


def reconstruct_images(rec, paths: list[Path], out: Path) -> int:
    import cv2

    from ..runtime.image import load_image
    from ..runtime.results import draw

    outputs = Outputs(out, paths)

    def png(image):
        def write(path):
            if not cv2.imwrite(str(path), image):
                raise OSError(f"OpenCV could not write {display(path)}")

        return write

    skipped = 0
    for path, stem in outputs.stems.items():
        try:
            image = load_image(path)
            faces = rec(image)
        except EdgefaceError as error:
            print(f"{display(path)}: skipped: {error}", file=sys.stderr)
            skipped += 1
            continue
        overlay = draw(image, faces)
        try:
            for i, face in enumerate(faces):
                outputs.write(outputs.path(stem, f"_face{i}.json"), face.save_json)
                outputs.write(outputs.path(stem, f"_face{i}.obj"), face.save_obj)
            outputs.write(outputs.path(stem, "_overlay.png"), png(overlay))
        except OSError as error:
            raise EdgefaceError(
                f"cannot write the results of {display(path)} to {display(out)}: {error.strerror or error}"
            ) from None
        summary = (
            ", ".join(
                f"face {i}: yaw {f.pose.yaw:+.0f} pitch {f.pose.pitch:+.0f} roll {f.pose.roll:+.0f}"
                for i, f in enumerate(faces)
            )
            or "no face found"
        )
        print(f"{display(path)}: {summary}")
    print(f"{rec!r}; results for {len(paths) - skipped} of {len(paths)} images in {display(out)}")
    if skipped:
        print(f"edgeface: {skipped} of {len(paths)} images skipped (see above)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def track_video(rec, name: str, out: Path, frames: int | None, show: bool | None) -> int:
    """Track through a video or a camera (edgeface.cli.run_video): an overlay video and tracks.json."""
    from . import run_video as video

    camera = video.is_camera(name) and not Path(name).is_file()
    outputs = Outputs(out, [] if camera else [Path(name)])
    stem = "camera" + safe_text(name.rsplit("/", 1)[-1]) if camera else outputs.stems[Path(name)]
    done, declared, summary = video.run(rec, name, outputs, stem, rec.options.max_faces, frames, show)
    print(
        f"{name}: {done} frames at {summary['fps']:.1f} fps, {summary['tracks']} tracks, detector ran on "
        f"{summary['detector_runs']}; overlay {summary['overlay_codec']}; results in {out}"
    )
    if done == 0:
        raise EdgefaceError(f"no frame of {name} could be decoded")
    if frames is None and declared > 0 and done < declared:
        print(
            f"edgeface: {name} ended after {done} of the {declared} frames its container declares "
            "(truncated or corrupt); the results cover those frames",
            file=sys.stderr,
        )
        return EXIT_PARTIAL
    return EXIT_OK
