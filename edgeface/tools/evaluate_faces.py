"""Attributes, age and gender, and identity verification, measured as a user gets them: each photo
goes through the SDK end to end (its own detector; the most confident face), and a photo where no
face is found counts against every figure (`detected_fraction` says how often).

Folders follow the shared data layout: `images/` and `labels.npz`, with a `split` array where the
set has one (`--split`, default dev). `edgeface evaluate celeba|utkface|verification`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..runtime.errors import EdgefaceError
from ..runtime.image import load_image
from .progress import tqdm

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
        from .datasets import check_fields, read_npz

        labels = read_npz(path)
        # per-photo fields: one row each; `*_names` (attribute_names, race_names): one name per column or code
        fields = {k: ("U" if k == "names" else "iufbU", None) for k in ("names", *required) if not k.endswith("_names")}
        if "split" in labels:
            fields["split"] = ("U", ())
        check_fields(labels, path, fields)
        for key in [k for k in (*required, *labels) if k.endswith("_names")]:
            if key not in labels or labels[key].ndim != 1 or labels[key].dtype.kind != "U":
                raise EdgefaceError(f"{path} must hold {key}, one name each")
        if split is not None and "split" in labels:
            rows = labels["split"] == split
            if not rows.any():
                raise EdgefaceError(
                    f"{path} has no photos in the split {split!r} (it has {sorted(set(labels['split'].tolist()))})"
                )
            n = len(labels["names"])
            labels = {k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in labels.items()}
        if not len(labels["names"]):
            raise EdgefaceError(f"{path} lists no photos")
        return cls(root, labels["names"], labels)

    def __len__(self) -> int:
        return len(self.names)

    def limit(self, count: int | None) -> "LabelledPhotos":
        return self.subset(np.arange(min(count, len(self)))) if count else self

    def subset(self, rows) -> "LabelledPhotos":
        n, rows = len(self.names), np.asarray(rows)
        return LabelledPhotos(
            self.root, self.names[rows], {k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in self.labels.items()}
        )


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
        raise EdgefaceError(
            f"model {rec.manifest.name!r} has no {', '.join(missing[:5])}"
            f"{'...' if len(missing) > 5 else ''} attribute: it cannot be scored on CelebA"
        )
    faces = run_photos(rec, photos, progress, "CelebA") if faces is None else faces
    truth = photos.labels["attributes"].astype(bool)
    found = np.array([f is not None for f in faces])
    # a missed face answers 'no' with probability 0.5: scored as wrong on every label
    predicted = np.array(
        [[f.attributes[n] >= 0.5 for n in names] if f is not None else [False] * len(names) for f in faces]
    )
    correct = (predicted == truth) & found[:, None]
    accuracy = correct.mean(0)
    pos, neg = truth.sum(0), (~truth).sum(0)
    tpr = np.where(pos > 0, (correct & truth).sum(0) / np.maximum(pos, 1), np.nan)
    tnr = np.where(neg > 0, (correct & ~truth).sum(0) / np.maximum(neg, 1), np.nan)
    balanced = 0.5 * (tpr + tnr)
    majority = np.maximum(truth.mean(0), 1 - truth.mean(0))
    out = {
        "n_images": len(photos),
        "detected_fraction": float(found.mean()),
        "attribute_accuracy_mean": float(accuracy.mean()),
        "attribute_balanced_accuracy_mean": float(np.nanmean(balanced)),
        "majority_baseline_accuracy_mean": float(majority.mean()),
        "attribute_accuracy": dict(zip(names, accuracy.round(4).tolist())),
        "attribute_balanced_accuracy": dict(zip(names, np.round(balanced, 4).tolist())),
    }
    identity = photos.labels.get("identity")
    if identity is not None and len(np.unique(identity)) < len(identity):  # some person twice: pairs exist
        out.update(
            {
                "verification_" + k: v
                for k, v in verification(faces, photos.labels["identity"]).items()
                if k != "detected_fraction"
            }
        )
    return out


def evaluate_utkface(rec, photos: LabelledPhotos, progress: bool = True, faces=None) -> dict:
    """Age (mean absolute error, years) and gender accuracy, overall and per ethnicity group (the
    fairness report; the SDK itself never predicts ethnicity)."""
    m = rec.manifest
    if "age" not in m.outputs or m.gender_attribute is None:
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
        return {
            "n": int(rows.sum()),
            "age_mae": float(age_error[rows].mean()),
            "gender_accuracy": float(gender_right[rows].mean()),
            "detected_fraction": float(found[rows].mean()),
        }

    out = {
        "n_images": len(photos),
        "detected_fraction": float(found.mean()),
        "age_mae": float(age_error.mean()),
        "gender_accuracy": float(gender_right.mean()),
        "age_mae_detected": float(age_error[found].mean()) if found.any() else float("nan"),
    }
    if "race" in photos.labels:
        groups = photos.labels.get("race_names")
        race = photos.labels["race"].astype(int)
        out["by_race"] = {
            (str(groups[r]) if groups is not None else str(r)): figures(race == r) for r in np.unique(race)
        }
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
    different = different[: len(same)]
    pairs = np.concatenate([same, different])
    return pairs, np.concatenate([np.ones(len(same), bool), np.zeros(len(different), bool)])


def pair_scores(faces: list, pairs: np.ndarray, is_same: np.ndarray) -> np.ndarray:
    """Each pair's similarity as `Face.similarity` gives it (the dot product of the embeddings); a
    pair with a missed face scores as an error either way (-inf when the same person, +inf when not)."""
    k = next((len(f.embedding) for f in faces if f is not None), 0)
    if k == 0:
        raise EdgefaceError("no face was found in any photo (or the model has no identity coefficients)")
    found = np.array([f is not None for f in faces])
    e = np.stack([f.embedding if f is not None else np.zeros(k, np.float32) for f in faces]).astype(np.float64)
    score = np.einsum("pc,pc->p", e[pairs[:, 0]], e[pairs[:, 1]])
    missed = ~(found[pairs[:, 0]] & found[pairs[:, 1]])
    return np.where(missed, np.where(is_same, -np.inf, np.inf), score)


def vector_verification(vectors: np.ndarray, identity: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(EER, ROC AUC) of the cosine between vectors, one per photo, on the pairs `verification_pairs`
    draws: for fitting and probing embeddings without running faces through the SDK again."""
    pairs, same = verification_pairs(identity, seed)
    v = np.asarray(vectors, np.float64)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    score = np.einsum("pc,pc->p", v[pairs[:, 0]], v[pairs[:, 1]])
    return equal_error_rate(score, same), roc_auc(score[same], score[~same])


