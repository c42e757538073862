"""How synthetic faces look: materials painted on the ICT mesh, people, lights, backgrounds,
occluders and camera degradations. Geometry and labels live in edgeface.train.synthetic.

Everything is procedural (no texture files, nothing downloaded) and drawn from a seeded
numpy Generator, so a sample is a pure function of (seed, index).

Colours are linear RGB in [0, 1] until `to_srgb`; images are float32 (H, W, 3) RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .materials import Materials

#: Skin reflectance (sRGB) from very light to very deep, spaced so a uniform draw over the
#: interpolated scale covers the human range evenly rather than favouring light skin.
SKIN_TONES = (
    np.array(
        [
            [246, 226, 212],
            [240, 214, 190],
            [232, 196, 164],
            [218, 178, 140],
            [200, 154, 114],
            [174, 124, 86],
            [142, 96, 64],
            [112, 72, 50],
            [84, 54, 40],
            [58, 40, 32],
        ],
        np.float32,
    )
    / 255.0
)
HAIR_COLOURS = (
    np.array(
        [  # black, dark brown, brown, light brown, blond, red, grey, white
            [20, 18, 17],
            [45, 32, 25],
            [80, 56, 38],
            [120, 90, 60],
            [190, 160, 110],
            [140, 70, 40],
            [130, 128, 125],
            [210, 208, 205],
        ],
        np.float32,
    )
    / 255.0
)
EYE_COLOURS = (
    np.array(
        [  # dark brown, brown, hazel, green, blue, grey
            [45, 28, 18],
            [85, 55, 30],
            [110, 90, 50],
            [80, 110, 70],
            [70, 110, 160],
            [120, 130, 135],
        ],
        np.float32,
    )
    / 255.0
)


def srgb_to_linear(c):
    return np.power(np.clip(c, 0, 1), 2.2)


def to_srgb(c):
    return np.power(np.clip(c, 0, 1), 1 / 2.2)


@dataclass
class Person:
    """What stays the same across renders of one identity."""

    skin: np.ndarray  # linear RGB
    hair: np.ndarray
    brow: np.ndarray
    eye: np.ndarray
    lip: np.ndarray
    beard_density: float
    hairline_shift: float  # cm; large for bald heads
    long_hair: bool
    fringe: bool
    blotch: float
    blotch_mix: np.ndarray  # weights of the smooth noise fields: where this person's skin is uneven

    def __post_init__(self):
        for name in ("skin", "hair", "brow", "eye", "lip"):
            setattr(self, name, np.asarray(getattr(self, name), np.float32))

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Person":
        t = rng.uniform(0, len(SKIN_TONES) - 1)
        k = int(t)
        skin = SKIN_TONES[k] + (t - k) * (SKIN_TONES[min(k + 1, len(SKIN_TONES) - 1)] - SKIN_TONES[k])
        skin = np.clip(skin * rng.uniform(0.94, 1.06, 3), 0, 1)
        dark = t / (len(SKIN_TONES) - 1)
        # hair colour follows skin tone loosely: deep skin tones mostly have black or dark hair
        p = np.array([0.3 + 0.5 * dark, 0.25, 0.15, 0.08 * (1 - dark), 0.1 * (1 - dark), 0.04 * (1 - dark), 0.06, 0.02])
        hair = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=p / p.sum())] * rng.uniform(0.85, 1.15)
        pe = np.array([0.35 + 0.5 * dark, 0.25, 0.12, 0.08 * (1 - dark), 0.15 * (1 - dark), 0.05])
        eye = EYE_COLOURS[rng.choice(len(EYE_COLOURS), p=pe / pe.sum())] * rng.uniform(0.8, 1.2)
        lip = skin * np.array([0.85, 0.55, 0.55]) * rng.uniform(0.8, 1.0)
        if rng.random() < 0.12:  # lipstick
            lip = np.array([rng.uniform(0.5, 0.8), rng.uniform(0.05, 0.2), rng.uniform(0.1, 0.3)])
        bald = rng.random() < 0.08
        return cls(
            skin=srgb_to_linear(skin),
            hair=srgb_to_linear(np.clip(hair, 0, 1)),
            brow=srgb_to_linear(np.clip(hair * rng.uniform(0.5, 0.9), 0, 1)),
            eye=srgb_to_linear(np.clip(eye, 0, 1)),
            lip=srgb_to_linear(np.clip(lip, 0, 1)),
            beard_density=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.25 else 0.0,
            hairline_shift=float(rng.uniform(4, 9) if bald else rng.normal(0, 0.8)),
            long_hair=bool(rng.random() < 0.4),
            fringe=bool(rng.random() < 0.2),
            blotch=float(rng.uniform(0.02, 0.08)),
            blotch_mix=rng.standard_normal(4).astype(np.float32),
        )

    def albedo(self, m: Materials) -> tuple[np.ndarray, np.ndarray]:
        """Per-vertex linear albedo (V, 3) and specular strength (V,): the same in every render."""
        f = np.float32
        noise = m.noise @ self.blotch_mix / 2
        skin = self.skin.astype(f)[None] * (1 + f(self.blotch) * noise[:, None] + f(0.03) * m.grain[:, None])
        redness = np.array([1.0, 0.82, 0.82], f)
        skin = skin * (1 - 0.25 * m.cheeks[:, None] * (1 - redness)) * (1 - 0.7 * m.nostrils[:, None])
        colour = skin
        colour = colour + m.lips[:, None] * (self.lip[None] - colour)
        hair = np.clip((m.hair_height - self.hairline_shift + 0.6 * noise) / 0.8, 0, 1)[:, None]
        colour = colour + hair * (self.hair[None] * (1 + 0.15 * m.grain[:, None]) - colour)
        if self.beard_density:
            stubble = np.clip(m.beard * self.beard_density * (0.7 + 0.3 * m.grain) + 0.2 * noise * m.beard, 0, 1)[
                :, None
            ]
            colour = colour + stubble * (self.hair[None] * 0.9 - colour)
        colour = colour + m.brows[:, None] * (self.brow[None] - colour)
        colour = colour * (1 - 0.8 * m.lash_line[:, None])
        eye = m.sclera[:, None] * np.array([0.75, 0.72, 0.7], f) + m.iris[:, None] * self.eye[None]
        eye = eye * (1 - 0.95 * m.pupil[:, None])
        eyes = (m.sclera + m.iris)[:, None]
        colour = colour * (1 - eyes) + eye
        colour = np.where(m.mouth_inside[:, None] > 0, self.lip[None] * 0.15, colour)
        colour = np.where(m.gums[:, None] > 0, np.array([0.45, 0.12, 0.12], f), colour)
        colour = np.where(m.teeth[:, None] > 0, np.array([0.7, 0.65, 0.55], f), colour)
        colour = np.where(m.eye_socket[:, None] > 0, self.skin[None] * 0.3, colour)
        specular = 0.05 + 0.08 * m.lips - 0.05 * hair[:, 0] + 0.6 * eyes[:, 0] + 0.15 * m.teeth
        return colour.astype(np.float32), specular.astype(np.float32)


def lights(rng: np.random.Generator) -> dict:
    """A sky-like ambient term and one or two coloured directional lights from the front half-space,
    mostly from above, with their highlight sharpness: the arguments of raster.shade."""
    count = 1 if rng.random() < 0.5 else 2
    directions, colours = [], []
    for k in range(count):
        azimuth, elevation = rng.uniform(-1.3, 1.3), rng.uniform(-0.3, 1.0)
        directions.append([np.sin(azimuth) * np.cos(elevation), np.sin(elevation), np.cos(azimuth) * np.cos(elevation)])
        colours.append(
            rng.uniform(0.5, 1.1)
            * (1 if k == 0 else 0.5)
            * np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.7, 1.05)])
        )
    return {
        "ambient": (rng.uniform(0.15, 0.55) * rng.uniform(0.9, 1.1, 3)).astype(np.float32),
        "sky": np.float32(rng.uniform(0.0, 0.2)),
        "light_dirs": np.array(directions, np.float32),
        "light_colours": np.array(colours, np.float32),
        "shininess": rng.uniform(12, 40, count).astype(np.float32),
    }


def background(size: int, rng: np.random.Generator) -> np.ndarray:
    """A procedural scene: gradients, blurred blobs, clutter of shapes and lines, sometimes stripes."""
    base = rng.uniform(0, 1, 3)
    img = np.empty((size, size, 3), np.float32)
    ramp = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    angle = rng.uniform(0, np.pi)
    grad = np.cos(angle) * ramp[None, :] + np.sin(angle) * ramp[:, None]
    img[:] = base + grad[..., None] * rng.uniform(-0.5, 0.5, 3)
    low = rng.uniform(0, 1, (rng.integers(2, 8), rng.integers(2, 8), 3)).astype(np.float32)
    img += (cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC) - 0.5) * rng.uniform(0, 0.6)
    for _ in range(rng.integers(0, 12)):
        colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
        kind = rng.integers(0, 4)
        p = rng.integers(-size // 4, size + size // 4, 4)
        if kind == 0:
            cv2.rectangle(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, -1)
        elif kind == 1:
            cv2.circle(img, (int(p[0]), int(p[1])), int(rng.integers(2, size // 3)), colour, -1)
        elif kind == 2:
            cv2.line(img, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), colour, int(rng.integers(1, 6)))
        else:
            pts = rng.integers(-size // 4, size + size // 4, (rng.integers(3, 7), 2)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour)
    if rng.random() < 0.2:  # stripes or a grid: shelves, blinds, tiles
        period = rng.uniform(4, 20)
        stripes = (np.sin(2 * np.pi * (grad * size) / period) > 0).astype(np.float32)
        img = img * (1 - 0.3 * stripes[..., None])
    if rng.random() < 0.7:
        sigma = rng.uniform(0.5, 3.0)  # out of focus
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    grey = img.mean(2, keepdims=True)  # real scenes are mostly muted: desaturate most of them
    img = grey + (img - grey) * rng.uniform(0.2, 1.0)
    return np.clip(img, 0, 1)


def draw_hair_strands(img, mask, roots, tips, colour, rng, width_px: float):
    """Strands as curved polylines from roots to tips (fringes, long hair over the cheeks)."""
    for r, t in zip(roots, tips):
        bend = (
            rng.normal(0, 0.15)
            * np.linalg.norm(t - r)
            * np.array([-(t - r)[1], (t - r)[0]])
            / (np.linalg.norm(t - r) + 1e-6)
        )
        s = np.linspace(0, 1, 8)[:, None]
        curve = (1 - s) ** 2 * r + 2 * s * (1 - s) * (0.5 * (r + t) + bend) + s**2 * t
        pts = np.round(curve * 4).astype(np.int32)[None]
        c = tuple(float(x) for x in np.clip(colour * rng.uniform(0.7, 1.3), 0, 1))
        thickness = max(1, int(round(width_px * rng.uniform(0.6, 1.4))))
        cv2.polylines(img, pts, False, c, thickness, cv2.LINE_AA, shift=2)
        cv2.polylines(mask, pts, False, 1.0, thickness, cv2.LINE_AA, shift=2)


def draw_hand(img, mask, centre, size, skin, rng):
    """A hand: palm and fingers as filled capsules in the person's skin tone, lit from one side."""
    angle = rng.uniform(0, 2 * np.pi)
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    palm = centre - direction * size * 0.5
    colour = np.clip(to_srgb(skin) * rng.uniform(0.8, 1.1), 0, 1)
    layer = np.zeros_like(mask)
    cv2.ellipse(
        layer,
        (int(palm[0] * 4), int(palm[1] * 4)),
        (int(size * 2.2), int(size * 2.6)),
        float(np.degrees(angle)),
        0,
        360,
        1.0,
        -1,
        cv2.LINE_AA,
        shift=2,
    )
    for k in range(rng.integers(2, 5)):
        offset = (k - 1.5) * size * 0.24
        base = centre + normal * offset - direction * size * 0.2
        tip = base + direction * size * rng.uniform(0.6, 0.9)
        cv2.line(
            layer,
            (int(base[0] * 4), int(base[1] * 4)),
            (int(tip[0] * 4), int(tip[1] * 4)),
            1.0,
            max(1, int(size * 0.2)),
            cv2.LINE_AA,
            shift=2,
        )
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    light = 0.8 + 0.3 * np.tanh(((xx - centre[0]) * normal[0] + (yy - centre[1]) * normal[1]) / max(size, 1))
    paint = colour[None, None] * light[..., None]
    img[:] = img * (1 - layer[..., None]) + paint * layer[..., None]
    np.maximum(mask, layer, out=mask)


