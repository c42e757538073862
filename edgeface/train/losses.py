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


def masked_mean(per_sample: torch.Tensor, has: torch.Tensor):
    return (per_sample * has).sum() / has.sum().clamp(min=1.0)


def dense_supervised(pred: torch.Tensor, target: torch.Tensor, point_weights: torch.Tensor, has: torch.Tensor):
    """Region-weighted mean 3D distance to labelled dense points (eyes, brows, nose, lips heavier)."""
    dist = torch.linalg.vector_norm(pred - target, dim=-1)
    per_sample = (dist * point_weights).sum(-1) / point_weights.sum()
    return masked_mean(per_sample, has)


def pose_angles(pred: torch.Tensor, target: torch.Tensor, has: torch.Tensor):
    per_sample = torch.nn.functional.smooth_l1_loss(pred, target, reduction="none", beta=0.1).mean(-1)
    return masked_mean(per_sample, has)


def rotation(pitch: torch.Tensor, yaw: torch.Tensor, roll: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3) rotations of edgeface.runtime.geometry.euler_to_matrix's convention (radians)."""
    one, zero = torch.ones_like(pitch), torch.zeros_like(pitch)
    cx, sx, cy, sy, cz, sz = (
        torch.cos(-pitch),
        torch.sin(-pitch),
        torch.cos(-yaw),
        torch.sin(-yaw),
        torch.cos(-roll),
        torch.sin(-roll),
    )
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def pose_rotation(pred: torch.Tensor, target: torch.Tensor, has: torch.Tensor, max_yaw: float | None = None):
    """Head pose compared as rotations, not as Euler angles: the chordal distance of the two
    rotation matrices over sqrt 2, which is the angle between them (radians) for small angles and has
    no gimbal lock, where a profile's pitch and roll trade places (3DDFA_V2's Euler angles swing by
    tens of degrees near |yaw| 73 deg, docs/experiments.md). `max_yaw` (radians) drops targets whose
    yaw is beyond it."""
    chord = torch.linalg.matrix_norm(rotation(*pred.unbind(-1)) - rotation(*target.unbind(-1)))
    per_sample = chord / 2**0.5
    if max_yaw is not None:
        has = has * (target[:, 1].abs() < max_yaw).float()
    return masked_mean(per_sample, has)


def coefficients(pred: torch.Tensor, target: torch.Tensor, has: torch.Tensor, l1: bool = False):
    err = (pred - target).abs() if l1 else (pred - target).pow(2)
    return masked_mean(err.mean(-1), has)


def visibility(logits: torch.Tensor, target: torch.Tensor, has: torch.Tensor):
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(-1)
    return masked_mean(bce, has)


def attributes(
    logits: torch.Tensor, target: torch.Tensor, has: torch.Tensor, positive_rate: torch.Tensor, balance: float = 1.0
):
    """BCE with positives weighted by ((1 - p) / p) ** balance: at 1 rare attributes count as much
    as common ones (balanced accuracy), at 0 each label counts once (plain accuracy at 0.5).
    `has` is (N,) (all of a sample's attributes labelled or none) or (N, A) per attribute, and may
    carry weights."""
    weight = ((1 - positive_rate) / positive_rate.clamp(min=1e-3)) ** balance
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, pos_weight=weight, reduction="none")
    if has.dim() == 1:
        return masked_mean(bce.mean(-1), has)
    return (bce * has).sum() / has.sum().clamp(min=1.0)


def landmarks68(dense: torch.Tensor, indices: torch.Tensor, target: torch.Tensor, weight: torch.Tensor):
    """Weighted mean 2D distance of the 68 landmark vertices to labelled points (weight 0 where a
    point's position is unknown, e.g. MERL-RAV's self-occluded far jaw)."""
    dist = torch.linalg.vector_norm(dense[:, indices, :2] - target, dim=-1)
    return (dist * weight).sum() / weight.sum().clamp(min=1.0)


def age(pred_years: torch.Tensor, target_years: torch.Tensor, has: torch.Tensor):
    """Smooth L1 in decades (robust to UTKFace's rounded and guessed ages)."""
    err = torch.nn.functional.smooth_l1_loss(pred_years / 10.0, target_years / 10.0, reduction="none", beta=0.5)
    return masked_mean(err, has)


def young(
    pred_years: torch.Tensor, is_young: torch.Tensor, has: torch.Tensor, below: float = 38.0, above: float = 28.0
):
    """CelebA's `Young` as a bound on the age output: young faces above `below` years and not-young
    ones under `above` pay the distance, in decades (the label is a judgement, not an age)."""
    over = torch.relu(pred_years - below) * is_young + torch.relu(above - pred_years) * (1 - is_young)
    return masked_mean(over / 10.0, has)


def sir(identity: torch.Tensor, ids: torch.Tensor, margin: float):
    """Shape-parameter identity regularisation on a batch: renders of one person pull towards their
    centre (intra-class aggregation); centres of different people push apart until `margin`
    (inter-class separation). The KL term is `identity_prior`. Samples with id < 0 take no part."""
    keep = ids >= 0
    if keep.sum() < 2:
        return identity.sum() * 0.0, identity.sum() * 0.0
    x, ids = identity[keep], ids[keep]
    labels, inverse = torch.unique(ids, return_inverse=True)
    counts = torch.zeros(len(labels), device=x.device).index_add_(0, inverse, torch.ones_like(inverse, dtype=x.dtype))
    centres = torch.zeros(len(labels), x.shape[1], device=x.device, dtype=x.dtype).index_add_(0, inverse, x)
    centres = centres / counts[:, None]
    pull = (x - centres[inverse]).pow(2).sum(-1).mean()
    if len(labels) < 2:
        return pull, identity.sum() * 0.0
    gaps = torch.cdist(centres, centres)
    off = ~torch.eye(len(labels), dtype=torch.bool, device=x.device)
    push = torch.relu(margin - gaps[off]).pow(2).mean()
    return pull, push


def relational(identity: torch.Tensor, descriptors: torch.Tensor, has: torch.Tensor):
    """Make the pairwise cosine similarities of the identity coefficients (centred on the batch's
    mean, as the runtime's embedding centres them) follow those of a teacher's face descriptors,
    over the pairs of samples that both have a descriptor (`has`): mean squared difference."""
    keep = has > 0
    if keep.sum() < 2:
        return identity.sum() * 0.0
    x, d = identity[keep], descriptors[keep]
    x = torch.nn.functional.normalize(x - x.mean(0, keepdim=True), dim=-1)
    d = torch.nn.functional.normalize(d - d.mean(0, keepdim=True), dim=-1)
    off = ~torch.eye(len(x), dtype=torch.bool, device=x.device)
    return ((x @ x.t() - d @ d.t())[off]).pow(2).mean()


def soft_binary(logits: torch.Tensor, probability: torch.Tensor, has: torch.Tensor):
    """Cross-entropy of logits against a teacher's probabilities, where the sample has them."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, probability.clamp(0.0, 1.0), reduction="none")
    return masked_mean(bce, has)
