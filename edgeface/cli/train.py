"""`edgeface train`: every stage of a recipe (`--recipe FILE`, edgeface.cli.recipe) or one training
run from a configuration file (`--config FILE`, edgeface.train.trainer). Each mode has its own flags."""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

from ..runtime.errors import EdgefaceError

HELP = "train: every stage of a recipe (--recipe FILE) or one run from a config (--config FILE)"
#: what the training side imports beyond the runtime, by distribution
TRAIN_MODULES = {"torch": "torch", "scipy": "scipy", "onnx": "onnx"}
#: flags that belong to one mode only: (dest, flag)
RECIPE_FLAGS = (("stop_after", "--stop-after"), ("start_at", "--from"), ("set", "--set"))
CONFIG_FLAGS = (
    ("teacher", "--teacher"),
    ("ict", "--ict"),
    ("shard", "--shard"),
    ("epochs", "--epochs"),
    ("resume", "--resume"),
    ("stop_after_epochs", "--stop-after-epochs"),
    ("device", "--device"),
    ("init", "--init"),
)


def require_train_extra(command: str) -> None:
    """Refuse, naming the extra to install, where the training dependencies are absent."""
    missing = [dist for module, dist in TRAIN_MODULES.items() if find_spec(module) is None]
    if missing:
        raise EdgefaceError(
            f"`edgeface {command}` needs the train extra ({', '.join(missing)} not installed): "
            "pip install 'edgeface[train]'"
        )


def add_arguments(p) -> None:
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--recipe", metavar="FILE", help="every stage of a shipped model, resumable (recipes/*.json)")
    mode.add_argument("--config", metavar="FILE", help="one training run from a configuration file")
    p.add_argument("--out", default=None, help="output folder (default: the recipe's, or runs/<config name>)")
    r = p.add_argument_group("with --recipe")
    r.add_argument("--stop-after", default=None, metavar="STAGE", help="end after this stage")
    r.add_argument(
        "--from",
        dest="start_at",
        default=None,
        metavar="STAGE",
        help="rerun from this stage (it and the later ones run even if done before)",
    )
    r.add_argument(
        "--set",
        default=None,
        metavar="JSON",
        help='overrides laid over every stage\'s config, e.g. \'{"train": {"steps_per_epoch": 2}}\'',
    )
    c = p.add_argument_group("with --config")
    c.add_argument("--teacher", default=None, help="a network to distil from (checkpoint or pack)")
    c.add_argument("--ict", default=None, help="ict_facekit.npz (default: $EDGEFACE_DATA/ict_facekit.npz)")
    c.add_argument("--shard", default=None, help="packed AFLW shard (default: the config's data.aflw_shard)")
    c.add_argument("--epochs", type=int, default=None, help="override the config's epoch count")
    c.add_argument("--resume", action="store_true", help="continue from the output folder's last.pt")
    c.add_argument(
        "--stop-after-epochs", type=int, default=None, metavar="N", help="end this call after N epochs (resume later)"
    )
    c.add_argument("--device", default=None, help="torch device (default: cuda where torch sees one, else cpu)")
    c.add_argument("--init", default=None, help="start from this checkpoint's or pack's weights (fine-tuning)")


def run(args) -> int:
    mode, other = ("--recipe", CONFIG_FLAGS) if args.recipe else ("--config", RECIPE_FLAGS)
    given = [flag for dest, flag in other if getattr(args, dest) not in (None, False)]
    if given:
        raise EdgefaceError(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not apply with {mode}")
    require_train_extra("train")
    if args.recipe:
        from .recipe import Recipe

        overrides = _json(args.set, "--set") if args.set else None
        Recipe(args.recipe, args.out, overrides).run(args.stop_after, args.start_at)
        return 0
    from ..train.config import TrainingConfig
    from ..train.trainer import train

    data = _json(Path(args.config).read_text(), args.config)
    if args.epochs:
        data.setdefault("train", {})["epochs"] = args.epochs
    config = TrainingConfig.from_dict(data, args.config)
    out = Path(args.out or f"runs/{config.name}")
    best = train(
        config,
        out,
        args.ict,
        args.shard,
        args.resume,
        args.device,
        teacher_path=args.teacher,
        stop_after=args.stop_after_epochs,
        init_path=args.init,
    )
    print(f"best checkpoint: {best}")
    return 0


def _json(text: str, where: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise EdgefaceError(f"{where} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise EdgefaceError(f"{where} must be a JSON object")
    return value
