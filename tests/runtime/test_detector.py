"""The shipped detectors: they find real faces where they are, and nothing in empty images."""

import numpy as np
import pytest

from edgeface.runtime import detectors
from edgeface.runtime.errors import DetectorError
from edgeface.runtime.geometry import landmark_box
from edgeface.runtime.image import load_image
from edgeface.tools.evaluate import evaluate_detector

#: Lower bounds on 20 dev images, below the rates measured on all 500 (README, "Face detection").
MIN_HITS = {"blazeface_short": 19, "blazeface_back": 19, "blazeface_full": 16, "cascade": 19}


@pytest.mark.parametrize("name", list(detectors.DETECTORS))
def test_finds_dev_faces(name, dev_set):
    det = detectors.create(name)
    hits = 0
    for i in range(0, len(dev_set), 25):  # 20 images across all poses
        found = det(load_image(dev_set.image_path(i)))
        truth = landmark_box(dev_set.points68[i])
        centre = 0.5 * (truth[:2] + truth[2:])
        hits += any(d.box[0] < centre[0] < d.box[2] and d.box[1] < centre[1] < d.box[3] for d in found)
    assert hits >= MIN_HITS[name]


@pytest.mark.parametrize("name", list(detectors.DETECTORS))
def test_nothing_in_blank_or_noise(name):
    det = detectors.create(name)
    assert det(np.zeros((300, 400, 3), np.uint8)) == []
    assert det(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)) == []


def test_boxes_follow_the_face_through_padding(dev_set):
    """Letterboxing is undone exactly: the same face at two places of a 1024-pixel canvas, moved by
    multiples of 8 pixels (the canvas-to-input ratio, so the detector samples it identically), gets
    boxes and keypoints moved by exactly that much. (A real photo: the synthetic portrait's face
    fills its frame, so at the first place its edge meets the network's zero padding.)"""
    face_image = load_image(dev_set.image_path(0))
    det = detectors.create(detectors.SINGLE)

    def place(x, y):
        canvas = np.zeros((1024, 1024, 3), np.uint8)
        canvas[y : y + 450, x : x + 450] = face_image
        return det(canvas)[0]

    a, b = place(64, 64), place(64 + 256, 64 + 128)
    np.testing.assert_allclose(b.box - a.box, [256, 128, 256, 128], atol=0.5)
    np.testing.assert_allclose(b.keypoints - a.keypoints, np.broadcast_to([256, 128], a.keypoints.shape), atol=1.0)


def test_calibration_maps_detector_box_near_the_landmark_box(dev_set):
    det = detectors.create("auto")
    errors = []
    for i in range(0, 100, 5):
        found = det(load_image(dev_set.image_path(i)))
        if not found:
            continue
        estimate = detectors.to_landmark_box(found[0].box, det.to_landmarks)
        truth = landmark_box(dev_set.points68[i])
        errors.append(np.abs(estimate - truth).max() / (truth[2] - truth[0]))
    assert np.median(errors) < 0.15


def test_unknown_detector():
    with pytest.raises(DetectorError, match="unknown detector"):
        detectors.create("haar")


def test_evaluation_reports_rates_per_yaw_bin(dev_set):
    small = dev_set.subset(slice(0, 40))
    result = evaluate_detector(small, "auto", progress=False)
    assert result["n_images"] == 40
    assert result["detected_fraction"] >= 0.95
    assert sum(result[k] for k in ("n_0_30", "n_30_60", "n_60_90")) == 40
    assert result["latency_ms_median"] > 0


@pytest.mark.parametrize("name", list(detectors.DETECTORS))
def test_opencv_runner_finds_what_litert_finds(name, dev_set, installed_backends):
    """Without LiteRT (edgeface[onnx] or [openvino] alone) the detector runs on OpenCV's TFLite
    importer, whichever engine this OpenCV has; it must find the same faces."""
    if "tflite" not in installed_backends:
        pytest.skip("the comparison needs LiteRT (edgeface[tflite])")
    litert, opencv = detectors.create(name, runner="tflite"), detectors.create(name, runner="opencv")
    for i in range(0, len(dev_set), 100):
        image = load_image(dev_set.image_path(i))
        a, b = litert(image), opencv(image)
        assert len(a) == len(b)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.box, y.box, atol=1.0)
            assert abs(x.score - y.score) < 1e-3


def test_the_default_finds_small_faces_in_large_frames(dev_set):
    """Dev faces placed on real-coloured backdrops (edgeface.tools.detection_scenes): by default, a 125 px
    and a 60 px face in 1080p, and four faces side by side in a row of photos."""
    from edgeface.tools import detection_scenes as scenes

    det = detectors.create("auto")
    photos = [load_image(dev_set.image_path(i)) for i in range(8)]
    landmarks = [dev_set.points68[i] for i in range(8)]
    rng = np.random.default_rng(0)
    for face_px in (125, 60):
        hits = sum(
            scenes.found(det(f), b[0])
            for f, b in (scenes.scene(photos, landmarks, i, (1920, 1080), face_px, rng) for i in range(8))
        )
        assert hits >= 7, face_px
    frame, boxes = scenes.scene(photos, landmarks, 0, (1800, 450), 400, rng, faces=4)
    assert sum(scenes.found(det(frame), b) for b in boxes) >= 3


def test_the_default_costs_one_pass_on_a_photo_with_a_face(face_image):
    det = detectors.create("auto")
    calls = []
    first = det.first
    det.first = lambda image: calls.append("first") or first(image)
    det.second = lambda image: calls.append("second") or []
    assert det(face_image) and calls == ["first"]


def test_a_large_frame_costs_one_pass_when_the_caller_keeps_the_faces_found(face_image):
    """`Reconstructor(max_faces=1)` on a 1080p frame: the short-range model found the one face kept,
    so neither the back model nor its tiles run; asked for more, or for larger faces, they do."""
    import edgeface

    frame = np.full((1080, 1920, 3), 128, np.uint8)
    frame[:450, :450] = face_image
    rec = edgeface.Reconstructor(max_faces=1)
    det = rec.pipeline.detector
    calls = []

    class Counted:
        def __init__(self, model, name):
            self.model, self.name = model, name

        def __call__(self, image):
            calls.append(self.name)
            return self.model(image)

        def __getattr__(self, attribute):
            return getattr(self.model, attribute)

    det.first, det.second = Counted(det.first, "first"), Counted(det.second, "second")
    assert len(rec(frame)) == 1 and calls == ["first"]
    calls.clear()
    assert det(frame, enough=2) and calls[0] == "first" and calls.count("second") > 1
    calls.clear()
    assert det(frame, enough=1, min_size=1000) is not None and "second" in calls
