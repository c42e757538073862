"""The INT8 accuracy gate: each INT8 file of a pack measured against its fp32 parent on AFLW2000-3D
dev from its boxes, on held-out synthetic faces and, for a model with CelebA's attributes, on CelebA
dev photos; a file that loses more than the limits below fails (export/int8.py removes it)."""

from __future__ import annotations

import numpy as np

from ..runtime.pack import read_manifest
from .quantize import QUANTIZERS

#: The gate, against each INT8 file's fp32 parent:
#: - balanced 68-point NME may rise by at most 3 % relative, on the AFLW2000-3D dev set and on
#:   held-out synthetic faces;
#: - no attribute's accuracy against the synthetic labels may drop by more than 1 point beyond
#:   paired sampling noise (see attribute_drop);
#: - on real photos, which have no attribute labels, thresholded attributes may flip on at most 1 %
#:   of (image, attribute) pairs, or, if more, on no more pairs than the fp32 file itself flips when
#:   the face box moves by one pixel: a change no detector holds steady against, so INT8 flips below
#:   that floor are not a loss the file can be blamed for.
MAX_NME_RISE = 0.03
MAX_ATTRIBUTE_DROP = 0.01
MAX_ATTRIBUTE_FLIPS = 0.01
#: on CelebA dev photos: mean attribute accuracy drop (fraction) and identity EER rise allowed
MAX_CELEBA_ATTRIBUTE_DROP = 0.01
MAX_EER_RISE = 0.01
JITTER_PIXELS = 1.0
#: held-out synthetic faces the gate renders: enough that a one-point drop is ten faces
GATE_SYNTHETIC_FACES = 1000


def attribute_drop(truth: np.ndarray, fp32_logits: np.ndarray, int8_logits: np.ndarray) -> tuple[float, bool]:
    """(accuracy drop, whether it fails the gate) for one attribute on the same labelled faces.
    It fails when the drop exceeds MAX_ATTRIBUTE_DROP and is not sampling noise: with b faces right
    in fp32 and wrong in INT8 and c the reverse, b - c must exceed 2 sqrt(b + c) (McNemar's test,
    about 95 %). On a few hundred faces a one-point drop is two or three faces."""
    right_fp32, right_int8 = (fp32_logits > 0) == truth, (int8_logits > 0) == truth
    b, c = int((right_fp32 & ~right_int8).sum()), int((~right_fp32 & right_int8).sum())
    drop = (b - c) / max(len(truth), 1)
    return drop, bool(drop > MAX_ATTRIBUTE_DROP and b - c > 2.0 * np.sqrt(b + c))


def gate(pack, dataset, formats=("tflite", "onnx", "openvino"), synthetic=None, celeba=None) -> dict:
    """Measure each INT8 file against its fp32 parent on `dataset` (AFLW2000 layout), on
    `synthetic` (samples, attribute names) from `edgeface.train.synthetic.held_out`, and on
    `celeba` (CelebA dev photos, `edgeface.tools.evaluate_faces.LabelledPhotos`) for a model with CelebA's
    attributes: mean attribute accuracy may drop by MAX_CELEBA_ATTRIBUTE_DROP, the identity
    verification EER rise by MAX_EER_RISE."""
    import edgeface

    report = {}
    manifest = read_manifest(pack)
    for fmt in formats:
        backend = QUANTIZERS[fmt][0]
        if "int8" not in manifest.precisions(fmt):
            continue
        # one pass on the benchmark box, as every shipped pack was gated: the gate measures the file
        fp32 = edgeface.Reconstructor(backend, model=pack, precision="fp32", refine=False)
        int8 = edgeface.Reconstructor(backend, model=pack, precision="int8", refine=False)
        r, passed = _benchmark_check(fp32, int8, dataset, manifest)
        if synthetic is not None:
            figures, ok = _synthetic_check(fp32, int8, synthetic, manifest)
            r.update(figures)
            passed = passed and ok
        if celeba is not None:
            figures, ok = _celeba_check(fp32, int8, celeba)
            r.update(figures)
            passed = passed and ok
        r["passed"] = bool(passed)
        report[fmt] = r
    return report


def _benchmark_check(fp32, int8, dataset, manifest) -> tuple[dict, bool]:
    """AFLW2000-3D from its boxes: the landmark error's rise, and attribute flips against the flips a
    one-pixel shift of the box causes in fp32 alone."""
    from ..runtime.detectors import to_landmark_box
    from ..runtime.image import load_image
    from ..tools.evaluate import AFLW2000_ROI_TO_LANDMARKS, predict_faces, summarise_landmarks

    faces_a, faces_b = predict_faces(fp32, dataset, progress=False), predict_faces(int8, dataset, progress=False)
    a, b = summarise_landmarks(faces_a, dataset, manifest), summarise_landmarks(faces_b, dataset, manifest)
    flips = dict.fromkeys(manifest.attribute_names, 0)
    jitter_flips = 0
    for i in range(len(dataset)):
        image = load_image(dataset.image_path(i))
        box = np.asarray(to_landmark_box(dataset.roi_box[i], AFLW2000_ROI_TO_LANDMARKS), np.float32)
        pa, pb = faces_a[i].attributes, faces_b[i].attributes
        pj = fp32.from_landmark_boxes(image, [box + [JITTER_PIXELS, 0, JITTER_PIXELS, 0]])[0].attributes
        for k in pa:
            flips[k] += int((pa[k] > 0.5) != (pb[k] > 0.5))
            jitter_flips += int((pa[k] > 0.5) != (pj[k] > 0.5))
    pairs = max(len(dataset) * len(flips), 1)
    flip_limit = max(MAX_ATTRIBUTE_FLIPS, jitter_flips / pairs)
    rise = b["nme_balanced"] / a["nme_balanced"] - 1.0
    r = {
        "fp32_nme_balanced": a["nme_balanced"],
        "int8_nme_balanced": b["nme_balanced"],
        "nme_rise_relative": rise,
        "attribute_flips": sum(flips.values()) / pairs,
        "attribute_flips_by_name": {k: v / max(len(dataset), 1) for k, v in flips.items()},
        "fp32_attribute_flips_1px_shift": jitter_flips / pairs,
        "attribute_flip_limit": flip_limit,
    }
    return r, rise <= MAX_NME_RISE and r["attribute_flips"] <= flip_limit


