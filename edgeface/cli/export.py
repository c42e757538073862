"""`edgeface export`: a trained checkpoint -> a model pack, fp32 and gated INT8 (edgeface.export)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_GATE_FAILED, EXIT_OK, dev_root, ict_file
from .train import require_train_extra

HELP = "trained checkpoint -> model pack (ONNX, OpenVINO, TFLite; fp32 and gated INT8)"


def add_arguments(ex) -> None:
    ex.add_argument("--checkpoint", default=None, help="trainer checkpoint (omit to add INT8 to the pack at --out)")
    ex.add_argument("--out", required=True, help="model pack folder to write")
    ex.add_argument("--formats", default="onnx,openvino,tflite")
    ex.add_argument("--precision", default="fp32", help="fp32 and/or int8, comma-separated")
    ex.add_argument("--calibration", default=None, help="folder of face crops for INT8 calibration")
    ex.add_argument("--gate-root", default=None, help="AFLW2000-3D dev folder for the INT8 accuracy gate")
    ex.add_argument("--gate-json", default=None, help="write the gate's figures here")
    ex.add_argument(
        "--gate-celeba",
        default=None,
        help="CelebA folder for the gate's attribute and identity "
        "checks (default: $EDGEFACE_DATA/celeba; only for a model with CelebA's attributes)",
    )
    ex.add_argument("--ict", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    ex.add_argument("--license", default=None, help="licence text for the manifest")
    ex.add_argument(
        "--card",
        default=None,
        help="JSON file of model-card fields for the manifest (name, version, "
        "purpose, training, license, validated_outputs, not_validated)",
    )


def run(args) -> int:
    require_train_extra("export")
    from ..export.fp32 import export_checkpoint
    from ..export.gate import gate_summary
    from ..export.int8 import add_gated_int8
    from ..runtime.pack import is_pack

    formats = tuple(f.strip() for f in args.formats.split(","))
    precisions = tuple(p.strip() for p in args.precision.split(","))
    if args.checkpoint:
        card = json.loads(Path(args.card).read_text()) if args.card else {}
        card.update({"license": args.license} if args.license else {})
        export_checkpoint(args.checkpoint, args.out, formats=formats, ict=args.ict, card=card or None)
    elif not is_pack(args.out):
        raise EdgefaceError("pass --checkpoint, or --out pointing at an existing pack to add INT8 files to it")
    print(f"fp32 model pack: {args.out}")
    if "int8" not in precisions:
        return EXIT_OK
    if not args.calibration:
        raise EdgefaceError("INT8 needs --calibration DIR (a folder of face crops at the model's input size)")
    root = dev_root(args.gate_root, "--gate-root", "the INT8 gate needs the AFLW2000-3D dev set")
    ict = ict_file(args.ict, "the INT8 gate's held-out synthetic faces")
    result = add_gated_int8(args.out, args.calibration, formats, root, ict, args.gate_celeba)
    for fmt, r in result.items():
        print(gate_summary(fmt, r))
    if args.gate_json:
        Path(args.gate_json).write_text(json.dumps(result, indent=1))
    failed = [fmt for fmt, r in result.items() if not r["passed"]]
    if failed:
        print(f"edgeface: error: INT8 {', '.join(failed)} failed the accuracy gate", file=sys.stderr)
        return EXIT_GATE_FAILED
    return EXIT_OK
