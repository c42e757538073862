"""Fuzz the inputs edgeface takes from strangers: image files, video files, model packs (with
OpenVINO companions) and the labels files `edgeface evaluate` reads.

    python tests/fuzz.py --images 7000 --videos 1000 --packs 1500 --labels 500 --report fuzz.json  # the long run
    python tests/fuzz.py --images 300 --packs 30                                  # what CI runs (tests/test_fuzz.py)

Cases run in batches, each batch in a fresh worker process watched by this one. A case counts as
  refused    an EdgefaceError (the contract: a clear error naming the problem),
  ok         loaded (and, for images and packs, reconstructed) with finite answers,
  exception  any other exception (a bug: the traceback is kept),
  hang       over --hang-seconds (2 s), or no word from the worker for --stall-seconds (killed),
  crash      the worker died in the case (a signal, e.g. a segfault in a decoder),
  memory     the worker's peak resident memory rose over --memory-mb (500 MB) in the case
             (Linux: VmHWM, reset before each case).
Only `refused` and `ok` are clean. The exit status is 1 when any case is not clean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLEAN = ("ok", "refused")
#: How long a worker may take to import edgeface and load the model before it counts as stalled.
STARTUP_SECONDS = 300


# -- the cases ---------------------------------------------------------------------------------


def seed_images() -> list[bytes]:
    """Valid files of every format and flavour the reader handles, to mutate."""
    import cv2
    import numpy as np

    sys.path.insert(0, str(HERE))
    import hostile

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([x * 2, y * 2, (x + y)], -1).astype(np.uint8)
    base = (base + rng.integers(0, 30, base.shape)).astype(np.uint8)
    seeds = [
        hostile.jpeg(base),
        hostile.png(base),
        cv2.imencode(".jpg", base, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes(),
        cv2.imencode(".png", cv2.cvtColor(base, cv2.COLOR_BGR2GRAY))[1].tobytes(),
        cv2.imencode(".png", base.astype(np.uint16) * 257)[1].tobytes(),
        cv2.imencode(".png", cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))[1].tobytes(),
        cv2.imencode(".bmp", base)[1].tobytes(),
        cv2.imencode(".webp", base)[1].tobytes(),
        hostile.with_jpeg_orientation(hostile.jpeg(base), 6),
        hostile.with_png_orientation(hostile.png(base), 8),
        hostile.jpeg(base) + b"trailer" * 50,
        cv2.imencode(".webp", base, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes(),  # lossless VP8L
        hostile.webp_lossless_bomb(),
        hostile.os2_bmp(base),
        cv2.imencode(".bmp", cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))[1].tobytes(),  # 32-bit BMP
        cv2.imencode(".bmp", cv2.cvtColor(base, cv2.COLOR_BGR2GRAY))[1].tobytes(),  # 8-bit palette BMP
        hostile.jpeg(base)[:2] + b"\xff" * 20000 + hostile.jpeg(base)[2:],
    ]  # fill bytes before a marker
    seeds += [b for name, b in hostile.bombs(base).items() if name != "png_20000x20000"]
    return seeds


def seed_videos() -> list[tuple[str, bytes]]:
    """Small videos (suffix, bytes), and the same declaring absurd frame sizes in their containers."""
    sys.path.insert(0, str(HERE))
    import hostile

    small = hostile.avi()
    return [
        (".avi", small),
        (".avi", hostile.avi_declaring(small, 20000, 20000)),
        (".avi", hostile.avi_declaring(small, 65535, 1)),
        (".avi", hostile.avi_declaring(small, 0, 0)),
    ]


def video_case(seeds: list, rng: random.Random) -> dict:
    suffix, data = rng.choice(seeds)
    if rng.random() < 0.7:
        data = mutate_bytes(data, rng)
    return {"kind": "video", "suffix": suffix, "data": data.hex()}


def seed_labels() -> bytes:
    """A two-photo AFLW2000-3D labels.npz (the layout `edgeface evaluate` reads)."""
    import io

    import numpy as np

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    np.savez(
        buf,
        names=np.array(["a.jpg", "b.jpg"]),
        points68_2d=rng.uniform(0, 100, (2, 68, 2)).astype(np.float32),
        roi_box=np.array([[0, 0, 100, 100]] * 2, np.float32),
        pose_pitch_yaw_roll_radians=np.zeros((2, 3), np.float32),
        identity=np.array([1, 2]),
        split=np.array(["dev", "dev"]),
    )
    return buf.getvalue()


def labels_case(seed: bytes, rng: random.Random) -> dict:
    import io

    import numpy as np

    if rng.random() < 0.5:
        return {"kind": "labels", "data": mutate_bytes(seed, rng).hex()}
    # a well-formed archive with a field of the wrong shape, kind or length
    arrays = dict(np.load(io.BytesIO(seed)))
    key = rng.choice(sorted(arrays))
    arrays[key] = rng.choice(
        [
            np.zeros(0),
            np.zeros((3, 68, 2)),
            np.array(["x"]),
            np.full(2, np.nan),
            np.zeros((2, 7)),
            np.array(5),
            np.arange(2**20, dtype=np.uint8),
        ]
    )
    if rng.random() < 0.3:
        del arrays[key]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return {"kind": "labels", "data": buf.getvalue().hex()}


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        kind = rng.random()
        at = rng.randrange(len(data)) if data else 0
        if kind < 0.35 and data:  # flip bits
            data[at] ^= 1 << rng.randrange(8)
        elif kind < 0.55 and data:  # an interesting value
            data[at] = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0xD9, 0xD8, 0xC0, 0xDA])
        elif kind < 0.70:  # a header field made huge or zero
            data[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff", b"\x00\x01"])
        elif kind < 0.80:  # cut
            data = data[:at]
        elif kind < 0.90:  # splice a copy of one part elsewhere
            end = min(len(data), at + rng.randrange(1, 64))
            where = rng.randrange(len(data) + 1)
            data[where:where] = data[at:end]
        else:  # delete a run
            del data[at : at + rng.randrange(1, 32)]
    return bytes(data)


def image_case(seeds: list[bytes], rng: random.Random) -> dict:
    return {"kind": "image", "data": mutate_bytes(rng.choice(seeds), rng).hex()}


WEIRD_VALUES = [
    None,
    True,
    -1,
    0,
    1,
    2**63,
    1e308,
    -1e308,
    float("nan"),
    float("inf"),
    "",
    "x" * 1000,
    "/etc/passwd",
    "../../etc/passwd",
    "/dev/zero",
    [],
    [[]],
    {},
    {"a": 1},
    [1, 2, 3],
    -0.0,
]


def _paths(value, prefix=""):
    """Every (path, parent, key) in a JSON tree."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield prefix + "/" + str(key), value, key
            yield from _paths(child, prefix + "/" + str(key))
    elif isinstance(value, list):
        # long lists (points, triangles): their first entries and their last two
        indices = range(len(value)) if len(value) <= 10 else [*range(8), len(value) - 2, len(value) - 1]
        for i in indices:
            yield prefix + f"[{i}]", value, i
            yield from _paths(value[i], prefix + f"[{i}]")