def _rates(score: np.ndarray, is_same: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False-accept and true-accept rates as the threshold falls through the sorted scores."""
    same_sorted = is_same[np.argsort(-score, kind="stable")]
    far = np.concatenate([[0.0], np.cumsum(~same_sorted) / (~same_sorted).sum()])
    tar = np.concatenate([[0.0], np.cumsum(same_sorted) / same_sorted.sum()])
    return far, tar


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counted half (the area under the ROC curve)."""
    scores = np.concatenate([positive, negative])
    _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - 0.5 * (counts - 1))[group]  # tied scores share their mean rank
    n = len(positive)
    return float((ranks[:n].sum() - n * (n + 1) / 2) / (n * len(negative)))


def equal_error_rate(score: np.ndarray, is_same: np.ndarray) -> float:
    far, tar = _rates(score, is_same)
    j = int(np.argmin(np.abs(far - (1.0 - tar))))
    return float(0.5 * (far[j] + 1.0 - tar[j]))


def _pairs_for(identity, pairs, is_same):
    if pairs is None:
        pairs, is_same = verification_pairs(identity)
    pairs, is_same = np.asarray(pairs, int), np.asarray(is_same, bool)
    if len(pairs) == 0 or is_same.all() or not is_same.any():
        raise EdgefaceError("verification needs both same-person and different-person pairs")
    return pairs, is_same


