"""A FaceModel from a typed training configuration, a checkpoint or a shipped pack, and the input
arithmetic every training and evaluation path shares (normalise, resized)."""

from __future__ import annotations

import torch

from ..runtime.pack import is_pack
from ..tools.conventions import MEAN, STD
from . import checkpoints, topology
from .config import TrainingConfig
from .facemodel import FaceModel
from .morphable import MorphableModel


def attribute_names(config: TrainingConfig) -> list[str] | None:
    """The attribute head's names: `"attributes": "celeba"` is CelebA's 40 and the expression ones."""
    if config.attributes == "celeba":
        from .sources import ATTRIBUTES

        return list(ATTRIBUTES)
    return None


def build_model(config: TrainingConfig | dict, morphable: MorphableModel) -> FaceModel:
    config = TrainingConfig.coerce(config)
    branch = None
    if config.attribute_branch is not None:
        branch = config.to_dict()["attribute_branch"]
        if branch["eyelids"] is None:
            del branch["eyelids"]
        if config.attribute_branch.attributes == "celeba":
            from .sources import CELEBA_ATTRIBUTES

            branch["attributes"] = list(CELEBA_ATTRIBUTES)
    return FaceModel(
        config.backbone,
        topology.load(),
        morphable,
        identity_size=config.identity_size,
        crop_scale=config.crop_scale,
        attribute_head=config.attribute_head,
        visibility_head=config.visibility_head,
        attribute_names=attribute_names(config),
        age_head=config.age_head,
        attribute_branch=branch,
    )


def normalise(images01: torch.Tensor) -> torch.Tensor:
    """The network's input normalisation (tools.conventions; export writes it into every manifest)."""
    return (images01 - MEAN) / STD


def checkpoint_config(state: dict, where) -> TrainingConfig:
    """The typed configuration a checkpoint was trained with."""
    return TrainingConfig.from_dict(state["config"], f"{where}: config")


def load_checkpoint(path, morphable: MorphableModel, device) -> FaceModel:
    state = checkpoints.read(path, map_location=device)
    config = checkpoint_config(state, path)
    model = build_model(config, morphable).to(device)
    model.load_state_dict(state["model"])
    model.input_size = config.input_size
    return model.eval()


def load_network(path, morphable: MorphableModel, device) -> FaceModel:
    """A checkpoint, or a shipped pack's folder (its fp32 ONNX network, `recover.pack_model`)."""
    if is_pack(path):
        from .recover import pack_model

        return pack_model(path, morphable).to(device).eval()
    return load_checkpoint(path, morphable, device)


def resized(images: torch.Tensor, size: int) -> torch.Tensor:
    """A float batch at another square size (area-like when shrinking, as a crop taken at that size)."""
    if images.shape[-1] == size:
        return images
    return torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )


def init_from(model: FaceModel, path, device) -> tuple[int, int]:
    """Start from another run's weights: every tensor whose name and shape match, and the leading rows
    of the head (pose, identity and expression come first in it, so a checkpoint without the
    attribute and visibility outputs still gives the rest). Returns (tensors taken, tensors in model)."""
    source = checkpoints.read(path, map_location=device)["model"]
    target = model.state_dict()
    taken = 0
    for name, value in source.items():
        if name not in target:
            continue
        if target[name].shape == value.shape:
            target[name] = value
        elif (
            name.startswith("head.")
            and target[name].shape[1:] == value.shape[1:]
            and target[name].shape[0] > value.shape[0]
        ):
            target[name][: value.shape[0]] = value
        else:
            continue
        taken += 1
    model.load_state_dict(target)
    return taken, len(target)
