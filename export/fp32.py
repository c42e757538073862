"""Write a model pack (files + edgeface.json) from a torch network.

The network takes (N, 3, S, S) float32 normalised RGB and returns its outputs by name (a NamedTuple
such as `FaceModel`'s `Outputs`) or as a tuple in the order of the manifest's `outputs` list; that
list names what each file holds. Each format's writer returns the map from output names to the
file's tensor names; `write_pack` hashes the files and writes the manifest. Quantized (int8)
variants are added by export/quantize.py with the same manifest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch

from ..runtime.pack import PackManifest, standard_outputs
from ..train import checkpoints

FORMATS = ("onnx", "openvino", "tflite", "torch")


class Listed(torch.nn.Module):
    """The network's outputs as a plain tuple in the manifest's order (`names`), which is what the
    exporters take; NHWC input where `nhwc` (TFLite kernels are NHWC, so the transpose folds away)."""

    def __init__(self, net: torch.nn.Module, names, nhwc: bool = False):
        super().__init__()
        # the network's layers and weights under their own names (not "net."): an exported file names
        # its weights as the network does, which edgeface.train.recover reads them by
        self._modules.update(net._modules)
        self._parameters.update(net._parameters)
        self._buffers.update(net._buffers)
        object.__setattr__(self, "network", net)  # not a child: its children are this module's own
        self.names, self.nhwc = tuple(names), nhwc

    def forward(self, x):
        out = self.network(x.permute(0, 3, 1, 2) if self.nhwc else x)
        values = tuple(getattr(out, n) for n in self.names) if hasattr(out, "_fields") else tuple(out)
        if len(values) != len(self.names) or any(v is None for v in values):
            raise ValueError(f"the network's outputs do not match the manifest's list {list(self.names)}")
        return values


def export_onnx(net: Listed, size: int, path: Path) -> dict:
    sample = torch.zeros(2, 3, size, size)
    torch.onnx.export(
        net,
        (sample,),
        str(path),
        input_names=["image"],
        output_names=list(net.names),
        dynamic_axes={"image": {0: "batch"}, **{n: {0: "batch"} for n in net.names}},
        opset_version=18,
        dynamo=False,
    )
    return {"layout": "NCHW", "outputs": {n: n for n in net.names}}


def export_openvino(onnx_path: Path, path: Path, names) -> dict:
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    ov.save_model(model, str(path), compress_to_fp16=False)
    return {"layout": "NCHW", "outputs": {n: n for n in names}, "companions": [path.with_suffix(".bin").name]}


def export_tflite(net: Listed, size: int, path: Path) -> dict:
    import litert_torch

    sample = torch.zeros(1, size, size, 3)
    edge = litert_torch.convert(Listed(net.network, net.names, nhwc=True).eval(), (sample,))
    edge.export(str(path))
    return {"layout": "NHWC", "outputs": _tflite_output_map(net, size, path)}


def _tflite_output_map(net: Listed, size: int, path: Path) -> dict:
    """Converted graphs rename outputs; match them to ours by comparing values on one input."""
    from ai_edge_litert.interpreter import Interpreter

    x = torch.rand(1, 3, size, size)
    with torch.no_grad():
        ref = [t.numpy() for t in net(x)]
    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x.permute(0, 2, 3, 1).numpy())
    interp.invoke()
    mapping = {}
    for detail in interp.get_output_details():
        value = interp.get_tensor(detail["index"])
        errors = [np.abs(value - r).max() if value.shape == r.shape else np.inf for r in ref]
        best = int(np.argmin(errors))
        if errors[best] > 1e-3:
            raise RuntimeError(f"TFLite output {detail['name']} matches no torch output")
        mapping[net.names[best]] = detail["name"]
    if len(mapping) != len(net.names):
        raise RuntimeError(f"TFLite outputs {mapping} do not cover {list(net.names)}")
    return mapping


def export_torch(net: Listed, size: int, path: Path) -> dict:
    sample = torch.zeros(2, 3, size, size)
    program = torch.export.export(net, (sample,), dynamic_shapes=({0: torch.export.Dim("batch", min=1)},))
    torch.export.save(program, str(path))
    return {"layout": "NCHW", "outputs": {n: f"output_{i}" for i, n in enumerate(net.names)}}


def write_pack(net: torch.nn.Module, out_dir, manifest: dict, formats=FORMATS, stem: str = "model") -> Path:
    """Export `net` (fp32) to each format into `out_dir` and write its edgeface.json.

    `manifest` holds everything but `files` and `schema` (see edgeface.runtime.pack.Manifest), its
    `outputs` list included: the files hold those outputs, in that order, under those names.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net = Listed(net.eval(), [o["name"] for o in manifest["outputs"]]).eval()
    size = int(manifest["input"]["size"])
    entries = []
    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        onnx_path = out / f"{stem}_fp32.onnx" if "onnx" in formats else Path(tmp) / "model.onnx"
        if "onnx" in formats or "openvino" in formats:
            info = export_onnx(net, size, onnx_path)
            if "onnx" in formats:
                entries.append(("onnx", onnx_path, info))
        if "openvino" in formats:
            path = out / f"{stem}_fp32.xml"
            entries.append(("openvino", path, export_openvino(onnx_path, path, net.names)))
        if "tflite" in formats:
            path = out / f"{stem}_fp32.tflite"
            entries.append(("tflite", path, export_tflite(net, size, path)))
        if "torch" in formats:
            path = out / f"{stem}_fp32.pt2"
            entries.append(("torch", path, export_torch(net, size, path)))
    pack = PackManifest.new(out, manifest)
    for fmt, path, info in entries:
        pack.add_file(path, fmt, "fp32", info["outputs"], layout=info["layout"], companions=info.get("companions", ()))
    pack.save()
    return out


