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
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from .errors import ModelError, shown

MANIFEST_NAME = "edgeface.json"
#: The manifest version `PackManifest.new` writes; `SCHEMA_VERSIONS` are those this runtime reads.
SCHEMA_VERSION = 2
SCHEMA_VERSIONS = (1, 2)
DEFAULT_PACK = Path(__file__).parents[1] / "models" / "default"
SCHEMA_FILE = Path(__file__).with_name("pack.schema.json")

#: A manifest larger than this, or nested deeper, is refused before it is parsed or used.
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_MANIFEST_DEPTH = 32
#: A model file (with its companions) larger than this is refused before it is hashed.
MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024

#: The outputs the runtime makes a `Face` of, by name, with what each holds (the text an exported
#: manifest's `outputs` list carries). Every one but `age` is required. An output of any other name
#: is handed to the app as the network gave it (`Face.extra`): a new output needs no runtime change.
OUTPUTS = {
    "dense": "the face's 3D points: x, y as fractions of the crop's side from its top-left corner, z towards the "
    "camera in the same unit",
    "pose": "pitch, yaw, roll in radians; tx, ty: where the face's centre lands, as fractions of the crop; scale: "
    "crop sides per model centimetre",
    "identity": "identity coefficients of the morphable model (compared through identity_metric)",
    "expression": "expression coefficients, 0..1, one per expression_names",
    "attributes": "logits, one per attribute_names",
    "visibility": "logits that each dense point is visible (not hidden by the head itself)",
    "age": "apparent age in years",
}


def standard_outputs(num_points: int, identity_size: int, expression_names, attribute_names, age: bool) -> list[dict]:
    """A manifest's `outputs` list for a network with the runtime's outputs (and age, where it has
    one): each name with its shape and meaning."""
    shapes = {
        "dense": [num_points, 3],
        "pose": [6],
        "identity": [identity_size],
        "expression": [len(expression_names)],
        "attributes": [len(attribute_names)],
        "visibility": [num_points],
        **({"age": [1]} if age else {}),
    }
    return [
        {"name": n, "shape": shape, "meaning": OUTPUTS[n], **({"unit": "years"} if n == "age" else {})}
        for n, shape in shapes.items()
    ]


#: Schema 1 named no outputs: it had these six, age (where present) a column of `attributes`.
SCHEMA1_OUTPUTS = ("dense", "pose", "identity", "expression", "attributes", "visibility")


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


@dataclass(frozen=True)
class Output:
    """One output of the network as the manifest declares it: its shape without the batch
    dimension, what it holds, and its unit where it has one."""

    name: str
    shape: tuple[int, ...]
    meaning: str
    unit: str | None = None


