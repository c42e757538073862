"""The fast paths of a photo (issue 34) against the slower definitions they replace: the network's input
by lookup against its arithmetic, the refine crop from the raw answer against the decoded face's, the
detector's input and score filter against their formulas, and the per-stage timer leaving the
pipeline as it found it."""

import numpy as np
import pytest

import edgeface
from edgeface.runtime.detectors import blazeface
from edgeface.tools import bench


@pytest.mark.parametrize("backend", ["tflite", "onnx", "openvino"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_input_by_lookup_is_the_arithmetic_to_the_bit(backend, precision, installed_backends):
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    model = edgeface.Reconstructor(backend, precision=precision).model
    crops = np.random.default_rng(3).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    crops[0, 0, :3] = [[0, 0, 0], [255, 255, 255], [127, 128, 129]]  # both ends of the byte range
    got = model.preprocess(crops)
    expected = model.encode(crops)
    if model.file.layout == "NCHW":
        expected = expected.transpose(0, 3, 1, 2)
    assert got.dtype == expected.dtype and got.shape == expected.shape and got.flags.c_contiguous
    assert got.tobytes() == np.ascontiguousarray(expected).tobytes()
    if precision == "int8" and model.file.input_quantization is not None:
        assert got.dtype.kind in "iu"  # the crop goes straight into the integer tensor


def test_the_refine_crop_comes_from_the_raw_answer_as_from_the_decoded_face(face_image, installed_backends):
    rec = edgeface.Reconstructor("onnx" if "onnx" in installed_backends else "auto")
    pipeline = rec.pipeline
    boxes, scores, landmark_boxes = pipeline.detected(face_image)
    crops = [pipeline.crop_for(b) for b in landmark_boxes]
    outputs = pipeline.infer(pipeline.cut(face_image, crops))
    decoded = pipeline.faces(outputs, crops, boxes, scores)
    for i, (crop, face) in enumerate(zip(crops, decoded)):
        assert pipeline.crop_for(pipeline.answer_box(outputs, i, crop)) == pipeline.crop_for_face(face)


def test_an_answer_far_from_its_crop_is_refused_before_the_second_pass(face_image):
    rec = edgeface.Reconstructor(refine=True)
    pipeline = rec.pipeline
    crop = pipeline.crop_for([150, 150, 300, 300])
    outputs = pipeline.infer(pipeline.cut(face_image, [crop]))
    outputs["dense"] = outputs["dense"] + 9.0  # nine crop sizes away
    with pytest.raises(edgeface.ModelError, match="crop sizes or more"):
        pipeline.answer_box(outputs, 0, crop)


def test_the_detector_input_and_score_filter_are_their_formulas():
    canvas = np.random.default_rng(4).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    expected = (canvas[None, ..., ::-1].astype(np.float32) - 127.5) / 127.5
    assert blazeface.input_tensor(canvas).tobytes() == np.ascontiguousarray(expected).tobytes()
    detector = blazeface.BlazeFace("short", "short_range", (1.0, 1.0, 0.0, 0.0), runner="auto")
    anchors = len(detector._anchors)
    logit = np.log(detector.min_score / (1 - detector.min_score))
    # scores just under, at and over the threshold, where a pre-filter on logits could slip
    logits = np.full((1, anchors, 1), -20.0, np.float32)
    logits[0, :3, 0] = [logit - 1e-6, logit, logit + 1e-6]
    regress = np.zeros((1, anchors, 16), np.float32)
    regress[0, :3, 2:4] = 10.0
    found = detector.decode([regress, logits], 1.0, 0.0, 0.0)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :3, 0], -50.0, 50.0)))
    kept = scores[scores >= detector.min_score]
    assert len(kept) == 2  # the one just under is out; the two at and over lie on different anchor cells
    assert sorted(d.score for d in found) == pytest.approx(sorted(kept.tolist()), abs=0)


def test_the_stage_timer_splits_a_photo_and_leaves_the_pipeline_as_it_was(face_image):
    rec = edgeface.Reconstructor(num_threads=1)
    before = rec(face_image)[0]
    spent = bench.split(lambda: rec(face_image), rec, calls=2, rounds=1)
    assert set(spent) == {*bench.STAGES, "other", "total"}
    assert all(spent[stage] > 0 for stage in ("detect", "crop", "encode", "network", "decode"))
    assert sum(spent[s] for s in bench.STAGES) <= spent["total"] + 1e-6
    # the wrappers are gone: the instance's methods are the class's again, and the answer the same
    assert not {"cut", "infer", "faces", "answer_box"} & set(vars(rec.pipeline))
    assert "preprocess" not in vars(rec.model)
    assert not isinstance(rec.pipeline.detector, bench._Timed)
    np.testing.assert_array_equal(rec(face_image)[0].landmarks, before.landmarks)


def test_the_landmark_weights_for_one_head_are_yaw_mixings_to_the_bit():
    """`landmark_weights_at` mixes two anchors in scalars (the per-face path); `yaw_mixing` is the
    rule the export fits with: the same float32 weights at every yaw, anchors and ends included."""
    from edgeface.runtime.pipeline import landmark_weights_at, yaw_mixing

    manifest = edgeface.Reconstructor().pipeline.manifest
    if manifest.landmark_yaw is None:
        pytest.skip("the default pack has one landmark definition")
    for yaw in [*np.linspace(-120.0, 120.0, 481), *manifest.landmark_yaw, 1e-9, -1e-9]:
        mix = yaw_mixing(np.array([yaw], np.float64), manifest.landmark_yaw)[0]
        expected = np.einsum("a,ajk->jk", mix, manifest.landmark_weights_by_yaw).astype(np.float32)
        assert landmark_weights_at(manifest, float(yaw)).tobytes() == expected.tobytes(), yaw
