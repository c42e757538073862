"""How steady video tracking is, on videos synthesised from one real photo.

A photo is placed on a background made from itself (enlarged and blurred until no face is left
in it), and three clips are made from it:
- static: the same frame repeated, at a grid of positions; jitter is the standard deviation of
  each landmark over the frames (px, mean over landmarks), which an ideal tracker keeps at 0;
- step: still at one place, then the photo jumps; lag is the number of frames after the jump until
  the landmarks stay within `settle_px` of where they come to rest;
- pan: the photo glides at constant speed; error is the mean landmark distance to per-frame
  reconstruction of each frame (the price of smoothing).
Per-frame reconstruction here crops twice, the second time from its own landmarks (`per_frame`),
as the tracker does.
`edgeface benchmark --video` prints the table; the figures go in README, not here.
"""

from __future__ import annotations

import cv2
import numpy as np


def background(photo: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (h, w, 3) backdrop with the photo's colours and no face: enlarged, then blurred away."""
    w, h = size
    big = cv2.resize(photo, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(big, (0, 0), sigmaX=max(w, h) / 40)


def place(photo: np.ndarray, backdrop: np.ndarray, centre: tuple[float, float], scale: float = 1.0) -> np.ndarray:
    """The frame with `photo` scaled by `scale` and centred at `centre` (sub-pixel, bilinear)."""
    ph, pw = photo.shape[:2]
    cx, cy = centre
    affine = np.array([[scale, 0, cx - scale * (pw - 1) / 2], [0, scale, cy - scale * (ph - 1) / 2]], np.float64)
    h, w = backdrop.shape[:2]
    pasted = cv2.warpAffine(photo, affine, (w, h), flags=cv2.INTER_LINEAR)
    mask = cv2.warpAffine(np.full((ph, pw), 255, np.uint8), affine, (w, h), flags=cv2.INTER_LINEAR)
    a = (mask.astype(np.float32) / 255.0)[..., None]
    return (a * pasted + (1 - a) * backdrop).round().astype(np.uint8)


def _landmarks(faces) -> np.ndarray | None:
    return faces[0].landmarks[:, :2].astype(np.float64) if faces else None


def per_frame(rec, frame) -> np.ndarray | None:
    """Landmarks of a frame on its own, by the tracker's crop rule: detect, then crop again from
    the first answer's landmarks (what `refine` does), so tracking is compared like for like."""
    faces = rec(frame)
    if faces and not rec.options.refine:
        faces = rec.from_landmark_boxes(frame, [rec.pipeline.face_box(faces[0])])
    return _landmarks(faces)


def static_jitter(
    rec, photo, frame_size=(1280, 720), grid=(3, 3), frames: int = 60, noise: float = 0.0, **tracker_options
) -> list[dict]:
    """Per grid position: jitter (px) over `frames` frames of a still face, and frames without a
    face. noise > 0 adds fresh Gaussian noise of that many grey levels to each frame (a camera's)."""
    w, h = frame_size
    backdrop = background(photo, frame_size)
    margin = 0.5 * min(photo.shape[:2]) * 0.8
    rng = np.random.default_rng(0)
    out = []
    for gy in np.linspace(margin, h - margin, grid[1]):
        for gx in np.linspace(margin, w - margin, grid[0]):
            frame = place(photo, backdrop, (gx, gy))
            tracker = rec.tracker(**tracker_options)
            points = []
            for _ in range(frames):
                shown = (
                    frame if not noise else np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
                )
                points.append(_landmarks(tracker(shown)))
            found = [p for p in points if p is not None]
            jitter = float(np.std(np.stack(found), axis=0).mean()) if len(found) > 1 else float("nan")
            out.append({"x": float(gx), "y": float(gy), "jitter_px": jitter, "missed": frames - len(found)})
    return out


def step_lag(
    rec,
    photo,
    frame_size=(1280, 720),
    jump=(240.0, 80.0),
    before: int = 20,
    after: int = 20,
    settle_px: float = 1.0,
    **tracker_options,
) -> dict:
    """Frames after a jump until the tracked landmarks stay within `settle_px` of where they end up
    (`after` frames later), and how far that end is from per-frame reconstruction."""
    w, h = frame_size
    backdrop = background(photo, frame_size)
    a = (w / 2 - jump[0] / 2, h / 2 - jump[1] / 2)
    b = (a[0] + jump[0], a[1] + jump[1])
    fa, fb = place(photo, backdrop, a), place(photo, backdrop, b)
    tracker = rec.tracker(**tracker_options)
    for _ in range(before):
        tracker(fa)
    points = [_landmarks(tracker(fb)) for _ in range(after)]
    settled = points[-1]
    errors = [float("inf") if p is None else float(np.linalg.norm(p - settled, axis=1).mean()) for p in points]
    lag = next((i for i in range(after) if all(e <= settle_px for e in errors[i:])), after)
    return {
        "lag_frames": lag,
        "error_px_by_frame": errors[:6],
        "settle_px": settle_px,
        "settled_vs_per_frame_px": float(np.linalg.norm(settled - per_frame(rec, fb), axis=1).mean()),
    }


def pan_error(rec, photo, frame_size=(1280, 720), speed_px: float = 8.0, frames: int = 60, **tracker_options) -> dict:
    """Mean landmark distance (px) between tracking and per-frame reconstruction on a steady pan."""
    w, h = frame_size
    backdrop = background(photo, frame_size)
    start = w / 2 - speed_px * frames / 2
    tracker = rec.tracker(**tracker_options)
    errors, sizes = [], []
    for i in range(frames):
        frame = place(photo, backdrop, (start + speed_px * i, h / 2))
        tracked, single = _landmarks(tracker(frame)), per_frame(rec, frame)
        if tracked is not None and single is not None:
            errors.append(float(np.linalg.norm(tracked - single, axis=1).mean()))
            sizes.append(float(np.ptp(single, axis=0).mean()))
    return {
        "speed_px_per_frame": speed_px,
        "face_px": float(np.mean(sizes)) if sizes else float("nan"),
        "mean_error_px": float(np.mean(errors[5:])) if len(errors) > 5 else float("nan"),
        "frames_compared": len(errors),
    }


def report(rec, photo, **tracker_options) -> dict:
    static = static_jitter(rec, photo, **tracker_options)
    noisy = static_jitter(rec, photo, noise=2.0, **tracker_options)
    return {
        "static": static,
        "max_static_jitter_px": max(s["jitter_px"] for s in static),
        "static_noisy": noisy,
        "max_static_noisy_jitter_px": max(s["jitter_px"] for s in noisy),
        "step": step_lag(rec, photo, **tracker_options),
        "pan": pan_error(rec, photo, **tracker_options),
    }


def table(result: dict) -> str:
    lines = [
        "still face, 1280x720: landmark jitter (px) by face position: identical frames | camera noise 2 grey levels"
    ]
    for s, n in zip(result["static"], result["static_noisy"]):
        missed = s["missed"] + n["missed"]
        lines.append(
            f"  ({s['x']:6.0f}, {s['y']:5.0f})  {s['jitter_px']:7.3f} px | {n['jitter_px']:7.3f} px"
            + (f"  {missed} frames missed" if missed else "")
        )
    st, pan = result["step"], result["pan"]
    lines.append(
        f"step move: settles within {st['settle_px']} px after {st['lag_frames']} frames "
        f"(error by frame: {', '.join(f'{e:.1f}' for e in st['error_px_by_frame'])} px; settled "
        f"{st['settled_vs_per_frame_px']:.1f} px from per-frame)"
    )
    lines.append(
        f"pan at {pan['speed_px_per_frame']} px/frame, a {pan['face_px']:.0f} px face: "
        f"{pan['mean_error_px']:.2f} px from per-frame reconstruction"
    )
    return "\n".join(lines)
