"""What every layer agrees on, in one low-level module (numpy only): the trained networks' input
normalisation, how an AFLW training crop's face box follows from its 21 points, and which of the AFLW
training folder's crops the training stages hold out. Training (edgeface.train), export and the
evaluation tools all read these from here, so a held-out split or a normalisation is defined once."""

from __future__ import annotations

import numpy as np

#: input normalisation of every trained network: x = (pixel / 255 - MEAN) / STD per channel (RGB);
#: export writes it into each pack's manifest, which is what the runtime reads
MEAN, STD = 0.5, 0.5

#: the AFLW points that bound the face core (all but the ear lobes), and the measured ratio between
#: the box of the same points and the box of all 68 landmarks (median on AFLW2000-3D's 68 points;
#: both boxes share their vertical centre)
AFLW_CORE = [0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 14, 15, 17, 19, 20]
CORE_TO_68_BOX = 1.18
#: How the 68-landmark box parts from the visible core's box as the head turns: the visible core
#: (one eye, half the mouth...) shrinks and slides to the near side while the 68 points keep the
#: hidden jaw. Fitted by least squares on 4,000 synthetic faces (`core_box_drift`), in units of the
#: core box's mean side: centre shift = YAW_SHIFT * sin(yaw) along x; size grows by the factor
#: 1 + YAW_GROWTH[0] sin^2 + YAW_GROWTH[1] sin^4 over the frontal ratio (CORE_TO_68_BOX). Without
#: it, crops of real profile faces sat 0.17 face sizes off and 7 % tighter than the runtime's crop
#: of the same face, so the network learnt two framings for one pose.
YAW_SHIFT = 0.231
YAW_GROWTH = (0.080, 0.106)


def crop_labels(labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, visible, yaw in radians) of AFLW labels (a shard's or the folder's labels.npz);
    a point is visible only where it is annotated."""
    points = labels["points21"].astype(np.float32)
    return points, labels["visible"] & (points >= 0).all(-1), np.radians(labels["yaw_degrees"].astype(np.float32))


def usable_crops(points: np.ndarray, visible: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Rows of the crops whose visible core points span a face box (a few have one or two points only)."""
    ok = np.zeros(len(points), bool)
    for j in range(len(points)):
        if visible[j].sum() >= 3:
            box = face_box_from_aflw(points[j], visible[j], yaw[j])
            ok[j] = box[2] - box[0] >= 8.0
    return np.flatnonzero(ok)


def holdout_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) of n rows: the training stages' validation split."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(n * fraction))
    return np.sort(order[cut:]), np.sort(order[:cut])


def held_out_crops(labels: dict, fraction: float = 0.03, seed: int = 0) -> np.ndarray:
    """Rows of the AFLW training folder's labels that the training stages hold out (their
    validation split of the usable crops): real faces no shipped network was trained on."""
    usable = usable_crops(*crop_labels(labels))
    return usable[holdout_split(len(usable), fraction, seed)[1]]


def core_box(points: np.ndarray, visible: np.ndarray) -> tuple[float, float, float, float]:
    """The box of the visible core AFLW points (all visible points when fewer than 3 core ones are)."""
    core = [k for k in AFLW_CORE if visible[k]]
    p = points[core] if len(core) >= 3 else points[visible]
    (x1, y1), (x2, y2) = p.min(0), p.max(0)
    return float(x1), float(y1), float(x2), float(y2)


def face_box_from_aflw(points: np.ndarray, visible: np.ndarray, yaw: float = 0.0) -> np.ndarray:
    """Estimate of the 68-landmark box (the box the runtime crops by) from the visible core AFLW
    points and the head's yaw in radians (edgeface's sign: positive hides AFLW point 6)."""
    x1, y1, x2, y2 = core_box(points, visible)
    side = 0.5 * ((x2 - x1) + (y2 - y1))
    s2 = float(np.sin(yaw)) ** 2
    growth = 1.0 + YAW_GROWTH[0] * s2 + YAW_GROWTH[1] * s2 * s2
    cx, cy = 0.5 * (x1 + x2) + YAW_SHIFT * float(np.sin(yaw)) * side, 0.5 * (y1 + y2)
    half = 0.5 * CORE_TO_68_BOX * growth * side
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


def core_box_drift(samples: list[dict], aflw21: np.ndarray) -> dict:
    """Least-squares fit of the 68-point box against the visible core's box over synthetic samples
    (`SyntheticFaces.sample`): the constants YAW_SHIFT and YAW_GROWTH come from this, and a test
    checks that they still match the engine. `aflw21` (21, 520) maps dense points to AFLW's."""
    from ..runtime.geometry import landmark_box

    owner = np.argmax(aflw21, axis=1)  # a derived AFLW point is visible when its main vertex is
    rows = []
    for s in samples:
        visible = s["visible"][owner].astype(bool)
        if visible[AFLW_CORE].sum() < 3:
            continue
        x1, y1, x2, y2 = core_box(s["points21"], visible)
        t = np.asarray(landmark_box(s["landmarks68"][:, :2]), np.float64)
        side = 0.5 * ((x2 - x1) + (y2 - y1))
        rows.append(
            [s["pose"][1], 0.5 * ((t[2] - t[0]) + (t[3] - t[1])) / side, (0.5 * (t[0] + t[2]) - 0.5 * (x1 + x2)) / side]
        )
    yaw, ratio, shift = np.asarray(rows).T
    s2 = np.sin(yaw) ** 2
    growth, *_ = np.linalg.lstsq(np.stack([np.ones_like(s2), s2, s2 * s2], 1), ratio, rcond=None)
    slope = float(np.sin(yaw) @ shift / (np.sin(yaw) @ np.sin(yaw)))
    return {
        "yaw_shift": slope,
        "yaw_growth": (float(growth[1] / growth[0]), float(growth[2] / growth[0])),
        "frontal_ratio": float(growth[0]),
        "n": len(rows),
    }
