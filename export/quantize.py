"""INT8 models from a pack's fp32 files, calibrated on face crops (the gate on their accuracy is `gate`).

- TFLite: ai-edge-quantizer's static int8 recipe (int8 weights and activations; activation ranges
  over all calibration crops, see _global_ranges), then the graph's
  leading QUANTIZE op is cut so the file takes int8 input (scale and zero point in the manifest):
  the runtime, or an app, quantizes the normalised pixels with the op's own arithmetic
  (edgeface.runtime.model.Model.preprocess), so the rest of the graph sees the same tensor and the
  outputs do not change. No TensorFlow needed.
- ONNX: ONNX Runtime static quantization, QDQ format, per-channel int8 weights, uint8 activations,
  `reduce_range=True` (7-bit weights: the toolchain notes report int8 saturation without it on CPUs
  without VNNI; this CPU has VNNI, so that was not reproduced here).
- OpenVINO: NNCF post-training quantization with the overflow fix on every layer (same saturation
  concern) and min/max activation ranges over all calibration crops. NNCF's default, the fix on
  the first layer only, passed the gate for 0.3.0 on this VNNI CPU but failed it with oneDNN held
  to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`: six attributes, up to 4.4 points), as a CPU without VNNI
  would run it.

Only the convolutions are quantized: the backbone's and the attribute and eyelid branches'. The
linear layers and the in-graph decoder (basis products, sin/cos, projection) stay in float:
quantized, they cost accuracy (measured on an earlier network of 24.1 M multiply-adds, of which the
head and decoder were ~0.2 M: ONNX Runtime balanced NME +3.4 % relative, TFLite fully int8
+148 %), and they are a small share of the work.

Calibration crops are images already cut by the runtime's crop rule at the model's input size
(`make_calibration_dir` writes such crops from AFLW; any folder of real crops works).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..runtime.model import Model
from ..runtime.pack import PackManifest, read_manifest
from ..tools.progress import tqdm

#: name fragments of the quantized part in each format's graph: the backbone and the branches'
#: convolutions (torch module paths "backbone", "branch.blocks" and "eyelids.blocks")
QUANTIZED_ONNX = ("/backbone/", "/branch/blocks/", "/eyelids/blocks/")
QUANTIZED_TFLITE = ".*(_backbone|_(branch|eyelids)/torch.nn.modules.container.Sequential_blocks)/.*"


def _quantized(name: str) -> bool:
    """Whether an ONNX node or OpenVINO op of this name belongs to the quantized part."""
    return any(f in name for f in QUANTIZED_ONNX)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def load_calibration(folder, size: int, limit: int = 300) -> np.ndarray:
    """(N, size, size, 3) uint8 BGR crops from a folder of crop images (resized if needed)."""
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not paths:
        raise ValueError(f"no calibration images in {folder}")
    crops = []
    for p in paths:
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable calibration image {p}")
        if image.shape[:2] != (size, size):
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        crops.append(image)
    return np.stack(crops)


def make_calibration_dir(
    aflw_shard, out, count: int = 300, size: int = 112, crop_scale: float = 1.4, seed: int = 0
) -> Path:
    """Write `count` AFLW crops, cut by the runtime's crop rule, as PNGs (research-only data:
    keep the folder out of the repository)."""
    from ..train.data import AflwShard, AflwTraining

    shard = AflwShard(aflw_shard)
    pick = np.sort(np.random.default_rng(seed).choice(len(shard), size=min(count, len(shard)), replace=False))
    data = AflwTraining(AflwShard(aflw_shard, pick), size, crop_scale, augment=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(len(data)):
        rgb = data[i][0].transpose(1, 2, 0)
        cv2.imwrite(str(out / f"crop{i:04d}.png"), np.ascontiguousarray(rgb[..., ::-1]))
    return out


def _inputs(model: Model, crops: np.ndarray) -> list[np.ndarray]:
    return [model.preprocess(crops[i : i + 1]) for i in range(len(crops))]


def quantize_tflite(fp32: Model, out_path: Path, crops: np.ndarray) -> dict:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    interp = Interpreter(model_path=str(fp32.file.path))
    signature, io = next(iter(interp.get_signature_list().items()))
    q = quantizer.Quantizer(str(fp32.file.path))
    backbone_only = recipe.static_wi8_ai8()
    backbone_only[0]["regex"] = QUANTIZED_TFLITE
    q.load_quantization_recipe(backbone_only)
    calibration = _global_ranges(q, signature, [{io["inputs"][0]: x} for x in _inputs(fp32, crops)])
    # The input's true range is known: that of normalised black and white pixels.
    lo, hi = fp32.normalise(np.array([[[[0, 0, 0]]], [[[255, 255, 255]]]], np.uint8)).reshape(2, -1)
    input_range = calibration[interp.get_input_details()[0]["name"]]
    input_range["min"] = np.full_like(input_range["min"], lo.min())
    input_range["max"] = np.full_like(input_range["max"], hi.max())
    q.quantize(calibration).export_model(str(out_path), overwrite=True)
    take_int8_input(out_path)
    return tflite_entry(out_path, fp32.file.outputs)


def _global_ranges(q, signature: str, samples: list[dict]) -> dict:
    """Each tensor's minimum and maximum over all calibration samples.

    ai-edge-quantizer's calibrator keeps a moving average (factor 0.95) of per-sample ranges, so
    the last ~20 crops set every range and rarer, larger activations clip. Measured on the CPU
    fine-tuned student: AFLW2000 balanced NME +6.2 % relative with the moving average, -0.03 %
    with global ranges. ONNX Runtime's MinMax calibrator takes global ranges too; NNCF is told to
    (quantize_openvino)."""
    merged: dict = {}
    for sample in tqdm(samples, desc="calibrate tflite", leave=False):
        for name, qsv in q.calibrate({signature: [sample]}).items():
            if name in merged:
                merged[name]["min"] = np.minimum(merged[name]["min"], qsv["min"])
                merged[name]["max"] = np.maximum(merged[name]["max"], qsv["max"])
            else:
                merged[name] = {"min": np.array(qsv["min"]), "max": np.array(qsv["max"])}
    return merged


def tflite_entry(path: Path, outputs: dict) -> dict:
    """The manifest fields of a TFLite file: layout, outputs, and integer I/O where it has any."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    entry = {"layout": "NHWC", "outputs": dict(outputs)}
    inp = interp.get_input_details()[0]
    if np.dtype(inp["dtype"]).kind == "i":
        scale, zero = inp["quantization"]
        entry["input_quantization"] = {
            "dtype": np.dtype(inp["dtype"]).name,
            "scale": float(scale),
            "zero_point": int(zero),
        }
    by_name = {d["name"]: d for d in interp.get_output_details()}
    quantized = {
        k: by_name[v]["quantization"] for k, v in entry["outputs"].items() if np.dtype(by_name[v]["dtype"]).kind == "i"
    }
    if quantized:
        entry["output_quantization"] = {
            k: {"scale": float(q[0]), "zero_point": int(q[1])} for k, q in quantized.items()
        }
    return entry