class Manifest:
    """A parsed and checked `edgeface.json`. One validator: `pack.schema.json` states every field's
    structure (type, range, required, enum) and is checked first; this class then adds only what
    a schema cannot state (indices below the point count, shapes that follow other fields, weights
    that sum to one, float32's range, paths inside the pack), so that a wrong pack fails to load
    with a ModelError naming the field instead of loading and answering wrongly.

    Schema 1 packs still load: their six outputs are implied, and age, a column after the
    attribute logits there, is split off by the model (`age_in_attributes`) so that everything
    past the model sees schema 2's outputs by name."""

    def __init__(self, data: dict, root: Path):
        self.root = root
        self.data = data
        self._where = f"manifest {root / MANIFEST_NAME}"
        if not any(_same(data.get("schema"), v) for v in SCHEMA_VERSIONS):
            raise ModelError(
                f"manifest schema {shown(data.get('schema'))} is not supported (this edgeface reads schemas "
                f"{' and '.join(map(str, SCHEMA_VERSIONS))})"
            )
        self.version: int = data["schema"]
        problem = schema_problem(data)
        if problem is not None:
            raise ModelError(f"{self._where} does not follow {SCHEMA_FILE.name}: {problem}")
        try:
            self.name: str = data["name"]
            self.purpose: str = data.get("purpose", "reconstruction")
            self._read_input(data)
            self._read_topology(data["topology"])
            self._read_heads(data)
            self._read_outputs(data)
            self.files = [self._file(entry, f"files[{i}]") for i, entry in enumerate(data["files"])]
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as bad:
            # a safety net: the schema and the checks below should have named the field already
            raise ModelError(f"{self._where} is malformed: {type(bad).__name__}: {bad}") from None

    def _read_input(self, data: dict) -> None:
        """The input tensor's size, channel order and normalisation, and the crop rule."""
        inp = data["input"]
        self.input_size: int = inp["size"]
        self.channels: str = inp.get("channels", "RGB")
        self.mean = self._reals(inp["mean"], "input.mean", (3,))
        self.std = self._reals(inp["std"], "input.std", (3,))
        if (self.std <= 0).any():
            raise self._error("input.std", f"must be positive, not {self.std.tolist()}")
        crop = data["crop"]
        self.crop_scale = self._real(crop["scale"], "crop.scale", positive=True)
        self.crop_shift_y = self._real(crop.get("shift_y", 0.0), "crop.shift_y")

    def _read_topology(self, topo: dict) -> None:
        """The dense points, the 68-landmark definition, the mirror map and the mesh."""
        self.topology: str = f"{topo['name']}/v{topo['version']}"
        self.num_points: int = topo["num_points"]
        self.landmarks68 = self._indices(topo["landmarks68"], "topology.landmarks68", (68,))
        weights = topo.get("landmark_weights", {})
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
        """The names of the expression and attribute outputs, the identity size, gender and the
        identity metric."""
        self.expression_names: list[str] = list(data["expression_names"])
        self.attribute_names: list[str] = list(data["attribute_names"])
        self.identity_size: int = data["identity_size"]
        self.gender_attribute: str | None = data.get("gender", {}).get("attribute")
        if self.gender_attribute is not None and self.gender_attribute not in self.attribute_names:
            raise self._error("gender.attribute", f"names {self.gender_attribute!r}, not one of attribute_names")
        # how faces are told apart (`pipeline.identity_embedding`); absent: the plain coefficients
        self.identity_mean = self.identity_whitening = None
        if data.get("identity_metric") is not None:
            metric = data["identity_metric"]
            k = self.identity_size
            # float64 once here, so that no face converts them again
            self.identity_mean = self._reals(metric["mean"], "identity_metric.mean", (k,)).astype(np.float64)
            self.identity_whitening = self._reals(metric["whitening"], "identity_metric.whitening", (k, k)).astype(
                np.float64
            )

    def _read_outputs(self, data: dict) -> None:
        """`outputs`: what the network answers, by name (schema 2), or schema 1's implied six with
        age split off the attributes; each known output's shape must follow the fields above."""
        self.age_in_attributes: int | None = None  # schema 1: the column of `attributes` that is age
        # what the fields above imply for the runtime's own outputs (schema 1 states no more than this)
        standard = standard_outputs(
            self.num_points, self.identity_size, self.expression_names, self.attribute_names, age=True
        )
        implied = {o["name"]: tuple(o["shape"]) for o in standard}
        listed = data.get("outputs", [])
        if self.version == 1:
            listed = [o for o in standard if o["name"] != "age" or "age" in data]
            if "age" in data:
                self.age_in_attributes = data["age"]["column"]
                if self.age_in_attributes != len(self.attribute_names):
                    raise self._error("age.column", f"must be {len(self.attribute_names)} (after the attribute logits)")
        self.outputs: dict[str, Output] = {}
        for i, entry in enumerate(listed):
            name, shape = entry["name"], tuple(entry["shape"])
            if name in self.outputs:
                raise self._error(f"outputs[{i}].name", f"{name!r} is listed twice")
            if name in implied and shape != implied[name]:
                wanted = list(implied[name])
                raise self._error(f"outputs[{i}].shape", f"of {name!r} must be {wanted}, not {list(shape)}")
            self.outputs[name] = Output(name, shape, entry["meaning"], entry.get("unit"))
        #: outputs the runtime does not decode, handed to the app as they are (`Face.extra`)
        self.extra_outputs = tuple(n for n in self.outputs if n not in OUTPUTS)
        missing = [n for n in SCHEMA1_OUTPUTS if n not in self.outputs]
        if missing:
            raise self._error("outputs", f"lacks {', '.join(map(repr, missing))}: the runtime needs them for a face")
        # the tensors each model file holds: schema 1's attributes carry the age column
        self.tensor_shapes = {n: o.shape for n, o in self.outputs.items()}
        if self.age_in_attributes is not None:
            del self.tensor_shapes["age"]
            self.tensor_shapes["attributes"] = (len(self.attribute_names) + 1,)

    # -- field checks: each returns the value in the runtime's type or raises a ModelError ----

    def _error(self, field: str, problem: str) -> ModelError:
        return ModelError(f"{self._where}: {field} {problem}")

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
        text = value
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
        return self._real(value["scale"], f"{field}.scale", positive=True), value["zero_point"]

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

    def _file(self, entry: dict, field: str) -> ModelFile:
        outputs = entry["outputs"]
        missing = [n for n in self.tensor_shapes if n not in outputs]
        unknown = [n for n in outputs if n not in self.tensor_shapes]
        if missing or unknown:
            raise self._error(
                f"{field}.outputs",
                "must name a tensor for each of the manifest's outputs: "
                + "; ".join(
                    ([f"none for {', '.join(map(repr, missing))}"] if missing else [])
                    + ([f"{', '.join(map(repr, unknown))} not among them"] if unknown else [])
                ),
            )
        quant = entry.get("input_quantization")
        return ModelFile(
            path=self._pack_path(entry["path"], f"{field}.path"),
            format=entry["format"],
            precision=entry["precision"],
            layout=entry.get("layout", "NCHW"),
            sha256=entry["sha256"],
            companions=tuple(self._pack_path(c, f"{field}.companions") for c in entry.get("companions", [])),
            outputs=dict(outputs),
            input_quantization=None if quant is None else self._quantization(quant, f"{field}.input_quantization"),
            output_quantization={
                k: self._quantization(v, f"{field}.output_quantization.{k}")
                for k, v in entry.get("output_quantization", {}).items()
            },
        )

    @property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Each output's shape without the batch dimension, as the model hands it on."""
        return {n: o.shape for n, o in self.outputs.items()}

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


