"""How small a face each detector finds in real-sized frames: dev photos placed on backgrounds.

Each scene takes one AFLW2000-3D dev photo, cuts the square around its face (twice its 68-point box),
scales it so the face's 68-point box is `face_px` wide, and pastes it at a random place in a frame
of 640x480, 1280x720 or 1920x1080 whose background is another dev photo enlarged and blurred
(real colours, no face left in it). A face counts as found when a detection's centre lies inside
its 68-point box and the detection's size is within 2x of it. Multi-face canvases put several
such faces side by side. `edgeface data detection-scenes --json OUT` prints the table.
"""

from __future__ import annotations

import cv2
import numpy as np

from .steadiness import background

FRAMES = ((640, 480), (1280, 720), (1920, 1080))
FACE_SIZES = (40, 60, 80, 100, 125, 160, 200, 300, 400)


def face_patch(photo: np.ndarray, landmarks: np.ndarray, face_px: float) -> tuple[np.ndarray, np.ndarray]:
    """The square around the face scaled so its 68-point box is `face_px` wide, and that box in it."""
    x1, y1 = landmarks[:, :2].min(0)
    x2, y2 = landmarks[:, :2].max(0)
    side = 0.5 * ((x2 - x1) + (y2 - y1))
    scale = face_px / side
    half = side  # the patch is twice the face
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    n = int(round(2 * half * scale))
    if scale < 1:  # area-shrink first so a small face is not aliased
        source, factor = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), 1.0
    else:
        source, factor = photo, scale
    affine = np.array([[factor, 0, -(cx - half) * scale], [0, factor, -(cy - half) * scale]])
    patch = cv2.warpAffine(source, affine, (n, n), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    box = np.array(
        [(x1 - cx + half) * scale, (y1 - cy + half) * scale, (x2 - cx + half) * scale, (y2 - cy + half) * scale]
    )
    return patch, box


def scene(photos, landmarks, index: int, frame_size, face_px: float, rng, faces: int = 1):
    """(frame, true 68-point boxes): `faces` dev faces of `face_px` on the blurred backdrop of another."""
    w, h = frame_size
    frame = background(photos[(index + 1) % len(photos)], frame_size).copy()
    boxes = []
    slots = np.linspace(0, w, faces + 1)
    for k in range(faces):
        patch, box = face_patch(photos[(index + k) % len(photos)], landmarks[(index + k) % len(photos)], face_px)
        n = patch.shape[0]
        lo_x, hi_x = int(slots[k]), int(slots[k + 1]) - n
        if hi_x < lo_x or n > h:  # too big for its slot: centre it, clipped
            x0 = int((slots[k] + slots[k + 1]) / 2 - n / 2)
        else:
            x0 = int(rng.integers(lo_x, hi_x + 1))
        y0 = int(rng.integers(0, h - n + 1)) if n <= h else (h - n) // 2
        sx0, sy0 = max(0, -x0), max(0, -y0)
        dx0, dy0 = max(0, x0), max(0, y0)
        dx1, dy1 = min(w, x0 + n), min(h, y0 + n)
        frame[dy0:dy1, dx0:dx1] = patch[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
        boxes.append(box + [x0, y0, x0, y0])
    return frame, np.array(boxes)


def found(detections, box) -> bool:
    side = 0.5 * ((box[2] - box[0]) + (box[3] - box[1]))
    for d in detections:
        cx, cy = 0.5 * (d.box[0] + d.box[2]), 0.5 * (d.box[1] + d.box[3])
        dside = 0.5 * ((d.box[2] - d.box[0]) + (d.box[3] - d.box[1]))
        if box[0] <= cx <= box[2] and box[1] <= cy <= box[3] and 0.5 <= dside / side <= 2.0:
            return True
    return False


def measure(detector, photos, landmarks, frames=FRAMES, sizes=FACE_SIZES, per_cell: int = 40, seed: int = 0) -> dict:
    """Detection rate by frame size and face size, and on 4-face canvases; mean time per frame."""
    import time

    from tqdm import tqdm

    out = {"name": getattr(detector, "name", str(detector)), "rate": {}, "ms": {}, "multi_face": {}}
    cells = [(f, s) for f in frames for s in sizes]
    for frame_size, face_px in tqdm(cells, desc=out["name"], leave=False):
        rng = np.random.default_rng(seed)
        hits, took = 0, 0.0
        for i in range(per_cell):
            frame, boxes = scene(photos, landmarks, i, frame_size, face_px, rng)
            t = time.perf_counter()
            dets = detector(frame)
            took += time.perf_counter() - t
            hits += found(dets, boxes[0])
        key = f"{frame_size[0]}x{frame_size[1]}"
        out["rate"].setdefault(key, {})[str(face_px)] = hits / per_cell
        out["ms"].setdefault(key, []).append(1000 * took / per_cell)
    out["ms"] = {k: float(np.mean(v)) for k, v in out["ms"].items()}
    rng = np.random.default_rng(seed)
    for face_px, frame_size in ((400, (1800, 450)), (200, (1280, 720)), (125, (1920, 1080))):
        hits = total = 0
        for i in range(per_cell // 4):
            frame, boxes = scene(photos, landmarks, 4 * i, frame_size, face_px, rng, faces=4)
            dets = detector(frame)
            hits += sum(found(dets, b) for b in boxes)
            total += len(boxes)
        out["multi_face"][f"4 faces of {face_px} px in {frame_size[0]}x{frame_size[1]}"] = hits / total
    return out


def smallest_found(result: dict, at: float = 0.95) -> dict:
    """Per frame size: the smallest face size from which every larger one is found at >= `at`."""
    out = {}
    for frame, rates in result["rate"].items():
        sizes = sorted(rates, key=float)
        ok = [s for i, s in enumerate(sizes) if all(rates[t] >= at for t in sizes[i:])]
        out[frame] = float(ok[0]) if ok else None
    return out


def table(results: list[dict]) -> str:
    lines = []
    sizes = list(next(iter(results[0]["rate"].values())))
    for frame in results[0]["rate"]:
        lines.append(f"{frame:>10s} face px " + " ".join(f"{s:>5s}" for s in sizes) + "   ms/frame")
        for r in results:
            lines.append(
                f"{r['name']:>19s} "
                + " ".join(f"{r['rate'][frame][s]:5.2f}" for s in sizes)
                + f"   {r['ms'][frame]:6.1f}"
            )
    lines.append(
        "smallest face found at 95 %: "
        + "; ".join(
            f"{r['name']} " + ", ".join(f"{k} {v if v is None else int(v)}" for k, v in smallest_found(r).items())
            for r in results
        )
    )
    for r in results:
        lines.append(f"{r['name']}: " + "; ".join(f"{k}: {v:.2f}" for k, v in r["multi_face"].items()))
    return "\n".join(lines)
