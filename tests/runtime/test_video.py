"""Video mode: One-Euro smoothing and tracking from the previous frame's landmarks."""

import numpy as np
import pytest

import edgeface
from edgeface.runtime.video import OneEuroFilter


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
        canvas[35:485, x : x + 450] = face_image[:, : min(450, 700 - x)]
        frames.append(canvas)
    return frames


def test_tracker_detects_once_then_tracks(face_image):
    rec = edgeface.Reconstructor("auto")  # a network that follows faces: the fixture's does not
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
        canvas[35 + dy : 485 + dy, 120 + dx : 570 + dx] = face_image
        frames.append(canvas)
    raw = [rec.tracker(smoothing=False)(f)[0].landmarks for f in frames]
    tracker = rec.tracker(smoothing=True, min_cutoff=0.5, beta=0.0)
    smooth = [tracker(f)[0].landmarks for f in frames]
    jitter_raw = np.std([r.mean(0) for r in raw[5:]], axis=0)[:2].sum()
    jitter_smooth = np.std([s.mean(0) for s in smooth[5:]], axis=0)[:2].sum()
    assert jitter_smooth < 0.6 * jitter_raw


# --- boxes follow the face; time and frame size are checked (issue 18) ---


def test_box_follows_the_face_as_it_moves(face_image):
    """The face slides 380 px; the tracked box moves with it, and on the last frame lies where the
    detector itself finds the face, to within 10 % of the box side."""
    rec = edgeface.Reconstructor("auto")
    tracker = rec.tracker(smoothing=False, detect_every=1000, verify_every=0)
    frames = []
    for i in range(20):
        canvas = np.zeros((520, 900, 3), np.uint8)
        x = 20 + 20 * i
        canvas[35:485, x : x + 450] = face_image
        frames.append(canvas)
    results = [tracker(frame) for frame in frames]
    assert all(len(r) == 1 for r in results) and tracker.detector_runs == 1
    first, last = results[0][0].box, results[-1][0].box
    side = first[2] - first[0]
    assert abs((last[0] - first[0]) - 380) < 0.1 * side
    detected = rec(frames[-1])[0].box
    np.testing.assert_allclose(last, detected, atol=0.1 * side)


@pytest.mark.parametrize(
    "timestamps, message",
    [
        ([0.0, float("nan")], "finite"),
        ([0.0, float("inf")], "finite"),
        ([0.0, 0.1, 0.1], "must increase"),
        ([0.0, 0.2, 0.1], "must increase"),
        ([0.0, "0.1"], "finite number"),
    ],
)
def test_bad_timestamps_are_refused(fixture_pack, face_image, timestamps, message):
    tracker = edgeface.Reconstructor("onnx", model=fixture_pack).tracker()
    frame = _frames(face_image, n=1)[0]
    for t in timestamps[:-1]:
        tracker(frame, timestamp=t)
    with pytest.raises(edgeface.OptionError, match=message):
        tracker(frame, timestamp=timestamps[-1])
    # the tracker is still usable, and its output finite
    faces = tracker(frame, timestamp=10.0)
    assert all(np.isfinite(f.dense).all() and np.isfinite(f.pose.yaw) for f in faces)


@pytest.mark.parametrize(
    "option, value",
    [
        ("fps", 0),
        ("fps", -30),
        ("fps", float("nan")),
        ("max_faces", 0),
        ("detect_every", 0),
        ("beta", -1.0),
        ("min_cutoff", 0.0),
    ],
)
def test_bad_tracker_options_are_refused(fixture_pack, option, value):
    with pytest.raises(edgeface.OptionError, match=option):
        edgeface.Reconstructor("onnx", model=fixture_pack).tracker(**{option: value})


def test_a_frame_of_another_size_resets_the_tracks(fixture_pack, face_image):
    """Jumping to a 4000x4000 frame: the face is found where it is in the new frame, not followed
    from where it was in the old one."""
    rec = edgeface.Reconstructor("auto")
    tracker = rec.tracker(smoothing=False, detect_every=1000, verify_every=0)
    tracker(_frames(face_image, n=1)[0])
    big = np.zeros((4000, 4000, 3), np.uint8)
    big[2400:3750, 2500:3850] = np.repeat(np.repeat(face_image, 3, 0), 3, 1)
    runs = tracker.detector_runs
    faces = tracker(big)
    assert tracker.detector_runs == runs + 1
    assert len(faces) == 1
    centre = faces[0].landmarks[:, :2].mean(0)
    assert 2500 < centre[0] < 3850 and 2400 < centre[1] < 3750


# --- steady tracking (issue 21), on the shipped model and synthesised clips of a real photo ---


@pytest.fixture(scope="module")
def shipped():
    return edgeface.Reconstructor("auto")


def test_a_still_face_gives_the_same_landmarks_every_frame_anywhere_in_the_frame(shipped, face_image):
    from edgeface.tools import steadiness

    for position in steadiness.static_jitter(shipped, face_image, grid=(3, 2), frames=15):
        assert position["missed"] == 0
        assert position["jitter_px"] <= 0.3, position


def test_camera_noise_on_a_still_face_stays_under_a_third_of_a_pixel(shipped, face_image):
    from edgeface.tools import steadiness

    noisy = steadiness.static_jitter(shipped, face_image, grid=(2, 1), frames=30, noise=2.0)
    raw = steadiness.static_jitter(shipped, face_image, grid=(2, 1), frames=30, noise=2.0, smoothing=False)
    for smoothed, unsmoothed in zip(noisy, raw):
        assert smoothed["jitter_px"] <= 0.3
        assert smoothed["jitter_px"] < unsmoothed["jitter_px"]  # the filter, not only the kept crop, steadies it


def test_a_jump_is_followed_within_two_frames_with_the_same_track_id(shipped, face_image):
    from edgeface.tools import steadiness

    step = steadiness.step_lag(shipped, face_image, after=10)
    assert step["lag_frames"] <= 2, step
    backdrop = steadiness.background(face_image, (1280, 720))
    tracker = shipped.tracker()
    ids = [f.track_id for i in range(6) for f in tracker(steadiness.place(face_image, backdrop, (500 + 30 * i, 360)))]
    assert len(ids) == 6 and len(set(ids)) == 1 and ids[0] is not None


def test_a_pan_is_followed_closely(shipped, face_image):
    from edgeface.tools import steadiness

    pan = steadiness.pan_error(shipped, face_image, speed_px=8.0, frames=20)
    assert pan["frames_compared"] == 20
    # 240 px a second at 30 fps: smoothing may trail by a few percent of the face, not more
    assert pan["mean_error_px"] < 0.04 * pan["face_px"]