def take_int8_input(path: Path) -> bool:
    """Make a TFLite file whose float input feeds one QUANTIZE op take that op's int8 output as
    its input instead (what TensorFlow's `inference_input_type=tf.int8` does, for files made
    without TensorFlow). Returns False, leaving the file alone, when the graph has no such op."""
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    (source,) = graph.inputs
    users = [op for op in graph.operators if source in op.inputs]
    if (
        len(users) != 1
        or flatbuffer_utils.get_builtin_code_from_operator_code(model.operatorCodes[users[0].opcodeIndex])
        != schema.BuiltinOperator.QUANTIZE
    ):
        return False
    quantize = users[0]
    target = int(quantize.outputs[0])
    if graph.tensors[target].type != schema.TensorType.INT8:
        return False
    graph.operators.remove(quantize)
    graph.inputs = np.array([target], dtype=np.int32)
    for signature in model.signatureDefs or []:
        for tensor in signature.inputs:
            if tensor.tensorIndex == source:
                tensor.tensorIndex = target
    flatbuffer_utils.write_model(model, str(path))
    return True


def quantize_onnx(fp32: Model, out_path: Path, crops: np.ndarray) -> dict:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter({"image": x} for x in _inputs(fp32, crops))

        def get_next(self):
            return next(self._it, None)

    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32.file.path), str(prepared), skip_symbolic_shape=True)
        outside = [n.name for n in onnx.load(str(prepared)).graph.node if not _quantized(n.name)]
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            nodes_to_exclude=outside,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            # ORT 1.32's bias-scale adjustment fails on per-channel weights (ValueError on an
            # array truth value); with 7-bit weights the int32 bias has headroom anyway.
            extra_options={"QDQDisableWeightAdjustForInt32Bias": True},
        )
    return {"layout": "NCHW", "outputs": dict(fp32.file.outputs)}


def quantize_openvino(fp32: Model, out_path: Path, crops: np.ndarray) -> dict:
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model = ov.Core().read_model(str(fp32.file.path))
    dataset = nncf.Dataset(_inputs(fp32, crops))
    outside = [op.get_friendly_name() for op in model.get_ordered_ops() if not _quantized(op.get_friendly_name())]
    quantized = nncf.quantize(
        model,
        dataset,
        subset_size=len(crops),
        ignored_scope=nncf.IgnoredScope(names=outside, validate=False),
        advanced_parameters=AdvancedQuantizationParameters(
            overflow_fix=OverflowFix.ENABLE,
            # global ranges, as for TFLite (see _global_ranges)
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX,
        ),
    )
    ov.save_model(quantized, str(out_path), compress_to_fp16=False)
    return {"layout": "NCHW", "outputs": dict(fp32.file.outputs), "companions": [out_path.with_suffix(".bin").name]}


QUANTIZERS = {
    "tflite": ("tflite", quantize_tflite, ".tflite"),
    "onnx": ("onnx", quantize_onnx, ".onnx"),
    "openvino": ("openvino", quantize_openvino, ".xml"),
}


def add_int8(pack, crops: np.ndarray, formats=("tflite", "onnx", "openvino"), stem: str = "model") -> list[str]:
    """Quantize the pack's fp32 files and list the int8 files in its manifest (replacing old ones)."""
    pack = Path(pack)
    made = []
    for fmt in formats:
        backend, fn, suffix = QUANTIZERS[fmt]
        fp32 = Model(read_manifest(pack), backend, "fp32")
        out_path = pack / f"{stem}_int8{suffix}"
        register_int8(pack, fmt, out_path, fn(fp32, out_path, crops))
        made.append(out_path.name)
    return made


def register_int8(pack, fmt: str, path: Path, info: dict) -> None:
    """List an int8 file in the pack's manifest, replacing the format's old int8 entry."""
    info = dict(info)
    manifest = PackManifest.open(pack)
    manifest.add_file(
        path,
        fmt,
        "int8",
        info.pop("outputs"),
        layout=info.pop("layout", None),
        companions=info.pop("companions", ()),
        **info,
    )
    manifest.save()


def remove_int8(pack, fmt: str) -> None:
    """Take a format's INT8 file out of the pack (after it failed the gate)."""
    manifest = PackManifest.open(pack)
    manifest.remove_file(fmt, "int8")
    manifest.save()
