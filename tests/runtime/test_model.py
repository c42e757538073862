"""Model packs: a corrupt file, a mismatched manifest or a missing backend is refused by name."""

import json

import numpy as np
import pytest

import edgeface
from edgeface.runtime import backends
from edgeface.runtime.pack import MANIFEST_NAME, file_digest
from edgeface.runtime.pipeline import landmarks


def _edit_manifest(pack, change):
    path = pack / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_missing_pack_and_default(tmp_path):
    with pytest.raises(edgeface.ModelError, match="no model pack"):
        edgeface.Reconstructor("onnx", model=tmp_path / "nowhere")


def test_manifest_that_is_not_json(pack_copy):
    (pack_copy / MANIFEST_NAME).write_text("{ not json")
    with pytest.raises(edgeface.ModelError, match="not valid JSON"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_manifest_missing_a_field(pack_copy):
    _edit_manifest(pack_copy, lambda d: d.pop("topology"))
    with pytest.raises(edgeface.ModelError, match="topology is missing"):
        edgeface.Reconstructor("onnx", model=pack_copy)


@pytest.fixture(params=["onnx", "openvino", "tflite", "torch"])
def backend(request, installed_backends):
    """Each backend, skipped where it is not installed."""
    if request.param not in installed_backends:
        pytest.skip(f"{request.param} not installed")
    return request.param


def test_unsupported_schema(pack_copy):
    _edit_manifest(pack_copy, lambda d: d.update(schema=99))
    with pytest.raises(edgeface.ModelError, match="schema 99"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_corrupt_model_file_is_detected(pack_copy, backend):
    entry = next(
        f
        for f in json.loads((pack_copy / MANIFEST_NAME).read_text())["files"]
        if f["format"] == backends.BACKENDS[backend].file_format
    )
    path = pack_copy / entry["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(edgeface.ModelError, match="does not match its manifest"):
        edgeface.Reconstructor(backend, model=pack_copy)


def test_garbage_file_with_matching_hash_gives_a_model_error(pack_copy, backend):
    """Even a file that passes the hash check but cannot be parsed gives a ModelError, not a backend trace."""
    fmt = backends.BACKENDS[backend].file_format

    def garble(d):
        for f in d["files"]:
            if f["format"] == fmt:
                path = pack_copy / f["path"]
                path.write_bytes(b"edgeface" * 1000)
                f["sha256"] = file_digest(path, *[pack_copy / c for c in f.get("companions", [])])

    _edit_manifest(pack_copy, garble)
    with pytest.raises(edgeface.ModelError, match=f"{backend} could not load"):
        edgeface.Reconstructor(backend, model=pack_copy)


def test_missing_model_file(pack_copy):
    (pack_copy / "model_fp32.onnx").unlink()
    with pytest.raises(edgeface.ModelError, match="missing"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_manifest_describing_another_input_size(pack_copy, backend):
    _edit_manifest(pack_copy, lambda d: d["input"].update(size=96))
    with pytest.raises(edgeface.ModelError, match="do not belong together"):
        edgeface.Reconstructor(backend, model=pack_copy)


@pytest.mark.parametrize("backend", ["onnx", "tflite"])
def test_manifest_with_other_attribute_count(pack_copy, installed_backends, backend):
    if backend not in installed_backends:
        pytest.skip(f"{backend} not installed")
    _edit_manifest(pack_copy, lambda d: d["attribute_names"].append("Extra"))
    with pytest.raises(edgeface.ModelError, match="'attributes' has shape"):
        edgeface.Reconstructor(backend, model=pack_copy)


def test_manifest_naming_a_tensor_the_file_lacks(pack_copy):
    def rename(d):
        next(f for f in d["files"] if f["format"] == "onnx")["outputs"]["pose"] = "no_such_tensor"

    _edit_manifest(pack_copy, rename)
    with pytest.raises(edgeface.ModelError, match="no output tensor 'no_such_tensor'"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_missing_precision_and_format(pack_copy):
    with pytest.raises(edgeface.ModelError, match="no int8 onnx file"):
        edgeface.Reconstructor("onnx", model=pack_copy, precision="int8")
    _edit_manifest(pack_copy, lambda d: d.update(files=[f for f in d["files"] if f["format"] != "onnx"]))
    with pytest.raises(edgeface.ModelError, match="has no onnx file"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_backend_not_installed_names_the_extra_and_what_is_installed(fixture_pack, monkeypatch):
    monkeypatch.setattr(backends, "installed", lambda: ["torch"])
    with pytest.raises(edgeface.BackendNotInstalledError) as error:
        edgeface.Reconstructor("openvino", model=fixture_pack)
    assert "pip install 'edgeface[openvino]'" in str(error.value)
    assert "Installed backends: torch" in str(error.value)


def test_no_backend_at_all(fixture_pack, monkeypatch):
    monkeypatch.setattr(backends, "installed", lambda: [])
    with pytest.raises(edgeface.BackendNotInstalledError, match="no installed backend"):
        edgeface.Reconstructor("auto", model=fixture_pack)


def test_unknown_backend_and_precision(fixture_pack):
    with pytest.raises(ValueError, match="unknown backend 'cuda'"):
        edgeface.Reconstructor("cuda", model=fixture_pack)
    with pytest.raises(ValueError, match="precision"):
        edgeface.Reconstructor("onnx", model=fixture_pack, precision="int4")


def test_auto_takes_the_documented_order(fixture_pack, monkeypatch, installed_backends):
    rec = edgeface.Reconstructor("auto", model=fixture_pack)
    first = next(b for b in backends.AUTO_ORDER["fp32"] if b in installed_backends)
    assert rec.backend == first
    monkeypatch.setattr(backends, "installed", lambda: [b for b in installed_backends if b != first])
    second = next(b for b in backends.AUTO_ORDER["fp32"] if b in installed_backends and b != first)
    assert edgeface.Reconstructor("auto", model=fixture_pack).backend == second


def test_quantized_output_is_dequantized_with_manifest_parameters(fixture_pack):
    """The shared post-processing turns integer outputs into floats with (q - zero_point) * scale."""
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    model = rec.model
    raw = model.backend.run(model.preprocess(np.zeros((1, 64, 64, 3), np.uint8)))
    reference = model.postprocess(raw)
    i = [t.name for t in model.backend.outputs].index("identity")
    scale, zero = 0.05, 3
    raw[i] = (np.round(raw[i] / scale) + zero).astype(np.int8)
    model.file.output_quantization["identity"] = (scale, zero)
    try:
        np.testing.assert_allclose(model.postprocess(raw)["identity"], reference["identity"], atol=scale / 2 + 1e-6)
    finally:
        model.file.output_quantization.pop("identity")


def _weights_for_first_landmark(points, weights):
    def change(d):
        topo = d["topology"]
        rows_p = [[int(v)] for v in topo["landmarks68"]]
        rows_w = [[1.0] for _ in rows_p]
        rows_p[0], rows_w[0] = points, weights
        topo["landmark_weights"] = {"points": rows_p, "weights": rows_w}

    return change


@pytest.mark.parametrize(
    "points, weights, message",
    [
        ([1, 2], [0.5, 0.6], "sum to 1"),
        ([1, 2], [1.5, -0.5], r"weights\[0\]\[1\] is -0.5, outside the schema's minimum 0"),
        ([1, 99999], [0.5, 0.5], "outside"),
        ([1, 2], [1.0], "matching"),
    ],
)
def test_landmark_definition_is_checked(pack_copy, points, weights, message):
    _edit_manifest(pack_copy, _weights_for_first_landmark(points, weights))
    with pytest.raises(edgeface.ModelError, match=message):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_landmarks_follow_the_manifest_definition(fixture_pack, pack_copy, face_image, dev_set):
    """A landmark defined as 1/4 of one point plus 3/4 of another is exactly that, on every runtime path."""
    from edgeface.runtime.detectors import to_landmark_box
    from edgeface.tools.evaluate import AFLW2000_ROI_TO_LANDMARKS

    _edit_manifest(pack_copy, _weights_for_first_landmark([10, 20], [0.25, 0.75]))
    box = [to_landmark_box(dev_set.roi_box[0], AFLW2000_ROI_TO_LANDMARKS)]
    plain = edgeface.Reconstructor("onnx", model=fixture_pack).from_landmark_boxes(face_image, box)[0]
    moved = edgeface.Reconstructor("onnx", model=pack_copy).from_landmark_boxes(face_image, box)[0]
    np.testing.assert_array_equal(plain.dense, moved.dense)
    np.testing.assert_allclose(moved.landmarks[0], 0.25 * plain.dense[10] + 0.75 * plain.dense[20], rtol=1e-6)
    np.testing.assert_array_equal(moved.landmarks[1:], plain.landmarks[1:])


def _per_yaw_first_landmark(anchors, rows):
    """Landmark 0 on points 10 and 20: half and half for readers without by_yaw, `rows` per anchor."""

    def change(d):
        _weights_for_first_landmark([10, 20], [0.5, 0.5])(d)
        single = d["topology"]["landmark_weights"]["weights"]
        d["topology"]["landmark_weights"]["by_yaw"] = {
            "yaw_degrees": anchors,
            "weights": [[row] + single[1:] for row in rows],
        }

    return change


def test_landmarks_follow_a_per_yaw_definition(fixture_pack, pack_copy, face_image):
    """With weights per anchor yaw, a landmark is interpolated linearly between anchors by the
    face's own yaw and held beyond them, on the Face the runtime returns as well."""
    _edit_manifest(pack_copy, _per_yaw_first_landmark([-30.0, 30.0], [[1.0, 0.0], [0.0, 1.0]]))
    rec = edgeface.Reconstructor("onnx", model=pack_copy)
    m = rec.manifest
    dense = np.random.default_rng(0).normal(size=(m.num_points, 3)).astype(np.float32)
    for yaw, w20 in ((-45.0, 0.0), (-30.0, 0.0), (0.0, 0.5), (15.0, 0.75), (30.0, 1.0), (80.0, 1.0)):
        np.testing.assert_allclose(landmarks(m, dense, yaw)[0], (1 - w20) * dense[10] + w20 * dense[20], atol=1e-6)
    np.testing.assert_array_equal(landmarks(m, dense, 17.0)[1:], dense[m.landmarks68[1:]])
    face = rec.from_landmark_boxes(face_image, [[150.0, 140.0, 300.0, 320.0]])[0]
    w20 = float(np.clip((face.pose.yaw + 30.0) / 60.0, 0.0, 1.0))
    np.testing.assert_allclose(
        face.landmarks[0], (1 - w20) * face.dense[10] + w20 * face.dense[20], rtol=1e-5, atol=1e-3
    )


@pytest.mark.parametrize(
    "anchors, rows, message",
    [
        ([30.0, -30.0], [[1.0, 0.0], [0.0, 1.0]], "increasing"),
        ([0.0], [[1.0, 0.0]], "yaw_degrees has 1 items; the schema wants 2"),
        ([-30.0, 30.0], [[1.0, 0.0]], "one set of weights per anchor"),
        ([-30.0, 30.0], [[1.0, 0.0], [1.0]], "matching"),
        ([-30.0, 30.0], [[1.0, 0.0], [0.7, 0.7]], "sum to 1"),
    ],
)
def test_per_yaw_definition_is_checked(pack_copy, anchors, rows, message):
    _edit_manifest(pack_copy, _per_yaw_first_landmark(anchors, rows))
    with pytest.raises(edgeface.ModelError, match=message):
        edgeface.Reconstructor("onnx", model=pack_copy)


# --- a pack is confined to its folder, and every field is checked (issue 18) ---

import os  # noqa: E402
import threading  # noqa: E402


def _point_onnx_entry_at(pack, path, sha256=None):
    def change(d):
        entry = next(f for f in d["files"] if f["format"] == "onnx" and f["precision"] == "fp32")
        entry["path"] = str(path)
        if sha256 is not None:
            entry["sha256"] = sha256

    _edit_manifest(pack, change)


def _outside_copy(pack, tmp_path):
    """The pack's fp32 ONNX file copied outside the pack, with its hash: it would load if followed."""
    outside = tmp_path / "outside" / "model.onnx"
    outside.parent.mkdir()
    outside.write_bytes((pack / "model_fp32.onnx").read_bytes())
    return outside, file_digest(outside)


@pytest.mark.parametrize("form", ["absolute", "dotdot", "backslash", "empty"])
def test_manifest_paths_must_stay_inside_the_pack(pack_copy, tmp_path, form):
    outside, digest = _outside_copy(pack_copy, tmp_path)
    path = {
        "absolute": outside,
        "dotdot": "../outside/model.onnx",
        "backslash": "..\\outside\\model.onnx",
        "empty": "",
    }[form]
    _point_onnx_entry_at(pack_copy, path, digest)
    with pytest.raises(edgeface.ModelError, match="must be a path inside the pack folder|path must not be empty"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_a_symlink_leaving_the_pack_is_refused_even_with_a_matching_hash(pack_copy, tmp_path):
    outside, digest = _outside_copy(pack_copy, tmp_path)
    (pack_copy / "linked.onnx").symlink_to(outside)
    _point_onnx_entry_at(pack_copy, "linked.onnx", digest)
    with pytest.raises(edgeface.ModelError, match="leaves the pack folder") as error:
        edgeface.Reconstructor("onnx", model=pack_copy)
    assert digest[:8] not in str(error.value)


def test_a_symlink_inside_the_pack_is_followed(pack_copy):
    (pack_copy / "alias.onnx").symlink_to(pack_copy / "model_fp32.onnx")
    _point_onnx_entry_at(pack_copy, "alias.onnx")
    assert edgeface.Reconstructor("onnx", model=pack_copy).backend == "onnx"


def test_a_hash_mismatch_reveals_no_hash_of_the_file(pack_copy):
    """The message must not leak a digest of whatever file the path names."""
    actual = file_digest(pack_copy / "model_fp32.onnx")
    _point_onnx_entry_at(pack_copy, "model_fp32.onnx", "0" * 64)
    with pytest.raises(edgeface.ModelError, match="does not match its manifest") as error:
        edgeface.Reconstructor("onnx", model=pack_copy)
    assert actual[:6] not in str(error.value)


def _load_in_thread(pack, timeout=20):
    """Load in a thread, so that a loader hanging on a device or pipe fails the test instead of hanging it."""
    outcome = {}

    def load():
        try:
            edgeface.Reconstructor("onnx", model=pack)
            outcome["error"] = None
        except Exception as error:  # noqa: BLE001 - the test inspects it
            outcome["error"] = error

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout)
    assert "error" in outcome, "the loader hung"
    return outcome["error"]


def test_a_device_or_pipe_is_not_read(pack_copy):
    (pack_copy / "zero.onnx").symlink_to("/dev/zero")
    _point_onnx_entry_at(pack_copy, "zero.onnx")
    error = _load_in_thread(pack_copy)
    assert isinstance(error, edgeface.ModelError) and "leaves the pack folder" in str(error)
    os.mkfifo(pack_copy / "fifo.onnx")
    _point_onnx_entry_at(pack_copy, "fifo.onnx")
    error = _load_in_thread(pack_copy)
    assert isinstance(error, edgeface.ModelError) and "not a regular file" in str(error)


def test_a_manifest_that_is_a_device_or_pipe_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "edgeface.json")
    error = _load_in_thread(tmp_path)
    assert isinstance(error, edgeface.ModelError) and "not a regular file" in str(error)


def test_a_huge_model_file_is_refused_before_hashing(pack_copy, monkeypatch):
    from edgeface.runtime import model

    monkeypatch.setattr(model, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(edgeface.ModelError, match="over the limit"):
        edgeface.Reconstructor("onnx", model=pack_copy)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_manifest(pack_copy, depth):
    data = json.loads((pack_copy / MANIFEST_NAME).read_text())
    (pack_copy / MANIFEST_NAME).write_text(json.dumps(data)[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}")
    with pytest.raises(edgeface.ModelError, match="nested deeper than"):
        edgeface.Reconstructor("onnx", model=pack_copy)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(files="model_fp32.onnx"), "files must be a JSON array, not str"),
        (lambda d: d.update(files=[]), "files has 0 items; the schema wants 1"),
        (lambda d: d["crop"].update(scale=0), "crop.scale is 0, outside the schema's exclusiveMinimum 0"),
        (lambda d: d["crop"].update(scale=-1.4), "crop.scale is -1.4, outside"),
        (lambda d: d["input"].update(std=[0.5, 0.0, 0.5]), r"input.std\[1\] is 0.0, outside the schema's exclusiveMin"),
        (lambda d: d["input"].update(mean=[0.5, float("nan"), 0.5]), "input.mean must be 3 finite numbers"),
        (lambda d: d["input"].update(mean=0.5), "input.mean must be a JSON array"),
        (lambda d: d["input"].update(size=0), "input.size is 0, outside the schema's minimum 1"),
        (lambda d: d["input"].update(size="112"), "input.size must be a whole number"),
        (lambda d: d["input"].update(channels="RGBA"), "input.channels must be"),
        (lambda d: d["topology"]["triangles"][0].__setitem__(0, -1), r"topology.triangles\[0\]\[0\] is -1, outside"),
        (lambda d: d["topology"]["triangles"][0].__setitem__(0, 10**6), "topology.triangles holds an index outside"),
        (lambda d: d["topology"]["triangles"][0].__setitem__(0, 1.5), r"triangles\[0\]\[0\] must be a whole number"),
        (lambda d: d["topology"]["landmarks68"].__setitem__(0, -3), r"topology.landmarks68\[0\] is -3, outside"),
        (lambda d: d["topology"].update(mirror=[0, 1]), "topology.mirror must have shape"),
        (lambda d: d.update(attribute_names="Smiling"), "attribute_names must be a JSON array"),
        (lambda d: d.update(identity_size=-1), "identity_size is -1, outside the schema's minimum 0"),
        (lambda d: d.update(crop=[1.4]), "crop must be a JSON object"),
        (lambda d: d["files"][0].update(sha256="abc"), r"files\[0\].sha256 must match"),
        (lambda d: d["files"][0].update(layout="CHWN"), "layout must be"),
        (
            lambda d: d["files"][0].update(input_quantization={"scale": 0, "zero_point": 0}),
            "input_quantization.scale is 0, outside the schema's exclusiveMinimum 0",
        ),
        (lambda d: d.update(license=["MIT"]), "license must be a JSON string"),
    ],
)
def test_every_manifest_field_is_checked(pack_copy, change, message):
    _edit_manifest(pack_copy, change)
    with pytest.raises(edgeface.ModelError, match=message):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_unknown_backend_and_precision_are_option_errors(fixture_pack):
    with pytest.raises(edgeface.OptionError, match="unknown backend 'foo'"):
        edgeface.Reconstructor("foo", model=fixture_pack)
    with pytest.raises(edgeface.OptionError, match="precision"):
        edgeface.Reconstructor("onnx", model=fixture_pack, precision="int4")
    assert issubclass(edgeface.OptionError, ValueError) and issubclass(edgeface.OptionError, edgeface.EdgefaceError)


def test_a_model_giving_non_finite_answers_is_an_error_not_a_nan(pack_copy, face_image):
    """Found by the fuzz harness: weights damaged but re-hashed load fine and answered NaN in silence."""
    entry_path = pack_copy / "model_fp32.onnx"
    rec = edgeface.Reconstructor("onnx", model=pack_copy)
    real_run = rec.model.backend.run
    rec.model.backend.run = lambda x: [np.full_like(o, np.nan) for o in real_run(x)]
    with pytest.raises(edgeface.ModelError, match="non-finite values for dense"):
        rec(face_image, boxes=[[100, 100, 300, 300]])
    rec.model.backend.run = lambda x: [np.full_like(o, 3e38) for o in real_run(x)]  # finite, but overflows in pixels
    with pytest.raises(edgeface.ModelError, match="too large for the image"):
        rec(face_image, boxes=[[100, 100, 300, 300]])
    assert entry_path.exists()
