"""`edgeface train teacher|student --config FILE [--teacher CKPT]`: train, checkpoint, resume, log.

Runs on a GPU when torch sees one, else on the CPU (use a smaller config there). Data paths come
from the config, flags or EDGEFACE_DATA. Every run writes into its output folder: `config.json`,
`log.csv` (one row per epoch), `last.pt` and `best.pt` (by validation landmark error).
"""
from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from . import losses, topology
from .data import AflwShard, AflwTraining, photometric
from .facemodel import FaceModel
from .morphable import MorphableModel


def _split(n: int, fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * fraction))
    return np.sort(order[cut:]), np.sort(order[:cut])


def build_model(config: dict, morphable: MorphableModel) -> FaceModel:
    return FaceModel(config["backbone"], topology.load(), morphable, identity_size=config["identity_size"],
                     crop_scale=config["crop_scale"])


#: the network's input normalisation (also written into every manifest)
MEAN, STD = 0.5, 0.5


def normalise(images01: torch.Tensor) -> torch.Tensor:
    return (images01 - MEAN) / STD


def load_checkpoint(path, morphable: MorphableModel, device) -> FaceModel:
    state = torch.load(path, map_location=device, weights_only=False)
    model = build_model(state["config"], morphable).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def train(config: dict, out_dir: Path, ict_path=None, shard_path=None, resume: bool = False, device=None,
          teacher_path=None, stop_after: int | None = None) -> Path:
    """Train (or resume) a run; `stop_after` ends this call after that many epochs, so that a long
    schedule can be split across several time-limited jobs and continued with `resume`."""
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    t = config["train"]
    torch.manual_seed(t["seed"])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    morphable = MorphableModel.load(ict_path)
    model = build_model(config, morphable).to(device)
    teacher = None
    if teacher_path:
        teacher = load_checkpoint(teacher_path, morphable, device)
        for p in teacher.parameters():
            p.requires_grad_(False)
    shard_file = shard_path or config["data"]["aflw_shard"]
    count = len(AflwShard(shard_file))
    count = min(count, config["data"].get("limit") or count)  # a limit makes smoke runs and tests quick
    train_idx, val_idx = _split(count, config["data"]["val_fraction"], t["seed"])
    train_set = AflwTraining(AflwShard(shard_file, train_idx), config["input_size"], config["crop_scale"], seed=t["seed"])
    val_set = AflwTraining(AflwShard(shard_file, val_idx), config["input_size"], config["crop_scale"], augment=False)
    loader_args = dict(batch_size=t["batch_size"], num_workers=t["workers"], pin_memory=device.type == "cuda",
                       persistent_workers=t["workers"] > 0, worker_init_fn=_worker_init)
    val_loader = torch.utils.data.DataLoader(val_set, shuffle=False, **loader_args)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t["lr"], weight_decay=t["weight_decay"])
    steps_per_epoch = (len(train_set) + t["batch_size"] - 1) // t["batch_size"]
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=t["lr"], total_steps=t["epochs"] * steps_per_epoch,
                                                    pct_start=0.05)
    start, best = 0, float("inf")
    if resume and (out_dir / "last.pt").exists():
        state = torch.load(out_dir / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start, best = state["epoch"] + 1, state["best"]
    w = config["loss"]
    log_path = out_dir / "log.csv"
    if start == 0:
        log_path.write_text("epoch,seconds,lr,train_loss,train_landmarks,val_landmarks_nme\n")
    end = t["epochs"] if stop_after is None else min(t["epochs"], start + stop_after)
    for epoch in range(start, end):
        began = time.time()
        train_set.epoch = epoch
        loader = torch.utils.data.DataLoader(train_set, shuffle=True, drop_last=True,
                                             generator=torch.Generator().manual_seed(t["seed"] + epoch), **loader_args)
        model.train()
        totals = np.zeros(2)
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{t['epochs']}", leave=False)
        for images, points, visible, yaw in bar:
            images, points, visible, yaw = (v.to(device, non_blocking=True) for v in (images, points, visible, yaw))
            images = normalise(photometric(images))
            dense, pose, identity, expression, _, _ = model(images)
            lm = losses.sparse_landmarks(dense, model.aflw21, points, visible)
            loss = (w["landmarks"] * lm + w["yaw"] * losses.yaw(pose[:, 1], yaw, torch.ones_like(yaw))
                    + w["identity_prior"] * losses.identity_prior(identity)
                    + w["expression_prior"] * losses.expression_prior(expression))
            if teacher is not None:
                with torch.no_grad():
                    t_dense, t_pose, t_identity, t_expression, _, _ = teacher(images)
                d = config["distill"]
                loss = loss + (d["dense"] * losses.dense_points(dense, t_dense)
                               + d["identity"] * (identity - t_identity).pow(2).mean()
                               + d["expression"] * (expression - t_expression).abs().mean()
                               + d["pose"] * (pose[:, :3] - t_pose[:, :3]).abs().mean())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at epoch {epoch + 1}: {loss.item()} (landmarks {lm.item()})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            totals += [loss.item(), lm.item()]
            bar.set_postfix(loss=f"{loss.item():.4f}", lm=f"{lm.item():.4f}")
        totals /= max(1, len(loader))
        val = evaluate_sparse(model, val_loader, device)
        with open(log_path, "a") as f:
            f.write(f"{epoch},{time.time() - began:.1f},{scheduler.get_last_lr()[0]:.6f},{totals[0]:.5f},{totals[1]:.5f},{val:.5f}\n")
        print(f"epoch {epoch + 1}: loss {totals[0]:.4f} landmarks {totals[1]:.4f} val NME(21, crop) {val:.4f} "
              f"({time.time() - began:.0f} s)", flush=True)
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "epoch": epoch, "best": min(best, val), "config": config}
        torch.save(state, out_dir / "last.pt")
        if val < best:
            best = val
            torch.save({"model": model.state_dict(), "epoch": epoch, "config": config, "val": val}, out_dir / "best.pt")
    return out_dir / "best.pt"


@torch.no_grad()
def evaluate_sparse(model, loader, device) -> float:
    """Mean distance of the visible AFLW points, in units of the crop side."""
    model.eval()
    total, count = 0.0, 0.0
    for images, points, visible, _ in loader:
        images, points, visible = images.to(device), points.to(device), visible.to(device)
        dense = model(normalise(images.float() / 255.0))[0]
        pred = torch.einsum("pv,nvc->npc", model.aflw21, dense[..., :2])
        dist = torch.linalg.vector_norm(pred - points, dim=-1)
        total += float((dist * visible).sum())
        count += float(visible.sum())
    return total / max(count, 1.0)


def _worker_init(_):
    import cv2

    cv2.setNumThreads(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="edgeface train", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["teacher", "student"])
    parser.add_argument("--teacher", default=None, help="teacher checkpoint to distil from (student stage)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    parser.add_argument("--ict", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    parser.add_argument("--shard", default=None, help="packed AFLW shard (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epoch count")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int, default=None, help="end this call after N epochs (resume later)")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    out = Path(args.out or f"runs/{config['name']}")
    if args.stage == "teacher" and args.teacher:
        parser.error("--teacher is for the student stage")
    best = train(config, out, args.ict, args.shard, args.resume, args.device, teacher_path=args.teacher,
                 stop_after=args.stop_after)
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
