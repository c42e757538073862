"""`edgeface train teacher|student --config FILE [--teacher CKPT]`: train, checkpoint, resume, log.

Runs on a GPU when torch sees one, else on the CPU (use a smaller config there). Data paths come
from the config, flags or EDGEFACE_DATA. Every run writes into its output folder: `config.json`,
`log.csv` (one row per epoch), `last.pt` and `best.pt` (by validation landmark error).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from ..runtime.pack import is_pack
from . import checkpoints, losses, topology
from .data import AflwShard, AflwTraining, photometric
from ..tools.conventions import MEAN, STD, holdout_split
from .facemodel import FaceModel, FlipAveraged, Refined
from .morphable import MorphableModel


def attribute_names(config: dict):
    """The attribute head's names: `"attributes": "celeba"` is CelebA's 40 and the expression ones."""
    if config.get("attributes") == "celeba":
        from .sources import ATTRIBUTES

        return list(ATTRIBUTES)
    return None


def build_model(config: dict, morphable: MorphableModel) -> FaceModel:
    branch = config.get("attribute_branch")
    if branch and branch.get("attributes") == "celeba":
        from .sources import CELEBA_ATTRIBUTES

        branch = {**branch, "attributes": list(CELEBA_ATTRIBUTES)}
    return FaceModel(config["backbone"], topology.load(), morphable, identity_size=config["identity_size"],
                     crop_scale=config["crop_scale"], attribute_head=config.get("attribute_head", False),
                     visibility_head=config.get("visibility_head", False), attribute_names=attribute_names(config),
                     age_head=config.get("age_head", False), attribute_branch=branch)


def normalise(images01: torch.Tensor) -> torch.Tensor:
    """The network's input normalisation (tools.conventions; export writes it into every manifest)."""
    return (images01 - MEAN) / STD


def load_checkpoint(path, morphable: MorphableModel, device) -> FaceModel:
    state = checkpoints.read(path, map_location=device)
    model = build_model(state["config"], morphable).to(device)
    model.load_state_dict(state["model"])
    model.input_size = state["config"]["input_size"]
    return model.eval()


def resized(images: torch.Tensor, size: int) -> torch.Tensor:
    """A float batch at another square size (area-like when shrinking, as a crop taken at that size)."""
    if images.shape[-1] == size:
        return images
    return torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                           align_corners=False)


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


def init_from(model: FaceModel, path, device) -> tuple[int, int]:
    """Start from another run's weights: every tensor whose name and shape match, and the leading rows
    of the head (pose, identity and expression come first in it, so a checkpoint without the
    attribute and visibility outputs still gives the rest). Returns (tensors taken, tensors in model)."""
    source = checkpoints.read(path, map_location=device)["model"]
    target = model.state_dict()
    taken = 0
    for name, value in source.items():
        if name not in target:
            continue
        if target[name].shape == value.shape:
            target[name] = value
        elif name.startswith("head.") and target[name].shape[1:] == value.shape[1:] and target[name].shape[0] > value.shape[0]:
            target[name][: value.shape[0]] = value
        else:
            continue
        taken += 1
    model.load_state_dict(target)
    return taken, len(target)


