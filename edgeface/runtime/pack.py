"""The model pack: one folder, one `edgeface.json` manifest and the files it lists; its one definition.

A model pack holds `edgeface.json` and one model file per (format, precision). The manifest states
everything a runtime needs to feed a file and read it back (input size, colour order, mean/std,
layout, quantization, which file tensor holds which output) and what a user must know before
using it (topology, attribute names, training data, licence): the preprocessing contract travels
with the weights. `pack.schema.json` beside this file is the manifest's structure, checked here on
every read and by the Kotlin `ModelSpec` test; `Manifest` adds the checks a schema cannot state
(indices inside the point count, weights that sum to one). `PackManifest` is the only writer:
export, quantize and align-landmarks all edit a pack through it.

Over 400 lines: the manifest's reader (every field's type and range), the pack's file checks and its
only writer stay in one file, so that what is written and what is read cannot drift apart.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .errors import ModelError, shown

MANIFEST_NAME = "edgeface.json"
SCHEMA_VERSION = 1
DEFAULT_PACK = Path(__file__).parents[1] / "models" / "default"
SCHEMA_FILE = Path(__file__).with_name("pack.schema.json")

#: A manifest larger than this, or nested deeper, is refused before it is parsed or used.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_DEPTH = 32
#: A model file (with its companions) larger than this is refused before it is hashed.
MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024

#: Output name -> shape without the batch dimension; `None` entries are taken from the manifest.
OUTPUT_NAMES = ("dense", "pose", "identity", "expression", "attributes", "visibility")


def file_digest(*paths: Path) -> str:
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


class Manifest:
    """A parsed and checked `edgeface.json`: every field the runtime reads has its type and range
    checked here, so that a wrong pack fails to load with a ModelError naming the field instead of
    loading and answering wrongly."""

    def __init__(self, data: dict, root: Path):
        self.root = root
        self.data = data
        self._where = f"manifest {root / MANIFEST_NAME}"
        try:
            self._read_card(data)
            self._read_input(data)
            self._read_topology(self._table(data["topology"], "topology"))
            self._read_heads(data)
            self._read_files(data)
            # what the checks above do not look at (a precision's name, fields only ports read)
            problem = schema_problem(data)
            if problem is not None:
                raise ModelError(f"{self._where} does not follow {SCHEMA_FILE.name}: {problem}")
        except KeyError as missing:
            raise ModelError(f"{self._where} lacks the field {missing}") from None
        except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as bad:
            raise ModelError(f"{self._where} is malformed: {type(bad).__name__}: {bad}") from None

    def _read_card(self, data: dict) -> None:
        """The schema version, the name and what the card states."""
        if data.get("schema") != SCHEMA_VERSION:
            raise ModelError(
                f"manifest schema {data.get('schema')!r} is not supported (this edgeface reads schema {SCHEMA_VERSION})"
            )
        self.name: str = self._text(data["name"], "name")
        self.purpose: str = self._text(data.get("purpose", "reconstruction"), "purpose")
        for field in ("license", "version", "pose_translation"):
            if field in data:
                self._text(data[field], field)
        self._texts(data.get("validated_outputs", []), "validated_outputs")
        self._texts(list(self._table(data.get("not_validated", {}), "not_validated")), "not_validated")

    def _read_input(self, data: dict) -> None:
        """The input tensor's size, channel order and normalisation, and the crop rule."""
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

    def _read_topology(self, topo: dict) -> None:
        """The dense points, the 68-landmark definition, the mirror map and the mesh."""
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
            raise self._error(
                "topology.triangles",
                f"must hold whole triangles (3 indices each), not {self.triangles.size} indices",
            )
        self.triangles = self.triangles.reshape(-1, 3)

    def _read_heads(self, data: dict) -> None:
        """The names of the expression and attribute outputs, the identity size, age, gender and the
        identity metric."""
        self.expression_names: list[str] = self._texts(data["expression_names"], "expression_names")
        self.attribute_names: list[str] = self._texts(data["attribute_names"], "attribute_names")
        self.identity_size = self._whole(data["identity_size"], "identity_size", 0, 100_000)
        # age: one more column after the attribute logits, in years; gender: which attribute says it
        age = data.get("age")
        self.age_column: int | None = None
        if age is not None:
            self.age_column = self._whole(
                self._table(age, "age").get("column"),
                "age.column",
                len(self.attribute_names),
                len(self.attribute_names),
            )
        gender = data.get("gender")
        self.gender_attribute: str | None = None
        if gender is not None:
            self.gender_attribute = self._text(self._table(gender, "gender").get("attribute"), "gender.attribute")
            if self.gender_attribute not in self.attribute_names:
                raise self._error(
                    "gender.attribute", f"names {self.gender_attribute!r}, which is not one of attribute_names"
                )
        # how faces are told apart (`pipeline.identity_embedding`); absent: the plain coefficients
        self.identity_mean = self.identity_whitening = None
        if data.get("identity_metric") is not None:
            metric = self._table(data["identity_metric"], "identity_metric")
            k = self.identity_size
            # float64 once here, so that no face converts them again
            self.identity_mean = self._reals(metric["mean"], "identity_metric.mean", (k,)).astype(np.float64)
            self.identity_whitening = self._reals(metric["whitening"], "identity_metric.whitening", (k, k)).astype(
                np.float64
            )

    def _read_files(self, data: dict) -> None:
        files = data["files"]
        if not isinstance(files, list) or not files:
            raise self._error("files", f"must be a non-empty list of model files, not {type(files).__name__}")
        self.files = [self._file(entry, f"files[{i}]") for i, entry in enumerate(files)]

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
            raise self._error(field, f"must be a whole number in {low}..{high}, not {shown(value)}")
        return value

    def _real(self, value, field: str, positive: bool = False) -> float:
        try:  # a float32 value: an integer of 400 digits is not one
            number = (
                float(np.float32(value))
                if isinstance(value, (int, float)) and not isinstance(value, bool)
                else float("nan")
            )
        except OverflowError:
            number = float("nan")
        if not np.isfinite(number) or (positive and number <= 0):
            raise self._error(field, f"must be a finite{' positive' if positive else ''} number, not {shown(value)}")
        return float(value)

    def _reals(self, value, field: str, shape: tuple[int, ...]) -> np.ndarray:
        try:
            array = np.asarray(value)
        except ValueError:  # ragged rows
            array = np.zeros(0)
        with np.errstate(over="ignore"):
            single = array.astype(np.float32) if array.dtype.kind in "iuf" else None
        if array.shape != shape or single is None or not np.isfinite(single).all():
            what = " x ".join(str(n) for n in shape)
            raise self._error(field, f"must be {what} finite numbers (in float32's range), not {shown(value)}")
        return single

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
        if (
            not text
            or posix.is_absolute()
            or windows.is_absolute()
            or windows.drive
            or "\\" in text
            or ".." in posix.parts
            or "\x00" in text
        ):
            raise self._error(field, f"must be a path inside the pack folder, not {text!r}")
        return self.root / posix

    def _quantization(self, value, field: str) -> tuple[float, int]:
        q = self._table(value, field)
        return self._real(q["scale"], f"{field}.scale", positive=True), self._whole(
            q["zero_point"], f"{field}.zero_point", -128, 255
        )

    def _landmark_definition(self, topo: dict) -> tuple[np.ndarray, np.ndarray]:
        """Each of the 68 landmarks as a convex combination of dense points, (68, K) indices and
        weights. Without `landmark_weights` a landmark is its ICT-FaceKit vertex (`landmarks68`);
        with them, it is the surface point where the benchmark's annotators put it (aligned by
        `edgeface.export.landmarks`)."""
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
            points[j, : len(p)] = self._indices(p, f"topology.landmark_weights.points[{j}]")
            weights[j, : len(w)] = w
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
                weights[a, j, : len(w)] = w
        if not np.isfinite(weights).all() or weights.min() < 0 or np.abs(weights.sum(-1) - 1).max() > 1e-3:
            raise ModelError(f"{where}: each landmark's weights must be non-negative and sum to 1")
        return anchors, weights

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
            layout=layout,
            sha256=sha256,
            companions=tuple(
                self._pack_path(c, f"{field}.companions")
                for c in self._texts(entry.get("companions", []), f"{field}.companions")
            ),
            outputs=dict(outputs),
            input_quantization=None if quant is None else self._quantization(quant, f"{field}.input_quantization"),
            output_quantization={
                k: self._quantization(v, f"{field}.output_quantization.{k}")
                for k, v in self._table(entry.get("output_quantization", {}), f"{field}.output_quantization").items()
            },
        )

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


