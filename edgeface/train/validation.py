"""The figures every training epoch is validated by, on held-out crops, in units of the crop side."""

from __future__ import annotations

import numpy as np
import torch

from . import topology
from .build import normalise


@torch.no_grad()
def evaluate_synthetic_dense(model, samples: list, device) -> float:
    """Mean distance of the 520 points (2D) to held-out synthetic labels, in units of the crop side."""
    model.eval()
    total = 0.0
    for k in range(0, len(samples), 64):
        chunk = samples[k : k + 64]
        images = torch.from_numpy(np.stack([s["image"].transpose(2, 0, 1) for s in chunk])).to(device)
        dense = model(normalise(images.float() / 255.0)).dense[..., :2].cpu().numpy()
        truth = np.stack([s["points"][:, :2] / s["image"].shape[0] for s in chunk])
        total += float(np.linalg.norm(dense - truth, axis=-1).mean(-1).sum())
    return total / max(len(samples), 1)


@torch.no_grad()
def evaluate_68(model, loader, device) -> float:
    """Mean distance of the labelled MERL-RAV points on held-out AFLW crops to the network's 68
    landmark vertices, in units of the crop side (the definition alignment refines later)."""
    model.eval()
    index = torch.as_tensor(topology.load()["landmarks68"], dtype=torch.long, device=device)
    total, count = 0.0, 0.0
    for batch in loader:
        images, points, weight = (batch[k].to(device) for k in ("image", "points68", "weight68"))
        dense = model(normalise(images.float() / 255.0)).dense
        dist = torch.linalg.vector_norm(dense[:, index, :2] - points, dim=-1)
        keep = (weight > 0).float()
        total += float((dist * keep).sum())
        count += float(keep.sum())
    return total / max(count, 1.0)


@torch.no_grad()
def evaluate_sparse(model, loader, device) -> float:
    """Mean distance of the visible AFLW points, in units of the crop side."""
    model.eval()
    total, count = 0.0, 0.0
    for images, points, visible, _ in loader:
        images, points, visible = images.to(device), points.to(device), visible.to(device)
        dense = model(normalise(images.float() / 255.0)).dense
        pred = torch.einsum("pv,nvc->npc", model.aflw21, dense[..., :2])
        dist = torch.linalg.vector_norm(pred - points, dim=-1)
        total += float((dist * visible).sum())
        count += float(visible.sum())
    return total / max(count, 1.0)
