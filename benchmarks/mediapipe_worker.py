"""MediaPipe's side of benchmarks/end_to_end.py, run by the Python of an environment that has
`mediapipe==0.10.14` (its protobuf and OpenCV pins clash with edgeface's, so it lives apart).

    <mediapipe env>/bin/python benchmarks/mediapipe_worker.py PHOTO [PHOTO ...]

Reads and decodes the photos before any timing, then answers one JSON line per command read from
stdin: `photos` times FaceMesh in static-image mode (BlazeFace and the mesh every call) once per
photo; `frames N` times N calls in video mode (tracking) on the first photo repeated. It inherits
the driver's CPU affinity, so both sides run on the same core.
"""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    import cv2
    import mediapipe as mp

    photos = [cv2.imread(path, cv2.IMREAD_COLOR) for path in sys.argv[1:]]
    if not photos or any(p is None for p in photos):
        print(json.dumps({"error": "a photo could not be read"}), flush=True)
        return 2
    rgb = [p[..., ::-1].copy() for p in photos]
    mesh = mp.solutions.face_mesh
    static = mesh.FaceMesh(static_image_mode=True, max_num_faces=1)
    video = mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
    for image in rgb[:3]:  # warm up both graphs
        static.process(image)
        video.process(image)
    from pathlib import Path

    network = Path(mp.__file__).parent / "modules" / "face_landmark" / "face_landmark.tflite"
    print(
        json.dumps(
            {
                "ready": mp.__version__,
                "opencv": cv2.__version__,
                "face_landmark": str(network) if network.exists() else None,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "photos":
            times, found = [], 0
            for image in rgb:
                start = time.perf_counter()
                result = static.process(image)
                times.append((time.perf_counter() - start) * 1e3)
                found += bool(result.multi_face_landmarks)
            print(json.dumps({"ms": times, "found": found}), flush=True)
        elif words[0] == "frames":
            times = []
            for _ in range(int(words[1])):
                start = time.perf_counter()
                video.process(rgb[0])
                times.append((time.perf_counter() - start) * 1e3)
            print(json.dumps({"ms": times}), flush=True)
        elif words[0] == "quit":
            break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
