"""The joint face network: a backbone, one lean head, the in-graph 3D decoder and, optionally, an
attribute branch (appearance attributes, gender and age from an early tap of the backbone).

The head regresses pose, identity and expression; the 520 dense points are decoded *inside the
graph* through the fixed ICT-FaceKit basis of the edgeface-520 topology and projected with the
pose, so every exported file returns them and the runtime needs no basis file. The forward pass
returns the runtime's outputs by name (edgeface.runtime.pack.OUTPUTS), in crop-normalised units.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from . import networks
from .morphable import MorphableModel, torch_decoder
from .networks.mobilenet import InvertedResidual, conv_bn
from .raster import vertex_normals
from .topology import aflw21_matrix

#: Attributes computed in the graph from expression weights: (name, blendshapes averaged, threshold).
#: A deterministic function of the coefficients, like the synthetic engine's expression attributes.
EXPRESSION_ATTRIBUTES = (
    ("Smiling", ("mouthSmile_L", "mouthSmile_R"), 0.3),
    ("Mouth_Slightly_Open", ("jawOpen",), 0.15),
    ("Eyes_Closed", ("eyeBlink_L", "eyeBlink_R"), 0.6),
    ("Brows_Raised", ("browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R"), 0.3),
)
ATTRIBUTE_SHARPNESS = 10.0
#: the blendshapes that move the eyelids, which an eyelid branch answers instead of the head
EYELID_SHAPES = ("eyeBlink_L", "eyeBlink_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L", "eyeWide_R")
#: the eye-closure attributes an eyelid branch answers (each eye's logit, and both eyes' as the smaller)
EYE_CLOSED = ("Left_Eye_Closed", "Right_Eye_Closed", "Eyes_Closed")
#: the age output is AGE_OFFSET + AGE_SCALE * (its head row), in years: a zero row says 35
AGE_OFFSET, AGE_SCALE = 35.0, 20.0


def rotation_matrix(pitch, yaw, roll):
    """Batched R = Rz(-roll) Ry(-yaw) Rx(-pitch) (edgeface.runtime.geometry's convention)."""
    cx, sx = torch.cos(pitch), -torch.sin(pitch)
    cy, sy = torch.cos(yaw), -torch.sin(yaw)
    cz, sz = torch.cos(roll), -torch.sin(roll)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


class AttributeBranch(nn.Module):
    """Layers of their own for what a face looks like (attributes, age, gender), fed from an early
    tap of the backbone: the deep features that geometry shaped hold little about hair, age or
    gender (docs/experiments.md, "An appearance branch"), so reading these from stride 8 through
    separate blocks leaves the trunk, and every geometric output, as it is."""

    def __init__(self, channels_in: int, outputs: int, width: int = 32, features: int = 256):
        super().__init__()
        c = width
        self.blocks = nn.Sequential(
            InvertedResidual(channels_in, c, 2, 6),
            InvertedResidual(c, c, 1, 6),
            InvertedResidual(c, c, 1, 6),
            InvertedResidual(c, 2 * c, 1, 6),
            InvertedResidual(2 * c, 2 * c, 1, 6),
            InvertedResidual(2 * c, 2 * c, 1, 6),
            conv_bn(2 * c, features, 1),
        )
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(features, outputs)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, tap):
        return self.head(self.dropout(self.blocks(tap).mean((2, 3))))


