"""Train a network's eyelid branch (facemodel.EyelidBranch) on its frozen trunk, from real eyelids.

MERL-RAV's 68 points on the AFLW training crops include a few hundred eyes that are nearly shut,
which the synthetic eyelid rows never learned to see. The trunk runs once over every labelled crop
(as is, mirrored, then jittered, degraded and randomly mirrored copies) and its tap features and
head rows are cached; the branch then learns from the cache alone. Its eyelid logits replace the
head's eyelid rows, and the eye points the decoder places with them are pulled onto the labelled
ones (each point weighted by its visibility state, a self-occluded one not at all); its closure
logits learn whether each eye is shut (opened under CLOSED_BELOW of its width; only eyes whose six
points are all visible). Every other output stays as it was. The students' validation split of the
crops is never trained on: the stage measures itself there (`eyelids.json`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..tools.evaluate_eyes import CLOSED_BELOW, EYE_POINTS, eye_aperture, eye_opening, eyes_seen
from ..tools.evaluate_faces import roc_auc
from . import topology
from .config import TrainingConfig
from .facemodel import EYELID_SHAPES

#: crop units per unit of the point loss (1 % of the crop, 1.1 px at 112)
POINT_UNIT = 0.01


def eye_labels(points68: np.ndarray, weight68: np.ndarray) -> dict:
    """The eye points, their weights, and each eye's closure label (left, right; NaN where the
    eye's lids are not all visible), from (N, 68, 2) points and (N, 68) weights."""
    opening, seen = eye_aperture(points68), eyes_seen(weight68 >= 1)  # (subject's right, left)
    closed = np.where(seen, opening < CLOSED_BELOW, np.nan)[:, ::-1].astype(np.float32)  # -> (left, right)
    return {
        "points": points68[:, EYE_POINTS].astype(np.float32),
        "weight": weight68[:, EYE_POINTS].astype(np.float32),
        "closed": closed,
    }


@torch.no_grad()
def cache_views(model, examples, rows, views: int, batch: int = 128, desc: str = "eyelids") -> dict:
    """Per view of each crop in `rows`: float16 tap features, the head's raw rows, the branch's
    answers, and the eye labels. View 0 is the crop as the shard frames it, view 1 its mirror
    image, the others jittered, degraded and randomly mirrored copies."""
    from ..tools.progress import tqdm
    from .build import normalise

    out = {k: [] for k in ("tap", "raw", "described", "points", "weight", "closed")}
    for view in range(views):
        examples.training.augment = view >= 2
        examples.epoch = 1000 + view
        for start in tqdm(range(0, len(rows), batch), desc=f"{desc} view {view + 1}/{views}"):
            samples = [examples[int(i)] for i in rows[start : start + batch]]
            x = normalise(torch.from_numpy(np.stack([s["image"] for s in samples])).float() / 255.0)
            points = np.stack([s["points68"] for s in samples])
            weight = np.stack([s["weight68"] for s in samples])
            if view == 1:
                x = x.flip(-1)
                points, weight = points[:, examples.flip] * [-1, 1] + [1, 0], weight[:, examples.flip]
            pooled, tap = model.backbone(x, tap=model.branch_tap)
            out["tap"].append(tap.half().numpy())
            out["raw"].append(model.head(pooled).numpy())
            out["described"].append(model.branch(tap).numpy())
            for k, v in eye_labels(points, weight).items():
                out[k].append(v)
    examples.training.augment = False
    return {k: np.concatenate(v) for k, v in out.items()}


def eye_points(model, raw: torch.Tensor, described: torch.Tensor, eyes: torch.Tensor) -> torch.Tensor:
    """(N, 12, 2) eye landmarks (crop units) the network places with these eyelid answers."""
    return model.decode(raw, torch.cat([described, eyes], 1)).dense[:, _eye_vertices(), :2]


@lru_cache(maxsize=1)
def _eye_vertices() -> torch.Tensor:
    return torch.as_tensor(topology.load()["landmarks68"])[list(EYE_POINTS)]