def is_pack(path) -> bool:
    """Whether `path` is a model pack folder (it holds an edgeface.json)."""
    return (Path(path) / MANIFEST_NAME).is_file()


def read_manifest(model=None) -> Manifest:
    """Read the manifest of a pack directory, or of the manifest file itself; None = default pack."""
    path = Path(model) if model is not None else DEFAULT_PACK
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest_path.exists():
        if model is None:
            raise ModelError(
                "this edgeface build ships no default model yet; pass model=PATH to a model pack "
                "(a directory with edgeface.json)"
            )
        raise ModelError(f"no model pack at {path}: expected a directory with {MANIFEST_NAME}, or that file")
    if not _is_regular(manifest_path):
        raise ModelError(f"manifest {manifest_path} is not a regular file")
    raw = _read_regular(manifest_path, MAX_MANIFEST_BYTES, "manifest")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as bad:  # ValueError: JSON errors, and integers of over 4,300 digits
        raise ModelError(f"manifest {manifest_path} is not valid JSON: {shown(str(bad), 200)}") from None
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


def check_pack_file(manifest: Manifest, path: Path) -> int:
    """Check that a file the manifest lists is a regular file inside the pack; its size."""
    try:
        inside = path.resolve().is_relative_to(manifest.root.resolve())
        if not inside:
            raise ModelError(f"model file {path} leaves the pack folder {manifest.root} (a link to elsewhere)")
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelError(f"model file listed in the manifest is missing: {path}") from None
    except OSError as error:
        raise ModelError(f"cannot read model file {path}: {error.strerror or error}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"model file {path} is not a regular file")
    return info.st_size


def read_pack_file(manifest: Manifest, path: Path) -> bytes:
    """The bytes of a file the manifest lists (checked as `check_pack_file` checks it)."""
    size = check_pack_file(manifest, path)
    if size > MAX_MODEL_BYTES:
        raise ModelError(f"model file {path} is {size:,} bytes, over the limit of {MAX_MODEL_BYTES:,}")
    try:
        with open(path, "rb") as f:
            return f.read(MAX_MODEL_BYTES + 1)
    except OSError as error:
        raise ModelError(f"cannot read model file {path}: {error.strerror or error}") from None


# -- the schema: a small validator for the part of JSON Schema that pack.schema.json uses --------

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool}