def pack_case(manifest: dict, rng: random.Random) -> dict:
    """A mutation of the shipped pack's manifest (and sometimes of its model file, or a path trick)."""
    data = json.loads(json.dumps(manifest))
    action = rng.random()
    special = None
    if action < 0.6:
        for _ in range(rng.choice([1, 1, 2, 4])):
            spots = list(_paths(data))
            where, parent, key = rng.choice(spots)
            choice = rng.random()
            if choice < 0.15 and isinstance(parent, dict):
                del parent[key]
            elif choice < 0.3 and isinstance(parent[key], (int, float)) and not isinstance(parent[key], bool):
                parent[key] = parent[key] * rng.choice([-1, 0, 0.5, 2, 1e6]) + rng.choice([0, 1, -1])
            else:
                parent[key] = rng.choice(WEIRD_VALUES)
    elif action < 0.7:
        special = rng.choice(
            [
                "absolute",
                "dotdot",
                "symlink_out",
                "dev_zero",
                "fifo",
                "directory",
                "ov_no_bin",
                "ov_decoy_bin",
                "ov_bin_out",
                "ov_bin_tampered",
                "ov_bin_tampered_rehash",
                "onnx_external",
            ]
        )
    elif action < 0.8:
        special = rng.choice(["flip_model", "flip_model_rehash", "truncate_model_rehash"])
    elif action < 0.9:
        depth = rng.choice([33, 200, 5000, 200000])
        text = json.dumps(data)
        return {"kind": "pack", "text": text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}", "special": None}
    else:
        return {
            "kind": "pack",
            "text": mutate_bytes(json.dumps(data).encode(), rng).decode("utf-8", "replace"),
            "special": None,
        }
    return {"kind": "pack", "text": json.dumps(data), "special": special, "seed": rng.randrange(1 << 30)}


