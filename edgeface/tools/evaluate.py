"""Measurements on labelled data: detector recall and latency (and, with a model, landmark NME).

Both are exposed by `edgeface evaluate`; the numbers in README come from these functions.
"""

from __future__ import annotations

import time

import numpy as np

from ..runtime.detectors import create as create_detector
from ..runtime.geometry import iou, landmark_box
from ..runtime.image import load_image
from .datasets import YAW_BINS, Aflw2000
from .evaluate_eyes import eye_opening_agreement
from .progress import tqdm


def evaluate_detector(
    dataset: Aflw2000, detector: str = "auto", min_iou: float = 0.3, progress: bool = True, **options
) -> dict:
    """Detection rate per |yaw| bin and latency on full images.

    A face counts as found when a detection overlaps the box of its 68 ground-truth landmarks
    with IoU >= `min_iou` (landmark boxes are tighter than detector boxes, hence the low bar;
    the crop rule's calibration below absorbs the difference). Also returns the median
    relation between matched detector boxes and landmark boxes, which calibrates the crop rule.
    """
    det = create_detector(detector, **options)
    found = np.zeros(len(dataset), bool)
    latency, relation = [], []
    for i in tqdm(range(len(dataset)), desc=f"detect ({det.name})", disable=not progress):
        image = load_image(dataset.image_path(i))
        start = time.perf_counter()
        detections = det(image)
        latency.append(time.perf_counter() - start)
        truth = landmark_box(dataset.points68[i])
        ious = list(iou(truth, [d.box for d in detections])) if detections else []
        if ious and max(ious) >= min_iou:
            found[i] = True
            box = detections[int(np.argmax(ious))].box
            size = 0.5 * (box[2] - box[0] + box[3] - box[1])
            tsize = 0.5 * (truth[2] - truth[0] + truth[3] - truth[1])
            relation.append(
                [
                    tsize / size,
                    ((truth[1] + truth[3]) - (box[1] + box[3])) / 2 / (box[3] - box[1]),
                    ((truth[0] + truth[2]) - (box[0] + box[2])) / 2 / (box[2] - box[0]),
                ]
            )
    bins = dataset.yaw_bin()
    result = {"detector": det.name, "n_images": len(dataset), "detected_fraction": float(found.mean())}
    for b, (lo, hi) in enumerate(YAW_BINS):
        mask = bins == b
        result[f"detected_{int(lo)}_{int(min(hi, 90))}"] = float(found[mask].mean()) if mask.any() else None
        result[f"n_{int(lo)}_{int(min(hi, 90))}"] = int(mask.sum())
    ms = np.array(latency) * 1000
    result.update(latency_ms_median=float(np.median(ms)), latency_ms_p90=float(np.percentile(ms, 90)))
    if relation:
        rel = np.median(np.array(relation), axis=0)
        result.update(
            landmark_box_size_ratio=float(rel[0]),
            landmark_box_shift_y=float(rel[1]),
            landmark_box_shift_x=float(rel[2]),
        )
    return result


#: AFLW2000-3D's `roi_box` -> the box of the 68 landmarks: (size ratio, centre shift down as a
#: fraction of box height); the median over the 500 dev images (10th-90th percentile of the
#: ratio: 0.65-0.72, shift within +-0.014). A fixed property of the benchmark's box convention.
AFLW2000_ROI_TO_LANDMARKS = (0.69, 0.0)


def nme_68(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean point error of 68 2D landmarks over sqrt(w * h) of the ground-truth landmark box."""
    x1, y1, x2, y2 = landmark_box(truth)
    return float(np.linalg.norm(pred[:, :2] - truth[:, :2], axis=1).mean() / np.sqrt((x2 - x1) * (y2 - y1)))


def aflw2000_angles(rotation: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) in degrees of a rotation (Pose.rotation) in AFLW2000-3D's Euler convention,
    R = Rx(-pitch) Ry(-yaw) Rz(-roll): the same three rotations as edgeface's own angles
    (edgeface.runtime.geometry: Rz Ry Rx) composed in the other order. Near frontal the two agree; as yaw
    grows, pitch and roll part ways (on the dev set's 60-90 bin, by 40 degrees and more), so the
    pose error is measured in the labels' convention."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(r[0, 2], -1.0, 1.0))
    pitch = np.arctan2(-r[1, 2], r[2, 2])
    roll = np.arctan2(-r[0, 1], r[0, 0])
    return -np.degrees(np.array([pitch, yaw, roll]))


def aflw2000_rotation(angles_deg) -> np.ndarray:
    """The rotation of (pitch, yaw, roll) degrees in AFLW2000-3D's Euler convention: the inverse of
    `aflw2000_angles`."""
    pitch, yaw, roll = np.radians(-np.asarray(angles_deg, np.float64))
    cp, sp, cy, sy, cr, sr = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rx @ ry @ rz


def rotation_error_deg(rotation, label_deg) -> float:
    """The angle in degrees of the rotation between a predicted rotation and a label's (pitch, yaw,
    roll) in AFLW2000-3D's convention, from their chordal distance (exact near zero, unlike arccos)."""
    chord = np.linalg.norm(np.asarray(rotation, np.float64) - aflw2000_rotation(label_deg))
    return float(np.degrees(2.0 * np.arcsin(min(chord / (2.0 * np.sqrt(2.0)), 1.0))))


