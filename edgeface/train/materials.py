"""The materials of a synthetic face: where skin, lips, brows, lash line, beard, cheeks, nostrils,
hairline, sclera, iris and pupil lie on the full ICT mesh, as per-vertex weights in [0, 1] computed
once on the neutral face, with smooth noise fields for blotches and grain. edgeface.train.appearance
paints people with them."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .morphable import MorphableModel


@dataclass
class Materials:
    """Per-vertex region weights in [0, 1] on the full ICT mesh, computed once on the neutral face."""

    skin: np.ndarray
    lips: np.ndarray
    brows: np.ndarray
    lash_line: np.ndarray
    beard: np.ndarray
    cheeks: np.ndarray
    nostrils: np.ndarray
    hair_height: np.ndarray  # cm above the hairline (negative below it)
    sclera: np.ndarray
    iris: np.ndarray
    pupil: np.ndarray
    mouth_inside: np.ndarray
    gums: np.ndarray
    teeth: np.ndarray
    eye_socket: np.ndarray
    noise: np.ndarray  # (V, 4) smooth noise fields
    grain: np.ndarray  # (V,) per-vertex noise (pores, stubble)
    two_sided: np.ndarray  # (T,) triangles drawn from both sides

    @classmethod
    def build(cls, model: MorphableModel, triangles: np.ndarray) -> "Materials":
        n, lm = model.neutral, model.neutral[model.landmarks68]
        v = len(n)
        rng = np.random.default_rng(1234)

        def in_part(*names):
            mask = np.zeros(v, bool)
            for name in names:
                mask[model.part(name)] = True
            return mask

        skin_mask = in_part("face", "head_neck")
        lips = _lips(n, lm, skin_mask)
        sclera, iris, pupil = _eyes(model)
        grain = rng.standard_normal(v).astype(np.float32)
        return cls(
            skin=skin_mask.astype(np.float32),
            lips=lips,
            brows=_brows(n, lm, skin_mask),
            lash_line=_lash_line(n, lm, skin_mask),
            beard=_beard(n, lm, skin_mask, lips),
            cheeks=_spots(
                n, [0.5 * (lm[2] + lm[31]) + [0, 1.2, 0], 0.5 * (lm[14] + lm[35]) + [0, 1.2, 0]], 1.3, skin_mask
            ),
            nostrils=_spots(
                n, [0.5 * (lm[a] + lm[b]) + [0, 0.25, -0.4] for a, b in ((31, 32), (35, 34))], 0.25, skin_mask
            ),
            hair_height=_hair_height(n, lm, skin_mask),
            sclera=sclera,
            iris=iris,
            pupil=pupil,
            mouth_inside=in_part("mouth_socket").astype(np.float32),
            gums=in_part("gums_tongue").astype(np.float32),
            teeth=in_part("teeth").astype(np.float32),
            eye_socket=in_part("eye_socket_left", "eye_socket_right").astype(np.float32),
            noise=_smooth_noise(triangles, 4, rng, 12),
            grain=grain,
            two_sided=_inside_triangles(model, triangles),
        )


def _front(n: np.ndarray, skin_mask: np.ndarray) -> np.ndarray:
    return skin_mask & (n[:, 2] > 4.0)


def _lips(n, lm, skin_mask) -> np.ndarray:
    """Inside the outer lip contour, fading over 2 mm."""
    front = _front(n, skin_mask)
    outer = lm[48:60, :2].astype(np.float32)
    inside = np.array([cv2.pointPolygonTest(outer, (float(x), float(y)), True) for x, y in n[front, :2]])
    lips = np.zeros(len(n), np.float32)
    lips[front] = np.clip(0.5 + inside / 0.2, 0, 1)
    return lips


def _brows(n, lm, skin_mask) -> np.ndarray:
    """A band along each brow's landmarks, thinning towards the ends."""
    front, xy = _front(n, skin_mask), n[:, :2]
    brows = np.zeros(len(n), np.float32)
    for idx in (range(17, 22), range(22, 27)):
        line = lm[list(idx), :2]
        d = _polyline_distance(xy[front], line)
        above = xy[front, 1] - np.interp(xy[front, 0], *(line[np.argsort(line[:, 0])].T))
        band = np.where(above > 0, d / 0.35, d / 0.55)
        along = np.clip((xy[front, 0] - line[:, 0].min()) / np.ptp(line[:, 0]), 0, 1)
        taper = 1.0 - 0.5 * (along if idx.start == 17 else 1 - along)  # thick at the inner end
        brows[front] = np.maximum(brows[front], np.clip(1.5 - band / taper, 0, 1))
    return brows


