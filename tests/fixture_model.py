"""A tiny, untrained network with edgeface's output contract, exported in every format.

It exists only so that the runtime can be tested before (and independently of) a trained
model: its manifest says `"purpose": "test-fixture"`. A built copy is committed in
tests/runtime/fixture_pack (`python tests/fixture_model.py tests/runtime/fixture_pack` rebuilds it),
so the runtime tests need no torch; only `network()` and `build()` import it. Its dense output is a fixed face-like
template placed exactly as the crop rule expects the 68 landmarks (so geometry is checkable),
plus a small image-dependent term (so backend parity is checked on values that vary).
"""

from __future__ import annotations

import sys

import cv2
import numpy as np

SIZE = 64
POINTS = 520
IDENTITY = 8
ATTRIBUTES = ["Smiling", "Eyes_Closed", "Big_Nose", "Wide_Face"]
CROP_SCALE = 1.5
ARKIT = (
    "browDown_L browDown_R browInnerUp_L browInnerUp_R browOuterUp_L browOuterUp_R cheekPuff_L cheekPuff_R "
    "cheekSquint_L cheekSquint_R eyeBlink_L eyeBlink_R eyeLookDown_L eyeLookDown_R eyeLookIn_L eyeLookIn_R "
    "eyeLookOut_L eyeLookOut_R eyeLookUp_L eyeLookUp_R eyeSquint_L eyeSquint_R eyeWide_L eyeWide_R jawForward "
    "jawLeft jawOpen jawRight mouthClose mouthDimple_L mouthDimple_R mouthFrown_L mouthFrown_R mouthFunnel "
    "mouthLeft mouthLowerDown_L mouthLowerDown_R mouthPress_L mouthPress_R mouthPucker mouthRight "
    "mouthRollLower mouthRollUpper mouthShrugLower mouthShrugUpper mouthSmile_L mouthSmile_R mouthStretch_L "
    "mouthStretch_R mouthUpperUp_L mouthUpperUp_R noseSneer_L noseSneer_R"
).split()


def template() -> tuple[np.ndarray, np.ndarray]:
    """(520, 3) crop-normalised points whose first 68 span the crop rule's landmark box exactly,
    and their Delaunay triangles."""
    rng = np.random.default_rng(0)
    lo, hi = 0.5 - 0.5 / CROP_SCALE, 0.5 + 0.5 / CROP_SCALE
    angle = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    ring = np.stack([0.5 + 0.5 * np.cos(angle), 0.5 + 0.5 * np.sin(angle)], 1)
    inner = rng.uniform(0.2, 0.8, size=(POINTS - 68, 2))
    inner = 0.5 + (inner - 0.5) * np.sqrt(0.5)  # strictly inside the ring
    uv = np.concatenate([ring, inner])
    xy = lo + uv * (hi - lo)
    z = 0.1 * np.cos(np.pi * (uv[:, :1] - 0.5)) * np.cos(np.pi * (uv[:, 1:] - 0.5))
    subdiv = cv2.Subdiv2D((0, 0, 1000, 1000))
    index = {}
    for i, (x, y) in enumerate(xy * 999):
        subdiv.insert((float(x), float(y)))
        index[(round(float(x), 3), round(float(y), 3))] = i
    triangles = []
    for t in subdiv.getTriangleList():
        key = [(round(float(t[k]), 3), round(float(t[k + 1]), 3)) for k in (0, 2, 4)]
        if all(k in index for k in key):
            triangles.append([index[k] for k in key])
    return np.concatenate([xy, z], 1).astype(np.float32), np.array(triangles, np.int32)


def network():
    """The fixture network (torch), its weights fixed by seed 0."""
    import torch
    from torch import nn

    class FixtureNet(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            points, _ = template()
            self.register_buffer("template", torch.from_numpy(points))
            self.register_buffer("pose_offset", torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 0.05]))
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, 2, 1),
                nn.ReLU(),
                nn.Conv2d(8, 16, 3, 2, 1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
            )
            self.dense = nn.Linear(16, POINTS * 3)
            self.pose = nn.Linear(16, 6)
            self.identity = nn.Linear(16, IDENTITY)
            self.expression = nn.Linear(16, len(ARKIT))
            self.attributes = nn.Linear(16, len(ATTRIBUTES))
            self.visibility = nn.Linear(16, POINTS)

        def forward(self, x):
            f = self.features(x)
            dense = self.template + 0.01 * torch.tanh(self.dense(f)).view(-1, POINTS, 3)
            pose = 0.1 * torch.tanh(self.pose(f)) + self.pose_offset
            return (
                dense,
                pose,
                self.identity(f),
                torch.sigmoid(self.expression(f)),
                self.attributes(f),
                self.visibility(f),
            )

    return FixtureNet()


def manifest() -> dict:
    from edgeface.runtime.pack import standard_outputs

    _, triangles = template()
    return {
        "name": "edgeface-test-fixture",
        "purpose": "test-fixture",
        "version": "0",
        "input": {"size": SIZE, "channels": "RGB", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        "crop": {"scale": CROP_SCALE, "shift_y": 0.0},
        "topology": {
            "name": "test-template",
            "version": 1,
            "num_points": POINTS,
            "landmarks68": list(range(68)),
            "triangles": triangles.tolist(),
        },
        "identity_size": IDENTITY,
        "expression_names": ARKIT,
        "attribute_names": ATTRIBUTES,
        "outputs": standard_outputs(POINTS, IDENTITY, ARKIT, ATTRIBUTES, age=False),
        "training": {"data": "none: random weights", "compute": "none"},
        "license": "MIT (test fixture; not a face model)",
    }


def build(out_dir, formats=("onnx", "openvino", "tflite", "torch")):
    from edgeface.export.fp32 import write_pack

    return write_pack(network(), out_dir, manifest(), formats=formats)


if __name__ == "__main__":
    print(build(sys.argv[1], formats=("onnx", "openvino", "tflite")))
