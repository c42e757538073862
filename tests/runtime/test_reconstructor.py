"""Reconstructor: the Face it returns, box handling, exporters, overlay, threads."""

import threading

import fixture_model
import numpy as np
import pytest

import edgeface
from edgeface.runtime.geometry import landmark_box


@pytest.fixture(scope="module")
def rec(fixture_pack):
    return edgeface.Reconstructor("auto", model=fixture_pack)


def test_face_fields(rec, face_image):
    faces = rec(face_image)
    assert len(faces) == 1
    f = faces[0]
    assert f.box.shape == (4,) and 0 < f.score <= 1
    assert f.landmarks.shape == (68, 3) and f.dense.shape == (520, 3)
    assert f.mesh.vertices is f.dense and f.mesh.triangles.shape[1] == 3 and len(f.mesh.triangles) > 900
    assert f.visibility.shape == (520,) and ((0 <= f.visibility) & (f.visibility <= 1)).all()
    assert f.identity.shape == (fixture_model.IDENTITY,)
    assert list(f.expression) == fixture_model.ARKIT
    assert set(f.attributes) == set(fixture_model.ATTRIBUTES)
    assert all(0 <= p <= 1 for p in f.attributes.values())
    assert f.pose.rotation.shape == (3, 3)
    np.testing.assert_allclose(f.pose.rotation @ f.pose.rotation.T, np.eye(3), atol=1e-5)
    # landmarks are the manifest's subset of the dense points
    np.testing.assert_array_equal(f.landmarks, f.dense[rec.manifest.landmarks68])


def test_landmarks_land_in_the_landmark_box_they_were_cropped_from(fixture_pack, face_image):
    """The fixture's landmarks span its crop rule's landmark box, up to a 1 %-of-crop wobble;
    so mapping crop coordinates back to the image must reproduce the box we passed (one pass)."""
    box = np.array([120.0, 160.0, 340.0, 380.0])
    f = edgeface.Reconstructor("auto", model=fixture_pack, refine=False).from_landmark_boxes(face_image, [box])[0]
    side = f.crop[2]
    assert side == pytest.approx(1.5 * 220.0)
    np.testing.assert_allclose(landmark_box(f.landmarks), box, atol=0.015 * side)


def test_boxes_skip_detection_and_keep_their_order(rec, face_image):
    boxes = np.array([[100, 110, 350, 370], [10, 10, 110, 110]], np.float32)
    faces = rec(face_image, boxes=boxes)
    assert [tuple(f.box) for f in faces] == [tuple(b) for b in boxes]
    assert all(f.score == 1.0 for f in faces)
    detected = rec(face_image)[0]
    again = rec(face_image, boxes=[detected.box])[0]
    np.testing.assert_allclose(again.dense, detected.dense, atol=1e-3)


@pytest.mark.parametrize(
    "boxes, message",
    [
        ([[10, 10, 5, 50]], "empty or not finite"),
        ([[0, 0, np.nan, 5]], "empty or not finite"),
        ("abc", "boxes must be"),
        (np.zeros((1, 8)), r"shape \(1, 8\)"),  # not two boxes in silence
        (np.zeros((2, 2, 4)), r"shape \(2, 2, 4\)"),
        ([[5000, 5000, 5100, 5100]], "outside the 450x450 image"),
        ([[-300, -300, -100, -100]], "outside the 450x450 image"),
        ([[0, 0, 1e6, 1e6]], "over 16 times"),
    ],
)
def test_bad_boxes_are_refused(rec, face_image, boxes, message):
    with pytest.raises(edgeface.OptionError, match=message):
        rec(face_image, boxes=boxes)
    with pytest.raises(edgeface.OptionError, match=message):
        rec.from_landmark_boxes(face_image, boxes)