def train(config: dict, out_dir: Path, ict_path=None, shard_path=None, resume: bool = False, device=None,
          teacher_path=None, stop_after: int | None = None, init_path=None) -> Path:
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
    from tqdm import tqdm

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "config.json").write_text(json.dumps(config, indent=1))
    t = config["train"]
    torch.manual_seed(t["seed"])
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.backends.cudnn.benchmark = True
    morphable = MorphableModel.load(ict_path)
    model = build_model(config, morphable).to(device)
    if init_path and not (resume and (out_dir / "last.pt").exists()):
        if is_pack(init_path):
            from .recover import from_pack

            taken = from_pack(init_path, model, morphable)
            print(f"started from the pack {init_path}: {taken['head_rows']} head rows, attributes kept: "
                  f"{', '.join(taken['attributes_kept']) or 'none'}", flush=True)
        else:
            taken, total = init_from(model, init_path, device)
            print(f"started from {init_path}: {taken} of {total} tensors", flush=True)
    teacher = None
    if teacher_path:
        teacher = load_network(teacher_path, morphable, device)
        for p in teacher.parameters():
            p.requires_grad_(False)
        distill, topo = config.get("distill", {}), topology.load()
        if distill.get("flip_average"):
            teacher = FlipAveraged(teacher, topo["mirror"]).to(device).eval()
        if distill.get("refine"):
            teacher = Refined(teacher, topo["landmarks68"], config["crop_scale"],
                              normalise(torch.zeros(1, 3, 1, 1)).view(-1)).to(device).eval()
    positive_rate, val68_loader = None, None
    if config.get("sources"):
        train_set, batches, val_loader, positive_rate, val68_loader = _mixed_data(config, ict_path)
    else:
        train_set, batches, val_loader = _data(config, shard_path, ict_path, device)
    synthetic_val = _synthetic_validation(config, ict_path) if config.get("synthetic") else None
    loader_args = dict(num_workers=t["workers"], pin_memory=device.type == "cuda", worker_init_fn=_worker_init,
                       multiprocessing_context=_worker_context(config))
    frozen = tuple(t.get("frozen", ()))
    for name, p in model.named_parameters():
        if frozen and name.startswith(frozen):
            p.requires_grad_(False)
    learning = [p for p in model.parameters() if p.requires_grad]
    if not learning:
        raise ValueError(f"train.frozen {list(frozen)} leaves nothing to learn")
    optimizer = torch.optim.AdamW(learning, lr=t["lr"], weight_decay=t["weight_decay"])
    budget = 60.0 * t["minutes"] if t.get("minutes") else None
    # a wall-clock schedule sets the rate itself (one_cycle); a step schedule uses OneCycleLR
    scheduler = None if budget else torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=t["lr"], total_steps=t["epochs"] * len(batches), pct_start=0.05)
    start, best, spent = 0, float("inf"), 0.0
    if resume and (out_dir / "last.pt").exists():
        state = checkpoints.read(out_dir / "last.pt", map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        start, best, spent = state["epoch"] + 1, state["best"], state.get("seconds", 0.0)
    weights = HybridLoss(config, model, device, positive_rate)
    log_path = out_dir / "log.csv"
    if start == 0:
        log_path.write_text("epoch,seconds,steps,lr,train_loss,train_landmarks,val_landmarks_nme,val_synthetic_dense_nme,"
                            "val_68_nme\n")
    end = t["epochs"] if stop_after is None else min(t["epochs"], start + stop_after)
    teacher_size = teacher_core(teacher).input_size if teacher is not None else None
    clock = time.time() - spent
    for epoch in range(start, end):
        if budget is not None and time.time() - clock >= budget:
            break
        began = time.time()
        batches.epoch = epoch
        for part in train_set.datasets:
            part.epoch = epoch
        loader = torch.utils.data.DataLoader(train_set, batch_sampler=batches, **loader_args)
        model.train()
        if t.get("freeze_batchnorm"):
            freeze_batchnorm(model)
        totals, steps = np.zeros(2), 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{t['epochs']}", leave=False)
        for batch in bar:
            if budget is not None:
                progress = (time.time() - clock) / budget
                if progress >= 1.0:
                    break
                for group in optimizer.param_groups:
                    group["lr"] = one_cycle(progress, t["lr"])
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            crops = normalise(photometric(batch["image"]))
            outputs = model(resized(crops, config["input_size"]))
            teacher_outputs = None
            if teacher is not None:
                with torch.no_grad():
                    teacher_outputs = teacher(resized(crops, teacher_size))
            loss, terms = weights(outputs, batch, teacher_outputs)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at epoch {epoch + 1}: {loss.item()} ({terms})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            totals += [loss.item(), terms.get("landmarks", 0.0)]
            steps += 1
            shown = ("landmarks", "landmarks68", "teacher68", "dense", "attributes", "age", "teacher_gender",
                     "relational", "sir_pull", "sir_push")
            bar.set_postfix(loss=f"{loss.item():.4f}", **{k: f"{terms[k]:.3f}" for k in shown if k in terms})
        totals /= max(1, steps)
        val = evaluate_sparse(model, val_loader, device) if val_loader is not None else float("nan")
        val_syn = evaluate_synthetic_dense(model, synthetic_val, device) if synthetic_val is not None else float("nan")
        val68 = evaluate_68(model, val68_loader, device) if val68_loader is not None else float("nan")
        with open(log_path, "a") as f:
            f.write(f"{epoch},{time.time() - began:.1f},{steps},{optimizer.param_groups[0]['lr']:.6f},{totals[0]:.5f},"
                    f"{totals[1]:.5f},{val:.5f},{val_syn:.5f},{val68:.5f}\n")
        print(f"epoch {epoch + 1}: loss {totals[0]:.4f} landmarks {totals[1]:.4f} val NME(21, crop) {val:.4f} "
              f"synthetic dense NME(crop) {val_syn:.4f} val NME(68, crop) {val68:.4f} ({time.time() - began:.0f} s)",
              flush=True)
        # with 68-point labels, those decide (the 21 AFLW points follow another annotation scheme)
        score = val68 if val68_loader is not None else val if val_loader is not None else val_syn
        state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler and scheduler.state_dict(),
                 "epoch": epoch, "best": min(best, score), "config": config, "seconds": time.time() - clock}
        torch.save(state, out_dir / "last.pt")
        if score < best:
            best = score
            torch.save({"model": model.state_dict(), "epoch": epoch, "config": config, "val": score}, out_dir / "best.pt")
    return out_dir / "best.pt"