def draw_glasses(img, mask, eyes, ears, rng, sunglasses=False):
    """Frames around the two eye centres, a bridge between them and temples towards the ears."""
    colour = tuple(float(c) for c in rng.uniform(0, 0.4, 3) * (rng.uniform(0.2, 1.0)))
    io = np.linalg.norm(eyes[1] - eyes[0])
    thickness = max(1, int(round(io * rng.uniform(0.03, 0.08))))
    rx, ry = io * rng.uniform(0.32, 0.42), io * rng.uniform(0.22, 0.32)
    tilt = float(np.degrees(np.arctan2(*(eyes[1] - eyes[0])[::-1])))
    for e in eyes:
        centre = (int(e[0] * 4), int(e[1] * 4 + ry * 0.5))
        axes = (int(rx * 4), int(ry * 4))
        if sunglasses:
            cv2.ellipse(img, centre, axes, tilt, 0, 360, tuple(0.3 * c for c in colour), -1, cv2.LINE_AA, shift=2)
            cv2.ellipse(mask, centre, axes, tilt, 0, 360, 1.0, -1, cv2.LINE_AA, shift=2)
        cv2.ellipse(img, centre, axes, tilt, 0, 360, colour, thickness, cv2.LINE_AA, shift=2)
        cv2.ellipse(mask, centre, axes, tilt, 0, 360, 1.0, thickness, cv2.LINE_AA, shift=2)
    inner = [eyes[0] + (eyes[1] - eyes[0]) * 0.35, eyes[0] + (eyes[1] - eyes[0]) * 0.65]
    lines = [(inner[0], inner[1])] + [(e + (e - eyes[1 - k]) * 0.4, ear) for k, (e, ear) in enumerate(zip(eyes, ears))]
    for a, b in lines:
        pa, pb = (int(a[0] * 4), int(a[1] * 4)), (int(b[0] * 4), int(b[1] * 4))
        cv2.line(img, pa, pb, colour, thickness, cv2.LINE_AA, shift=2)
        cv2.line(mask, pa, pb, 1.0, thickness, cv2.LINE_AA, shift=2)