def test_one_box_may_be_given_flat_and_a_big_one_costs_the_image_size(rec, face_image):
    flat = rec(face_image, boxes=[100, 100, 300, 300])
    assert len(flat) == 1
    np.testing.assert_array_equal(flat[0].dense, rec(face_image, boxes=[[100, 100, 300, 300]])[0].dense)
    assert rec(face_image, boxes=np.zeros((0, 4))) == []
    # a box 15 times the image: cropped without building the padding around the photo (a 1e6 box used to need 4.6 TiB)
    assert len(rec(face_image, boxes=[[-3000, -3000, 3700, 3700]])) == 1


@pytest.mark.parametrize(
    "option, value",
    [
        ("max_faces", -1),
        ("max_faces", 0),
        ("max_faces", 1.5),
        ("num_threads", 0),
        ("min_face_size", float("nan")),
        ("backend", None),
        ("precision", 8),
    ],
)
def test_bad_options_are_refused(fixture_pack, option, value):
    with pytest.raises(edgeface.OptionError, match=option):
        edgeface.ReconstructorOptions(**{"model": fixture_pack, option: value})
    with pytest.raises(edgeface.OptionError, match=option):
        edgeface.Reconstructor(**{"model": fixture_pack, option: value})


def test_color_names_are_case_blind_and_others_refused(rec, face_image):
    rgb = face_image[..., ::-1].copy()
    np.testing.assert_array_equal(rec(rgb, color="RGB")[0].dense, rec(rgb, color="rgb")[0].dense)
    with pytest.raises(edgeface.OptionError, match="color must be 'bgr' or 'rgb'"):
        rec(face_image, color="hsv")


def test_face_outside_the_image_is_padded_not_wrapped(rec, face_image):
    """A box hanging over the image edge crops black padding (as in training), and still maps back."""
    box = np.array([-100.0, -80.0, 120.0, 140.0])
    f = rec.from_landmark_boxes(face_image, [box])[0]
    crop = rec.pipeline.cut(face_image, [rec.pipeline.crop_for(box)])[0]
    assert (crop[:10, :10] == 0).all()
    np.testing.assert_allclose(landmark_box(f.landmarks), box, atol=0.015 * f.crop[2])


def test_refine_recrops_from_landmarks(fixture_pack, face_image):
    """Refine is the default: geometry from the second crop (made from the first pass's landmarks),
    identity and attributes (age included) the mean of both crops' answers."""
    one_pass = edgeface.Reconstructor("onnx", model=fixture_pack, refine=False)
    plain = one_pass(face_image)[0]
    refined = edgeface.Reconstructor("onnx", model=fixture_pack)(face_image)[0]
    crop = one_pass.pipeline.crop_for(landmark_box(plain.landmarks))
    assert refined.crop == pytest.approx((crop.x0, crop.y0, crop.size))
    second = one_pass.from_landmark_boxes(face_image, [landmark_box(plain.landmarks)])[0]
    assert second.crop == pytest.approx(refined.crop)
    np.testing.assert_allclose(refined.landmarks, second.landmarks, rtol=1e-5, atol=1e-3)
    assert refined.pose.yaw == pytest.approx(second.pose.yaw, abs=1e-4)
    assert refined.expression == pytest.approx(second.expression, abs=1e-5)
    np.testing.assert_allclose(refined.identity, 0.5 * (plain.identity + second.identity), rtol=1e-5, atol=1e-6)
    assert np.abs(plain.identity - second.identity).max() > 1e-5  # so the mean above is not the second alone

    def logit(p):
        return np.log(p / (1.0 - p))

    for name, p in refined.attributes.items():
        assert logit(p) == pytest.approx(
            0.5 * (logit(plain.attributes[name]) + logit(second.attributes[name])), abs=1e-3
        )


