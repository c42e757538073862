"""Latency cases shared by `edgeface benchmark` and the pytest-benchmark suite in benchmarks/.

A case is a named callable plus a check of its result, built for what is installed here:
the network alone per backend x precision x threads x batch, pre- and post-processing, one image
end to end, a video frame in tracking mode, and MediaPipe's face-landmark network run through the
same TFLite interpreter with the same thread count (when the `mediapipe` wheel is installed; its
file is read, the package is never imported for this).
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..runtime import backends

MEDIAPIPE_LANDMARK = Path("modules") / "face_landmark" / "face_landmark.tflite"


@dataclass
class Case:
    name: str
    group: str
    make: Callable[[], Callable[[], object]]  # builds the timed callable (loading stays out of the timing)
    check: Callable[[object], bool]
    note: str = ""


def mediapipe_landmark_file() -> Path | None:
    """MediaPipe's legacy face-landmark network inside an installed mediapipe wheel, if any."""
    try:
        spec = importlib.util.find_spec("mediapipe")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / MEDIAPIPE_LANDMARK
    return path if path.exists() else None


#: A synthetic 450x450 portrait rendered by edgeface's own engine from ICT-FaceKit (MIT): the photo
#: the end-to-end and video rows use when the dev set is not there, so every row runs anywhere.
PORTRAIT = Path(__file__).parents[1] / "runtime" / "assets" / "portrait.jpg"


def sample_image() -> np.ndarray:
    """A 450x450 face photo: the dev set's image00002 when the data folder is there, else the
    shipped synthetic portrait."""
    from ..runtime.image import load_image
    from .datasets import data_root

    root = data_root()
    path = root / "aflw2000_dev" / "images" / "image00002.jpg" if root else None
    return load_image(path if path is not None and path.exists() else PORTRAIT)


def cases(model=None, threads=(1, 2), batches=(1, 8)) -> list[Case]:
    """Every case of the benchmark: the network per backend, precision, thread count and batch (and
    MediaPipe's landmark network beside it), the processing stages, a photo end to end and a
    tracked video frame (and MediaPipe FaceMesh where it is installed)."""
    from ..runtime.pack import read_manifest

    manifest = read_manifest(model)
    rng = np.random.default_rng(0)  # one generator: the cases draw their inputs from it in this order
    present = backends.installed()
    out = _network_cases(model, manifest, present, threads, batches, rng)
    if not present:
        return out
    backend = next(b for b in backends.AUTO_ORDER["fp32"] if b in present and b != "torch")
    image = sample_image()
    out += _processing_cases(model, manifest, backend, image, rng)
    out += _end_to_end_cases(model, backend, present, image)
    if backends.importable("mediapipe"):
        out += _facemesh_cases(image)
    return out


def _network_cases(model, manifest, present, threads, batches, rng) -> list[Case]:
    from ..runtime.reconstructor import Reconstructor

    size = manifest.input_size
    out: list[Case] = []

    def network(backend, precision, n_threads, batch):
        def make():
            m = Reconstructor(backend, model=model, precision=precision, num_threads=n_threads).model
            tensor = m.preprocess(rng.integers(0, 256, (batch, size, size, 3), dtype=np.uint8))
            return lambda: m.backend.run(tensor)

        return make

    for backend in ("tflite", "onnx", "openvino"):
        if backend not in present:
            continue
        for precision in manifest.precisions(backends.BACKENDS[backend].file_format):
            for n_threads in threads:
                for batch in batches:
                    name = f"network/{backend}/{precision}/t{n_threads}/b{batch}"
                    check = lambda r, b=batch: r[0].shape[0] == b  # noqa: E731
                    out.append(Case(name, "network", network(backend, precision, n_threads, batch), check))
    peer = mediapipe_landmark_file()
    if peer is not None and "tflite" in present:
        for n_threads in threads:

            def make_peer(n=n_threads):
                from ..runtime.backends.tflite import TfliteBackend

                b = TfliteBackend(peer, n)
                tensor = rng.random((1,) + tuple(b.inputs[0].shape[1:]), dtype=np.float32)
                return lambda: b.run(tensor)

            note = "MediaPipe face_landmark.tflite (468 points), same interpreter"
            name = f"network/mediapipe_face_landmark/fp32/t{n_threads}/b1"
            out.append(Case(name, "network", make_peer, lambda r: r[0].size > 0, note=note))
    return out