def _lash_line(n, lm, skin_mask) -> np.ndarray:
    """The lid margins (the upper lid darker)."""
    lash = np.zeros(len(n), np.float32)
    for ring in (list(range(36, 42)) + [36], list(range(42, 48)) + [42]):
        d = np.full(len(n), np.inf)
        for a, b in zip(ring[:-1], ring[1:]):
            pa, pb = lm[a], lm[b]
            t = np.clip(((n - pa) @ (pb - pa)) / ((pb - pa) @ (pb - pa)), 0, 1)
            dist = np.linalg.norm(n - (pa + t[:, None] * (pb - pa)), axis=1)
            d = np.minimum(d, dist / (1.0 if a in (37, 38, 43, 44, 36, 42) else 2.0))
        lash = np.maximum(lash, np.clip(1.0 - d / 0.18, 0, 1) * skin_mask)
    return lash


def _beard(n, lm, skin_mask, lips) -> np.ndarray:
    """Below the nose and on the jaw, not on the lips, fading out on the neck."""
    beard = np.zeros(len(n), np.float32)
    below_nose = (n[:, 1] < lm[33, 1] - 0.3) & (n[:, 1] > lm[8, 1] - 4.0) & (np.abs(n[:, 0]) < 7.5)
    beard[skin_mask & below_nose & (n[:, 2] > -1)] = 1.0
    beard *= 1.0 - np.clip(lips * 3, 0, 1)
    beard *= np.clip((lm[8, 1] - 4.0 - n[:, 1]) / -1.5, 0, 1)
    return beard


def _spots(n, centres, sigma: float, skin_mask) -> np.ndarray:
    """Gaussian spots of `sigma` cm around `centres` (the cheeks, the nostrils), on the skin."""
    out = np.zeros(len(n), np.float32)
    for centre in centres:
        out = np.maximum(out, np.exp(-np.sum((n - centre) ** 2, 1) / (2 * sigma**2)) * skin_mask)
    return out


def _hair_height(n, lm, skin_mask) -> np.ndarray:
    """Height above the hairline: high on the forehead, above the ears on the sides, the nape at the back."""
    brow_y = lm[17:27, 1].mean()
    line_y = np.interp(
        n[:, 2], [-8.0, -4.0, 1.0, 5.0, 8.0], [brow_y - 10.0, brow_y - 6.5, brow_y + 0.5, brow_y + 5.0, brow_y + 6.0]
    )
    return np.where(skin_mask, n[:, 1] - line_y, -99.0).astype(np.float32)


def _eyes(model: MorphableModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sclera, iris and pupil by the angle from each eyeball's forward axis."""
    n = model.neutral
    sclera, iris, pupil = (np.zeros(len(n), np.float32) for _ in range(3))
    for part in ("eyeball_left", "eyeball_right"):
        idx = model.part(part)
        centre = n[idx].mean(0)
        tip = n[idx[np.argmax(n[idx, 2])]]
        axis = (tip - centre) / np.linalg.norm(tip - centre)
        cos = ((n[idx] - centre) / np.linalg.norm(n[idx] - centre, axis=1, keepdims=True)) @ axis
        angle = np.degrees(np.arccos(np.clip(cos, -1, 1)))
        iris[idx] = np.clip((33 - angle) / 3, 0, 1)
        pupil[idx] = np.clip((13 - angle) / 2, 0, 1)
        sclera[idx] = 1 - iris[idx]
    return sclera, iris, pupil


def _inside_triangles(model: MorphableModel, triangles: np.ndarray) -> np.ndarray:
    """The mouth's and the eye sockets' triangles, seen from inside (drawn from both sides)."""
    inside = np.zeros(len(triangles), bool)
    for name in ("mouth_socket", "gums_tongue", "teeth", "eye_socket_left", "eye_socket_right"):
        a, b = model.part_ranges[name]
        inside |= (triangles[:, 0] >= a) & (triangles[:, 0] < b)
    return inside


def _polyline_distance(points2d: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Distance of (N, 2) points to a polyline of (M, 2) vertices."""
    best = np.full(len(points2d), np.inf)
    for a, b in zip(line[:-1], line[1:]):
        ab = b - a
        t = np.clip(((points2d - a) @ ab) / max(ab @ ab, 1e-9), 0, 1)
        best = np.minimum(best, np.linalg.norm(points2d - (a + t[:, None] * ab), axis=1))
    return best


def _smooth_noise(triangles: np.ndarray, count: int, rng, iterations: int) -> np.ndarray:
    """Per-vertex noise fields smoothed over the mesh's neighbours: blotches at skin scale."""
    from scipy.sparse import coo_matrix

    v = int(triangles.max()) + 1
    rows = np.concatenate([triangles[:, 0], triangles[:, 1], triangles[:, 2], np.arange(v)])
    cols = np.concatenate([triangles[:, 1], triangles[:, 2], triangles[:, 0], np.arange(v)])
    adj = coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(v, v)).tocsr()
    adj = adj + adj.T
    adj = adj.multiply(1.0 / np.asarray(adj.sum(1))).tocsr()
    x = rng.standard_normal((v, count)).astype(np.float32)
    for _ in range(iterations):
        x = adj @ x
    return ((x - x.mean(0)) / (x.std(0) + 1e-9)).astype(np.float32)
