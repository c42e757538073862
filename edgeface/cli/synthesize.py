"""`edgeface synthesize write|sheet|calibration`: labelled synthetic faces from ICT-FaceKit
(edgeface.train.synthetic, edgeface.train.synthetic_sets)."""

from __future__ import annotations

from pathlib import Path

from .train import require_train_extra

HELP = "render labelled synthetic faces: shards, a contact sheet or INT8 calibration crops"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    w = sub.add_parser("write", help="labelled shards (and their contact sheet) into a folder")
    w.add_argument("--out", required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--shard-size", type=int, default=1000)
    w.add_argument("--workers", type=int, default=2)
    sh = sub.add_parser("sheet", help="a contact sheet of the first samples")
    sh.add_argument("--out", default="docs/synthetic_contact_sheet.jpg")
    sh.add_argument("--count", type=int, default=64)
    cal = sub.add_parser("calibration", help="plain crop images for INT8 calibration (calibration_data/)")
    cal.add_argument("--out", default="calibration_data")
    cal.add_argument("--count", type=int, default=256)
    for p in (w, sh, cal):
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--size", type=int, default=128)
        p.add_argument("--supersample", type=int, default=None, help="render at this multiple, then shrink")
        p.add_argument("--model", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")


def run(args) -> int:
    require_train_extra("synthesize")
    import cv2

    from ..train import topology
    from ..train.morphable import MorphableModel
    from ..train.synthetic import SyntheticConfig, SyntheticFaces
    from ..train.synthetic_sets import SyntheticShards, contact_sheet, write

    config = SyntheticConfig(size=args.size, **({"supersample": args.supersample} if args.supersample else {}))
    if args.what == "write":
        out = write(args.out, args.count, args.seed, config, args.shard_size, args.workers, args.model)
        data = SyntheticShards(out)
        samples = [data[i] for i in range(min(64, len(data)))]
        sheet = contact_sheet(samples, topology.load()["landmarks68"])
        cv2.imwrite(str(out / "contact_sheet.jpg"), sheet, [cv2.IMWRITE_JPEG_QUALITY, 90])
        shards = len(data.meta["shards"])
        print(f"{out}: {args.count} samples in {shards} shards, contact sheet {out / 'contact_sheet.jpg'}")
    elif args.what == "calibration":
        engine = SyntheticFaces(MorphableModel.load(args.model), config, args.seed)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for i in range(args.count):
            image = engine.sample(i)["image"][..., ::-1]
            cv2.imwrite(str(out / f"synthetic_{i:04d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        print(f"{out}: {args.count} crops of {args.size}x{args.size}")
    else:
        engine = SyntheticFaces(MorphableModel.load(args.model), config, args.seed)
        sheet = contact_sheet(engine.batch(range(args.count)), engine.lm68)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(args.out, sheet, [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(args.out)
    return 0
