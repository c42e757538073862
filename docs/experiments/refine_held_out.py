"""Does a second pass (refine) help end to end on real faces other than the dev set?

    python docs/experiments/refine_held_out.py [PACK]

The AFLW training crops every training stage holds out (`tools.conventions.held_out_crops`) that carry
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
from edgeface.tools.conventions import held_out_crops
from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate import nme_by_yaw, paired_difference
from edgeface.tools.evaluate_faces import LabelledPhotos


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
    bins = np.digitize(np.minimum(np.abs(photos.labels["yaw_degrees"]), 90.0), [30.0, 60.0])  # as Aflw2000.yaw_bin
    nme = {}
    for refine in (False, True):
        rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32", refine=refine)
        nme[refine] = errors(rec, photos, points[rows], state[rows])
        r = nme_by_yaw(nme[refine], bins)
        print(
            f"refine={refine!s:5}  faces {len(rows)}, missed {int(np.isnan(nme[refine]).sum())}; NME by yaw "
            f"0-30/30-60/60-90 {100 * r['nme_0_30']:.2f} / {100 * r['nme_30_60']:.2f} / {100 * r['nme_60_90']:.2f} %; "
            f"balanced {100 * r['nme_balanced']:.2f} %, mean {100 * r['nme_mean']:.2f} %"
        )
    both = ~np.isnan(nme[False]) & ~np.isnan(nme[True])
    d = paired_difference(nme[True][both], nme[False][both], bins[both])
    print(
        f"refined minus one pass, balanced, over the {both.sum()} faces both found: {100 * d['difference']:+.2f} points "
        f"(95 % paired bootstrap within yaw bins {100 * d['difference_ci95_low']:+.2f} to "
        f"{100 * d['difference_ci95_high']:+.2f})"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
