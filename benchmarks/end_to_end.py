"""End to end against MediaPipe's FaceMesh, side by side in one run, pinned to one core.

    python benchmarks/end_to_end.py --mediapipe-python <env>/bin/python [--photos 100] [--rounds 3]
        [--core 0] [--backend auto --precision auto] [--json runs/end_to_end.json]

The same AFLW2000-3D dev photos ($EDGEFACE_DATA/aflw2000_dev, decoded before timing; the shipped
portrait where the set is absent) through edgeface (default settings; `refine=False`; the tracker
on the first photo repeated) and through MediaPipe FaceMesh 0.10.14 (BlazeFace and the mesh in
static-image mode; video mode on the same repeated photo), which runs in its own environment
(benchmarks/mediapipe_worker.py) and inherits this process's core. The cases alternate within each
round, so that a busy machine slows them alike. Prints, per case, the median over rounds of the
mean milliseconds per photo or frame and its ratio to MediaPipe's in the same run, then the time
of each of edgeface's stages (edgeface.tools.bench.split).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

WORKER = Path(__file__).with_name("mediapipe_worker.py")


def photo_paths(count: int) -> list[Path]:
    from edgeface.tools.bench import PORTRAIT
    from edgeface.tools.datasets import data_root

    root = data_root()
    folder = root / "aflw2000_dev" / "images" if root else None
    if folder is not None and folder.is_dir():
        return sorted(folder.glob("*.jpg"))[:count]
    return [PORTRAIT]


class MediaPipe:
    """The worker process: one JSON line per command."""

    def __init__(self, python: str, photos: list[Path]):
        self.process = subprocess.Popen(
            [python, str(WORKER), *map(str, photos)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.version = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the MediaPipe worker stopped (is mediapipe installed for that Python?)")
        answer = json.loads(line)
        if "error" in answer:
            raise SystemExit(f"the MediaPipe worker: {answer['error']}")
        return answer

    def ask(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self._answer()

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=30)


def crop_costs(rec, photo: np.ndarray, rounds: int) -> dict[str, float]:
    """Milliseconds per crop (`Pipeline.cut`, one face) from the photo, at its face, and from a 4K
    frame at several face sizes: the crop reads the face's region, not the frame."""
    from edgeface.runtime.geometry import Crop

    pipeline = rec.pipeline
    face = rec(photo)[0]
    cases = {"450 px photo, its face": (photo, pipeline.crop_for_face(face))}
    frame = np.ascontiguousarray(np.tile(photo, (5, 9, 1))[:2160, :3840])
    for side in (300, 600, 1000, 1500):
        cases[f"3840x2160 frame, {side} px crop"] = (frame, Crop(1200.3, 300.7, float(side)))
    out = {}
    for name, (image, crop) in cases.items():
        pipeline.cut(image, [crop])
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(50):
                pipeline.cut(image, [crop])
            times.append((time.perf_counter() - start) * 1e3 / 50)
        out[name] = float(np.median(times))
    return out


def detector_costs(rec, photo: np.ndarray, rounds: int) -> dict[str, dict]:
    """Milliseconds per call of the default detector (the cascade) by frame: the photo; the same
    size with no face (grey), where the second model runs too; and frames of 720p, 1080p and 4K
    with the photo's face in a corner, where the tiles run."""
    detector = rec.pipeline.detector
    frames = {"photo with a face": photo, "photo-sized, no face": np.full_like(photo, 128)}
    for name, (w, h) in {"1280x720": (1280, 720), "1920x1080": (1920, 1080), "3840x2160": (3840, 2160)}.items():
        frame = np.full((h, w, 3), 128, np.uint8)
        frame[: photo.shape[0], : photo.shape[1]] = photo
        frames[name] = frame
    out = {}
    for name, frame in frames.items():
        detector(frame)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            found = [detector(frame) for _ in range(5)][-1]
            times.append((time.perf_counter() - start) * 1e3 / 5)
        h, w = frame.shape[:2]
        passes = 1 if found and max(w, h) <= detector.whole_above else detector.passes(frame)
        out[name] = {"ms": float(np.median(times)), "faces": len(found), "passes": passes}
    return out


