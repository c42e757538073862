"""What the commands share: the model options, where the data lives, how figures are printed."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..runtime.errors import EdgefaceError

#: Exit codes of `edgeface` (README, "Command line"): everything done; done, but some input was
#: skipped or a video ended before the frames its container declares; nothing done (a user error,
#: named on stderr); an INT8 export failed its accuracy gate.
EXIT_OK, EXIT_PARTIAL, EXIT_ERROR, EXIT_GATE_FAILED = 0, 1, 2, 3


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", help="auto, tflite, onnx, openvino or torch (default: auto)")
    p.add_argument("--model", default=None, help="model pack directory (default: the one shipped in the package)")
    p.add_argument("--precision", default="auto", help="auto, fp32, fp16 or int8 (default: auto)")
    p.add_argument("--threads", type=int, default=None, help="network threads (default: backend's choice)")
    p.add_argument("--detector", default="auto", help="face detector (default: auto); see `edgeface info`")
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="also run each face mirrored and average (more accurate, twice the network time)",
    )


def reconstructor(args, model=None, **extra):
    """A Reconstructor from the shared model options; `model` stands in for --model."""
    from ..runtime.reconstructor import Reconstructor

    return Reconstructor(
        args.backend,
        model=args.model if model is None else model,
        precision=args.precision,
        num_threads=args.threads,
        detector=args.detector,
        flip_average=args.flip_average,
        **extra,
    )


def dev_root(explicit, flag: str, why: str) -> Path:
    """The AFLW2000-3D folder: `flag`'s value, else $EDGEFACE_DATA/aflw2000_dev."""
    from ..tools.datasets import data_root

    if explicit:
        return Path(explicit)
    if data_root() is None:
        raise EdgefaceError(f"{why}: pass {flag} DIR or set EDGEFACE_DATA")
    return data_root() / "aflw2000_dev"


def ict_file(explicit, why: str) -> Path:
    """ICT-FaceKit's npz: --ict's value, else $EDGEFACE_DATA/ict_facekit.npz."""
    from ..tools.datasets import data_root

    ict = explicit or (data_root() / "ict_facekit.npz" if data_root() is not None else None)
    if ict is None or not Path(ict).exists():
        raise EdgefaceError(f"{why} need ICT-FaceKit: --ict FILE or EDGEFACE_DATA")
    return Path(ict)


def report(result: dict, json_path) -> int:
    """Print an evaluation's figures, one per line, and write them to `json_path` if given."""
    width = max(len(k) for k in result) + 2
    for key, value in result.items():
        if isinstance(value, dict):  # per-name tables go to the JSON; print a short form
            value = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in value.items())
        print(f"{key:{width}s} {value:.4f}" if isinstance(value, float) else f"{key:{width}s} {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=1))
    return EXIT_OK


def cpu_features() -> list[str]:
    from ..runtime.cpu import features

    return sorted(features())
