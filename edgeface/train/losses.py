"""Losses. Each sample contributes only the terms it has labels for (masks), so batches can mix
datasets with different labels (in-batch hybrid-task training)."""
from __future__ import annotations

import torch


def sparse_landmarks(dense: torch.Tensor, mapping: torch.Tensor, target: torch.Tensor, visible: torch.Tensor):
    """Mean 2D distance between mapped dense points (mapping: (P, 520)) and visible targets (N, P, 2)."""
    pred = torch.einsum("pv,nvc->npc", mapping, dense[..., :2])
    dist = torch.linalg.vector_norm(pred - target, dim=-1)
    return (dist * visible).sum() / visible.sum().clamp(min=1.0)


def yaw(pred: torch.Tensor, target: torch.Tensor, has: torch.Tensor):
    err = torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=0.1)
    return (err * has).sum() / has.sum().clamp(min=1.0)


def identity_prior(identity: torch.Tensor):
    """Negative log-density of N(0, I) per coefficient (the KL term of SIR, for point estimates)."""
    return 0.5 * identity.pow(2).mean()


def expression_prior(expression: torch.Tensor):
    """Expressions are sparse: most blendshapes are near zero at any moment."""
    return expression.abs().mean()


def dense_points(pred: torch.Tensor, target: torch.Tensor):
    """Mean 3D distance between two sets of dense points (distillation from the teacher)."""
    return torch.linalg.vector_norm(pred - target, dim=-1).mean()
