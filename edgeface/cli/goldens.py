"""`edgeface goldens`: golden vectors for ports of the runtime (the Android app's Kotlin core)."""

from __future__ import annotations

from pathlib import Path

from .common import EXIT_OK, dev_root

HELP = "golden vectors for ports of the runtime (the Android app's Kotlin core)"


def add_arguments(gd) -> None:
    gd.add_argument("images", nargs="*", help="face images (default: the first three AFLW2000-3D dev images)")
    gd.add_argument("--out", required=True)
    gd.add_argument("--root", default=None, help="AFLW2000-3D folder when no images are given")
    gd.add_argument("--model", default=None)


def run(args) -> int:
    from ..tools import goldens
    from ..tools.datasets import Aflw2000

    images = [Path(p) for p in args.images]
    if not images:
        dev = Aflw2000.load(dev_root(args.root, "--root", "no face images: give some, or the AFLW2000-3D dev set"))
        images = [dev.image_path(i) for i in range(3)]
    out = goldens.write(args.out, images, model=args.model)
    print(f"golden vectors for ports of the runtime written to {out}")
    return EXIT_OK
