"""The training configuration, typed: frozen dataclasses for the network, the schedule, the losses,
the teacher network (distillation), the data sources and the attribute branch, read and checked once.

A configuration is a base file (configs/base.json) with a recipe stage's overrides laid over it
(`merged`), then `TrainingConfig.from_dict`: an unknown or misspelt key, a value of the wrong type or
out of its range is a `ConfigError` naming the key's full path (and the nearest known key). Keys that
start with `_` are comments. Every default lives here, once; `to_dict` gives the plain JSON form that
checkpoints and `config.json` carry, which `from_dict` reads back to an equal config."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from ..runtime.errors import EdgefaceError


class ConfigError(EdgefaceError, ValueError):
    """A training configuration that is not valid: the message names the key."""


def _range(default=dataclasses.MISSING, *, low=None, high=None, above=None):
    """A field whose value lies in [low, high] (and above `above`, exclusive) when it is not None."""
    return field(default=default, metadata={"low": low, "high": high, "above": above})


def weight(default: float = 0.0):
    return _range(default, low=0.0)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """`train`: the optimiser and its schedule. `minutes` schedules by wall clock instead of steps;
    `frozen` lists parameter-name prefixes that do not learn. Recipes take every field from
    configs/base.json; these defaults serve a config without a `train` section."""

    epochs: int = _range(20, low=1)
    steps_per_epoch: int | None = _range(None, low=1)
    batch_size: int = _range(34, low=1)
    lr: float = _range(2.5e-4, above=0.0)
    weight_decay: float = _range(1e-4, low=0.0)
    workers: int = _range(2, low=0)
    seed: int = 0
    freeze_batchnorm: bool = False
    minutes: float | None = _range(None, above=0.0)
    frozen: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Losses:
    """`loss`: one weight per term (0 leaves the term out), then the terms' own parameters."""

    landmarks: float = weight()
    landmarks68: float = weight()
    yaw: float = weight()
    dense: float = weight()
    pose: float = weight()
    identity: float = weight()
    expression: float = weight()
    visibility: float = weight()
    attributes: float = weight()
    age: float = weight()
    young: float = weight()
    sir_pull: float = weight()
    sir_push: float = weight()
    identity_prior: float = weight()
    expression_prior: float = weight()
    teacher68: float = weight()
    teacher_pose: float = weight()
    teacher_pose_rotation: float = weight()
    teacher_age: float = weight()
    teacher_gender: float = weight()
    relational: float = weight()
    #: the dense loss's weight on the eyes, brows, nose and lips
    region_weight: float = weight(2.0)
    #: synthetic faces' attribute labels count this much beside real ones
    attributes_synthetic: float = weight(1.0)
    #: positives weighted by ((1 - p) / p) ** balance (losses.attributes)
    attribute_balance: float = weight(1.0)
    sir_margin: float = _range(3.0, above=0.0)
    #: degrees: the teacher's pose counts only under this yaw (teacher_pose_rotation)
    teacher_pose_max_yaw: float | None = _range(None, above=0.0, high=90.0)

    def of(self, term: str) -> float:
        """The weight of a loss term by name."""
        return float(getattr(self, term))


@dataclass(frozen=True, kw_only=True)
class Distill:
    """`distill`: the teacher network's outputs as targets, one weight per output."""

    dense: float = weight()
    identity: float = weight()
    expression: float = weight()
    pose: float = weight()
    attributes: float = weight()
    temperature: float = _range(2.0, above=0.0)
    #: the teacher's answers count only on samples without 3D labels (the real crops)
    only_without_3d_labels: bool = False
    #: the teacher answers the mean of a crop and its mirror
    flip_average: bool = False
    #: the teacher answers from a second crop cut around its first answer
    refine: bool = False


@dataclass(frozen=True, kw_only=True)
class AflwSource:
    shard: str | None = None
    labels68: str | None = None
    teachers: str | None = None
    val_fraction: float = _range(0.03, low=0.0, high=0.5)
    per_batch: int | None = _range(None, low=0)
    limit: int | None = _range(None, low=1)


@dataclass(frozen=True, kw_only=True)
class CelebaSource:
    root: str | None = None
    frames: str | None = None
    teachers: str | None = None
    per_batch: int | None = _range(None, low=0)
    #: photos of one person drawn together (SIR's pairs)
    group: int = _range(2, low=1)


@dataclass(frozen=True, kw_only=True)
class UtkfaceSource:
    root: str | None = None
    frames: str | None = None
    teachers: str | None = None
    per_batch: int | None = _range(None, low=0)


@dataclass(frozen=True, kw_only=True)
class SyntheticSource:
    count: int | None = _range(None, low=1)
    per_batch: int | None = _range(None, low=0)
    renders_per_identity: int = _range(4, low=1)
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class Sources:
    """`sources`: in-batch hybrid-task training, each source with its share of every batch. A source's
    files (shard, labels68, root, frames, count) and its `per_batch` are checked where a stage reads
    them (`need`): a recipe's overrides lay one `sources` over every stage, and a branch stage reads
    only the CelebA and UTKFace photos."""

    aflw: AflwSource | None = None
    celeba: CelebaSource | None = None
    utkface: UtkfaceSource | None = None
    synthetic: SyntheticSource | None = None


