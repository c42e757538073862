"""A shipped pack's network back in torch, from its fp32 ONNX file: the starting point of a recipe
whose previous stage's checkpoint is not at hand (a fresh machine has the pack, not the runs).

ONNX export folds each batch norm into the convolution before it, so a recovered convolution
holds the folded weights and its batch norm is set to the identity with the folded bias as its
shift. In eval mode the torch network then computes what the file computes; train such a network
with `train.freeze_batchnorm` (the statistics are gone, the per-channel scale and shift remain).
"""

from __future__ import annotations

import numpy as np
import torch


def onnx_weights(path) -> tuple[list[tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
    """(weight, bias) of every Conv node in graph order, and the named initializers."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    named = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:  # the exporter shares equal tensors (an untrained layer's zero biases) through Identity
        if node.op_type == "Identity" and node.input[0] in named:
            named[node.output[0]] = named[node.input[0]]
        elif node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            named[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    convs = [(named[n.input[1]], named[n.input[2]]) for n in graph.node if n.op_type == "Conv"]
    return convs, named


def load_into(model: torch.nn.Module, path) -> None:
    """Set `model` (a FaceModel of the file's configuration) to the ONNX file's weights."""
    convs, named = onnx_weights(path)
    # the graph runs the whole trunk, then the attribute branch, then the eyelid branch (FaceModel.features)
    parts = [p for p in (model.backbone, model.branch, model.eyelids) if p is not None]
    layers = [m for part in parts for m in part.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for part in parts for m in part.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if len(layers) != len(convs) or len(norms) != len(convs):
        raise ValueError(f"{path}: {len(convs)} convolutions, the network has {len(layers)} (another backbone?)")
    with torch.no_grad():
        for conv, norm, (weight, bias) in zip(layers, norms, convs):
            if tuple(conv.weight.shape) != weight.shape:
                raise ValueError(
                    f"{path}: a convolution of shape {weight.shape} where the network has {tuple(conv.weight.shape)}"
                )
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0)
            norm.weight.fill_(float(np.sqrt(1.0 + norm.eps)))
            norm.bias.copy_(torch.from_numpy(np.array(bias)))
        heads = ["head"] + [f"{part}.head" for part in ("branch", "eyelids") if getattr(model, part) is not None]
        for name in (f"{head}.{p}" for head in heads for p in ("weight", "bias")):
            target = model.get_parameter(name)
            if tuple(target.shape) != named[name].shape:
                raise ValueError(f"{path}: {name} has shape {named[name].shape}, the network {tuple(target.shape)}")
            target.copy_(torch.from_numpy(np.array(named[name])))
        # the visibility prior's normals are baked into the graph: take the file's, whatever mesh it shipped with
        if "normals" in named:
            model.normals.copy_(torch.from_numpy(np.array(named["normals"])))


def pack_model(pack_dir, morphable, backbone: str = "mobilenetv2_050"):
    """The network of a shipped pack (manifest + fp32 ONNX) as a torch FaceModel, in eval mode.
    The pack must be one of this layout (attribute logits, then per-point visibility)."""
    from ..runtime.pack import read_manifest
    from . import topology
    from .facemodel import FaceModel

    manifest = read_manifest(pack_dir)
    network = manifest.data.get("training", {}).get("network", {})
    topo = topology.load()
    # the pack's own mesh (the visibility prior's normals baked into its graph are read from the file)
    topo["triangles"] = manifest.triangles.tolist()
    model = FaceModel(
        network.get("backbone", backbone),
        topo,
        morphable,
        identity_size=manifest.identity_size,
        crop_scale=manifest.crop_scale,
        attribute_names=list(manifest.attribute_names),
        visibility_head=True,
        age_head="age" in manifest.outputs,
        attribute_branch=network.get("attribute_branch"),
    )
    load_into(model, manifest.root / "model_fp32.onnx")
    model.input_size = manifest.input_size
    return model.eval()


def from_pack(pack_dir, model: torch.nn.Module, morphable) -> dict:
    """Start `model` from a shipped pack (its manifest and fp32 ONNX file): the backbone whole, and
    the head row by row where the meaning is the same (pose, identity, expression, visibility, and
    attributes of the same name). Rows with no counterpart (new attributes, age) keep their
    initialisation. Returns what was taken."""
    from pathlib import Path

    from ..runtime.pack import read_manifest

    pack = Path(pack_dir)
    version = read_manifest(pack).data.get("version")
    old = pack_model(pack, morphable, model.backbone_name)
    names = list(old.attribute_names)
    if old.identity_size != model.identity_size:
        raise ValueError(f"{pack}: identity size {old.identity_size}, the network {model.identity_size}")
    state = old.state_dict()
    target = model.state_dict()
    for name, value in state.items():
        if not name.startswith("head.") and name in target and target[name].shape == value.shape:
            target[name] = value.clone()
    rows = list(zip(range(old.core), range(model.core)))
    kept = [n for n in names if n in model.attribute_names]
    rows += [(old.core + names.index(n), model.core + model.attribute_names.index(n)) for n in kept]
    if old.age_head and model.age_head:
        rows.append((old.core + len(names), model.core + len(model.attribute_names)))
    old_vis = old.core + len(names) + int(old.age_head)
    new_vis = model.core + len(model.attribute_names) + int(model.age_head)
    if model.visibility_head:
        rows += [(old_vis + v, new_vis + v) for v in range(model.num_points)]
    source, dest = torch.tensor([a for a, _ in rows]), torch.tensor([b for _, b in rows])
    target["head.weight"][dest] = state["head.weight"][source]
    target["head.bias"][dest] = state["head.bias"][source]
    model.load_state_dict(target)
    return {"pack": str(pack), "version": version, "head_rows": len(rows), "attributes_kept": kept}
