"""Refit the attribute and age rows of a trained network's head on its own frozen features.

In-batch hybrid training shapes the shared features, but on a CPU budget the attribute rows learn
little beyond each attribute's base rate (a few CelebA photos per batch). This stage keeps the
backbone and every geometric row as trained and fits, by full-batch L-BFGS on pooled features of
the runtime's crops (each photo as cut and mirrored, plus one degraded copy): CelebA's 40
attributes by L2-regularised logistic regression (`Male` from CelebA and UTKFace together), and
age by smooth-L1 regression on UTKFace. Linear rows on fixed features: the geometry cannot move.
"""

from __future__ import annotations

import numpy as np
import torch

from . import checkpoints


@torch.no_grad()
def features(
    model,
    photos,
    views: int = 2,
    batch: int = 64,
    desc: str = "features",
    layers=None,
    first_epoch: int = 1000,
    dtype=np.float32,
) -> np.ndarray:
    """(views * N, ...) features of each photo: the runtime's crop, then jittered and degraded
    copies (`FramedPhotos.crop`, augmentation drawn for epochs `first_epoch` + view), mirrored half
    the time. `layers`: what to run (default: the backbone's pooled features)."""
    from ..tools.progress import tqdm
    from .build import normalise

    model.eval()
    layers = model.backbone if layers is None else layers
    out = []
    for view in range(views):
        photos.epoch = first_epoch + view
        for start in tqdm(range(0, len(photos), batch), desc=f"{desc} {view + 1}/{views}", leave=False):
            crops = [photos.crop(i, augment=view > 0)[0] for i in range(start, min(start + batch, len(photos)))]
            x = normalise(torch.from_numpy(np.stack(crops)).float() / 255.0)
            out.append(layers(x).numpy().astype(dtype, copy=False))
    return np.concatenate(out)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Columns of y (N, A) in {0, 1}, NaN where unlabelled -> weights (A, F), biases (A,)."""
    xt = torch.from_numpy(x).double()
    yt = torch.from_numpy(np.nan_to_num(y)).double()
    mask = torch.from_numpy(np.isfinite(y)).double()
    w = torch.zeros(y.shape[1], x.shape[1], dtype=torch.float64, requires_grad=True)
    rate = (yt * mask).sum(0) / mask.sum(0).clamp(min=1)
    b = torch.logit(rate.clamp(1e-3, 1 - 1e-3)).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        bce = torch.nn.functional.binary_cross_entropy_with_logits(xt @ w.T + b, yt, reduction="none")
        # each attribute's mean over its labelled photos, summed: every attribute counts alike
        loss = ((bce * mask).sum(0) / mask.sum(0).clamp(min=1)).sum() + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def fit_age(
    x: np.ndarray, years: np.ndarray, offset: float, scale: float, l2: float = 1e-3, steps: int = 200
) -> tuple[np.ndarray, float]:
    """age = offset + scale * (w . f + b), fitted by smooth L1 in decades."""
    xt, yt = torch.from_numpy(x).double(), torch.from_numpy(years).double()
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(float((np.median(years) - offset) / scale), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        pred = offset + scale * (xt @ w + b)
        loss = torch.nn.functional.smooth_l1_loss(pred / 10, yt / 10, beta=0.5) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), float(b.detach())


def refit(checkpoint, out, celeba, utkface, l2: float = 1e-3, views: int = 2) -> dict:
    """Write `out`: `checkpoint` with the CelebA attribute rows and the age row refitted."""
    from .build import load_checkpoint
    from .facemodel import AGE_OFFSET, AGE_SCALE
    from .morphable import MorphableModel
    from .sources import CELEBA_ATTRIBUTES

    state = checkpoints.read(checkpoint)
    model = load_checkpoint(checkpoint, MorphableModel.load(None), "cpu")
    fc, fu = features(model, celeba, views, desc="CelebA"), features(model, utkface, views, desc="UTKFace")
    labels_c = np.tile(celeba.labels["attributes"][celeba.rows].astype(np.float64), (views, 1))
    male = CELEBA_ATTRIBUTES.index("Male")
    labels_u = np.full((len(fu), len(CELEBA_ATTRIBUTES)), np.nan)
    labels_u[:, male] = np.tile(utkface.labels["gender"][utkface.rows] == 0, views)
    w, b = fit_logistic(np.concatenate([fc, fu]), np.concatenate([labels_c, labels_u]), l2)
    years = np.tile(utkface.labels["age"][utkface.rows].astype(np.float64), views)
    wa, ba = fit_age(fu, years, AGE_OFFSET, AGE_SCALE, l2)
    head = {k: v.clone() for k, v in state["model"].items() if k.startswith("head.")}
    rows = [model.core + model.attribute_names.index(n) for n in CELEBA_ATTRIBUTES]
    age_row = model.core + len(model.attribute_names)
    head["head.weight"][rows] = torch.from_numpy(w).float()
    head["head.bias"][rows] = torch.from_numpy(b).float()
    head["head.weight"][age_row] = torch.from_numpy(wa).float()
    head["head.bias"][age_row] = ba
    state["model"].update(head)
    state["heads_refit"] = {"celeba_photos": len(celeba), "utkface_photos": len(utkface), "views": views, "l2": l2}
    torch.save(state, out)
    return state["heads_refit"]
