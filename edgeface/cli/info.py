"""`edgeface info`: installed backends, detectors, the model pack, versions and CPU features."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from .common import EXIT_OK, cpu_features

HELP = "installed backends, models, versions and CPU features"
#: backend -> the distributions that provide it, as `info` reports their versions
DISTRIBUTIONS = {
    "onnx": ["onnxruntime"],
    "openvino": ["openvino"],
    "torch": ["torch"],
    "tflite": ["ai-edge-litert", "tflite-runtime", "tensorflow"],
}


def add_arguments(p) -> None:
    p.add_argument("--model", default=None)


def run(args) -> int:
    from .. import __version__
    from ..runtime import backends, detectors
    from ..runtime.pack import DEFAULT_PACK, is_pack, read_manifest

    print(f"edgeface {__version__}, Python {platform.python_version()}, {platform.system()} {platform.machine()}")
    print(f"CPU features: {', '.join(cpu_features()) or 'unknown'}")
    present = backends.installed()
    print("backends:")
    for name, spec in backends.BACKENDS.items():
        if name in present:
            versions = [f"{d} {metadata.version(d)}" for d in DISTRIBUTIONS.get(name, []) if _has_dist(d)]
            print(f"  {name:9s} installed ({', '.join(versions)})")
        else:
            print(f"  {name:9s} not installed: pip install 'edgeface[{spec.extra}]'")
    print(
        "detectors: " + ", ".join(f"{n}{' (default)' if n == detectors.DEFAULT else ''}" for n in detectors.DETECTORS)
    )
    pack = Path(args.model) if args.model else DEFAULT_PACK
    if args.model and not (is_pack(pack) or pack.is_file()):
        from ..runtime.errors import ModelError

        raise ModelError(f"no model pack at {args.model}: expected a directory with edgeface.json, or that file")
    if is_pack(pack) or pack.is_file():
        m = read_manifest(pack)
        print(f"model {m.name} ({m.purpose}) at {m.root}: topology {m.topology}, input {m.input_size}px")
        for f in m.files:
            size = sum(p.stat().st_size for p in (f.path, *f.companions) if p.exists())
            print(f"  {f.format:9s} {f.precision:5s} {f.path.name} ({size / 1e6:.2f} MB)")
        print(f"  licence: {m.data.get('license', 'not stated')}")
        if m.data.get("not_validated"):
            print(
                f"  validated outputs: {', '.join(m.data.get('validated_outputs', []))}; not yet validated: "
                f"{', '.join(m.data['not_validated'])} (see edgeface/models/README.md)"
            )
    else:
        print(f"model: no default model shipped in this build ({DEFAULT_PACK})")
    return EXIT_OK


def _has_dist(name: str) -> bool:
    try:
        metadata.version(name)
        return True
    except metadata.PackageNotFoundError:
        return False