def draw_object(img, mask, size: int, rng):
    """Something between the camera and the face: a phone, a cup, a microphone, a random shape."""
    colour = tuple(float(c) for c in rng.uniform(0, 1, 3))
    layer = np.zeros_like(mask)
    side = rng.integers(0, 4)
    t = rng.uniform(0.2, 0.8) * size
    edge = {0: (t, size * 1.1), 1: (t, -size * 0.1), 2: (-size * 0.1, t), 3: (size * 1.1, t)}[int(side)]
    reach = rng.uniform(0.2, 0.5) * size
    inward = np.array({0: (0, -1), 1: (0, 1), 2: (1, 0), 3: (-1, 0)}[int(side)], float)
    tip = np.array(edge) + inward * (size * 0.1 + reach)
    kind = rng.integers(0, 3)
    if kind == 0:  # phone or cup: a rotated rectangle
        w, h = rng.uniform(0.15, 0.35) * size, rng.uniform(0.3, 0.6) * size
        box = cv2.boxPoints(((float(tip[0]), float(tip[1])), (float(w), float(h)), float(rng.uniform(-30, 30))))
        cv2.fillPoly(layer, [np.round(box * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    elif kind == 1:  # microphone: a ball on a stick
        cv2.line(layer, (int(edge[0]), int(edge[1])), (int(tip[0]), int(tip[1])), 1.0, max(2, size // 20))
        cv2.circle(layer, (int(tip[0]), int(tip[1])), int(size * rng.uniform(0.06, 0.12)), 1.0, -1)
    else:
        pts = (tip + rng.normal(0, size * 0.15, (rng.integers(3, 7), 2))).astype(np.int32)
        cv2.fillPoly(layer, [pts], 1.0)
    shading = np.linspace(rng.uniform(0.6, 1.0), rng.uniform(0.6, 1.0), size, dtype=np.float32)[None, :, None]
    img[:] = img * (1 - layer[..., None]) + np.array(colour, np.float32) * shading * layer[..., None]
    np.maximum(mask, layer, out=mask)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A phone or webcam frame's faults on a float sRGB image; returns uint8 RGB."""
    img = image
    size = img.shape[0]
    if rng.random() < 0.5:  # white balance and exposure
        img = img * rng.uniform(0.85, 1.15, 3) * rng.uniform(0.75, 1.25)
    if rng.random() < 0.1:  # low light: dark, then the sensor's noise dominates
        img = img * rng.uniform(0.2, 0.5)
        img = img + rng.normal(0, rng.uniform(0.02, 0.05), img.shape)
    if rng.random() < 0.2:  # a small face upscaled
        small = max(16, int(size / rng.uniform(1.5, 4.0)))
        img = cv2.resize(
            cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR
        )
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.1:  # motion blur
        k = int(rng.integers(3, 8))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (k, k))
        img = cv2.filter2D(img, -1, kernel / max(kernel.sum(), 1e-6))
    if rng.random() < 0.4:
        img = img + rng.normal(0, rng.uniform(0.004, 0.03), img.shape)
    if rng.random() < 0.05:
        img = np.repeat(img.mean(2, keepdims=True), 3, 2)
    out = np.clip(np.asarray(img, np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, data = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 96))])
        out = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(out)
