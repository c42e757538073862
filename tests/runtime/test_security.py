"""The attack round of issue 35, one test per finding (SECURITY.md): packs are data, inputs are
bounded, outputs are never lost, and every failure is an EdgefaceError naming the problem."""

import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import edgeface
from edgeface.runtime import backends
from edgeface.runtime.pack import MANIFEST_NAME, file_digest


def _edit_manifest(pack, change):
    path = pack / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


class _Payload:
    """A pickle that, when loaded, writes a marker file: what an attacker's .pt2 would carry."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _hostile_pt2(pack, marker):
    """A pack whose only network file is a .pt2 carrying a pickle payload, hash and all."""
    path = pack / "model_fp32.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(_Payload(marker)))
        z.writestr("archive/version", "3")

    def only_torch(d):
        entry = dict(d["files"][0], path="model_fp32.pt2", format="torch", sha256=file_digest(path))
        entry.pop("companions", None)
        d["files"] = [entry]

    _edit_manifest(pack, only_torch)


# ---- 1: a model pack never runs code ---------------------------------------------------------


def test_auto_never_picks_the_torch_backend(pack_copy, tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    _hostile_pt2(pack_copy, marker)
    monkeypatch.setattr(backends, "installed", lambda: ["onnx", "openvino", "tflite", "torch"])
    with pytest.raises(edgeface.EdgefaceError, match="no installed backend"):
        edgeface.Reconstructor("auto", model=pack_copy)
    assert not marker.exists()
    assert "torch" not in backends.AUTO_ORDER["fp32"] and "torch" in backends.UNSAFE


def test_the_torch_backend_refuses_an_untrusted_pt2(pack_copy, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    marker = tmp_path / "pwned"
    _hostile_pt2(pack_copy, marker)
    monkeypatch.delenv("EDGEFACE_TRUST_TORCH_FILES", raising=False)
    with pytest.raises(edgeface.ModelError, match="EDGEFACE_TRUST_TORCH_FILES"):
        edgeface.Reconstructor("torch", model=pack_copy)
    assert not marker.exists()


# ---- 5: every file a backend reads is listed and hashed -------------------------------------


def _openvino_entry(d):
    return next(f for f in d["files"] if f["format"] == "openvino")


@pytest.fixture
def openvino(installed_backends):
    if "openvino" not in installed_backends:
        pytest.skip("openvino not installed")


def test_openvino_weights_left_out_of_companions_are_refused(pack_copy, openvino):
    def drop(d):
        entry = _openvino_entry(d)
        entry.pop("companions")
        entry["sha256"] = file_digest(pack_copy / entry["path"])

    _edit_manifest(pack_copy, drop)
    with pytest.raises(edgeface.ModelError, match="companions"):
        edgeface.Reconstructor("openvino", model=pack_copy)


def test_openvino_weights_listed_as_a_decoy_are_refused(pack_copy, openvino):
    (pack_copy / "decoy.bin").write_bytes(b"\x00" * 16)

    def decoy(d):
        entry = _openvino_entry(d)
        entry["companions"] = ["decoy.bin"]
        entry["sha256"] = file_digest(pack_copy / entry["path"], pack_copy / "decoy.bin")

    _edit_manifest(pack_copy, decoy)
    with pytest.raises(edgeface.ModelError, match="model_fp32.bin"):
        edgeface.Reconstructor("openvino", model=pack_copy)


def test_tampered_openvino_weights_are_detected(pack_copy, openvino):
    path = pack_copy / "model_fp32.bin"
    data = bytearray(path.read_bytes())
    data[100:104] = b"\x7f\x7f\x7f\x7f"
    path.write_bytes(bytes(data))
    with pytest.raises(edgeface.ModelError, match="sha256"):
        edgeface.Reconstructor("openvino", model=pack_copy)


def test_openvino_weights_linked_out_of_the_pack_are_refused(pack_copy, tmp_path, openvino):
    outside = tmp_path / "outside.bin"
    outside.write_bytes((pack_copy / "model_fp32.bin").read_bytes())
    (pack_copy / "model_fp32.bin").unlink()
    os.symlink(outside, pack_copy / "model_fp32.bin")
    with pytest.raises(edgeface.ModelError, match="leaves the pack"):
        edgeface.Reconstructor("openvino", model=pack_copy)


def test_onnx_external_data_is_not_read(pack_copy, installed_backends):
    """An ONNX graph whose weights sit in an external file loads from the hashed bytes alone, so
    the external file is never opened: refused by name."""
    onnx = pytest.importorskip("onnx")
    if "onnx" not in installed_backends:
        pytest.skip("onnxruntime not installed")
    model = onnx.load(str(pack_copy / "model_fp32.onnx"))
    onnx.save_model(
        model,
        str(pack_copy / "model_fp32.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.data",
        size_threshold=0,
    )
    assert (pack_copy / "weights.data").exists()

    def rehash(d):
        entry = next(f for f in d["files"] if f["format"] == "onnx")
        entry["sha256"] = file_digest(pack_copy / "model_fp32.onnx")

    _edit_manifest(pack_copy, rehash)
    with pytest.raises(edgeface.ModelError, match="onnx could not load"):
        edgeface.Reconstructor("onnx", model=pack_copy)


# ---- 2: a frame too thin for a face is no face, not a cv2.error -----------------------------


@pytest.mark.parametrize("shape", [(1, 4000, 3), (4000, 1, 3), (2, 9000, 3), (1, 1, 3)])
def test_extreme_aspect_frames_find_no_face(fixture_pack, shape):
    rec = edgeface.Reconstructor("onnx", model=fixture_pack, detector="cascade")
    assert rec(np.zeros(shape, np.uint8)) == []


# ---- 3, 4: output names ----------------------------------------------------------------------


def _portrait_bytes():
    from conftest import PORTRAIT

    return PORTRAIT.read_bytes()


def test_a_name_that_is_not_utf8_is_processed(fixture_pack, tmp_path, capsys):
    from edgeface.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    bad = os.fsdecode(b"bad\xff.jpg")
    (folder / bad).write_bytes(_portrait_bytes())
    (folder / "good.jpg").write_bytes(_portrait_bytes())
    assert (
        main(["run", str(folder), "--model", str(fixture_pack), "--backend", "onnx", "--out", str(tmp_path / "o")]) == 0
    )
    names = sorted(p.name for p in (tmp_path / "o").glob("*_overlay.png"))
    assert names == ["bad__overlay.png", "good_overlay.png"], names
    assert "2 of 2" in capsys.readouterr().out


def test_outputs_never_overwrite_an_input_nor_merge_two(fixture_pack, tmp_path, capsys):
    from edgeface.cli import main

    folder = tmp_path / "in"
    folder.mkdir()
    portrait = _portrait_bytes()
    for name in ("a.jpg", "a.png", "a_png.jpg", "x.jpg"):
        (folder / name).write_bytes(portrait if name.endswith(".jpg") else cv2_png())
    (folder / "x_overlay.png").write_bytes(cv2_png())  # an input that x.jpg's overlay must not replace
    before = (folder / "x_overlay.png").read_bytes()
    assert main(["run", str(folder), "--model", str(fixture_pack), "--backend", "onnx", "--out", str(folder)]) == 0
    assert (folder / "x_overlay.png").read_bytes() == before
    overlays = sorted(p.name for p in folder.glob("*_overlay*.png") if p.name != "x_overlay.png")
    # five inputs (x_overlay.png is one too), five distinct overlays
    assert len(overlays) == 5, overlays
    assert "5 of 5" in capsys.readouterr().out


def cv2_png():
    import cv2

    from edgeface.runtime.image import load_image

    return cv2.imencode(".png", load_image(_portrait_bytes()))[1].tobytes()


def test_outputs_replace_a_planted_link_instead_of_writing_through_it(fixture_pack, tmp_path):
    from edgeface.cli import main

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "o"
    out.mkdir()
    os.symlink(victim, out / "p_overlay.png")
    (tmp_path / "p.jpg").write_bytes(_portrait_bytes())
    assert (
        main(["run", str(tmp_path / "p.jpg"), "--model", str(fixture_pack), "--backend", "onnx", "--out", str(out)])
        == 0
    )
    assert victim.read_text() == "keep me"
    assert not (out / "p_overlay.png").is_symlink() and (out / "p_overlay.png").stat().st_size > 1000


def test_stems_are_distinct_over_awkward_names(tmp_path):
    from edgeface.cli.outputs import Outputs

    names = ["a.jpg", "a.png", "a_png.jpg", "A.JPG", "a_png~2.jpg", "x" * 300 + ".jpg", "x" * 300 + ".png"]
    stems = Outputs(tmp_path, [tmp_path / n for n in names]).stems
    assert len({s.casefold() for s in stems.values()}) == len(names)
    assert all(len(s.encode()) <= 190 for s in stems.values())


# ---- 6: a video is refused by its declared size, before decoding ----------------------------


def test_video_declaring_huge_frames_is_refused_before_decoding(tmp_path):
    import resource

    import hostile

    from edgeface.cli.run_video import open_capture

    path = tmp_path / "big.avi"
    path.write_bytes(hostile.avi_declaring(hostile.avi(), 20000, 20000))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(edgeface.EdgefaceError, match="20000x20000.*before decoding"):
        open_capture(str(path))
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB


def test_container_sizes_are_read_from_the_headers(tmp_path):
    import hostile

    from edgeface.runtime.container import declared_frame_sizes

    path = tmp_path / "v.avi"
    path.write_bytes(hostile.avi(size=(64, 48)))
    assert (64, 48) in declared_frame_sizes(path)
    path.write_bytes(b"\x1a\x45\xdf\xa3" + os.urandom(64))  # a damaged Matroska header: no size, no error
    assert isinstance(declared_frame_sizes(path), list)


# ---- 7, 8: bounded threads; faces own their boxes ---------------------------------------------


def test_thread_count_is_bounded(fixture_pack):
    with pytest.raises(edgeface.OptionError, match="1 to 64"):
        edgeface.Reconstructor("onnx", model=fixture_pack, num_threads=10000)


def test_face_box_does_not_share_the_callers_array(fixture_pack):
    from edgeface.runtime.image import load_image

    image = load_image(_portrait_bytes())
    boxes = np.array([[100, 80, 300, 330]], np.float32)
    face = edgeface.Reconstructor("onnx", model=fixture_pack)(image, boxes=boxes)[0]
    kept = face.box.copy()
    boxes[0, 0] = 0
    assert np.array_equal(face.box, kept)
    with pytest.raises(edgeface.OptionError, match="at most"):
        edgeface.Reconstructor("onnx", model=fixture_pack)(image, boxes=np.tile(boxes, (4000, 1)))


# ---- 10: fill bytes are walked at C speed --------------------------------------------------


def test_jpeg_fill_bytes_cost_little():
    import time

    import hostile

    from edgeface.runtime.image import decode

    small = hostile.jpeg(np.full((32, 32, 3), 128, np.uint8))
    padded = small[:2] + b"\xff" * 20_000_000 + small[2:]
    start = time.perf_counter()
    assert decode(padded).shape == (32, 32, 3)
    assert time.perf_counter() - start < 1.5  # was 100 ns a byte: 2 s for these 20 MB


# ---- 11: the tracker's timestamps and options ----------------------------------------------


def test_tracker_refuses_timestamps_that_break_its_filters(fixture_pack):
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    tracker = rec.tracker()
    frame = np.zeros((120, 160, 3), np.uint8)
    tracker(frame, timestamp=0)
    with pytest.raises(edgeface.OptionError, match="does not follow"):
        tracker(frame, timestamp=5e-324)
    with pytest.raises(edgeface.OptionError, match="finite"):
        tracker(frame, timestamp=10**400)
    with pytest.raises(edgeface.OptionError, match="min_size"):
        rec.tracker(min_size="x")


# ---- 12: manifests with absurd numbers -----------------------------------------------------


def test_manifest_with_a_4301_digit_integer(pack_copy):
    text = (pack_copy / MANIFEST_NAME).read_text()
    (pack_copy / MANIFEST_NAME).write_text(text[:-1] + ', "x": ' + "9" * 4301 + "}")
    with pytest.raises(edgeface.ModelError, match="not valid JSON"):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_identity_metric_over_float32_is_refused(pack_copy):
    from edgeface.runtime.pack import read_manifest

    k = read_manifest(pack_copy).identity_size
    _edit_manifest(
        pack_copy,
        lambda d: d.update(identity_metric={"mean": [1e39] * k, "whitening": np.eye(k).tolist(), "fitted_on": "x"}),
    )
    with pytest.raises(edgeface.ModelError, match="identity_metric.mean.*float32"):
        read_manifest(pack_copy)


# ---- 13: backend failures at run time are ModelErrors ----------------------------------------


def test_a_backend_failure_while_running_is_a_model_error(fixture_pack, monkeypatch):
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)

    def fail(batch):
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : huge intermediate tensor")

    monkeypatch.setattr(rec.model.backend, "run", fail)
    from edgeface.runtime.image import load_image

    with pytest.raises(edgeface.ModelError, match="could not run"):
        rec(load_image(_portrait_bytes()), boxes=[[100, 80, 300, 330]])


# ---- 14: evaluate's inputs -------------------------------------------------------------------


def test_evaluate_refuses_malformed_labels_and_bad_limits(tmp_path, capsys):
    from edgeface.cli import main

    root = tmp_path / "set"
    (root / "images").mkdir(parents=True)
    (root / "labels.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert main(["evaluate", "--root", str(root), "--backend", "onnx"]) == 2
    assert "not a readable .npz" in capsys.readouterr().err
    np.savez(
        root / "labels.npz",
        names=np.array(["a.jpg"]),
        points68_2d=np.zeros((1, 5, 2), np.float32),
        roi_box=np.zeros((1, 4), np.float32),
        pose_pitch_yaw_roll_radians=np.zeros((1, 3), np.float32),
    )
    assert main(["evaluate", "--root", str(root), "--backend", "onnx"]) == 2
    assert "points68_2d must be" in capsys.readouterr().err
    np.savez(
        root / "labels.npz",
        names=np.array([], "U1"),
        points68_2d=np.zeros((0, 68, 2), np.float32),
        roi_box=np.zeros((0, 4), np.float32),
        pose_pitch_yaw_roll_radians=np.zeros((0, 3), np.float32),
    )
    assert main(["evaluate", "--root", str(root), "--backend", "onnx"]) == 2
    assert "no photos" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--root", str(root), "--limit", "-1"])
    assert exit_.value.code == 2


# ---- 15: the rest --------------------------------------------------------------------------


def test_webp_that_declares_far_more_pixels_than_it_holds():
    import hostile

    from edgeface.runtime.image import decode

    with pytest.raises(edgeface.ImageError, match="decompression bomb"):
        decode(hostile.webp_lossless_bomb())


def test_os2_bitmaps_are_refused_not_misread():
    import hostile

    from edgeface.runtime.image import decode

    with pytest.raises(edgeface.ImageError, match="OS/2"):
        decode(hostile.os2_bmp(np.zeros((20, 30, 3), np.uint8)))


def test_cli_exit_codes_and_empty_paths(tmp_path, capsys):
    from edgeface.cli import main
    from edgeface.cli.run import IMAGE_SUFFIXES

    assert main(["info", "--model", str(tmp_path / "nowhere")]) == 2
    (tmp_path / "p.jpg").write_bytes(_portrait_bytes())
    assert main(["run", str(tmp_path / "p.jpg"), "--detector", "bogus", "--out", str(tmp_path / "o")]) == 2
    assert "unknown detector" in capsys.readouterr().err
    assert main(["run", "", "--out", str(tmp_path / "o")]) == 2
    assert main(["run", str(tmp_path / "p.jpg"), "--out", ""]) == 2
    assert not (IMAGE_SUFFIXES & {".tif", ".tiff"})  # a folder never collects what load_image refuses


def test_draw_refuses_what_it_cannot_draw(fixture_pack):
    from edgeface.runtime.image import load_image

    image = load_image(_portrait_bytes())
    face = edgeface.Reconstructor("onnx", model=fixture_pack)(image)[0]
    with pytest.raises(edgeface.ImageError):
        edgeface.draw(image.astype(np.float32), [face])
    face.dense[0, 0] = np.nan
    with pytest.raises(edgeface.OptionError, match="non-finite"):
        edgeface.draw(image, [face])


def test_a_network_answering_points_far_from_its_crop_is_a_model_error(fixture_pack, monkeypatch):
    """Found by the fuzz campaign: a tampered OpenVINO weights file, rehashed, answered finite but
    absurd points, and the refine crop made from them overflowed inside the area shrink."""
    from edgeface.runtime.image import load_image

    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    run, dense = rec.model.backend.run, rec.model._output_index[0]

    def absurd(batch):
        out = run(batch)
        out[dense] = out[dense] * 1e12
        return out

    monkeypatch.setattr(rec.model.backend, "run", absurd)
    with pytest.raises(edgeface.ModelError, match="crop sizes or more"):
        rec(load_image(_portrait_bytes()), boxes=[[100, 80, 300, 330]])


def test_labelled_photo_folders_keep_their_name_lists(tmp_path):
    """Per-photo fields are checked row by row; `attribute_names` and `race_names` hold one name a
    column or code (the CelebA and UTKFace layouts), and a malformed one is refused by name."""
    from edgeface.tools.evaluate_faces import LabelledPhotos

    (tmp_path / "images").mkdir()
    names = np.array(["a.jpg", "b.jpg", "c.jpg"])
    fields = dict(
        names=names,
        attributes=np.zeros((3, 40), np.int8),
        identity=np.array([1, 1, 2]),
        split=np.array(["dev", "dev", "train"]),
    )
    np.savez(tmp_path / "labels.npz", attribute_names=np.array([f"a{k}" for k in range(40)]), **fields)
    photos = LabelledPhotos.load(tmp_path, "dev", ("attributes", "attribute_names", "identity"))
    assert len(photos) == 2 and photos.labels["attribute_names"].shape == (40,)
    np.savez(tmp_path / "labels.npz", attribute_names=np.zeros((2, 2)), **fields)
    with pytest.raises(edgeface.EdgefaceError, match="attribute_names"):
        LabelledPhotos.load(tmp_path, "dev", ("attributes", "attribute_names", "identity"))


def test_a_labels_archive_with_an_unsupported_zip_feature_is_refused(tmp_path):
    """Found by the 10,000-case fuzz run: a mutated labels.npz whose zip entry sets the 'compressed
    patched data' flag made zipfile raise NotImplementedError."""
    import io
    import zipfile

    from edgeface.tools.datasets import read_npz

    buf = io.BytesIO()
    np.savez_compressed(buf, names=np.array(["a.jpg"]))
    data = bytearray(buf.getvalue())
    for start in (0, data.find(b"PK\x01\x02")):  # the local header's and the central directory's flags
        at = start + (6 if start == 0 else 8)
        data[at] |= 0x20
    (tmp_path / "labels.npz").write_bytes(bytes(data))
    with pytest.raises(edgeface.EdgefaceError, match="not a readable .npz"):
        read_npz(tmp_path / "labels.npz")
    with pytest.raises(NotImplementedError):  # what zipfile itself says of it
        with zipfile.ZipFile(tmp_path / "labels.npz") as z:
            z.read(z.namelist()[0])
