"""INT8 models from a pack's fp32 files, calibrated on face crops, then gated on accuracy.

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


class GateError(RuntimeError):
    """An INT8 model lost more accuracy than the gate allows."""


#: The gate, against each INT8 file's fp32 parent:
#: - balanced 68-point NME may rise by at most 3 % relative, on the AFLW2000-3D dev set and on
#:   held-out synthetic faces;
#: - no attribute's accuracy against the synthetic labels may drop by more than 1 point beyond
#:   paired sampling noise (see attribute_drop);
#: - on real photos, which have no attribute labels, thresholded attributes may flip on at most 1 %
#:   of (image, attribute) pairs, or, if more, on no more pairs than the fp32 file itself flips when
#:   the face box moves by one pixel: a change no detector holds steady against, so INT8 flips below
#:   that floor are not a loss the file can be blamed for.
MAX_NME_RISE = 0.03
MAX_ATTRIBUTE_DROP = 0.01
MAX_ATTRIBUTE_FLIPS = 0.01
#: on CelebA dev photos: mean attribute accuracy drop (fraction) and identity EER rise allowed
MAX_CELEBA_ATTRIBUTE_DROP = 0.01
MAX_EER_RISE = 0.01
JITTER_PIXELS = 1.0
#: held-out synthetic faces the gate renders: enough that a one-point drop is ten faces
GATE_SYNTHETIC_FACES = 1000


def attribute_drop(truth: np.ndarray, fp32_logits: np.ndarray, int8_logits: np.ndarray) -> tuple[float, bool]:
    """(accuracy drop, whether it fails the gate) for one attribute on the same labelled faces.
    It fails when the drop exceeds MAX_ATTRIBUTE_DROP and is not sampling noise: with b faces right
    in fp32 and wrong in INT8 and c the reverse, b - c must exceed 2 sqrt(b + c) (McNemar's test,
    about 95 %). On a few hundred faces a one-point drop is two or three faces."""
    right_fp32, right_int8 = (fp32_logits > 0) == truth, (int8_logits > 0) == truth
    b, c = int((right_fp32 & ~right_int8).sum()), int((~right_fp32 & right_int8).sum())
    drop = (b - c) / max(len(truth), 1)
    return drop, bool(drop > MAX_ATTRIBUTE_DROP and b - c > 2.0 * np.sqrt(b + c))


def gate(pack, dataset, formats=("tflite", "onnx", "openvino"), synthetic=None, celeba=None) -> dict:
    """Measure each INT8 file against its fp32 parent on `dataset` (AFLW2000 layout), on
    `synthetic` (samples, attribute names) from `edgeface.train.synthetic.held_out`, and on
    `celeba` (CelebA dev photos, `edgeface.tools.evaluate_faces.LabelledPhotos`) for a model with CelebA's
    attributes: mean attribute accuracy may drop by MAX_CELEBA_ATTRIBUTE_DROP, the identity
    verification EER rise by MAX_EER_RISE."""
    import edgeface

    from ..runtime.detectors import to_landmark_box
    from ..runtime.image import load_image
    from ..tools.evaluate import (
        AFLW2000_ROI_TO_LANDMARKS,
        evaluate_synthetic,
        predict_faces,
        summarise_landmarks,
        synthetic_outputs,
    )

    report = {}
    manifest = read_manifest(pack)
    for fmt in formats:
        backend = QUANTIZERS[fmt][0]
        if "int8" not in manifest.precisions(fmt):
            continue
        # one pass on the benchmark box, as every shipped pack was gated: the gate measures the file
        fp32 = edgeface.Reconstructor(backend, model=pack, precision="fp32", refine=False)
        int8 = edgeface.Reconstructor(backend, model=pack, precision="int8", refine=False)
        faces_a, faces_b = predict_faces(fp32, dataset, progress=False), predict_faces(int8, dataset, progress=False)
        a, b = summarise_landmarks(faces_a, dataset, manifest), summarise_landmarks(faces_b, dataset, manifest)
        flips = dict.fromkeys(manifest.attribute_names, 0)
        jitter_flips = 0
        for i in range(len(dataset)):
            image = load_image(dataset.image_path(i))
            box = np.asarray(to_landmark_box(dataset.roi_box[i], AFLW2000_ROI_TO_LANDMARKS), np.float32)
            pa, pb = faces_a[i].attributes, faces_b[i].attributes
            pj = fp32.from_landmark_boxes(image, [box + [JITTER_PIXELS, 0, JITTER_PIXELS, 0]])[0].attributes
            for k in pa:
                flips[k] += int((pa[k] > 0.5) != (pb[k] > 0.5))
                jitter_flips += int((pa[k] > 0.5) != (pj[k] > 0.5))
        pairs = max(len(dataset) * len(flips), 1)
        flip_limit = max(MAX_ATTRIBUTE_FLIPS, jitter_flips / pairs)
        rise = b["nme_balanced"] / a["nme_balanced"] - 1.0
        r = {
            "fp32_nme_balanced": a["nme_balanced"],
            "int8_nme_balanced": b["nme_balanced"],
            "nme_rise_relative": rise,
            "attribute_flips": sum(flips.values()) / pairs,
            "attribute_flips_by_name": {k: v / max(len(dataset), 1) for k, v in flips.items()},
            "fp32_attribute_flips_1px_shift": jitter_flips / pairs,
            "attribute_flip_limit": flip_limit,
        }
        passed = rise <= MAX_NME_RISE and r["attribute_flips"] <= flip_limit
        if synthetic is not None:
            samples, names = synthetic
            oa, ob = synthetic_outputs(fp32.model, samples), synthetic_outputs(int8.model, samples)
            sa, sb = (
                evaluate_synthetic(fp32.model, samples, names, outputs=oa),
                evaluate_synthetic(int8.model, samples, names, outputs=ob),
            )
            truth = np.stack([s["attributes"] for s in samples]).astype(bool)
            drops, failing = {}, []
            for k, name in enumerate(manifest.attribute_names):
                if name in names:
                    drops[name], fails = attribute_drop(
                        truth[:, list(names).index(name)], oa["attributes"][:, k], ob["attributes"][:, k]
                    )
                    if fails:
                        failing.append(name)
            r.update(
                {
                    "synthetic_fp32_nme_balanced": sa["nme_balanced"],
                    "synthetic_int8_nme_balanced": sb["nme_balanced"],
                    "synthetic_nme_rise_relative": sb["nme_balanced"] / sa["nme_balanced"] - 1.0,
                    "synthetic_attribute_accuracy_drop": drops,
                    "synthetic_attributes_failing": failing,
                }
            )
            passed = passed and r["synthetic_nme_rise_relative"] <= MAX_NME_RISE and not failing
        if celeba is not None:
            from ..tools.evaluate_faces import evaluate_celeba

            ca, cb = evaluate_celeba(fp32, celeba, progress=False), evaluate_celeba(int8, celeba, progress=False)
            r.update(
                {
                    "celeba_fp32_attribute_accuracy": ca["attribute_accuracy_mean"],
                    "celeba_int8_attribute_accuracy": cb["attribute_accuracy_mean"],
                    "celeba_attribute_accuracy_drop": ca["attribute_accuracy_mean"] - cb["attribute_accuracy_mean"],
                    "celeba_fp32_eer": ca.get("verification_eer", float("nan")),
                    "celeba_int8_eer": cb.get("verification_eer", float("nan")),
                }
            )
            r["celeba_eer_rise"] = r["celeba_int8_eer"] - r["celeba_fp32_eer"]
            passed = (
                passed
                and r["celeba_attribute_accuracy_drop"] <= MAX_CELEBA_ATTRIBUTE_DROP
                and not r["celeba_eer_rise"] > MAX_EER_RISE
            )
        r["passed"] = bool(passed)
        report[fmt] = r
    return report


def gate_summary(fmt: str, r: dict) -> str:
    """One line on a format's gate result (`gate`'s report): each check, its figure, its limit, the verdict."""
    parts = [
        f"balanced NME AFLW2000 {100 * r['fp32_nme_balanced']:.2f} % -> {100 * r['int8_nme_balanced']:.2f} % "
        f"({100 * r['nme_rise_relative']:+.1f} %; limit +{100 * MAX_NME_RISE:.0f} %)"
    ]
    if "synthetic_nme_rise_relative" in r:
        worst = max(r["synthetic_attribute_accuracy_drop"].values(), default=0.0)
        parts.append(
            f"synthetic {100 * r['synthetic_fp32_nme_balanced']:.2f} % -> "
            f"{100 * r['synthetic_int8_nme_balanced']:.2f} % ({100 * r['synthetic_nme_rise_relative']:+.1f} %), "
            f"worst attribute accuracy drop {100 * worst:+.1f} points (limit {100 * MAX_ATTRIBUTE_DROP:.0f} "
            f"beyond noise; failing: {', '.join(r['synthetic_attributes_failing']) or 'none'})"
        )
    parts.append(
        f"flips on photos {100 * r['attribute_flips']:.2f} % (limit {100 * r['attribute_flip_limit']:.2f} %: "
        f"1 % or fp32's own under a 1 px box shift, {100 * r['fp32_attribute_flips_1px_shift']:.2f} %)"
    )
    if "celeba_eer_rise" in r:
        parts.append(
            f"CelebA dev attribute accuracy {100 * r['celeba_fp32_attribute_accuracy']:.2f} -> "
            f"{100 * r['celeba_int8_attribute_accuracy']:.2f} % (limit -{100 * MAX_CELEBA_ATTRIBUTE_DROP:.0f} "
            f"point), identity EER {r['celeba_fp32_eer']:.3f} -> {r['celeba_int8_eer']:.3f} (limit "
            f"+{MAX_EER_RISE})"
        )
    verdict = "passed" if r["passed"] else "FAILED, removed from the pack"
    return f"INT8 gate {fmt:9s} " + "; ".join(parts) + f": {verdict}"


def remove_int8(pack, fmt: str) -> None:
    """Take a format's INT8 file out of the pack (after it failed the gate)."""
    manifest = PackManifest.open(pack)
    manifest.remove_file(fmt, "int8")
    manifest.save()
