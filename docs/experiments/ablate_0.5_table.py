"""Issue 33, point 4: the paired ablations' table from their runs (docs/experiments/ablate_0.5.sh, then
this script). For each arm against `full`: AFLW2000-3D dev balanced NME from the benchmark's boxes
(the network's ICT landmark vertices, no dev-fitted stage) and, landmarks aligned in two folds on dev
(`edgeface align-landmarks --compare`), on the unseen half; CelebA dev identity EER; UTKFace dev
gender and age; each difference with its paired-bootstrap 95 % interval where the tool gives one.

    python docs/experiments/ablate_0.5_table.py [runs/ablate-0.5]
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ARMS = ("no-landmark-teacher", "no-identity-teacher", "no-attributes")


def aligned(out: Path, arm: str) -> dict:
    """Two-fold alignment of the arm's and full's packs on dev (copies: it rewrites manifests)."""
    record = out / arm / "eval" / "align.json"
    if not record.exists():
        with tempfile.TemporaryDirectory() as tmp:
            mine, full = Path(tmp) / "arm", Path(tmp) / "full"
            shutil.copytree(out / arm / "export" / "pack", mine)
            shutil.copytree(out / "full" / "export" / "pack", full)
            subprocess.run(
                [
                    "edgeface",
                    "align-landmarks",
                    "--model",
                    str(mine),
                    "--compare",
                    str(full),
                    "--backend",
                    "onnx",
                    "--json",
                    str(record),
                ],
                check=True,
                capture_output=True,
            )
    return json.loads(record.read_text())


def utkface_per_photo(pack: Path):
    """(gender right, age error) per UTKFace dev photo, by `evaluate_utkface`'s rules."""
    import numpy as np

    import edgeface
    from edgeface.tools.datasets import data_root
    from edgeface.tools.evaluate_faces import MISSED_AGE_YEARS, LabelledPhotos, run_photos

    photos = LabelledPhotos.load(data_root() / "utkface", "dev", required=("names", "age", "gender"))
    rec = edgeface.Reconstructor("onnx", model=pack, precision="fp32")
    faces = run_photos(rec, photos, False, "UTKFace")
    female_true = photos.labels["gender"].astype(int) == 1
    right = np.array([f is not None and (f.gender == "female") == t for f, t in zip(faces, female_true)])
    age = np.array([f.age if f is not None else MISSED_AGE_YEARS for f in faces])
    return right.astype(float), np.abs(age - photos.labels["age"].astype(float))


def paired_bootstrap(a, b, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """mean(a - b) and its 95 % interval over photos resampled with replacement."""
    import numpy as np

    d = np.asarray(a) - np.asarray(b)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(1)
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def read(out: Path, arm: str, name: str) -> dict:
    return json.loads((out / arm / "eval" / f"{name}.json").read_text())


def interval(d: dict, key: str, scale: float = 1.0, digits: int = 2) -> str:
    if f"{key}_ci95_low" not in d:
        return ""
    return f" [{d[f'{key}_ci95_low'] * scale:+.{digits}f}, {d[f'{key}_ci95_high'] * scale:+.{digits}f}]"


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/ablate-0.5")
    full = {name: read(out, "full", name) for name in ("aflw_boxes", "celeba", "utkface")}
    print(
        "| arm | AFLW2000-3D from boxes, ICT vertices | aligned, unseen half | CelebA EER | UTKFace gender | UTKFace age MAE |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    full_aligned = (
        aligned(out, ARMS[0])["compare"]["nme_balanced_b"]
        if (out / ARMS[0] / "eval" / "utkface.json").exists()
        else float("nan")
    )
    print(
        f"| full (0.5.0's losses) | {full['aflw_boxes']['nme_balanced']:.2%} | {full_aligned:.2%} | {full['celeba']['verification_eer']:.3f} | "
        f"{full['utkface']['gender_accuracy']:.1%} | {full['utkface']['age_mae']:.2f} y |"
    )
    full_gender, full_age = utkface_per_photo(out / "full" / "export" / "pack")
    for arm in ARMS:
        if not (out / arm / "eval" / "utkface.json").exists():
            print(f"| {arm} | not run yet | | | | |")
            continue
        a, c, u = (read(out, arm, n) for n in ("aflw_boxes", "celeba", "utkface"))
        al = aligned(out, arm)
        gender, age = utkface_per_photo(out / arm / "export" / "pack")
        g, a_ = paired_bootstrap(gender, full_gender), paired_bootstrap(age, full_age)
        print(
            f"| {arm} | {a['nme_balanced_a']:.2%} ({a['difference'] * 100:+.2f}{interval(a, 'difference', 100)}) | "
            f"{al['compare']['nme_balanced_a']:.2%} ({al['compare']['difference'] * 100:+.2f}"
            f"{interval(al['compare'], 'difference', 100)}) | "
            f"{c['verification_eer']:.3f} ({c['eer_difference']:+.3f}{interval(c, 'eer_difference', 1, 3)}) | "
            f"{u['gender_accuracy']:.1%} ({g[0] * 100:+.1f} [{g[1] * 100:+.1f}, {g[2] * 100:+.1f}]) | "
            f"{u['age_mae']:.2f} y ({a_[0]:+.2f} [{a_[1]:+.2f}, {a_[2]:+.2f}]) |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
