"""Write a gallery: each photo with its reconstruction drawn on it (mesh, points, pose axes, attributes).

    python examples/gallery.py --out gallery.png                 # the synthetic portraits beside this script
    python examples/gallery.py --out mine.png photo1.jpg photo2.jpg

README's picture is made by the first line: edgeface's own synthetic portraits (rendered from
ICT-FaceKit, MIT), because the dev photos are research-only and are not committed.
"""

import argparse
from pathlib import Path

import cv2
import numpy as np

import edgeface

HERE = Path(__file__).resolve().parent


def tile(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = side / max(h, w)
    small = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    out = np.full((side, side, 3), 255, np.uint8)
    y, x = (side - small.shape[0]) // 2, (side - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("images", nargs="*", help="photos (default: examples/portraits/*.jpg)")
    parser.add_argument("--out", default="gallery.png")
    parser.add_argument("--side", type=int, default=360, help="pixels per tile")
    args = parser.parse_args()
    paths = [Path(p) for p in args.images] or sorted((HERE / "portraits").glob("*.jpg"))
    rec = edgeface.Reconstructor("auto")
    tiles = []
    for path in paths:
        image = edgeface.load_image(path)
        faces = rec(image)
        for face in faces:
            print(f"{path.name}: {face!r}")
        drawn = edgeface.draw(image, faces, mesh=True, dense=False, attributes=2, legend=False)
        tiles.append(tile(np.concatenate([image, drawn], axis=1), 2 * args.side)[args.side // 2 : -args.side // 2])
    gallery = np.concatenate(tiles, axis=0) if tiles else np.zeros((1, 1, 3), np.uint8)
    if not cv2.imwrite(args.out, gallery):
        raise SystemExit(f"cannot write {args.out}")
    print(f"{len(paths)} photos -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