def test_max_faces_and_min_face_size(fixture_pack, face_image):
    two = np.concatenate([face_image, face_image[:, ::-1]], axis=1)
    assert len(edgeface.Reconstructor("onnx", model=fixture_pack)(two)) == 2
    assert len(edgeface.Reconstructor("onnx", model=fixture_pack, max_faces=1)(two)) == 1
    assert edgeface.Reconstructor("onnx", model=fixture_pack, min_face_size=1000)(two) == []


def test_options_object(fixture_pack, face_image):
    options = edgeface.ReconstructorOptions(backend="onnx", model=fixture_pack, max_faces=1)
    rec = edgeface.Reconstructor.create(options)
    assert rec.backend == "onnx" and len(rec(face_image)) == 1
    # every field reaches the Reconstructor (create lists none of them): all but flip_average away
    # from its default (the fixture has no mirror map to flip-average with)
    every = edgeface.ReconstructorOptions(
        backend="onnx",
        model=fixture_pack,
        precision="fp32",
        num_threads=2,
        detector="blazeface_short",
        max_faces=3,
        refine=False,
        min_face_size=20.0,
    )
    defaults = edgeface.ReconstructorOptions()
    moved = {f for f in every.__dataclass_fields__ if getattr(every, f) != getattr(defaults, f)}
    assert moved == set(every.__dataclass_fields__) - {"flip_average"}
    assert edgeface.Reconstructor.create(every).options == every


def test_obj_and_ply_round_trip(rec, face_image, tmp_path):
    f = rec(face_image)[0]
    normals = f.mesh.normals()
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    f.save_obj(tmp_path / "face.obj")
    lines = (tmp_path / "face.obj").read_text().splitlines()
    vertices = np.array([[float(v) for v in line.split()[1:]] for line in lines if line.startswith("v ")])
    vn = np.array([[float(v) for v in line.split()[1:]] for line in lines if line.startswith("vn ")])
    faces = np.array(
        [[[int(i) for i in v.split("//")] for v in line.split()[1:]] for line in lines if line.startswith("f ")]
    )
    np.testing.assert_allclose(vertices, f.dense * [1, -1, 1], atol=1e-3)
    np.testing.assert_allclose(vn, normals * [1, -1, 1], atol=1e-4)
    np.testing.assert_array_equal(faces[..., 0] - 1, f.mesh.triangles)
    np.testing.assert_array_equal(faces[..., 1], faces[..., 0])  # each vertex's own normal

    f.save_ply(tmp_path / "face.ply")
    data = (tmp_path / "face.ply").read_bytes()
    header, body = data.split(b"end_header\n", 1)
    assert b"element vertex 520" in header and f"element face {len(f.mesh.triangles)}".encode() in header
    verts = np.frombuffer(body[: 520 * 28], "<f4").reshape(520, 7)
    np.testing.assert_allclose(verts[:, :3], f.dense * [1, -1, 1], atol=1e-4)
    np.testing.assert_allclose(verts[:, 3:6], normals * [1, -1, 1], atol=1e-6)
    np.testing.assert_allclose(verts[:, 6], f.visibility, atol=1e-6)
    tris = np.frombuffer(body[520 * 28 :], dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    assert (tris["n"] == 3).all()
    np.testing.assert_array_equal(tris["idx"], f.mesh.triangles)


@pytest.mark.parametrize("suffix", ["obj", "ply"])
def test_a_common_loader_keeps_every_point_in_order_with_outward_normals(face_image, tmp_path, suffix):
    """trimesh with its default processing (which drops free vertices and merges duplicates)."""
    trimesh = pytest.importorskip("trimesh", reason="pip install 'edgeface[dev]'")
    f = edgeface.Reconstructor("auto")(face_image)[0]  # the shipped mesh on a frontal photo
    getattr(f, f"save_{suffix}")(tmp_path / f"face.{suffix}")
    mesh = trimesh.load(tmp_path / f"face.{suffix}")
    assert len(mesh.vertices) == 520
    np.testing.assert_allclose(mesh.vertices, f.dense * [1, -1, 1], atol=1e-3)
    assert mesh.is_winding_consistent
    assert (mesh.face_normals[:, 2] > 0).mean() > 0.8  # out of a face that looks at the camera


def test_json_holds_every_field(rec, face_image, tmp_path):
    import json

    f = rec(face_image)[0]
    f.save_json(tmp_path / "face.json")
    data = json.loads((tmp_path / "face.json").read_text())
    for key in ("box", "score", "landmarks", "dense", "pose", "identity", "expression", "attributes", "visibility"):
        assert key in data
    np.testing.assert_allclose(data["landmarks"], f.landmarks, atol=1e-4)
    assert data["pose"]["yaw"] == pytest.approx(f.pose.yaw)


def test_overlay_draws_on_a_copy(rec, face_image):
    f = rec(face_image)[0]
    before = face_image.copy()
    drawn = f.draw(face_image)
    assert np.array_equal(face_image, before)
    assert drawn.shape == face_image.shape and drawn.dtype == np.uint8
    x, y = np.round(f.landmarks[0, :2]).astype(int)
    assert not np.array_equal(drawn[y, x], face_image[y, x])


def test_concurrent_calls_give_the_serial_answers(rec, dev_set):
    """Thread-safety policy: one instance, several threads, calls serialised, results unchanged."""
    from edgeface.runtime.image import load_image

    images = [load_image(dev_set.image_path(i)) for i in range(6)]
    serial = [rec(img) for img in images]
    results = [None] * len(images)
    errors = []

    def work(i):
        try:
            for _ in range(3):
                results[i] = rec(images[i])
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got, want in zip(results, serial):
        assert len(got) == len(want)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.dense, b.dense, atol=1e-4)


