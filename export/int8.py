"""INT8 files for a pack, each through the accuracy gate: the one path that both
`edgeface export --precision int8` and a recipe's `int8` stage take. A file that fails the gate is
removed from the pack; the caller decides what a failure means (the CLI exits 3, a recipe goes on)."""

from __future__ import annotations

from pathlib import Path

from ..runtime.errors import EdgefaceError


def add_gated_int8(pack, calibration, formats: tuple[str, ...], gate_root: Path, ict: Path, gate_celeba=None) -> dict:
    """Quantize the pack's fp32 files with the crops in `calibration`, then gate each INT8 file on
    AFLW2000-3D dev (`gate_root`), held-out synthetic faces (ICT-FaceKit at `ict`) and, for a model
    with CelebA's attributes, CelebA dev (`gate_celeba`, default $EDGEFACE_DATA/celeba). Returns the
    gate's figures by format; each carries `passed`."""
    from ..runtime.pack import read_manifest
    from ..tools.datasets import Aflw2000
    from ..train.synthetic import held_out
    from . import gate, quantize

    crops = quantize.load_calibration(calibration, read_manifest(pack).input_size)
    quantize.add_int8(pack, crops, formats=formats)
    manifest = read_manifest(pack)
    synthetic = held_out(
        ict, manifest.input_size, manifest.crop_scale, manifest.crop_shift_y, count=gate.GATE_SYNTHETIC_FACES
    )
    result = gate.gate(pack, Aflw2000.load(gate_root), formats, synthetic, _gate_celeba(gate_celeba, manifest))
    for fmt, r in result.items():
        if not r["passed"]:
            quantize.remove_int8(pack, fmt)
    return result


def _gate_celeba(explicit, manifest):
    """CelebA dev photos for the INT8 gate, for a model with CelebA's attributes (None otherwise)."""
    from ..tools.datasets import data_root
    from ..tools.evaluate_faces import LabelledPhotos

    if "5_o_Clock_Shadow" not in manifest.attribute_names:
        return None
    root = Path(explicit) if explicit else (data_root() / "celeba" if data_root() is not None else None)
    if root is None or not root.exists():
        raise EdgefaceError(
            "the INT8 gate of a model with CelebA's attributes needs CelebA dev photos: "
            "pass --gate-celeba DIR or set EDGEFACE_DATA"
        )
    return LabelledPhotos.load(root, "dev", ("names", "attributes", "attribute_names", "identity"))
