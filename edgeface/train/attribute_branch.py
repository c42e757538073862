"""Train a network's attribute branch (facemodel.AttributeBranch) on its frozen trunk.

The trunk runs once over every training photo (the runtime's crop, then jittered and degraded
copies) and its tap features are cached; the branch then learns from the cache alone, so an epoch
costs the branch's layers, not the trunk's. CelebA gives the 40 attributes, UTKFace gender (into
`Male`) and age; each photo contributes only the losses it has labels for. Ethnicity is never a
target. The trunk and the head are copied unchanged: every geometric output stays as it was.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .config import TrainingConfig
from .facemodel import AGE_OFFSET, AGE_SCALE


def tap_features(model, photos, views: int, desc: str = "tap") -> np.ndarray:
    """(views * N, C, H, W) float16 tap features of each photo (`heads.features`: view 0 the
    runtime's crop, the others jittered, degraded and mirrored copies)."""
    from .heads import features

    return features(
        model,
        photos,
        views,
        batch=128,
        desc=desc,
        layers=model.backbone.features[: model.branch_tap],
        first_epoch=2000,
        dtype=np.float16,
    )


def labels(celeba, utkface, names, views: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cached row (CelebA's rows, then UTKFace's): attribute targets (NaN where unlabelled) for
    the branch's names, and age in years (NaN where unknown)."""
    celeba_names = [str(n) for n in celeba.labels["attribute_names"]]
    column = [celeba_names.index(n) for n in names]
    attr_c = celeba.labels["attributes"][celeba.rows][:, column].astype(np.float32)
    attr_u = np.full((len(utkface), len(names)), np.nan, np.float32)
    if "Male" in names:
        attr_u[:, names.index("Male")] = utkface.labels["gender"][utkface.rows] == 0
    age_c = np.full(len(celeba), np.nan, np.float32)
    age_u = utkface.labels["age"][utkface.rows].astype(np.float32)
    attributes = np.concatenate([np.tile(attr_c, (views, 1)), np.tile(attr_u, (views, 1))])
    age = np.concatenate([np.tile(age_c, views), np.tile(age_u, views)])
    return attributes, age


def branch_loss(out: torch.Tensor, attributes: torch.Tensor, age: torch.Tensor, age_weight: float) -> torch.Tensor:
    """Masked BCE over the labelled attributes plus smooth-L1 age (in decades) over the photos with
    an age; an unlabelled entry adds nothing. `out`: the branch's logits, then its age row."""
    n = attributes.shape[1]
    known = torch.isfinite(attributes)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        out[:, :n], torch.nan_to_num(attributes), reduction="none"
    )
    loss = (bce * known).sum() / known.sum().clamp(min=1)
    aged = torch.isfinite(age)
    if out.shape[1] > n and bool(aged.any()):
        years = AGE_OFFSET + AGE_SCALE * out[aged, n]
        loss = loss + age_weight * torch.nn.functional.smooth_l1_loss(years / 10, age[aged] / 10, beta=0.5)
    return loss


def train_branch(
    start,
    out_dir,
    config: TrainingConfig | dict,
    celeba,
    utkface,
    epochs: int = 20,
    views: int = 4,
    batch: int = 256,
    lr: float = 2e-3,
    weight_decay: float = 1e-3,
    age_weight: float = 0.5,
    seed: int = 0,
    progress=print,
) -> Path:
    """`start` (a pack folder or a checkpoint) with an attribute branch (`config.attribute_branch`)
    trained on its frozen trunk -> `out_dir/branch.pt`, a checkpoint of the whole network.
    Resumes from `out_dir/branch_last.pt` (saved every epoch) and reuses cached features."""
    from .build import build_model, load_network
    from .cached_fit import fit_resumable
    from .morphable import MorphableModel

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    morphable = MorphableModel.load(None)
    config = TrainingConfig.coerce(config)
    model = build_model(config, morphable)
    missing, unexpected = model.load_state_dict(load_network(start, morphable, "cpu").state_dict(), strict=False)
    if unexpected or any(not k.startswith("branch") for k in missing):
        raise ValueError(f"{start} is not this network without a branch (missing {missing}, unexpected {unexpected})")
    model.eval()
    cache = out / "features.npz"
    # a cache is reused only for the same start network, photos and views (a rerun, a resume)
    key = np.array(f"{Path(start).resolve()}|{len(celeba)}|{len(utkface)}|{views}|{model.branch_tap}")
    stored = np.load(cache) if cache.exists() else None
    if stored is not None and "key" in stored.files and str(stored["key"]) == str(key):
        features = stored["x"]
    else:
        features = np.concatenate(
            [tap_features(model, celeba, views, desc="CelebA"), tap_features(model, utkface, views, desc="UTKFace")]
        )
        np.savez(cache, x=features, key=key)
    attributes, age = labels(celeba, utkface, model.branch_names, views)
    x, a, g = torch.from_numpy(features), torch.from_numpy(attributes), torch.from_numpy(age)

    torch.manual_seed(seed)
    fit_resumable(
        model.branch,
        len(x),
        lambda idx: branch_loss(model.branch(x[idx].float()), a[idx], g[idx], age_weight),
        out / "branch_last.pt",
        "branch",
        epochs,
        batch,
        lr,
        weight_decay,
        seed,
        progress=progress,
    )
    model.eval()
    path = out / "branch.pt"
    torch.save(
        {
            "config": config.to_dict(),
            "model": model.state_dict(),
            "attribute_branch": {
                "start": str(start),
                "celeba_photos": len(celeba),
                "utkface_photos": len(utkface),
                "views": views,
                "epochs": epochs,
                "batch": batch,
                "lr": lr,
            },
        },
        path,
    )
    return path
