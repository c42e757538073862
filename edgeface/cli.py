"""The `edgeface` command: run, info, evaluate."""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

from . import __version__
from .errors import EdgefaceError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", help="auto, tflite, onnx, openvino or torch (default: auto)")
    p.add_argument("--model", default=None, help="model pack directory (default: the one shipped in the package)")
    p.add_argument("--precision", default="auto", help="auto, fp32, fp16 or int8 (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="network threads (default: backend's choice)")
    p.add_argument("--detector", default="auto", help="face detector (default: auto); see `edgeface info`")
    p.add_argument("--flip-average", action="store_true",
                   help="also run each face mirrored and average (more accurate, twice the network time)")


def _reconstructor(args, model=None, **extra):
    """A Reconstructor from the shared model options; `model` stands in for --model."""
    from .reconstructor import Reconstructor

    return Reconstructor(args.backend, model=args.model if model is None else model, precision=args.precision,
                         num_threads=args.threads, detector=args.detector, flip_average=args.flip_average, **extra)


def _dev_root(explicit, flag: str, why: str) -> Path:
    """The AFLW2000-3D folder: `flag`'s value, else $EDGEFACE_DATA/aflw2000_dev."""
    from .datasets import data_root

    if explicit:
        return Path(explicit)
    if data_root() is None:
        raise EdgefaceError(f"{why}: pass {flag} DIR or set EDGEFACE_DATA")
    return data_root() / "aflw2000_dev"


def _ict_file(explicit, why: str) -> Path:
    """ICT-FaceKit's npz: --ict's value, else $EDGEFACE_DATA/ict_facekit.npz."""
    from .train.morphable import MorphableModel

    ict = explicit or MorphableModel.default_path()
    if ict is None or not Path(ict).exists():
        raise EdgefaceError(f"{why} need ICT-FaceKit: --ict FILE or EDGEFACE_DATA")
    return Path(ict)


#: Exit codes of `edgeface` (README, "Command line"): everything done; done, but some input was
#: skipped or a video ended before the frames its container declares; nothing done (a user error,
#: named on stderr); an INT8 export failed its accuracy gate.
EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_GATE_FAILED = 0, 1, 2, 3
#: Output file names are cut to fit common file systems' 255-byte limit, with the suffix they get.
MAX_STEM_BYTES = 180


def cmd_run(args) -> int:
    from .video_run import is_camera

    source = Path(args.input)
    camera = is_camera(args.input) and not source.exists()
    if not source.exists() and not camera:
        raise EdgefaceError(f"input not found: {source} (a camera is named by its index, such as 0, or /dev/videoN)")
    if args.frames is not None and args.frames < 1:
        raise EdgefaceError(f"--frames must be 1 or more, not {args.frames}")
    out = _writable_folder(Path(args.out))
    rec = _reconstructor(args, refine=args.refine, max_faces=args.max_faces)
    if camera or (source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES):
        return _run_video(rec, args.input, out, args.frames, args.show)
    paths = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()) \
        if source.is_dir() else [source]
    if not paths:
        raise EdgefaceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {source}")
    return _run_images(rec, paths, out)


def _writable_folder(out: Path) -> Path:
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


def _run_images(rec, paths: list[Path], out: Path) -> int:
    import cv2

    from .image import load_image
    from .results import draw

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


def _run_video(rec, name: str, out: Path, frames: int | None, show: bool | None) -> int:
    """Track through a video or a camera (edgeface.video_run): an overlay video and tracks.json."""
    from . import video_run

    stem = "camera" + name.rsplit("/", 1)[-1] if video_run.is_camera(name) and not Path(name).is_file() \
        else output_stems([Path(name)])[Path(name)]
    done, declared, summary = video_run.run(rec, name, out, stem, rec.options.max_faces, frames, show)
    print(f"{name}: {done} frames at {summary['fps']:.1f} fps, {summary['tracks']} tracks, detector ran on "
          f"{summary['detector_runs']}; overlay {summary['overlay_codec']}; results in {out}")
    if done == 0:
        raise EdgefaceError(f"no frame of {name} could be decoded")
    if frames is None and declared > 0 and done < declared:
        print(f"edgeface: {name} ended after {done} of the {declared} frames its container declares "
              "(truncated or corrupt); the results cover those frames", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cpu_features() -> list[str]:
    from .cpu import features

    return sorted(features())


def cmd_info(args) -> int:
    from importlib import metadata

    from . import backends, detectors
    from .model import DEFAULT_PACK, MANIFEST_NAME, read_manifest

    print(f"edgeface {__version__}, Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"CPU features: {', '.join(cpu_features()) or 'unknown'}")
    present = backends.installed()
    print("backends:")
    for name, spec in backends.BACKENDS.items():
        if name in present:
            dist = {"onnx": "onnxruntime", "openvino": "openvino", "torch": "torch"}.get(name)
            versions = [f"{d} {metadata.version(d)}" for d in ([dist] if dist else ["ai-edge-litert", "tflite-runtime", "tensorflow"])
                        if _has_dist(d)]
            print(f"  {name:9s} installed ({', '.join(versions)})")
        else:
            print(f"  {name:9s} not installed: pip install 'edgeface[{spec.extra}]'")
    print("detectors: " + ", ".join(f"{n}{' (default)' if n == detectors.DEFAULT else ''}" for n in detectors.DETECTORS))
    pack = Path(args.model) if args.model else DEFAULT_PACK
    if (pack / MANIFEST_NAME).exists() or pack.is_file():
        m = read_manifest(pack)
        print(f"model {m.name} ({m.purpose}) at {m.root}: topology {m.topology}, input {m.input_size}px")
        for f in m.files:
            size = sum(p.stat().st_size for p in (f.path, *f.companions) if p.exists())
            print(f"  {f.format:9s} {f.precision:5s} {f.path.name} ({size / 1e6:.2f} MB)")
        print(f"  licence: {m.data.get('license', 'not stated')}")
        if m.data.get("not_validated"):
            print(f"  validated outputs: {', '.join(m.data.get('validated_outputs', []))}; not yet validated: "
                  f"{', '.join(m.data['not_validated'])} (see edgeface/models/README.md)")
    else:
        print(f"model: no default model shipped in this build ({DEFAULT_PACK})")
    return 0


def _has_dist(name: str) -> bool:
    from importlib import metadata

    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False


def cmd_evaluate(args) -> int:
    import cv2

    from .datasets import Aflw2000
    from .evaluate import evaluate_detector, evaluate_landmarks

    cv2.setNumThreads(args.threads or 0)
    if args.dataset == "synthetic":
        return _evaluate_synthetic(args)
    if args.dataset in ("celeba", "utkface", "verification"):
        return _evaluate_faces(args)
    dataset = Aflw2000.load(_dev_root(args.root, "--root", "no dataset"))
    if args.limit:
        dataset = dataset.subset(slice(0, args.limit))
    if args.detector_only:
        result = evaluate_detector(dataset, args.detector, **({"runner": args.runner} if args.runner else {}))
    else:
        rec = _reconstructor(args, refine=args.refine)
        if args.compare:
            from .evaluate import compare_landmarks

            # both models under the same options (refine and flip averaging included)
            result = compare_landmarks(rec, _reconstructor(args, model=args.compare, refine=args.refine), dataset)
            result.update(model_a=rec.manifest.name, model_b=args.compare)
            return _report(result, args.json)
        result = evaluate_landmarks(rec, dataset, use_detector=args.end_to_end)
        result.update(backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    return _report(result, args.json)


def _evaluate_faces(args) -> int:
    """CelebA attributes and verification, UTKFace age and gender, or a verification folder."""
    from . import evaluate_faces
    from .datasets import data_root

    if args.root:
        root = Path(args.root)
    elif args.dataset != "verification" and data_root() is not None:
        root = data_root() / args.dataset
    else:
        raise EdgefaceError(f"--dataset {args.dataset} needs --root DIR" +
                            ("" if args.dataset == "verification" else " (or EDGEFACE_DATA)"))
    required = {"celeba": ("names", "attributes", "attribute_names", "identity"),
                "utkface": ("names", "age", "gender"), "verification": ("names", "identity")}[args.dataset]
    photos = evaluate_faces.LabelledPhotos.load(root, args.split, required).limit(args.limit)
    rec = _reconstructor(args, refine=args.refine)
    run = {"celeba": evaluate_faces.evaluate_celeba, "utkface": evaluate_faces.evaluate_utkface,
           "verification": evaluate_faces.evaluate_verification}[args.dataset]
    faces = evaluate_faces.run_photos(rec, photos, what=args.dataset)
    result = run(rec, photos, faces=faces)
    result.update(dataset=args.dataset, backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    if args.compare:
        if args.dataset == "utkface":
            raise EdgefaceError("--compare works with --dataset aflw2000, celeba and verification")
        other = _reconstructor(args, model=args.compare, refine=args.refine)
        faces_b = evaluate_faces.run_photos(other, photos, what=f"{args.dataset} ({args.compare})")
        result.update({f"b_{k}": v for k, v in run(other, photos, faces=faces_b).items()
                       if not isinstance(v, dict)})
        pairs, is_same = evaluate_faces.folder_pairs(photos) if args.dataset == "verification" else (None, None)
        result.update(evaluate_faces.compare_verification(faces, faces_b, photos.labels["identity"], pairs, is_same))
        result["model_b"] = args.compare
    return _report(result, args.json)


def _gate_celeba(explicit, manifest):
    """CelebA dev photos for the INT8 gate, for a model with CelebA's attributes (None otherwise)."""
    from .datasets import data_root
    from .evaluate_faces import LabelledPhotos

    if "5_o_Clock_Shadow" not in manifest.attribute_names:
        return None
    root = Path(explicit) if explicit else (data_root() / "celeba" if data_root() is not None else None)
    if root is None or not root.exists():
        raise EdgefaceError("the INT8 gate of a model with CelebA's attributes needs CelebA dev photos: "
                            "pass --gate-celeba DIR or set EDGEFACE_DATA")
    return LabelledPhotos.load(root, "dev", ("names", "attributes", "attribute_names", "identity"))


def _report(result: dict, json_path) -> int:
    """Print an evaluation's figures, one per line, and write them to `json_path` if given."""
    width = max(len(k) for k in result) + 2
    for key, value in result.items():
        if isinstance(value, dict):  # per-name tables go to the JSON; print a short form
            value = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        print(f"{key:{width}s} {value:.4f}" if isinstance(value, float) else f"{key:{width}s} {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return 0


def _evaluate_synthetic(args) -> int:
    """Held-out synthetic faces: shards at --root, or rendered now with the reserved held-out seed."""
    from .evaluate import evaluate_synthetic

    rec = _reconstructor(args)
    if args.root:
        from .train.synthetic import SyntheticShards

        data = SyntheticShards(args.root)
        samples = [data[i] for i in range(min(args.limit or len(data), len(data)))]
        names = data.meta["attribute_names"]
    else:
        from .train.morphable import MorphableModel
        from .train.synthetic import held_out

        m = rec.manifest
        samples, names = held_out(MorphableModel.default_path(), m.input_size, m.crop_scale, m.crop_shift_y,
                                  count=args.limit or 500)
    result = evaluate_synthetic(rec.model, samples, names)
    result.update(backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    return _report(result, args.json)


def cmd_benchmark(args) -> int:
    from . import bench

    try:
        threads = tuple(int(t) for t in args.threads.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        raise EdgefaceError(f"--threads must be positive whole numbers, comma-separated (e.g. 1,2), not {args.threads!r}")
    results = []
    for case in bench.cases(model=args.model, threads=threads, batches=(1,) if args.quick else (1, 8)):
        if args.filter and args.filter not in case.name:
            continue
        results.append(bench.time_case(case, min_seconds=0.2 if args.quick else 1.0))
        print(f"  {case.name}: {results[-1]['median_ms']:.3f} ms", file=sys.stderr, flush=True)
    print(f"edgeface {__version__} on {platform.machine()} ({', '.join(cpu_features()) or 'CPU features unknown'}); "
          "emulated or virtualised machines time differently from the device itself")
    print(bench.table(results))
    report = {"machine": platform.machine(), "results": results}
    if args.steadiness:
        from . import steadiness
        from .reconstructor import Reconstructor

        report["steadiness"] = steadiness.report(Reconstructor(model=args.model), bench.sample_image())
        print(steadiness.table(report["steadiness"]))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


def cmd_goldens(args) -> int:
    from . import goldens
    from .datasets import Aflw2000

    images = [Path(p) for p in args.images]
    if not images:
        dev = Aflw2000.load(_dev_root(args.root, "--root", "no face images: give some, or the AFLW2000-3D dev set"))
        images = [dev.image_path(i) for i in range(3)]
    out = goldens.write(args.out, images, model=args.model)
    print(f"golden vectors for ports of the runtime written to {out}")
    return 0


def cmd_export(args) -> int:
    from .datasets import Aflw2000
    from .train import quantize
    from .train.export import export_checkpoint

    formats = tuple(f.strip() for f in args.formats.split(","))
    precisions = tuple(p.strip() for p in args.precision.split(","))
    if args.checkpoint:
        card = json.loads(Path(args.card).read_text()) if args.card else {}
        card.update({"license": args.license} if args.license else {})
        export_checkpoint(args.checkpoint, args.out, formats=formats, ict=args.ict, card=card or None)
    elif not (Path(args.out) / "edgeface.json").exists():
        raise EdgefaceError("pass --checkpoint, or --out pointing at an existing pack to add INT8 files to it")
    print(f"fp32 model pack: {args.out}")
    if "int8" not in precisions:
        return 0
    if not args.calibration:
        raise EdgefaceError("INT8 needs --calibration DIR (a folder of face crops at the model's input size)")
    from .model import read_manifest

    crops = quantize.load_calibration(args.calibration, read_manifest(args.out).input_size)
    quantize.add_int8(args.out, crops, formats=formats)
    root = _dev_root(args.gate_root, "--gate-root", "the INT8 gate needs the AFLW2000-3D dev set")
    ict = _ict_file(args.ict, "the INT8 gate's held-out synthetic faces")
    manifest = read_manifest(args.out)
    from .train.synthetic import held_out

    synthetic = held_out(ict, manifest.input_size, manifest.crop_scale, manifest.crop_shift_y,
                         count=quantize.GATE_SYNTHETIC_FACES)
    celeba = _gate_celeba(args.gate_celeba, manifest)
    report = quantize.gate(args.out, Aflw2000.load(root), formats, synthetic, celeba)
    failed = []
    for fmt, r in report.items():
        worst = max(r["synthetic_attribute_accuracy_drop"].values(), default=0.0)
        print(f"INT8 gate {fmt:9s} balanced NME AFLW2000 {100 * r['fp32_nme_balanced']:.2f} % -> "
              f"{100 * r['int8_nme_balanced']:.2f} % ({100 * r['nme_rise_relative']:+.1f} %), synthetic "
              f"{100 * r['synthetic_fp32_nme_balanced']:.2f} % -> {100 * r['synthetic_int8_nme_balanced']:.2f} % "
              f"({100 * r['synthetic_nme_rise_relative']:+.1f} %; limit +{100 * quantize.MAX_NME_RISE:.0f} %); "
              f"worst attribute accuracy drop {100 * worst:+.1f} points (limit {100 * quantize.MAX_ATTRIBUTE_DROP:.0f} "
              f"beyond noise; failing: {', '.join(r['synthetic_attributes_failing']) or 'none'}), flips on photos "
              f"{100 * r['attribute_flips']:.2f} % (limit {100 * r['attribute_flip_limit']:.2f} %: 1 % or fp32's own "
              f"under a 1 px box shift, {100 * r['fp32_attribute_flips_1px_shift']:.2f} %): "
              + (f"CelebA dev attribute accuracy {100 * r['celeba_fp32_attribute_accuracy']:.2f} -> "
                 f"{100 * r['celeba_int8_attribute_accuracy']:.2f} % (limit -{100 * quantize.MAX_CELEBA_ATTRIBUTE_DROP:.0f} "
                 f"point), identity EER {r['celeba_fp32_eer']:.3f} -> {r['celeba_int8_eer']:.3f} (limit "
                 f"+{quantize.MAX_EER_RISE}): " if "celeba_eer_rise" in r else "")
              + f"{'passed' if r['passed'] else 'FAILED, removed from the pack'}")
        if not r["passed"]:
            quantize.remove_int8(args.out, fmt)
            failed.append(fmt)
    if args.gate_json:
        Path(args.gate_json).write_text(json.dumps(report, indent=1))
    if failed:
        print(f"edgeface: error: INT8 {', '.join(failed)} failed the accuracy gate", file=sys.stderr)
        return EXIT_GATE_FAILED
    return 0


def cmd_align_landmarks(args) -> int:
    from .datasets import Aflw2000
    from .train.landmarks import YAW_ANCHORS, align

    dataset = Aflw2000.load(_dev_root(args.root, "--root", "no dataset"))
    ict = _ict_file(args.ict, "the landmarks' neighbourhoods")
    try:
        anchors = list(YAW_ANCHORS) if args.yaw_anchors is None else [float(a) for a in args.yaw_anchors.split(",")]
    except ValueError:
        raise SystemExit(f"edgeface: error: --yaw-anchors must be comma-separated degrees, got {args.yaw_anchors!r}")
    if sorted(set(anchors)) != anchors:
        raise SystemExit(f"edgeface: error: --yaw-anchors must increase, got {args.yaw_anchors!r}")
    report = align(args.model, dataset, ict, count=args.neighbours, backend=args.backend, anchors=anchors)
    for fold in (0, 1):
        a, b = report[f"fold{fold}_fixed"], report[f"fold{fold}_aligned"]
        print(f"fold {fold} (fit on {'even' if fold == 0 else 'odd'} images, scored on the others): balanced NME "
              f"{100 * a['nme_balanced']:.2f} % -> {100 * b['nme_balanced']:.2f} % (|yaw| bins "
              + " / ".join(f"{100 * b[k]:.2f}" for k in ("nme_0_30", "nme_30_60", "nme_60_90")) + " %)")
    print(f"two-fold balanced NME: ICT vertices {100 * report['two_fold_nme_balanced_fixed']:.2f} %, aligned "
          f"{100 * report['two_fold_nme_balanced_aligned']:.2f} %; the fold-0 definition is in {args.model}")
    if args.compare:
        import numpy as np

        from .evaluate import paired_difference

        other = align(args.compare, dataset, ict, count=args.neighbours, backend=args.backend, anchors=anchors)
        c = paired_difference(np.array(report["held_out_nme"]), np.array(other["held_out_nme"]), dataset.yaw_bin())
        report["compare"] = {"model_b": str(args.compare), **c}
        print(f"held-out balanced NME over all {len(dataset)} images: {100 * c['nme_balanced_a']:.2f} % here, "
              f"{100 * c['nme_balanced_b']:.2f} % for {args.compare}; difference {100 * c['difference']:+.2f} points, "
              f"95 % interval [{100 * c['difference_ci95_low']:+.2f}, {100 * c['difference_ci95_high']:+.2f}]")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "train" and any(a == "--recipe" or a.startswith("--recipe=") for a in argv[1:]):
        from .train.recipe import main as recipe_main  # every stage of a shipped model (edgeface/train/recipe.py)

        return recipe_main(argv[1:])
    if argv and argv[0] == "train":  # the trainer owns its flags (edgeface/train/trainer.py)
        from .train.trainer import main as train_main

        return train_main(argv[1:])
    if argv and argv[0] == "synthesize":  # so does the synthetic engine (edgeface/train/synthetic.py)
        from .train.synthetic import main as synthetic_main

        return synthetic_main(argv[1:])

    parser = argparse.ArgumentParser(prog="edgeface", description="Single-image 3D face reconstruction on the edge.")
    parser.add_argument("--version", action="version", version=f"edgeface {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="reconstruct faces in an image, a folder of images, or a video")
    run.add_argument("input", help="image file, folder of images, video file, or camera (0, 1, ... or /dev/videoN)")
    run.add_argument("--out", default="edgeface_out", help="output folder (default: edgeface_out)")
    run.add_argument("--refine", action="store_true", help="second pass from the first pass's landmarks")
    run.add_argument("--max-faces", type=int, default=None,
                     help="at most this many faces per image or video frame, largest first (default: all)")
    run.add_argument("--frames", type=int, default=None, help="video or camera: stop after this many frames")
    run.add_argument("--show", action=argparse.BooleanOptionalAction, default=None,
                     help="video or camera: a live overlay window (default: for cameras, where a display exists)")
    _add_model_options(run)
    run.set_defaults(func=cmd_run)

    info = sub.add_parser("info", help="installed backends, models, versions and CPU features")
    info.add_argument("--model", default=None)
    info.set_defaults(func=cmd_info)

    ev = sub.add_parser("evaluate", help="accuracy on a labelled dataset (AFLW2000-3D layout)")
    ev.add_argument("--dataset", default="aflw2000", choices=["aflw2000", "synthetic", "celeba", "utkface", "verification"])
    ev.add_argument("--root", default=None, help="dataset folder (default: $EDGEFACE_DATA/aflw2000_dev, "
                    "$EDGEFACE_DATA/celeba or $EDGEFACE_DATA/utkface; for synthetic: shards from "
                    "`edgeface synthesize write`, else held-out faces rendered now; verification: required)")
    ev.add_argument("--split", default="dev", help="celeba/utkface/verification: the labels' split to score "
                    "(where labels.npz has a split array)")
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")
    ev.add_argument("--detector-only", action="store_true", help="measure the face detector alone")
    ev.add_argument("--end-to-end", action="store_true", help="crop from the detector instead of roi_box")
    ev.add_argument("--runner", default=None, help="detector runtime for --detector-only: tflite or opencv")
    ev.add_argument("--refine", action="store_true")
    ev.add_argument("--limit", type=int, default=None, help="first N images only")
    ev.add_argument("--compare", default=None, metavar="PACK", help="also run this model pack on the same photos "
                    "and report the difference (--model minus PACK) with a paired-bootstrap 95 %% interval: balanced "
                    "NME (aflw2000, ROI crops), identity-verification EER (celeba, verification)")
    _add_model_options(ev)
    ev.set_defaults(func=cmd_evaluate)

    ex = sub.add_parser("export", help="trained checkpoint -> model pack (ONNX, OpenVINO, TFLite; fp32 and gated INT8)")
    ex.add_argument("--checkpoint", default=None, help="trainer checkpoint (omit to add INT8 to the pack at --out)")
    ex.add_argument("--out", required=True, help="model pack folder to write")
    ex.add_argument("--formats", default="onnx,openvino,tflite")
    ex.add_argument("--precision", default="fp32", help="fp32 and/or int8, comma-separated")
    ex.add_argument("--calibration", default=None, help="folder of face crops for INT8 calibration")
    ex.add_argument("--gate-root", default=None, help="AFLW2000-3D dev folder for the INT8 accuracy gate")
    ex.add_argument("--gate-json", default=None, help="write the gate's figures here")
    ex.add_argument("--gate-celeba", default=None, help="CelebA folder for the gate's attribute and identity "
                    "checks (default: $EDGEFACE_DATA/celeba; only for a model with CelebA's attributes)")
    ex.add_argument("--ict", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    ex.add_argument("--license", default=None, help="licence text for the manifest")
    ex.add_argument("--card", default=None, help="JSON file of model-card fields for the manifest (name, version, "
                    "purpose, training, license, validated_outputs, not_validated)")
    ex.set_defaults(func=cmd_export)

    bm = sub.add_parser("benchmark", help="time the network, processing and end to end on this device")
    bm.add_argument("--model", default=None)
    bm.add_argument("--threads", default="1,2", help="thread counts to time, comma-separated (default 1,2)")
    bm.add_argument("--quick", action="store_true", help="batch 1 only, shorter timing")
    bm.add_argument("--filter", default=None, help="only cases whose name contains this")
    bm.add_argument("--steadiness", action="store_true", help="also measure video tracking: still-face jitter by "
                    "position, lag after a jump, error on a pan (edgeface.steadiness)")
    bm.add_argument("--json", default=None)
    bm.set_defaults(func=cmd_benchmark)

    al = sub.add_parser("align-landmarks", help="fit a pack's 68-landmark definition to AFLW2000-3D's annotation "
                        "convention on half the dev set, score it on the other half")
    al.add_argument("--model", required=True, help="model pack directory (its manifest is updated)")
    al.add_argument("--root", default=None, help="AFLW2000-3D folder (default: $EDGEFACE_DATA/aflw2000_dev)")
    al.add_argument("--ict", default=None, help="ICT-FaceKit npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    al.add_argument("--neighbours", type=int, default=16, help="mesh points each landmark may combine")
    al.add_argument("--backend", default="onnx", help="backend whose fp32 file makes the predictions")
    al.add_argument("--yaw-anchors", default=None, help="head yaws (degrees, comma-separated) that get their own "
                    "weights (default: edgeface.train.landmarks.YAW_ANCHORS, -60,0,60); '0' for one definition")
    al.add_argument("--compare", default=None, metavar="PACK", help="also align this pack the same way and report "
                    "the paired difference of the two (every image held out by one fold or the other)")
    al.add_argument("--json", default=None, help="also write the figures to this JSON file")
    al.set_defaults(func=cmd_align_landmarks)

    gd = sub.add_parser("goldens", help="golden vectors for ports of the runtime (the Android app's Kotlin core)")
    gd.add_argument("images", nargs="*", help="face images (default: the first three AFLW2000-3D dev images)")
    gd.add_argument("--out", required=True)
    gd.add_argument("--root", default=None, help="AFLW2000-3D folder when no images are given")
    gd.add_argument("--model", default=None)
    gd.set_defaults(func=cmd_goldens)

    sub.add_parser("train", help="train a teacher or student: edgeface train {teacher,student} --config FILE ...")
    sub.add_parser("synthesize", help="render labelled synthetic faces: edgeface synthesize {write,sheet} ...")

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except EdgefaceError as error:
        print(f"edgeface: error: {error}", file=sys.stderr)
    except OSError as error:  # a disk that fills up or a folder that vanishes mid-run
        where = f": {error.filename}" if error.filename else ""
        print(f"edgeface: error: {error.strerror or error}{where}", file=sys.stderr)
    except KeyboardInterrupt:
        print("edgeface: interrupted", file=sys.stderr)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
