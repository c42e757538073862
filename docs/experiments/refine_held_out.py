"""Does a second pass (refine) help end to end on real faces other than the dev set?

    python docs/experiments/refine_held_out.py [PACK]

The AFLW training crops every training stage holds out (`train.data.held_out_crops`) that carry
MERL-RAV's 68 points, through the SDK end to end (default detector, ONNX fp32), one pass and
refined: the 68-point error over the points labelled visible, normalised by the square root of
the labelled box's area, by yaw bin and balanced over the bins. MERL-RAV's definition is not the
pack's aligned one (fitted to AFLW2000-3D's annotators), so the level differs from the dev set's;
the difference between the two runs is the figure.
"""
from __future__ import annotations

import sys

import numpy as np

import edgeface
from edgeface.runtime.image import load_image
from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import LabelledPhotos
from edgeface.train.data import held_out_crops


def errors(rec, photos, points, state) -> np.ndarray:
    out = np.full(len(photos.names), np.nan)
    for i, name in enumerate(photos.names):
        found = rec(load_image(photos.root / "images" / str(name)))
        if not found:
            continue
        face = max(found, key=lambda f: f.score)
        seen = state[i] == 1
        truth = points[i][seen]
        (x1, y1), (x2, y2) = truth.min(0), truth.max(0)
        out[i] = np.linalg.norm(face.landmarks[seen, :2] - truth, axis=1).mean() / np.sqrt((x2 - x1) * (y2 - y1))
    return out


def main(pack=None) -> None:
    root = data_root() / "aflw_train"
    photos = LabelledPhotos.load(root, None, ("names", "points21", "visible", "yaw_degrees"))
    with np.load(root / "labels68.npz") as data:
        points, state, has68 = data["points68"], data["state68"], data["has68"]
    rows = held_out_crops(photos.labels)
    rows = rows[has68[rows]]
    photos = photos.subset(rows)
    yaw = np.abs(photos.labels["yaw_degrees"])
    bins = np.digitize(yaw, [30, 60])
    figures = {}
    for refine in (False, True):
        rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32", refine=refine)
        nme = errors(rec, photos, points[rows], state[rows])
        missed = np.isnan(nme)
        by_bin = [float(np.nanmean(nme[bins == b])) for b in range(3)]
        figures[refine] = nme
        print(f"refine={refine!s:5}  faces {len(nme)}, missed {int(missed.sum())}; NME by yaw 0-30/30-60/60-90 "
              f"{' / '.join(f'{100 * v:.2f}' for v in by_bin)} % (n {' / '.join(str(int((bins == b).sum())) for b in range(3))}); "
              f"balanced {100 * np.mean(by_bin):.2f} %, mean {100 * np.nanmean(nme):.2f} %")
    both = ~np.isnan(figures[False]) & ~np.isnan(figures[True])
    diff = figures[True][both] - figures[False][both]
    rng = np.random.default_rng(0)
    boot = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(2000)]
    print(f"refined minus one pass, mean over {both.sum()} faces: {100 * diff.mean():+.2f} points "
          f"(95 % bootstrap {100 * np.percentile(boot, 2.5):+.2f} to {100 * np.percentile(boot, 97.5):+.2f}); "
          f"better on {(diff < 0).mean():.0%} of faces")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
