import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")  # run from the repository root
from tqdm import tqdm

from edgeface.train.build import load_checkpoint, normalise
from edgeface.train.morphable import MorphableModel
from edgeface.train.sources import CelebaExamples, UtkfaceExamples

torch.set_num_threads(2)
root = Path("../shared/data")
model = load_checkpoint("./runs/edgeface-0.4.0/heads/heads.pt", MorphableModel.load(None), "cpu").eval()
trunk = model.backbone.features[:7]


@torch.no_grad()
def run(photos, views):
    out = []
    for v in range(views):
        photos.epoch = 2000 + v
        for s in tqdm(range(0, len(photos), 128), desc=f"view {v}"):
            x = normalise(
                torch.from_numpy(
                    np.stack([photos.crop(i, augment=v > 0)[0] for i in range(s, min(s + 128, len(photos)))])
                ).float()
                / 255
            )
            out.append(trunk(x).half().numpy())
    return np.concatenate(out)


size = 112
sets = {
    "ut": UtkfaceExamples(root / "utkface", "./.shards/utkface_frames.npz", "train", size),
    "ud": UtkfaceExamples(root / "utkface", "./.shards/utkface_frames.npz", "dev", size),
    "ct": CelebaExamples(root / "celeba", "./.shards/celeba_frames.npz", size),
    "cd": CelebaExamples(root / "celeba", "./.shards/celeba_frames.npz", size, split="dev"),
}
for k, p in sets.items():
    views = 4 if k.endswith("t") else 1
    f = run(p, views)
    lab = (
        {"attr": p.labels["attributes"][p.rows]}
        if k[0] == "c"
        else {"gender": p.labels["gender"][p.rows], "age": p.labels["age"][p.rows], "race": p.labels["race"][p.rows]}
    )
    np.savez(f"runs/appearance_branch/s8_{k}.npz", x=f, views=views, **lab)
    print(k, f.shape, flush=True)