# -- running one case (in the worker) ------------------------------------------------------------


def _finite_faces(faces) -> bool:
    import numpy as np

    return all(np.isfinite(f.dense).all() and np.isfinite(f.landmarks).all() and np.isfinite(f.pose.yaw) for f in faces)


class Worker:
    def __init__(self, scratch: Path):
        import numpy as np

        import edgeface
        from edgeface.runtime.pack import DEFAULT_PACK

        self.edgeface = edgeface
        self.scratch = scratch
        self.pristine = scratch / "pristine"
        if not self.pristine.exists():
            shutil.copytree(DEFAULT_PACK, self.pristine)
        self.rec = edgeface.Reconstructor("onnx", precision="fp32")
        # made before the cases are timed: the shipped ONNX file with its weights in an external file
        manifest = json.loads((self.pristine / "edgeface.json").read_text())
        self._external_onnx(
            next(e["path"] for e in manifest["files"] if e["format"] == "onnx" and e["precision"] == "fp32")
        )
        self.photo = np.zeros((160, 160, 3), np.uint8)
        self.photo[40:120, 50:110] = 180

    def run(self, case: dict) -> None:
        if case["kind"] == "selftest":  # the harness's own check that it sees each kind of failure
            import signal

            import numpy as np

            {
                "segfault": lambda: os.kill(os.getpid(), signal.SIGSEGV),
                "slow": lambda: time.sleep(2.5),
                "stall": lambda: time.sleep(3600),
                "raise": lambda: 1 / 0,
                "allocate": lambda: np.ones(600 * 2**20, np.uint8)[::4096].sum(),
            }[case["do"]]()
            return
        if case["kind"] == "image":
            image = self.edgeface.load_image(bytes.fromhex(case["data"]))
            if image.shape[0] * image.shape[1] <= 4_000_000:
                assert _finite_faces(self.rec(image))
        elif case["kind"] == "video":
            self.run_video(case)
        elif case["kind"] == "labels":
            self.run_labels(case)
        else:
            self.run_pack(case)

    def run_video(self, case: dict) -> None:
        """The CLI's reading of a video: its container checked, then up to 3 frames tracked."""
        from edgeface.cli.run_video import open_capture

        path = self.scratch / f"video{case['suffix']}"
        path.write_bytes(bytes.fromhex(case["data"]))
        capture = open_capture(str(path))
        try:
            tracker = self.rec.tracker()
            for k in range(3):
                ok, frame = capture.read()
                if not ok:
                    break
                assert _finite_faces(tracker(frame, timestamp=k / 10))
        finally:
            capture.release()

    def run_labels(self, case: dict) -> None:
        """What `edgeface evaluate` reads of a labels file: the AFLW2000-3D and labelled-photo readers."""
        from edgeface.tools.datasets import Aflw2000
        from edgeface.tools.evaluate_faces import LabelledPhotos, folder_pairs

        folder = self.scratch / "labels"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "labels.npz").write_bytes(bytes.fromhex(case["data"]))
        (folder / "pairs.npz").write_bytes(bytes.fromhex(case["data"]))
        data = Aflw2000.load(folder)
        assert len(data.subset(slice(0, 1))) == 1
        photos = LabelledPhotos.load(folder, "dev", ("identity",))
        try:
            folder_pairs(photos)
        except self.edgeface.EdgefaceError:
            pass  # the labels read; the pairs file (the same bytes) is not a pairs file

    def _external_onnx(self, name: str) -> Path:
        """The shipped ONNX file re-saved with its weights in an external file (made once)."""
        folder = self.scratch / "external"
        if not folder.exists():
            import onnx

            folder.mkdir()
            model = onnx.load(str(self.pristine / name))
            onnx.save_model(
                model, str(folder / name), save_as_external_data=True, location="weights.data", size_threshold=0
            )
        return folder

    def run_pack(self, case: dict) -> None:
        import hashlib

        pack = self.scratch / "pack"
        shutil.rmtree(pack, ignore_errors=True)
        pack.mkdir()
        for f in self.pristine.iterdir():
            if f.name != "edgeface.json":
                os.link(f, pack / f.name)  # a hard link is a regular file of the pack
        text = case["text"]
        special = case.get("special")
        backend = "onnx"
        if special and special.startswith("ov_"):
            # the committed fixture pack: the same OpenVINO file layout, a network small enough to
            # compile well inside the hang limit (the shipped one takes about a second)
            backend = "openvino"
            shutil.rmtree(pack)
            shutil.copytree(HERE / "runtime" / "fixture_pack", pack)
            data = json.loads((pack / "edgeface.json").read_text())
            entry = next(e for e in data["files"] if e["format"] == "openvino" and e["precision"] == "fp32")
            weights = pack / entry["companions"][0]
            if special == "ov_no_bin":
                entry.pop("companions")
                entry["sha256"] = hashlib.sha256((pack / entry["path"]).read_bytes()).hexdigest()
            elif special == "ov_decoy_bin":
                (pack / "decoy.bin").write_bytes(b"\x00" * 64)
                entry["companions"] = ["decoy.bin"]
            elif special == "ov_bin_out":
                weights.unlink()
                weights.symlink_to(self.pristine / weights.name)
            else:
                body = bytearray(weights.read_bytes())
                weights.unlink()
                body[random.Random(case["seed"]).randrange(len(body))] ^= 0x55
                weights.write_bytes(bytes(body))
                if special.endswith("rehash"):
                    entry["sha256"] = hashlib.sha256((pack / entry["path"]).read_bytes() + bytes(body)).hexdigest()
            text, special = json.dumps(data), None
        elif special == "onnx_external":
            data = json.loads(text)
            entry = next(e for e in data["files"] if e["format"] == "onnx" and e["precision"] == "fp32")
            external = self._external_onnx(entry["path"])
            (pack / entry["path"]).unlink()
            for f in external.iterdir():
                os.link(f, pack / f.name)
            entry["sha256"] = hashlib.sha256((pack / entry["path"]).read_bytes()).hexdigest()
            text, special = json.dumps(data), None
        if special:
            data = json.loads(text)
            entry = next(e for e in data["files"] if e["format"] == "onnx" and e["precision"] == "fp32")
            model = pack / entry["path"]
            if special == "absolute":
                entry["path"] = str(self.pristine / entry["path"])
            elif special == "dotdot":
                entry["path"] = "../pristine/" + entry["path"]
            elif special == "symlink_out":
                (pack / "out.onnx").symlink_to(self.pristine / entry["path"])
                entry["path"] = "out.onnx"
            elif special == "dev_zero":
                (pack / "zero.onnx").symlink_to("/dev/zero")
                entry["path"] = "zero.onnx"
            elif special == "fifo":
                os.mkfifo(pack / "fifo.onnx")
                entry["path"] = "fifo.onnx"
            elif special == "directory":
                (pack / "dir.onnx").mkdir()
                entry["path"] = "dir.onnx"
            else:
                rng = random.Random(case["seed"])
                body = bytearray(model.read_bytes())
                model.unlink()  # do not write through the hard link into the pristine copy
                if special.startswith("truncate"):
                    body = body[: rng.randrange(len(body))]
                else:
                    for _ in range(rng.choice([1, 10, 100])):
                        body[rng.randrange(len(body))] ^= 0xFF
                model.write_bytes(bytes(body))
                if special.endswith("rehash"):
                    entry["sha256"] = hashlib.sha256(bytes(body)).hexdigest()
            text = json.dumps(data)
        (pack / "edgeface.json").write_text(text, encoding="utf-8", errors="surrogatepass")
        rec = self.edgeface.Reconstructor(backend, model=pack, precision="fp32")
        faces = rec(self.photo, boxes=[[40, 30, 120, 130]])
        assert _finite_faces(faces), "a pack that loaded gave non-finite answers"


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> None:
    # Linux >= 4.0: "5" resets the peak resident size (VmHWM), so each case's own peak is measured
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker_main(cases_file: Path, progress_file: Path, scratch: Path, hang_seconds: float) -> int:
    worker = Worker(scratch)
    cases = [json.loads(line) for line in cases_file.read_text().splitlines()]
    with open(progress_file, "a", buffering=1) as progress:
        progress.write(json.dumps({"ready": True}) + "\n")  # the stall watch starts here, not at startup
        for i, case in enumerate(cases):
            progress.write(json.dumps({"start": i}) + "\n")
            _reset_peak()
            before = _memory_kb("VmRSS")
            start = time.perf_counter()
            detail = None
            try:
                worker.run(case)
                outcome = "ok"
            except worker.edgeface.EdgefaceError:
                outcome = "refused"
            except Exception:  # noqa: BLE001 - counting these is the point
                outcome, detail = "exception", traceback.format_exc(limit=6)
            seconds = time.perf_counter() - start
            grown_mb = (_memory_kb("VmHWM") - before) / 1024
            if outcome in CLEAN and grown_mb > float(os.environ.get("EDGEFACE_FUZZ_MEMORY_MB", 500)):
                outcome = "memory"
            if outcome in CLEAN and seconds > hang_seconds:
                outcome = "hang"
            progress.write(
                json.dumps(
                    {
                        "done": i,
                        "outcome": outcome,
                        "seconds": round(seconds, 4),
                        "grown_mb": round(grown_mb, 1),
                        "detail": detail,
                    }
                )
                + "\n"
            )
    return 0


