"""The framing of the real training photos: where the runtime would crop each CelebA and UTKFace photo,
cached once (`frame`: the shipped pack's own detection; `frame_from_teachers`: the landmark teacher's
68 points by the runtime's crop rule). A recipe's `prepare` stage writes these caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sources import TeacherAnswers


def frame(root, out, backend: str = "auto", model=None, precision=None) -> Path:
    """Cache the runtime's crop of every photo in a folder: the crop of the detector's most
    confident face; where the detector finds none, the whole photo as the box, refined once by the
    shipped model's own landmarks."""
    from tqdm import tqdm

    import edgeface
    from edgeface.runtime.image import load_image

    root, out = Path(root), Path(out)
    names = np.load(root / "labels.npz")["names"]
    # one pass: the crops the shipped branches were trained on
    rec = edgeface.Reconstructor(backend, model=model, precision=precision or "auto", max_faces=1, refine=False)
    crops, detected = np.zeros((len(names), 3), np.float32), np.zeros(len(names), bool)
    for k, name in enumerate(tqdm(names, desc=f"frame {root.name}")):
        image = load_image(root / "images" / str(name))
        faces = rec(image)
        detected[k] = bool(faces)
        if faces:
            crops[k] = faces[0].crop
        else:
            h, w = image.shape[:2]
            crop = rec.pipeline.crop_for_face(rec(image, boxes=[[0.0, 0.0, float(w), float(h)]])[0])
            crops[k] = (crop.x0, crop.y0, crop.size)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, names=names, crop=crops, detected=detected)
    print(f"{out}: {detected.mean():.1%} of {len(names)} photos framed from a detection")
    return out


def frame_from_teachers(root, cache, out, crop_scale: float, shift_y: float = 0.0) -> Path:
    """The crop of every photo the landmark teacher answered (`train.teachers`), by the runtime's
    crop rule from the box of its 68 points: the framing of a refined second pass, which the AFLW
    crops are cut by too. Rows it did not answer (dev photos: no teacher runs there) get the whole
    photo; `detected` marks the teacher's rows."""
    from edgeface.runtime.geometry import square_crop
    from edgeface.runtime.image import probe

    root, out = Path(root), Path(out)
    names = np.load(root / "labels.npz")["names"]
    points = TeacherAnswers(cache, names).points
    crops, taught = np.zeros((len(names), 3), np.float32), np.isfinite(points).all((1, 2))
    for k in range(len(names)):
        if taught[k]:
            crop = square_crop(np.concatenate([points[k].min(0), points[k].max(0)]), crop_scale, shift_y)
            crops[k] = (crop.x0, crop.y0, crop.size)
        else:  # the whole photo: its size from the header alone
            header = probe((root / "images" / str(names[k])).read_bytes(), str(names[k]))
            crops[k] = (0.0, 0.0, float(max(header.width, header.height)))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, names=names, crop=crops, detected=taught)
    return out
