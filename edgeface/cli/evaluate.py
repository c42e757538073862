"""`edgeface evaluate`: accuracy on AFLW2000-3D, CelebA, UTKFace, a verification folder, closed eyes
(AFLW crops with MERL-RAV's 68 points) or synthetic faces."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import add_model_options, dev_root, reconstructor, report

HELP = "accuracy on a labelled dataset (AFLW2000-3D layout)"


def positive(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_arguments(ev) -> None:
    ev.add_argument(
        "--dataset", default="aflw2000", choices=["aflw2000", "synthetic", "celeba", "utkface", "verification", "eyes"]
    )
    ev.add_argument(
        "--root",
        default=None,
        help="dataset folder (default: $EDGEFACE_DATA/aflw2000_dev, "
        "$EDGEFACE_DATA/celeba, $EDGEFACE_DATA/utkface or, for eyes, $EDGEFACE_DATA/aflw_train; "
        "for synthetic: shards from "
        "`edgeface synthesize write`, else held-out faces rendered now; verification: required)",
    )
    ev.add_argument(
        "--split",
        default="dev",
        help="celeba/utkface/verification: the labels' split to score "
        "(where labels.npz has a split array); eyes: dev (the crops the training stages hold out) or all",
    )
    ev.add_argument("--json", default=None, help="also write the results to this JSON file")
    ev.add_argument("--detector-only", action="store_true", help="measure the face detector alone")
    ev.add_argument("--end-to-end", action="store_true", help="crop from the detector instead of roi_box")
    ev.add_argument("--runner", default=None, help="detector runtime for --detector-only: tflite or opencv")
    ev.add_argument(
        "--refine",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a second pass cropped from the first pass's landmarks, as the SDK runs by default "
        "(--no-refine: one pass)",
    )
    ev.add_argument("--limit", type=positive, default=None, help="first N images only (N >= 1)")
    ev.add_argument(
        "--compare",
        default=None,
        metavar="PACK",
        help="also run this model pack on the same photos "
        "and report the difference (--model minus PACK) with a paired-bootstrap 95 %% interval: balanced "
        "NME (aflw2000, ROI crops), identity-verification EER (celeba, verification)",
    )
    add_model_options(ev)


def run(args) -> int:
    import cv2

    from ..tools.datasets import Aflw2000
    from ..tools.evaluate import compare_landmarks, evaluate_detector, evaluate_landmarks

    cv2.setNumThreads(args.threads or 0)
    if args.dataset == "synthetic":
        return _synthetic(args)
    if args.dataset in ("celeba", "utkface", "verification"):
        return _faces(args)
    if args.dataset == "eyes":
        return _eyes(args)
    dataset = Aflw2000.load(dev_root(args.root, "--root", "no dataset"))
    if args.limit:
        dataset = dataset.subset(slice(0, args.limit))
    if args.detector_only:
        result = evaluate_detector(dataset, args.detector, **({"runner": args.runner} if args.runner else {}))
    else:
        rec = reconstructor(args, refine=args.refine)
        if args.compare:
            # both models under the same options (refine and flip averaging included)
            result = compare_landmarks(rec, reconstructor(args, model=args.compare, refine=args.refine), dataset)
            result.update(model_a=rec.manifest.name, model_b=args.compare)
            return report(result, args.json)
        result = evaluate_landmarks(rec, dataset, use_detector=args.end_to_end)
        result.update(backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    return report(result, args.json)


def _faces(args) -> int:
    """CelebA attributes and verification, UTKFace age and gender, or a verification folder."""
    from ..tools import evaluate_faces
    from ..tools.datasets import data_root

    if args.root:
        root = Path(args.root)
    elif args.dataset != "verification" and data_root() is not None:
        root = data_root() / args.dataset
    else:
        raise EdgefaceError(
            f"--dataset {args.dataset} needs --root DIR"
            + ("" if args.dataset == "verification" else " (or EDGEFACE_DATA)")
        )
    required = {
        "celeba": ("names", "attributes", "attribute_names", "identity"),
        "utkface": ("names", "age", "gender"),
        "verification": ("names", "identity"),
    }[args.dataset]
    photos = evaluate_faces.LabelledPhotos.load(root, args.split, required).limit(args.limit)
    rec = reconstructor(args, refine=args.refine)
    score = {
        "celeba": evaluate_faces.evaluate_celeba,
        "utkface": evaluate_faces.evaluate_utkface,
        "verification": evaluate_faces.evaluate_verification,
    }[args.dataset]
    faces = evaluate_faces.run_photos(rec, photos, what=args.dataset)
    result = score(rec, photos, faces=faces)
    result.update(dataset=args.dataset, backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    if args.compare:
        if args.dataset == "utkface":
            raise EdgefaceError("--compare works with --dataset aflw2000, celeba and verification")
        other = reconstructor(args, model=args.compare, refine=args.refine)
        faces_b = evaluate_faces.run_photos(other, photos, what=f"{args.dataset} ({args.compare})")
        result.update({f"b_{k}": v for k, v in score(other, photos, faces=faces_b).items() if not isinstance(v, dict)})
        pairs, is_same = evaluate_faces.folder_pairs(photos) if args.dataset == "verification" else (None, None)
        result.update(evaluate_faces.compare_verification(faces, faces_b, photos.labels["identity"], pairs, is_same))
        result["model_b"] = args.compare
    return report(result, args.json)


def _eyes(args) -> int:
    """Eye closure, eyeBlink and eyelid landmarks against MERL-RAV's labelled eye openings."""
    from ..tools.datasets import data_root
    from ..tools.evaluate_eyes import evaluate_eyes

    if args.split not in ("dev", "all"):
        raise EdgefaceError(f"--dataset eyes scores --split dev (the held-out crops) or all, not {args.split!r}")
    root = Path(args.root) if args.root else (data_root() / "aflw_train" if data_root() is not None else None)
    if root is None:
        raise EdgefaceError("--dataset eyes needs --root DIR (or EDGEFACE_DATA)")
    rec = reconstructor(args, refine=args.refine)
    result = evaluate_eyes(rec, root, held_out=args.split == "dev", limit=args.limit)
    result.update(
        dataset="eyes", split=args.split, backend=rec.backend, precision=rec.precision, model=rec.manifest.name
    )
    return report(result, args.json)


def _synthetic(args) -> int:
    """Held-out synthetic faces: shards at --root, or rendered now with the reserved held-out seed."""
    from .train import require_train_extra

    require_train_extra("evaluate --dataset synthetic")
    from ..tools.evaluate import evaluate_synthetic
    from ..train.morphable import MorphableModel
    from ..train.synthetic import held_out
    from ..train.synthetic_sets import SyntheticShards

    rec = reconstructor(args)
    if args.root:
        data = SyntheticShards(args.root)
        samples = [data[i] for i in range(min(args.limit or len(data), len(data)))]
        names = data.meta["attribute_names"]
    else:
        m = rec.manifest
        samples, names = held_out(
            MorphableModel.default_path(), m.input_size, m.crop_scale, m.crop_shift_y, count=args.limit or 500
        )
    result = evaluate_synthetic(rec.model, samples, names)
    result.update(backend=rec.backend, precision=rec.precision, model=rec.manifest.name)
    return report(result, args.json)
