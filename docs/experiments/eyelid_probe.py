"""Experiment (docs/experiments.md, "Eye closure in the attribute branch"): which features of the
shipped network carry eye closure? Run from the repository root with EDGEFACE_DATA set:

    python docs/experiments/eyelid_probe.py [PACK]

For every AFLW training crop with MERL-RAV's 68 points (and its mirror image), the labelled opening
of each eye, and three feature sets of the pack's network: the trunk's pooled features (what the
head reads), the attribute branch's pooled features (what its last linear layer reads), and the
branch's 7 x 7 map before pooling. A ridge regression from each to the two openings is fitted on
the training crops and scored on the students' 3 % validation split (never trained on).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


@torch.no_grad()
def collect(model, examples, rows, batch: int = 128) -> dict:
    from edgeface.tools.evaluate_eyes import eye_aperture, eyes_seen
    from edgeface.tools.progress import tqdm
    from edgeface.train.build import normalise

    out = {"trunk": [], "branch": [], "map": [], "opening": [], "seen": []}
    flip = examples.flip
    for start in tqdm(range(0, len(rows), batch), desc="eyelid probe"):
        samples = [examples[int(i)] for i in rows[start : start + batch]]
        x = normalise(torch.from_numpy(np.stack([s["image"] for s in samples])).float() / 255.0)
        uv = np.stack([s["points68"] for s in samples])
        w = np.stack([s["weight68"] for s in samples])
        for xi, ui, wi in ((x, uv, w), (x.flip(-1), uv[:, flip] * [-1, 1] + [1, 0], w[:, flip])):
            pooled, tap = model.backbone(xi, tap=model.branch_tap)
            fmap = model.branch.blocks(tap)
            out["trunk"].append(pooled.numpy())
            out["branch"].append(fmap.mean((2, 3)).numpy())
            out["map"].append(torch.nn.functional.avg_pool2d(fmap[:, :64], 2, ceil_mode=True).flatten(1).numpy())
            out["opening"].append(eye_aperture(ui))
            out["seen"].append(eyes_seen(wi >= 1))
    return {k: np.concatenate(v) for k, v in out.items()}


def ridge(x, y, lam):
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    w = np.linalg.solve(z.T @ z + lam * len(z) * np.eye(z.shape[1]), z.T @ (y - y.mean(0)))
    return lambda q: ((q - mu) / sd) @ w + y.mean(0)


def main(argv=None) -> int:
    import sys

    from edgeface.tools.conventions import holdout_split
    from edgeface.tools.datasets import data_root
    from edgeface.train.build import load_network
    from edgeface.train.data import AflwShard
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.sources import Aflw68Examples

    args = sys.argv[1:] if argv is None else argv
    pack = args[0] if args else "edgeface/models/default"
    root = data_root()
    model = load_network(pack, MorphableModel.load(None), "cpu")
    examples = Aflw68Examples(
        AflwShard(Path(".shards/aflw_train.npz")), root / "aflw_train" / "labels68.npz", 112, 1.4, augment=False
    )
    train_rows, held_rows = holdout_split(len(examples), 0.03, 0)
    train_rows, held_rows = (r[examples.has68[r]] for r in (train_rows, held_rows))
    cache = Path("runs/probe/eyelid_probe.npz")
    if cache.exists():
        data = dict(np.load(cache))
    else:
        tr, he = collect(model, examples, train_rows[::2]), collect(model, examples, held_rows)
        data = {f"{k}_train": v for k, v in tr.items()} | {f"{k}_held": v for k, v in he.items()}
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **data)
    truth_held = data["opening_held"]
    seen_held = data["seen_held"]
    shut = truth_held[seen_held] < 0.1
    print(f"held-out eyes: {int(seen_held.sum())}, of them under 0.1: {int(shut.sum())}")
    for name in ("trunk", "branch", "map"):
        x, y, s = data[f"{name}_train"], data["opening_train"], data["seen_train"].all(-1)
        for lam in (1e-3, 1e-2, 1e-1):
            predict = ridge(x[s], y[s], lam)
            p = predict(data[f"{name}_held"])[seen_held]
            t = truth_held[seen_held]
            print(
                f"{name:7s} ({x.shape[1]} values) ridge {lam:g}: correlation {np.corrcoef(t, p)[0, 1]:.3f}, "
                f"predicted opening of shut eyes {p[shut].mean():.3f} / of others {p[~shut].mean():.3f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
