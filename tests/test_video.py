"""Video mode: One-Euro smoothing and tracking from the previous frame's landmarks."""
import numpy as np
import pytest

import edgeface
from edgeface.video import OneEuroFilter


def test_one_euro_passes_constant_and_first_values():
    f = OneEuroFilter()
    for i in range(10):
        assert f(np.array([3.0, -1.0]), i / 30) == pytest.approx([3.0, -1.0])


def test_one_euro_reduces_jitter_and_follows_motion():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    noise = rng.normal(0, 1.0, 300)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    smoothed = np.array([f(np.array([n]), ti)[0] for n, ti in zip(noise, t)])
    assert smoothed[30:].std() < 0.5 * noise[30:].std()
    # a ramp is followed with a bounded lag once beta lets the cutoff rise with speed
    f = OneEuroFilter(min_cutoff=1.0, beta=1.0)
    ramp = 100 * t
    out = np.array([f(np.array([r]), ti)[0] for r, ti in zip(ramp, t)])
    assert abs(out[-1] - ramp[-1]) < 5.0
    f.reset()
    assert f(np.array([7.0]), 0.0)[0] == pytest.approx(7.0)


def _frames(face_image, n=12, step=4):
    """A face sliding right across a larger canvas, then an empty frame."""
    frames = []
    for i in range(n):
        canvas = np.zeros((520, 700, 3), np.uint8)
        x = 40 + i * step
        canvas[35:485, x:x + 450] = face_image[:, : min(450, 700 - x)]
        frames.append(canvas)
    return frames


def test_tracker_detects_once_then_tracks(fixture_pack, face_image):
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    tracker = rec.tracker(smoothing=False, detect_every=1000)
    results = [tracker(frame) for frame in _frames(face_image)]
    assert all(len(r) == 1 for r in results)
    assert tracker.detector_runs == 1
    xs = [r[0].landmarks[:, 0].mean() for r in results]
    assert xs[-1] > xs[0]  # the track moves with the face

    tracker.reset()
    tracker(_frames(face_image)[0])
    assert tracker.detector_runs == 1


def test_tracker_drops_a_face_that_leaves_and_detects_again(fixture_pack, face_image):
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    tracker = rec.tracker(smoothing=False, detect_every=1000, verify_every=3)
    frame = _frames(face_image)[0]
    assert len(tracker(frame)) == 1
    empty = np.zeros_like(frame)
    results = [tracker(empty) for _ in range(4)]
    assert results[-1] == []  # the crop check noticed within verify_every frames
    assert tracker.verifications >= 1
    runs = tracker.detector_runs
    assert len(tracker(frame)) == 1  # no track left: the detector runs on the frame and finds it
    assert tracker.detector_runs == runs + 1


def test_smoothing_steadies_a_jittering_face(fixture_pack, face_image):
    rng = np.random.default_rng(0)
    rec = edgeface.Reconstructor("onnx", model=fixture_pack)
    frames = []
    for _ in range(20):
        canvas = np.zeros((520, 700, 3), np.uint8)
        dx, dy = rng.integers(-3, 4, 2)
        canvas[35 + dy:485 + dy, 120 + dx:570 + dx] = face_image
        frames.append(canvas)
    raw = [rec.tracker(smoothing=False)(f)[0].landmarks for f in frames]
    tracker = rec.tracker(smoothing=True, min_cutoff=0.5, beta=0.0)
    smooth = [tracker(f)[0].landmarks for f in frames]
    jitter_raw = np.std([r.mean(0) for r in raw[5:]], axis=0)[:2].sum()
    jitter_smooth = np.std([s.mean(0) for s in smooth[5:]], axis=0)[:2].sum()
    assert jitter_smooth < 0.6 * jitter_raw