_SCHEMA: dict | None = None


def schema() -> dict:
    """pack.schema.json, read once."""
    global _SCHEMA
    if _SCHEMA is None:
        _SCHEMA = json.loads(SCHEMA_FILE.read_text())
    return _SCHEMA


def schema_problem(data, node: dict | None = None, where: str = "") -> str | None:
    """The first place where `data` breaks the schema (a field path and what is wrong), or None."""
    root = schema()
    node = root if node is None else node
    if "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    name = where or "the manifest"
    if "const" in node and data != node["const"]:
        return f"{name} must be {node['const']!r}"
    if "enum" in node and data not in node["enum"]:
        return f"{name} must be one of {node['enum']}, not {data!r}"
    kind = node.get("type")
    if kind in ("integer", "number"):
        whole = isinstance(data, int) and not isinstance(data, bool)
        if not (whole or (kind == "number" and isinstance(data, float))):
            return f"{name} must be {'a whole number' if kind == 'integer' else 'a number'}, not {data!r}"
        for key, broken in (
            ("minimum", data < node.get("minimum", data)),
            ("maximum", data > node.get("maximum", data)),
            ("exclusiveMinimum", "exclusiveMinimum" in node and data <= node["exclusiveMinimum"]),
        ):
            if key in node and broken:
                return f"{name} is {data!r}, outside the schema's {key} {node[key]}"
    elif kind is not None and not isinstance(data, _TYPES[kind]):
        return f"{name} must be a JSON {kind}, not {type(data).__name__}"
    if isinstance(data, str):
        if len(data) < node.get("minLength", 0):
            return f"{name} must not be empty"
        if "pattern" in node and not re.search(node["pattern"], data):
            return f"{name} must match {node['pattern']}"
    if isinstance(data, list):
        if not node.get("minItems", 0) <= len(data) <= node.get("maxItems", len(data)):
            wants = f"{node.get('minItems', 0)}..{node.get('maxItems', 'any')}"
            return f"{name} has {len(data)} items; the schema wants {wants}"
        for i, item in enumerate(data if "items" in node else ()):
            problem = schema_problem(item, node["items"], f"{where}[{i}]")
            if problem:
                return problem
    if isinstance(data, dict):
        for key in node.get("required", ()):
            if key not in data:
                return f"{where + '.' if where else ''}{key} is missing"
        properties, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, value in data.items():
            sub = properties.get(key, extra if isinstance(extra, dict) else None)
            problem = None if sub is None else schema_problem(value, sub, f"{where + '.' if where else ''}{key}")
            if problem:
                return problem
    return None


