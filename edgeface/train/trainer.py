"""One training run (`edgeface train --config FILE [--teacher CKPT]`): train, checkpoint, resume, log.

Runs on a GPU when torch sees one, else on the CPU (use a smaller config there). Data paths come
from the config, flags or EDGEFACE_DATA. Every run writes into its output folder: `config.json`,
`log.csv` (one row per epoch), `last.pt` and `best.pt` (by validation landmark error).

The loop is here; the configuration is `config`, the network `build`, the data `wiring`, the loss
`objective.HybridLoss` and the validation figures `validation`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, topology
from .build import build_model, init_from, load_network, normalise, resized
from .config import ConfigError, TrainingConfig
from .data import photometric
from .facemodel import FaceModel, FlipAveraged, Refined
from .morphable import MorphableModel
from .objective import HybridLoss
from .validation import evaluate_68, evaluate_sparse, evaluate_synthetic_dense
from .wiring import TrainingData, training_data, worker_context, worker_init

LOG_HEADER = "epoch,seconds,steps,lr,train_loss,train_landmarks,val_landmarks_nme,val_synthetic_dense_nme,val_68_nme\n"
#: the loss terms the progress bar shows
SHOWN = (
    "landmarks",
    "landmarks68",
    "teacher68",
    "dense",
    "attributes",
    "age",
    "teacher_gender",
    "relational",
    "sir_pull",
    "sir_push",
)


def freeze_batchnorm(model: torch.nn.Module) -> None:
    """Put every batch-norm layer of a training model in eval mode: it normalises with its running
    statistics and stops updating them (its scale and shift still learn). For fine-tuning at a
    smaller batch than the network was trained at: re-estimated from batches of 32, the ResNet-34
    teacher's statistics alone took its AFLW validation error from 0.0391 to 0.0489 of the crop."""
    for layer in model.modules():
        if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
            layer.eval()


def one_cycle(progress: float, max_lr: float, warmup: float = 0.05) -> float:
    """OneCycleLR's cosine shape as a function of the fraction of the schedule done."""
    start, end = max_lr / 25.0, max_lr / 25.0 / 1e4
    if progress < warmup:
        a, b, x = start, max_lr, progress / warmup
    else:
        a, b, x = max_lr, end, min(1.0, (progress - warmup) / (1.0 - warmup))
    return float(b + (a - b) * 0.5 * (1.0 + np.cos(np.pi * x)))


@dataclass
class Run:
    """What one training run works with, built in `_prepare`."""

    config: TrainingConfig
    out_dir: Path
    device: torch.device
    model: FaceModel
    teacher: torch.nn.Module | None
    data: TrainingData
    optimizer: torch.optim.Optimizer
    scheduler: object | None  # OneCycleLR, or None with a wall-clock schedule (`one_cycle`)
    loss: HybridLoss
    budget: float | None  # seconds, with train.minutes


