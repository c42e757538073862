"""Experiment (docs/experiments.md, "Eyelids from frozen features"): fit the eyelid rows of a
network's head to real eyelids. Run from the repository root with EDGEFACE_DATA set:

    python docs/experiments/eyelid_refit.py [PACK] [EVERY_NTH_TRAINING_CROP]

The blink, squint and wide-eye weights were learned from synthetic faces, and on real photos they
stay near zero whatever the eye does. MERL-RAV's 68 labelled points on the AFLW training crops
include some 400 eyes that are nearly shut. This stage keeps the backbone and every other row as
trained and refits only those rows (linear rows on frozen pooled features): the eyelid landmarks
the in-graph decoder places with the new weights are pulled onto the labelled eyelid points. A
fixed fraction of the crops (the training stages' validation split) is held out and measured.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgeface.tools.evaluate_eyes import EYE_POINTS
from edgeface.train.facemodel import EYELID_SHAPES  # the blendshapes that move the eyelids


@torch.no_grad()
def cached(model, examples, rows, flips: bool, batch: int = 128, desc: str = "eyelids") -> dict:
    """Pooled features, the branch's answers and the labelled eye points of the crops `rows` (and
    their mirror images when `flips`)."""
    from edgeface.tools.progress import tqdm
    from edgeface.train.build import normalise

    feats, targets, weights = [], [], []
    eye = np.array(EYE_POINTS)
    for start in tqdm(range(0, len(rows), batch), desc=desc):
        samples = [examples[int(i)] for i in rows[start : start + batch]]
        x = normalise(torch.from_numpy(np.stack([s["image"] for s in samples])).float() / 255.0)
        uv = np.stack([s["points68"] for s in samples])[:, eye]
        w = np.stack([s["weight68"] for s in samples])[:, eye]
        views = [(x, uv, w)]
        if flips:
            flip = examples.flip[eye]
            mirrored = np.searchsorted(eye, flip)  # the flipped crop's eye point k is the original's mirrored[k]
            views.append((x.flip(-1), uv[:, mirrored] * [-1, 1] + [1, 0], w[:, mirrored]))
        for xi, ui, wi in views:
            feats.append(model.features(xi)[0])
            targets.append(torch.from_numpy(ui.astype(np.float32)))
            weights.append(torch.from_numpy(wi.astype(np.float32)))
    return {"features": torch.cat(feats), "points": torch.cat(targets), "weight": torch.cat(weights)}


def eye_points(model, raw: torch.Tensor) -> torch.Tensor:
    """(N, 12, 2) eye landmarks (crop units) the decoder places for these raw head rows."""
    from edgeface.train import topology

    index = torch.as_tensor(topology.load()["landmarks68"], dtype=torch.long)[torch.as_tensor(np.array(EYE_POINTS))]
    return model.decode(raw)[0][:, index, :2]


def fit(
    model,
    data: dict,
    rows: torch.Tensor,
    epochs: int = 8,
    batch: int = 512,
    lr: float = 3e-3,
    l2: float = 1e-2,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """New weights and biases of the head `rows`, fitted by the weighted squared distance of the
    decoded eye points to the labelled ones, plus `l2` times the squared change of the weights."""
    w0, b0 = model.head.weight[rows].detach().clone(), model.head.bias[rows].detach().clone()
    w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
    base = torch.nn.functional.linear(data["features"], model.head.weight, model.head.bias).detach()
    opt = torch.optim.Adam([w, b], lr)
    g = torch.Generator().manual_seed(seed)
    n = len(base)
    for _ in range(epochs):
        for idx in torch.randperm(n, generator=g).split(batch):
            raw = base[idx].clone()
            raw[:, rows] = data["features"][idx] @ w.T + b
            err = (eye_points(model, raw) - data["points"][idx]).pow(2).sum(-1)
            weight = data["weight"][idx]
            loss = (err * weight).sum() / weight.sum().clamp(min=1) + l2 * (w - w0).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach(), b.detach()


@torch.no_grad()
def measure(model, data: dict, rows=None, w=None, b=None, shut: float = 0.1) -> dict:
    """On cached crops: the weighted eye-point error (crop units); the correlation of labelled and
    predicted eye opening over eyes with all six points visible; and the mean predicted opening of
    eyes labelled nearly shut (below `shut`) and of the others."""
    raw = torch.nn.functional.linear(data["features"], model.head.weight, model.head.bias)
    if rows is not None:
        raw[:, rows] = data["features"] @ w.T + b
    pred = eye_points(model, raw)
    weight = data["weight"]
    error = float(((pred - data["points"]).norm(dim=-1) * weight).sum() / weight.sum())
    seen = (weight.view(-1, 2, 6) >= 1).all(-1).numpy()
    from edgeface.tools.evaluate_eyes import eye_opening

    truth, opening = eye_opening(data["points"].numpy())[seen], eye_opening(pred.numpy())[seen]
    closed = truth < shut
    return {
        "eye_point_error": error,
        "eyes": int(seen.sum()),
        "aperture_correlation": float(np.corrcoef(truth, opening)[0, 1]),
        "eyes_shut": int(closed.sum()),
        "predicted_opening_shut": float(opening[closed].mean()) if closed.any() else None,
        "predicted_opening_open": float(opening[~closed].mean()),
    }


def main(argv=None) -> int:
    import sys

    from edgeface.tools.conventions import holdout_split
    from edgeface.tools.datasets import data_root
    from edgeface.train.build import load_network
    from edgeface.train.data import AflwShard
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.sources import Aflw68Examples

    args = sys.argv[1:] if argv is None else argv
    pack, every = (args[0] if args else "edgeface/models/default"), int(args[1]) if len(args) > 1 else 4
    root = data_root()
    model = load_network(pack, MorphableModel.load(None), "cpu")
    for p in model.parameters():
        p.requires_grad_(False)
    from edgeface.train.data import pack as pack_shard

    shard = Path(".shards/aflw_train.npz")
    if not shard.exists():
        pack_shard(root / "aflw_train", shard)
    examples = Aflw68Examples(AflwShard(shard), root / "aflw_train" / "labels68.npz", 112, 1.4, augment=False)
    train_rows, held_rows = holdout_split(len(examples), 0.03, 0)  # the students' validation split
    train_rows, held_rows = (r[examples.has68[r]] for r in (train_rows, held_rows))
    train = cached(model, examples, train_rows[::every], False, desc="training crops")
    held = cached(model, examples, held_rows, False, desc="held-out crops")
    rows = torch.tensor([6 + model.identity_size + model.expression_names.index(n) for n in EYELID_SHAPES])
    print("held-out AFLW crops, as shipped:", measure(model, held))
    for lr in (0.03, 0.1):
        w, b = fit(model, train, rows, epochs=10, lr=lr)
        print(f"refitted (Adam {lr}, 10 epochs):", measure(model, held, rows, w, b))
        print(
            "  mean weights",
            dict(zip(EYELID_SHAPES, torch.sigmoid(held["features"] @ w.T + b).mean(0).numpy().round(3))),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
