"""Experiment (docs/experiments.md, "How much identity the trunk holds"): cosine-verification EER on
CelebA dev of the shipped head's identity coefficients, of the raw pooled features, and of
regularised LDA projections fitted on CelebA train identities. Run from the repository root:

    python docs/experiments/identity_probe.py [PACK] [FRAMES]

FRAMES: the runtime's crop of every CelebA photo (`edgeface train --recipe ... --stop-after prepare`).
"""

import sys

import numpy as np
import torch
from scipy.linalg import eigh

from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import vector_verification
from edgeface.tools.progress import tqdm
from edgeface.train.build import load_network, normalise
from edgeface.train.morphable import MorphableModel
from edgeface.train.sources import CelebaExamples


@torch.no_grad()
def pooled(model, photos, batch=128):
    out = []
    for s in tqdm(range(0, len(photos), batch)):
        crops = np.stack([photos.crop(i, augment=False)[0] for i in range(s, min(s + batch, len(photos)))])
        out.append(model.features(normalise(torch.from_numpy(crops).float() / 255))[0].numpy())
    return np.concatenate(out).astype(np.float64)


def eer(e, ids):
    return vector_verification(e, ids)[0]


def main():
    pack = sys.argv[1] if len(sys.argv) > 1 else "edgeface/models/default"
    frames = sys.argv[2] if len(sys.argv) > 2 else ".shards/0.4.1/celeba_frames.npz"
    model = load_network(pack, MorphableModel.load(None), "cpu")
    sets = {s: CelebaExamples(data_root() / "celeba", frames, 112, split=s) for s in ("train", "dev")}
    x = {s: pooled(model, p) for s, p in sets.items()}
    ids = {s: p.labels["identity"][p.rows] for s, p in sets.items()}
    k = model.identity_size
    w, b = (t[6 : 6 + k].detach().double().numpy() for t in (model.head.weight, model.head.bias))
    print(f"identity coefficients ({k}): dev EER {eer(x['dev'] @ w.T + b, ids['dev']):.3f}")
    print(f"pooled features ({x['dev'].shape[1]}): dev EER {eer(x['dev'], ids['dev']):.3f}")
    mu = x["train"].mean(0)
    centred = x["train"] - mu
    within = sum(
        (c - c.mean(0)).T @ (c - c.mean(0))
        for c in (centred[ids["train"] == p] for p in np.unique(ids["train"]))
        if len(c) > 1
    )
    between = np.cov(centred.T) * len(centred)
    for reg in (0.1, 1.0, 10.0):
        _, vectors = eigh(between, within + reg * np.trace(within) / len(within) * np.eye(len(within)))
        for dims in (40, 128):
            print(
                f"LDA (reg {reg}, {dims} dims): dev EER {eer((x['dev'] - mu) @ vectors[:, ::-1][:, :dims], ids['dev']):.3f}"
            )


if __name__ == "__main__":
    main()