def _mirrored_pair(rec, image, box):
    """The face in `image` at landmark box `box`, and the same face in the mirrored image."""
    w = image.shape[1]
    x1, y1, x2, y2 = box
    plain = rec.from_landmark_boxes(image, [box])[0]
    mirrored = rec.from_landmark_boxes(np.ascontiguousarray(image[:, ::-1]), [[w - 1 - x2, y1, w - 1 - x1, y2]])[0]
    return plain, mirrored


def test_flip_average_makes_the_answer_mirror_symmetric(pack_copy, face_image):
    """With flip averaging, a mirrored photo gives exactly the mirrored face (point k becomes its
    twin, x becomes width - 1 - x, yaw and roll change sign); a single pass of a network does not."""
    import json

    rng = np.random.default_rng(0)
    twins = rng.permutation(fixture_model.POINTS).reshape(-1, 2)
    mirror = np.arange(fixture_model.POINTS)
    mirror[twins[:, 0]], mirror[twins[:, 1]] = twins[:, 1], twins[:, 0]
    path = pack_copy / "edgeface.json"
    data = json.loads(path.read_text())
    data["topology"]["mirror"] = mirror.tolist()
    path.write_text(json.dumps(data))
    w = face_image.shape[1]
    box = [150.0, 140.0, 300.0, 320.0]
    gaps = {}
    for flip in (False, True):
        a, b = _mirrored_pair(edgeface.Reconstructor("onnx", model=pack_copy, flip_average=flip), face_image, box)
        expected = a.dense[mirror].copy()
        expected[:, 0] = w - 1 - expected[:, 0]
        gaps[flip] = np.abs(b.dense - expected).max()
        if flip:
            assert b.pose.yaw == pytest.approx(-a.pose.yaw, abs=1e-3)
            assert b.pose.roll == pytest.approx(-a.pose.roll, abs=1e-3)
            assert b.pose.pitch == pytest.approx(a.pose.pitch, abs=1e-3)
            assert b.expression["eyeBlink_L"] == pytest.approx(a.expression["eyeBlink_R"], abs=1e-4)
            assert b.expression["jawLeft"] == pytest.approx(a.expression["jawRight"], abs=1e-4)
    # crops of a mirrored image differ from mirrored crops only by interpolation rounding
    assert gaps[True] < 0.02 < gaps[False], gaps


