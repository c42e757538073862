"""The attribute branch (0.4.1): it answers the appearance attributes and age from its own layers,
leaves every geometric output as it was, learns only from labels a photo has, travels in the pack
so that the network can be recovered from its ONNX file, and its recipe stage runs and resumes."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch (pip install 'edgeface[train]')")

from edgeface.tools.datasets import data_root  # noqa: E402

pytestmark = pytest.mark.train

BRANCH = {"tap": 7, "width": 16, "attributes": "celeba"}
CONFIG = {
    "name": "branch-test",
    "backbone": "mobilenetv2_050",
    "input_size": 112,
    "crop_scale": 1.4,
    "identity_size": 40,
    "attributes": "celeba",
    "age_head": True,
    "visibility_head": True,
}


def _need(*parts):
    root = data_root()
    if root is None or not all((root / p).exists() for p in parts):
        pytest.skip(f"{', '.join(parts)} not found: set EDGEFACE_DATA")
    return root


@pytest.fixture(scope="module")
def morphable():
    from edgeface.train.morphable import MorphableModel

    return MorphableModel.load(_need("ict_facekit.npz") / "ict_facekit.npz")


def _randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def test_the_branch_answers_its_attributes_and_age_and_nothing_geometric(morphable):
    from edgeface.train.build import build_model
    from edgeface.train.sources import CELEBA_ATTRIBUTES

    plain = _randomised(build_model(CONFIG, morphable))
    branched, _, before, after, described = _grown(plain, {**CONFIG, "attribute_branch": BRANCH}, "branch", morphable)
    for name, a, b in zip(("dense", "pose", "identity", "expression"), before[:4], after[:4]):
        assert torch.equal(a, b), name
    assert torch.equal(before[5], after[5])  # visibility
    names = branched.attribute_names
    own = [j for j, n in enumerate(names) if n not in CELEBA_ATTRIBUTES]
    assert len(own) == 7 and torch.equal(before[4][:, own], after[4][:, own])  # the expression attributes
    for k, n in enumerate(CELEBA_ATTRIBUTES):
        assert torch.allclose(after[4][:, names.index(n)], described[:, k])
    assert torch.allclose(after.age[:, 0], 35.0 + 20.0 * described[:, 40])  # age in years, its own output
    assert not torch.allclose(before.age, after.age)


def _grown(plain, config: dict, part: str, morphable):
    """`plain`'s network grown by a part (its module's name), the rest loaded from `plain` and the
    part randomised; random crops, plain's and the grown network's outputs on them, and the part's
    answers."""
    from edgeface.train.build import build_model

    grown = build_model(config, morphable)
    # the gathers that route answers to their columns belong to the grown network
    missing, unexpected = grown.load_state_dict(
        {k: v for k, v in plain.state_dict().items() if not k.endswith("_order")}, strict=False
    )
    new = [k for k in missing if not k.endswith("_order")]
    assert not unexpected and new and all(k.startswith(part + ".") for k in new)
    _randomised(getattr(grown, part), seed=1)
    grown.eval()
    x = torch.randn(3, 3, 112, 112, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return grown, x, plain(x), grown(x), getattr(grown, part)(grown.backbone.features[:7](x))


def test_the_branch_refuses_attributes_the_network_lacks(morphable):
    from edgeface.train.build import build_model

    with pytest.raises(ValueError, match="Has_Tail"):
        build_model({**CONFIG, "attribute_branch": {**BRANCH, "attributes": ["Male", "Has_Tail"]}}, morphable)


def test_the_branch_loss_sees_only_the_labels_a_photo_has():
    from edgeface.train.attribute_branch import branch_loss

    g = torch.Generator().manual_seed(0)
    out = torch.randn(4, 41, generator=g).requires_grad_(True)
    attributes = (torch.rand(4, 40, generator=g) > 0.5).float()
    attributes[1] = float("nan")  # a UTKFace photo: gender only
    attributes[1, 20] = 1.0
    attributes[3] = float("nan")  # no attribute at all
    age = torch.tensor([float("nan"), 30.0, float("nan"), float("nan")])
    loss = branch_loss(out, attributes, age, age_weight=0.5)
    loss.backward()
    labelled = torch.isfinite(attributes)
    assert out.grad[:, :40][~labelled].abs().max() == 0
    assert out.grad[:, :40][labelled].abs().min() > 0
    assert out.grad[[0, 2, 3], 40].abs().max() == 0 and out.grad[1, 40] != 0
    # changing what is unlabelled changes nothing
    other = attributes.clone()
    other[3] = 1.0
    other[3, :] = float("nan")
    moved = out.detach().clone()
    moved[3] += 5.0
    assert torch.allclose(branch_loss(moved, other, age, 0.5), loss.detach())
    # no age anywhere: the attribute term alone
    assert torch.allclose(
        branch_loss(out.detach(), attributes, torch.full((4,), float("nan")), 0.5),
        branch_loss(out.detach()[:, :40], attributes, age, 0.5),
    )


@pytest.mark.parametrize("branch", [BRANCH, {**BRANCH, "eyelids": {"width": 8}}], ids=["attributes", "eyelids"])
def test_a_pack_with_a_branch_is_recovered_from_its_onnx_file(morphable, tmp_path, branch):
    import onnxruntime as ort

    from edgeface.export.fp32 import trained_manifest, write_pack
    from edgeface.runtime.pack import read_manifest
    from edgeface.train.build import build_model
    from edgeface.train.recover import pack_model

    config = {**CONFIG, "attribute_branch": branch}
    model = _randomised(build_model(config, morphable))
    pack = write_pack(model, tmp_path / "pack", trained_manifest(model, config, {}), formats=("onnx",))
    network = read_manifest(pack).data["training"]["network"]
    assert network["attribute_branch"]["tap"] == 7 and len(network["attribute_branch"]["attributes"]) == 40
    # every convolution, the branch's too, sits where the INT8 export looks for the quantized part
    import onnx

    from edgeface.export.quantize import _quantized

    convs = [n.name for n in onnx.load(str(pack / "model_fp32.onnx")).graph.node if n.op_type == "Conv"]
    assert sum("/branch/blocks/" in n for n in convs) == 19
    assert sum("/eyelids/blocks/" in n for n in convs) == (9 if "eyelids" in branch else 0)
    assert all(_quantized(n) for n in convs)
    recovered = pack_model(pack, morphable)
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ours, original = recovered(x), model(x)
    theirs = ort.InferenceSession(str(pack / "model_fp32.onnx")).run(None, {"image": x.numpy()})
    for a, b, c in zip(ours, theirs, original):
        np.testing.assert_allclose(a.numpy(), b, atol=2e-5)
        np.testing.assert_allclose(a.numpy(), c.numpy(), atol=2e-5)


def test_the_branch_recipe_runs_to_its_export_and_resumes(tmp_path, monkeypatch):
    """recipes/edgeface-0.4.1.json on 30 CelebA and 30 UTKFace photos, tiny: release (from git),
    prepare, branch, export; the trunk and head come out of the branch stage untouched."""
    root = _need("aflw_train/labels.npz", "celeba/labels.npz", "utkface/labels.npz", "ict_facekit.npz")
    import subprocess

    from test_hybrid_sources import _subset_folder

    from edgeface.cli.recipe import ROOT
    from edgeface.runtime.pack import read_manifest
    from edgeface.train.recover import pack_model

    recipe_file = json.loads((ROOT / "recipes" / "edgeface-0.4.1.json").read_text())
    release = next(s for s in recipe_file["stages"] if s["run"] == "release")
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", release["git"]], capture_output=True).returncode:
        pytest.skip("the release stage reads git history: this checkout has none")
    data = tmp_path / "data"
    _subset_folder(root / "aflw_train", data / "aflw_train", np.arange(20))
    for name in ("celeba", "utkface"):
        rows = np.flatnonzero(np.load(root / name / "labels.npz")["split"] == "train")
        _subset_folder(root / name, data / name, rows[:30])
    (data / "ict_facekit.npz").symlink_to(root / "ict_facekit.npz")
    monkeypatch.setenv("EDGEFACE_DATA", str(data))
    shards = tmp_path / "shards"
    for stage in recipe_file["stages"]:
        if stage["run"] == "prepare":
            stage["shards"] = str(shards)
        if stage["run"] == "attribute-branch":
            for part in ("celeba", "utkface"):
                stage["config"]["sources"][part]["frames"] = str(shards / f"{part}_frames.npz")
            stage["fit"] = {"epochs": 2, "views": 2, "batch": 16}
    recipe, rerun = _run_to_export(recipe_file, tmp_path)
    pack = recipe.product("export")
    assert read_manifest(pack).data["training"]["network"]["attribute_branch"]["width"] == 32
    state = torch.load(recipe.product("branch"), weights_only=True)
    assert state["attribute_branch"]["celeba_photos"] == 30 and state["attribute_branch"]["epochs"] == 2
    # everything but the branch is the release's network, unchanged
    from edgeface.train.morphable import MorphableModel

    released = pack_model(recipe.product("release"), MorphableModel.load(None)).state_dict()
    for key, value in released.items():
        assert torch.equal(state["model"][key], value), key
    assert any(k.startswith("branch.") for k in state["model"])
    assert rerun() == 4  # a rerun finds every stage done


def _run_to_export(recipe_file: dict, tmp_path):
    """A recipe (its export stage cut to ONNX) run to its export in tmp_path; and a rerun that
    counts the stages it finds done."""
    from edgeface.cli.recipe import Recipe

    for stage in recipe_file["stages"]:
        if stage["run"] == "export":
            stage["formats"] = ["onnx"]
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe_file))
    recipe = Recipe(path, tmp_path / "run")
    recipe.run(stop_after="export", progress=lambda _: None)

    def rerun() -> int:
        said = []
        Recipe(path, tmp_path / "run").run(stop_after="export", progress=said.append)
        return sum("done before" in s for s in said)

    return recipe, rerun
