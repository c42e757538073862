import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, ".")  # run from the repository root
from tqdm import tqdm

from edgeface.train.build import load_checkpoint, normalise
from edgeface.train.heads import fit_logistic
from edgeface.train.morphable import MorphableModel
from edgeface.train.sources import CelebaExamples, UtkfaceExamples

torch.set_num_threads(2)
root = Path("../shared/data")
model = load_checkpoint("./runs/edgeface-0.4.0/heads/heads.pt", MorphableModel.load(None), "cpu").eval()
taps = {}
feats = model.backbone.features
idx = {"s8": 6, "s16": 13, "s32": 16, "last": 17}
print([(i, type(m).__name__) for i, m in enumerate(feats)][-6:], len(feats))


@torch.no_grad()
def run(photos, views=1):
    out = {k: [] for k in idx}
    for v in range(views):
        photos.epoch = 1000 + v
        for s in tqdm(range(0, len(photos), 64), leave=False):
            x = normalise(
                torch.from_numpy(
                    np.stack([photos.crop(i, augment=v > 0)[0] for i in range(s, min(s + 64, len(photos)))])
                ).float()
                / 255
            )
            h = x
            for i, m in enumerate(feats):
                h = m(h)
                for k, j in idx.items():
                    if i == j:
                        out[k].append(
                            torch.cat([h.mean((2, 3)), h.amax((2, 3))], 1).numpy()
                            if k != "last"
                            else h.mean((2, 3)).numpy()
                        )
                        if k == "last":
                            out["last_sp"] = out.get("last_sp", []) + [
                                torch.nn.functional.adaptive_avg_pool2d(h, 2).flatten(1).numpy()
                            ]
    return {k: np.concatenate(v) for k, v in out.items()}


size = 112
ut = UtkfaceExamples(root / "utkface", "./.shards/utkface_frames.npz", "train", size)
ud = UtkfaceExamples(root / "utkface", "./.shards/utkface_frames.npz", "dev", size)
ct = CelebaExamples(root / "celeba", "./.shards/celeba_frames.npz", size)
cd = CelebaExamples(root / "celeba", "./.shards/celeba_frames.npz", size, split="dev")
print(len(ut), len(ud), len(ct), len(cd))
Ft, Fd, Ct, Cd = run(ut), run(ud), run(ct), run(cd)
np.savez(
    "runs/appearance_branch/feats.npz",
    **{f"ut_{k}": v for k, v in Ft.items()},
    **{f"ud_{k}": v for k, v in Fd.items()},
    **{f"ct_{k}": v for k, v in Ct.items()},
    **{f"cd_{k}": v for k, v in Cd.items()},
)
gt = (ut.labels["gender"][ut.rows] == 0).astype(float)[:, None]
gd = ud.labels["gender"][ud.rows] == 0
at = ct.labels["attributes"][ct.rows].astype(float)
ad = cd.labels["attributes"][cd.rows].astype(bool)
for k in Ft:
    mu, sd = Ft[k].mean(0), Ft[k].std(0) + 1e-6
    z = lambda a: (a - mu) / sd
    for l2 in (1e-3, 1e-2):
        w, b = fit_logistic(z(Ft[k]), gt, l2)
        acc = ((z(Fd[k]) @ w.T + b)[:, 0] > 0) == gd
        mu2, sd2 = Ct[k].mean(0), Ct[k].std(0) + 1e-6
        w2, b2 = fit_logistic((Ct[k] - mu2) / sd2, at, l2)
        acc2 = (((Cd[k] - mu2) / sd2 @ w2.T + b2) > 0) == ad
        print(k, Ft[k].shape[1], l2, "UTK gender", acc.mean().round(3), "CelebA attr", acc2.mean().round(4), flush=True)