def _synthetic_check(fp32, int8, synthetic, manifest) -> tuple[dict, bool]:
    """Held-out synthetic faces: the dense error's rise and each labelled attribute's accuracy drop."""
    from ..tools.evaluate import evaluate_synthetic, synthetic_outputs

    samples, names = synthetic
    oa, ob = synthetic_outputs(fp32.model, samples), synthetic_outputs(int8.model, samples)
    sa = evaluate_synthetic(fp32.model, samples, names, outputs=oa)
    sb = evaluate_synthetic(int8.model, samples, names, outputs=ob)
    truth = np.stack([s["attributes"] for s in samples]).astype(bool)
    drops, failing = {}, []
    for k, name in enumerate(manifest.attribute_names):
        if name in names:
            column = truth[:, list(names).index(name)]
            drops[name], fails = attribute_drop(column, oa["attributes"][:, k], ob["attributes"][:, k])
            if fails:
                failing.append(name)
    r = {
        "synthetic_fp32_nme_balanced": sa["nme_balanced"],
        "synthetic_int8_nme_balanced": sb["nme_balanced"],
        "synthetic_nme_rise_relative": sb["nme_balanced"] / sa["nme_balanced"] - 1.0,
        "synthetic_attribute_accuracy_drop": drops,
        "synthetic_attributes_failing": failing,
    }
    return r, r["synthetic_nme_rise_relative"] <= MAX_NME_RISE and not failing


def _celeba_check(fp32, int8, celeba) -> tuple[dict, bool]:
    """CelebA dev: the mean attribute accuracy's drop and the identity verification EER's rise."""
    from ..tools.evaluate_faces import evaluate_celeba

    ca, cb = evaluate_celeba(fp32, celeba, progress=False), evaluate_celeba(int8, celeba, progress=False)
    r = {
        "celeba_fp32_attribute_accuracy": ca["attribute_accuracy_mean"],
        "celeba_int8_attribute_accuracy": cb["attribute_accuracy_mean"],
        "celeba_attribute_accuracy_drop": ca["attribute_accuracy_mean"] - cb["attribute_accuracy_mean"],
        "celeba_fp32_eer": ca.get("verification_eer", float("nan")),
        "celeba_int8_eer": cb.get("verification_eer", float("nan")),
    }
    r["celeba_eer_rise"] = r["celeba_int8_eer"] - r["celeba_fp32_eer"]
    return r, r["celeba_attribute_accuracy_drop"] <= MAX_CELEBA_ATTRIBUTE_DROP and not r[
        "celeba_eer_rise"
    ] > MAX_EER_RISE


def gate_summary(fmt: str, r: dict) -> str:
    """One line on a format's gate result (`gate`'s report): each check, its figure, its limit, the verdict."""
    parts = [
        f"balanced NME AFLW2000 {100 * r['fp32_nme_balanced']:.2f} % -> {100 * r['int8_nme_balanced']:.2f} % "
        f"({100 * r['nme_rise_relative']:+.1f} %; limit +{100 * MAX_NME_RISE:.0f} %)"
    ]
    if "synthetic_nme_rise_relative" in r:
        worst = max(r["synthetic_attribute_accuracy_drop"].values(), default=0.0)
        parts.append(
            f"synthetic {100 * r['synthetic_fp32_nme_balanced']:.2f} % -> "
            f"{100 * r['synthetic_int8_nme_balanced']:.2f} % ({100 * r['synthetic_nme_rise_relative']:+.1f} %), "
            f"worst attribute accuracy drop {100 * worst:+.1f} points (limit {100 * MAX_ATTRIBUTE_DROP:.0f} "
            f"beyond noise; failing: {', '.join(r['synthetic_attributes_failing']) or 'none'})"
        )
    parts.append(
        f"flips on photos {100 * r['attribute_flips']:.2f} % (limit {100 * r['attribute_flip_limit']:.2f} %: "
        f"1 % or fp32's own under a 1 px box shift, {100 * r['fp32_attribute_flips_1px_shift']:.2f} %)"
    )
    if "celeba_eer_rise" in r:
        parts.append(
            f"CelebA dev attribute accuracy {100 * r['celeba_fp32_attribute_accuracy']:.2f} -> "
            f"{100 * r['celeba_int8_attribute_accuracy']:.2f} % (limit -{100 * MAX_CELEBA_ATTRIBUTE_DROP:.0f} "
            f"point), identity EER {r['celeba_fp32_eer']:.3f} -> {r['celeba_int8_eer']:.3f} (limit "
            f"+{MAX_EER_RISE})"
        )
    verdict = "passed" if r["passed"] else "FAILED, removed from the pack"
    return f"INT8 gate {fmt:9s} " + "; ".join(parts) + f": {verdict}"
