"""The `edgeface` command: one module per command, each with `HELP`, `add_arguments` and `run`.

Two audiences, listed apart in `edgeface --help`: users (demo, run, info, benchmark, evaluate: the
runtime and its measurements) and maintainers (train, export, align-landmarks, goldens, synthesize,
data: making models and the data they learn from). Every entry point of the package is a command
here. A command imports what it needs when it runs, so a runtime-only install runs
run/info/benchmark without torch."""

from __future__ import annotations

import argparse
import sys

from ..runtime.errors import EdgefaceError
from . import align_landmarks, benchmark, data, demo, evaluate, export, goldens, info, run, synthesize, train
from .common import EXIT_ERROR, EXIT_GATE_FAILED, EXIT_OK, EXIT_PARTIAL

__all__ = ["main", "EXIT_OK", "EXIT_PARTIAL", "EXIT_ERROR", "EXIT_GATE_FAILED"]

#: command name -> its module, by audience; the parser lists them in this order
USER_COMMANDS = {"demo": demo, "run": run, "info": info, "benchmark": benchmark, "evaluate": evaluate}
MAINTAINER_COMMANDS = {
    "train": train,
    "export": export,
    "align-landmarks": align_landmarks,
    "goldens": goldens,
    "synthesize": synthesize,
    "data": data,
}
COMMANDS = {**USER_COMMANDS, **MAINTAINER_COMMANDS}


def _model_version() -> str:
    """The shipped model's name and version, as its manifest states them."""
    import json

    from ..runtime.pack import DEFAULT_PACK, MANIFEST_NAME

    try:
        data = json.loads((DEFAULT_PACK / MANIFEST_NAME).read_text())
        return f"model {data.get('name', '?')} {data.get('version', '?')}"
    except (OSError, ValueError):
        return "no model shipped"


def _listing(commands: dict) -> str:
    width = max(len(n) for n in COMMANDS) + 2
    return "\n".join(f"  {name:{width}s}{module.HELP}" for name, module in commands.items())


def parser() -> argparse.ArgumentParser:
    from .. import __version__

    top = argparse.ArgumentParser(
        prog="edgeface",
        usage="edgeface [-h] [--version] COMMAND ...",
        description="Single-image 3D face reconstruction on the edge.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"for users:\n{_listing(USER_COMMANDS)}\n\nfor maintainers (making models; need the train "
        f"extra):\n{_listing(MAINTAINER_COMMANDS)}\n\n`edgeface COMMAND --help` gives a command's own flags.",
    )
    top.add_argument("--version", action="version", version=f"edgeface {__version__} ({_model_version()})")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS, prog="edgeface")
    for name, module in COMMANDS.items():
        p = sub.add_parser(name, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    return top


def main(argv=None) -> int:
    argv = evaluate.legacy(list(sys.argv[1:] if argv is None else argv))
    args = parser().parse_args(argv)
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
