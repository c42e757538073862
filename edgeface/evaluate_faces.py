"""Attributes, age and gender, and identity verification, measured as a user gets them: each photo
goes through the SDK end to end (its own detector; the most confident face), and a photo where no
face is found counts against every figure (`detected_fraction` says how often).

Folders follow the shared data layout: `images/` and `labels.npz`, with a `split` array where the
set has one (`--split`, default dev). `edgeface evaluate --dataset celeba|utkface|verification`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EdgefaceError
from .image import load_image

try:
    from tqdm import tqdm
except ImportError:  # tqdm comes with the dev/train extras; the runtime works without it
    def tqdm(iterable, **_):
        return iterable

#: what a missed face "predicts": no attribute (each scored against its label), this age, no gender
MISSED_AGE_YEARS = 35.0


@dataclass
class LabelledPhotos:
    root: Path
    names: np.ndarray
    labels: dict

    @classmethod
    def load(cls, root, split: str | None = "dev", required=("names",)) -> "LabelledPhotos":
        root = Path(root)
        path = root / "labels.npz"
        if not path.is_file() or not (root / "images").is_dir():
            raise EdgefaceError(f"{root} is not a labelled photo folder: it needs images/ and labels.npz")
        with np.load(path) as data:
            labels = {k: data[k] for k in data.files}
        missing = [k for k in required if k not in labels]
        if missing:
            raise EdgefaceError(f"{path} lacks {', '.join(missing)}")
        if split is not None and "split" in labels:
            rows = labels["split"] == split
            if not rows.any():
                raise EdgefaceError(f"{path} has no photos in the split {split!r} "
                                    f"(it has {sorted(set(labels['split'].tolist()))})")
            n = len(labels["names"])
            labels = {k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in labels.items()}
        return cls(root, labels["names"], labels)

    def __len__(self) -> int:
        return len(self.names)

    def limit(self, count: int | None) -> "LabelledPhotos":
        return self.subset(np.arange(min(count, len(self)))) if count else self

    def subset(self, rows) -> "LabelledPhotos":
        n, rows = len(self.names), np.asarray(rows)
        return LabelledPhotos(self.root, self.names[rows],
                              {k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in self.labels.items()})


def run_photos(rec, photos: LabelledPhotos, progress: bool = True, what: str = "photos") -> list:
    """The most confident face of each photo (None where none was found)."""
    faces = []
    for name in tqdm(photos.names, desc=f"evaluate {what}", disable=not progress):
        found = rec(load_image(photos.root / "images" / str(name)))
        faces.append(max(found, key=lambda f: f.score) if found else None)
    return faces


def evaluate_celeba(rec, photos: LabelledPhotos, progress: bool = True, faces=None) -> dict:
    """CelebA's 40 attributes at threshold 0.5 (accuracy, balanced accuracy, per name) and
    verification from the identity coefficients on the same photos."""
    names = [str(n) for n in photos.labels["attribute_names"]]
    missing = [n for n in names if n not in rec.manifest.attribute_names]
    if missing:
        raise EdgefaceError(f"model {rec.manifest.name!r} has no {', '.join(missing[:5])}"
                            f"{'...' if len(missing) > 5 else ''} attribute: it cannot be scored on CelebA")
    faces = run_photos(rec, photos, progress, "CelebA") if faces is None else faces
    truth = photos.labels["attributes"].astype(bool)
    found = np.array([f is not None for f in faces])
    # a missed face answers 'no' with probability 0.5: scored as wrong on every label
    predicted = np.array([[f.attributes[n] >= 0.5 for n in names] if f is not None else [False] * len(names)
                          for f in faces])
    correct = (predicted == truth) & found[:, None]
    accuracy = correct.mean(0)
    pos, neg = truth.sum(0), (~truth).sum(0)
    tpr = np.where(pos > 0, (correct & truth).sum(0) / np.maximum(pos, 1), np.nan)
    tnr = np.where(neg > 0, (correct & ~truth).sum(0) / np.maximum(neg, 1), np.nan)
    balanced = 0.5 * (tpr + tnr)
    majority = np.maximum(truth.mean(0), 1 - truth.mean(0))
    out = {
        "n_images": len(photos), "detected_fraction": float(found.mean()),
        "attribute_accuracy_mean": float(accuracy.mean()),
        "attribute_balanced_accuracy_mean": float(np.nanmean(balanced)),
        "majority_baseline_accuracy_mean": float(majority.mean()),
        "attribute_accuracy": dict(zip(names, accuracy.round(4).tolist())),
        "attribute_balanced_accuracy": dict(zip(names, np.round(balanced, 4).tolist())),
    }
    identity = photos.labels.get("identity")
    if identity is not None and len(np.unique(identity)) < len(identity):  # some person twice: pairs exist
        out.update({"verification_" + k: v for k, v in
                    verification(faces, photos.labels["identity"]).items() if k != "detected_fraction"})
    return out


def evaluate_utkface(rec, photos: LabelledPhotos, progress: bool = True, faces=None) -> dict:
    """Age (mean absolute error, years) and gender accuracy, overall and per ethnicity group (the
    fairness report; the SDK itself never predicts ethnicity)."""
    m = rec.manifest
    if m.age_column is None or m.gender_attribute is None:
        raise EdgefaceError(f"model {m.name!r} has no age or gender output: it cannot be scored on UTKFace")
    faces = run_photos(rec, photos, progress, "UTKFace") if faces is None else faces
    age_true = photos.labels["age"].astype(np.float64)
    female_true = photos.labels["gender"].astype(int) == 1
    age = np.array([f.age if f is not None else MISSED_AGE_YEARS for f in faces])
    female = np.array([f is not None and f.gender == "female" for f in faces])
    found = np.array([f is not None for f in faces])
    age_error = np.abs(age - age_true)
    gender_right = (female == female_true) & found

    def figures(rows) -> dict:
        return {"n": int(rows.sum()), "age_mae": float(age_error[rows].mean()),
                "gender_accuracy": float(gender_right[rows].mean()), "detected_fraction": float(found[rows].mean())}

    out = {"n_images": len(photos), "detected_fraction": float(found.mean()),
           "age_mae": float(age_error.mean()), "gender_accuracy": float(gender_right.mean()),
           "age_mae_detected": float(age_error[found].mean()) if found.any() else float("nan")}
    if "race" in photos.labels:
        groups = photos.labels.get("race_names")
        race = photos.labels["race"].astype(int)
        out["by_race"] = {(str(groups[r]) if groups is not None else str(r)): figures(race == r)
                          for r in np.unique(race)}
    return out


def verification_pairs(identity: np.ndarray, seed: int = 0, limit: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """Every same-identity pair (up to `limit`) and as many different-identity pairs, drawn with a
    fixed seed: (P, 2) indices and (P,) is_same."""
    identity = np.asarray(identity)
    same = []
    for person in np.unique(identity):
        members = np.flatnonzero(identity == person)
        i, j = np.triu_indices(len(members), 1)
        same.append(np.stack([members[i], members[j]], 1))
    same = np.concatenate(same) if same else np.zeros((0, 2), int)
    rng = np.random.default_rng(seed)
    if len(same) > limit:
        same = same[np.sort(rng.choice(len(same), limit, replace=False))]
    different = np.zeros((0, 2), int)
    while len(different) < len(same):
        a, b = rng.integers(0, len(identity), (2, 2 * len(same) + 16))
        keep = identity[a] != identity[b]
        different = np.concatenate([different, np.stack([a[keep], b[keep]], 1)])
    different = different[:len(same)]
    pairs = np.concatenate([same, different])
    return pairs, np.concatenate([np.ones(len(same), bool), np.zeros(len(different), bool)])


def verification(faces: list, identity: np.ndarray, pairs=None, is_same=None) -> dict:
    """EER, ROC AUC and the true-accept rate at 1 % false accepts of cosine similarity between
    identity coefficients. A pair with a missed face is an error either way: rejected when the
    same person, accepted when not."""
    if pairs is None:
        pairs, is_same = verification_pairs(identity)
    pairs, is_same = np.asarray(pairs, int), np.asarray(is_same, bool)
    if len(pairs) == 0 or is_same.all() or not is_same.any():
        raise EdgefaceError("verification needs both same-person and different-person pairs")
    k = next((len(f.identity) for f in faces if f is not None), 0)
    if k == 0:
        raise EdgefaceError("no face was found in any photo (or the model has no identity coefficients)")
    found = np.array([f is not None for f in faces])
    e = np.stack([f.identity if f is not None else np.zeros(k, np.float32) for f in faces]).astype(np.float64)
    e /= np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    score = np.einsum("pc,pc->p", e[pairs[:, 0]], e[pairs[:, 1]])
    missed = ~(found[pairs[:, 0]] & found[pairs[:, 1]])
    score = np.where(missed, np.where(is_same, -np.inf, np.inf), score)
    order = np.argsort(-score, kind="stable")
    same_sorted = is_same[order]
    far = np.concatenate([[0.0], np.cumsum(~same_sorted) / (~same_sorted).sum()])
    tar = np.concatenate([[0.0], np.cumsum(same_sorted) / same_sorted.sum()])
    j = int(np.argmin(np.abs(far - (1.0 - tar))))
    at = np.searchsorted(far, 0.01, side="right") - 1
    return {"eer": float(0.5 * (far[j] + 1.0 - tar[j])), "roc_auc": float(np.trapezoid(tar, far)),
            "tar_at_far_0.01": float(tar[at]), "n_pairs": int(len(pairs)), "n_same": int(is_same.sum()),
            "detected_fraction": float(found.mean())}


def evaluate_verification(rec, photos: LabelledPhotos, progress: bool = True, faces=None) -> dict:
    """A verification folder: `labels.npz` with `names` and `identity`; `pairs.npz` (`pairs` (P, 2),
    `is_same` (P,)) if the folder gives its own, else pairs drawn by `verification_pairs`."""
    pairs_path = photos.root / "pairs.npz"
    pairs = is_same = None
    if pairs_path.is_file():
        with np.load(pairs_path) as d:
            if "pairs" not in d.files or "is_same" not in d.files:
                raise EdgefaceError(f"{pairs_path} must hold pairs (P, 2) and is_same (P,)")
            pairs, is_same = d["pairs"], d["is_same"]
        if pairs.ndim != 2 or pairs.shape[1] != 2 or len(is_same) != len(pairs) or \
                pairs.min(initial=0) < 0 or pairs.max(initial=0) >= len(photos):
            raise EdgefaceError(f"{pairs_path}: pairs must be (P, 2) indices of the {len(photos)} photos, "
                                "with one is_same per pair")
    faces = run_photos(rec, photos, progress, "verification") if faces is None else faces
    out = verification(faces, photos.labels["identity"], pairs, is_same)
    out["n_images"] = len(photos)
    return out
