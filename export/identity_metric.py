"""The pack's identity metric (manifest `identity_metric`): the centre and within-person whitening of
its identity coefficients, which `Face.embedding` and `Face.similarity` apply.

Fitted on the CelebA training people, their photos run through the SDK as a user runs it (the pack's
fp32 file, the default detector and two passes). How much to regularise the within-person
covariance is chosen by cross-validation over those people, so CelebA dev, which the evaluate mode
scores, plays no part in the fit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runtime.pipeline import embed

#: candidates for the ridge added to the within-person covariance, as a fraction of its mean variance
REGULARISATION = (0.01, 0.03, 0.1, 0.3, 1.0)
#: the cross-validation splits of the training people
FOLDS = 2


def within_person_whitening(
    coefficients: np.ndarray, person: np.ndarray, ridge: float
) -> tuple[np.ndarray, np.ndarray]:
    """(mean, whitening): the inverse square root of the covariance of each person's coefficients
    about that person's mean (people with one photo only move the overall mean), with `ridge` times
    its mean variance added to the diagonal."""
    x = np.asarray(coefficients, np.float64)
    mean = x.mean(0)
    scatter, dof = np.zeros((x.shape[1], x.shape[1])), 0
    for p in np.unique(person):
        own = x[person == p]
        if len(own) > 1:
            d = own - own.mean(0)
            scatter += d.T @ d
            dof += len(own) - 1
    if dof == 0:
        raise ValueError("the within-person covariance needs people with two or more photos")
    covariance = scatter / dof
    covariance += ridge * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    values, vectors = np.linalg.eigh(covariance)
    return mean, (vectors / np.sqrt(values)) @ vectors.T


def cross_validated(
    coefficients: np.ndarray, person: np.ndarray, ridges=REGULARISATION, folds: int = FOLDS, seed: int = 0
) -> dict[float, dict]:
    """Each ridge's verification EER and ROC AUC on held-out people, averaged over `folds` splits
    by person (the metric fitted on the others; the pairs as `evaluate --dataset celeba` draws them)."""
    from ..tools.evaluate_faces import vector_verification

    people = np.unique(person)
    np.random.default_rng(seed).shuffle(people)
    out = {}
    for ridge in ridges:
        eers, aucs = [], []
        for k in range(folds):
            held = np.isin(person, people[k::folds])
            mean, whitening = within_person_whitening(coefficients[~held], person[~held], ridge)
            eer, auc = vector_verification(embed(coefficients[held], mean, whitening), person[held], seed)
            eers.append(eer)
            aucs.append(auc)
        out[ridge] = {"eer": float(np.mean(eers)), "roc_auc": float(np.mean(aucs))}
    return out


def fit(coefficients: np.ndarray, person: np.ndarray, ridges=REGULARISATION) -> dict:
    """The metric from every photo, with the ridge of the lowest cross-validated EER (ties: the
    higher ROC AUC): {"mean", "whitening", "ridge", "cross_validation"}."""
    scores = cross_validated(coefficients, person, ridges)
    ridge = min(scores, key=lambda r: (round(scores[r]["eer"], 4), -scores[r]["roc_auc"]))
    mean, whitening = within_person_whitening(coefficients, person, ridge)
    return {
        "mean": mean,
        "whitening": whitening,
        "ridge": ridge,
        "cross_validation": {str(r): s for r, s in scores.items()},
    }


def fit_pack(pack, celeba_root, backend: str = "onnx", limit: int | None = None, progress: bool = True) -> dict:
    """Run the pack over the CelebA training photos, fit the metric and write it into the pack's
    manifest; returns the fit's record (ridge, cross-validation, photos used)."""
    from .. import Reconstructor
    from ..runtime.pack import PackManifest
    from ..tools.evaluate_faces import LabelledPhotos, run_photos

    photos = LabelledPhotos.load(celeba_root, "train", ("names", "identity")).limit(limit)
    rec = Reconstructor(backend, model=str(pack), precision="fp32", refine=True)
    faces = run_photos(rec, photos, progress, what="identity metric")
    found = np.array([f is not None for f in faces])
    coefficients = np.stack([f.identity for f in faces if f is not None]).astype(np.float64)
    result = fit(coefficients, photos.labels["identity"][found])
    people = len(np.unique(photos.labels["identity"][found]))
    manifest = PackManifest.open(pack)
    manifest.set_identity_metric(
        result["mean"],
        result["whitening"],
        fitted_on=(
            f"CelebA train: {int(found.sum())} photos of {people} people, end to end ({backend} fp32, two passes); "
            f"ridge {result['ridge']} chosen by {FOLDS}-fold cross-validation over people"
        ),
    )
    manifest.save()
    return {
        "photos": int(found.sum()),
        "missed": int((~found).sum()),
        "people": people,
        "ridge": result["ridge"],
        "cross_validation": result["cross_validation"],
        "pack": str(Path(pack)),
    }