def _processing_cases(model, manifest, backend, image, rng) -> list[Case]:
    from ..runtime.reconstructor import Reconstructor

    size = manifest.input_size
    crop = rng.integers(0, 256, (1, size, size, 3), dtype=np.uint8)

    def make_pre():
        m = Reconstructor(backend, model=model).model
        return lambda: m.preprocess(crop)

    def make_post():
        rec = Reconstructor(backend, model=model)
        outputs = rec.model(crop)
        crop_box = rec.pipeline.crop_for([100, 100, 300, 300])
        return lambda: rec.pipeline.decode(outputs, 0, crop_box, [100, 100, 300, 300], 1.0)

    def make_cut():
        rec = Reconstructor(backend, model=model)
        crop_box = rec.pipeline.crop_for([100, 100, 300, 300])
        return lambda: rec.pipeline.cut(image, [crop_box])

    return [
        Case("preprocess", "processing", make_pre, lambda r: r.shape[0] == 1),
        Case("postprocess", "processing", make_post, lambda r: r.dense.shape == (manifest.num_points, 3)),
        # the crop: edgeface.runtime.resample, the arithmetic the Kotlin core shares
        Case("crop", "processing", make_cut, lambda r: r.shape == (1, size, size, 3)),
    ]


def _end_to_end_cases(model, backend, present, image) -> list[Case]:
    from ..runtime.reconstructor import Reconstructor

    out = []
    for b in ("tflite", "onnx", "openvino"):
        if b not in present:
            continue

        def make_e2e(b=b):
            import cv2

            cv2.setNumThreads(1)
            rec = Reconstructor(b, model=model, num_threads=1)
            rec(image)
            return lambda: rec(image)

        out.append(Case(f"end_to_end/{b}/t1", "end_to_end", make_e2e, lambda r: len(r) == 1))

    def make_video(b=backend):
        import cv2

        cv2.setNumThreads(1)
        rec = Reconstructor(b, model=model, num_threads=1)
        tracker = rec.tracker(max_faces=1)
        frames = [np.roll(image, shift, axis=1) for shift in range(0, 30, 2)]
        state = {"i": 0}

        def step():
            state["i"] += 1
            return tracker(frames[state["i"] % len(frames)])

        return step

    note = "tracking from the previous frame; the detector runs only when the track is lost"
    out.append(Case(f"video_frame/{backend}/t1", "end_to_end", make_video, lambda r: len(r) == 1, note=note))
    return out


def _facemesh_cases(image) -> list[Case]:
    rgb = np.ascontiguousarray(image[..., ::-1])

    def make_facemesh(static=True):
        import mediapipe as mp

        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=static, max_num_faces=1)
        return lambda: mesh.process(rgb)

    def one_face(r):
        return len(r.multi_face_landmarks or []) == 1

    return [
        Case(
            "end_to_end/mediapipe_facemesh",
            "end_to_end",
            make_facemesh,
            one_face,
            note="MediaPipe FaceMesh, static image mode (detector + landmarks every call); its own threads",
        ),
        Case(
            "video_frame/mediapipe_facemesh",
            "end_to_end",
            lambda: make_facemesh(False),
            one_face,
            note="MediaPipe FaceMesh in video mode (tracking); its own threads",
        ),
    ]


#: The stages of a photo in the order the pipeline runs them; `split` times each.
STAGES = ("detect", "crop", "encode", "network", "decode")


class _Stopwatch:
    """Milliseconds spent in each stage, summed over calls until `take`."""

    def __init__(self):
        self.spent = dict.fromkeys(STAGES, 0.0)

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[stage] += (time.perf_counter() - start) * 1e3

        return timed

    def take(self) -> dict[str, float]:
        spent, self.spent = self.spent, dict.fromkeys(STAGES, 0.0)
        return spent


class _Timed:
    """A detector whose calls are timed; its other attributes are the detector's."""

    def __init__(self, detector, timed_call):
        self._detector, self._call = detector, timed_call

    def __call__(self, image, **options):
        return self._call(image, **options)

    def __getattr__(self, name):
        return getattr(self._detector, name)