def eyelid_loss(model, raw, described, eyes, batch: dict, closed_weight: float = 1.0) -> torch.Tensor:
    """Weighted distance of the decoded eye points to the labelled ones (in POINT_UNITs) plus BCE
    on each eye's closure; an unlabelled point or eye adds nothing."""
    dist = (eye_points(model, raw, described, eyes) - batch["points"]).norm(dim=-1) / POINT_UNIT
    points = (dist * batch["weight"]).sum() / batch["weight"].sum().clamp(min=1)
    known = torch.isfinite(batch["closed"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        eyes[:, len(EYELID_SHAPES) :], torch.nan_to_num(batch["closed"]), reduction="none", pos_weight=torch.tensor(4.0)
    )  # shut eyes are about one in twenty
    return points + closed_weight * (bce * known).sum() / known.sum().clamp(min=1)


@torch.no_grad()
def measure(model, data: dict, answers: torch.Tensor | None = None, batch: int = 1024) -> dict:
    """On cached views: the weighted eye-point error (% of the crop), the correlation of labelled
    and predicted eye opening (eyes with all six points visible), the predicted opening of eyes
    labelled shut and of the others, and the closure logit's ROC AUC (shut against open). The
    eyelid branch answers, or `answers` (N, 8) given in its layout."""
    model.eyelids.eval()
    pred, logits = [], []
    for s in range(0, len(data["raw"]), batch):
        part = {k: torch.from_numpy(v[s : s + batch]) for k, v in data.items()}
        eyes = model.eyelids(part["tap"].float()) if answers is None else answers[s : s + batch]
        pred.append(eye_points(model, part["raw"], part["described"], eyes).numpy())
        logits.append(eyes[:, len(EYELID_SHAPES) :].numpy())
    pred, logits = np.concatenate(pred), np.concatenate(logits)[:, ::-1]  # -> (right, left), as eye_aperture
    truth, opening = eye_opening(data["points"]), eye_opening(pred)
    seen = np.isfinite(data["closed"][:, ::-1])
    shut = truth[seen] < CLOSED_BELOW
    error = float((np.linalg.norm(pred - data["points"], axis=-1) * data["weight"]).sum() / data["weight"].sum())
    return {
        "eye_point_error_percent": 100 * error,
        "eyes": int(seen.sum()),
        "eyes_shut": int(shut.sum()),
        "aperture_correlation": float(np.corrcoef(truth[seen], opening[seen])[0, 1]),
        "predicted_opening_shut": float(opening[seen][shut].mean()) if shut.any() else None,
        "predicted_opening_open": float(opening[seen][~shut].mean()),
        "closed_auc": roc_auc(logits[seen][shut], logits[seen][~shut]) if shut.any() else None,
    }


def train_eyelids(
    start,
    out_dir,
    config: TrainingConfig | dict,
    examples,
    epochs: int = 12,
    views: int = 4,
    batch: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 1e-2,
    holdout: float = 0.03,
    limit: int | None = None,
    seed: int = 0,
    progress=print,
) -> Path:
    """`start` (a pack folder or a checkpoint with an attribute branch) with an eyelid branch
    (`config.attribute_branch.eyelids`) trained on its frozen trunk -> `out_dir/eyelids.pt`.
    `examples`: Aflw68Examples; crops without 68 points and the `holdout` split are not trained on.
    Resumes from `out_dir/eyelids_last.pt` (saved every epoch) and reuses cached features."""
    from ..tools.conventions import holdout_split
    from .cached_fit import fit_resumable

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = TrainingConfig.coerce(config)
    model = _frozen_start(start, config)
    train_rows, held_rows = holdout_split(len(examples), holdout, seed)  # the students' validation split
    train_rows, held_rows = (r[examples.has68[r]] for r in (train_rows, held_rows))
    if limit:
        train_rows, held_rows = train_rows[:limit], held_rows[:limit]
    train, held = _features(model, examples, train_rows, held_rows, views, out / "features.npz", start)
    data = {k: torch.from_numpy(v) for k, v in train.items()}

    torch.manual_seed(seed)
    branch = model.eyelids
    for p in branch.parameters():
        p.requires_grad_(True)
    with torch.no_grad():  # start from the head's eyelid rows: the network's answer before this stage
        rows = [6 + model.identity_size + model.expression_names.index(n) for n in EYELID_SHAPES]
        branch.head.bias[: len(EYELID_SHAPES)] = data["raw"][:, rows].mean(0)

    def loss_of(idx):
        part = {k: v[idx] for k, v in data.items()}
        return eyelid_loss(model, part["raw"], part["described"], branch(part["tap"].float()), part)

    def held_out() -> str:
        figures = measure(model, held).items()
        return "; held out: " + ", ".join(f"{k} {v:.3f}" for k, v in figures if isinstance(v, float))

    schedule = (epochs, batch, lr, weight_decay, seed)
    fit_resumable(branch, len(data["raw"]), loss_of, out / "eyelids_last.pt", "eyelids", *schedule, held_out, progress)
    model.eval()
    report = {
        "held_out_crops": int(len(held_rows)),
        "views": 2,
        "before": measure(model, held, head_answers(model, held)),
        "after": measure(model, held),
    }
    (out / "eyelids.json").write_text(json.dumps(report, indent=1))
    record = {
        "start": str(start),
        "crops": int(len(train_rows)),
        "views": views,
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "held_out": report,
    }
    torch.save({"config": config.to_dict(), "model": model.state_dict(), "eyelids": record}, out / "eyelids.pt")
    return out / "eyelids.pt"


def _frozen_start(start, config: TrainingConfig):
    """The configured network (with its eyelid branch) holding `start`'s weights, all frozen."""
    from .build import build_model, load_network
    from .morphable import MorphableModel

    morphable = MorphableModel.load(None)
    model = build_model(config, morphable)
    if model.eyelids is None:
        raise ValueError("the stage's config has no attribute_branch.eyelids")
    state = {k: v for k, v in load_network(start, morphable, "cpu").state_dict().items() if k != "branch_order"}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(
        not k.startswith("eyelids") and k not in ("branch_order", "expression_order") for k in missing
    ):
        raise ValueError(
            f"{start} is not this network without an eyelid branch (missing {missing}, unexpected {unexpected})"
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _features(model, examples, train_rows, held_rows, views: int, cache: Path, start) -> tuple[dict, dict]:
    """The trunk's features of the training crops (`views` each) and the held-out ones (2 each), from
    `cache` when it holds them for the same start network, crops and views (a rerun, a resume)."""
    key = np.array(f"{Path(start).resolve()}|{len(train_rows)}|{len(held_rows)}|{views}|{model.branch_tap}")
    stored = np.load(cache) if cache.exists() else None
    if stored is not None and "key" in stored.files and str(stored["key"]) == str(key):
        train = {k[6:]: stored[k] for k in stored.files if k.startswith("train_")}
        held = {k[5:]: stored[k] for k in stored.files if k.startswith("held_")}
        return train, held
    train = cache_views(model, examples, train_rows, views, desc="training crops")
    held = cache_views(model, examples, held_rows, 2, desc="held-out crops")
    np.savez(cache, key=key, **{f"train_{k}": v for k, v in train.items()}, **{f"held_{k}": v for k, v in held.items()})
    return train, held


def head_answers(model, data: dict) -> torch.Tensor:
    """The network's eyelid answers before this stage: the head's own eyelid rows, and its
    Left/Right_Eye_Closed attribute logits as the closure."""
    rows = [6 + model.identity_size + model.expression_names.index(n) for n in EYELID_SHAPES]
    rows += [model.core + model.attribute_names.index(n) for n in ("Left_Eye_Closed", "Right_Eye_Closed")]
    return torch.from_numpy(data["raw"])[:, rows]