def train(
    config: TrainingConfig | dict,
    out_dir: Path,
    ict_path=None,
    shard_path=None,
    resume: bool = False,
    device=None,
    teacher_path=None,
    stop_after: int | None = None,
    init_path=None,
) -> Path:
    """Train (or resume) a run; `stop_after` ends this call after that many epochs, so that a long
    schedule can be split across several time-limited jobs and continued with `resume`.

    `train.minutes` in the config schedules by wall clock instead of steps: the learning rate
    follows the one-cycle shape over that many minutes and training ends when they are spent
    (for a lent machine with a hard time limit; log.csv records the steps each epoch took).
    `render_size` makes the training crops at another size than the network's input (a student
    distilled from a teacher of higher resolution: the teacher sees the crops as made, the student
    sees them shrunk). `train.freeze_batchnorm` keeps the batch-norm statistics (`freeze_batchnorm`).
    `train.frozen` lists parameter-name prefixes that do not learn: a continuation that must keep
    what its branches read (the backbone below their tap) and the branches themselves."""
    config = TrainingConfig.coerce(config)
    run = _prepare(config, Path(out_dir), ict_path, shard_path, resume, device, teacher_path, init_path)
    start, best, spent = 0, float("inf"), 0.0
    if resume and (run.out_dir / "last.pt").exists():
        start, best, spent = _resume(run)
    log_path = run.out_dir / "log.csv"
    if start == 0:
        log_path.write_text(LOG_HEADER)
    t = config.train
    end = t.epochs if stop_after is None else min(t.epochs, start + stop_after)
    clock = time.time() - spent
    for epoch in range(start, end):
        if run.budget is not None and time.time() - clock >= run.budget:
            break
        began = time.time()
        steps, totals = _epoch(run, epoch, clock)
        score = _validate(run, epoch, began, steps, totals, log_path)
        state = {
            "model": run.model.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler and run.scheduler.state_dict(),
            "epoch": epoch,
            "best": min(best, score),
            "config": config.to_dict(),
            "seconds": time.time() - clock,
        }
        torch.save(state, run.out_dir / "last.pt")
        if score < best:
            best = score
            torch.save(
                {"model": run.model.state_dict(), "epoch": epoch, "config": config.to_dict(), "val": score},
                run.out_dir / "best.pt",
            )
    return run.out_dir / "best.pt"


def _prepare(
    config: TrainingConfig, out_dir: Path, ict_path, shard_path, resume, device, teacher_path, init_path
) -> Run:
    """The run's folder, network (seeded, then started from `init_path`), teacher, data, optimiser."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1))
    t = config.train
    torch.manual_seed(t.seed)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cudnn.benchmark = True
    morphable = MorphableModel.load(ict_path)
    model = build_model(config, morphable).to(device)
    if init_path and not (resume and (out_dir / "last.pt").exists()):
        _start_from(model, morphable, init_path, device)
    teacher = _teacher(config, teacher_path, morphable, device) if teacher_path else None
    data = training_data(config, ict_path, shard_path)
    frozen = t.frozen
    for name, p in model.named_parameters():
        if frozen and name.startswith(frozen):
            p.requires_grad_(False)
    learning = [p for p in model.parameters() if p.requires_grad]
    if not learning:
        raise ConfigError(f"train.frozen {list(frozen)} leaves nothing to learn")
    optimizer = torch.optim.AdamW(learning, lr=t.lr, weight_decay=t.weight_decay)
    budget = 60.0 * t.minutes if t.minutes else None
    # a wall-clock schedule sets the rate itself (one_cycle); a step schedule uses OneCycleLR
    scheduler = (
        None
        if budget
        else torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=t.lr, total_steps=t.epochs * len(data.batches), pct_start=0.05
        )
    )
    loss = HybridLoss(config, model, device, data.positive_rate)
    return Run(config, out_dir, device, model, teacher, data, optimizer, scheduler, loss, budget)


def _start_from(model: FaceModel, morphable: MorphableModel, init_path, device) -> None:
    from ..runtime.pack import is_pack

    if is_pack(init_path):
        from .recover import from_pack

        taken = from_pack(init_path, model, morphable)
        print(
            f"started from the pack {init_path}: {taken['head_rows']} head rows, attributes kept: "
            f"{', '.join(taken['attributes_kept']) or 'none'}",
            flush=True,
        )
    else:
        taken, total = init_from(model, init_path, device)
        print(f"started from {init_path}: {taken} of {total} tensors", flush=True)


def _teacher(config: TrainingConfig, path, morphable: MorphableModel, device) -> torch.nn.Module:
    """The frozen teacher network, flip-averaged and refined as `distill` asks."""
    teacher = load_network(path, morphable, device)
    for p in teacher.parameters():
        p.requires_grad_(False)
    topo = topology.load()
    if config.distill is not None and config.distill.flip_average:
        teacher = FlipAveraged(teacher, topo["mirror"]).to(device).eval()
    if config.distill is not None and config.distill.refine:
        teacher = (
            Refined(teacher, topo["landmarks68"], config.crop_scale, normalise(torch.zeros(1, 3, 1, 1)).view(-1))
            .to(device)
            .eval()
        )
    return teacher


def _resume(run: Run) -> tuple[int, float, float]:
    state = checkpoints.read(run.out_dir / "last.pt", map_location=run.device)
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None:
        run.scheduler.load_state_dict(state["scheduler"])
    return state["epoch"] + 1, state["best"], state.get("seconds", 0.0)


def _epoch(run: Run, epoch: int, clock: float) -> tuple[int, np.ndarray]:
    """One pass over the epoch's batches: (steps, mean loss and mean landmark term)."""
    from tqdm import tqdm

    config, model, data = run.config, run.model, run.data
    teacher_size = teacher_core(run.teacher).input_size if run.teacher is not None else None
    data.batches.epoch = epoch
    for part in data.dataset.datasets:
        part.epoch = epoch
    loader = torch.utils.data.DataLoader(
        data.dataset,
        batch_sampler=data.batches,
        num_workers=config.train.workers,
        pin_memory=run.device.type == "cuda",
        worker_init_fn=worker_init,
        multiprocessing_context=worker_context(config),
    )
    model.train()
    if config.train.freeze_batchnorm:
        freeze_batchnorm(model)
    totals, steps = np.zeros(2), 0
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.train.epochs}", leave=False)
    for batch in bar:
        if run.budget is not None:
            progress = (time.time() - clock) / run.budget
            if progress >= 1.0:
                break
            for group in run.optimizer.param_groups:
                group["lr"] = one_cycle(progress, config.train.lr)
        batch = {k: v.to(run.device, non_blocking=True) for k, v in batch.items()}
        crops = normalise(photometric(batch["image"]))
        outputs = model(resized(crops, config.input_size))
        teacher_outputs = None
        if run.teacher is not None:
            with torch.no_grad():
                teacher_outputs = run.teacher(resized(crops, teacher_size))
        loss, terms = run.loss(outputs, batch, teacher_outputs)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at epoch {epoch + 1}: {loss.item()} ({terms})")
        run.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.optimizer.step()
        if run.scheduler is not None:
            run.scheduler.step()
        totals += [loss.item(), terms.get("landmarks", 0.0)]
        steps += 1
        bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{terms[k]:.3f}" for k in SHOWN if k in terms})
    return steps, totals / max(1, steps)


