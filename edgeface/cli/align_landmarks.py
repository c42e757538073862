"""`edgeface align-landmarks`: fit a pack's 68-landmark definition to AFLW2000-3D's annotators."""

from __future__ import annotations

import json
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_OK, dev_root, ict_file
from .train import require_train_extra

HELP = (
    "fit a pack's 68-landmark definition to AFLW2000-3D's annotation convention on half the dev set, "
    "score it on the other half"
)


def add_arguments(al) -> None:
    al.add_argument("--model", required=True, help="model pack directory (its manifest is updated)")
    al.add_argument("--root", default=None, help="AFLW2000-3D folder (default: $EDGEFACE_DATA/aflw2000_dev)")
    al.add_argument("--ict", default=None, help="ICT-FaceKit npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    al.add_argument("--neighbours", type=int, default=16, help="mesh points each landmark may combine")
    al.add_argument("--backend", default="onnx", help="backend whose fp32 file makes the predictions")
    al.add_argument(
        "--yaw-anchors",
        default=None,
        help="head yaws (degrees, comma-separated) that get their own "
        "weights (default: edgeface.export.landmarks.YAW_ANCHORS, -60,0,60); '0' for one definition",
    )
    al.add_argument(
        "--compare",
        default=None,
        metavar="PACK",
        help="also align this pack the same way and report "
        "the paired difference of the two (every image held out by one fold or the other)",
    )
    al.add_argument("--json", default=None, help="also write the figures to this JSON file")


def yaw_anchors(text: str | None) -> list[float]:
    from ..export.landmarks import YAW_ANCHORS

    try:
        anchors = list(YAW_ANCHORS) if text is None else [float(a) for a in text.split(",")]
    except ValueError:
        raise EdgefaceError(f"--yaw-anchors must be comma-separated degrees, got {text!r}") from None
    if sorted(set(anchors)) != anchors:
        raise EdgefaceError(f"--yaw-anchors must increase, got {text!r}")
    return anchors


def run(args) -> int:
    require_train_extra("align-landmarks")
    import numpy as np

    from ..export.landmarks import align
    from ..tools.datasets import Aflw2000
    from ..tools.evaluate import paired_difference

    dataset = Aflw2000.load(dev_root(args.root, "--root", "no dataset"))
    ict = ict_file(args.ict, "the landmarks' neighbourhoods")
    anchors = yaw_anchors(args.yaw_anchors)
    result = align(args.model, dataset, ict, count=args.neighbours, backend=args.backend, anchors=anchors)
    for fold in (0, 1):
        a, b = result[f"fold{fold}_fixed"], result[f"fold{fold}_aligned"]
        print(
            f"fold {fold} (fit on {'even' if fold == 0 else 'odd'} images, scored on the others): balanced NME "
            f"{100 * a['nme_balanced']:.2f} % -> {100 * b['nme_balanced']:.2f} % (|yaw| bins "
            + " / ".join(f"{100 * b[k]:.2f}" for k in ("nme_0_30", "nme_30_60", "nme_60_90"))
            + " %)"
        )
    print(
        f"two-fold balanced NME: ICT vertices {100 * result['two_fold_nme_balanced_fixed']:.2f} %, aligned "
        f"{100 * result['two_fold_nme_balanced_aligned']:.2f} %; the fold-0 definition is in {args.model}"
    )
    if args.compare:
        other = align(args.compare, dataset, ict, count=args.neighbours, backend=args.backend, anchors=anchors)
        c = paired_difference(np.array(result["held_out_nme"]), np.array(other["held_out_nme"]), dataset.yaw_bin())
        result["compare"] = {"model_b": str(args.compare), **c}
        print(
            f"held-out balanced NME over all {len(dataset)} images: {100 * c['nme_balanced_a']:.2f} % here, "
            f"{100 * c['nme_balanced_b']:.2f} % for {args.compare}; difference {100 * c['difference']:+.2f} points, "
            f"95 % interval [{100 * c['difference_ci95_low']:+.2f}, {100 * c['difference_ci95_high']:+.2f}]"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return EXIT_OK
