"""Behaviour check for refactors: the default pack's outputs on the AFLW2000-3D dev photos, to the bit.

    python benchmarks/output_identity.py write before.npz     # on the old tree
    python benchmarks/output_identity.py write after.npz      # on the new one
    python benchmarks/output_identity.py compare before.npz after.npz

Only the public API is used (`edgeface.Reconstructor`, `Tracker`), so the same script runs on both
sides of a move. Every array of every face is stored: detected (the default cascade), from caller
boxes, flip-averaged, refined, and a tracked sequence, on each installed backend's fp32 and int8 file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np


def _face_arrays(prefix: str, faces) -> dict[str, np.ndarray]:
    out = {f"{prefix}/count": np.array(len(faces))}
    for k, f in enumerate(faces):
        p = f"{prefix}/{k}"
        out.update(
            {
                f"{p}/box": f.box,
                f"{p}/score": np.float32(f.score),
                f"{p}/landmarks": f.landmarks,
                f"{p}/dense": f.dense,
                f"{p}/identity": f.identity,
                f"{p}/visibility": f.visibility,
                f"{p}/rotation": f.pose.rotation,
                f"{p}/translation": f.pose.translation,
                f"{p}/angles": np.array([f.pose.yaw, f.pose.pitch, f.pose.roll, f.pose.scale]),
                f"{p}/expression": np.array(list(f.expression.values())),
                f"{p}/attributes": np.array(list(f.attributes.values())),
                f"{p}/age_crop": np.array([-1.0 if f.age is None else f.age, *f.crop]),
                f"{p}/triangles": f.mesh.triangles,
            }
        )
    return out


def write(path: Path, root: Path, limit: int) -> None:
    import edgeface

    labels = np.load(root / "labels.npz")
    names, boxes = labels["names"][:limit], labels["roi_box"][:limit]
    images = [cv2.imread(str(root / "images" / str(n))) for n in names]
    arrays: dict[str, np.ndarray] = {}
    for backend, precision in (("onnx", "fp32"), ("onnx", "int8"), ("tflite", "int8"), ("openvino", "fp32")):
        try:
            plain = edgeface.Reconstructor(backend, precision=precision)
        except edgeface.EdgefaceError as error:
            print(f"{backend} {precision}: skipped ({error})", file=sys.stderr)
            continue
        tag = f"{backend}-{precision}"
        flipped = edgeface.Reconstructor(backend, precision=precision, flip_average=True, refine=True)
        for i, image in enumerate(images):
            arrays.update(_face_arrays(f"{tag}/detected/{i}", plain(image)))
            arrays.update(_face_arrays(f"{tag}/boxes/{i}", plain(image, boxes=boxes[i])))
            arrays.update(_face_arrays(f"{tag}/landmark_boxes/{i}", plain.from_landmark_boxes(image, boxes[i])))
            if i % 10 == 0:
                arrays.update(_face_arrays(f"{tag}/flip_refine/{i}", flipped(image)))
        tracker = plain.tracker(max_faces=None)
        for step in range(60):  # a slow pan over one photo, then a cut to others
            image = images[0] if step < 40 else images[step % len(images)]
            shift = (
                np.float32([[1, 0, step * 0.7], [0, 1, step * 0.3]])
                if step < 40
                else np.float32([[1, 0, 0], [0, 1, 0]])
            )
            frame = cv2.warpAffine(image, shift, (image.shape[1], image.shape[0]))
            arrays.update(_face_arrays(f"{tag}/tracked/{step}", tracker(frame)))
        print(f"{tag}: {len(images)} photos", file=sys.stderr)
    np.savez_compressed(path, **arrays)
    print(f"{len(arrays)} arrays written to {path}")


def compare(a_path: Path, b_path: Path) -> int:
    a, b = np.load(a_path), np.load(b_path)
    missing = sorted(set(a.files) ^ set(b.files))
    differing = [
        k
        for k in a.files
        if k in b.files and (a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes())
    ]
    for k in (missing + differing)[:20]:
        print(f"differs: {k}")
    print(
        f"{len(a.files)} arrays in {a_path.name}, {len(b.files)} in {b_path.name}: {len(missing)} present in "
        f"one only, {len(differing)} differ in bits"
    )
    return 1 if missing or differing else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write")
    w.add_argument("out", type=Path)
    w.add_argument("--root", type=Path, default=None, help="AFLW2000-3D folder (default: $EDGEFACE_DATA/aflw2000_dev)")
    w.add_argument("--limit", type=int, default=500)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    if args.command == "compare":
        return compare(args.a, args.b)
    root = args.root or (
        Path(os.environ["EDGEFACE_DATA"]) / "aflw2000_dev" if os.environ.get("EDGEFACE_DATA") else None
    )
    if root is None or not (root / "labels.npz").exists():
        parser.error("no AFLW2000-3D folder: pass --root DIR or set EDGEFACE_DATA")
    write(args.out, root, args.limit)
    return 0


if __name__ == "__main__":
    sys.exit(main())