def split(run: Callable[[], object], rec, calls: int, rounds: int = 3) -> dict[str, float]:
    """Median milliseconds per call of `run` (a photo through `rec`, or a frame through its tracker)
    spent in each stage, and in all (`total`; `other` is the Python between stages). The stages are
    timed by wrapping the pipeline's own methods on this one instance, so what runs is the
    pipeline's code path unchanged; the wrappers' own time is counted in their stages."""
    pipeline, model = rec.pipeline, rec.model
    watch = _Stopwatch()
    # an instance attribute shadows the method: the pipeline's calls to self.cut etc. go through it
    originals = {
        "cut": pipeline.cut,
        "infer": pipeline.infer,
        "faces": pipeline.faces,
        "answer_box": pipeline.answer_box,
    }
    stage_of = {"cut": "crop", "infer": "network", "faces": "decode", "answer_box": "decode"}
    for name, fn in originals.items():
        setattr(pipeline, name, watch.wrap(stage_of[name], fn))
    preprocess = model.preprocess
    model.preprocess = watch.wrap("encode", preprocess)
    detector = pipeline.detector  # every detector run, the tracker's checks of its crops included
    pipeline._detector = _Timed(detector, watch.wrap("detect", detector))
    try:
        per_round = []
        for _ in range(rounds):
            watch.take()
            start = time.perf_counter()
            for _ in range(calls):
                run()
            total = (time.perf_counter() - start) * 1e3 / calls
            spent = {k: v / calls for k, v in watch.take().items()}
            spent["network"] -= spent["encode"]  # the encoding runs inside infer
            spent["total"] = total
            spent["other"] = total - sum(spent[k] for k in STAGES)
            per_round.append(spent)
    finally:
        for name in originals:
            delattr(pipeline, name)
        del model.preprocess
        pipeline._detector = detector
    return {k: float(np.median([r[k] for r in per_round])) for k in per_round[0]}


def stages(model=None, rounds: int = 5, calls: int = 20) -> dict[str, dict[str, float]]:
    """`split` of a photo (`sample_image`) with the default settings and with refine=False, and of a
    tracked video frame (the same photo repeated), on the default backend with one thread."""
    import cv2

    from ..runtime.reconstructor import Reconstructor

    cv2.setNumThreads(1)
    image = sample_image()
    out = {}
    for name, refine in (("photo, default (refine)", True), ("photo, refine=False", False)):
        rec = Reconstructor(model=model, num_threads=1, refine=refine)
        rec(image)
        out[name] = split(lambda rec=rec: rec(image), rec, calls, rounds)
    rec = Reconstructor(model=model, num_threads=1)
    tracker = rec.tracker(max_faces=1)
    for _ in range(10):
        tracker(image)
    out["video frame (tracker)"] = split(lambda: tracker(image), rec, calls * 5, rounds)
    return out


def split_table(rows: dict[str, dict[str, float]]) -> str:
    """Plain-text table of `split` results, one row per named run."""
    keys = (*STAGES, "other", "total")
    lines = [f"{'ms per call':28s} " + " ".join(f"{k:>8s}" for k in keys)]
    for name, spent in rows.items():
        lines.append(f"{name:28s} " + " ".join(f"{spent[k]:8.3f}" for k in keys))
    return "\n".join(lines)


def time_case(case: Case, min_seconds: float = 1.0, min_rounds: int = 20, warmup: int = 10) -> dict:
    fn = case.make()
    result = None
    for _ in range(warmup):
        result = fn()
    if not case.check(result):
        raise RuntimeError(f"{case.name}: unexpected output")
    times = []
    start = time.perf_counter()
    while len(times) < min_rounds or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    ms = np.array(times) * 1000
    return {
        "name": case.name,
        "median_ms": float(np.median(ms)),
        "iqr_ms": float(np.subtract(*np.percentile(ms, [75, 25]))),
        "rounds": len(ms),
    }


def interleaved(calls: dict, rounds: int = 30, per_round: int = 20, warmup: int = 20) -> dict[str, list[float]]:
    """Milliseconds per call of each named function, timed in alternating rounds so that a busy
    machine slows them alike (compare the medians, read the ratios)."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[name].append((time.perf_counter() - start) / per_round * 1e3)
    return times


def table(results: list[dict]) -> str:
    """Plain-text table; each network row also gets its ratio to MediaPipe's network at the same threads."""
    peer = {r["name"].split("/")[3]: r["median_ms"] for r in results if r["name"].startswith("network/mediapipe")}
    lines = [f"{'case':44s} {'median ms':>10s} {'IQR ms':>8s} {'rounds':>7s} {'vs MediaPipe':>13s}"]
    for r in results:
        ratio = ""
        parts = r["name"].split("/")
        if parts[0] == "network" and "mediapipe" not in r["name"] and parts[3] in peer and parts[4] == "b1":
            ratio = f"{r['median_ms'] / peer[parts[3]]:.2f}x"
        lines.append(f"{r['name']:44s} {r['median_ms']:10.3f} {r['iqr_ms']:8.3f} {r['rounds']:7d} {ratio:>13s}")
    return "\n".join(lines)
