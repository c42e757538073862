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
from .config import ConfigError, Data, TrainingConfig, need
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


def training_data(config: TrainingConfig | dict, ict_path, shard_path=None) -> TrainingData:
    config = TrainingConfig.coerce(config)
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


@dataclass
class _Part:
    """One source of a mixed batch: its examples, its share of every batch, and which examples must
    be drawn together (one person's photos, for SIR) in groups of `group`."""

    examples: object
    share: int
    together: list | None = None
    group: int = 1


def _from_sources(config: TrainingConfig, ict_path) -> TrainingData:
    """In-batch hybrid-task data from `sources`, and the attribute head's positive rates (CelebA's
    training rates; the engine's for the expression-only names)."""
    from torch.utils.data import ConcatDataset

    from ..tools.datasets import data_root
    from .data import MixedBatches

    src = config.sources
    root = data_root()
    if root is None:
        raise FileNotFoundError("the real training sets are read from $EDGEFACE_DATA: set it (../shared/data)")
    parts, val_loader, val68_loader = [], None, None
    if src.aflw is not None:
        part, val_loader, val68_loader = _aflw_part(config, root)
        parts.append(part)
    if src.celeba is not None:
        parts.append(_celeba_part(config, root))
    if src.utkface is not None:
        parts.append(_utkface_part(config, root))
    if src.synthetic is not None:
        parts.append(_synthetic_part(config, ict_path))
    if not parts:
        raise ConfigError("sources: empty, nothing to train on")
    t = config.train
    batches = MixedBatches(
        [len(p.examples) for p in parts],
        [p.share for p in parts],
        t.steps_per_epoch,
        [p.together for p in parts],
        [p.group for p in parts],
        seed=t.seed,
    )
    dataset = ConcatDataset([p.examples for p in parts])
    return TrainingData(dataset, batches, val_loader, val68_loader, None, _positive_rates(config, root))


def _aflw_part(config: TrainingConfig, root):
    """AFLW's crops with MERL-RAV's 68 points, and the two validation loaders of its held-out crops."""
    from .sources import Aflw68Examples

    a, t, size = config.sources.aflw, config.train, config.render_size or config.input_size
    need(a.shard, "sources.aflw.shard", "the packed AFLW crops")
    need(a.labels68, "sources.aflw.labels68", "MERL-RAV's points")
    count = len(AflwShard(a.shard))
    count = min(count, a.limit or count)
    train_idx, val_idx = holdout_split(count, a.val_fraction, t.seed)
    examples = Aflw68Examples(
        AflwShard(a.shard, train_idx), root / a.labels68, size, config.crop_scale, seed=t.seed, teachers=a.teachers
    )
    held = AflwShard(a.shard, val_idx)
    val_loader = _loader(config, AflwTraining(held, config.input_size, config.crop_scale, augment=False))
    val68 = Aflw68Examples(held, root / a.labels68, config.input_size, config.crop_scale, augment=False)
    return _Part(examples, _share(a, "aflw")), val_loader, _loader(config, val68)


def _celeba_part(config: TrainingConfig, root) -> _Part:
    from .sources import CelebaExamples

    c = config.sources.celeba
    need(c.root, "sources.celeba.root", "CelebA's folder")
    need(c.frames, "sources.celeba.frames", "the crops' frames")
    celeba = CelebaExamples(
        root / c.root, c.frames, config.render_size or config.input_size, seed=config.train.seed, teachers=c.teachers
    )
    return _Part(celeba, _share(c, "celeba"), celeba.groups, c.group)


def _utkface_part(config: TrainingConfig, root) -> _Part:
    from .sources import UtkfaceExamples

    u = config.sources.utkface
    need(u.root, "sources.utkface.root", "UTKFace's folder")
    need(u.frames, "sources.utkface.frames", "the crops' frames")
    examples = UtkfaceExamples(
        root / u.root,
        u.frames,
        "train",
        config.render_size or config.input_size,
        seed=config.train.seed,
        teachers=u.teachers,
    )
    return _Part(examples, _share(u, "utkface"))


def _synthetic_part(config: TrainingConfig, ict_path) -> _Part:
    """Synthetic faces, each identity's renders drawn together."""
    from .data import SyntheticExamples
    from .sources import ATTRIBUTES
    from .synthetic import SyntheticConfig, SyntheticFaces

    y = config.sources.synthetic
    count = need(y.count, "sources.synthetic.count", "how many synthetic faces")
    g = y.renders_per_identity
    engine = SyntheticFaces(
        MorphableModel.load(ict_path),
        SyntheticConfig(
            size=config.render_size or config.input_size, crop_scale=config.crop_scale, renders_per_identity=g
        ),
        seed=y.seed,
    )
    people = np.arange(count // g)[:, None] * g + np.arange(g)
    return _Part(SyntheticExamples(engine, count, ATTRIBUTES), _share(y, "synthetic"), list(people), g)


def _positive_rates(config: TrainingConfig, root) -> list[float]:
    """The attribute head's positive rates: CelebA's training photos' for its 40, the synthetic
    engine's measured ones for the expression attributes."""
    from .attributes import load as load_attributes
    from .sources import ATTRIBUTES

    rates = load_attributes()
    celeba_rate = None
    if config.sources.celeba is not None:
        labels = np.load(root / config.sources.celeba.root / "labels.npz")
        celeba_rate = labels["attributes"][labels["split"] == "train"].mean(0)
    return [
        float(celeba_rate[k]) if celeba_rate is not None and k < 40 else rates.get(n, {}).get("positive_rate", 0.5)
        for k, n in enumerate(ATTRIBUTES)
    ]


def _from_aflw21(config: TrainingConfig, ict_path, shard_path) -> TrainingData:
    """AFLW's 21 points (`data`) and/or synthetic faces (`synthetic`), and the AFLW validation loader."""
    from torch.utils.data import ConcatDataset

    from .data import AflwExamples, HybridBatches, SyntheticExamples
    from .synthetic import SyntheticConfig, SyntheticFaces

    t, d, syn = config.train, config.data or Data(), config.synthetic
    size = config.render_size or config.input_size
    parts, val_loader, n_real = [], None, 0
    shard_file = shard_path or d.aflw_shard
    if shard_file:
        count = len(AflwShard(shard_file))
        count = min(count, d.limit or count)  # a limit makes smoke runs quick
        train_idx, val_idx = holdout_split(count, d.val_fraction, t.seed)
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
