"""Issue 33: does 3DDFA_V2's head pose, read in edgeface's convention (`teachers.pose_from_params`),
sit in the same frame as edgeface's exact synthetic poses? The landmark teacher on synthetic faces
(a training seed, never the held-out one; occluders off) against each face's exact pose: the signed
difference of each angle and the mean rotation between the two frames.

    EDGEFACE_DATA=... python docs/experiments/teacher_pose_frame.py [--count 300]
"""

import argparse

import numpy as np

from edgeface.runtime.geometry import euler_to_matrix, landmark_box, matrix_to_euler
from edgeface.train.morphable import MorphableModel
from edgeface.train.synthetic import SyntheticConfig, SyntheticFaces
from edgeface.train.teachers import LandmarkTeacher


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=33)
    args = parser.parse_args()
    engine = SyntheticFaces(MorphableModel.load(), SyntheticConfig(size=240, occluders=0.0, degrade=False), args.seed)
    teacher = LandmarkTeacher()
    truth, taught, relative = [], [], []
    for i in range(args.count):
        s = engine.sample(i)
        points, pose = teacher(s["image"], landmark_box(s["landmarks68"]))
        truth.append(s["pose"])
        taught.append(pose)
        # the rotation taking the exact frame to the teacher's, in the exact frame
        relative.append(euler_to_matrix(*s["pose"]).T @ euler_to_matrix(*pose))
    truth, taught = np.degrees(np.array(truth)), np.degrees(np.array(taught))
    d = taught - truth
    frontal = np.abs(truth[:, 1]) < 30
    for j, name in enumerate(("pitch", "yaw", "roll")):
        print(
            f"{name:5s} teacher - exact: mean {d[:, j].mean():+.2f} deg, median {np.median(d[:, j]):+.2f}, "
            f"MAE {np.abs(d[:, j]).mean():.2f}; |yaw| < 30: median {np.median(d[frontal, j]):+.2f}, "
            f"MAE {np.abs(d[frontal, j]).mean():.2f}; the exact angle's spread {truth[:, j].std():.1f}"
        )
    wrong = np.abs(d).max(1) > 20
    print(
        f"faces with an angle off by over 20 deg: {wrong.sum()} of {args.count}; their exact poses (median |angle|):",
        np.round(np.median(np.abs(truth[wrong]), 0), 1).tolist() if wrong.any() else "none",
    )
    geodesic = np.degrees(np.arccos(np.clip((np.trace(np.array(relative), axis1=1, axis2=2) - 1) / 2, -1, 1)))
    print(
        f"rotation between the two (geodesic), deg: median {np.median(geodesic):.2f}, mean {geodesic.mean():.2f}; "
        f"the faces above: median {np.median(geodesic[wrong]) if wrong.any() else float('nan'):.2f}"
    )
    mean = np.mean(relative, axis=0)
    u, _, vt = np.linalg.svd(mean)
    print(
        "mean relative rotation as (pitch, yaw, roll) deg:",
        np.round(np.degrees(matrix_to_euler(u @ vt)), 2).tolist(),
        f"over {args.count} faces",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
