"""Priors for sampling faces: identity ~ N(0, I); expressions as mixtures of archetypes.

The expression prior produces the combinations people make (smiles, open mouths, blinks and
winks, closed eyes, frowns, brow raises, surprise, pouts, gaze, asymmetric variants) and plain
neutral faces, instead of independent uniform weights, which look like no real face.
"""

from __future__ import annotations

import numpy as np

#: archetype -> (probability, {blendshape: weight}); "_S" expands to both sides (_L and _R)
ARCHETYPES = {
    "neutral": (0.20, {}),
    "smile": (0.14, {"mouthSmile_S": 0.8, "cheekSquint_S": 0.4, "eyeSquint_S": 0.2}),
    "open_mouth": (0.10, {"jawOpen": 0.6, "mouthLowerDown_S": 0.3, "mouthUpperUp_S": 0.2}),
    "laugh": (0.06, {"mouthSmile_S": 0.9, "jawOpen": 0.5, "cheekSquint_S": 0.5, "eyeSquint_S": 0.4}),
    "blink": (0.08, {"eyeBlink_S": 1.0}),
    "wink": (0.04, {"eyeBlink_L": 1.0}),
    "frown": (0.07, {"browDown_S": 0.8, "mouthFrown_S": 0.6, "noseSneer_S": 0.2}),
    "brow_raise": (0.07, {"browInnerUp_S": 0.8, "browOuterUp_S": 0.7, "eyeWide_S": 0.2}),
    "surprise": (0.06, {"browInnerUp_S": 0.9, "browOuterUp_S": 0.9, "eyeWide_S": 0.6, "jawOpen": 0.5}),
    "pout": (0.05, {"mouthPucker": 0.8, "mouthFunnel": 0.3}),
    "gaze": (0.06, {"eyeLookOut_L": 0.7, "eyeLookIn_R": 0.7}),
    "squint": (0.04, {"eyeSquint_S": 0.8, "cheekSquint_S": 0.3}),
    "talk": (0.03, {"jawOpen": 0.25, "mouthClose": 0.1, "mouthStretch_S": 0.3}),
}


def _expand(weights: dict) -> dict:
    out = {}
    for name, w in weights.items():
        for n in (name[:-2] + "_L", name[:-2] + "_R") if name.endswith("_S") else (name,):
            out[n] = w
    return out


def sample_identity(rng: np.random.Generator, size: int = 100) -> np.ndarray:
    return rng.standard_normal(size).astype(np.float32)


def sample_expression(rng: np.random.Generator, names: list[str]) -> tuple[np.ndarray, str]:
    """53 weights in [0, 1] and the archetype's name. One archetype at a random intensity, sometimes
    a second one mixed in, left/right asymmetry, mirrored archetypes (a wink of either eye, gaze either
    way), and a little activity everywhere."""
    keys = list(ARCHETYPES)
    probs = np.array([ARCHETYPES[k][0] for k in keys])
    first = keys[rng.choice(len(keys), p=probs / probs.sum())]
    chosen = [first] + ([keys[rng.choice(len(keys), p=probs / probs.sum())]] if rng.random() < 0.25 else [])
    w = np.zeros(len(names), np.float32)
    mirror = rng.random() < 0.5
    asym = rng.uniform(0.6, 1.0) if rng.random() < 0.3 else 1.0
    for archetype in chosen:
        intensity = rng.uniform(0.5, 1.25)
        for name, value in _expand(ARCHETYPES[archetype][1]).items():
            if mirror:
                name = name[:-2] + {"_L": "_R", "_R": "_L"}[name[-2:]] if name[-2:] in ("_L", "_R") else name
                name = (
                    {"eyeLookOut_R": "eyeLookIn_R", "eyeLookIn_L": "eyeLookOut_L"}.get(name, name)
                    if archetype == "gaze"
                    else name
                )
            side = asym if name.endswith("_R") else 1.0
            w[names.index(name)] = max(w[names.index(name)], value * intensity * side)
    w += rng.exponential(0.02, len(names)).astype(np.float32)
    return np.clip(w, 0.0, 1.0), first
