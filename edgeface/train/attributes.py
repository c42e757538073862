"""Attributes grounded in geometry: each one is a measurement on the 68 landmarks, thresholded.

Identity attributes are measured on a face's neutral expression and thresholded at a percentile of
their distribution over sampled identities (so the positive rate is known: 30 % by construction).
Expression attributes are thresholds on measured geometry (eye opening, lip gap, corner lift...)
relative to the model's mean neutral face, moved if needed so that at most 2 % of neutral faces of
sampled identities pass (a person's build must not read as an expression); their positive rates
under the expression prior are measured and written beside the thresholds. All measurements take
68 points in model orientation (x to the subject's left, y up) and are ratios, so they apply to 3D
model points and, for the expression ones, to 2D image points of near-frontal faces (flip y) such
as AFLW2000-3D's labels.
`edgeface data attributes` recomputes `attributes_v1.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

THRESHOLDS_FILE = Path(__file__).with_name("attributes_v1.json")


def _d(p, a, b):
    return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)


def _io(p):
    return _d(p, 36, 45)


def _brow_height(p):
    """Brow centres above the eye-corner midpoints (corners do not move when the lids do)."""
    left = _d(p, 24, 42) + _d(p, 24, 45)
    right = _d(p, 19, 36) + _d(p, 19, 39)
    return (left + right) / (4 * _io(p))


def _eye_open(p, left: bool):
    # subject's left eye is landmarks 42-47
    a, b, c, d, e, f = (43, 47, 44, 46, 42, 45) if left else (37, 41, 38, 40, 36, 39)
    return (_d(p, a, b) + _d(p, c, d)) / (2 * _d(p, e, f))


#: name -> (measurement, kind, rule). Identity rules: ("top"|"bottom", fraction of identities).
#: Expression rules: (">"|"<", threshold as a multiple of the measurement on the mean neutral face,
#: or an absolute value when marked "abs").
ATTRIBUTES = {
    "Big_Nose": (lambda p: _d(p, 31, 35) / _io(p), "identity", ("top", 0.3)),
    "Long_Nose": (lambda p: _d(p, 27, 33) / _io(p), "identity", ("top", 0.3)),
    "Pointy_Nose": (
        lambda p: (p[..., 30, 2] - 0.5 * (p[..., 31, 2] + p[..., 35, 2])) / _io(p),
        "identity",
        ("top", 0.3),
    ),
    "Big_Lips": (lambda p: (_d(p, 51, 62) + _d(p, 66, 57)) / _d(p, 48, 54), "identity", ("top", 0.3)),
    "Wide_Mouth": (lambda p: _d(p, 48, 54) / _io(p), "identity", ("top", 0.3)),
    "Narrow_Eyes": (lambda p: 0.5 * (_eye_open(p, True) + _eye_open(p, False)), "identity", ("bottom", 0.3)),
    "Big_Eyes": (lambda p: 0.5 * (_d(p, 36, 39) + _d(p, 42, 45)) / _io(p), "identity", ("top", 0.3)),
    "Wide_Face": (lambda p: _d(p, 0, 16) / _io(p), "identity", ("top", 0.3)),
    "Oval_Face": (lambda p: _d(p, 27, 8) / _d(p, 0, 16), "identity", ("top", 0.3)),
    "High_Cheekbones": (lambda p: _d(p, 1, 15) / _d(p, 4, 12), "identity", ("top", 0.3)),
    "Strong_Jaw": (lambda p: _d(p, 4, 12) / _d(p, 0, 16), "identity", ("top", 0.3)),
    "Pointy_Chin": (lambda p: _d(p, 6, 10) / _d(p, 4, 12), "identity", ("bottom", 0.3)),
    "Close_Set_Eyes": (lambda p: _d(p, 39, 42) / _io(p), "identity", ("bottom", 0.3)),
    # mouth corners against the upper lip: an open jaw drops the corners with the lower lip, a smile lifts them
    "Smiling": (
        lambda p: (0.5 * (p[..., 48, 1] + p[..., 54, 1]) - p[..., 62, 1]) / _io(p),
        "expression",
        (">", 0.03, "abs"),
    ),
    "Mouth_Slightly_Open": (lambda p: _d(p, 62, 66) / _d(p, 48, 54), "expression", (">", 0.12, "abs")),
    "Mouth_Wide_Open": (lambda p: _d(p, 62, 66) / _d(p, 48, 54), "expression", (">", 0.45, "abs")),
    "Eyes_Closed": (lambda p: np.maximum(_eye_open(p, True), _eye_open(p, False)), "expression", ("<", 0.4)),
    "Left_Eye_Closed": (lambda p: _eye_open(p, True) - 0.5 * _eye_open(p, False), "expression", ("<", 0.0, "abs")),
    "Right_Eye_Closed": (lambda p: _eye_open(p, False) - 0.5 * _eye_open(p, True), "expression", ("<", 0.0, "abs")),
    "Brows_Raised": (_brow_height, "expression", (">", 1.12)),
    "Frowning": (lambda p: _d(p, 21, 22) / _io(p) + _brow_height(p), "expression", ("<", 0.93)),
    "Pursed_Lips": (lambda p: _d(p, 48, 54) / _io(p), "expression", ("<", 0.88)),
}


def measure(points68: np.ndarray, kinds=("identity", "expression")) -> dict[str, np.ndarray]:
    return {name: np.asarray(fn(points68), np.float64) for name, (fn, kind, _) in ATTRIBUTES.items() if kind in kinds}


def calibrate(model, count: int = 4000, seed: int = 0) -> dict:
    """Thresholds from sampled identities (neutral) and rates under the expression prior."""
    from .sampling import sample_expression, sample_identity

    rng = np.random.default_rng(seed)
    lm = model.landmarks68
    identities = np.stack([sample_identity(rng, len(model.id_basis)) for _ in range(count)])
    neutral_pts = np.stack([model.decode(identity=i, vertices=lm) for i in identities])
    mean_neutral = model.decode(vertices=lm)
    expr = np.stack([sample_expression(rng, model.exp_names)[0] for _ in range(count)])
    expr_pts = np.stack([model.decode(identity=identities[k], expression=expr[k], vertices=lm) for k in range(count)])
    id_values, ex_values = measure(neutral_pts), measure(expr_pts)
    base = measure(mean_neutral)
    out = {}
    for name, (_, kind, rule) in ATTRIBUTES.items():
        if kind == "identity":
            side, fraction = rule
            q = 1 - fraction if side == "top" else fraction
            threshold = float(np.quantile(id_values[name], q))
            op = ">" if side == "top" else "<"
            values = id_values[name]
        else:
            op, value = rule[0], rule[1]
            threshold = float(value if len(rule) > 2 else value * base[name])
            neutral_limit = np.quantile(id_values[name], 0.98 if op == ">" else 0.02)
            threshold = float(max(threshold, neutral_limit) if op == ">" else min(threshold, neutral_limit))
            values = ex_values[name]
        positive = values > threshold if op == ">" else values < threshold
        out[name] = {"kind": kind, "op": op, "threshold": threshold, "positive_rate": float(positive.mean())}
    return out


def load() -> dict:
    return json.loads(THRESHOLDS_FILE.read_text())


def label(
    points68: np.ndarray, thresholds: dict | None = None, kinds=("identity", "expression")
) -> dict[str, np.ndarray]:
    """Boolean attributes of (..., 68, 3) model points (or 2D points with y up, for expressions)."""
    thresholds = thresholds or load()
    values = measure(points68, kinds)
    out = {}
    for name, t in thresholds.items():
        if t["kind"] in kinds:
            out[name] = values[name] > t["threshold"] if t["op"] == ">" else values[name] < t["threshold"]
    return out
