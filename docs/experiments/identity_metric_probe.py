"""Experiment (docs/experiments.md, "Comparing faces by a whitened embedding"): CelebA-dev
verification of linear maps of the identity coefficients fitted on CelebA train, the pack run end to
end (ONNX fp32, two passes). Run from the repository root:

    python docs/experiments/identity_metric_probe.py [PACK]

The dev figures are a probe; the shipped metric's ridge is chosen on train alone
(`export/identity_metric.py`).
"""

import sys

import numpy as np
from scipy.linalg import eigh

from edgeface import Reconstructor
from edgeface.export.identity_metric import within_person_whitening
from edgeface.runtime.pipeline import embed
from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import LabelledPhotos, run_photos, vector_verification


def faces_of(rec, split, every_photo: bool):
    """Identity coefficients, people and nuisance features (pose, expression) of the split's photos:
    with `every_photo`, a missed face as zeros, so that the pairs are the ones `evaluate` draws."""
    photos = LabelledPhotos.load(data_root() / "celeba", split, ("names", "identity"))
    faces = run_photos(rec, photos, what=split)
    rows = [i for i, f in enumerate(faces) if f is not None or every_photo]
    identity = np.array([faces[i].identity if faces[i] is not None else np.zeros(40) for i in rows], np.float64)
    nuisance = np.array(
        [
            [*np.radians([f.pose.pitch, f.pose.yaw, f.pose.roll]), *f.expression.values()]
            if f is not None
            else np.zeros(56)
            for f in (faces[i] for i in rows)
        ]
    )
    nuisance = np.concatenate(
        [nuisance[:, :3], np.abs(nuisance[:, :3]), nuisance[:, :3] ** 2, nuisance[:, 3:], np.ones((len(rows), 1))], 1
    )
    return identity, photos.labels["identity"][rows], nuisance


def scored(e, person):
    return "EER {:.3f}, ROC AUC {:.3f}".format(*vector_verification(e, person))


def main():
    rec = Reconstructor("onnx", precision="fp32", **({"model": sys.argv[1]} if len(sys.argv) > 1 else {}))
    (x, ids, z), (dev, dev_ids, dev_z) = faces_of(rec, "train", False), faces_of(rec, "dev", True)
    mu = x.mean(0)
    print(
        f"train: the mean's norm {np.linalg.norm(mu):.2f}, a face's norm on average {np.linalg.norm(x, axis=1).mean():.2f}"
    )
    print("plain coefficients:", scored(dev, dev_ids))
    print("centred:", scored(dev - mu, dev_ids))
    print("standardised:", scored((dev - mu) / x.std(0), dev_ids))
    for ridge in (0.0, 0.1, 0.3, 1.0):
        print(f"whitened, ridge {ridge}:", scored(embed(dev, *within_person_whitening(x, ids, ridge)), dev_ids))
    mean, whitening = within_person_whitening(x, ids, 0.0)
    within = np.linalg.inv(whitening @ whitening)
    _, vectors = eigh(np.cov((x - mean).T), within)
    for dims in (10, 20, 30):
        print(f"LDA, {dims} dimensions:", scored((dev - mean) @ vectors[:, ::-1][:, :dims], dev_ids))
    regression = np.linalg.lstsq(z, x, rcond=None)[0]
    print(
        "pose and expression regressed out, whitened (ridge 0.1):",
        scored(embed(dev - dev_z @ regression, *within_person_whitening(x - z @ regression, ids, 0.1)), dev_ids),
    )
    # the different-person pairs are a random draw: how much do the figures move with it?
    shipped = embed(dev, *within_person_whitening(x, ids, 0.01))
    draws = np.array(
        [[*vector_verification(dev, dev_ids, seed), *vector_verification(shipped, dev_ids, seed)] for seed in range(10)]
    )
    print(
        "10 pair draws, plain then whitened (ridge 0.01), EER and AUC: mean",
        draws.mean(0).round(3),
        "sd",
        draws.std(0).round(3),
    )
    print(
        "  whitened minus plain, EER:",
        (draws[:, 2] - draws[:, 0]).round(3),
        "AUC:",
        (draws[:, 3] - draws[:, 1]).round(3),
    )


if __name__ == "__main__":
    main()
