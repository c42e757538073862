"""`edgeface train` and `edgeface synthesize`: the training side, which owns its flags
(edgeface.train.trainer, edgeface.cli.recipe, edgeface.train.synthetic)."""

from __future__ import annotations

from importlib.util import find_spec

from ..runtime.errors import EdgefaceError

HELP = "train a teacher or student: edgeface train {teacher,student} --config FILE ..., or --recipe FILE"
SYNTHESIZE_HELP = "render labelled synthetic faces: edgeface synthesize {write,sheet} ..."
#: what the training side imports beyond the runtime, by distribution
TRAIN_MODULES = {"torch": "torch", "scipy": "scipy", "onnx": "onnx"}


def require_train_extra(command: str) -> None:
    """Refuse, naming the extra to install, where the training dependencies are absent."""
    missing = [dist for module, dist in TRAIN_MODULES.items() if find_spec(module) is None]
    if missing:
        raise EdgefaceError(
            f"`edgeface {command}` needs the train extra ({', '.join(missing)} not installed): "
            "pip install 'edgeface[train]'"
        )


def run(args) -> int:
    require_train_extra("train")
    if any(a == "--recipe" or a.startswith("--recipe=") for a in args.rest):
        from .recipe import main as recipe_main  # every stage of a shipped model

        return recipe_main(args.rest)
    from ..train.trainer import main as train_main

    return train_main(args.rest)


def run_synthesize(args) -> int:
    require_train_extra("synthesize")
    from ..train.synthetic_sets import main as synthetic_main

    return synthetic_main(args.rest)