@dataclass(frozen=True, kw_only=True)
class Data:
    """`data`: the AFLW-21 shard alone (the 0.3 trainer), beside a top-level `synthetic` section."""

    aflw_shard: str | None = None
    val_fraction: float = _range(0.03, low=0.0, high=0.5)
    limit: int | None = _range(None, low=1)


@dataclass(frozen=True, kw_only=True)
class Synthetic:
    """`synthetic`: synthetic faces beside `data` (`fraction` of each batch; default 1 without real
    crops, else 0.5), and the held-out synthetic faces that validate every run that has this section."""

    count: int = _range(low=1)
    fraction: float | None = _range(None, low=0.0, high=1.0)
    renders_per_identity: int = _range(4, low=1)
    seed: int = 0
    validation: int = _range(256, low=1)


@dataclass(frozen=True, kw_only=True)
class Eyelids:
    width: int = _range(32, low=1)
    input_size: int = _range(112, low=16)


@dataclass(frozen=True, kw_only=True)
class AttributeBranch:
    """`attribute_branch`: a small branch from layer `tap` of the backbone that answers `attributes`
    ("celeba": CelebA's 40, or a list of names) and, with `eyelids`, the eyelid expression rows."""

    tap: int = _range(low=1)
    width: int = _range(32, low=1)
    attributes: Union[str, tuple[str, ...]] = "celeba"
    eyelids: Eyelids | None = None


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """One training stage's whole configuration."""

    name: str | None = None
    backbone: str
    input_size: int = _range(low=16)
    #: the training crops' size when it differs from the network's input (a distilled student)
    render_size: int | None = _range(None, low=16)
    crop_scale: float = _range(above=0.0)
    identity_size: int = _range(low=1)
    #: "celeba": the attribute head answers CelebA's 40 and the expression attributes
    attributes: str | None = None
    attribute_head: bool = False
    age_head: bool = False
    visibility_head: bool = False
    train: Schedule = field(default_factory=Schedule)
    loss: Losses = field(default_factory=Losses)
    distill: Distill | None = None
    sources: Sources | None = None
    data: Data | None = None
    synthetic: Synthetic | None = None
    attribute_branch: AttributeBranch | None = None

    def __post_init__(self):
        if self.attributes not in (None, "celeba"):
            raise ConfigError(f"attributes: 'celeba' or none, got {self.attributes!r}")

    @classmethod
    def from_dict(cls, data: dict, where: str = "config") -> TrainingConfig:
        return _build(cls, data, where)

    @classmethod
    def coerce(cls, config: TrainingConfig | dict, where: str = "config") -> TrainingConfig:
        return config if isinstance(config, TrainingConfig) else cls.from_dict(config, where)

    def to_dict(self) -> dict:
        return _plain(dataclasses.asdict(self))


def need(value, where: str, why: str):
    """`value`, which this use of the configuration cannot do without."""
    if value is None:
        raise ConfigError(f"{where}: missing ({why})")
    return value


def merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` laid over it, nested objects merged key by key (a null removes a key)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(base_path, *overrides: dict, where: str | None = None) -> TrainingConfig:
    """The base file with each of `overrides` laid over it in turn, checked."""
    data = json.loads(Path(base_path).read_text())
    for o in overrides:
        data = merged(data, o)
    return TrainingConfig.from_dict(data, where or str(base_path))


# -- the checked reading ---------------------------------------------------------------------------


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, value in data.items():
        if key.startswith("_"):
            continue
        if key not in known:
            near = difflib.get_close_matches(key, list(known), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ConfigError(f"{where}.{key}: unknown key{hint}; {where} takes {', '.join(known)}")
        values[key] = _value(hints[key], value, f"{where}.{key}")
        _check_range(known[key], values[key], f"{where}.{key}")
    missing = [
        n
        for n, f in known.items()
        if n not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing {', '.join(missing)}")
    try:
        return cls(**values)
    except ConfigError as e:
        raise ConfigError(f"{where}.{e}") from None


def _value(kind, value, where: str) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _value(option, value, where)
            except ConfigError as e:
                errors.append(e)
        raise (
            errors[0]
            if len(options) == 1
            else ConfigError(f"{where}: expected {' or '.join(_name(o) for o in options)}, got {value!r}")
        )
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(kind):
        return _build(kind, value, where)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{where}: no reader for {kind}")


def _name(kind) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, "a list" if typing.get_origin(kind) is tuple else "an object"
    )


def _check_range(f: dataclasses.Field, value, where: str) -> None:
    low, high, above = (f.metadata.get(k) for k in ("low", "high", "above"))
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if (
        (low is not None and value < low)
        or (high is not None and value > high)
        or (above is not None and value <= above)
    ):
        bounds = [
            f">= {low}" if low is not None else None,
            f"> {above}" if above is not None else None,
            f"<= {high}" if high is not None else None,
        ]
        raise ConfigError(f"{where}: {value!r} is out of range (must be {' and '.join(b for b in bounds if b)})")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