def verification(faces: list, identity: np.ndarray, pairs=None, is_same=None) -> dict:
    """EER, ROC AUC and the true-accept rate at 1 % false accepts of the faces' similarity
    (`pair_scores`: a missed face is an error either way)."""
    pairs, is_same = _pairs_for(identity, pairs, is_same)
    score = pair_scores(faces, pairs, is_same)
    far, tar = _rates(score, is_same)
    at = np.searchsorted(far, 0.01, side="right") - 1
    return {
        "eer": equal_error_rate(score, is_same),
        "roc_auc": roc_auc(score[is_same], score[~is_same]),
        "tar_at_far_0.01": float(tar[at]),
        "n_pairs": int(len(pairs)),
        "n_same": int(is_same.sum()),
        "detected_fraction": float(np.mean([f is not None for f in faces])),
    }


def compare_verification(
    faces_a: list, faces_b: list, identity, pairs=None, is_same=None, resamples: int = 2000, seed: int = 0
) -> dict:
    """EER and ROC AUC of model a minus model b on the same pairs, each with a 95 % interval from a
    paired bootstrap that resamples same-person and different-person pairs separately (the same
    draws for both models)."""
    pairs, is_same = _pairs_for(identity, pairs, is_same)
    sa, sb = pair_scores(faces_a, pairs, is_same), pair_scores(faces_b, pairs, is_same)
    same, different = np.flatnonzero(is_same), np.flatnonzero(~is_same)

    def figures(rows_same, rows_different):
        rows = np.concatenate([rows_same, rows_different])
        return [(equal_error_rate(s[rows], is_same[rows]), roc_auc(s[rows_same], s[rows_different])) for s in (sa, sb)]

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        (eer_a, auc_a), (eer_b, auc_b) = figures(rng.choice(same, len(same)), rng.choice(different, len(different)))
        draws.append((eer_a - eer_b, auc_a - auc_b))
    low, high = np.percentile(np.array(draws), [2.5, 97.5], axis=0)
    (a, auc_a), (b, auc_b) = figures(same, different)
    return {
        "eer_a": a,
        "eer_b": b,
        "eer_difference": a - b,
        "eer_difference_ci95_low": float(low[0]),
        "eer_difference_ci95_high": float(high[0]),
        "roc_auc_a": auc_a,
        "roc_auc_b": auc_b,
        "roc_auc_difference": auc_a - auc_b,
        "roc_auc_difference_ci95_low": float(low[1]),
        "roc_auc_difference_ci95_high": float(high[1]),
        "n_pairs": int(len(pairs)),
    }


def folder_pairs(photos: LabelledPhotos) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The folder's own `pairs.npz` (`pairs` (P, 2) photo indices, `is_same` (P,)), or (None, None)."""
    pairs_path = photos.root / "pairs.npz"
    if not pairs_path.is_file():
        return None, None
    from .datasets import read_npz

    d = read_npz(pairs_path, "pairs")
    if "pairs" not in d or "is_same" not in d:
        raise EdgefaceError(f"{pairs_path} must hold pairs (P, 2) and is_same (P,)")
    pairs, is_same = d["pairs"], d["is_same"]
    if (
        pairs.ndim != 2
        or pairs.shape[1] != 2
        or is_same.ndim != 1
        or len(is_same) != len(pairs)
        or pairs.dtype.kind not in "iu"
        or is_same.dtype.kind not in "biu"
        or not len(pairs)
        or pairs.min(initial=0) < 0
        or pairs.max(initial=0) >= len(photos)
    ):
        raise EdgefaceError(
            f"{pairs_path}: pairs must be (P, 2) indices of the {len(photos)} photos, with one is_same per pair"
        )
    return pairs, is_same.astype(bool)


def evaluate_verification(rec, photos: LabelledPhotos, progress: bool = True, faces=None) -> dict:
    """A verification folder: `labels.npz` with `names` and `identity`; `pairs.npz` if the folder
    gives its own pairs (`folder_pairs`), else pairs drawn by `verification_pairs`."""
    pairs, is_same = folder_pairs(photos)
    faces = run_photos(rec, photos, progress, "verification") if faces is None else faces
    out = verification(faces, photos.labels["identity"], pairs, is_same)
    out["n_images"] = len(photos)
    return out