def _validate(run: Run, epoch: int, began: float, steps: int, totals: np.ndarray, log_path: Path) -> float:
    """The epoch's validation figures, logged; returns the one that picks best.pt."""
    data, model, device = run.data, run.model, run.device
    val = evaluate_sparse(model, data.val_loader, device) if data.val_loader is not None else float("nan")
    val_syn = (
        evaluate_synthetic_dense(model, data.synthetic_val, device) if data.synthetic_val is not None else float("nan")
    )
    val68 = evaluate_68(model, data.val68_loader, device) if data.val68_loader is not None else float("nan")
    with open(log_path, "a") as f:
        f.write(
            f"{epoch},{time.time() - began:.1f},{steps},{run.optimizer.param_groups[0]['lr']:.6f},{totals[0]:.5f},"
            f"{totals[1]:.5f},{val:.5f},{val_syn:.5f},{val68:.5f}\n"
        )
    print(
        f"epoch {epoch + 1}: loss {totals[0]:.4f} landmarks {totals[1]:.4f} val NME(21, crop) {val:.4f} "
        f"synthetic dense NME(crop) {val_syn:.4f} val NME(68, crop) {val68:.4f} ({time.time() - began:.0f} s)",
        flush=True,
    )
    # with 68-point labels, those decide (the 21 AFLW points follow another annotation scheme)
    return val68 if data.val68_loader is not None else val if data.val_loader is not None else val_syn


def teacher_core(teacher: torch.nn.Module) -> torch.nn.Module:
    """The FaceModel inside the teacher's wrappers (flip averaging, refining)."""
    while not isinstance(teacher, FaceModel):
        teacher = teacher.model
    return teacher
