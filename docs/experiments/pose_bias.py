"""Issue 33: is the head pose's regression (0.4.3 5.8 deg -> 0.5.0 6.2 deg MAE) a constant bias? The
signed error of each angle on AFLW2000-3D dev (our own network on our dev set, crops from the
benchmark's boxes, two passes as `edgeface evaluate` runs, ONNX fp32), for any number of packs.

    python docs/experiments/pose_bias.py PACK [PACK ...]
"""

import sys

import numpy as np

import edgeface
from edgeface.tools.datasets import Aflw2000, data_root
from edgeface.tools.evaluate import aflw2000_angles


def signed_errors(pack: str, dataset) -> np.ndarray:
    rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32")
    errors = np.full((len(dataset), 3), np.nan)
    for i in range(len(dataset)):
        faces = rec(str(dataset.image_path(i)), boxes=[dataset.roi_box[i]])
        if faces:
            errors[i] = aflw2000_angles(faces[0].pose.rotation) - np.degrees(dataset.pitch_yaw_roll[i])
    return errors


def main() -> int:
    dataset = Aflw2000.load(data_root() / "aflw2000_dev")
    for pack in sys.argv[1:]:
        e = signed_errors(pack, dataset)
        frontal = np.abs(np.degrees(dataset.pitch_yaw_roll[:, 1])) < 30
        print(pack)
        for j, angle in enumerate(("pitch", "yaw", "roll")):
            print(
                f"  {angle:5s} mean signed {np.nanmean(e[:, j]):+.2f} deg (|yaw| < 30: {np.nanmean(e[frontal, j]):+.2f}), "
                f"median {np.nanmedian(e[:, j]):+.2f}, MAE {np.nanmean(np.abs(e[:, j])):.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