#: Head-pose papers score AFLW2000 on the faces whose three label angles lie within this many degrees;
#: the few beyond it are labels past a half turn (-204 degrees of pitch) or profiles where the Euler
#: angles stop meaning anything.
POSE_LABEL_LIMIT_DEG = 99.0


def pose_errors(faces: list, dataset: Aflw2000) -> dict:
    """Per image (NaN where `faces` has None): `wrapped`, (N, 3) absolute pitch, yaw, roll errors in
    the labels' convention wrapped to +-180 degrees; `rotation`, (N,) the angle of the rotation between
    prediction and label; `within`, (N,) whether all three label angles lie within POSE_LABEL_LIMIT_DEG."""
    truth = np.degrees(dataset.pitch_yaw_roll)
    wrapped, rotation = np.full((len(faces), 3), np.nan), np.full(len(faces), np.nan)
    for i, face in enumerate(faces):
        if face is not None:
            wrapped[i] = np.abs((aflw2000_angles(face.pose.rotation) - truth[i] + 180.0) % 360.0 - 180.0)
            rotation[i] = rotation_error_deg(face.pose.rotation, truth[i])
    return {"wrapped": wrapped, "rotation": rotation, "within": (np.abs(truth) <= POSE_LABEL_LIMIT_DEG).all(1)}


def pose_figures(faces: list, dataset: Aflw2000) -> dict:
    """Two more views of the pose error than `pose_mae_deg` (every label, its angles as written):
    the mean absolute angle difference, wrapped to +-180 degrees, on the faces whose labels lie within
    POSE_LABEL_LIMIT_DEG (the head-pose literature's protocol); and the angle of the rotation between
    prediction and label (no Euler convention at all), mean and median, on every face."""
    errors = pose_errors(faces, dataset)
    found = np.isfinite(errors["rotation"])
    if not found.any():
        return {}
    inside = found & errors["within"]
    return {
        "pose_mae_deg_within_99": float(errors["wrapped"][inside].mean()) if inside.any() else float("nan"),
        "n_pose_within_99": int(inside.sum()),
        "pose_rotation_error_deg": float(errors["rotation"][found].mean()),
        "pose_rotation_error_median_deg": float(np.median(errors["rotation"][found])),
    }


def predict_faces(rec, dataset: Aflw2000, use_detector: bool = False, progress: bool = True) -> list:
    """One Face per image (None where the detector found nothing), cropped as `evaluate_landmarks` says."""
    from ..runtime.detectors import to_landmark_box

    faces = []
    for i in tqdm(range(len(dataset)), desc="evaluate", disable=not progress):
        image = load_image(dataset.image_path(i))
        if use_detector:
            found = rec(image)
            truth_box = landmark_box(dataset.points68[i])
            faces.append(found[int(np.argmax(iou(truth_box, [f.box for f in found])))] if found else None)
        else:
            faces.append(
                rec.from_landmark_boxes(image, [to_landmark_box(dataset.roi_box[i], AFLW2000_ROI_TO_LANDMARKS)])[0]
            )
    return faces


def nme_by_yaw(nme: np.ndarray, bins: np.ndarray, suffix: str = "") -> dict:
    """NME per |yaw| bin, their mean over the bins that hold faces (balanced) and the plain mean;
    NaN entries (no face) left out."""
    found = ~np.isnan(nme)
    result, per_bin = {}, []
    for b, (lo, hi) in enumerate(YAW_BINS):
        mask = (bins == b) & found
        value = float(nme[mask].mean()) if mask.any() else float("nan")
        result[f"nme_{int(lo)}_{int(min(hi, 90))}{suffix}"] = value
        per_bin.append(value)
    result[f"nme_balanced{suffix}"] = float(np.nanmean(per_bin)) if not np.isnan(per_bin).all() else float("nan")
    result[f"nme_mean{suffix}"] = float(nme[found].mean()) if found.any() else float("nan")
    return result


