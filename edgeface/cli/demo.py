"""`edgeface demo`: the first command a new user runs. Reconstructs the real photo shipped with the
package and writes its overlay, mesh and JSON; where the data folder exists ($EDGEFACE_DATA or
../shared/data beside a checkout), also measures the model on AFLW2000-3D dev."""

from __future__ import annotations

from pathlib import Path

from .common import EXIT_OK, add_model_options

HELP = "reconstruct the packaged photo; with the data folder, also evaluate on AFLW2000-3D dev"


def add_arguments(p) -> None:
    p.add_argument("--out", default="edgeface_out", help="output folder (default: edgeface_out)")
    add_model_options(p)


def _model_flags(args) -> list[str]:
    flags = ["--backend", args.backend, "--precision", args.precision, "--detector", args.detector]
    if args.model:
        flags += ["--model", args.model]
    if args.threads:
        flags += ["--threads", str(args.threads)]
    return flags + (["--flip-average"] if args.flip_average else [])


def run(args) -> int:
    from ..tools.datasets import data_root
    from . import parser

    top = parser()
    shown = top.parse_args(["run", "--out", args.out, *_model_flags(args)])
    code = shown.func(shown)
    if code != EXIT_OK:
        return code
    out = Path(args.out)
    print(
        f"wrote {out}/astronaut_overlay.png (the picture), astronaut_face0.obj (the mesh) and "
        "astronaut_face0.json (every output)"
    )
    root = data_root()
    dev = root / "aflw2000_dev" if root is not None else None
    if dev is None or not (dev / "labels.npz").is_file():
        print("no data folder (EDGEFACE_DATA): the AFLW2000-3D evaluation is skipped")
        return EXIT_OK
    measured = top.parse_args(
        ["evaluate", "aflw2000", "--root", str(dev), "--json", str(out / "aflw2000_dev.json"), *_model_flags(args)]
    )
    return measured.func(measured)