def test_flip_average_needs_a_mirror_map(fixture_pack):
    with pytest.raises(edgeface.EdgefaceError, match="no mirror map"):
        edgeface.Reconstructor("onnx", model=fixture_pack, flip_average=True)


def test_second_pass_crops_from_the_ict_vertices_not_the_aligned_landmarks(fixture_pack, pack_copy, face_image):
    """Refine and tracking re-crop from the box the crop rule was trained on (the ICT landmark
    vertices); an aligned landmark definition changes the landmarks, never the next crop."""
    import json

    path = pack_copy / "edgeface.json"
    data = json.loads(path.read_text())
    far = int(np.argmax(fixture_model.template()[0][:, 1]))  # the lowest template point
    data["topology"]["landmark_weights"] = {"points": [[far]] * 68, "weights": [[1.0]] * 68}
    path.write_text(json.dumps(data))
    box = [[150.0, 140.0, 300.0, 320.0]]
    plain = edgeface.Reconstructor("onnx", model=fixture_pack, refine=True).from_landmark_boxes(face_image, box)[0]
    aligned = edgeface.Reconstructor("onnx", model=pack_copy, refine=True).from_landmark_boxes(face_image, box)[0]
    assert np.ptp(aligned.landmarks[:, :2], axis=0).max() == 0  # every landmark moved onto one point
    np.testing.assert_array_equal(aligned.dense, plain.dense)
    assert aligned.crop == plain.crop
    tracked = [edgeface.Reconstructor("onnx", model=p).tracker() for p in (fixture_pack, pack_copy)]
    frames = [[t(face_image) for _ in range(3)][-1] for t in tracked]
    assert frames[0] and frames[1] and frames[0][0].crop == frames[1][0].crop
    assert np.ptp(frames[1][0].landmarks[:, :2], axis=0).max() < 1e-3  # smoothed output keeps the definition


def test_draw_many_faces_with_a_legend_and_labels_inside_the_image(rec, face_image):
    two = np.concatenate([face_image, face_image[:, ::-1]], axis=1)
    faces = rec(two)
    assert len(faces) == 2
    plain = edgeface.draw(two, faces, legend=False, attributes=0, axes=False, dense=False)
    with_mesh = edgeface.draw(two, faces, legend=False, attributes=0, axes=False, dense=False, mesh=True)
    assert (with_mesh != plain).any(axis=2).sum() > 2000  # the wireframe adds lines over both faces
    legend = edgeface.draw(two, faces, legend=True, attributes=0, axes=False, dense=False)
    assert (legend[:80, :140] != plain[:80, :140]).any()
    # a face at the bottom edge: its labels are moved up into the image, on a dark plate
    white = np.full((520, 450, 3), 255, np.uint8)
    moved = faces[0]
    moved.box = np.array([100, 400, 350, 519], np.float32)
    drawn = edgeface.draw(white, [moved], legend=False, dense=False, axes=False, attributes=3)
    assert (drawn[440:] < 50).all(axis=2).sum() > 500  # the plates sit inside the image


def test_normalized_landmarks_and_a_short_repr(rec, face_image):
    face = rec(face_image)[0]
    h, w = face_image.shape[:2]
    norm = face.landmarks_normalized((w, h))
    np.testing.assert_allclose(norm[:, 0] * w, face.landmarks[:, 0], rtol=1e-6)
    np.testing.assert_allclose(norm[:, 1] * h, face.landmarks[:, 1], rtol=1e-6)
    assert ((norm[:, :2] > 0) & (norm[:, :2] < 1)).all()
    with pytest.raises(edgeface.OptionError, match="image_size"):
        face.landmarks_normalized((0, h))
    text = repr(face)
    assert text.startswith("Face(box=[") and "yaw=" in text and len(text) < 200
