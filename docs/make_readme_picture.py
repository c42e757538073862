"""Make README's picture: the packaged real photo with its faces drawn, and the dense mesh of its
face, side by side (docs/images/astronaut.jpg).

    python docs/make_readme_picture.py
"""

from pathlib import Path

import cv2
import numpy as np

import edgeface


def main() -> Path:
    image = edgeface.sample_image()
    faces = edgeface.Reconstructor("onnx", precision="fp32")(image)
    overlay = edgeface.draw(image, faces, attributes=3)
    face = faces[0]
    x1, y1, x2, y2 = face.box
    side = 1.6 * max(x2 - x1, y2 - y1)
    cx, cy = 0.5 * (x1 + x2), 0.5 * (y1 + y2)
    m = np.float32([[512 / side, 0, 256 - cx * 512 / side], [0, 512 / side, 256 - cy * 512 / side]])
    crop = cv2.warpAffine(image, m, (512, 512), flags=cv2.INTER_LINEAR)
    mesh = (0.35 * crop).astype(np.uint8)
    points = face.mesh.vertices[:, :2] @ m[:, :2].T + m[:, 2]
    tri = np.round(points).astype(np.int32)[face.mesh.triangles]
    cv2.polylines(mesh, list(tri), True, (200, 230, 255), 1, cv2.LINE_AA)
    for x, y in face.landmarks[:, :2] @ m[:, :2].T + m[:, 2]:
        cv2.circle(mesh, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1, cv2.LINE_AA)
    out = Path(__file__).parent / "images" / "astronaut.jpg"
    out.parent.mkdir(exist_ok=True)
    cv2.imwrite(str(out), np.concatenate([overlay, mesh], 1), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return out


if __name__ == "__main__":
    print(main())