# -- the campaign (in the parent) ----------------------------------------------------------------


def campaign(
    images: int,
    packs: int,
    seed: int = 0,
    batch: int = 200,
    hang_seconds: float = 2.0,
    stall_seconds: float = 60.0,
    memory_mb: float = 500.0,
    progress: bool = True,
    extra_cases: list[dict] = (),
    videos: int = 0,
    labels: int = 0,
) -> dict:
    """Run the cases; a summary with counts per outcome and the unclean cases (at most 20 kept)."""
    from edgeface.runtime.pack import DEFAULT_PACK

    rng = random.Random(seed)
    seeds = seed_images()
    manifest = json.loads((DEFAULT_PACK / "edgeface.json").read_text())
    cases = [image_case(seeds, rng) for _ in range(images)] + [pack_case(manifest, rng) for _ in range(packs)]
    if videos:
        video_seeds = seed_videos()
        cases += [video_case(video_seeds, rng) for _ in range(videos)]
    if labels:
        label_seed = seed_labels()
        cases += [labels_case(label_seed, rng) for _ in range(labels)]
    cases += list(extra_cases)
    kinds = sorted({c["kind"] for c in cases} | {"image", "pack"})
    counts = {k: {o: 0 for o in ("ok", "refused", "exception", "hang", "crash", "memory")} for k in kinds}
    unclean, slowest, largest = [], {k: 0.0 for k in kinds}, {k: 0.0 for k in kinds}
    bar = _bar(len(cases), progress)
    with tempfile.TemporaryDirectory(prefix="edgeface-fuzz-") as tmp:
        tmp = Path(tmp)
        position = 0
        while position < len(cases):
            chunk = cases[position : position + batch]
            cases_file, progress_file = tmp / "cases.jsonl", tmp / "progress.jsonl"
            cases_file.write_text("".join(json.dumps(c) + "\n" for c in chunk))
            progress_file.write_text("")
            env = {**os.environ, "EDGEFACE_FUZZ_MEMORY_MB": str(memory_mb), "OMP_NUM_THREADS": "1"}
            worker = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(cases_file),
                    str(progress_file),
                    str(tmp),
                    str(hang_seconds),
                ],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            seen, last_change = 0, time.monotonic()
            while worker.poll() is None:
                time.sleep(0.05)
                size = progress_file.stat().st_size
                if size != seen:
                    seen, last_change = size, time.monotonic()
                elif time.monotonic() - last_change > (stall_seconds if seen else STARTUP_SECONDS):
                    worker.kill()
                    worker.wait()
                    break
            stderr = worker.stderr.read().decode(errors="replace")[-2000:]
            records = [json.loads(line) for line in progress_file.read_text().splitlines() if line.strip()]
            done = {r["done"]: r for r in records if "done" in r}
            for i in sorted(done):
                r, kind = done[i], chunk[i]["kind"]
                counts[kind][r["outcome"]] += 1
                slowest[kind] = max(slowest[kind], r["seconds"])
                largest[kind] = max(largest[kind], r["grown_mb"])
                if r["outcome"] not in CLEAN and len(unclean) < 20:
                    unclean.append({**r, "case": chunk[i]})
            bar(len(done))
            started = [r["start"] for r in records if "start" in r]
            if len(done) == len(chunk):
                position += len(chunk)
                continue
            # the worker died or stalled inside the case it had started last
            culprit = started[-1] if started and started[-1] not in done else len(done)
            outcome = "hang" if worker.returncode in (-9, None) else "crash"
            if culprit == 0 and not started:
                raise RuntimeError(f"the fuzz worker failed to start: {stderr}")
            counts[chunk[culprit]["kind"]][outcome] += 1
            bar(1)
            if len(unclean) < 20:
                unclean.append(
                    {"outcome": outcome, "returncode": worker.returncode, "stderr": stderr, "case": chunk[culprit]}
                )
            position += culprit + 1
    bad = sum(n for kind in counts.values() for o, n in kind.items() if o not in CLEAN)
    return {
        "images": images,
        "videos": videos,
        "packs": packs,
        "labels": labels,
        "seed": seed,
        "counts": counts,
        "unclean": bad,
        "slowest_seconds": slowest,
        "largest_case_mb": largest,
        "examples": unclean,
    }


