"""MediaPipe's BlazeFace detectors (Apache-2.0, files in ./assets with their NOTICE).

They run on LiteRT (XNNPACK) when the tflite extra is installed, which is faster than OpenCV's own
TFLite importer (docs/experiments.md, "Runtime defaults"); OpenCV is the fallback, so that
detection needs no backend extra at all.

Decoding follows the published SSD anchor scheme of these models: a grid of anchors per
feature-map stride, box centre and size regressed relative to the anchor in input pixels,
six keypoints, sigmoid scores, then weighted non-maximum suppression (detections of one face
are averaged by score, which steadies boxes between video frames).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DetectorError
from ..geometry import iou
from . import Detection, to_landmark_box

ASSETS = Path(__file__).parent / "assets"

#: variant -> (file, input size, feature-map strides, anchors per cell per stride layer, score threshold)
VARIANTS = {
    "short_range": ("face_detection_short_range.tflite", 128, (8, 16, 16, 16), 2, 0.5),
    "full_range": ("face_detection_full_range.tflite", 192, (4,), 1, 0.5),
    "back": ("face_detection_back.tflite", 256, (16, 32, 32, 32), 2, 0.5),
}


def _anchors(size: int, strides: tuple[int, ...], per_layer: int) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1]; consecutive layers of one stride share a grid."""
    centres = []
    i = 0
    while i < len(strides):
        stride, count = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            count += per_layer
            i += 1
        cells = int(np.ceil(size / stride))
        ys, xs = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = np.stack([(xs + 0.5) / cells, (ys + 0.5) / cells], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, count, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


class BlazeFace:
    def __init__(
        self,
        name: str,
        variant: str,
        to_landmarks: tuple[float, float],
        min_score: float | None = None,
        iou_threshold: float = 0.3,
        runner: str = "auto",
        num_threads: int = 1,
    ):
        file, self.size, strides, per_layer, threshold = VARIANTS[variant]
        self.name = name
        self.to_landmarks = to_landmarks
        self.min_score = threshold if min_score is None else float(min_score)
        p = min(max(self.min_score, 1e-12), 1.0 - 1e-12)
        self._min_logit = np.log(p / (1.0 - p)) - 1e-3
        self.iou_threshold = iou_threshold
        self._anchors = _anchors(self.size, strides, per_layer)
        from .. import backends

        if runner == "auto":
            runner = "tflite" if "tflite" in backends.installed() else "opencv"
        self.runner = runner
        if runner == "tflite":
            from ..backends.tflite import TfliteBackend

            self._tflite = TfliteBackend(ASSETS / file, num_threads)
        elif runner == "opencv":
            self._net, self._outputs = _opencv_net(ASSETS / file)
        else:
            raise DetectorError(f"unknown detector runner {runner!r}: 'auto', 'tflite' or 'opencv'")

    def to_landmark_box(self, box) -> np.ndarray:
        return to_landmark_box(box, self.to_landmarks)

    def forward(self, canvas: np.ndarray) -> list[np.ndarray]:
        """Raw (regressors, scores) of the network for one letterboxed BGR canvas."""
        if self.runner == "tflite":
            return self._tflite.run(input_tensor(canvas))
        blob = cv2.dnn.blobFromImage(canvas, 1 / 127.5, (self.size, self.size), (127.5, 127.5, 127.5), swapRB=True)
        self._net.setInput(blob)
        return self._net.forward(self._outputs)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """Fit the image into the square input, keeping its aspect ratio; returns the mapping back
        (input = image * scale + (px, py)). Halvings by pyrDown first, so that the final linear
        warp never skips pixels; one warp then writes the padded input directly."""
        h, w = image.shape[:2]
        scale = self.size / max(h, w)
        small, factor = image, 1.0
        while max(small.shape[:2]) > 2 * self.size:
            small = cv2.pyrDown(small)
            factor *= 2.0
        nw, nh = w * scale, h * scale
        px, py = (self.size - nw) / 2, (self.size - nh) / 2
        m = np.array([[scale * factor, 0.0, px], [0.0, scale * factor, py]])
        canvas = cv2.warpAffine(
            small,
            m,
            (self.size, self.size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
        return canvas, scale, px, py

    def __call__(self, image: np.ndarray, enough: int | None = None, min_size: float = 0.0) -> list[Detection]:
        canvas, scale, px, py = self.preprocess(image)
        return self.decode(self.forward(canvas), scale, px, py)

    def decode(self, outputs: list[np.ndarray], scale: float, px: float, py: float) -> list[Detection]:
        """The network's outputs for a canvas letterboxed by (scale, px, py) -> detections in the image."""
        raw = {o.shape[-1]: o.reshape(-1, o.shape[-1]) for o in outputs}
        regress, logits = raw[16], raw[1][:, 0]
        # the sigmoid only where it can pass: anchors a little under the threshold's logit are scored
        near = np.flatnonzero(logits >= self._min_logit)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[near], -50.0, 50.0)))
        passed = scores >= self.min_score
        keep, scores = near[passed], scores[passed]
        if keep.size == 0:
            return []
        reg, anchors = regress[keep] / self.size, self._anchors[keep]
        centre = reg[:, :2] + anchors
        half = reg[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1) * self.size
        keypoints = (reg[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * self.size
        # back from the letterboxed input to the image
        offset = np.array([px, py], np.float32)
        boxes = (boxes.reshape(-1, 2, 2) - offset).reshape(-1, 4) / scale
        keypoints = (keypoints - offset) / scale
        return _weighted_nms(boxes, scores, keypoints, self.iou_threshold)


#: (1, 256, 1) float32 (v - 127.5) / 127.5 of every byte: `input_tensor` by lookup, to the bit
_INPUT_TABLE = ((np.arange(256, dtype=np.uint8).astype(np.float32) - 127.5) / 127.5).reshape(1, 256, 1)


def input_tensor(canvas: np.ndarray) -> np.ndarray:
    """(1, S, S, 3) float32 RGB in [-1, 1] from a BGR canvas: what the network takes."""
    return cv2.LUT(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB), _INPUT_TABLE)[None]


def _weighted_nms(boxes, scores, keypoints, iou_threshold) -> list[Detection]:
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    alive = np.ones(len(scores), bool)
    found = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        group = alive & (iou(boxes[i], boxes) >= iou_threshold)
        group[i] = True
        w = scores[group][:, None]
        box = (boxes[group] * w).sum(0) / w.sum()
        kps = (keypoints[group] * w[:, :, None]).sum(0) / w.sum()
        found.append(Detection(box.astype(np.float32), float(scores[i]), kps.astype(np.float32)))
        alive &= ~group
    return found


def create(name: str, variant: str, **options) -> BlazeFace:
    return BlazeFace(name, variant, **options)


def _opencv_net(path: Path):
    """Load the detector with OpenCV's TFLite importer, on whichever engine exposes both outputs
    (box regressors and scores).

    OpenCV 5.0's default engine exposes only the regressors, and its classic engine both; 5.1 removed
    the classic engine and fixed the default one. The engines are tried by what they expose, not by
    version, so a release that moves the constants again still gets a working net or a clear error.
    """
    engines: list[dict] = [{}] + [
        {"engine": getattr(cv2.dnn, name)} for name in ("ENGINE_CLASSIC",) if hasattr(cv2.dnn, name)
    ]
    for engine in engines:
        try:
            net = cv2.dnn.readNetFromTFLite(str(path), **engine)
        except cv2.error as error:
            raise DetectorError(f"cannot load detector model {path.name}: {error}") from None
        outputs = net.getUnconnectedOutLayersNames()
        if len(outputs) == 2:
            return net, outputs
    raise DetectorError(
        f"OpenCV {cv2.__version__} cannot run detector model {path.name}: its TFLite importer "
        f"exposes only {list(outputs)}; install edgeface[tflite]"
    )