def load_network(path, morphable: MorphableModel, device) -> FaceModel:
    """A checkpoint, or a shipped pack's folder (its fp32 ONNX network, `recover.pack_model`)."""
    if is_pack(path):
        from .recover import pack_model

        return pack_model(path, morphable).to(device).eval()
    return load_checkpoint(path, morphable, device)


def _mixed_data(config: dict, ict_path):
    """In-batch hybrid-task data from `sources` (aflw, celeba, utkface, synthetic; each with its
    share of the batch): the dataset, its MixedBatches, the AFLW validation loader and the attribute
    head's positive rates (CelebA's training rates; the engine's for the expression-only names)."""
    from torch.utils.data import ConcatDataset

    from ..tools.datasets import data_root
    from .attributes import load as load_attributes
    from .data import MixedBatches, SyntheticExamples
    from .sources import ATTRIBUTES, Aflw68Examples, CelebaExamples, UtkfaceExamples
    from .synthetic import SyntheticConfig, SyntheticFaces

    t, src = config["train"], config["sources"]
    root = data_root()
    if root is None:
        raise FileNotFoundError("the real training sets are read from $EDGEFACE_DATA: set it (../shared/data)")
    size = config.get("render_size", config["input_size"])
    parts, shares, groups, group, val_loader, val68_loader = [], [], [], [], None, None
    if "aflw" in src:
        a = src["aflw"]
        count = len(AflwShard(a["shard"]))
        count = min(count, a.get("limit") or count)
        train_idx, val_idx = holdout_split(count, a["val_fraction"], t["seed"])
        parts.append(Aflw68Examples(AflwShard(a["shard"], train_idx), root / a["labels68"], size,
                                    config["crop_scale"], seed=t["seed"], teachers=a.get("teachers")))
        shares.append(a["per_batch"]), groups.append(None), group.append(1)
        val_set = AflwTraining(AflwShard(a["shard"], val_idx), config["input_size"], config["crop_scale"], augment=False)
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=t["batch_size"], num_workers=t["workers"],
                                                 worker_init_fn=_worker_init, multiprocessing_context=_worker_context(config))
        val68 = Aflw68Examples(AflwShard(a["shard"], val_idx), root / a["labels68"], config["input_size"],
                               config["crop_scale"], augment=False)
        val68_loader = torch.utils.data.DataLoader(val68, batch_size=t["batch_size"], num_workers=t["workers"],
                                                   worker_init_fn=_worker_init, multiprocessing_context=_worker_context(config))
    if "celeba" in src:
        c = src["celeba"]
        celeba = CelebaExamples(root / c["root"], c["frames"], size, seed=t["seed"], teachers=c.get("teachers"))
        parts.append(celeba)
        shares.append(c["per_batch"]), groups.append(celeba.groups), group.append(c.get("group", 2))
    if "utkface" in src:
        u = src["utkface"]
        parts.append(UtkfaceExamples(root / u["root"], u["frames"], "train", size, seed=t["seed"],
                                     teachers=u.get("teachers")))
        shares.append(u["per_batch"]), groups.append(None), group.append(1)
    if "synthetic" in src:
        y = src["synthetic"]
        g = y.get("renders_per_identity", 4)
        engine = SyntheticFaces(MorphableModel.load(ict_path),
                                SyntheticConfig(size=size, crop_scale=config["crop_scale"], renders_per_identity=g),
                                seed=y.get("seed", 0))
        parts.append(SyntheticExamples(engine, y["count"], ATTRIBUTES))
        people = np.arange(y["count"] // g)[:, None] * g + np.arange(g)
        shares.append(y["per_batch"]), groups.append(list(people)), group.append(g)
    if not parts:
        raise ValueError("the config's sources are empty")
    batches = MixedBatches([len(p) for p in parts], shares, t["steps_per_epoch"], groups, group, seed=t["seed"])
    rates = load_attributes()
    celeba_rate = None
    if "celeba" in src:
        labels = np.load(root / src["celeba"]["root"] / "labels.npz")
        celeba_rate = labels["attributes"][labels["split"] == "train"].mean(0)
    positive_rate = [float(celeba_rate[k]) if celeba_rate is not None and k < 40
                     else rates.get(n, {}).get("positive_rate", 0.5) for k, n in enumerate(ATTRIBUTES)]
    return ConcatDataset(parts), batches, val_loader, positive_rate, val68_loader


def teacher_core(teacher: torch.nn.Module) -> torch.nn.Module:
    """The FaceModel inside the teacher's wrappers (flip averaging, refining)."""
    while not isinstance(teacher, FaceModel):
        teacher = teacher.model
    return teacher


def _data(config: dict, shard_path, ict_path, device):
    """The hybrid training set (AFLW and/or synthetic), its batch sampler and the AFLW validation loader."""
    from torch.utils.data import ConcatDataset

    from .data import AflwExamples, HybridBatches, SyntheticExamples
    from .synthetic import SyntheticConfig, SyntheticFaces

    t, d, syn = config["train"], config["data"], config.get("synthetic") or {}
    size = config.get("render_size", config["input_size"])
    parts, val_loader, n_real = [], None, 0
    shard_file = shard_path or d.get("aflw_shard")
    if shard_file:
        count = len(AflwShard(shard_file))
        count = min(count, d.get("limit") or count)  # a limit makes smoke runs and tests quick
        train_idx, val_idx = holdout_split(count, d["val_fraction"], t["seed"])
        parts.append(AflwExamples(AflwTraining(AflwShard(shard_file, train_idx), size, config["crop_scale"],
                                               seed=t["seed"])))
        n_real = len(parts[0])
        val_set = AflwTraining(AflwShard(shard_file, val_idx), config["input_size"], config["crop_scale"], augment=False)
        val_loader = torch.utils.data.DataLoader(val_set, batch_size=t["batch_size"], num_workers=t["workers"],
                                                 worker_init_fn=_worker_init, multiprocessing_context=_worker_context(config))
    n_synthetic = 0
    if syn:
        engine = SyntheticFaces(MorphableModel.load(ict_path),
                                SyntheticConfig(size=size, crop_scale=config["crop_scale"],
                                                renders_per_identity=syn.get("renders_per_identity", 4)),
                                seed=syn.get("seed", 0))
        parts.append(SyntheticExamples(engine, syn["count"]))
        n_synthetic = syn["count"]
    if not parts:
        raise ValueError("the config trains on nothing: give data.aflw_shard and/or a synthetic section")
    batches = HybridBatches(n_real, n_synthetic, t["batch_size"], syn.get("fraction", 1.0 if not n_real else 0.5),
                            syn.get("renders_per_identity", 4), seed=t["seed"], steps=t.get("steps_per_epoch"))
    return ConcatDataset(parts), batches, val_loader


def _synthetic_validation(config: dict, ict_path) -> list:
    from .synthetic import held_out

    return held_out(ict_path, config["input_size"], config["crop_scale"],
                    count=config["synthetic"].get("validation", 256))[0]


@torch.no_grad()
def evaluate_synthetic_dense(model, samples: list, device) -> float:
    """Mean distance of the 520 points (2D) to held-out synthetic labels, in units of the crop side."""
    model.eval()
    total = 0.0
    for k in range(0, len(samples), 64):
        chunk = samples[k:k + 64]
        images = torch.from_numpy(np.stack([s["image"].transpose(2, 0, 1) for s in chunk])).to(device)
        dense = model(normalise(images.float() / 255.0))[0][..., :2].cpu().numpy()
        truth = np.stack([s["points"][:, :2] / s["image"].shape[0] for s in chunk])
        total += float(np.linalg.norm(dense - truth, axis=-1).mean(-1).sum())
    return total / max(len(samples), 1)


class HybridLoss:
    """All loss terms with the config's weights; each sample contributes only where it has labels."""

    def __init__(self, config: dict, model: FaceModel, device, positive_rate=None):
        from .attributes import load as load_attributes

        self.w, self.d = config["loss"], config.get("distill", {})
        topo = topology.load()
        point_weights = np.ones(len(topo["vertices"]), np.float32)
        for region in topo["regions"].values():
            point_weights[region] = self.w.get("region_weight", 2.0)
        self.point_weights = torch.from_numpy(point_weights).to(device)
        self.landmarks68 = torch.as_tensor(topo["landmarks68"], dtype=torch.long, device=device)
        if positive_rate is None:
            rates = load_attributes()
            positive_rate = [rates[n]["positive_rate"] for n in rates]
        self.positive_rate = torch.as_tensor(np.asarray(positive_rate, np.float32), device=device)
        self.model = model
        names = list(model.attribute_names or []) if model.attribute_head else []
        self.male = names.index("Male") if "Male" in names else None

    def __call__(self, outputs, batch, teacher_outputs=None):
        dense, pose, identity, expression, attributes, visibility = outputs
        w, k = self.w, self.model.identity_size
        years = None
        if self.model.age_head:
            attributes, years = attributes[:, :-1], attributes[:, -1]
        has_dense = batch["has_dense"]
        terms = {
            "landmarks": losses.sparse_landmarks(dense, self.model.aflw21, batch["points21"],
                                                 batch["visible21"] * batch["has_points21"][:, None]),
            "landmarks68": losses.landmarks68(dense, self.landmarks68, batch["points68"], batch["weight68"]),
            "yaw": losses.yaw(pose[:, 1], batch["yaw"], batch["has_yaw"] * (1 - batch["has_pose"])),
            "identity_prior": losses.identity_prior(identity),
            "expression_prior": losses.expression_prior(expression),
            "dense": losses.dense_supervised(dense, batch["dense"], self.point_weights, has_dense),
            "pose": losses.pose_angles(pose[:, :3], batch["pose"], batch["has_pose"]),
            "identity": losses.coefficients(identity, batch["identity"][:, :k], batch["has_identity"]),
            "expression": losses.coefficients(expression, batch["expression"], batch["has_expression"], l1=True),
            "visibility": losses.visibility(visibility, batch["visible"], has_dense),
        }
        if self.model.attribute_head:
            # synthetic attribute labels are an auxiliary signal beside real ones (`attributes_synthetic`)
            source = torch.where(has_dense > 0, w.get("attributes_synthetic", 1.0), 1.0)
            terms["attributes"] = losses.attributes(attributes, batch["attributes"],
                                                    batch["attribute_mask"] * source[:, None], self.positive_rate,
                                                    w.get("attribute_balance", 1.0))
        if years is not None:
            terms["age"] = losses.age(years, batch["age"], batch["has_age"])
            terms["young"] = losses.young(years, batch["young"], batch["has_young"])
        terms["sir_pull"], terms["sir_push"] = losses.sir(identity, batch["identity_id"], w.get("sir_margin", 3.0))
        # cached teachers' answers (train.teachers), on the real photos that have them
        if "teacher68" in batch:
            all68 = batch["has_teacher68"][:, None].expand(-1, 68)
            terms["teacher68"] = losses.landmarks68(dense, self.landmarks68, batch["teacher68"], all68)
            terms["teacher_pose"] = losses.pose_angles(pose[:, :3], batch["teacher_pose"], batch["has_teacher_pose"])
            if w.get("teacher_pose_rotation"):
                limit = w.get("teacher_pose_max_yaw")
                terms["teacher_pose_rotation"] = losses.pose_rotation(
                    pose[:, :3], batch["teacher_pose"], batch["has_teacher_pose"],
                    None if limit is None else float(np.radians(limit)))
            terms["relational"] = losses.relational(identity, batch["descriptor"], batch["has_descriptor"])
            if years is not None:
                terms["teacher_age"] = losses.age(years, batch["teacher_age"], batch["has_teacher_age"])
            if self.male is not None:
                terms["teacher_gender"] = losses.soft_binary(attributes[:, self.male], 1.0 - batch["teacher_female"],
                                                             batch["has_teacher_female"])
        if teacher_outputs is not None:
            t_dense, t_pose, t_identity, t_expression, t_attributes, _ = teacher_outputs
            d = self.d
            # where the targets are pseudo-labels from a network no better than the learner on 3D-labelled
            # faces, they count only on the samples that lack those labels (the real crops)
            taught = torch.ones_like(pose[:, 0])
            if d.get("only_without_3d_labels"):
                taught = 1.0 - batch["has_dense"].float()
            per_sample = {
                "distill_dense": torch.linalg.vector_norm(dense - t_dense, dim=-1).mean(-1),
                "distill_identity": (identity - t_identity).pow(2).mean(-1),
                "distill_expression": (expression - t_expression).abs().mean(-1),
                "distill_pose": (pose[:, :3] - t_pose[:, :3]).abs().mean(-1),
            }
            if self.model.attribute_head and t_attributes.shape == attributes.shape:
                temperature = d.get("temperature", 2.0)
                per_sample["distill_attributes"] = torch.nn.functional.binary_cross_entropy_with_logits(
                    attributes / temperature, torch.sigmoid(t_attributes / temperature), reduction="none").mean(-1)
            terms.update({name: losses.masked_mean(value, taught) for name, value in per_sample.items()})
        weight = {**{name: w.get(name, 0.0) for name in terms}, **{name: d.get(name[8:], 0.0) for name in terms
                                                                  if name.startswith("distill_")}}
        loss = sum(weight[name] * value for name, value in terms.items())
        return loss, {name: float(value.detach()) for name, value in terms.items() if weight[name]}


@torch.no_grad()
def evaluate_68(model, loader, device) -> float:
    """Mean distance of the labelled MERL-RAV points on held-out AFLW crops to the network's 68
    landmark vertices, in units of the crop side (the definition alignment refines later)."""
    model.eval()
    index = torch.as_tensor(topology.load()["landmarks68"], dtype=torch.long, device=device)
    total, count = 0.0, 0.0
    for batch in loader:
        images, points, weight = (batch[k].to(device) for k in ("image", "points68", "weight68"))
        dense = model(normalise(images.float() / 255.0))[0]
        dist = torch.linalg.vector_norm(dense[:, index, :2] - points, dim=-1)
        keep = (weight > 0).float()
        total += float((dist * keep).sum())
        count += float(keep.sum())
    return total / max(count, 1.0)


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


def _worker_context(config: dict):
    """Spawned DataLoader workers when the synthetic engine runs in this process: workers forked
    from it hung here (2 workers, CPU), most likely on thread-pool locks held at the fork."""
    return "spawn" if config["train"]["workers"] > 0 and config.get("synthetic") else None


def _worker_init(_):
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)  # one process per core


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="edgeface train", description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["teacher", "student"])
    parser.add_argument("--teacher", default=None,
                        help="checkpoint to distil from; in the teacher stage, a network whose answers are "
                             "pseudo-labels (with distill.only_without_3d_labels: on the crops without 3D labels)")
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", default=None, help="run folder (default: runs/<config name>)")
    parser.add_argument("--ict", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    parser.add_argument("--shard", default=None, help="packed AFLW shard (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None, help="override the config's epoch count")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--stop-after", type=int, default=None, help="end this call after N epochs (resume later)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    args = parser.parse_args(argv)
    config = json.loads(Path(args.config).read_text())
    if args.epochs:
        config["train"]["epochs"] = args.epochs
    out = Path(args.out or f"runs/{config['name']}")
    best = train(config, out, args.ict, args.shard, args.resume, args.device, teacher_path=args.teacher,
                 stop_after=args.stop_after, init_path=args.init)
    print(f"best checkpoint: {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
