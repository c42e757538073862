"""`edgeface evaluate DATASET`: accuracy on AFLW2000-3D, CelebA, UTKFace, a verification folder, closed
eyes (AFLW crops with MERL-RAV's 68 points) or synthetic faces, or the detector alone; each dataset is a
subcommand with only its own flags (`legacy` reads the older `--dataset X` form)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import add_model_options, dev_root, reconstructor, report

HELP = "accuracy on a labelled dataset: one subcommand per dataset (aflw2000, celeba, utkface, ...)"
#: dataset -> what it measures; each is a subcommand with only its own flags
DATASETS = {
    "aflw2000": "landmarks (balanced NME by yaw) and head pose on AFLW2000-3D (default: $EDGEFACE_DATA/aflw2000_dev)",
    "detector": "the face detector alone on AFLW2000-3D: recall against the benchmark's faces, and its time",
    "celeba": "CelebA's 40 attributes and identity verification (default root $EDGEFACE_DATA/celeba)",
    "utkface": "age and gender by group on UTKFace (default root $EDGEFACE_DATA/utkface)",
    "verification": "identity verification on a folder of photos of known people (images/ + labels.npz)",
    "eyes": "closed eyes and the eyelids against MERL-RAV's labels (default root $EDGEFACE_DATA/aflw_train)",
    "synthetic": "held-out synthetic faces with exact labels (needs the train extra)",
}


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
    sub = ev.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for name, help_text in DATASETS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--root", default=None, help="the dataset's folder" + ("" if name != "verification" else " (required)")
        )
        p.add_argument("--limit", type=positive, default=None, help="first N images only (N >= 1)")
        p.add_argument("--json", default=None, help="also write the results to this JSON file")
        if name == "detector":
            p.add_argument("--detector", default="auto", help="face detector (default: auto); see `edgeface info`")
            p.add_argument("--runner", default=None, help="detector runtime: tflite or opencv")
            continue
        add_model_options(p)
        if name != "synthetic":
            p.add_argument(
                "--refine",
                action=argparse.BooleanOptionalAction,
                default=True,
                help="a second pass cropped from the first pass's landmarks, as the SDK runs by default "
                "(--no-refine: one pass)",
            )
        if name in ("celeba", "utkface", "verification"):
            p.add_argument("--split", default="dev", help="the labels' split to score (where labels.npz has one)")
        if name == "eyes":
            p.add_argument(
                "--split",
                default="dev",
                choices=["dev", "all"],
                help="dev: the crops the training stages hold out; all: every labelled crop",
            )
        if name == "aflw2000":
            p.add_argument("--end-to-end", action="store_true", help="crop from the detector instead of roi_box")
        if name in ("aflw2000", "celeba", "verification"):
            p.add_argument(
                "--compare",
                default=None,
                metavar="PACK",
                help="also run this model pack on the same photos and report the difference (--model "
                "minus PACK) with a paired-bootstrap 95 %% interval: balanced NME (aflw2000, ROI "
                "crops), identity-verification EER (celeba, verification)",
            )


def legacy(argv: list[str]) -> list[str]:
    """`edgeface evaluate --dataset X ...` (and `--detector-only`), as written before each dataset
    became a subcommand, as `edgeface evaluate X ...`; no dataset named is aflw2000, as it was."""
    if not argv or argv[0] != "evaluate" or (len(argv) > 1 and not argv[1].startswith("-")):
        return argv  # not evaluate, or a dataset (or a misspelt one, which argparse names) comes first
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        return argv
    rest, dataset = list(argv[1:]), "aflw2000"
    for i, a in enumerate(rest):
        if a == "--dataset" and i + 1 < len(rest):
            dataset = rest.pop(i + 1)
            del rest[i]
            break
        if a.startswith("--dataset="):
            dataset = rest.pop(i).split("=", 1)[1]
            break
    if "--detector-only" in rest:
        rest.remove("--detector-only")
        dataset = "detector"
    return ["evaluate", dataset, *rest]


def run(args) -> int:
    import cv2

    from ..tools.datasets import Aflw2000
    from ..tools.evaluate import compare_landmarks, evaluate_detector, evaluate_landmarks

    cv2.setNumThreads(getattr(args, "threads", None) or 0)
    if args.dataset == "synthetic":
        return _synthetic(args)
    if args.dataset in ("celeba", "utkface", "verification"):
        return _faces(args)
    if args.dataset == "eyes":
        return _eyes(args)
    dataset = Aflw2000.load(dev_root(args.root, "--root", "no dataset"))
    if args.limit:
        dataset = dataset.subset(slice(0, args.limit))
    if args.dataset == "detector":
        result = evaluate_detector(dataset, args.detector, **({"runner": args.runner} if args.runner else {}))
    else:
        rec = reconstructor(args, refine=args.refine)
        if args.compare:
            # both models under the same options (refine, flip averaging and --end-to-end included)
            other = reconstructor(args, model=args.compare, refine=args.refine)
            result = compare_landmarks(rec, other, dataset, use_detector=args.end_to_end)
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
            f"evaluate {args.dataset} needs --root DIR"
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
    if getattr(args, "compare", None):
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

    root = Path(args.root) if args.root else (data_root() / "aflw_train" if data_root() is not None else None)
    if root is None:
        raise EdgefaceError("evaluate eyes needs --root DIR (or EDGEFACE_DATA)")
    rec = reconstructor(args, refine=args.refine)
    result = evaluate_eyes(rec, root, held_out=args.split == "dev", limit=args.limit)
    result.update(
        dataset="eyes", split=args.split, backend=rec.backend, precision=rec.precision, model=rec.manifest.name
    )
    return report(result, args.json)


def _synthetic(args) -> int:
    """Held-out synthetic faces: shards at --root, or rendered now with the reserved held-out seed."""
    from .train import require_train_extra

    require_train_extra("evaluate synthetic")
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
