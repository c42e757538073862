"""The training objective: every loss term with the configuration's weights, in one mini-batch that
mixes datasets with different labels (in-batch hybrid-task training). The terms themselves are in
`losses`; each sample contributes only to the terms it has labels for."""

from __future__ import annotations

import numpy as np
import torch

from . import losses
from .config import Distill, TrainingConfig


class HybridLoss:
    """All loss terms with the config's weights; each sample contributes only where it has labels."""

    def __init__(self, config: TrainingConfig | dict, model, device, positive_rate=None):
        from . import topology
        from .attributes import load as load_attributes

        config = TrainingConfig.coerce(config)
        self.w, self.d = config.loss, config.distill or Distill()
        topo = topology.load()
        point_weights = np.ones(len(topo["vertices"]), np.float32)
        for region in topo["regions"].values():
            point_weights[region] = self.w.region_weight
        self.point_weights = torch.from_numpy(point_weights).to(device)
        self.landmarks68 = torch.as_tensor(topo["landmarks68"], dtype=torch.long, device=device)
        if positive_rate is None:
            rates = load_attributes()
            positive_rate = [rates[n]["positive_rate"] for n in rates]
        self.positive_rate = torch.as_tensor(np.asarray(positive_rate, np.float32), device=device)
        self.model = model
        names = list(model.attribute_names or []) if model.attribute_head else []
        self.male = names.index("Male") if "Male" in names else None

    def __call__(self, outputs, batch, teacher_outputs=None):
        attributes, years = outputs.attributes, None if outputs.age is None else outputs.age[:, 0]
        terms = self._labelled(outputs, attributes, years, batch)
        if "teacher68" in batch:  # cached teachers' answers (train.teachers), on the real photos that have them
            terms.update(self._cached_teachers(outputs, attributes, years, batch))
        if teacher_outputs is not None:
            terms.update(self._distilled(outputs, attributes, teacher_outputs, batch))
        w = self.w
        weight = {name: getattr(self.d, name[8:]) if name.startswith("distill_") else w.of(name) for name in terms}
        loss = sum(weight[name] * value for name, value in terms.items())
        return loss, {name: float(value.detach()) for name, value in terms.items() if weight[name]}

    def _labelled(self, outputs, attributes, years, batch) -> dict:
        """The terms of the samples' own labels (and the priors, which apply to every sample)."""
        dense, pose, identity, expression = outputs.dense, outputs.pose, outputs.identity, outputs.expression
        w, k = self.w, self.model.identity_size
        has_dense = batch["has_dense"]
        terms = {
            "landmarks": losses.sparse_landmarks(
                dense, self.model.aflw21, batch["points21"], batch["visible21"] * batch["has_points21"][:, None]
            ),
            "landmarks68": losses.landmarks68(dense, self.landmarks68, batch["points68"], batch["weight68"]),
            "yaw": losses.yaw(pose[:, 1], batch["yaw"], batch["has_yaw"] * (1 - batch["has_pose"])),
            "identity_prior": losses.identity_prior(identity),
            "expression_prior": losses.expression_prior(expression),
            "dense": losses.dense_supervised(dense, batch["dense"], self.point_weights, has_dense),
            "pose": losses.pose_angles(pose[:, :3], batch["pose"], batch["has_pose"]),
            "identity": losses.coefficients(identity, batch["identity"][:, :k], batch["has_identity"]),
            "expression": losses.coefficients(expression, batch["expression"], batch["has_expression"], l1=True),
            "visibility": losses.visibility(outputs.visibility, batch["visible"], has_dense),
        }
        if self.model.attribute_head:
            # synthetic attribute labels are an auxiliary signal beside real ones (`attributes_synthetic`)
            source = torch.where(has_dense > 0, w.attributes_synthetic, 1.0)
            mask = batch["attribute_mask"] * source[:, None]
            terms["attributes"] = losses.attributes(
                attributes, batch["attributes"], mask, self.positive_rate, w.attribute_balance
            )
        if years is not None:
            terms["age"] = losses.age(years, batch["age"], batch["has_age"])
            terms["young"] = losses.young(years, batch["young"], batch["has_young"])
        terms["sir_pull"], terms["sir_push"] = losses.sir(identity, batch["identity_id"], w.sir_margin)
        return terms

    def _cached_teachers(self, outputs, attributes, years, batch) -> dict:
        """The landmark, pose, identity, age and gender teachers' cached answers as targets."""
        w, pose = self.w, outputs.pose
        all68 = batch["has_teacher68"][:, None].expand(-1, 68)
        terms = {
            "teacher68": losses.landmarks68(outputs.dense, self.landmarks68, batch["teacher68"], all68),
            "teacher_pose": losses.pose_angles(pose[:, :3], batch["teacher_pose"], batch["has_teacher_pose"]),
        }
        if w.teacher_pose_rotation:
            limit = None if w.teacher_pose_max_yaw is None else float(np.radians(w.teacher_pose_max_yaw))
            terms["teacher_pose_rotation"] = losses.pose_rotation(
                pose[:, :3], batch["teacher_pose"], batch["has_teacher_pose"], limit
            )
        terms["relational"] = losses.relational(outputs.identity, batch["descriptor"], batch["has_descriptor"])
        if years is not None:
            terms["teacher_age"] = losses.age(years, batch["teacher_age"], batch["has_teacher_age"])
        if self.male is not None:
            terms["teacher_gender"] = losses.soft_binary(
                attributes[:, self.male], 1.0 - batch["teacher_female"], batch["has_teacher_female"]
            )
        return terms

    def _distilled(self, outputs, attributes, teacher, batch) -> dict:
        """A teacher network's answers as targets. Where they are pseudo-labels from a network no better
        than the learner on 3D-labelled faces, they count only on the samples that lack those labels
        (the real crops)."""
        d, pose = self.d, outputs.pose
        taught = torch.ones_like(pose[:, 0])
        if d.only_without_3d_labels:
            taught = 1.0 - batch["has_dense"].float()
        per_sample = {
            "distill_dense": torch.linalg.vector_norm(outputs.dense - teacher.dense, dim=-1).mean(-1),
            "distill_identity": (outputs.identity - teacher.identity).pow(2).mean(-1),
            "distill_expression": (outputs.expression - teacher.expression).abs().mean(-1),
            "distill_pose": (pose[:, :3] - teacher.pose[:, :3]).abs().mean(-1),
        }
        if self.model.attribute_head and teacher.attributes.shape == attributes.shape:
            t = d.temperature
            per_sample["distill_attributes"] = torch.nn.functional.binary_cross_entropy_with_logits(
                attributes / t, torch.sigmoid(teacher.attributes / t), reduction="none"
            ).mean(-1)
        return {name: losses.masked_mean(value, taught) for name, value in per_sample.items()}
