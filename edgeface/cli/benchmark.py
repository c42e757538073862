"""`edgeface benchmark`: the network, processing and end to end, timed on this device."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

from ..runtime.errors import EdgefaceError
from .common import EXIT_OK, cpu_features

HELP = "time the network, processing and end to end on this device"


def add_arguments(bm) -> None:
    bm.add_argument("--model", default=None)
    bm.add_argument("--threads", default="1,2", help="thread counts to time, comma-separated (default 1,2)")
    bm.add_argument("--quick", action="store_true", help="batch 1 only, shorter timing")
    bm.add_argument("--filter", default=None, help="only cases whose name contains this")
    bm.add_argument(
        "--steadiness",
        action="store_true",
        help="also measure video tracking: still-face jitter by "
        "position, lag after a jump, error on a pan (edgeface.tools.steadiness)",
    )
    bm.add_argument("--json", default=None)


def run(args) -> int:
    from .. import __version__
    from ..tools import bench

    try:
        threads = tuple(int(t) for t in args.threads.split(","))
    except ValueError:
        threads = ()
    if not threads or min(threads) < 1:
        raise EdgefaceError(
            f"--threads must be positive whole numbers, comma-separated (e.g. 1,2), not {args.threads!r}"
        )
    results = []
    for case in bench.cases(model=args.model, threads=threads, batches=(1,) if args.quick else (1, 8)):
        if args.filter and args.filter not in case.name:
            continue
        results.append(bench.time_case(case, min_seconds=0.2 if args.quick else 1.0))
        print(f"  {case.name}: {results[-1]['median_ms']:.3f} ms", file=sys.stderr, flush=True)
    print(
        f"edgeface {__version__} on {platform.machine()} ({', '.join(cpu_features()) or 'CPU features unknown'}); "
        "emulated or virtualised machines time differently from the device itself"
    )
    print(bench.table(results))
    result = {"machine": platform.machine(), "results": results}
    if not args.filter:
        result["stages_ms"] = bench.stages(model=args.model, rounds=3 if args.quick else 5)
        print(
            "\nwhere a photo's and a video frame's time goes (the default backend, 1 thread; "
            "'other' is the Python between stages):"
        )
        print(bench.split_table(result["stages_ms"]))
    if args.steadiness:
        from ..runtime.reconstructor import Reconstructor
        from ..tools import steadiness

        result["steadiness"] = steadiness.report(Reconstructor(model=args.model), bench.sample_image())
        print(steadiness.table(result["steadiness"]))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return EXIT_OK
