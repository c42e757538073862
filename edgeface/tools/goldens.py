"""Golden vectors for ports of the runtime (the Android app's Kotlin core, android_demo/core).

`write(out, images)` runs the Python runtime on a few faces and stores, as .npy files, every
intermediate a port must reproduce: the crop box, the crop's pixels, the network input (float
and int8), the raw outputs, the decoded face, the detector's letterbox, raw outputs and
detections, integer dequantization and a One-Euro filtered sequence. A port reads the inputs of
each stage from here and compares its result with the next stage's file, so each stage is
checked on its own (quantization to the bit, decoding within float tolerance).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from ..runtime import detectors
from ..runtime.detectors.blazeface import input_tensor
from ..runtime.image import load_image
from ..runtime.model import dequantize
from ..runtime.pack import MANIFEST_NAME
from ..runtime.video import OneEuroFilter


def _save(folder: Path, **arrays) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(value))


def _cases(images: list[np.ndarray]):
    """(name, image, how the crop box is made) for each kind of crop a port must cut."""
    yield "full", images[0], 0.0  # crop larger than twice the input: the halving path
    small = cv2.resize(images[1 % len(images)], None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    yield "small", small, 0.0  # crop under twice the input: one bilinear warp
    yield "edge", images[2 % len(images)], -0.8  # crop running off the left edge: black fill


def write(out, image_paths, model=None) -> Path:
    """Write golden vectors for the pack's int8 TFLite file (the one the Android app embeds)."""
    from ..runtime.reconstructor import Reconstructor

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    rec = Reconstructor("tflite", model=model, precision="int8")
    detector = detectors.create(detectors.SINGLE)  # the one-pass model the port implements
    shutil.copy(rec.manifest.root / MANIFEST_NAME, out.mkdir(parents=True) or out / MANIFEST_NAME)
    _write_manifest(out, rec)
    images = [load_image(p) for p in image_paths]
    names = []
    for name, image, shift in _cases(images):
        _write_case(out / "cases" / name, rec, detector, image, shift, name)
        names.append(name)
    _write_detector(out / "detector", detector, images[0])  # the detector, stage by stage, on the first image
    _write_arithmetic(out)
    (out / "index.json").write_text(json.dumps({"cases": names, "model": rec.model.file.path.name}, indent=1))
    return out


def _write_manifest(out: Path, rec) -> None:
    """The manifest's arrays and names as the runtime parsed them."""
    m = rec.manifest
    _save(
        out / "manifest",
        landmarks68=m.landmarks68.astype(np.int32),
        landmark_points=m.landmark_points.astype(np.int32),
        landmark_weights=m.landmark_weights,
        triangles=m.triangles.astype(np.int32),
        mean=m.mean,
        std=m.std,
        input_quantization=np.array(rec.model.file.input_quantization, np.float64),
        scalars=np.array([m.input_size, m.num_points, m.identity_size, m.crop_scale, m.crop_shift_y], np.float64),
    )
    if m.landmark_yaw is not None:
        _save(out / "manifest", landmark_yaw=m.landmark_yaw, landmark_weights_by_yaw=m.landmark_weights_by_yaw)
    (out / "manifest" / "names.txt").write_text(
        "\n".join([rec.model.file.path.name, *m.attribute_names, "", *m.expression_names]) + "\n"
    )


def _write_case(folder: Path, rec, detector, image, shift, name: str) -> None:
    """One face, stage by stage: its box, crop, network input, raw outputs and decoded face."""
    found = detector(image)
    if not found:
        raise RuntimeError(f"the detector found no face in golden case {name!r}")
    box = detector.to_landmark_box(found[0].box)
    box = box + shift * (box[2] - box[0])
    crop = rec.pipeline.crop_for(box)
    pixels = rec.pipeline.cut(image, [crop])
    int8_input = rec.model.preprocess(pixels)
    outputs = rec.model.postprocess(rec.model.backend.run(int8_input))  # the stages Model.__call__ chains
    face = rec.pipeline.decode(outputs, 0, crop, found[0].box, found[0].score)
    normalised = rec.model.normalise(pixels)  # what the int8 input quantizes
    pose = face.pose
    _save(
        folder,
        image=image[..., ::-1],
        landmark_box=np.asarray(box, np.float64),
        crop=np.array([crop.x0, crop.y0, crop.size], np.float64),
        crop_pixels=pixels[0, ..., ::-1],
        input_float=normalised[0],
        input_int8=int8_input[0],
        **{f"output_{k}": v[0] for k, v in outputs.items()},
        dense=face.dense,
        landmarks=face.landmarks,
        visibility=face.visibility,
        embedding=face.embedding,
        age=np.array([np.nan if face.age is None else face.age], np.float32),
        attributes=np.array(list(face.attributes.values()), np.float32),
        pose=np.array(
            [pose.yaw, pose.pitch, pose.roll, *pose.rotation.ravel(), *pose.translation, pose.scale], np.float64
        ),
    )


def _write_detector(folder: Path, detector, image) -> None:
    canvas, scale, px, py = detector.preprocess(image)
    raw_outputs = detector.forward(canvas)
    raw = {o.shape[-1]: o.reshape(-1, o.shape[-1]) for o in raw_outputs}
    found = detector.decode(raw_outputs, scale, px, py)
    _save(
        folder,
        image=image[..., ::-1],
        canvas=canvas[..., ::-1],
        input=input_tensor(canvas)[0],
        letterbox=np.array([scale, px, py], np.float64),
        regressors=raw[16],
        logits=raw[1][:, 0],
        detections=np.array([[*d.box, d.score, *d.keypoints.ravel()] for d in found], np.float64),
        landmark_boxes=np.array([detector.to_landmark_box(d.box) for d in found], np.float64),
        calibration=np.array(detector.to_landmarks, np.float64),
    )


def _write_arithmetic(out: Path) -> None:
    """Integer outputs (a file whose head is quantized) and the video filter, on seeded inputs."""
    rng = np.random.default_rng(7)
    values = rng.integers(-128, 128, 4096).astype(np.int8)
    params = np.array([0.0123456789, -7], np.float64)
    _save(out / "dequantize", values=values, params=params, expected=dequantize(values, params[0], int(params[1])))
    steps = 120
    times = np.cumsum(rng.uniform(0.02, 0.05, steps))
    signal = np.sin(np.linspace(0, 6, steps))[:, None] * np.array([40.0, -25.0, 3.0]) + rng.normal(0, 2, (steps, 3))
    signal[60:] += 30.0  # a jump the filter must follow quickly
    one_euro = OneEuroFilter(min_cutoff=1.0, beta=0.5, d_cutoff=1.0)
    _save(
        out / "one_euro",
        values=signal.astype(np.float32),
        times=times,
        params=np.array([1.0, 0.5, 1.0]),
        expected=np.stack([one_euro(v.astype(np.float32), t) for v, t in zip(signal, times)]),
    )
