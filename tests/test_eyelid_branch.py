"""The eyelid branch (0.4.2): it answers the eyelid blendshapes and eye closure from its own layers
and leaves every other output as it was, learns only from the eyelid labels a crop has, travels in
the pack, and its recipe stage runs and resumes."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

from test_attribute_branch import BRANCH, CONFIG, _grown, _need, _randomised, _run_to_export, morphable  # noqa: E402,F401

pytestmark = pytest.mark.train

EYELIDS = {**BRANCH, "eyelids": {"width": 8}}


def test_the_eyelid_branch_answers_the_eyelids_and_eye_closure_and_nothing_else(morphable):  # noqa: F811
    from edgeface.train.build import build_model
    from edgeface.train.facemodel import EYE_CLOSED, EYELID_SHAPES

    plain = _randomised(build_model({**CONFIG, "attribute_branch": BRANCH}, morphable))
    eyed, x, before, after, eyes = _grown(plain, {**CONFIG, "attribute_branch": EYELIDS}, "eyelids", morphable)
    assert torch.equal(before[1], after[1]) and torch.equal(before[2], after[2])  # pose, identity
    assert torch.equal(before[5], after[5])  # visibility
    names = eyed.expression_names
    lids = [names.index(n) for n in EYELID_SHAPES]
    others = [j for j in range(len(names)) if j not in lids]
    assert torch.allclose(before[3][:, others], after[3][:, others], rtol=0, atol=1e-7)
    assert torch.allclose(after[3][:, lids], torch.sigmoid(eyes[:, : len(EYELID_SHAPES)]))
    assert not torch.allclose(before[3][:, lids], after[3][:, lids])
    attributes = eyed.attribute_names
    closed = [attributes.index(n) for n in EYE_CLOSED]
    kept = [j for j in range(before[4].shape[1]) if j not in closed]  # age included
    assert torch.equal(before[4][:, kept], after[4][:, kept])
    shut = eyes[:, len(EYELID_SHAPES) :]
    assert torch.allclose(after[4][:, closed], torch.cat([shut, shut.min(1, keepdim=True).values], 1))
    # the face is the one the head's rows draw with the eyelid rows replaced by the branch's
    from edgeface.train import topology

    with torch.no_grad():
        pooled, described = plain.features(x)
        raw = plain.head(pooled)
        raw[:, [6 + plain.identity_size + j for j in lids]] = eyes[:, : len(EYELID_SHAPES)]
        drawn = plain.decode(raw, described)[0]
    assert torch.allclose(after[0], drawn, atol=1e-6)
    eye_points = torch.as_tensor(topology.load()["landmarks68"])[36:48]
    assert not torch.allclose(before[0][:, eye_points], after[0][:, eye_points], atol=1e-4)


def test_an_eyelid_branch_needs_the_closure_attributes(morphable):  # noqa: F811
    from edgeface.train import topology
    from edgeface.train.facemodel import FaceModel
    from edgeface.train.sources import CELEBA_ATTRIBUTES

    with pytest.raises(ValueError, match="Left_Eye_Closed"):
        FaceModel(
            "mobilenetv2_050",
            topology.load(),
            morphable,
            attribute_names=list(CELEBA_ATTRIBUTES),
            attribute_branch={**EYELIDS, "attributes": ["Male"]},
        )


def test_the_eyelid_loss_sees_only_the_labels_a_crop_has(morphable):  # noqa: F811
    from edgeface.train.build import build_model
    from edgeface.train.eyelid_branch import eye_labels, eyelid_loss

    model = _randomised(build_model({**CONFIG, "attribute_branch": EYELIDS}, morphable))
    g = torch.Generator().manual_seed(0)
    points = np.random.default_rng(0).uniform(0.3, 0.7, (3, 68, 2)).astype(np.float32)
    weight = np.ones((3, 68), np.float32)
    weight[1, 36:42] = 0.0  # crop 1: its right eye self-occluded
    weight[2] = 0.0  # crop 2: no 68 points at all
    labels = eye_labels(points, weight)
    assert np.isnan(labels["closed"][1, 1]) and np.isfinite(labels["closed"][1, 0])  # (left, right)
    assert np.isnan(labels["closed"][2]).all()
    batch = {k: torch.from_numpy(v) for k, v in labels.items()}
    raw = torch.randn(3, model.head.out_features, generator=g)
    described = torch.randn(3, 41, generator=g)
    eyes = torch.randn(3, 8, generator=g).requires_grad_(True)
    loss = eyelid_loss(model, raw, described, eyes, batch)
    loss.backward()
    assert eyes.grad[2].abs().max() == 0  # nothing labelled: no gradient
    assert eyes.grad[1, 7] == 0 and eyes.grad[1, 6] != 0  # the unseen eye's closure: none
    assert eyes.grad[0].abs().min() > 0
    moved = eyes.detach().clone()
    moved[2] += 3.0
    assert torch.allclose(eyelid_loss(model, raw, described, moved, batch), loss.detach())


def test_the_eyelid_recipe_runs_to_its_export_and_resumes(tmp_path, monkeypatch):
    """recipes/edgeface-0.4.2.json on a few labelled AFLW crops, tiny: release (from git), eyelids,
    export; everything but the eyelid branch comes out as the release had it."""
    root = _need("aflw_train/labels68.npz", "ict_facekit.npz")
    import subprocess

    from test_hybrid_sources import _subset_folder

    from edgeface.cli.recipe import ROOT
    from edgeface.runtime.pack import read_manifest
    from edgeface.train.morphable import MorphableModel
    from edgeface.train.recover import pack_model

    recipe_file = json.loads((ROOT / "recipes" / "edgeface-0.4.2.json").read_text())
    release = next(s for s in recipe_file["stages"] if s["run"] == "release")
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", release["git"]], capture_output=True).returncode:
        pytest.skip("the release stage reads git history: this checkout has none")
    data = tmp_path / "data"
    rows = np.flatnonzero(np.load(root / "aflw_train" / "labels68.npz")["has68"])[:60]
    _subset_folder(root / "aflw_train", data / "aflw_train", rows, extra=("labels68.npz",))
    (data / "ict_facekit.npz").symlink_to(root / "ict_facekit.npz")
    monkeypatch.setenv("EDGEFACE_DATA", str(data))
    for stage in recipe_file["stages"]:
        if stage["run"] == "eyelid-branch":
            stage["shards"] = str(tmp_path / "shards")
            stage["fit"] = {"epochs": 2, "views": 3, "batch": 16, "holdout": 0.2}
    recipe, rerun = _run_to_export(recipe_file, tmp_path)
    pack = recipe.product("export")
    assert read_manifest(pack).data["training"]["network"]["attribute_branch"]["eyelids"]["width"] == 32
    state = torch.load(recipe.product("eyelids"), weights_only=True)
    assert state["eyelids"]["crops"] == 48 and state["eyelids"]["views"] == 3
    assert torch.load(recipe.folder("eyelids") / "eyelids_last.pt", weights_only=True)["epoch"] == 1
    report = json.loads((recipe.folder("eyelids") / "eyelids.json").read_text())
    assert report["held_out_crops"] == 12 and {"before", "after"} <= set(report)
    released = pack_model(recipe.product("release"), MorphableModel.load(None)).state_dict()
    for key, value in released.items():
        if key != "branch_order":  # the closure attributes now point at the eyelid branch
            assert torch.equal(state["model"][key], value), key
    assert any(k.startswith("eyelids.") for k in state["model"])
    assert rerun() == 3  # a rerun finds every stage done
