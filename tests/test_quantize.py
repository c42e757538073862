"""INT8 export on the fixture model: each format quantizes, loads through the runtime, stays close
to fp32, and the gate removes a file that fails it."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeface
from edgeface.runtime.pack import MANIFEST_NAME, read_manifest

pytest.importorskip("torch", reason="export needs the train extra")

pytestmark = pytest.mark.train


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (1, 8, 8, 3)).astype(np.float32)
    import cv2

    smooth = [cv2.resize(base[0] + rng.normal(0, 20, base[0].shape), (64, 64)) for _ in range(32)]
    return np.clip(np.stack(smooth), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("fmt,module", [("onnx", "onnxruntime"), ("openvino", "nncf"), ("tflite", "ai_edge_quantizer")])
def test_int8_file_loads_and_tracks_fp32(pack_copy, crops, fmt, module, monkeypatch):
    pytest.importorskip(module)
    from edgeface.export import quantize

    monkeypatch.setattr(quantize, "QUANTIZED_ONNX", ("/features/",))  # the fixture's module name
    monkeypatch.setattr(quantize, "QUANTIZED_TFLITE", ".*_features/.*")
    assert quantize.add_int8(pack_copy, crops, formats=(fmt,)) == [f"model_int8{quantize.QUANTIZERS[fmt][2]}"]
    backend = quantize.QUANTIZERS[fmt][0]
    fp32 = edgeface.Reconstructor(backend, model=pack_copy, precision="fp32").model(crops[:8])
    int8 = edgeface.Reconstructor(backend, model=pack_copy, precision="int8").model(crops[:8])
    # the fixture's dense points are a template plus 1 % of the crop: int8 must keep them within that
    assert np.abs(int8["dense"] - fp32["dense"]).max() < 0.01
    assert not np.array_equal(int8["identity"], fp32["identity"])  # it really is another file


def test_gate_removes_a_failing_file(pack_copy, crops, dev_set, monkeypatch):
    pytest.importorskip("onnxruntime")
    from edgeface.export import gate, quantize

    monkeypatch.setattr(quantize, "QUANTIZED_ONNX", ("/features/",))
    quantize.add_int8(pack_copy, crops, formats=("onnx",))
    pick = np.concatenate([np.flatnonzero(dev_set.yaw_bin() == b)[:2] for b in range(3)])  # every yaw bin
    small = dev_set.subset(pick)
    report = gate.gate(pack_copy, small, formats=("onnx",))
    assert set(report) == {"onnx"} and report["onnx"]["fp32_nme_balanced"] > 0
    by_name = report["onnx"]["attribute_flips_by_name"]
    assert set(by_name) == set(read_manifest(pack_copy).attribute_names)
    assert np.isclose(np.mean(list(by_name.values())), report["onnx"]["attribute_flips"])
    r = report["onnx"]
    assert r["attribute_flip_limit"] == max(gate.MAX_ATTRIBUTE_FLIPS, r["fp32_attribute_flips_1px_shift"])
    line = gate.gate_summary("onnx", r)
    assert line.startswith("INT8 gate onnx") and f"{100 * r['fp32_nme_balanced']:.2f} %" in line
    assert line.endswith("passed" if r["passed"] else "FAILED, removed from the pack")
    quantize.remove_int8(pack_copy, "onnx")
    files = json.loads((pack_copy / MANIFEST_NAME).read_text())["files"]
    assert not any(f["precision"] == "int8" for f in files)
    assert not (pack_copy / "model_int8.onnx").exists()


def test_tflite_int8_takes_int8_input_with_the_same_outputs(pack_copy, crops, tmp_path, monkeypatch):
    """Cutting the leading QUANTIZE op moves input quantization into the runtime (and the Android
    app) without changing a single output value."""
    pytest.importorskip("ai_edge_quantizer")
    from ai_edge_litert.interpreter import Interpreter

    from edgeface.export import quantize

    monkeypatch.setattr(quantize, "QUANTIZED_TFLITE", ".*_features/.*")  # the fixture's module name
    crops = np.clip(crops, 60, 200)  # calibration crops without black or white pixels
    with monkeypatch.context() as uncut:
        uncut.setattr(quantize, "take_int8_input", lambda path: False)
        quantize.add_int8(pack_copy, crops, formats=("tflite",))
    cut_path = pack_copy / "model_int8.tflite"
    uncut_path = Path(shutil.copy(cut_path, tmp_path / "uncut.tflite"))
    assert quantize.take_int8_input(cut_path)
    assert not quantize.take_int8_input(cut_path)  # nothing left to cut
    outputs = edgeface.Reconstructor("tflite", model=pack_copy, precision="fp32").model.file.outputs
    quantize.register_int8(pack_copy, "tflite", cut_path, quantize.tflite_entry(cut_path, outputs))
    rec = edgeface.Reconstructor("tflite", model=pack_copy, precision="int8")
    scale, zero = rec.model.file.input_quantization

    def run(path, x):
        interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter, [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    x = rec.model.preprocess(crops[:1])  # int8, by the runtime's folded multiply-add
    float_x = edgeface.Reconstructor("tflite", model=pack_copy, precision="fp32").model.preprocess(crops[:1])
    uncut, expected = run(uncut_path, float_x)
    cut_input = Interpreter(model_path=str(cut_path)).get_input_details()[0]
    assert cut_input["dtype"] == np.int8
    by_op = uncut.get_tensor(cut_input["index"])  # the same tensor, written by the QUANTIZE op
    # The graph after the cut is untouched: fed what the op wrote, it answers to the bit.
    for a, b in zip(expected, run(cut_path, by_op)[1]):
        np.testing.assert_array_equal(a, b)
    # The runtime quantizes exactly as the op did (the fixture's mean and std put every pixel on a tie).
    assert x.dtype == np.int8 and (scale, zero) == (
        pytest.approx(cut_input["quantization"][0]),
        cut_input["quantization"][1],
    )
    step = np.abs(x.astype(int) - by_op.astype(int))
    assert (step == 0).all(), f"{(step != 0).mean():.1%} of the input differs from the op's"
    # Black and white pixels both fit the int8 input: the calibrator's moving average would clip them.
    fp32_model = edgeface.Reconstructor("tflite", model=pack_copy, precision="fp32").model
    extremes = fp32_model.normalise(np.array([[[[0, 0, 0]]], [[[255, 255, 255]]]], np.uint8))
    assert scale * (-128 - zero) <= extremes.min() + scale / 2 and scale * (127 - zero) >= extremes.max() - scale / 2


def test_attribute_drop_fails_only_a_real_loss():
    """The gate's synthetic attribute check: a drop over one point fails when it is beyond paired
    sampling noise, and passes when a few faces merely traded places."""
    pytest.importorskip("torch")
    from edgeface.export.gate import attribute_drop

    truth = np.arange(256) % 2 == 0
    fp32 = np.where(truth, 2.0, -2.0)  # right on every face

    def int8_wrong_on(wrong):
        logits = fp32.copy()
        logits[list(wrong)] *= -1
        return logits

    assert attribute_drop(truth, fp32, fp32) == (0.0, False)
    drop, fails = attribute_drop(truth, fp32, int8_wrong_on(range(2)))
    assert np.isclose(drop, 2 / 256) and not fails  # under one point
    drop, fails = attribute_drop(truth, fp32, int8_wrong_on(range(30)))
    assert np.isclose(drop, 30 / 256) and fails  # 30 faces lost, none gained: a real loss
    fp32_some_wrong = fp32.copy()
    fp32_some_wrong[100:104] *= -1  # fp32 wrong on 4 faces that INT8 gets right
    int8 = fp32.copy()
    int8[:8] *= -1
    drop, fails = attribute_drop(truth, fp32_some_wrong, int8)
    assert np.isclose(drop, 4 / 256) and not fails  # 8 lost, 4 gained: 1.6 points, within noise


def test_gate_summary_names_every_check_it_was_given():
    from edgeface.export import gate

    r = {
        "fp32_nme_balanced": 0.0464,
        "int8_nme_balanced": 0.0465,
        "nme_rise_relative": 0.002,
        "attribute_flips": 0.003,
        "attribute_flip_limit": 0.01,
        "fp32_attribute_flips_1px_shift": 0.004,
        "synthetic_fp32_nme_balanced": 0.05,
        "synthetic_int8_nme_balanced": 0.0503,
        "synthetic_nme_rise_relative": 0.006,
        "synthetic_attribute_accuracy_drop": {"Smiling": 0.004},
        "synthetic_attributes_failing": [],
        "celeba_fp32_attribute_accuracy": 0.852,
        "celeba_int8_attribute_accuracy": 0.851,
        "celeba_fp32_eer": 0.322,
        "celeba_int8_eer": 0.319,
        "celeba_eer_rise": -0.003,
        "passed": False,
    }
    line = gate.gate_summary("tflite", r)
    for part in (
        "4.64 % -> 4.65 %",
        "synthetic 5.00 % -> 5.03 %",
        "+0.4 points",
        "flips on photos 0.30 %",
        "CelebA dev attribute accuracy 85.20 -> 85.10 %",
        "EER 0.322 -> 0.319",
        "FAILED, removed from the pack",
    ):
        assert part in line, (part, line)
