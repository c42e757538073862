"""The data wiring of a training run: from a typed configuration to the training set, its batch
sampler and the validation sets, through one builder (`training_data`).

A configuration names its data one of two ways. `sources` (every shipped recipe since 0.4) mixes AFLW
with MERL-RAV's 68 points, CelebA, UTKFace and synthetic faces, each with a fixed share of every
batch (in-batch hybrid-task training, `MixedBatches`). `data` with `synthetic` is the 0.3 trainer's:
AFLW's 21 points and synthetic faces drawn by a fraction (`HybridBatches`), which the small tests and
the ResNet teacher's recipe use."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..tools.conventions import holdout_split
from .config import ConfigError, TrainingConfig, need
from .data import AflwShard, AflwTraining
from .morphable import MorphableModel


@dataclass
class TrainingData:
    dataset: torch.utils.data.ConcatDataset
    batches: object  # MixedBatches or HybridBatches: a batch sampler with an `epoch`
    val_loader: torch.utils.data.DataLoader | None  # AFLW's 21 points on held-out crops
    val68_loader: torch.utils.data.DataLoader | None  # MERL-RAV's 68 points on the same crops
    synthetic_val: list | None  # held-out synthetic faces
    positive_rate: list[float] | None  # the attribute head's positive rates (None: the engine's)


def training_data(config: TrainingConfig, ict_path, shard_path=None) -> TrainingData:
    if config.sources is not None:
        data = _from_sources(config, ict_path)
    else:
        data = _from_aflw21(config, ict_path, shard_path)
    if config.synthetic is not None:
        from .synthetic import held_out

        data.synthetic_val = held_out(
            ict_path, config.input_size, config.crop_scale, count=config.synthetic.validation
        )[0]
    return data


def worker_context(config: TrainingConfig):
    """Spawned DataLoader workers when the synthetic engine runs in this process: workers forked
    from it hung here (2 workers, CPU), most likely on thread-pool locks held at the fork."""
    return "spawn" if config.train.workers > 0 and config.synthetic is not None else None


def worker_init(_):
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    threadpool_limits(1)  # one process per core


def _loader(config: TrainingConfig, dataset) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=config.train.batch_size,
        num_workers=config.train.workers,
        worker_init_fn=worker_init,
        multiprocessing_context=worker_context(config),
    )


def _share(part, name: str) -> int:
    return need(part.per_batch, f"sources.{name}.per_batch", f"its share of every batch, to train on {name}")


def _from_sources(config: TrainingConfig, ict_path) -> TrainingData:
    """In-batch hybrid-task data from `sources`, and the attribute head's positive rates (CelebA's
    training rates; the engine's for the expression-only names)."""
    from torch.utils.data import ConcatDataset

    from ..tools.datasets import data_root
    from .attributes import load as load_attributes
    from .data import MixedBatches, SyntheticExamples
    from .sources import ATTRIBUTES, Aflw68Examples, CelebaExamples, UtkfaceExamples
    from .synthetic import SyntheticConfig, SyntheticFaces

    t, src = config.train, config.sources
    root = data_root()
    if root is None:
        raise FileNotFoundError("the real training sets are read from $EDGEFACE_DATA: set it (../shared/data)")
    size = config.render_size or config.input_size
    parts, shares, groups, group, val_loader, val68_loader = [], [], [], [], None, None
    if src.aflw is not None:
        a = src.aflw
        (
            need(a.shard, "sources.aflw.shard", "the packed AFLW crops"),
            need(a.labels68, "sources.aflw.labels68", "MERL-RAV's points"),
        )
        count = len(AflwShard(a.shard))
        count = min(count, a.limit or count)
        train_idx, val_idx = holdout_split(count, a.val_fraction, t.seed)
        parts.append(
            Aflw68Examples(
                AflwShard(a.shard, train_idx),
                root / a.labels68,
                size,
                config.crop_scale,
                seed=t.seed,
                teachers=a.teachers,
            )
        )
        shares.append(_share(a, "aflw")), groups.append(None), group.append(1)
        val_loader = _loader(
            config, AflwTraining(AflwShard(a.shard, val_idx), config.input_size, config.crop_scale, augment=False)
        )
        val68_loader = _loader(
            config,
            Aflw68Examples(
                AflwShard(a.shard, val_idx), root / a.labels68, config.input_size, config.crop_scale, augment=False
            ),
        )
    if src.celeba is not None:
        c = src.celeba
        (
            need(c.root, "sources.celeba.root", "CelebA's folder"),
            need(c.frames, "sources.celeba.frames", "the crops' frames"),
        )
        celeba = CelebaExamples(root / c.root, c.frames, size, seed=t.seed, teachers=c.teachers)
        parts.append(celeba)
        shares.append(_share(c, "celeba")), groups.append(celeba.groups), group.append(c.group)
    if src.utkface is not None:
        u = src.utkface
        (
            need(u.root, "sources.utkface.root", "UTKFace's folder"),
            need(u.frames, "sources.utkface.frames", "the crops' frames"),
        )
        parts.append(UtkfaceExamples(root / u.root, u.frames, "train", size, seed=t.seed, teachers=u.teachers))
        shares.append(_share(u, "utkface")), groups.append(None), group.append(1)
    if src.synthetic is not None:
        y = src.synthetic
        need(y.count, "sources.synthetic.count", "how many synthetic faces")
        g = y.renders_per_identity
        engine = SyntheticFaces(
            MorphableModel.load(ict_path),
            SyntheticConfig(size=size, crop_scale=config.crop_scale, renders_per_identity=g),
            seed=y.seed,
        )
        parts.append(SyntheticExamples(engine, y.count, ATTRIBUTES))
        people = np.arange(y.count // g)[:, None] * g + np.arange(g)
        shares.append(_share(y, "synthetic")), groups.append(list(people)), group.append(g)
    if not parts:
        raise ConfigError("sources: empty, nothing to train on")
    batches = MixedBatches([len(p) for p in parts], shares, t.steps_per_epoch, groups, group, seed=t.seed)
    rates = load_attributes()
    celeba_rate = None
    if src.celeba is not None:
        labels = np.load(root / src.celeba.root / "labels.npz")
        celeba_rate = labels["attributes"][labels["split"] == "train"].mean(0)
    positive_rate = [
        float(celeba_rate[k]) if celeba_rate is not None and k < 40 else rates.get(n, {}).get("positive_rate", 0.5)
        for k, n in enumerate(ATTRIBUTES)
    ]
    return TrainingData(ConcatDataset(parts), batches, val_loader, val68_loader, None, positive_rate)


def _from_aflw21(config: TrainingConfig, ict_path, shard_path) -> TrainingData:
    """AFLW's 21 points (`data`) and/or synthetic faces (`synthetic`), and the AFLW validation loader."""
    from torch.utils.data import ConcatDataset

    from .data import AflwExamples, HybridBatches, SyntheticExamples
    from .synthetic import SyntheticConfig, SyntheticFaces

    t, d, syn = config.train, config.data, config.synthetic
    size = config.render_size or config.input_size
    parts, val_loader, n_real = [], None, 0
    shard_file = shard_path or (d.aflw_shard if d is not None else None)
    if shard_file:
        count = len(AflwShard(shard_file))
        count = min(count, (d.limit if d is not None else None) or count)  # a limit makes smoke runs quick
        train_idx, val_idx = holdout_split(count, d.val_fraction if d is not None else 0.03, t.seed)
        parts.append(AflwExamples(AflwTraining(AflwShard(shard_file, train_idx), size, config.crop_scale, seed=t.seed)))
        n_real = len(parts[0])
        val_loader = _loader(
            config, AflwTraining(AflwShard(shard_file, val_idx), config.input_size, config.crop_scale, augment=False)
        )
    n_synthetic = 0
    if syn is not None:
        engine = SyntheticFaces(
            MorphableModel.load(ict_path),
            SyntheticConfig(size=size, crop_scale=config.crop_scale, renders_per_identity=syn.renders_per_identity),
            seed=syn.seed,
        )
        parts.append(SyntheticExamples(engine, syn.count))
        n_synthetic = syn.count
    if not parts:
        raise ConfigError("the config trains on nothing: give sources, data.aflw_shard or a synthetic section")
    fraction = syn.fraction if syn is not None and syn.fraction is not None else (1.0 if not n_real else 0.5)
    batches = HybridBatches(
        n_real,
        n_synthetic,
        t.batch_size,
        fraction,
        syn.renders_per_identity if syn is not None else 4,
        seed=t.seed,
        steps=t.steps_per_epoch,
    )
    return TrainingData(ConcatDataset(parts), batches, val_loader, None, None, None)
