"""`edgeface train --recipe FILE`: every stage of a shipped model, in order, resumable.

A recipe is one JSON file: a `base` config (configs/base.json), an output folder, and its stages.
Each stage writes its results into `<out>/<stage>/` and marks itself done there (`done.json`); a
rerun skips the done stages and continues a training stage from its last checkpoint, so a recipe
split across sessions (or killed) ends where a single run would. Stage kinds (`run`):

- `release`: a released pack taken from git history (`git`: commit, `path`: pack folder), the
  starting network when the previous stage's checkpoints are not at hand;
- `teachers`: each teacher run once over every training photo of AFLW, CelebA and UTKFace and
  cached (`train.teachers`; `sets`, `teachers`, `workers`, `cache`: the folder, default
  .shards/teachers), resumable;
- `prepare`: the training shards that are missing: the AFLW crops packed, and the runtime's crop of
  every CelebA and UTKFace photo (`framing.frame`, run with the `model` stage's pack; with
  `"frames": "teachers"`, cut by the pack's crop rule from the landmark teacher's points of the
  `teachers` stage instead, `framing.frame_from_teachers`; `limit`: the first AFLW crops only);
- `train`: `edgeface train` with the base config deep-merged with the stage's `config`;
  `init` and `teacher` name earlier stages (their pack or checkpoint);
- `heads`: a training stage's checkpoint with its attribute and age rows refitted on its frozen
  features (`heads.refit`; the CelebA and UTKFace training photos of the `sources` stage's config);
- `attribute-branch`: an attribute branch added to the `start` stage's network (a pack or a
  checkpoint) and trained on its frozen trunk (`train.attribute_branch`; the stage's `config` is
  laid over the base config, its `fit` holds epochs, views, batch, lr);
- `eyelid-branch`: an eyelid branch added to the `start` stage's network (with an attribute
  branch) and trained on its frozen trunk from MERL-RAV's eyelids on the AFLW crops
  (`train.eyelid_branch`; `config` as for `attribute-branch`, `fit` holds epochs, views, batch,
  lr, limit; `shards` the folder of the AFLW shard, packed there if missing);
- `export`: the fp32 pack (ONNX, OpenVINO, TFLite) of a training stage, with the recipe's card;
- `align-landmarks`: the pack's 68-landmark definition fitted per head yaw (two-fold);
- `identity-metric`: the centre and whitening of the pack's identity coefficients that faces'
  embeddings are made with, fitted on the CelebA training people end to end (`export.identity_metric`;
  `limit` photos at most);
- `int8`: INT8 files and the accuracy gate; a file that fails is left out of the pack.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from ..runtime.errors import EdgefaceError
from ..train.config import ConfigError, TrainingConfig, merged, need

ROOT = Path(__file__).resolve().parents[2]
KINDS = (
    "release",
    "teachers",
    "prepare",
    "train",
    "heads",
    "attribute-branch",
    "eyelid-branch",
    "export",
    "align-landmarks",
    "identity-metric",
    "int8",
)


def _training_data() -> Path:
    from ..tools.datasets import data_root

    root = data_root()
    if root is None:
        raise EdgefaceError("the training sets are read from $EDGEFACE_DATA: set it (../shared/data)")
    return root


class Recipe:
    def __init__(self, path, out=None, overrides: dict | None = None):
        self.path = Path(path)
        try:
            self.data = json.loads(self.path.read_text())
        except ValueError as error:
            raise ConfigError(f"{self.path} is not JSON: {error}") from None
        self.out = Path(out or self.data.get("out") or f"runs/{self.data['name']}")
        self.overrides = overrides or {}
        base = self.data.get("base")
        self.base = json.loads((ROOT / base).read_text()) if base else {}
        names = [s["name"] for s in self.data["stages"]]
        if len(set(names)) != len(names):
            raise ConfigError(f"{self.path}: stage names must be distinct")
        for s in self.data["stages"]:
            if s.get("run") not in KINDS:
                raise ConfigError(f"{self.path}: stage {s['name']!r} runs {s.get('run')!r}; known: {', '.join(KINDS)}")
        # every training configuration is checked now, before any stage spends hours
        self.configs = {s["name"]: self.stage_config(s) for s in self.stages if "config" in s}

    @property
    def stages(self) -> list[dict]:
        return self.data["stages"]

    def folder(self, name: str) -> Path:
        return self.out / name

    def done(self, name: str) -> dict | None:
        marker = self.folder(name) / "done.json"
        return json.loads(marker.read_text()) if marker.exists() else None

    def product(self, name: str) -> Path:
        """What a finished stage hands on: a pack folder or a checkpoint."""
        done = self.done(name)
        if done is None:
            raise EdgefaceError(f"stage {name!r} has not run yet")
        return Path(done["product"])

    def stage_config(self, stage: dict) -> TrainingConfig:
        """The base config with the stage's `config` and the recipe's overrides laid over it, checked."""
        config = merged(merged(self.base, stage.get("config", {})), self.overrides)
        config.setdefault("name", f"{self.data['name']}-{stage['name']}")
        return TrainingConfig.from_dict(config, f"{self.path}: stage {stage['name']!r}: config")

    def pack(self) -> Path:
        """The pack the recipe's last export writes into (align-landmarks and int8 work on it)."""
        exports = [s for s in self.stages if s["run"] == "export"]
        if not exports:
            raise ConfigError(f"{self.path} has no export stage")
        return self.folder(exports[-1]["name"]) / "pack"

    def run(self, stop_after: str | None = None, start_at: str | None = None, progress=print) -> None:
        names = [s["name"] for s in self.stages]
        for name in (stop_after, start_at):
            if name is not None and name not in names:
                raise ConfigError(f"{self.path} has no stage {name!r}; its stages: {', '.join(names)}")
        started = start_at is None
        for stage in self.stages:
            started = started or stage["name"] == start_at
            if not started:
                continue
            if self.done(stage["name"]) is not None and start_at is None:
                progress(f"[{stage['name']}] done before: {self.done(stage['name'])['product']}")
            else:
                began = time.time()
                progress(f"[{stage['name']}] {stage['run']}")
                product = getattr(self, "_" + stage["run"].replace("-", "_"))(stage)
                self.folder(stage["name"]).mkdir(parents=True, exist_ok=True)
                (self.folder(stage["name"]) / "done.json").write_text(
                    json.dumps({"product": str(product), "seconds": round(time.time() - began, 1)}, indent=1)
                )
                progress(f"[{stage['name']}] done in {time.time() - began:.0f} s: {product}")
            if stage["name"] == stop_after:
                break

    # -- stage kinds -------------------------------------------------------------------------

    def _release(self, stage: dict) -> Path:
        """Write the released pack's manifest and fp32 ONNX file (all `recover` needs) from git."""
        out = self.folder(stage["name"]) / "pack"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("edgeface.json", "model_fp32.onnx"):
            blob = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{stage['git']}:{stage['path']}/{name}"],
                capture_output=True,
                check=False,
            )
            if blob.returncode:
                raise EdgefaceError(
                    f"git show {stage['git']}:{stage['path']}/{name} failed (a clone with its "
                    f"history is needed): {blob.stderr.decode(errors='replace').strip()}"
                )
            (out / name).write_bytes(blob.stdout)
        return out

    def _teachers(self, stage: dict) -> Path:
        from ..train.teachers import SETS, TEACHERS, teach

        cache = ROOT / stage.get("cache", ".shards/teachers")
        counts = teach(
            _training_data(),
            cache,
            stage.get("sets", SETS),
            stage.get("teachers", TEACHERS),
            workers=stage.get("workers", 2),
            limit=stage.get("limit"),
        )
        print(json.dumps(counts), flush=True)
        return cache

    def _prepare(self, stage: dict) -> Path:
        from ..train.data import pack
        from ..train.framing import frame

        root = _training_data()
        shards = ROOT / stage.get("shards", ".shards")
        if not (shards / "aflw_train.npz").exists():
            pack(root / "aflw_train", shards / "aflw_train.npz", limit=stage.get("limit"))
        model = self.product(stage["model"]) if stage.get("model") else None
        for name in ("celeba", "utkface"):
            if (shards / f"{name}_frames.npz").exists():
                continue
            if stage.get("frames") == "teachers":  # from the landmark teacher's 68 points (`teachers` stage)
                from ..runtime.pack import read_manifest
                from ..train.framing import frame_from_teachers

                manifest = read_manifest(model)
                frame_from_teachers(
                    root / name,
                    self.product(stage["teachers"]) / f"{name}.npz",
                    shards / f"{name}_frames.npz",
                    manifest.crop_scale,
                    manifest.crop_shift_y,
                )
            else:
                frame(
                    root / name,
                    shards / f"{name}_frames.npz",
                    backend="onnx",
                    model=model,
                    precision="fp32" if model else None,
                )
        return shards

    def _train(self, stage: dict) -> Path:
        from ..train.trainer import train

        out = self.folder(stage["name"])
        config = self.stage_config(stage)
        teacher = self.product(stage["teacher"]) if stage.get("teacher") else None
        init = self.product(stage["init"]) if stage.get("init") else None
        train(config, out, resume=True, teacher_path=teacher, init_path=init)
        return out / stage.get("checkpoint", "last.pt")

    @staticmethod
    def _training_photos(config: TrainingConfig):
        """The CelebA and UTKFace training photos a stage's config names, at its input size."""
        from ..train.sources import CelebaExamples, UtkfaceExamples

        root = _training_data()
        src, size = config.sources, config.input_size
        if src is None or src.celeba is None or src.utkface is None:
            raise ConfigError(f"{config.name}: sources.celeba and sources.utkface name the training photos")
        c, u = src.celeba, src.utkface
        why = "the branch's training photos"
        return (
            CelebaExamples(
                root / need(c.root, "sources.celeba.root", why), need(c.frames, "sources.celeba.frames", why), size
            ),
            UtkfaceExamples(
                root / need(u.root, "sources.utkface.root", why),
                need(u.frames, "sources.utkface.frames", why),
                "train",
                size,
            ),
        )

    def _heads(self, stage: dict) -> Path:
        from ..train.heads import refit

        sources = next(s for s in self.stages if s["name"] == stage["sources"])
        celeba, utkface = self._training_photos(self.stage_config(sources))
        out = self.folder(stage["name"]) / "heads.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        refit(self.product(stage["checkpoint"]), out, celeba, utkface, stage.get("l2", 1e-3), stage.get("views", 2))
        return out

    def _attribute_branch(self, stage: dict) -> Path:
        from ..train.attribute_branch import train_branch

        config = self.stage_config(stage)
        celeba, utkface = self._training_photos(config)
        return train_branch(
            self.product(stage["start"]), self.folder(stage["name"]), config, celeba, utkface, **stage.get("fit", {})
        )

    def _eyelid_branch(self, stage: dict) -> Path:
        from ..train.data import AflwShard, pack
        from ..train.eyelid_branch import train_eyelids
        from ..train.sources import Aflw68Examples

        root = _training_data()
        config = self.stage_config(stage)
        shard = ROOT / stage.get("shards", ".shards") / "aflw_train.npz"
        if not shard.exists():
            pack(root / "aflw_train", shard)
        examples = Aflw68Examples(
            AflwShard(shard), root / "aflw_train" / "labels68.npz", config.input_size, config.crop_scale, augment=False
        )
        return train_eyelids(
            self.product(stage["start"]), self.folder(stage["name"]), config, examples, **stage.get("fit", {})
        )

    def _export(self, stage: dict) -> Path:
        from ..export.fp32 import export_checkpoint

        card = json.loads((ROOT / stage["card"]).read_text()) if stage.get("card") else {}
        pack = self.folder(stage["name"]) / "pack"
        export_checkpoint(
            self.product(stage["checkpoint"]),
            pack,
            formats=tuple(stage.get("formats", ("onnx", "openvino", "tflite"))),
            card=card,
        )
        return pack

    def _align_landmarks(self, stage: dict) -> Path:
        from ..export.landmarks import YAW_ANCHORS, align
        from ..tools.datasets import Aflw2000
        from .common import dev_root, ict_file

        pack = self.pack()
        dataset = Aflw2000.load(dev_root(None, "EDGEFACE_DATA", "the landmark alignment needs AFLW2000-3D dev"))
        result = align(
            pack,
            dataset,
            ict_file(None, "the landmark alignment's neighbourhoods"),
            count=stage.get("neighbours", 16),
            backend=stage.get("backend", "onnx"),
            anchors=list(stage.get("yaw_anchors", YAW_ANCHORS)),
        )
        print(
            f"two-fold balanced NME: ICT vertices {100 * result['two_fold_nme_balanced_fixed']:.2f} %, aligned "
            f"{100 * result['two_fold_nme_balanced_aligned']:.2f} %",
            flush=True,
        )
        return pack

    def _identity_metric(self, stage: dict) -> Path:
        from ..export.identity_metric import fit_pack

        pack = self.pack()
        record = fit_pack(pack, _training_data() / "celeba", limit=stage.get("limit"))
        self.folder(stage["name"]).mkdir(parents=True, exist_ok=True)
        (self.folder(stage["name"]) / "identity_metric.json").write_text(json.dumps(record, indent=1))
        return pack

    def _int8(self, stage: dict) -> Path:
        """INT8 files through the gate (`export.int8`); a file that fails is left out, as the stage intends."""
        from ..export.gate import gate_summary
        from ..export.int8 import add_gated_int8
        from .common import dev_root, ict_file

        pack = self.pack()
        result = add_gated_int8(
            pack,
            ROOT / stage.get("calibration", "calibration_data"),
            tuple(stage.get("formats", ("onnx", "openvino", "tflite"))),
            dev_root(None, "EDGEFACE_DATA", "the INT8 gate needs the AFLW2000-3D dev set"),
            ict_file(None, "the INT8 gate's held-out synthetic faces"),
        )
        for fmt, r in result.items():
            print(gate_summary(fmt, r), flush=True)
        gate = self.folder(stage["name"]) / "gate.json"
        gate.parent.mkdir(parents=True, exist_ok=True)
        gate.write_text(json.dumps(result, indent=1))
        return pack