def evaluate_landmarks(rec, dataset: Aflw2000, use_detector: bool = False, progress: bool = True) -> dict:
    """68-point NME per |yaw| bin (3DDFA protocol) and pose error of a Reconstructor.

    Crops: each face's `roi_box` is mapped to a landmark box by AFLW2000_ROI_TO_LANDMARKS and
    cropped by the model's crop rule (`Reconstructor.from_landmark_boxes`), exactly as a detector
    box is after its own calibration. With `use_detector`, the runtime's detector runs on the full
    image instead and the detection that best overlaps the truth is scored; images where it finds
    nothing count in `detected_fraction` and are left out of the NME.

    When the model's landmark definition was aligned on this very dataset, the figures are also
    given for the images the alignment did not see (keys ending in `_held_out`).
    """
    return summarise_landmarks(predict_faces(rec, dataset, use_detector, progress), dataset, rec.manifest)


def landmark_errors(faces: list, dataset: Aflw2000) -> tuple[np.ndarray, np.ndarray]:
    """Per image: 68-point NME and absolute (pitch, yaw, roll) error in degrees, in the labels'
    convention; NaN where `faces` has None (no detection)."""
    nme = np.full(len(dataset), np.nan)
    pose_err = np.full((len(dataset), 3), np.nan)
    for i, face in enumerate(faces):
        if face is not None:
            nme[i] = nme_68(face.landmarks, dataset.points68[i])
            pose_err[i] = np.abs(aflw2000_angles(face.pose.rotation) - np.degrees(dataset.pitch_yaw_roll[i]))
    return nme, pose_err


def summarise_landmarks(faces: list, dataset: Aflw2000, manifest) -> dict:
    """`evaluate_landmarks`' figures from faces already predicted (one per image, None if missed)."""
    nme, pose_err = landmark_errors(faces, dataset)
    bins = dataset.yaw_bin()
    found = ~np.isnan(nme)
    result = {"n_images": len(dataset), "detected_fraction": float(found.mean())}
    result.update(nme_by_yaw(nme, bins))
    result["pose_mae_deg"] = float(np.nanmean(pose_err)) if found.any() else float("nan")
    result.update(pose_figures(faces, dataset))
    result.update(eye_opening_agreement(faces, dataset))
    held_out = alignment_held_out(manifest, dataset)
    if held_out is not None:
        result["n_held_out"] = int(held_out.sum())
        result.update(nme_by_yaw(nme[held_out], bins[held_out], "_held_out"))
    return result


def paired_difference(
    nme_a: np.ndarray, nme_b: np.ndarray, bins: np.ndarray, resamples: int = 2000, seed: int = 0
) -> dict:
    """Balanced NME of model a minus model b on the same images, with a 95 % interval from a paired
    bootstrap that resamples images within each |yaw| bin (so every resample stays balanced)."""
    groups = [np.flatnonzero(bins == b) for b in range(len(YAW_BINS)) if (bins == b).any()]

    def balanced(x, gs):
        return float(np.mean([x[g].mean() for g in gs]))

    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        gs = [rng.choice(g, len(g)) for g in groups]
        draws.append(balanced(nme_a, gs) - balanced(nme_b, gs))
    low, high = np.percentile(draws, [2.5, 97.5])
    return {
        "nme_balanced_a": balanced(nme_a, groups),
        "nme_balanced_b": balanced(nme_b, groups),
        "difference": balanced(nme_a, groups) - balanced(nme_b, groups),
        "difference_ci95_low": float(low),
        "difference_ci95_high": float(high),
    }


def compare_landmarks(rec_a, rec_b, dataset: Aflw2000, use_detector: bool = False, progress: bool = True) -> dict:
    """Two models on the same crops (ROI crops, or with `use_detector` each model's own detection):
    balanced NME of each and of their difference (a - b) with a paired-bootstrap 95 % interval.
    Where a model's landmark alignment used this dataset, only the images neither alignment saw are
    compared; end to end, only those where both found the face."""
    keep = np.ones(len(dataset), bool)
    for rec in (rec_a, rec_b):
        held_out = alignment_held_out(rec.manifest, dataset)
        if held_out is not None:
            keep &= held_out
    subset = dataset.subset(np.flatnonzero(keep))
    errors = [
        landmark_errors(predict_faces(rec, subset, use_detector, progress=progress), subset)[0]
        for rec in (rec_a, rec_b)
    ]
    both = np.isfinite(errors[0]) & np.isfinite(errors[1])
    yaw_bin = subset.yaw_bin()[both]
    return {"n_compared": int(both.sum()), **paired_difference(errors[0][both], errors[1][both], yaw_bin)}