class EyelidBranch(nn.Module):
    """Eyelid blendshape logits (EYELID_SHAPES) and each eye's closure logit (left, right), from the
    same early tap as the attribute branch. The pooled trunk features do not carry eye closure
    (docs/experiments.md, "Eyelids from frozen features"); the stride-8 map does, where the eyes
    are. The map is flattened, not pooled, so the last layer reads each eye at its place."""

    def __init__(self, channels_in: int, grid: int, width: int = 32):
        super().__init__()
        self.blocks = nn.Sequential(
            InvertedResidual(channels_in, width, 1, 4),
            InvertedResidual(width, width, 1, 4),
            InvertedResidual(width, width, 2, 4),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(width * ((grid + 1) // 2) ** 2, len(EYELID_SHAPES) + 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.head.weight, std=1e-3)

    def forward(self, tap):
        return self.head(self.dropout(self.blocks(tap).flatten(1)))


class Outputs(NamedTuple):
    """The network's answers by name: the runtime's `OUTPUTS`, in its order (the export writes each
    under its name and the manifest lists each with its meaning; a test holds the two lists equal).
    All crop-normalised: dense (N, P, 3), pose (N, 6) pitch, yaw, roll, tx, ty, scale, identity (N,
    K), expression (N, E) probabilities, attributes (N, A) logits, visibility (N, P) logits, age (N,
    1) in years or None for a network without an age head."""

    dense: torch.Tensor
    pose: torch.Tensor
    identity: torch.Tensor
    expression: torch.Tensor
    attributes: torch.Tensor
    visibility: torch.Tensor
    age: torch.Tensor | None = None


class FaceModel(nn.Module):
    def __init__(
        self,
        backbone: str,
        topology: dict,
        morphable: MorphableModel,
        identity_size: int = 40,
        crop_scale: float = 1.4,
        attribute_head: bool = False,
        visibility_head: bool = False,
        attribute_names=None,
        age_head: bool = False,
        attribute_branch: dict | None = None,
    ):
        """attribute_head: learn the 22 geometry-grounded attributes (edgeface.train.attributes)
        from the shared features, instead of deriving four from expression weights;
        attribute_names: learn these attributes instead (CelebA's 40 and the expression ones).
        visibility_head: learn per-point visibility as a correction to the orientation prior.
        age_head: one more row, age in years, returned as the last column of `attributes`.
        attribute_branch: {"tap": backbone layers before the tap, "width": channels, "attributes":
        names it answers instead of the head (and age, with age_head), "eyelids": optional
        {"width": channels, "input_size": crop pixels}}, see AttributeBranch and EyelidBranch."""
        super().__init__()
        self.backbone = networks.create(backbone)
        self.backbone_name = backbone
        self.identity_size = identity_size
        subset = morphable.subset(np.array(topology["vertices"]), identity_size)
        self.expression_names = list(morphable.exp_names)
        self.decoder = torch_decoder(subset, identity_size)
        centre = subset.neutral[: len(topology["vertices"]) - len(topology["extras"])].mean(0)
        self.register_buffer("centre", torch.from_numpy(centre.astype(np.float32)))
        normals = vertex_normals(subset.neutral.astype(np.float32), np.array(topology["triangles"], np.int32))
        self.register_buffer("normals", torch.from_numpy(normals))
        self.register_buffer("aflw21", torch.from_numpy(aflw21_matrix(topology)))
        attr = np.zeros((len(EXPRESSION_ATTRIBUTES), len(self.expression_names)), np.float32)
        for k, (_, shapes, _) in enumerate(EXPRESSION_ATTRIBUTES):
            for s in shapes:
                attr[k, self.expression_names.index(s)] = 1.0 / len(shapes)
        self.register_buffer("attribute_weights", torch.from_numpy(attr))
        self.register_buffer("attribute_thresholds", torch.tensor([t for _, _, t in EXPRESSION_ATTRIBUTES]))
        self.attribute_names = [n for n, _, _ in EXPRESSION_ATTRIBUTES]
        self.attribute_head = attribute_head or attribute_names is not None
        self.visibility_head, self.age_head = visibility_head, age_head
        if attribute_names is not None:
            self.attribute_names = list(attribute_names)
        elif attribute_head:
            from .attributes import load as load_attributes

            self.attribute_names = list(load_attributes())
        self.num_points = len(topology["vertices"])
        # a face of ~15 cm (the 68-landmark box of the neutral face) spans 1 / crop_scale of the crop
        width = float(np.ptp(subset.neutral[topology["landmarks68"], 0]))
        self.base_scale = 1.0 / (crop_scale * width)
        # one linear head for everything (one matrix product): pose, identity, expression, then the
        # optional attribute logits and visibility corrections
        self.core = 6 + identity_size + len(self.expression_names)
        extra = (
            (len(self.attribute_names) if self.attribute_head else 0)
            + int(age_head)
            + (self.num_points if visibility_head else 0)
        )
        self.head = nn.Linear(self.backbone.num_features, self.core + extra)
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[6 + identity_size : self.core] = -3.0  # expressions start near neutral
        self.branch_config = dict(attribute_branch) if attribute_branch else None
        self.branch = self.eyelids = None
        if attribute_branch:
            self._add_branch(attribute_branch)

    def _add_branch(self, cfg: dict) -> None:
        if not self.attribute_head or not hasattr(self.backbone, "features"):
            raise ValueError("an attribute branch needs an attribute head and a backbone with a `features` stack")
        names = list(cfg["attributes"])
        unknown = [n for n in names if n not in self.attribute_names]
        if unknown:
            raise ValueError(f"the attribute branch answers attributes the network does not have: {unknown}")
        self.branch_tap = int(cfg["tap"])
        if not 0 < self.branch_tap < len(self.backbone.features):
            raise ValueError(
                f"attribute branch tap {self.branch_tap}: the backbone has {len(self.backbone.features)} layers"
            )
        with torch.no_grad():
            channels = self.backbone.features[: self.branch_tap](torch.zeros(1, 3, 64, 64)).shape[1]
        self.branch = AttributeBranch(channels, len(names) + int(self.age_head), int(cfg.get("width", 32)))
        # column j of the answer: the head's attribute j, or the branch's answer for that name (a
        # gather over [head attributes, branch attributes], so every format sees one index op)
        order = [
            len(self.attribute_names) + names.index(n) if n in names else j for j, n in enumerate(self.attribute_names)
        ]
        self.branch_names = names
        if cfg.get("eyelids"):
            lacking = [n for n in EYE_CLOSED if n not in self.attribute_names]
            if lacking:
                raise ValueError(
                    f"an eyelid branch answers eye closure, and the network lacks the attributes {lacking}"
                )
            eyes = cfg["eyelids"]
            size = int(eyes.get("input_size", 112))
            with torch.no_grad():
                grid = self.backbone.features[: self.branch_tap](torch.zeros(1, 3, size, size)).shape[-1]
            self.eyelids = EyelidBranch(channels, grid, int(eyes.get("width", 32)))
            # the eyelid rows of the expression: a gather over [head expression rows, eyelid logits]
            k = len(self.expression_names)
            self.register_buffer(
                "expression_order",
                torch.tensor(
                    [
                        k + EYELID_SHAPES.index(n) if n in EYELID_SHAPES else j
                        for j, n in enumerate(self.expression_names)
                    ]
                ),
            )
            # and the closure attributes, gathered after the branch's answers
            start = len(self.attribute_names) + len(names)
            order = [start + EYE_CLOSED.index(n) if n in EYE_CLOSED else o for o, n in zip(order, self.attribute_names)]
        self.register_buffer("branch_order", torch.tensor(order, dtype=torch.long))

    def features(self, x):
        """(pooled trunk features, the branch's answers (then the eyelid branch's) or None)."""
        if self.branch is None:
            return self.backbone(x), None
        # through the backbone's own call: exported graphs keep its module names, which the INT8
        # export selects the quantized part by
        pooled, tap = self.backbone(x, tap=self.branch_tap)
        if self.eyelids is None:
            return pooled, self.branch(tap)
        return pooled, torch.cat([self.branch(tap), self.eyelids(tap)], 1)

    def forward(self, x):
        pooled, described = self.features(x)
        return self.decode(self.head(pooled), described)

    def decode(self, raw, described=None):
        """The outputs from the head's raw rows (and the branch's answers): what a refit of some
        rows on cached features needs to see their effect on the face."""
        k = self.identity_size
        pitch, yaw, roll = raw[:, 0] * 0.5, raw[:, 1] * math.pi / 2, raw[:, 2] * 0.5
        tx, ty = 0.5 + 0.2 * raw[:, 3], 0.5 + 0.2 * raw[:, 4]
        s = self.base_scale * torch.exp(0.2 * raw[:, 5])
        identity = raw[:, 6 : 6 + k]
        expression = raw[:, 6 + k : self.core]
        if self.eyelids is not None:  # described: the branch's answers, then the eyelid branch's
            eyes = described[:, -len(EYELID_SHAPES) - 2 :]
            described = described[:, : -len(EYELID_SHAPES) - 2]
            expression = torch.cat([expression, eyes[:, : len(EYELID_SHAPES)]], 1)[:, self.expression_order]
        expression = torch.sigmoid(expression)
        rotation = rotation_matrix(pitch, yaw, roll)
        verts = self.decoder(identity, expression) - self.centre
        rotated = verts @ rotation.transpose(1, 2)
        s_ = s[:, None]
        dense = torch.stack(
            [tx[:, None] + s_ * rotated[..., 0], ty[:, None] - s_ * rotated[..., 1], s_ * rotated[..., 2]], -1
        )
        pose = torch.stack([pitch, yaw, roll, tx, ty, s], -1)
        rest = self.core
        if self.attribute_head:
            attributes = raw[:, rest : rest + len(self.attribute_names)]
            rest += len(self.attribute_names)
            if described is not None:
                parts = [attributes, described[:, : len(self.branch_names)]]
                if self.eyelids is not None:
                    closed = eyes[:, len(EYELID_SHAPES) :]
                    parts += [closed, torch.minimum(closed[:, :1], closed[:, 1:])]
                attributes = torch.cat(parts, 1)[:, self.branch_order]
        else:
            attributes = ATTRIBUTE_SHARPNESS * (expression @ self.attribute_weights.t() - self.attribute_thresholds)
        age = None
        if self.age_head:
            age = AGE_OFFSET + AGE_SCALE * (raw[:, rest : rest + 1] if described is None else described[:, -1:])
            rest += 1
        visibility = 8.0 * (self.normals @ rotation.transpose(1, 2))[..., 2]
        if self.visibility_head:
            visibility = visibility + raw[:, rest : rest + self.num_points]
        return Outputs(dense, pose, identity, expression, attributes, visibility, age)


class FlipAveraged(nn.Module):
    """A model whose every answer is the average of the crop's and the mirrored crop's (mapped back
    through the topology's mirror map), as the runtime's flip_average does. As a teacher it gives a
    student a target better than the student's own single pass; identity comes from the plain crop
    because no identity coefficient has a mirror twin."""

    def __init__(self, model: FaceModel, mirror):
        from ..runtime.pipeline import POSE_MIRROR_OFFSET, POSE_MIRROR_SIGN, mirror_twins

        super().__init__()
        self.model = model
        self.register_buffer("points", torch.as_tensor(np.asarray(mirror), dtype=torch.long))
        self.register_buffer("expression", torch.from_numpy(mirror_twins(model.expression_names)))
        self.register_buffer("attributes", torch.from_numpy(mirror_twins(model.attribute_names)))
        self.register_buffer("pose_sign", torch.from_numpy(POSE_MIRROR_SIGN))
        self.register_buffer("pose_offset", torch.from_numpy(POSE_MIRROR_OFFSET))

    def forward(self, x):
        plain, mirrored = self.model(x), self.model(x.flip(-1))
        f_dense = mirrored.dense[:, self.points]
        f_dense = torch.stack([1.0 - f_dense[..., 0], f_dense[..., 1], f_dense[..., 2]], -1)  # u -> 1 - u
        return Outputs(
            dense=0.5 * (plain.dense + f_dense),
            pose=0.5 * (plain.pose + (mirrored.pose * self.pose_sign + self.pose_offset)),
            identity=plain.identity,
            expression=0.5 * (plain.expression + mirrored.expression[:, self.expression]),
            attributes=0.5 * (plain.attributes + mirrored.attributes[:, self.attributes]),
            visibility=0.5 * (plain.visibility + mirrored.visibility[:, self.points]),
            age=None if plain.age is None else 0.5 * (plain.age + mirrored.age),  # age is its own twin
        )


class Refined(nn.Module):
    """A model that looks twice, as the runtime's `refine` does: the first answer's 68-landmark box
    gives a new crop by the runtime's crop rule (resampled from the input crop, black outside it,
    as the runtime pads), and the second pass's answers are mapped back into the input crop's
    coordinates. As a teacher it frames every face the way the runtime does, whatever framing the
    training crop happened to have (what that gains: docs/experiments.md, "Refined teacher")."""

    def __init__(self, model: nn.Module, landmarks68, crop_scale: float, black):
        super().__init__()
        self.model, self.crop_scale = model, float(crop_scale)
        self.register_buffer("landmarks68", torch.as_tensor(np.asarray(landmarks68), dtype=torch.long))
        self.register_buffer("black", torch.as_tensor(np.asarray(black), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        first = self.model(x).dense[:, self.landmarks68, :2]
        lo, hi = first.amin(1), first.amax(1)
        centre = 0.5 * (lo + hi)
        side = (self.crop_scale * 0.5 * (hi - lo).sum(-1)).clamp(0.5, 1.5)  # crop-normalised units
        zero = torch.zeros_like(side)
        # affine_grid (align_corners=False) maps the new crop's [-1, 1] to the input's [-1, 1]
        theta = torch.stack(
            [torch.stack([side, zero, 2 * centre[:, 0] - 1], -1), torch.stack([zero, side, 2 * centre[:, 1] - 1], -1)],
            1,
        )
        grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
        recropped = torch.nn.functional.grid_sample(x - self.black, grid, align_corners=False) + self.black
        second = self.model(recropped)
        origin = (centre - 0.5 * side[:, None])[:, None, :]
        s = side[:, None, None]
        dense = torch.cat([origin + s * second.dense[..., :2], s * second.dense[..., 2:]], -1)
        p = second.pose
        pose = torch.cat([p[:, :3], origin[:, 0] + side[:, None] * p[:, 3:5], side[:, None] * p[:, 5:]], -1)
        return second._replace(dense=dense, pose=pose)
