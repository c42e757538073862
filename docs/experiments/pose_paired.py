"""Issue 33: the head pose of two packs on AFLW2000-3D dev, paired. Crops from the benchmark's boxes,
two passes, ONNX fp32: exactly `edgeface evaluate aflw2000`'s pose figure (`pose_mae_deg`), per angle
and overall, with the paired-bootstrap 95 % interval of B minus A over the same images.

    python docs/experiments/pose_paired.py PACK_A PACK_B
"""

import sys

import numpy as np

import edgeface
from edgeface.tools.datasets import Aflw2000, data_root
from edgeface.tools.evaluate import landmark_errors, predict_faces


def pose_errors(pack: str, dataset) -> np.ndarray:
    rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32")
    return landmark_errors(predict_faces(rec, dataset, progress=False), dataset)[1]


def main() -> None:
    a_pack, b_pack = sys.argv[1:3]
    dataset = Aflw2000.load(data_root() / "aflw2000_dev")
    a, b = pose_errors(a_pack, dataset), pose_errors(b_pack, dataset)
    both = ~(np.isnan(a).any(1) | np.isnan(b).any(1))
    a, b = a[both], b[both]
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(a), (2000, len(a)))
    print(f"{len(a)} images; A {a_pack}; B {b_pack}")
    for name, column in (("pitch", 0), ("yaw", 1), ("roll", 2), ("mean", slice(None))):
        ea, eb = a[:, column], b[:, column]
        diff = (eb - ea).reshape(len(a), -1).mean(1)
        boot = diff[draws].mean(1)
        low, high = np.percentile(boot, [2.5, 97.5])
        print(
            f"  {name:5s} MAE {ea.mean():.2f} -> {eb.mean():.2f} deg, B - A {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]"
        )


if __name__ == "__main__":
    main()
