"""`edgeface data WHAT`: the maintainers' data tools, each once through the one CLI: the AFLW training
shard, ICT-FaceKit's npz, the committed topology and attribute thresholds, and the detector's scenes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_OK, dev_root
from .train import require_train_extra

HELP = "build the data the project commits or trains from (shards, ICT-FaceKit, topology, thresholds, scenes)"


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = sub.add_parser("aflw-shard", help="pack the AFLW training crops into one WebP shard (edgeface.train.data)")
    p.add_argument("--root", required=True, help="aflw_train folder (images/ + labels.npz)")
    p.add_argument("--out", default=".shards/aflw_train.npz")
    p.add_argument("--limit", type=int, default=None, help="first N crops only")
    p = sub.add_parser(
        "ict", help="ICT-FaceKit's OBJ release -> the one npz edgeface reads (edgeface.train.ict_convert)"
    )
    p.add_argument("--facekit", required=True, help="the FaceXModel folder of an ICT-FaceKit clone")
    p.add_argument("--out", required=True)
    p = sub.add_parser("topology", help="rebuild edgeface520_v1.json from ICT-FaceKit (edgeface.train.topology)")
    p.add_argument("--model", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    p.add_argument("--out", default=None, help="default: the committed file")
    p = sub.add_parser("attributes", help="recompute the geometric attributes' thresholds (attributes_v1.json)")
    p.add_argument("--model", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    p.add_argument("--count", type=int, default=4000, help="sampled identities")
    p = sub.add_parser("detection-scenes", help="the detectors' recall by face and frame size on dev faces")
    p.add_argument("--root", default=None, help="AFLW2000-3D dev folder (default: $EDGEFACE_DATA/aflw2000_dev)")
    p.add_argument("--detectors", nargs="+", default=None, help="default: auto and every named detector")
    p.add_argument("--per-cell", type=int, default=40)
    p.add_argument("--json", default=None)


def run(args) -> int:
    if args.what == "detection-scenes":
        return _detection_scenes(args)
    require_train_extra(f"data {args.what}")
    if args.what == "aflw-shard":
        from ..train.data import pack

        print(pack(args.root, args.out, args.limit))
    elif args.what == "ict":
        import numpy as np

        from ..train.ict_convert import convert

        np.savez_compressed(args.out, **convert(args.facekit))
        print(args.out)
    elif args.what == "topology":
        _topology(args)
    else:
        _attributes(args)
    return EXIT_OK


def _topology(args) -> None:
    from ..train.morphable import MorphableModel
    from ..train.topology import TOPOLOGY_FILE, build

    topo = build(MorphableModel.load(args.model))
    text = json.dumps(topo, separators=(",", ":"))
    out = Path(args.out or TOPOLOGY_FILE)
    out.write_text(text + "\n")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(f"{out}: {topo['num_points']} points, {len(topo['triangles'])} triangles, sha256 {digest}")


def _attributes(args) -> None:
    from ..train.attributes import THRESHOLDS_FILE, calibrate
    from ..train.morphable import MorphableModel

    result = calibrate(MorphableModel.load(args.model), args.count)
    THRESHOLDS_FILE.write_text(json.dumps(result, indent=1) + "\n")
    for name, t in result.items():
        print(
            f"{name:20s} {t['kind']:10s} {t['op']} {t['threshold']:.4f}  positive rate {100 * t['positive_rate']:.1f} %"
        )


def _detection_scenes(args) -> int:
    from ..runtime import detectors
    from ..runtime.image import load_image
    from ..tools.datasets import Aflw2000
    from ..tools.detection_scenes import measure, table

    if args.per_cell < 1:
        raise EdgefaceError(f"--per-cell must be 1 or more, not {args.per_cell}")
    dev = Aflw2000.load(dev_root(args.root, "--root", "the scenes are made of AFLW2000-3D dev faces"))
    n = min(len(dev), 4 * args.per_cell)
    photos = [load_image(dev.image_path(i)) for i in range(n)]
    landmarks = [dev.points68[i] for i in range(n)]
    results = []
    for name in args.detectors or ["auto", *detectors.DETECTORS]:
        result = measure(detectors.create(name), photos, landmarks, per_cell=args.per_cell)
        result["name"] = name
        results.append(result)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return EXIT_OK