def _bar(total: int, show: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if not show or tqdm is None:
        return lambda n: None
    bar = tqdm(total=total, unit="case", desc="fuzz")
    return bar.update


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        return worker_main(Path(argv[1]), Path(argv[2]), Path(argv[3]), float(argv[4]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--packs", type=int, default=1000)
    parser.add_argument("--videos", type=int, default=0)
    parser.add_argument("--labels", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=200, help="cases per worker process")
    parser.add_argument("--hang-seconds", type=float, default=2.0)
    parser.add_argument("--memory-mb", type=float, default=500.0)
    parser.add_argument("--report", default=None, help="write the summary (with unclean cases) to this JSON file")
    args = parser.parse_args(argv)
    start = time.monotonic()
    result = campaign(
        args.images,
        args.packs,
        args.seed,
        args.batch,
        args.hang_seconds,
        memory_mb=args.memory_mb,
        videos=args.videos,
        labels=args.labels,
    )
    result["wall_seconds"] = round(time.monotonic() - start, 1)
    summary = {k: v for k, v in result.items() if k != "examples"}
    print(json.dumps(summary, indent=1))
    for example in result["examples"][:5]:
        print(json.dumps({k: v for k, v in example.items() if k != "case"}, indent=1)[:3000], file=sys.stderr)
    if args.report:
        Path(args.report).write_text(json.dumps(result, indent=1))
    return 1 if result["unclean"] else 0


if __name__ == "__main__":
    sys.exit(main())