def markdown(version, chosen, peer_version, cpu, args, count, median, ratio, found, stages, detection, command) -> str:
    keys = ("detect", "crop", "encode", "network", "decode", "other", "total")
    lines = [
        f"# edgeface {version} end to end against MediaPipe FaceMesh {peer_version}",
        "",
        f"Made by `{command}` on {platform.machine()} (`edgeface info`: CPU features {cpu}), both "
        f"pinned to core {args.core}, in one run: {count} AFLW2000-3D dev photos decoded before timing, "
        f"{args.rounds} rounds with the cases alternating; medians over rounds of each round's mean. "
        f"edgeface runs {chosen} with one thread (what `precision='auto'` picks on this CPU); MediaPipe "
        "runs in its own environment (benchmarks/mediapipe_worker.py). A video frame is the first photo "
        "repeated. Ratios vary by CPU: the network's int8 and fp32 speeds depend on an int8 "
        "dot-product instruction (docs/edge.md).",
        "",
        "| case | median ms | vs MediaPipe |",
        "| --- | --- | --- |",
    ]
    for name, ms in median.items():
        lines.append(f"| {name} | {ms:.2f} | {ratio[name]:.2f}x |" if name in ratio else f"| {name} | {ms:.2f} | |")
    lines += [
        "",
        f"Faces found: edgeface {found['edgeface']}/{count}, MediaPipe {found.get('mediapipe')}/{count}.",
        "",
        "## Where edgeface's time goes",
        "",
        "Milliseconds per photo or frame (`edgeface.tools.bench.split`; `edgeface benchmark` prints the "
        "same split for its sample photo). `encode` is the crop into the network's input tensor; `other` "
        "is the Python between stages (the tracker's smoothing included).",
        "",
        "| | " + " | ".join(keys) + " |",
        "| --- |" + " --- |" * len(keys),
    ]
    for name, spent in stages.items():
        lines.append(f"| {name} | " + " | ".join(f"{spent[k]:.2f}" for k in keys) + " |")
    lines += [
        "",
        "## What detection costs",
        "",
        "The default detector (the cascade) by frame: a photo with a face costs one short-range run; a "
        "frame where it finds nothing also runs the back-camera model; frames over 960 px also run it on "
        "tiles (at most 1080p's worth). `Reconstructor(max_faces=1)` stops after the first pass once it "
        "found a face.",
        "",
        "| frame | ms | passes | faces |",
        "| --- | --- | --- | --- |",
    ]
    for name, d in detection.items():
        lines.append(f"| {name} | {d['ms']:.2f} | {d['passes']} | {d['faces']} |")
    return "\n".join(lines) + "\n"