def names_digest(names) -> str:
    """A fingerprint of a dataset's image list, in order (the alignment split is by position)."""
    import hashlib

    return hashlib.sha256("\n".join(str(n) for n in names).encode()).hexdigest()


def alignment_held_out(manifest, dataset: Aflw2000) -> np.ndarray | None:
    """Mask of the images a model's landmark alignment did not use, if it used this dataset."""
    info = manifest.landmark_alignment
    if not info or info.get("names_sha256") != names_digest(dataset.names):
        return None
    return np.arange(len(dataset)) % 2 != int(info["fit_parity"])


def equal_error_rate(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Verification EER of cosine similarity over all pairs: the rate at which false accepts of
    different people equal false rejects of the same person."""
    e = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-9)
    sim = e @ e.T
    i, j = np.triu_indices(len(e), 1)
    same = labels[i] == labels[j]
    if not same.any() or same.all():
        return float("nan")
    scores, same = sim[i, j], same
    order = np.argsort(-scores)
    same = same[order]
    far = np.cumsum(~same) / (~same).sum()  # accepting the top k pairs
    frr = 1.0 - np.cumsum(same) / same.sum()
    k = int(np.argmin(np.abs(far - frr)))
    return float(0.5 * (far[k] + frr[k]))


def synthetic_outputs(model, samples: list[dict], batch: int = 32) -> dict[str, np.ndarray]:
    """A Model's outputs for synthetic crops (edgeface.train.synthetic samples, RGB), in batches."""
    import cv2

    outputs: dict[str, list] = {}
    side = model.manifest.input_size
    for k in range(0, len(samples), batch):
        crops = np.stack(
            [
                s["image"][..., ::-1]
                if s["image"].shape[0] == side
                # RGB -> BGR
                else cv2.resize(s["image"][..., ::-1], (side, side), interpolation=cv2.INTER_AREA)
                for s in samples[k : k + batch]
            ]
        )
        for name, value in model(crops).items():
            outputs.setdefault(name, []).append(value)
    return {name: np.concatenate(v) for name, v in outputs.items()}


def evaluate_synthetic(model, samples: list[dict], attribute_names=(), batch: int = 32, outputs=None) -> dict:
    """Metrics on labelled synthetic crops (edgeface.train.synthetic samples, rendered at the
    model's input size by the runtime's crop rule), straight through a Model:
    68-point NME per |yaw| bin and balanced, dense-520 NME (both over sqrt(w * h) of the 68-point
    box), pose MAE, accuracy and balanced accuracy of each attribute the model and the labels
    share (`attribute_names` names the samples' attribute columns), and identity-verification EER
    across renders of the same people. `outputs`: the model's outputs for `samples`, if already run."""
    out = synthetic_outputs(model, samples, batch) if outputs is None else outputs
    size = samples[0]["image"].shape[0]
    dense = out["dense"][..., :2] * size
    truth = np.stack([s["points"][:, :2] for s in samples])
    lm = np.asarray(model.manifest.landmarks68)
    boxes = np.stack([landmark_box(t[lm]) for t in truth])
    norm = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    err = np.linalg.norm(dense - truth, axis=2) / norm[:, None]
    nme68, nme_dense = err[:, lm].mean(1), err.mean(1)
    yaw = np.degrees(np.abs(np.stack([s["pose"][1] for s in samples])))
    bins = np.digitize(np.minimum(yaw, 90.0), [30.0, 60.0])
    result = {"n_images": len(samples), **nme_by_yaw(nme68, bins)}
    result["nme_dense_mean"] = float(nme_dense.mean())
    pose = np.degrees(np.stack([s["pose"] for s in samples]))
    result["pose_mae_deg"] = float(np.abs(np.degrees(out["pose"][:, :3]) - pose).mean())
    label_names = list(attribute_names)
    if label_names:
        truth_attr = np.stack([s["attributes"] for s in samples])
        for k, name in enumerate(model.manifest.attribute_names):
            if name in label_names:
                t = truth_attr[:, label_names.index(name)]
                p = out["attributes"][:, k] > 0
                tpr = (p & t).sum() / max(t.sum(), 1)
                tnr = (~p & ~t).sum() / max((~t).sum(), 1)
                result[f"attribute_accuracy/{name}"] = float((p == t).mean())
                result[f"attribute_balanced_accuracy/{name}"] = float(0.5 * (tpr + tnr))
    if "identity_id" in samples[0]:
        result["identity_eer"] = equal_error_rate(out["identity"], np.array([int(s["identity_id"]) for s in samples]))
    return result
