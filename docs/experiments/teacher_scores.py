"""Issue 33: what the cached teachers themselves score on the training photos they taught (never a
dev photo: the caches hold none). Reads the `teachers` stage's caches and the sets' labels.

    python docs/experiments/teacher_scores.py [CACHE_DIR]   (default: .shards/teachers)
"""

import sys
from pathlib import Path

import numpy as np

from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import vector_verification


def main() -> None:
    cache = Path(sys.argv[1] if len(sys.argv) > 1 else ".shards/teachers")
    root = data_root()
    utk, utk_labels = np.load(cache / "utkface.npz"), np.load(root / "utkface" / "labels.npz", allow_pickle=True)
    assert (utk["names"] == utk_labels["names"]).all()
    train = (utk_labels["split"] == "train") & np.isfinite(utk["female"])
    female = utk_labels["gender"] == 1  # UTKFace: 0 male, 1 female
    print(f"UTKFace train ({train.sum()} photos), Cydral's networks:")
    print(f"  gender accuracy {((utk['female'] >= 0.5) == female)[train].mean():.4f}")
    print(f"  age MAE {np.abs(utk['age'] - utk_labels['age'])[train].mean():.2f} years")
    for r, name in enumerate(utk_labels["race_names"]):
        m = train & (utk_labels["race"] == r)
        print(f"    {name}: {m.sum()} photos, gender {((utk['female'] >= 0.5) == female)[m].mean():.4f}")

    celeba, labels = np.load(cache / "celeba.npz"), np.load(root / "celeba" / "labels.npz", allow_pickle=True)
    assert (celeba["names"] == labels["names"]).all()
    train = labels["split"] == "train"
    male = labels["attributes"][:, list(labels["attribute_names"]).index("Male")] > 0
    print(f"CelebA train ({train.sum()} photos):")
    print(f"  Cydral's gender accuracy {((celeba['female'] < 0.5) == male)[train].mean():.4f}")
    eer, auc = vector_verification(celeba["descriptor"][train], labels["identity"][train])
    print(f"  dlib's descriptor, verification EER {eer:.3f}, ROC AUC {auc:.3f}")


if __name__ == "__main__":
    main()
