"""Video: track faces from the previous frame's landmarks, smooth them with One-Euro filters."""

from __future__ import annotations

import math
from dataclasses import replace

import cv2
import numpy as np

from .detectors import from_landmark_box
from .errors import OptionError, shown
from .geometry import euler_to_matrix
from .image import load_image
from .pipeline import landmarks
from .results import Face, Mesh


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) on arrays of any shape.

    Low cutoff (steady) while a value moves slowly, higher cutoff (responsive) as it speeds up:
    cutoff = min_cutoff + beta * |speed|. Units: Hz for cutoffs, value units per second for speed.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0):
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff, dt):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        """Filter `x` at time `t` (seconds); a time not after the previous one restarts the filter.
        `scale` divides the speed that opens the cutoff (speed in scales per second), not x."""
        if not math.isfinite(t):
            raise OptionError(f"the filter's time must be a finite number of seconds, not {t!r}")
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._dx is None or self._t is None or t <= self._t:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.astype(np.float32)
        dt = t - self._t
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx) / scale, dt)
        self._x = a * x + (1 - a) * self._x
        self._t = t
        return self._x.astype(np.float32)


#: Frames closer in time than this (seconds) are refused: a filter's speed over a shorter step is
#: not a number (0 then 5e-324 s gave NaN landmarks for every later frame)
MIN_STEP = 1e-6

#: Past this offset (fraction of the crop side; or this log size ratio) the face has moved too far
#: for its crop: crop it again in the same frame, and restart its smoothing (a cut or a jump).
REFRAME = 0.12
#: Below this offset the next frame keeps the crop it has: the network then sees the same pixels on a
#: still face and gives the same answer, where re-cropping from its own output wanders by ~1 px.
HYSTERESIS = 0.03
#: At most this many extra passes settle a new track's crop (two, on the dev photos, in most cases).
SETTLE_PASSES = 3


def crop_offset(a, b) -> float:
    """How far crop b is from crop a: the larger of the centre shift (in a's sides) and |log size ratio|."""
    shift = max(abs((b.x0 + b.size / 2) - (a.x0 + a.size / 2)), abs((b.y0 + b.size / 2) - (a.y0 + a.size / 2)))
    return max(shift / a.size, abs(math.log(b.size / a.size)))


class _Track:
    def __init__(self, track_id: int, face: Face, crop, min_cutoff: float, beta: float):
        self.id, self.face, self.crop = track_id, face, crop
        self.min_cutoff, self.beta = min_cutoff, beta
        self.restart()

    def restart(self) -> None:
        self.filters = {
            k: OneEuroFilter(self.min_cutoff, self.beta) for k in ("size", "dense", "angles", "translation", "scale")
        }

    def smooth(self, face: Face, t: float, size: float, manifest) -> Face:
        # Image coordinates are filtered as they are; only the speed that opens the filter is
        # measured in face sizes (one beta for near and far faces), and that size is itself filtered.
        size = float(self.filters["size"](np.array([size]), t, scale=size)[0])
        dense = self.filters["dense"](face.dense, t, scale=size)
        angles = self.filters["angles"](np.array([face.pose.pitch, face.pose.yaw, face.pose.roll]), t, scale=30.0)
        translation = self.filters["translation"](face.pose.translation, t, scale=size)
        scale = float(self.filters["scale"](np.array([face.pose.scale]), t, scale=face.pose.scale)[0])
        pitch, yaw, roll = (float(a) for a in angles)
        pose = replace(
            face.pose,
            pitch=pitch,
            yaw=yaw,
            roll=roll,
            translation=translation,
            scale=scale,
            rotation=euler_to_matrix(*np.radians([pitch, yaw, roll])),
        )
        return replace(
            face,
            dense=dense,
            landmarks=landmarks(manifest, dense, yaw),
            mesh=Mesh(dense, face.mesh.triangles),
            pose=pose,
        )


