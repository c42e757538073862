"""Experiment (docs/experiments.md, "What the branches cost, and where age and gender go wrong"):
UTKFace age and gender of the shipped pack end to end (ONNX fp32, two passes) on the training and
dev photos: whether age is compressed (a linear recalibration fitted on train, scored on dev), the
error by true age, and whether the identity coefficients add to gender (logistic regression on
train, scored on dev).

    python docs/experiments/age_gender_errors.py [PACK]
"""

import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

from edgeface import Reconstructor
from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import LabelledPhotos, run_photos


def answers(rec, split):
    photos = LabelledPhotos.load(data_root() / "utkface", split, ("names", "age", "gender"))
    faces = run_photos(rec, photos, what=split)
    rows = [i for i, f in enumerate(faces) if f is not None]
    male = np.clip([faces[i].attributes["Male"] for i in rows], 1e-6, 1 - 1e-6)
    return {
        "age": np.array([faces[i].age for i in rows]),
        "logit": np.log(male / (1 - male)),
        "identity": np.stack([faces[i].identity for i in rows]),
        "true_age": photos.labels["age"][rows],
        "is_male": photos.labels["gender"][rows] == 0,
    }


def main():
    rec = Reconstructor("onnx", precision="fp32", **({"model": sys.argv[1]} if len(sys.argv) > 1 else {}))
    train, dev = answers(rec, "train"), answers(rec, "dev")
    for name, s in (("train", train), ("dev", dev)):
        print(
            f"{name}: age MAE {np.abs(s['age'] - s['true_age']).mean():.2f}, "
            f"gender {((s['logit'] >= 0) == s['is_male']).mean():.3f}"
        )
    slope, offset = np.polyfit(train["age"], train["true_age"], 1)
    print(
        f"age recalibrated on train ({offset:.2f} + {slope:.3f} x): dev MAE "
        f"{np.abs(offset + slope * dev['age'] - dev['true_age']).mean():.2f}"
    )
    for low, high in ((0, 10), (10, 20), (20, 30), (30, 45), (45, 60), (60, 200)):
        band = (dev["true_age"] >= low) & (dev["true_age"] < high)
        error = dev["age"][band] - dev["true_age"][band]
        print(
            f"dev, true age {low}-{high} ({band.sum()} photos): age MAE {np.abs(error).mean():.1f}, "
            f"bias {error.mean():+.1f}; gender {((dev['logit'][band] >= 0) == dev['is_male'][band]).mean():.3f}"
        )
    for name, features in (
        ("Male logit", lambda s: s["logit"][:, None]),
        ("Male logit and identity coefficients", lambda s: np.concatenate([s["logit"][:, None], s["identity"]], 1)),
    ):
        clf = LogisticRegression(max_iter=2000).fit(features(train), train["is_male"])
        print(f"gender from the {name}: dev {clf.score(features(dev), dev['is_male']):.3f}")


if __name__ == "__main__":
    main()
