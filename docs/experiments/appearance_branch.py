import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, ".")  # run from the repository root
from edgeface.train.networks.mobilenet import InvertedResidual, conv_bn

torch.set_num_threads(2)
torch.manual_seed(0)
L = {k: np.load(f"runs/appearance_branch/s8_{k}.npz") for k in ("ut", "ud", "ct", "cd")}
MALE = 20


def labels(k):
    d = L[k]
    v = int(d["views"])
    if k[0] == "c":
        a = np.tile(d["attr"].astype(np.float32), (v, 1))
        age = np.full(len(a), np.nan, np.float32)
    else:
        a = np.full((len(d["gender"]) * v, 40), np.nan, np.float32)
        a[:, MALE] = np.tile(d["gender"] == 0, v)
        age = np.tile(d["age"].astype(np.float32), v)
    return torch.from_numpy(d["x"]), torch.from_numpy(a), torch.from_numpy(age)


xt = [labels("ut"), labels("ct")]
X = torch.cat([xt[0][0], xt[1][0]])
A = torch.cat([xt[0][1], xt[1][1]])
G = torch.cat([xt[0][2], xt[1][2]])
width = int(sys.argv[1]) if len(sys.argv) > 1 else 32


class Branch(nn.Module):
    def __init__(s, c=width):
        super().__init__()
        s.f = nn.Sequential(
            InvertedResidual(16, c, 2, 6),
            InvertedResidual(c, c, 1, 6),
            InvertedResidual(c, c, 1, 6),
            InvertedResidual(c, 2 * c, 1, 6),
            InvertedResidual(2 * c, 2 * c, 1, 6),
            InvertedResidual(2 * c, 2 * c, 1, 6),
            conv_bn(2 * c, 256, 1),
        )
        s.drop = nn.Dropout(0.2)
        s.head = nn.Linear(256, 41)

    def forward(s, x):
        return s.head(s.drop(s.f(x).mean((2, 3))))


net = Branch()
opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-3)
epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 20
bs = 256
steps = epochs * (len(X) // bs)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)


def evaluate():
    net.eval()
    with torch.no_grad():
        ud, cd = labels("ud"), labels("cd")
        pu = torch.cat([net(ud[0][i : i + 512].float()) for i in range(0, len(ud[0]), 512)])
        pc = torch.cat([net(cd[0][i : i + 512].float()) for i in range(0, len(cd[0]), 512)])
    g = ((pu[:, MALE] > 0).float() == ud[1][:, MALE]).float().mean().item()
    mae = (35 + 20 * pu[:, 40] - ud[2]).abs().mean().item()
    acc = ((pc[:, :40] > 0).float() == cd[1]).float().mean(0)
    net.train()
    return g, mae, acc.mean().item(), acc[MALE].item()


t0 = time.time()
step = 0
for ep in range(epochs):
    perm = torch.randperm(len(X))
    for i in range(0, len(X) - bs + 1, bs):
        idx = perm[i : i + bs]
        x, a, age = X[idx].float(), A[idx], G[idx]
        out = net(x)
        m = torch.isfinite(a)
        bce = nn.functional.binary_cross_entropy_with_logits(out[:, :40], torch.nan_to_num(a), reduction="none")
        loss = (bce * m).sum() / m.sum().clamp(min=1)
        am = torch.isfinite(age)
        if am.any():
            loss = loss + 0.5 * nn.functional.smooth_l1_loss((35 + 20 * out[am, 40]) / 10, age[am] / 10, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
    if ep % 4 == 3 or ep == epochs - 1:
        print(
            ep,
            round(time.time() - t0),
            "UTK gender %.3f age MAE %.2f | CelebA attr %.4f Male %.3f" % evaluate(),
            flush=True,
        )
torch.save(net.state_dict(), f"runs/appearance_branch/branch_{width}.pt")
