"""The training loop of a branch that learns from cached features (the attribute and eyelid
branches): AdamW with a one-cycle schedule over shuffled rows, a checkpoint every epoch, and a
rerun that resumes from it."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from . import checkpoints


def fit_resumable(
    module: torch.nn.Module,
    rows: int,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    checkpoint: Path,
    name: str,
    epochs: int,
    batch: int,
    lr: float,
    weight_decay: float,
    seed: int = 0,
    after_epoch: Callable[[], str] | None = None,
    progress=print,
) -> None:
    """Train `module`'s parameters on `rows` cached rows; `loss_of(indices)` is a batch's loss.
    `after_epoch()` may add a line of held-out figures to each epoch's report."""
    from ..tools.progress import tqdm

    opt = torch.optim.AdamW(module.parameters(), lr, weight_decay=weight_decay)
    per_epoch = max(1, rows // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * per_epoch)
    first = 0
    if checkpoint.exists():
        state = checkpoints.read(checkpoint)
        module.load_state_dict(state[name])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["schedule"])
        first = state["epoch"] + 1
    for epoch in range(first, epochs):
        module.train()
        order = torch.randperm(rows, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        total = 0.0
        for i in tqdm(range(per_epoch), desc=f"{name} epoch {epoch + 1}/{epochs}"):
            loss = loss_of(order[i * batch : (i + 1) * batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        extra = after_epoch() if after_epoch else ""
        progress(f"{name} epoch {epoch + 1}/{epochs}: training loss {total / per_epoch:.4f}{extra}")
        torch.save(
            {"epoch": epoch, name: module.state_dict(), "optimizer": opt.state_dict(), "schedule": sched.state_dict()},
            checkpoint,
        )
    module.eval()