class Tracker:
    """Faces across video frames: detect once, then follow each face from its last landmarks.
    The video-mode driver of the reconstructor's `Pipeline` (image mode is `Reconstructor` itself).

    The detector runs on the first frame, when a track is lost, and every `detect_every` frames
    while fewer than `max_faces` faces are tracked (to pick up faces that enter; None follows every
    face found). A track is lost
    when its landmarks leave the frame, collapse, or jump in size by more than 2x between frames,
    or when, every `verify_every` frames, the detector finds no face inside the track's crop
    (a network that always returns a face cannot say by itself that the face has gone; this
    check runs the detector on the small crop only, not on the frame).
    Each track keeps its crop while the face stays within `HYSTERESIS` of it, so a still face gives
    the same answer frame after frame; a face that moved past `REFRAME` (a jump, a cut) is cropped
    again in the same frame and its smoothing restarts, so it does not lag.
    Smoothing is a One-Euro filter per track on dense points, landmarks, angles and translation,
    in image coordinates; `smoothing=False` returns the raw per-frame results. `reset()` forgets
    every track (call it at a cut); a frame of another size than the last resets them too (another
    video, or a rotated camera). Frames are timed by `timestamp` (seconds, finite and increasing)
    when given, else by `fps`. Each face's `box` is where it is now: the detector box on the frames
    it was detected on, else the detector-style box of its current landmarks; its `track_id` stays
    the same while it is followed.
    """

    def __init__(
        self,
        reconstructor,
        max_faces: int | None = 1,
        smoothing: bool = True,
        fps: float = 30.0,
        min_cutoff: float = 1.0,
        beta: float = 4.0,
        detect_every: int = 30,
        verify_every: int = 10,
        min_size: float = 16.0,
    ):
        checked = [("detect_every", detect_every, 1), ("verify_every", verify_every, 0)]
        if max_faces is not None:
            checked.append(("max_faces", max_faces, 1))
        for name, value, low in checked:
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise OptionError(f"{name} must be a whole number >= {low}, not {value!r}")
        for name, number in (("fps", fps), ("min_cutoff", min_cutoff)):
            if not isinstance(number, (int, float)) or not 0 < number < math.inf:
                raise OptionError(f"{name} must be a finite number > 0, not {number!r}")
        if not isinstance(beta, (int, float)) or not 0 <= beta < math.inf:
            raise OptionError(f"beta must be a finite number >= 0, not {beta!r}")
        if isinstance(min_size, bool) or not isinstance(min_size, (int, float)) or not 0 <= min_size < math.inf:
            raise OptionError(f"min_size must be a finite number of pixels >= 0, not {shown(min_size)}")
        self.rec = reconstructor
        self.pipeline = reconstructor.pipeline
        self.max_faces, self.smoothing, self.fps = max_faces, smoothing, float(fps)
        self._cap = math.inf if max_faces is None else max_faces
        self.min_cutoff, self.beta = min_cutoff, beta
        self.detect_every, self.verify_every, self.min_size = detect_every, verify_every, min_size
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._frame = 0
        self._last_time: float | None = None
        self._frame_size: tuple[int, int] | None = None
        self.detector_runs = 0  # on whole frames
        self.verifications = 0  # on track crops
        self.reframes = 0  # faces cropped twice in one frame because they had moved too far

    def __call__(self, frame, timestamp: float | None = None, color: str = "bgr") -> list[Face]:
        image = load_image(frame, color)
        t = self._time(timestamp)
        h, w = image.shape[:2]
        if self._frame_size not in (None, (w, h)):
            self._tracks = []  # the old landmarks mean nothing in a frame of another size
        self._frame_size = (w, h)
        pipe = self.pipeline
        with pipe.lock:
            survivors = []
            if self._tracks:
                faces, jumped = self._follow(image, self._tracks)
                verify = self.verify_every and self._frame % self.verify_every == 0
                calibration = pipe.detector.to_landmarks
                for track, face, jump in zip(self._tracks, faces, jumped):
                    face.box = from_landmark_box(pipe.face_box(face), calibration)
                    if self._still_there(track.face, face, w, h) and (not verify or self._face_in(image, track.crop)):
                        if jump:
                            track.restart()
                        survivors.append((track, face))
            need_detection = not survivors or (len(survivors) < self._cap and self._frame % self.detect_every == 0)
            if need_detection:
                self.detector_runs += 1
                survivors += self._detect_new(image, [f for _, f in survivors])
            self._tracks, out = [], []
            for track, face in survivors[: self.max_faces]:
                x1, y1, x2, y2 = pipe.face_box(face)
                size = float((x2 - x1) + (y2 - y1)) / 2 or 1.0
                face.track_id = track.id
                shown = track.smooth(face, t, size, pipe.manifest) if self.smoothing else face
                track.face = face  # track from the raw result: smoothing lags, tracking must not
                self._tracks.append(track)
                out.append(shown)
        self._frame += 1
        self._last_time = t
        return out

    def _follow(self, image, tracks: list[_Track]) -> tuple[list[Face], list[bool]]:
        """Each track's face in this frame, from its kept crop; faces that moved past REFRAME are
        cropped again from where they are now. Updates each track's crop for the next frame."""
        pipe = self.pipeline
        faces = pipe.run_crops(
            image, [tr.crop for tr in tracks], [tr.face.box for tr in tracks], [tr.face.score for tr in tracks]
        )
        targets = [pipe.crop_for_face(f) for f in faces]
        far = [i for i, tr in enumerate(tracks) if crop_offset(tr.crop, targets[i]) > REFRAME]
        if far:
            self.reframes += len(far)
            again = pipe.run_crops(
                image, [targets[i] for i in far], [tracks[i].face.box for i in far], [tracks[i].face.score for i in far]
            )
            for i, face in zip(far, again):
                tracks[i].crop, faces[i] = targets[i], face
                targets[i] = pipe.crop_for_face(face)
        for track, target in zip(tracks, targets):
            if crop_offset(track.crop, target) > HYSTERESIS:
                track.crop = target
        return faces, [i in far for i in range(len(tracks))]

    def _time(self, timestamp) -> float:
        if timestamp is None:
            t = self._frame / self.fps
            # after timestamped frames, untimed ones continue one frame period later
            return t if self._last_time is None or t > self._last_time else self._last_time + 1.0 / self.fps
        try:
            seconds = float(timestamp)
        except (OverflowError, TypeError, ValueError):
            seconds = math.nan
        if (
            isinstance(timestamp, bool)
            or not isinstance(timestamp, (int, float, np.integer, np.floating))
            or not math.isfinite(seconds)
        ):
            raise OptionError(f"timestamp must be a finite number of seconds, not {shown(timestamp)}")
        if self._last_time is not None and seconds < self._last_time + MIN_STEP:
            raise OptionError(
                f"timestamp {seconds} s does not follow the previous frame's {self._last_time} s by at "
                f"least {MIN_STEP} s: timestamps must increase (call reset() to start another video)"
            )
        return seconds

    def _detect_new(self, image, tracked: list[Face]) -> list[tuple[_Track, Face]]:
        """New tracks for detected faces not yet tracked, each cropped twice: from its detector box,
        then from its own landmarks (the crop the following frames keep)."""
        pipe = self.pipeline
        found = pipe.detect(image)
        fresh = [d for d in found if not any(_overlaps(d.box, pipe.face_box(f)) for f in tracked)]
        fresh = fresh if self.max_faces is None else fresh[: max(0, self.max_faces - len(tracked))]
        if not fresh:
            return []
        boxes, scores = [d.box for d in fresh], [d.score for d in fresh]
        crops = [pipe.crop_for(pipe.detector.to_landmark_box(d.box)) for d in fresh]
        faces = pipe.run_crops(image, crops, boxes, scores)
        for _ in range(SETTLE_PASSES):
            # the crop a still face will keep: crop again from the landmarks until within HYSTERESIS
            targets = [pipe.crop_for_face(f) for f in faces]
            moving = [i for i in range(len(fresh)) if crop_offset(crops[i], targets[i]) > HYSTERESIS]
            if not moving:
                break
            for i, face in zip(
                moving,
                pipe.run_crops(
                    image, [targets[i] for i in moving], [boxes[i] for i in moving], [scores[i] for i in moving]
                ),
            ):
                crops[i], faces[i] = targets[i], face
        out = []
        for crop, face in zip(crops, faces):
            out.append((_Track(self._next_id, face, crop, self.min_cutoff, self.beta), face))
            self._next_id += 1
        return out

    def _face_in(self, image: np.ndarray, crop) -> bool:
        """Does the detector see a face near the centre of this crop?"""
        self.verifications += 1
        size = self.pipeline.detector.size
        patch = cv2.warpAffine(image, crop.affine(size), (size, size), flags=cv2.INTER_LINEAR)
        return any(
            0.25 * size < 0.5 * (d.box[0] + d.box[2]) < 0.75 * size
            and 0.25 * size < 0.5 * (d.box[1] + d.box[3]) < 0.75 * size
            for d in self.pipeline.detector(patch)
        )

    def _still_there(self, before: Face, now: Face, w: int, h: int) -> bool:
        box = self.pipeline.face_box(now)
        side = max(box[2] - box[0], box[3] - box[1])
        old = self.pipeline.face_box(before)
        old_side = max(old[2] - old[0], old[3] - old[1])
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        inside = 0 <= cx < w and 0 <= cy < h
        return bool(inside and side >= self.min_size and 0.5 <= side / max(old_side, 1e-6) <= 2.0)


def _overlaps(a, b) -> bool:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy > 0.3 * min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