def crops_markdown(crops: dict[str, float]) -> str:
    lines = [
        "",
        "## What the crop costs",
        "",
        "One face's crop into the network's 112 px input (`Pipeline.cut`): the region of a face more "
        "than twice the input is halved by 2x2 averages, then warped (edgeface/runtime/resample.py); "
        "its cost follows the face's size, not the frame's.",
        "",
        "| crop | ms |",
        "| --- | --- |",
    ]
    lines += [f"| {name} | {ms:.3f} |" for name, ms in crops.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mediapipe-python",
        default=os.environ.get("EDGEFACE_MEDIAPIPE_PYTHON"),
        help="the Python of an environment with mediapipe==0.10.14 (or EDGEFACE_MEDIAPIPE_PYTHON)",
    )
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--frames", type=int, default=300, help="video frames per case per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=0, help="the one CPU core both sides run on")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="auto", help="auto: int8 where the CPU has an int8 dot product")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--cases-only",
        action="store_true",
        help="only the side-by-side cases (no stage split, crop or detector tables): runs against "
        "older edgeface versions, e.g. PYTHONPATH=<a checkout of one>",
    )
    parser.add_argument("--markdown", default=None, help="also write the tables as a page (docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if not args.mediapipe_python:
        raise SystemExit(
            "--mediapipe-python (or EDGEFACE_MEDIAPIPE_PYTHON) is needed: the Python of an "
            "environment with mediapipe==0.10.14"
        )
    os.sched_setaffinity(0, {args.core})  # before any thread or the worker starts: all inherit it
    import cv2

    import edgeface
    from edgeface.cli.common import cpu_features
    from edgeface.tools import bench

    cv2.setNumThreads(1)
    paths = photo_paths(args.photos)
    photos = [edgeface.load_image(p) for p in paths]
    peer = MediaPipe(args.mediapipe_python, paths)

    def make(refine: bool):
        return edgeface.Reconstructor(
            args.backend, model=args.model, precision=args.precision, num_threads=1, refine=refine
        )

    default, one_pass, tracked = make(True), make(False), make(True)
    chosen = f"{default.model.backend_name} {default.model.file.precision}"
    tracker = tracked.tracker(max_faces=1)
    found = {"edgeface": sum(len(default(p)) > 0 for p in photos)}

    def photos_with(rec):
        def run():
            start = time.perf_counter()
            for p in photos:
                rec(p)
            return (time.perf_counter() - start) * 1e3 / len(photos)

        return run

    def frames():
        for _ in range(10):
            tracker(photos[0])
        start = time.perf_counter()
        for _ in range(args.frames):
            tracker(photos[0])
        return (time.perf_counter() - start) * 1e3 / args.frames

    def peer_photos():
        answer = peer.ask("photos")
        found["mediapipe"] = answer["found"]
        return float(np.mean(answer["ms"]))

    def peer_frames():
        return float(np.mean(peer.ask(f"frames {args.frames}")["ms"]))

    def network(run, tensor, calls=200):
        def timed():
            start = time.perf_counter()
            for _ in range(calls):
                run(tensor)
            return (time.perf_counter() - start) * 1e3 / calls

        return timed

    from edgeface.runtime.backends.tflite import TfliteBackend

    ours = default.model
    cases = {
        "network alone, edgeface": network(ours.backend.run, ours.preprocess(np.zeros((1, 112, 112, 3), np.uint8)))
    }
    if peer.version.get("face_landmark"):
        theirs = TfliteBackend(peer.version["face_landmark"], 1)
        shape = (1,) + tuple(theirs.inputs[0].shape[1:])
        cases["network alone, MediaPipe face_landmark"] = network(theirs.run, np.zeros(shape, np.float32))
    cases |= {
        "photo, edgeface default (refine)": photos_with(default),
        "photo, edgeface refine=False": photos_with(one_pass),
        "photo, MediaPipe FaceMesh": peer_photos,
        "video frame, edgeface tracker": frames,
        "video frame, MediaPipe FaceMesh": peer_frames,
    }
    times = {name: [] for name in cases}
    for r in range(args.rounds):
        for name, run in cases.items():
            times[name].append(run())
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{t[-1]:.2f}" for t in times.values()), file=sys.stderr)
    peer.close()
    median = {name: float(np.median(t)) for name, t in times.items()}
    peer_case = {
        "network": "network alone, MediaPipe face_landmark",
        "photo,": "photo, MediaPipe FaceMesh",
        "video": "video frame, MediaPipe FaceMesh",
    }
    ratio = {
        name: median[name] / median[peer_case[name.split()[0]]]
        for name in median
        if peer_case[name.split()[0]] in median
    }
    if args.cases_only:
        stages, detection, crops = {}, {}, {}
    else:
        stages = {
            "photo, default (refine)": bench.split(lambda: [default(p) for p in photos], default, 1, args.rounds),
            "photo, refine=False": bench.split(lambda: [one_pass(p) for p in photos], one_pass, 1, args.rounds),
        }
        stages = {k: {s: v / len(photos) for s, v in spent.items()} for k, spent in stages.items()}
        stages["video frame (tracker)"] = bench.split(lambda: tracker(photos[0]), tracked, args.frames, args.rounds)
        detection = detector_costs(default, photos[0], args.rounds)
        crops = crop_costs(default, photos[0], args.rounds)
    cpu = ", ".join(cpu_features()) or "unknown"
    print(
        f"edgeface {edgeface.__version__} ({chosen}, 1 thread) against MediaPipe "
        f"{peer.version['ready']}, both on core {args.core} of {platform.machine()} (CPU features: {cpu}); "
        f"{len(photos)} photos, {args.rounds} rounds"
    )
    print(f"{'case':40s} {'median ms':>10s} {'vs MediaPipe':>13s}")
    for name in median:
        shown = f"{ratio[name]:12.2f}x" if name in ratio else ""
        print(f"{name:40s} {median[name]:10.2f} {shown}")
    print(f"faces found: edgeface {found['edgeface']}/{len(photos)}, MediaPipe {found.get('mediapipe')}/{len(photos)}")
    if stages:
        print(bench.split_table(stages))
    for name, ms in crops.items():
        print(f"crop, {name:30s} {ms:8.3f} ms")
    print(f"{'the detector (cascade), by frame':36s} {'ms':>8s} {'passes':>7s} {'faces':>6s}")
    for name, d in detection.items():
        print(f"{name:36s} {d['ms']:8.2f} {d['passes']:7d} {d['faces']:6d}")
    if args.markdown:
        command = "python benchmarks/end_to_end.py " + " ".join(argv if argv is not None else sys.argv[1:])
        command = command.replace(args.mediapipe_python, "<mediapipe env>/bin/python")
        Path(args.markdown).write_text(
            markdown(
                edgeface.__version__,
                chosen,
                peer.version["ready"],
                cpu,
                args,
                len(photos),
                median,
                ratio,
                found,
                stages,
                detection,
                command,
            )
            + crops_markdown(crops)
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {
                    "edgeface": edgeface.__version__,
                    "mediapipe": peer.version["ready"],
                    "model_file": chosen,
                    "machine": platform.machine(),
                    "cpu_features": cpu_features(),
                    "core": args.core,
                    "photos": len(photos),
                    "rounds": args.rounds,
                    "frames": args.frames,
                    "median_ms": median,
                    "ratio_to_mediapipe": ratio,
                    "rounds_ms": times,
                    "found": found,
                    "stages_ms": stages,
                    "detector": detection,
                    "crop_ms": crops,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
