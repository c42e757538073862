"""How far the hand labels of the AFLW training crops sit from AFLW2000-3D's convention, as the
3DDFA_V2 teacher places it (its cached answers, recipe stage `teachers`): balanced by |yaw| bin,
normalised as the benchmark normalises (sqrt of the teacher's 68-point box area), by face region.

    python docs/experiments/label_conventions.py [--cache .shards/teachers/aflw.npz]
"""

import argparse

import numpy as np

from edgeface.tools.datasets import data_root

#: AFLW-21 point -> the 68 points (Multi-PIE order, image-left first) it stands for
AFLW21_TO_68 = {
    0: [17],
    1: [19],
    2: [21],
    3: [22],
    4: [24],
    5: [26],
    6: [36],
    7: list(range(36, 42)),
    8: [39],
    9: [42],
    10: list(range(42, 48)),
    11: [45],
    13: [31],
    14: [30],
    15: [35],
    17: [48],
    18: [62, 66],
    19: [54],
    20: [8],
}
REGIONS68 = {
    "jaw": range(0, 17),
    "brows": range(17, 27),
    "nose": range(27, 36),
    "eyes": range(36, 48),
    "mouth": range(48, 68),
}
BINS = ((0, 30), (30, 60), (60, 91))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=".shards/teachers/aflw.npz")
    args = parser.parse_args(argv)
    root = data_root() / "aflw_train"
    teacher = np.load(args.cache)["landmarks68"]
    labels, merl = np.load(root / "labels.npz"), np.load(root / "labels68.npz")
    taught = np.isfinite(teacher).all((1, 2))
    yaw = np.abs(labels["yaw_degrees"])
    box = np.concatenate([teacher.min(1), teacher.max(1)], 1)
    norm = np.sqrt((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]))
    # MERL-RAV: visible points only (state 1)
    d68 = np.linalg.norm(merl["points68"] - teacher, axis=-1) / norm[:, None]
    visible68 = (merl["state68"] == 1) & np.isfinite(d68) & merl["has68"][:, None] & taught[:, None]
    # AFLW-21: annotated points
    p21 = labels["points21"]
    seen21 = labels["visible"] & (p21 >= 0).all(-1) & taught[:, None]
    d21 = np.full(p21.shape[:2], np.nan)
    for k, idx in AFLW21_TO_68.items():
        d21[:, k] = np.linalg.norm(p21[:, k] - teacher[:, idx].mean(1), axis=-1) / norm
    result = {}
    for name, dist, seen, groups in (
        ("MERL-RAV 68", d68, visible68, REGIONS68),
        ("AFLW-21", d21, seen21, {"all": list(AFLW21_TO_68)}),
    ):
        rows = {}
        for lo, hi in BINS:
            r = (yaw >= lo) & (yaw < hi)
            cells = {"all": float(np.nanmean(np.where(seen[r], dist[r], np.nan)))}
            for region, idx in groups.items():
                idx = list(idx)
                cells[region] = float(np.nanmean(np.where(seen[r][:, idx], dist[r][:, idx], np.nan)))
            rows[f"{lo}-{min(hi, 90)}"] = cells
        result[name] = rows
        print(name)
        for b, cells in rows.items():
            print(f"  |yaw| {b}: " + ", ".join(f"{k} {100 * v:.2f} %" for k, v in cells.items()))
    return result


if __name__ == "__main__":
    main()
