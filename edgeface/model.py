"""Model packs: model files plus one JSON manifest, and the one pre/post-processing path.

A model pack is a directory holding `edgeface.json` and the files it lists, one per
(format, precision). The manifest states everything a runtime needs to feed a file and read
it back (input size, colour order, mean/std, layout, quantization, which file tensor holds
which output), plus what a user must know before using it (topology, attribute names,
training data, licence). `Model` loads one file through a backend, checks that the file is
the one the manifest describes, and turns crops into named float outputs; it is the only
place that normalises, transposes, quantizes or dequantizes, whatever the backend.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from . import backends
from .errors import BackendNotInstalledError, ModelError, OptionError

MANIFEST_NAME = "edgeface.json"
SCHEMA_VERSION = 1
DEFAULT_PACK = Path(__file__).parent / "models" / "default"

#: A manifest larger than this, or nested deeper, is refused before it is parsed or used.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_DEPTH = 32
#: A model file (with its companions) larger than this is refused before it is hashed.
MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024

#: Output name -> shape without the batch dimension; `None` entries are taken from the manifest.
OUTPUT_NAMES = ("dense", "pose", "identity", "expression", "attributes", "visibility")


def _sha256(*paths: Path) -> str:
    """One digest over a model file and its companions (OpenVINO's .bin), in order."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelFile:
    path: Path
    format: str
    precision: str
    layout: str  # "NCHW" or "NHWC"
    sha256: str  # over the file, then its companions
    companions: tuple[Path, ...]  # files the model file needs beside it (OpenVINO weights)
    outputs: dict  # output name -> tensor name in the file
    input_quantization: tuple[float, int] | None
    output_quantization: dict  # output name -> (scale, zero_point) for integer outputs


def yaw_mixing(yaw: np.ndarray, anchors) -> np.ndarray:
    """(N, A) how much each anchor yaw's landmark weights count for heads at `yaw` (degrees):
    linear between neighbouring anchors, held beyond the ends (one anchor: always that one)."""
    anchors = np.asarray(anchors, np.float64)
    mix = np.zeros((len(yaw), len(anchors)))
    if len(anchors) == 1:
        mix[:] = 1.0
        return mix
    yaw = np.clip(yaw, anchors[0], anchors[-1])
    j = np.clip(np.searchsorted(anchors, yaw) - 1, 0, len(anchors) - 2)
    f = (yaw - anchors[j]) / (anchors[j + 1] - anchors[j])
    rows = np.arange(len(yaw))
    mix[rows, j], mix[rows, j + 1] = 1.0 - f, f
    return mix


class Manifest:
    """A parsed and checked `edgeface.json`: every field the runtime reads has its type and range
    checked here, so that a wrong pack fails to load with a ModelError naming the field instead of
    loading and answering wrongly."""

    def __init__(self, data: dict, root: Path):
        self.root = root
        self.data = data
        self._where = f"manifest {root / MANIFEST_NAME}"
        try:
            if data.get("schema") != SCHEMA_VERSION:
                raise ModelError(f"manifest schema {data.get('schema')!r} is not supported "
                                 f"(this edgeface reads schema {SCHEMA_VERSION})")
            self.name: str = self._text(data["name"], "name")
            self.purpose: str = self._text(data.get("purpose", "reconstruction"), "purpose")
            for field in ("license", "version", "pose_translation"):
                if field in data:
                    self._text(data[field], field)
            self._texts(data.get("validated_outputs", []), "validated_outputs")
            self._texts(list(self._table(data.get("not_validated", {}), "not_validated")), "not_validated")
            inp = self._table(data["input"], "input")
            self.input_size = self._whole(inp["size"], "input.size", 1, 4096)
            self.channels: str = self._text(inp.get("channels", "RGB"), "input.channels")
            if self.channels.upper() not in ("RGB", "BGR"):
                raise self._error("input.channels", f"must be 'RGB' or 'BGR', not {self.channels!r}")
            self.mean = self._reals(inp["mean"], "input.mean", (3,))
            self.std = self._reals(inp["std"], "input.std", (3,))
            if (self.std <= 0).any():
                raise self._error("input.std", f"must be positive, not {self.std.tolist()}")
            crop = self._table(data["crop"], "crop")
            self.crop_scale = self._real(crop["scale"], "crop.scale", positive=True)
            self.crop_shift_y = self._real(crop.get("shift_y", 0.0), "crop.shift_y")
            topo = self._table(data["topology"], "topology")
            self.topology: str = f"{self._text(topo['name'], 'topology.name')}/v{topo['version']}"
            self.num_points = self._whole(topo["num_points"], "topology.num_points", 1, 1_000_000)
            self.landmarks68 = self._indices(topo["landmarks68"], "topology.landmarks68", (68,))
            weights = self._table(topo.get("landmark_weights", {}), "topology.landmark_weights")
            self.landmark_points, self.landmark_weights = self._landmark_definition(topo)
            self.landmark_yaw, self.landmark_weights_by_yaw = self._landmark_yaw_definition(topo)
            self.landmark_alignment: dict | None = weights.get("alignment")
            self.mirror = self._indices(topo["mirror"], "topology.mirror", (self.num_points,)) if "mirror" in topo else None
            self.triangles = self._indices(topo["triangles"], "topology.triangles").astype(np.int32)
            if self.triangles.size % 3:
                raise self._error("topology.triangles", f"must hold whole triangles (3 indices each), "
                                                        f"not {self.triangles.size} indices")
            self.triangles = self.triangles.reshape(-1, 3)
            self.expression_names: list[str] = self._texts(data["expression_names"], "expression_names")
            self.attribute_names: list[str] = self._texts(data["attribute_names"], "attribute_names")
            self.identity_size = self._whole(data["identity_size"], "identity_size", 0, 100_000)
            # age: one more column after the attribute logits, in years; gender: which attribute says it
            age = data.get("age")
            self.age_column: int | None = None
            if age is not None:
                self.age_column = self._whole(self._table(age, "age").get("column"), "age.column",
                                              len(self.attribute_names), len(self.attribute_names))
            gender = data.get("gender")
            self.gender_attribute: str | None = None
            if gender is not None:
                self.gender_attribute = self._text(self._table(gender, "gender").get("attribute"), "gender.attribute")
                if self.gender_attribute not in self.attribute_names:
                    raise self._error("gender.attribute", f"names {self.gender_attribute!r}, which is not one of "
                                                          "attribute_names")
            files = data["files"]
            if not isinstance(files, list) or not files:
                raise self._error("files", f"must be a non-empty list of model files, not {type(files).__name__}")
            self.files = [self._file(entry, f"files[{i}]") for i, entry in enumerate(files)]
        except KeyError as missing:
            raise ModelError(f"{self._where} lacks the field {missing}") from None
        except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as bad:
            raise ModelError(f"{self._where} is malformed: {type(bad).__name__}: {bad}") from None

    # -- field checks: each returns the value in the runtime's type or raises a ModelError ----

    def _error(self, field: str, problem: str) -> ModelError:
        return ModelError(f"{self._where}: {field} {problem}")

    def _table(self, value, field: str) -> dict:
        if not isinstance(value, dict):
            raise self._error(field, f"must be a JSON object, not {type(value).__name__}")
        return value

    def _text(self, value, field: str) -> str:
        if not isinstance(value, str):
            raise self._error(field, f"must be a string, not {type(value).__name__}")
        return value

    def _texts(self, value, field: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._error(field, "must be a list of strings")
        return list(value)

    def _whole(self, value, field: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._error(field, f"must be a whole number in {low}..{high}, not {value!r}")
        return value

    def _real(self, value, field: str, positive: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or \
                (positive and value <= 0):
            raise self._error(field, f"must be a finite{' positive' if positive else ''} number, not {value!r}")
        return float(value)

    def _reals(self, value, field: str, shape: tuple[int, ...]) -> np.ndarray:
        array = np.asarray(value)
        if array.shape != shape or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
            raise self._error(field, f"must be {shape[0]} finite numbers, not {value!r}")
        return array.astype(np.float32)

    def _indices(self, value, field: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """Whole-number point indices in 0..num_points-1 (of `shape`, when given)."""
        array = np.asarray(value)
        if array.size and array.dtype.kind not in "iu":
            raise self._error(field, "must hold whole-number point indices")
        if shape is not None and array.shape != shape:
            raise self._error(field, f"must have shape {shape}, not {array.shape}")
        if array.size and (array.min() < 0 or array.max() >= self.num_points):
            raise self._error(field, f"holds an index outside 0..{self.num_points - 1}")
        return array.astype(np.int64)

    def _pack_path(self, value, field: str) -> Path:
        """A file of the pack: a relative path inside the pack folder (symlinks are followed when
        the file is opened, and must stay inside too)."""
        text = self._text(value, field)
        posix, windows = PurePosixPath(text), PureWindowsPath(text)
        if not text or posix.is_absolute() or windows.is_absolute() or windows.drive or "\\" in text \
                or ".." in posix.parts or "\x00" in text:
            raise self._error(field, f"must be a path inside the pack folder, not {text!r}")
        return self.root / posix

    def _quantization(self, value, field: str) -> tuple[float, int]:
        q = self._table(value, field)
        return self._real(q["scale"], f"{field}.scale", positive=True), \
            self._whole(q["zero_point"], f"{field}.zero_point", -128, 255)

    def _landmark_definition(self, topo: dict) -> tuple[np.ndarray, np.ndarray]:
        """Each of the 68 landmarks as a convex combination of dense points, (68, K) indices and
        weights. Without `landmark_weights` a landmark is its ICT-FaceKit vertex (`landmarks68`);
        with them, it is the surface point where the benchmark's annotators put it (aligned by
        `edgeface.train.landmarks`)."""
        definition = topo.get("landmark_weights")
        if definition is None:
            return self.landmarks68[:, None], np.ones((68, 1), np.float32)
        where = f"manifest {self.root / MANIFEST_NAME}: landmark_weights"
        rows = list(zip(definition["points"], definition["weights"], strict=True))
        if len(rows) != 68 or any(len(p) != len(w) or not p for p, w in rows):
            raise ModelError(f"{where} must give 68 rows of matching, non-empty points and weights")
        width = max(len(p) for p, _ in rows)
        points = np.zeros((68, width), np.int64)
        weights = np.zeros((68, width), np.float32)
        for j, (p, w) in enumerate(rows):
            points[j, :len(p)] = self._indices(p, f"topology.landmark_weights.points[{j}]")
            weights[j, :len(w)] = w
        if not np.isfinite(weights).all() or weights.min() < 0 or np.abs(weights.sum(1) - 1).max() > 1e-3:
            raise ModelError(f"{where}: each landmark's weights must be non-negative and sum to 1")
        return points, weights

    def _landmark_yaw_definition(self, topo: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Optional weights per head yaw (`landmark_weights.by_yaw`): annotators follow the face's
        outline, which slides over the surface as the head turns, so the jaw landmarks of a profile
        are other surface points than a frontal face's. (A,) anchor yaws in degrees, increasing, and
        (A, 68, K) weights on the same points; between anchors the weights are interpolated
        linearly, beyond them held."""
        by_yaw = topo.get("landmark_weights", {}).get("by_yaw")
        if by_yaw is None:
            return None, None
        where = f"manifest {self.root / MANIFEST_NAME}: landmark_weights.by_yaw"
        anchors = np.asarray(by_yaw["yaw_degrees"], np.float64)
        if anchors.ndim != 1 or len(anchors) < 2 or not np.isfinite(anchors).all() or np.any(np.diff(anchors) <= 0):
            raise ModelError(f"{where}: yaw_degrees must be two or more increasing angles")
        if len(by_yaw["weights"]) != len(anchors):
            raise ModelError(f"{where}: one set of weights per anchor yaw is needed")
        weights = np.zeros((len(anchors),) + self.landmark_weights.shape, np.float32)
        for a, rows in enumerate(by_yaw["weights"]):
            if len(rows) != 68 or any(len(w) != len(p) for w, p in zip(rows, topo["landmark_weights"]["points"])):
                raise ModelError(f"{where}: each anchor needs 68 rows matching landmark_weights.points")
            for j, w in enumerate(rows):
                weights[a, j, :len(w)] = w
        if not np.isfinite(weights).all() or weights.min() < 0 or np.abs(weights.sum(-1) - 1).max() > 1e-3:
            raise ModelError(f"{where}: each landmark's weights must be non-negative and sum to 1")
        return anchors, weights

    def landmark_weights_at(self, yaw_degrees: float) -> np.ndarray:
        """(68, K) weights of the landmark definition for a head at this yaw (edgeface's convention)."""
        if self.landmark_yaw is None:
            return self.landmark_weights
        mix = yaw_mixing(np.array([yaw_degrees], np.float64), self.landmark_yaw)[0]
        return np.einsum("a,ajk->jk", mix, self.landmark_weights_by_yaw).astype(np.float32)

    def landmarks_from(self, dense: np.ndarray, yaw_degrees: float = 0.0) -> np.ndarray:
        """The 68 landmarks of one face's dense points (N, 3) -> (68, 3); the yaw (degrees) matters
        only for a definition given per yaw."""
        if self.landmark_points.shape[1] == 1:
            return dense[self.landmark_points[:, 0]]
        weights = self.landmark_weights_at(yaw_degrees)
        return np.einsum("jk,jkc->jc", weights, dense[self.landmark_points]).astype(dense.dtype)

    def _file(self, entry, field: str) -> ModelFile:
        entry = self._table(entry, field)
        sha256 = self._text(entry["sha256"], f"{field}.sha256")
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise self._error(f"{field}.sha256", "must be 64 lower-case hex digits")
        layout = self._text(entry.get("layout", "NCHW"), f"{field}.layout")
        if layout not in ("NCHW", "NHWC"):
            raise self._error(f"{field}.layout", f"must be 'NCHW' or 'NHWC', not {layout!r}")
        outputs = self._table(entry["outputs"], f"{field}.outputs")
        for name, tensor in outputs.items():
            self._text(tensor, f"{field}.outputs.{name}")
        quant = entry.get("input_quantization")
        return ModelFile(
            path=self._pack_path(entry["path"], f"{field}.path"),
            format=self._text(entry["format"], f"{field}.format"),
            precision=self._text(entry["precision"], f"{field}.precision"),
            layout=layout, sha256=sha256,
            companions=tuple(self._pack_path(c, f"{field}.companions")
                             for c in self._texts(entry.get("companions", []), f"{field}.companions")),
            outputs=dict(outputs),
            input_quantization=None if quant is None else self._quantization(quant, f"{field}.input_quantization"),
            output_quantization={k: self._quantization(v, f"{field}.output_quantization.{k}")
                                 for k, v in self._table(entry.get("output_quantization", {}),
                                                         f"{field}.output_quantization").items()})

    @cached_property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "dense": (self.num_points, 3),
            "pose": (6,),
            "identity": (self.identity_size,),
            "expression": (len(self.expression_names),),
            "attributes": (len(self.attribute_names) + (self.age_column is not None),),
            "visibility": (self.num_points,),
        }

    def find_file(self, file_format: str, precision: str) -> ModelFile | None:
        for f in self.files:
            if f.format == file_format and f.precision == precision:
                return f
        return None

    def precisions(self, file_format: str) -> list[str]:
        return [f.precision for f in self.files if f.format == file_format]


def read_manifest(model=None) -> Manifest:
    """Read the manifest of a pack directory, or of the manifest file itself; None = default pack."""
    path = Path(model) if model is not None else DEFAULT_PACK
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest_path.exists():
        if model is None:
            raise ModelError(
                "this edgeface build ships no default model yet; pass model=PATH to a model pack "
                "(a directory with edgeface.json)")
        raise ModelError(f"no model pack at {path}: expected a directory with {MANIFEST_NAME}, or that file")
    if not _is_regular(manifest_path):
        raise ModelError(f"manifest {manifest_path} is not a regular file")
    raw = _read_regular(manifest_path, MAX_MANIFEST_BYTES, "manifest")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise ModelError(f"manifest {manifest_path} is not valid JSON: {bad}") from None
    except RecursionError:
        raise ModelError(f"manifest {manifest_path} is nested deeper than {MAX_MANIFEST_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise ModelError(f"manifest {manifest_path} must hold a JSON object")
    if _depth(data) > MAX_MANIFEST_DEPTH:
        raise ModelError(f"manifest {manifest_path} is nested deeper than {MAX_MANIFEST_DEPTH} levels")
    return Manifest(data, manifest_path.parent)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _read_regular(path: Path, limit: int, what: str) -> bytes:
    try:
        size = os.stat(path).st_size
        if size > limit:
            raise ModelError(f"{what} {path} is {size:,} bytes, over the limit of {limit:,}")
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError as error:
        raise ModelError(f"cannot read {what} {path}: {error.strerror or error}") from None


def _depth(value) -> int:
    """How deeply JSON containers nest (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_MANIFEST_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _pack_file(manifest: Manifest, path: Path) -> int:
    """Check that a file the manifest lists is a regular file inside the pack; its size."""
    try:
        inside = path.resolve().is_relative_to(manifest.root.resolve())
        info = os.stat(path) if inside else None
    except FileNotFoundError:
        raise ModelError(f"model file listed in the manifest is missing: {path}") from None
    except OSError as error:
        raise ModelError(f"cannot read model file {path}: {error.strerror or error}") from None
    if not inside:
        raise ModelError(f"model file {path} leaves the pack folder {manifest.root} (a link to elsewhere)")
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"model file {path} is not a regular file")
    return info.st_size


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values to float32: (q - zero_point) * scale, in float32 (the apps' rule too)."""
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def default_precision(file_format: str, available: list[str]) -> str:
    """What precision='auto' picks: int8 where this CPU runs it faster (edgeface.cpu), else fp32."""
    from .cpu import int8_is_faster

    order = ("int8", "fp32") if int8_is_faster(file_format) else ("fp32", "int8")
    for precision in order:
        if precision in available:
            return precision
    return available[0]


class Model:
    """One model file running on one backend, with the shared pre- and post-processing."""

    def __init__(self, manifest: Manifest, backend: str = "auto", precision: str = "auto",
                 num_threads: int | None = None):
        self.manifest = manifest
        self.backend_name, self.file = self._choose(manifest, backend, precision)
        size = sum(_pack_file(manifest, path) for path in (self.file.path, *self.file.companions))
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"model file {self.file.path} is {size:,} bytes, over the limit of {MAX_MODEL_BYTES:,}")
        if _sha256(self.file.path, *self.file.companions) != self.file.sha256:
            raise ModelError(f"model file {self.file.path} does not match its manifest's sha256: "
                             "the file is corrupt or belongs to another model")
        try:
            self.backend = backends.load(self.backend_name, self.file.path, num_threads)
        except BackendNotInstalledError:
            raise
        except Exception as error:  # the backends' own exceptions have no common base
            raise ModelError(f"{self.backend_name} could not load {self.file.path}: "
                             f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}") from None
        self._output_index = self._check_io()
        self._prepare_constants()

    @staticmethod
    def _choose(manifest: Manifest, backend: str, precision: str) -> tuple[str, ModelFile]:
        if precision not in ("auto", "fp32", "int8", "fp16"):
            raise OptionError(f"precision must be 'auto', 'fp32', 'fp16' or 'int8', not {precision!r}")
        if backend == "auto":
            present = backends.installed()
            order = backends.AUTO_ORDER["int8" if precision == "int8" else "fp32"]
            for name in order + tuple(n for n in backends.BACKENDS if n not in order):
                fmt = backends.BACKENDS[name].file_format
                if name in present and manifest.precisions(fmt) and (
                        precision == "auto" or precision in manifest.precisions(fmt)):
                    backend = name
                    break
            else:
                raise BackendNotInstalledError(
                    f"no installed backend can run model {manifest.name!r} at precision {precision!r}: "
                    f"it has {sorted({f.format + ':' + f.precision for f in manifest.files})}, installed "
                    f"backends are {', '.join(present) or 'none'}; pip install 'edgeface[onnx]' (or tflite, openvino)")
        spec = backends.require(backend)
        available = manifest.precisions(spec.file_format)
        if not available:
            raise ModelError(f"model {manifest.name!r} has no {spec.file_format} file; it has "
                             f"{sorted({f.format for f in manifest.files})}")
        if precision == "auto":
            precision = default_precision(spec.file_format, available)
        file = manifest.find_file(spec.file_format, precision)
        if file is None:
            raise ModelError(f"model {manifest.name!r} has no {precision} {spec.file_format} file; "
                             f"available precisions: {available}")
        return backend, file

    def _check_io(self) -> list[int]:
        """Match the file's tensors to the manifest; the index of each output in `run`'s list."""
        m, f, b = self.manifest, self.file, self.backend
        where = f"model file {f.path.name} ({b.name})"
        if len(b.inputs) != 1:
            raise ModelError(f"{where} has {len(b.inputs)} inputs; an edgeface model has exactly one")
        size = m.input_size
        expected = (3, size, size) if f.layout == "NCHW" else (size, size, 3)
        got = tuple(b.inputs[0].shape[1:])
        if got != expected:
            raise ModelError(f"{where} takes input of shape {got}, but the manifest says {f.layout} "
                             f"{expected}: file and manifest do not belong together")
        in_dtype = b.inputs[0].dtype
        want_dtype = "float32" if f.input_quantization is None else "int8"
        if in_dtype not in (want_dtype, "uint8" if f.input_quantization else want_dtype):
            raise ModelError(f"{where} takes {in_dtype} input, the manifest says {want_dtype}")
        self._input_dtype = np.dtype(in_dtype)
        names = [t.name for t in b.outputs]
        index = []
        for out in OUTPUT_NAMES:
            tensor = f.outputs.get(out)
            if tensor not in names:
                raise ModelError(f"{where} has no output tensor {tensor!r} for {out!r} "
                                 f"(its outputs: {names}): file and manifest do not belong together")
            i = names.index(tensor)
            shape = tuple(b.outputs[i].shape[1:])
            if shape != m.output_shapes[out]:
                raise ModelError(f"{where}: output {out!r} has shape {shape}, the manifest implies "
                                 f"{m.output_shapes[out]}: file and manifest do not belong together")
            file_quant = b.outputs[i].quantization
            if file_quant is not None and out in f.output_quantization:
                if not np.allclose(file_quant[0], f.output_quantization[out][0], rtol=1e-5) or \
                        file_quant[1] != f.output_quantization[out][1]:
                    raise ModelError(f"{where}: output {out!r} quantization {file_quant} differs from "
                                     f"the manifest's {f.output_quantization[out]}")
            index.append(i)
        return index

    def _prepare_constants(self) -> None:
        m, f = self.manifest, self.file
        # Normalisation is one multiply-add per pixel, x * a + b = (x / 255 - mean) / std, in
        # float32. An int8 input then takes q = rint(v / s) + z: the arithmetic, order and
        # rounding (ties to even) of the QUANTIZE op cut from the file (as LiteRT's XNNPACK runs
        # it), so the cut file sees exactly the tensor the uncut one made for itself.
        self._pixel_scale = (1.0 / (255.0 * m.std)).astype(np.float32)
        self._pixel_offset = (-m.mean / m.std).astype(np.float32)
        self._input_quantization = None
        if f.input_quantization is not None:
            s, z = f.input_quantization
            self._input_quantization = (np.float32(s), np.float32(z))
        self._swap_rb = m.channels.upper() == "RGB"

    def normalise(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR crops -> float32 NHWC in the manifest's colour order and scale."""
        x = crops[..., ::-1] if self._swap_rb else crops
        return x.astype(np.float32) * self._pixel_scale + self._pixel_offset

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR crops -> the file's input tensor."""
        x = self.normalise(crops)
        if self._input_dtype.kind in "iu":
            info = np.iinfo(self._input_dtype)
            s, z = self._input_quantization
            x = np.clip(np.rint(x / s) + z, info.min, info.max).astype(self._input_dtype)
        if self.file.layout == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)

    def postprocess(self, raw: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The file's outputs -> float32 arrays by name."""
        result = {}
        for name, i in zip(OUTPUT_NAMES, self._output_index):
            value = raw[i]
            if value.dtype.kind in "iu":
                value = dequantize(value, *(self.file.output_quantization.get(name) or self.backend.outputs[i].quantization))
            result[name] = np.asarray(value, dtype=np.float32)
        return result

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        if crops.ndim != 4 or crops.shape[1:] != (self.manifest.input_size, self.manifest.input_size, 3):
            raise OptionError(f"crops must be (N, {self.manifest.input_size}, {self.manifest.input_size}, 3) uint8")
        outputs = self.postprocess(self.backend.run(self.preprocess(crops)))
        broken = [name for name, value in outputs.items() if not np.isfinite(value).all()]
        if broken:
            # a damaged file whose hash was rewritten to match, or an export gone wrong: never pass NaN on
            raise ModelError(f"model file {self.file.path.name} gave non-finite values for {', '.join(broken)}: "
                             "the file's weights are damaged")
        return outputs


#: A horizontal flip of the crop, seen on the pose output (pitch, yaw, roll, tx, ty, scale): yaw and
#: roll turn the other way and tx mirrors about the crop's centre, so mirrored = pose * SIGN + OFFSET.
#: Shared by the runtime's flip averaging and the training's flip-averaged teacher.
POSE_MIRROR_SIGN = np.array([1.0, -1.0, -1.0, -1.0, 1.0, 1.0], np.float32)
POSE_MIRROR_OFFSET = np.array([0.0, 0.0, 0.0, 1.0, 0.0, 0.0], np.float32)


def mirror_twins(names: list[str]) -> np.ndarray:
    """Index of each name's mirror twin (eyeBlink_L <-> eyeBlink_R, Left_Eye_Closed <->
    Right_Eye_Closed); a name without a twin maps to itself."""
    def twin(name: str) -> str:
        for a, b in (("_L", "_R"), ("_R", "_L")):
            if name.endswith(a):
                return name[: -len(a)] + b
        for a, b in (("Left", "Right"), ("Right", "Left")):
            if a in name:
                return name.replace(a, b)
        return name

    index = {n: i for i, n in enumerate(names)}
    return np.array([index.get(twin(n), i) for i, n in enumerate(names)])
