"""`edgeface run`: reconstruct faces in an image, a folder of images, a video or a camera."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_OK, EXIT_PARTIAL, add_model_options, reconstructor

HELP = "reconstruct faces in an image, a folder of images, or a video"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}
#: Output file names are cut to fit common file systems' 255-byte limit, with the suffix they get.
MAX_STEM_BYTES = 180


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="image file, folder of images, video file, or camera (0, 1, ... or /dev/videoN)")
    p.add_argument("--out", default="edgeface_out", help="output folder (default: edgeface_out)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                   help="images: a second pass cropped from the first pass's landmarks (default; --no-refine: one pass)")
    p.add_argument("--max-faces", type=int, default=None,
                   help="at most this many faces per image or video frame, largest first (default: all)")
    p.add_argument("--frames", type=int, default=None, help="video or camera: stop after this many frames")
    p.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                   help="video or camera: a live overlay window (default: for cameras, where a display exists)")
    add_model_options(p)


def run(args) -> int:
    from .run_video import is_camera

    source = Path(args.input)
    camera = is_camera(args.input) and not source.exists()
    if not source.exists() and not camera:
        raise EdgefaceError(f"input not found: {source} (a camera is named by its index, such as 0, or /dev/videoN)")
    if args.frames is not None and args.frames < 1:
        raise EdgefaceError(f"--frames must be 1 or more, not {args.frames}")
    out = writable_folder(Path(args.out))
    rec = reconstructor(args, refine=args.refine, max_faces=args.max_faces)
    if camera or (source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES):
        return track_video(rec, args.input, out, args.frames, args.show)
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
        if source.is_dir() else [source]
    if not paths:
        raise EdgefaceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {source}")
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


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """A distinct, short enough file-name stem per input: photo.jpg and photo.png in one folder
    become photo_jpg and photo_png (names compared case-blind, as some file systems do)."""
    import hashlib

    def short(stem: str, path: Path) -> str:
        if len(stem.encode("utf-8")) <= MAX_STEM_BYTES:
            return stem
        tag = hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()[:8]
        return stem.encode("utf-8")[:MAX_STEM_BYTES - 9].decode("utf-8", "ignore") + "~" + tag

    stems = {p: short(p.stem, p) for p in paths}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem.casefold()] = counts.get(stem.casefold(), 0) + 1
    for p, stem in stems.items():
        if counts[stem.casefold()] > 1:
            stems[p] = short(f"{p.stem}_{p.suffix.lstrip('.')}", p)
    return stems


def reconstruct_images(rec, paths: list[Path], out: Path) -> int:
    import cv2

    from ..runtime.image import load_image
    from ..runtime.results import draw

    skipped = 0
    for path, stem in output_stems(paths).items():
        try:
            image = load_image(path)
            faces = rec(image)
        except EdgefaceError as error:
            print(f"{path}: skipped: {error}", file=sys.stderr)
            skipped += 1
            continue
        overlay = draw(image, faces)
        for i, face in enumerate(faces):
            face.save_json(out / f"{stem}_face{i}.json")
            face.save_obj(out / f"{stem}_face{i}.obj")
        if not cv2.imwrite(str(out / f"{stem}_overlay.png"), overlay):
            raise EdgefaceError(f"cannot write {out / f'{stem}_overlay.png'}")
        summary = ", ".join(f"face {i}: yaw {f.pose.yaw:+.0f} pitch {f.pose.pitch:+.0f} roll {f.pose.roll:+.0f}"
                            for i, f in enumerate(faces)) or "no face found"
        print(f"{path}: {summary}")
    print(f"{rec!r}; results for {len(paths) - skipped} of {len(paths)} images in {out}")
    if skipped:
        print(f"edgeface: {skipped} of {len(paths)} images skipped (see above)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def track_video(rec, name: str, out: Path, frames: int | None, show: bool | None) -> int:
    """Track through a video or a camera (edgeface.cli.run_video): an overlay video and tracks.json."""
    from . import run_video as video

    stem = "camera" + name.rsplit("/", 1)[-1] if video.is_camera(name) and not Path(name).is_file() \
        else output_stems([Path(name)])[Path(name)]
    done, declared, summary = video.run(rec, name, out, stem, rec.options.max_faces, frames, show)
    print(f"{name}: {done} frames at {summary['fps']:.1f} fps, {summary['tracks']} tracks, detector ran on "
          f"{summary['detector_runs']}; overlay {summary['overlay_codec']}; results in {out}")
    if done == 0:
        raise EdgefaceError(f"no frame of {name} could be decoded")
    if frames is None and declared > 0 and done < declared:
        print(f"edgeface: {name} ended after {done} of the {declared} frames its container declares "
              "(truncated or corrupt); the results cover those frames", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK
