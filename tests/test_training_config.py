"""The typed training configuration (edgeface.train.config): every shipped recipe reads, and a
misspelt key, a wrong type or a value out of range fails with a message that names it. Needs no torch."""

import json
from pathlib import Path

import pytest

from edgeface.runtime.errors import EdgefaceError
from edgeface.train.config import ConfigError, Losses, TrainingConfig, load, merged

ROOT = Path(__file__).resolve().parents[1]
BASE = json.loads((ROOT / "configs" / "base.json").read_text())
RECIPES = sorted((ROOT / "recipes").glob("edgeface-*.json")) + [ROOT / "recipes" / "ablations-0.4.0.json"]


def _student_050() -> dict:
    recipe = json.loads((ROOT / "recipes" / "edgeface-0.5.0.json").read_text())
    stage = next(s for s in recipe["stages"] if s["name"] == "student")
    return merged(BASE, stage["config"])


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_shipped_recipe_reads_and_round_trips(path):
    recipe = json.loads(path.read_text())
    stages = [s for s in recipe["stages"] if "config" in s]
    assert stages
    for stage in stages:
        config = TrainingConfig.from_dict(merged(BASE, stage["config"]), f"{path.name}: {stage['name']}")
        assert TrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_the_050_student_reads_as_its_recipe_says():
    config = TrainingConfig.from_dict(_student_050())
    assert config.loss.teacher68 == 3.0 and config.loss.of("teacher68") == 3.0
    assert config.loss.region_weight == 2.0  # base.json's
    assert config.loss.teacher_pose_rotation == 0.0  # not in the recipe: the default
    assert config.distill is None  # "distill": null removes the base's
    assert config.sources.aflw.per_batch == 12 and config.sources.celeba.group == 2
    assert config.train.minutes == 85 and config.train.frozen == ()
    assert config.attribute_branch.tap == 7 and config.attribute_branch.eyelids.width == 32
    assert config.attribute_branch.eyelids.input_size == 112  # the default


@pytest.mark.parametrize(
    "change,message",
    [
        ({"loss": {"teacher86": 3.0}}, "config.loss.teacher86: unknown key (did you mean 'teacher68'?)"),
        ({"train": {"learning_rate": 0.1}}, "config.train.learning_rate: unknown key"),
        (
            {"sources": {"celeba": {"per_bach": 8}}},
            "config.sources.celeba.per_bach: unknown key (did you mean 'per_batch'?)",
        ),
        ({"backbon": "resnet34"}, "config.backbon: unknown key (did you mean 'backbone'?)"),
        ({"train": {"epochs": "60"}}, "config.train.epochs: expected an integer, got '60'"),
        ({"train": {"epochs": 2.5}}, "config.train.epochs: expected an integer, got 2.5"),
        ({"age_head": 1}, "config.age_head: expected true or false, got 1"),
        ({"loss": {"landmarks": "1"}}, "config.loss.landmarks: expected a number, got '1'"),
        ({"loss": {"landmarks": -0.5}}, "config.loss.landmarks: -0.5 is out of range (must be >= 0.0)"),
        ({"train": {"lr": 0}}, "config.train.lr: 0.0 is out of range (must be > 0.0)"),
        ({"sources": {"aflw": {"val_fraction": 0.9}}}, "config.sources.aflw.val_fraction: 0.9 is out of range"),
        ({"loss": {"teacher_pose_max_yaw": 120}}, "config.loss.teacher_pose_max_yaw: 120.0 is out of range"),
        ({"train": {"frozen": "backbone"}}, "config.train.frozen: expected a list, got 'backbone'"),
        ({"train": {"frozen": ["backbone", 3]}}, "config.train.frozen[1]: expected a string, got 3"),
        ({"sources": {"aflw": 12}}, "config.sources.aflw: expected an object, got int 12"),
        ({"attributes": "imagenet"}, "config.attributes: 'celeba' or none, got 'imagenet'"),
    ],
)
def test_a_bad_key_or_value_is_named(change, message):
    with pytest.raises(ConfigError) as caught:
        TrainingConfig.from_dict(merged(_student_050(), change))
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, EdgefaceError)  # the CLI prints it as a clean error


def test_missing_required_keys_are_named_and_comments_are_skipped():
    with pytest.raises(ConfigError, match=r"^config: missing backbone, input_size, crop_scale, identity_size$"):
        TrainingConfig.from_dict({"_comment": "nothing else"})
    assert TrainingConfig.from_dict({**_student_050(), "_note": 1}) == TrainingConfig.from_dict(_student_050())


def test_every_loss_weight_defaults_to_off():
    weights = Losses()
    assert weights.landmarks == weights.teacher68 == weights.relational == 0.0
    assert (weights.region_weight, weights.attributes_synthetic, weights.attribute_balance, weights.sir_margin) == (
        2.0,
        1.0,
        1.0,
        3.0,
    )


def test_load_lays_overrides_over_the_base_file(tmp_path):
    config = load(ROOT / "configs" / "base.json", {"train": {"epochs": 3}}, {"loss": {"landmarks": None}})
    assert config.train.epochs == 3 and config.train.lr == BASE["train"]["lr"]
    assert config.loss.landmarks == 0.0  # null removed it: the default
    with pytest.raises(ConfigError, match=r"^overrides\.train\.epoch: unknown key"):
        load(ROOT / "configs" / "base.json", {"train": {"epoch": 3}}, where="overrides")


def test_a_recipe_checks_every_stage_before_running_any(tmp_path, monkeypatch):
    from edgeface.cli.recipe import Recipe

    recipe = json.loads((ROOT / "recipes" / "edgeface-0.5.0.json").read_text())
    eyelids = next(s for s in recipe["stages"] if s["name"] == "eyelids")
    eyelids["config"]["attribute_branch"]["eyelids"]["widht"] = 32
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps({**recipe, "base": "configs/base.json"}))
    with pytest.raises(ConfigError, match=r"stage 'eyelids': config\.attribute_branch\.eyelids\.widht: unknown key"):
        Recipe(path, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing ran
    with pytest.raises(ConfigError, match=r"stage 'student': config\.train\.epochs: expected an integer"):
        Recipe(ROOT / "recipes" / "edgeface-0.5.0.json", tmp_path / "run", {"train": {"epochs": "many"}})