def _same(a, b) -> bool:
    """JSON equality: true is not 1 (as Python's True == 1 would have it)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def schema_problem(data, node: dict | bool | None = None, where: str = "") -> str | None:
    """The first place where `data` breaks the schema (a field path and what is wrong), or None."""
    root = schema()
    name = where or "the manifest"
    if isinstance(node, bool):  # false: a field this schema version does not have
        return None if node else f"{name} is not a field of this manifest's schema version"
    rule: dict = root if node is None else node
    if "$ref" in rule:
        rule = root["$defs"][rule["$ref"].rsplit("/", 1)[-1]]
    if "if" in rule:  # what applies depends on another field (the schema version)
        branch = rule.get("then" if schema_problem(data, rule["if"], where) is None else "else")
        problem = None if branch is None else schema_problem(data, branch, where)
        if problem:
            return problem
    if "const" in rule and not _same(data, rule["const"]):
        return f"{name} must be {rule['const']!r}"
    if "enum" in rule and not any(_same(data, v) for v in rule["enum"]):
        return f"{name} must be one of {rule['enum']}, not {data!r}"
    kind = rule.get("type")
    if kind in ("integer", "number"):
        whole = isinstance(data, int) and not isinstance(data, bool)
        if not (whole or (kind == "number" and isinstance(data, float))):
            return f"{name} must be {'a whole number' if kind == 'integer' else 'a number'}, not {data!r}"
        for key, broken in (
            ("minimum", data < rule.get("minimum", data)),
            ("maximum", data > rule.get("maximum", data)),
            ("exclusiveMinimum", "exclusiveMinimum" in rule and data <= rule["exclusiveMinimum"]),
        ):
            if key in rule and broken:
                return f"{name} is {data!r}, outside the schema's {key} {rule[key]}"
    elif kind is not None and not isinstance(data, _TYPES[kind]):
        return f"{name} must be a JSON {kind}, not {type(data).__name__}"
    if isinstance(data, str):
        if len(data) < rule.get("minLength", 0):
            return f"{name} must not be empty"
        if "pattern" in rule and not re.search(rule["pattern"], data):
            return f"{name} must match {rule['pattern']}"
    if isinstance(data, list):
        if not rule.get("minItems", 0) <= len(data) <= rule.get("maxItems", len(data)):
            wants = f"{rule.get('minItems', 0)}..{rule.get('maxItems', 'any')}"
            return f"{name} has {len(data)} items; the schema wants {wants}"
        for i, item in enumerate(data if "items" in rule else ()):
            problem = schema_problem(item, rule["items"], f"{where}[{i}]")
            if problem:
                return problem
    if isinstance(data, dict):
        for key in rule.get("required", ()):
            if key not in data:
                return f"{where + '.' if where else ''}{key} is missing"
        properties, extra = rule.get("properties", {}), rule.get("additionalProperties")
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
