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
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from . import backends
from .errors import BackendNotInstalledError, ModelError

MANIFEST_NAME = "edgeface.json"
SCHEMA_VERSION = 1
DEFAULT_PACK = Path(__file__).parent / "models" / "default"

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
    """A parsed and checked `edgeface.json`."""

    def __init__(self, data: dict, root: Path):
        self.root = root
        self.data = data
        try:
            if data.get("schema") != SCHEMA_VERSION:
                raise ModelError(f"manifest schema {data.get('schema')!r} is not supported "
                                 f"(this edgeface reads schema {SCHEMA_VERSION})")
            self.name: str = data["name"]
            self.purpose: str = data.get("purpose", "reconstruction")
            inp = data["input"]
            self.input_size = int(inp["size"])
            self.channels: str = inp.get("channels", "RGB")
            self.mean = np.asarray(inp["mean"], dtype=np.float32)
            self.std = np.asarray(inp["std"], dtype=np.float32)
            self.crop_scale = float(data["crop"]["scale"])
            self.crop_shift_y = float(data["crop"].get("shift_y", 0.0))
            topo = data["topology"]
            self.topology: str = f"{topo['name']}/v{topo['version']}"
            self.num_points = int(topo["num_points"])
            self.landmarks68 = np.asarray(topo["landmarks68"], dtype=np.int64)
            self.landmark_points, self.landmark_weights = self._landmark_definition(topo)
            self.landmark_yaw, self.landmark_weights_by_yaw = self._landmark_yaw_definition(topo)
            self.landmark_alignment: dict | None = topo.get("landmark_weights", {}).get("alignment")
            self.mirror = np.asarray(topo["mirror"], dtype=np.int64) if "mirror" in topo else None
            self.triangles = np.asarray(topo["triangles"], dtype=np.int32).reshape(-1, 3)
            self.expression_names: list[str] = list(data["expression_names"])
            self.attribute_names: list[str] = list(data["attribute_names"])
            self.identity_size = int(data["identity_size"])
            self.files = [self._file(entry) for entry in data["files"]]
        except KeyError as missing:
            raise ModelError(f"manifest {root / MANIFEST_NAME} lacks the field {missing}") from None
        except (TypeError, ValueError) as bad:
            raise ModelError(f"manifest {root / MANIFEST_NAME} is malformed: {bad}") from None
        if self.landmarks68.shape != (68,) or self.landmarks68.max(initial=0) >= self.num_points:
            raise ModelError(f"manifest {root / MANIFEST_NAME}: landmarks68 must be 68 indices below {self.num_points}")
        if self.mirror is not None and (self.mirror.shape != (self.num_points,) or self.mirror.min() < 0
                                        or self.mirror.max() >= self.num_points):
            raise ModelError(f"manifest {root / MANIFEST_NAME}: mirror must give one index below {self.num_points} per point")
        if self.triangles.size and self.triangles.max() >= self.num_points:
            raise ModelError(f"manifest {root / MANIFEST_NAME}: a triangle index exceeds num_points")

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
            points[j, :len(p)], weights[j, :len(w)] = p, w
        if points.min() < 0 or points.max() >= self.num_points:
            raise ModelError(f"{where}: a point index is outside 0..{self.num_points - 1}")
        if weights.min() < 0 or np.abs(weights.sum(1) - 1).max() > 1e-3:
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
        if anchors.ndim != 1 or len(anchors) < 2 or np.any(np.diff(anchors) <= 0):
            raise ModelError(f"{where}: yaw_degrees must be two or more increasing angles")
        if len(by_yaw["weights"]) != len(anchors):
            raise ModelError(f"{where}: one set of weights per anchor yaw is needed")
        weights = np.zeros((len(anchors),) + self.landmark_weights.shape, np.float32)
        for a, rows in enumerate(by_yaw["weights"]):
            if len(rows) != 68 or any(len(w) != len(p) for w, p in zip(rows, topo["landmark_weights"]["points"])):
                raise ModelError(f"{where}: each anchor needs 68 rows matching landmark_weights.points")
            for j, w in enumerate(rows):
                weights[a, j, :len(w)] = w
        if weights.min() < 0 or np.abs(weights.sum(-1) - 1).max() > 1e-3:
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

    def _file(self, entry: dict) -> ModelFile:
        quant = entry.get("input_quantization")
        return ModelFile(
            path=self.root / entry["path"], format=entry["format"], precision=entry["precision"],
            layout=entry.get("layout", "NCHW"), sha256=entry["sha256"],
            companions=tuple(self.root / c for c in entry.get("companions", [])), outputs=dict(entry["outputs"]),
            input_quantization=(float(quant["scale"]), int(quant["zero_point"])) if quant else None,
            output_quantization={k: (float(v["scale"]), int(v["zero_point"]))
                                 for k, v in entry.get("output_quantization", {}).items()})

    @cached_property
    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        return {
            "dense": (self.num_points, 3),
            "pose": (6,),
            "identity": (self.identity_size,),
            "expression": (len(self.expression_names),),
            "attributes": (len(self.attribute_names),),
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
    try:
        data = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as bad:
        raise ModelError(f"manifest {manifest_path} is not valid JSON: {bad}") from None
    if not isinstance(data, dict):
        raise ModelError(f"manifest {manifest_path} must hold a JSON object")
    return Manifest(data, manifest_path.parent)


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
        for path in (self.file.path, *self.file.companions):
            if not path.exists():
                raise ModelError(f"model file listed in the manifest is missing: {path}")
        actual = _sha256(self.file.path, *self.file.companions)
        if actual != self.file.sha256:
            raise ModelError(
                f"model file {self.file.path} does not match its manifest (sha256 {actual[:12]}…, "
                f"manifest says {self.file.sha256[:12]}…): the file is corrupt or belongs to another model")
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
            raise ValueError(f"precision must be 'auto', 'fp32', 'fp16' or 'int8', not {precision!r}")
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
            raise ValueError(f"crops must be (N, {self.manifest.input_size}, {self.manifest.input_size}, 3) uint8")
        return self.postprocess(self.backend.run(self.preprocess(crops)))


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
