"""Aligning the 68-landmark definition with a benchmark's annotation convention.

ICT-FaceKit names one vertex per landmark, but annotators of 2D benchmarks such as AFLW2000-3D
place some landmarks elsewhere on the face (jaw points are spaced differently along the contour,
brow points sit on the brow's lower edge...). This module finds, for each landmark, the point on
the mesh surface that best matches the annotation: a convex combination of the dense points near
its ICT vertex (weights >= 0 summing to 1, so it stays on the face and moves with it), fitted by
least squares on half of the benchmark and checked on the other half. The model's own outputs are
untouched; the definition goes into the pack's manifest (`topology.landmark_weights`), and every
runtime (Python, Kotlin) reads it from there.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..datasets import Aflw2000
from ..evaluate import names_digest, nme_by_yaw, predict_faces
from ..model import MANIFEST_NAME, read_manifest

#: Images at even positions of the dataset fit the definition; odd ones are held out.
FIT_PARITY = 0


def project_to_simplex(v: np.ndarray) -> np.ndarray:
    """Euclidean projection of a vector onto {w >= 0, sum(w) = 1} (sort-based, exact)."""
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - 1.0
    rho = np.nonzero(u - cumulative / np.arange(1, len(v) + 1) > 0)[0][-1]
    return np.maximum(v - cumulative[rho] / (rho + 1.0), 0.0)


def simplex_least_squares(a: np.ndarray, b: np.ndarray, iterations: int = 3000) -> np.ndarray:
    """argmin |a w - b|^2 over convex weights w (accelerated projected gradient; the problem is
    small and convex, so this converges to the optimum)."""
    gram, rhs = a.T @ a, a.T @ b
    step = 1.0 / max(np.linalg.eigvalsh(gram)[-1], 1e-12)
    w = np.full(a.shape[1], 1.0 / a.shape[1])
    y, t = w.copy(), 1.0
    for _ in range(iterations):
        w_next = project_to_simplex(y - step * (gram @ y - rhs))
        t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        y = w_next + ((t - 1.0) / t_next) * (w_next - w)
        w, t = w_next, t_next
    return w


def neighbours(neutral: np.ndarray, landmarks68: np.ndarray, count: int) -> np.ndarray:
    """(68, count) indices of the mesh points nearest each landmark's vertex on the neutral face;
    points given as NaN (not on the skin surface) are never chosen."""
    distance = np.linalg.norm(neutral[None, :, :] - neutral[landmarks68][:, None, :], axis=2)
    return np.argsort(distance, axis=1, kind="stable")[:, :count]


def fit(dense: np.ndarray, truth: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Convex weights (68, K) over `candidates` that map predicted dense points (N, P, 2) to the
    annotated landmarks (N, 68, 2); each image's residuals count in units of its face size."""
    lo, hi = truth.min(1), truth.max(1)
    scale = 1.0 / np.sqrt(np.prod(hi - lo, axis=1))[:, None]
    weights = np.zeros(candidates.shape)
    for j, cand in enumerate(candidates):
        a = (dense[:, cand, :] * scale[:, :, None]).transpose(0, 2, 1).reshape(-1, len(cand))
        b = (truth[:, j, :] * scale).reshape(-1)
        weights[j] = simplex_least_squares(a, b)
    return weights


def landmarks(dense: np.ndarray, candidates: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.einsum("jk,njkc->njc", weights, dense[:, candidates])


def nme(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    lo, hi = truth.min(1), truth.max(1)
    return np.linalg.norm(pred - truth, axis=2).mean(1) / np.sqrt(np.prod(hi - lo, axis=1))


def compact(candidates: np.ndarray, weights: np.ndarray, floor: float = 1e-3) -> tuple[list, list]:
    """Per-landmark point and weight lists without negligible weights, renormalised to sum to 1."""
    points, kept = [], []
    for cand, w in zip(candidates, weights):
        keep = w >= floor
        w = np.round(w[keep] / w[keep].sum(), 5)
        w[np.argmax(w)] += 1.0 - w.sum()
        points.append([int(c) for c in cand[keep]])
        kept.append([float(x) for x in w])
    return points, kept


def skin_points(ict) -> np.ndarray:
    """The edgeface-520 points on ICT-FaceKit's neutral face, NaN for the derived ones (pupils and
    earlobes seen in the image), which are not on the skin and never become candidates."""
    from . import topology
    from .morphable import MorphableModel

    topo = topology.load()
    points = MorphableModel.load(ict).neutral[np.asarray(topo["vertices"])].astype(np.float64)
    points[list(topo["extras"].values())] = np.nan
    return points


def align(pack, dataset: Aflw2000, ict, count: int = 16, backend: str = "onnx") -> dict:
    """Fit the pack's landmark definition on the even images of `dataset`, score it on the odd
    ones (and, as a second fold, the other way round), and write it into the pack's manifest.
    Each landmark's candidates are the `count` points nearest its vertex on ICT-FaceKit's
    neutral face (`ict`, the npz)."""
    import edgeface

    manifest = read_manifest(pack)
    neutral = skin_points(ict)
    if neutral.shape != (manifest.num_points, 3):
        raise ValueError(f"the model has {manifest.num_points} points, not edgeface-520's {neutral.shape[0]}")
    rec = edgeface.Reconstructor(backend, model=pack, precision="fp32")
    faces = predict_faces(rec, dataset)
    dense = np.stack([f.dense[:, :2] for f in faces]).astype(np.float64)
    truth = dataset.points68.astype(np.float64)
    bins = dataset.yaw_bin()
    candidates = neighbours(neutral, manifest.landmarks68, count)
    fixed = nme(dense[:, manifest.landmarks68], truth)
    halves = [np.arange(len(dataset)) % 2 == p for p in (FIT_PARITY, 1 - FIT_PARITY)]
    report = {"n_images": len(dataset), "neighbours": count}
    fitted = []  # fold 0's definition is the one written; fold 1 only checks it from the other side
    for fold, (fit_mask, test_mask) in enumerate((halves, halves[::-1])):
        fitted.append(fit(dense[fit_mask], truth[fit_mask], candidates))
        aligned = nme(landmarks(dense[test_mask], candidates, fitted[-1]), truth[test_mask])
        report[f"fold{fold}_fixed"] = nme_by_yaw(fixed[test_mask], bins[test_mask])
        report[f"fold{fold}_aligned"] = nme_by_yaw(aligned, bins[test_mask])
    for kind in ("fixed", "aligned"):
        report[f"two_fold_nme_balanced_{kind}"] = float(np.mean(
            [report[f"fold{f}_{kind}"]["nme_balanced"] for f in (0, 1)]))
    points, kept = compact(candidates, fitted[0])
    path = Path(pack) / MANIFEST_NAME
    data = json.loads(path.read_text())
    data["topology"]["landmark_weights"] = {
        "points": points, "weights": kept,
        "alignment": {"dataset": dataset.root.name, "names_sha256": names_digest(dataset.names),
                      "fit_parity": FIT_PARITY, "n_fit": int(halves[0].sum()), "neighbours": count,
                      "held_out_nme_balanced_fixed": report["fold0_fixed"]["nme_balanced"],
                      "held_out_nme_balanced_aligned": report["fold0_aligned"]["nme_balanced"]}}
    path.write_text(json.dumps(data, indent=1))
    read_manifest(pack)  # the written definition passes the runtime's own checks
    return report
