"""Issue 33: the head pose of two packs on AFLW2000-3D dev, paired. Crops from the benchmark's boxes,
two passes, ONNX fp32: `edgeface evaluate aflw2000`'s pose figures per image, with the
paired-bootstrap 95 % interval of B minus A over the same images:
- `pose_mae_deg`: per angle and overall, every label, the angles as written;
- `pose_mae_deg_within_99`: the angles wrapped to +-180 degrees, on the labels within +-99 degrees;
- `pose_rotation_error_deg`: the angle of the rotation between prediction and label (no Euler convention).

    python docs/experiments/pose_paired.py PACK_A PACK_B
"""

import sys

import numpy as np

import edgeface
from edgeface.tools.datasets import Aflw2000, data_root
from edgeface.tools.evaluate import landmark_errors, pose_errors, predict_faces


def errors(pack: str, dataset) -> dict:
    rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32")
    faces = predict_faces(rec, dataset, progress=False)
    return {"euler": landmark_errors(faces, dataset)[1], **pose_errors(faces, dataset)}


def paired(name: str, ea: np.ndarray, eb: np.ndarray, draws: np.ndarray) -> None:
    diff = eb - ea
    low, high = np.percentile(diff[draws].mean(1), [2.5, 97.5])
    print(f"  {name:22s} {ea.mean():.2f} -> {eb.mean():.2f} deg, B - A {diff.mean():+.2f} [{low:+.2f}, {high:+.2f}]")


def main() -> None:
    a_pack, b_pack = sys.argv[1:3]
    dataset = Aflw2000.load(data_root() / "aflw2000_dev")
    a, b = errors(a_pack, dataset), errors(b_pack, dataset)
    rng = np.random.default_rng(0)
    n = len(dataset)
    draws = rng.integers(0, n, (2000, n))
    print(f"{n} images; A {a_pack}; B {b_pack}")
    for name, column in (("pitch", 0), ("yaw", 1), ("roll", 2), ("mean", slice(None))):
        paired(f"pose_mae_deg {name}", *(x["euler"][:, column].reshape(n, -1).mean(1) for x in (a, b)), draws)
    inside = np.flatnonzero(a["within"])
    paired(
        f"within_99 ({len(inside)})",
        a["wrapped"][inside].mean(1),
        b["wrapped"][inside].mean(1),
        rng.integers(0, len(inside), (2000, len(inside))),
    )
    paired("rotation_error", a["rotation"], b["rotation"], draws)


if __name__ == "__main__":
    main()