# -- the one writer ------------------------------------------------------------------------


class PackManifest:
    """The editable `edgeface.json` of a pack folder. Every writer (export, quantize,
    align-landmarks) goes through it: it adds a file with its digest, removes one, sets the landmark
    definition, and `save` refuses to write what `read_manifest` would then refuse to read."""

    def __init__(self, root, data: dict):
        self.root, self.data = Path(root), data

    @classmethod
    def new(cls, root, fields: dict) -> "PackManifest":
        """A manifest for a pack still without files; `fields` is everything but `schema` and `files`."""
        return cls(root, {"schema": SCHEMA_VERSION, **copy.deepcopy(fields), "files": []})

    @classmethod
    def open(cls, root) -> "PackManifest":
        read_manifest(root)  # only a pack the runtime accepts is edited
        path = Path(root) / MANIFEST_NAME
        return cls(root, json.loads(_read_regular(path, MAX_MANIFEST_BYTES, "manifest").decode("utf-8")))

    def add_file(
        self,
        path,
        file_format: str,
        precision: str,
        outputs: dict,
        layout: str | None = None,
        companions=(),
        **quantization,
    ) -> dict:
        """List a model file (inside the pack) with its digest, replacing the entry of the same
        format and precision. `quantization`: input_quantization / output_quantization entries."""
        path = Path(path)
        names = [Path(c).name for c in companions]
        entry = {
            "path": path.name,
            "format": file_format,
            "precision": precision,
            **({"layout": layout} if layout else {}),
            "sha256": file_digest(path, *(self.root / c for c in names)),
            "outputs": dict(outputs),
            **quantization,
            **({"companions": names} if names else {}),
        }
        self.data["files"] = [
            f for f in self.data["files"] if not (f["format"] == file_format and f["precision"] == precision)
        ] + [entry]
        return entry

    def remove_file(self, file_format: str, precision: str) -> list[str]:
        """Take a file (and its companions) out of the pack; the names deleted."""
        gone = []
        for f in self.data["files"]:
            if f["format"] == file_format and f["precision"] == precision:
                for name in [f["path"], *f.get("companions", [])]:
                    (self.root / name).unlink(missing_ok=True)
                    gone.append(name)
        self.data["files"] = [
            f for f in self.data["files"] if not (f["format"] == file_format and f["precision"] == precision)
        ]
        return gone

    def set_identity_metric(self, mean, whitening, fitted_on: str) -> None:
        """`identity_metric`: the centre and whitening that faces' embeddings are made with."""
        self.data["identity_metric"] = {
            "mean": np.asarray(mean, float).tolist(),
            "whitening": np.asarray(whitening, float).tolist(),
            "fitted_on": fitted_on,
        }

    def set_landmark_definition(self, definition: dict) -> None:
        """`topology.landmark_weights`: points, weights, optional by_yaw and the alignment record."""
        self.data["topology"]["landmark_weights"] = copy.deepcopy(definition)

    def save(self) -> Manifest:
        """Check, then write `edgeface.json`; the manifest as the runtime reads it."""
        self.root.mkdir(parents=True, exist_ok=True)
        Manifest(json.loads(json.dumps(self.data)), self.root)  # as it will be read back
        (self.root / MANIFEST_NAME).write_text(json.dumps(self.data, indent=1))
        return read_manifest(self.root)