def trained_manifest(model, config, card: dict) -> dict:
    """The manifest of a FaceModel trained with `config` (a TrainingConfig); `card` adds training data,
    compute, licence."""
    from ..tools.conventions import MEAN, STD
    from ..train import topology as topo_module
    from ..train.config import TrainingConfig

    config = TrainingConfig.coerce(config)

    topo = topo_module.load()
    return {
        "name": config.name,
        "purpose": card.get("purpose", "reconstruction"),
        "version": card.get("version", "0"),
        "input": {"size": config.input_size, "channels": "RGB", "mean": [MEAN] * 3, "std": [STD] * 3},
        # the crop rule, relative to the box of the face's 68 landmarks (edgeface.runtime.geometry.square_crop)
        "crop": {"scale": config.crop_scale, "shift_y": 0.0},
        "topology": {
            "name": topo["name"],
            "version": topo["version"],
            "num_points": topo["num_points"],
            "landmarks68": topo["landmarks68"],
            "triangles": topo["triangles"],
            "mirror": topo["mirror"],
        },
        "identity_size": config.identity_size,
        "expression_names": model.expression_names,
        "attribute_names": model.attribute_names,
        "outputs": standard_outputs(
            topo["num_points"],
            config.identity_size,
            model.expression_names,
            model.attribute_names,
            age=getattr(model, "age_head", False),
        ),
        **({"gender": {"attribute": "Male"}} if "Male" in model.attribute_names else {}),
        "pose_translation": "image position of the neutral face's centroid",
        **{k: v for k, v in card.items() if k not in ("purpose", "version")},
        # what edgeface.train.recover needs to rebuild the torch network from the fp32 ONNX file
        "training": {
            **card.get("training", {}),
            "network": {
                "backbone": config.backbone,
                **({"attribute_branch": model.branch_config} if getattr(model, "branch_config", None) else {}),
            },
        },
    }


def model_cost(net: torch.nn.Module, size: int) -> dict:
    """Parameters and multiply-adds of one forward pass at batch 1 (convolutions, linear layers and
    the in-graph decoder's matrix products), counted with forward hooks."""
    macs = [0]

    def conv(m, _, out):
        macs[0] += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def linear(m, _, out):
        macs[0] += out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv) for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in net.modules() if isinstance(m, torch.nn.Linear)]
    decoder = getattr(net, "decoder", None)
    if decoder is not None:
        hooks.append(
            decoder.register_forward_hook(
                lambda m, inputs, out: macs.__setitem__(0, macs[0] + out.numel() * sum(i.shape[1] for i in inputs))
            )
        )
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return {"parameters": int(sum(p.numel() for p in net.parameters())), "macs": int(macs[0])}


def export_checkpoint(checkpoint, out_dir, formats=FORMATS, ict=None, card=None) -> Path:
    """Checkpoint (trainer's best.pt) -> fp32 model pack with its manifest."""
    from ..train.build import checkpoint_config, load_checkpoint
    from ..train.morphable import MorphableModel

    state = checkpoints.read(checkpoint)
    model = load_checkpoint(checkpoint, MorphableModel.load(ict), "cpu")
    config = checkpoint_config(state, checkpoint)
    manifest = trained_manifest(model, config, card or {})
    manifest["cost"] = model_cost(model, config.input_size)
    return write_pack(model, out_dir, manifest, formats=formats)
