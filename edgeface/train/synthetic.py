"""The synthetic face engine: ICT-FaceKit faces rendered into runtime-style crops with full 3D labels.
Shards on disk, the datasets over them and the contact sheet are in `synthetic_sets`.

One sample is a pure function of (seed, index): the same on a laptop, in CI and on a GPU machine.
Renders come in groups of `renders_per_identity` consecutive indices that share one person (shape
and look) under different poses, expressions, lights, scenes and occluders: what the SIR identity
loss needs.

    edgeface synthesize write --out .shards/synthetic --count 20000 --workers 2
    edgeface synthesize sheet --out docs/synthetic_contact_sheet.jpg

Labels, per sample (image pixels: pixel (i, j)'s centre is at x = j + 0.5, y = i + 0.5):
- `points` (520, 3): the edgeface-520 points; x, y in crop pixels, z towards the camera in the same
  scale (perspective depth relative to the face centre, scaled like x and y at that depth);
- `visible` (520,): not hidden by the head itself (z-buffer) and inside the crop; `occluded` (520,):
  covered by a hand, glasses, an object, hair or a cap drawn over the face;
- `landmarks68` (68, 3), `points21` (21, 2): subsets in AFLW's 21-point definitions;
- `pose` (pitch, yaw, roll) radians in edgeface.runtime.geometry's convention, `rotation` (3, 3),
  `translation` (2,): the face centre in crop-normalised units, `scale`: crop-normalised units per cm
  at the face centre (the network's weak-perspective pose);
- `identity` (100,), `identity_id`, `expression` (53, ARKit names), `attributes` (22, bool; names and
  rules in edgeface.train.attributes), `archetype` (the expression prior's draw);
- `mask` (size, size) uint8: the head's coverage before occluders (rendered samples only, not shards).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..runtime.geometry import euler_to_matrix, landmark_box, matrix_to_euler, square_crop
from . import appearance, attributes, topology
from .materials import Materials
from .morphable import MorphableModel
from .raster import rasterize, shade, vertex_normals
from .sampling import ARCHETYPES, sample_expression, sample_identity

LABEL_KEYS = (
    "points",
    "visible",
    "occluded",
    "landmarks68",
    "points21",
    "pose",
    "rotation",
    "translation",
    "scale",
    "identity",
    "identity_id",
    "expression",
    "attributes",
    "archetype",
)


@dataclass
class SyntheticConfig:
    size: int = 128  # output crop side, pixels
    supersample: int = 2  # rendered at size * supersample, then area-averaged (anti-aliasing)
    renders_per_identity: int = 4
    crop_scale: float = 1.4  # the runtime's rule: square_crop(landmark box, crop_scale, crop_shift_y)
    crop_shift_y: float = 0.0
    scale_jitter: float = 0.15  # log-scale of the crop side, uniform +-
    centre_jitter: float = 0.08  # crop centre, uniform +- this fraction of the side
    occluders: float = 1.0  # multiplies every occluder's probability (0 turns them off)
    degrade: bool = True


def sample_pose(rng: np.random.Generator) -> tuple[float, float, float]:
    """(pitch, yaw, roll) radians: half near-frontal, half spread over the whole range, so that
    every AFLW2000-3D yaw bin is well covered."""
    yaw = rng.normal(0, 25) if rng.random() < 0.5 else rng.uniform(-90, 90)
    pitch = rng.normal(0, 14) if rng.random() < 0.85 else rng.uniform(-50, 50)
    roll = rng.normal(0, 10) if rng.random() < 0.85 else rng.uniform(-40, 40)
    return tuple(float(np.radians(np.clip(a, -lim, lim))) for a, lim in ((pitch, 50), (yaw, 90), (roll, 40)))


def _towards_axis(direction) -> np.ndarray:
    """The smallest rotation taking `direction` onto the camera axis (0, 0, -1). A face off the
    image centre is seen from the side a little: labels give its rotation relative to the line of
    sight, which is what a crop of it shows (and what a crop-based network can predict)."""
    d = np.asarray(direction, np.float64) / np.linalg.norm(direction)
    axis = np.cross(d, [0.0, 0.0, -1.0])
    sin, cos = np.linalg.norm(axis), -d[2]
    if sin < 1e-9:
        return np.eye(3)
    k = axis / sin
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + sin * kx + (1 - cos) * kx @ kx


class SyntheticFaces:
    """Renders labelled samples: `sample(i)`, or `batch(indices)` for several."""

    def __init__(self, model: MorphableModel, config: SyntheticConfig | None = None, seed: int = 0, topo=None):
        if model.vertex_ids is not None or not len(model.triangles):
            raise ValueError("the synthetic engine needs the full ICT-FaceKit model, not a subset")
        self.config, self.seed = config or SyntheticConfig(), seed
        self.topology = topo or topology.load()
        self.model = model
        v = model.num_vertices
        self.id_basis = model.id_basis.reshape(len(model.id_basis), v * 3).astype(np.float32)
        self.exp_basis = model.exp_basis.reshape(len(model.exp_basis), v * 3).astype(np.float32)
        self.triangles = model.triangles.astype(np.int32)
        self.materials = Materials.build(model, self.triangles)
        self.dense_ids = np.array(self.topology["vertices"])
        self.lm68 = np.array(self.topology["landmarks68"])
        self.aflw21 = topology.aflw21_matrix(self.topology)
        n_extra = len(self.topology["extras"])
        self.centre = model.neutral[self.dense_ids[: len(self.dense_ids) - n_extra]].mean(0)
        self.pivot = np.array([0.0, -2.0, 0.0], np.float32)
        self.thresholds = attributes.load()
        self.attribute_names = list(self.thresholds)
        self.archetypes = list(ARCHETYPES)
        self.scalp = np.flatnonzero(self.materials.hair_height > -1.0)
        self._last_person = (None, None)

    # ---- people and draws -------------------------------------------------------------------
    def person_of(self, index: int) -> int:
        return index // self.config.renders_per_identity

    def _identity(self, person: int):
        """A person's coefficients, look, albedo and neutral shape; the last person is cached
        (renders come in groups of one person)."""
        if self._last_person[0] != person:
            rng = np.random.default_rng((self.seed, 1, person))
            identity, look = sample_identity(rng, len(self.model.id_basis)), appearance.Person.sample(rng)
            shape = self.model.neutral.reshape(-1) + identity @ self.id_basis
            self._last_person = (person, (identity, look, look.albedo(self.materials), shape))
        return self._last_person[1]

    def sample(self, index: int) -> dict:
        identity, person, albedo, shape = self._identity(self.person_of(index))
        rng = np.random.default_rng((self.seed, 2, int(index)))
        expression, archetype = sample_expression(rng, self.model.exp_names)
        # one vector-matrix product per sample, never a batched one: its rounding, and so every
        # pixel, must not depend on which other samples were rendered alongside
        vertices = (shape + expression @ self.exp_basis).reshape(-1, 3)
        return self._render(vertices, int(index), identity, person, albedo, expression, archetype, rng)

    def batch(self, indices) -> list[dict]:
        return [self.sample(i) for i in indices]

    # ---- one sample ---------------------------------------------------------------------------
    def _render(self, verts, index, identity, person, albedo, expression, archetype, rng) -> dict:
        cfg = self.config
        pitch, yaw, roll = sample_pose(rng)
        rotation = euler_to_matrix(pitch, yaw, roll)
        distance = float(np.exp(rng.uniform(np.log(35), np.log(250))))
        off_axis = np.tan(np.radians(rng.uniform(-15, 15, 2))) * distance
        t = np.array([off_axis[0], off_axis[1], -distance], np.float32)
        cam = (verts - self.pivot) @ rotation.T + t  # camera looks down -z
        depth = -cam[:, 2]
        proj = np.stack([cam[:, 0] / depth, -cam[:, 1] / depth], 1)

        lm68_ids = self.dense_ids[self.lm68]
        crop = square_crop(
            landmark_box(proj[lm68_ids]),
            cfg.crop_scale * np.exp(rng.uniform(-1, 1) * cfg.scale_jitter),
            cfg.crop_shift_y,
        )
        shift = rng.uniform(-1, 1, 2) * cfg.centre_jitter * crop.size
        x0, y0, side = crop.x0 + shift[0], crop.y0 + shift[1], crop.size
        big = cfg.size * cfg.supersample
        pix = ((proj - [x0, y0]) / side * big).astype(np.float32)

        normals = vertex_normals(cam, self.triangles)
        radiance = shade(albedo[0], albedo[1], normals, cam, **appearance.lights(rng))
        image, zbuf, tbuf = rasterize(
            pix, depth.astype(np.float32), radiance, self.triangles, self.materials.two_sided, big, big
        )
        mask = (tbuf >= 0).astype(np.float32)
        if cfg.supersample > 1:  # average in linear light; the scene behind is drawn at the output size
            image = cv2.resize(image, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
            mask = cv2.resize(mask, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
        # image is premultiplied by the mask (empty pixels are 0), so the edge blends with the scene
        face = (
            appearance.to_srgb(image * np.float32(rng.uniform(0.8, 1.3)) / np.maximum(mask, 1e-6)[..., None])
            * mask[..., None]
        )
        back = appearance.background(cfg.size, rng)
        self._torso(back, rotation, t, x0, y0, side, rng)
        if person.hairline_shift < 3:
            self._hair_volume(back, pix / cfg.supersample, person, rng)
        out = face + back * (1 - mask[..., None])

        # labels, at the output resolution
        scale_out = cfg.size / big
        dense_pix = pix[self.dense_ids] * scale_out
        centre_cam = (self.centre - self.pivot) @ rotation.T + t
        centre_depth = -centre_cam[2]
        seen = _towards_axis(centre_cam) @ rotation  # the head's rotation as the crop shows it
        z = (cam[self.dense_ids, 2] - centre_cam[2]) / centre_depth / side * cfg.size
        points = np.concatenate([dense_pix, z[:, None]], 1).astype(np.float32)
        visible = self._visible(pix[self.dense_ids], depth[self.dense_ids], zbuf)

        occlusion = np.zeros((cfg.size, cfg.size), np.float32)
        self._occlude(out, occlusion, points, person, rng)
        inside = (points[:, :2] >= 0).all(1) & (points[:, :2] < cfg.size).all(1)
        ij = np.clip(points[:, :2].astype(int), 0, cfg.size - 1)
        occluded = inside & (occlusion[ij[:, 1], ij[:, 0]] > 0.5)
        final = appearance.degrade(out, rng) if cfg.degrade else (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)

        return {
            "image": final,
            "mask": (np.clip(mask, 0, 1) * 255 + 0.5).astype(np.uint8),  # head coverage, before occluders
            "points": points,
            "visible": visible & inside,
            "occluded": occluded,
            "landmarks68": points[self.lm68],
            "points21": (self.aflw21 @ points[:, :2]).astype(np.float32),
            "pose": np.array(matrix_to_euler(seen), np.float32),
            "rotation": seen.astype(np.float32),
            "translation": np.array(
                [(-centre_cam[0] / centre_cam[2] - x0) / side, (centre_cam[1] / centre_cam[2] - y0) / side], np.float32
            ),
            "scale": np.float32(1.0 / (centre_depth * side)),
            "identity": identity.astype(np.float32),
            "identity_id": np.int64(self.person_of(index)),
            "expression": expression.astype(np.float32),
            "attributes": self.attributes(identity, expression),
            "archetype": np.int64(self.archetypes.index(archetype)),
        }

    def attributes(self, identity, expression) -> np.ndarray:
        """The attribute labels (self.attribute_names): identity ones measured on the person's
        neutral face, expression ones on the face as rendered."""
        lm = self.model.landmarks68
        neutral = self.model.neutral[lm] + np.tensordot(identity, self.model.id_basis[:, lm], axes=1)
        expressive = neutral + np.tensordot(expression, self.model.exp_basis[:, lm], axes=1)
        flags = attributes.label(neutral, self.thresholds, ("identity",))
        flags.update(attributes.label(expressive, self.thresholds, ("expression",)))
        return np.array([bool(flags[n]) for n in self.attribute_names])

    def _visible(self, pix, depth, zbuf) -> np.ndarray:
        """A point is visible when some pixel of its 3x3 neighbourhood shows its own surface (or
        nothing): the neighbourhood keeps points on the silhouette visible, and the 0.4 cm margin
        absorbs the depth buffer's interpolation error."""
        h, w = zbuf.shape
        ij = np.floor(pix).astype(int)
        inside = (ij[:, 0] >= 0) & (ij[:, 0] < w) & (ij[:, 1] >= 0) & (ij[:, 1] < h)
        padded = np.pad(zbuf, 1, constant_values=np.inf)
        window = np.stack(
            [
                padded[np.clip(ij[:, 1] + dy, 0, h + 1), np.clip(ij[:, 0] + dx, 0, w + 1)]
                for dy in (0, 1, 2)
                for dx in (0, 1, 2)
            ],
            1,
        )
        nearest_ok = (depth[:, None] <= window + 0.4).any(1)
        return inside & nearest_ok

    def _torso(self, canvas, rotation, t, x0, y0, side, rng):
        """Shoulders under the neck in a shirt colour, so the neck does not end in mid-air."""
        size = canvas.shape[0]
        neck = np.array([0.0, -26.0, -4.0], np.float32)
        yaw_only = euler_to_matrix(0.0, float(np.arcsin(np.clip(-rotation[2, 0], -1, 1))) * 0.5, 0.0)
        c = (neck - self.pivot) @ yaw_only.T + t
        p = (np.array([c[0] / -c[2], -c[1] / -c[2]]) - [x0, y0]) / side * size
        half = 22.0 / -c[2] / side * size
        colour = tuple(float(x) for x in rng.uniform(0, 1, 3) * rng.uniform(0.3, 1.0))
        cv2.ellipse(canvas, (int(p[0]), int(p[1] + half * 0.6)), (int(half), int(half * 0.8)), 0, 180, 360, colour, -1)
        cv2.rectangle(canvas, (int(p[0] - half), int(p[1] + half * 0.6)), (int(p[0] + half), size), colour, -1)

    def _hair_volume(self, canvas, pix, person, rng):
        """Hair standing off the scalp (and falling to the shoulders for long hair), behind the face."""
        scalp = pix[self.scalp[self.materials.hair_height[self.scalp] > person.hairline_shift + 0.5]]
        if len(scalp) < 3:
            return
        hull = cv2.convexHull(scalp.astype(np.float32)).reshape(-1, 2)
        centre = hull.mean(0)
        grown = centre + (hull - centre) * rng.uniform(1.02, 1.12)
        if person.long_hair:
            low = grown[:, 1] > centre[1]
            grown[low, 1] += rng.uniform(0.3, 0.9) * np.ptp(hull[:, 1])
        colour = appearance.to_srgb(person.hair * rng.uniform(0.7, 1.2))
        cv2.fillPoly(
            canvas, [np.round(grown * 4).astype(np.int32)], tuple(float(c) for c in colour), cv2.LINE_AA, shift=2
        )

    def _occlude(self, img, mask, points, person, rng):
        """Things in front of the face, drawn at the output resolution into `img` and `mask`."""
        size, p = self.config.size, self.config.occluders
        lm = points[self.lm68, :2]
        face_w = float(np.ptp(lm[:, 0]) + np.ptp(lm[:, 1])) / 2
        if person.fringe or rng.random() < 0.05 * p:
            brow = lm[17:27]
            top = brow - [0, face_w * rng.uniform(0.4, 0.7)]
            n = int(rng.integers(10, 40))
            k = rng.integers(0, len(brow), n)
            roots = top[k] + rng.normal(0, face_w * 0.05, (n, 2))
            tips = brow[k] + rng.normal(0, face_w * 0.06, (n, 2)) - [0, face_w * rng.uniform(-0.05, 0.15)]
            appearance.draw_hair_strands(img, mask, roots, tips, appearance.to_srgb(person.hair), rng, size / 90)
        if person.long_hair and rng.random() < 0.4:
            n = int(rng.integers(10, 30))
            side_pts = lm[[0, 16][int(rng.integers(0, 2))]]
            roots = side_pts - [0, face_w * 0.7] + rng.normal(0, face_w * 0.08, (n, 2))
            tips = side_pts + [0, face_w * rng.uniform(0.2, 0.8)] + rng.normal(0, face_w * 0.08, (n, 2))
            appearance.draw_hair_strands(img, mask, roots, tips, appearance.to_srgb(person.hair), rng, size / 80)
        if rng.random() < 0.07 * p:  # a cap over the scalp with a brim above the brows
            brow = lm[17:27]
            top = brow.mean(0) - [0, face_w * 1.1]
            pts = np.concatenate([brow - [0, face_w * 0.12], [top + [face_w * 0.7, 0], top - [face_w * 0.7, 0]]])
            hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
            colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
            layer = np.zeros_like(mask)
            cv2.fillPoly(layer, [np.round(hull * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
            img[:] = img * (1 - layer[..., None]) + np.array(colour, np.float32) * layer[..., None]
            np.maximum(mask, layer, out=mask)
        if rng.random() < 0.15 * p:
            eyes = np.stack([lm[36:42].mean(0), lm[42:48].mean(0)])
            ears = points[
                [self.topology["extras"]["earlobe_image_left"], self.topology["extras"]["earlobe_image_right"]], :2
            ]
            ears = ears - [0, face_w * 0.25]
            appearance.draw_glasses(img, mask, eyes, ears, rng, sunglasses=rng.random() < 0.2)
        if rng.random() < 0.12 * p:
            centre = lm[rng.integers(0, 68)] + rng.normal(0, face_w * 0.15, 2)
            appearance.draw_hand(img, mask, centre, face_w * rng.uniform(0.35, 0.6), person.skin, rng)
        if rng.random() < 0.1 * p:
            appearance.draw_object(img, mask, size, rng)


#: The seed reserved for held-out evaluation (the INT8 gate, `edgeface evaluate synthetic`,
#: training-time validation); training runs use small seeds.
HELD_OUT_SEED = 2**31 - 1


def held_out(
    ict, size: int, crop_scale: float, crop_shift_y: float = 0.0, count: int = 256
) -> tuple[list[dict], list[str]]:
    """Held-out samples at a model's input size and crop rule, and the names of their attribute columns."""
    engine = SyntheticFaces(
        MorphableModel.load(ict),
        SyntheticConfig(size=size, crop_scale=crop_scale, crop_shift_y=crop_shift_y),
        HELD_OUT_SEED,
    )
    return engine.batch(range(count)), engine.attribute_names
