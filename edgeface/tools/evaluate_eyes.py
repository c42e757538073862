"""Eyes: how open each eye is from the 68 points, how the network's openings agree with AFLW2000-3D's,
and closed eyes on real photos against MERL-RAV's labelled eyelids (`edgeface evaluate eyes`)."""

from __future__ import annotations

import numpy as np

from .datasets import Aflw2000

#: the 68-point indices of the two eyes: the subject's right eye (outer corner, upper lid twice,
#: inner corner, lower lid twice), then the left one
EYE_POINTS = tuple(range(36, 48))


def eye_aperture(points68: np.ndarray) -> np.ndarray:
    """(..., 68, 2+) -> (..., 2) opening of each eye (subject's right, left): the mean lid gap over
    the eye's width, as the 68-point scheme places the lids."""
    return eye_opening(points68[..., EYE_POINTS, :])


def eye_opening(eyes: np.ndarray) -> np.ndarray:
    """`eye_aperture` from the 12 eye points alone, (..., 12, 2+) in EYE_POINTS order."""

    def one(a, b, c, d, corner0, corner1):
        gap = np.linalg.norm(eyes[..., a, :2] - eyes[..., b, :2], axis=-1) + np.linalg.norm(
            eyes[..., c, :2] - eyes[..., d, :2], axis=-1
        )
        return gap / np.maximum(2 * np.linalg.norm(eyes[..., corner0, :2] - eyes[..., corner1, :2], axis=-1), 1e-9)

    return np.stack([one(1, 5, 2, 4, 0, 3), one(7, 11, 8, 10, 6, 9)], -1)


def eyes_seen(visible68: np.ndarray) -> np.ndarray:
    """(N, 68) bool -> (N, 2): each eye (subject's right, left) with all six points visible."""
    return np.stack([visible68[:, 36:42].all(-1), visible68[:, 42:48].all(-1)], -1)


def eye_opening_agreement(faces: list, dataset: Aflw2000) -> dict:
    """Closed eyes on real photos: correlation (Pearson) over faces and eyes between the labelled
    eye aperture and the predicted one (from the landmarks), and the predicted eyeBlink weights
    (expected negative: a blink closes the lid). Profiles (|yaw| >= 60) are left out, where one
    eye's lids are hidden."""
    yaw = dataset.abs_yaw_degrees
    rows = [i for i, f in enumerate(faces) if f is not None and yaw[i] < 60]
    if len(rows) < 3:
        return {}
    truth = eye_aperture(dataset.points68[rows])
    predicted = eye_aperture(np.stack([faces[i].landmarks for i in rows]))
    out = {"eye_aperture_correlation": float(np.corrcoef(truth.ravel(), predicted.ravel())[0, 1])}
    blink = [[faces[i].expression.get("eyeBlink_R"), faces[i].expression.get("eyeBlink_L")] for i in rows]
    if all(v is not None for pair in blink for v in pair):
        out["eye_blink_correlation"] = float(np.corrcoef(truth.ravel(), np.asarray(blink, np.float64).ravel())[0, 1])
    return out


#: an eye opened less than this fraction of its width is labelled closed (as the eyelid branch learns it)
CLOSED_BELOW = 0.12


def evaluate_eyes(rec, root, held_out: bool = True, limit: int | None = None, progress: bool = True) -> dict:
    """Closed eyes on real photos, end to end: each photo of a folder with MERL-RAV's 68 points
    (`labels68.npz`, the AFLW training folder's layout) through the SDK, its most confident face
    against each eye whose six points are all labelled visible. An eye opened under CLOSED_BELOW
    of its width counts as closed. With `held_out`, only the crops the training stages hold out
    (`conventions.held_out_crops`). A photo without a face scores its eyes open (closure and
    blink 0) and leaves the opening correlation."""
    from ..runtime.errors import EdgefaceError
    from .conventions import held_out_crops
    from .evaluate_faces import LabelledPhotos, roc_auc, run_photos

    photos = LabelledPhotos.load(root, None, ("names", "points21", "visible", "yaw_degrees"))
    path = photos.root / "labels68.npz"
    if not path.is_file():
        raise EdgefaceError(f"{path} is missing: --dataset eyes needs MERL-RAV's 68 points (points68, state68, has68)")
    with np.load(path) as data:
        points, state, has68 = data["points68"], data["state68"], data["has68"]
    rows = held_out_crops(photos.labels) if held_out else np.arange(len(photos))
    rows = rows[has68[rows]]
    seen = eyes_seen(state[rows] == 1)
    rows, seen = rows[seen.any(-1)][:limit], seen[seen.any(-1)][:limit]
    faces = run_photos(rec, photos.subset(rows), progress, what="eyes")
    truth = eye_aperture(np.nan_to_num(points[rows]))
    found = np.array([f is not None for f in faces])

    def per_eye(read) -> np.ndarray:
        return np.array([[read(f, "R"), read(f, "L")] if f is not None else [0.0, 0.0] for f in faces], np.float64)

    names = rec.manifest.attribute_names or ()
    closure = (
        per_eye(lambda f, side: f.attributes[f"{'Right' if side == 'R' else 'Left'}_Eye_Closed"])
        if {"Left_Eye_Closed", "Right_Eye_Closed"} <= set(names)
        else None
    )
    blink = per_eye(lambda f, side: f.expression[f"eyeBlink_{side}"])
    opening = np.full(truth.shape, np.nan)
    if found.any():
        opening[found] = eye_aperture(np.stack([f.landmarks for f in faces if f is not None]))
    closed = truth[seen] < CLOSED_BELOW
    both = seen & found[:, None]
    result = {
        "n_images": int(len(rows)),
        "n_eyes": int(seen.sum()),
        "n_eyes_closed": int(closed.sum()),
        "detected_fraction": float(found.mean()) if len(found) else float("nan"),
        "eye_aperture_correlation": float(np.corrcoef(truth[both], opening[both])[0, 1]),
        "eye_blink_correlation": float(np.corrcoef(truth[seen], blink[seen])[0, 1]),
        "eye_blink_mean_closed": float(blink[seen][closed].mean()) if closed.any() else None,
        "eye_blink_mean_open": float(blink[seen][~closed].mean()),
        "eye_opening_mean_closed": float(np.nanmean(opening[seen][closed])) if closed.any() else None,
        "eye_opening_mean_open": float(np.nanmean(opening[seen][~closed])),
    }
    if closed.any() and (~closed).any():
        result["eye_blink_auc"] = roc_auc(blink[seen][closed], blink[seen][~closed])
        if closure is not None:
            said = closure[seen] >= 0.5
            result.update(
                eye_closed_auc=roc_auc(closure[seen][closed], closure[seen][~closed]),
                eye_closed_balanced_accuracy=float(0.5 * (said[closed].mean() + (~said[~closed]).mean())),
            )
    return result
