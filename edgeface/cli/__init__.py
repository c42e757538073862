"""The `edgeface` command: one module per command, each with `HELP`, `add_arguments` and `run`.

Users: demo, run, info, benchmark (the runtime alone). Lab: evaluate, goldens (tools), export,
align-landmarks (export), train and synthesize (train). A command imports what it needs when it
runs, so a runtime-only install runs run/info/benchmark without torch."""

from __future__ import annotations

import argparse
import sys

from ..runtime.errors import EdgefaceError
from . import align_landmarks, benchmark, demo, evaluate, export, goldens, info, run, train
from .common import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_OK, EXIT_PARTIAL

__all__ = ["main", "EXIT_OK", "EXIT_PARTIAL", "EXIT_ERROR", "EXIT_GATE_FAILED"]

#: command name -> (module, its run function); the parser lists them in this order
COMMANDS = {
    "demo": (demo, demo.run),
    "run": (run, run.run),
    "info": (info, info.run),
    "evaluate": (evaluate, evaluate.run),
    "export": (export, export.run),
    "benchmark": (benchmark, benchmark.run),
    "align-landmarks": (align_landmarks, align_landmarks.run),
    "goldens": (goldens, goldens.run),
    "train": (train, train.run),
}


def _model_version() -> str:
    """The shipped model's name and version, as its manifest states them."""
    import json

    from ..runtime.pack import DEFAULT_PACK, MANIFEST_NAME

    try:
        data = json.loads((DEFAULT_PACK / MANIFEST_NAME).read_text())
        return f"model {data.get('name', '?')} {data.get('version', '?')}"
    except (OSError, ValueError):
        return "no model shipped"


def parser() -> argparse.ArgumentParser:
    from .. import __version__

    top = argparse.ArgumentParser(prog="edgeface", description="Single-image 3D face reconstruction on the edge.")
    top.add_argument("--version", action="version", version=f"edgeface {__version__} ({_model_version()})")
    sub = top.add_subparsers(dest="command", required=True)
    for name, (module, func) in COMMANDS.items():
        # train and synthesize own their flags (and their --help), so they take the rest as it is
        p = sub.add_parser(name, help=module.HELP, add_help=module is not train)
        if module is not train:
            module.add_arguments(p)
        p.set_defaults(func=func, owns_flags=module is train)
    synth = sub.add_parser("synthesize", help=train.SYNTHESIZE_HELP, add_help=False)
    synth.set_defaults(func=train.run_synthesize, owns_flags=True)
    return top


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    args, unknown = top.parse_known_args(argv)
    if args.owns_flags:  # everything after the command's name, in order, is the command's own
        args.rest = argv[argv.index(args.command) + 1 :]
    elif unknown:
        top.error(f"unrecognized arguments: {' '.join(unknown)}")
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
