"""What a reconstruction returns: one `Face` per face, plain numpy fields, and its exporters."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import OptionError


@dataclass
class Pose:
    """Head pose. Angles in degrees (see edgeface.runtime.geometry for the convention; for the angles of the
    AFLW2000-3D / 300W-LP convention, which composes the rotations in the other order, use
    `edgeface.tools.evaluate.aflw2000_angles(pose.rotation)`).

    `rotation` takes model coordinates (x right, y up, z towards the viewer, centimetres) to
    camera-aligned ones; `translation` is where the face centre lands in the image (pixels; the
    manifest's `pose_translation` says which model point that is); `scale` is image pixels per
    model centimetre (weak perspective).
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (2,) image pixels
    scale: float


@dataclass
class Mesh:
    vertices: np.ndarray  # (V, 3) image pixels, z towards the camera, same scale as x and y
    triangles: (
        np.ndarray
    )  # (T, 3) vertex indices, wound consistently; those facing the camera run counter-clockwise on screen

    def normals(self) -> np.ndarray:
        """(V, 3) unit vertex normals, out of the face, in the vertices' frame (x right, y down,
        z towards the camera): the area-weighted mean of the normals of each vertex's triangles
        (towards the camera where those cancel out, on a collapsed mesh)."""
        up = self.vertices.astype(np.float64) * (1.0, -1.0, 1.0)  # a right-handed frame for the cross product
        a, b, c = (up[self.triangles[:, k]] for k in range(3))
        face = np.cross(b - a, c - a)
        out = np.zeros_like(up)
        for k in range(3):
            np.add.at(out, self.triangles[:, k], face)
        length = np.linalg.norm(out, axis=1, keepdims=True)
        out = np.where(length > 1e-12, out / np.maximum(length, 1e-12), (0.0, 0.0, 1.0))  # collapsed: face the camera
        return (out * (1.0, -1.0, 1.0)).astype(np.float32)


@dataclass
class Face:
    box: (
        np.ndarray
    )  # (4,) x1, y1, x2, y2 image pixels: the detector box (or the caller's); in video, where the face is now
    score: float  # detector confidence (1.0 for boxes passed in by the caller)
    landmarks: np.ndarray  # (68, 3) image pixels + depth, Multi-PIE order
    dense: np.ndarray  # (520, 3) image pixels + depth
    mesh: Mesh
    pose: Pose
    identity: np.ndarray  # (K,) identity coefficients of the morphable model (they shape `dense`)
    expression: dict[str, float]  # ARKit blendshape name -> weight, ~[0, 1]
    attributes: dict[str, float]  # attribute name -> probability
    visibility: np.ndarray  # (520,) probability that each dense point is visible
    crop: tuple[float, float, float] = field(default=(0.0, 0.0, 0.0))  # (x0, y0, size) of the network's crop
    age: float | None = None  # apparent age in years, where the model has an age output (see its card)
    gender: str | None = None  # "female" or "male" (apparent, binary as its training labels), where the model says
    track_id: int | None = None  # in video, the same number while the tracker follows this face
    embedding: np.ndarray | None = None  # (K,) unit vector that tells people apart: compare with `similarity`
    # outputs of the model that the runtime does not decode, by name, as the network gave them for this
    # face (the pack's manifest lists each output with its meaning): a new output reaches the app here
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def similarity(self, other: "Face") -> float:
        """How alike two faces' identities are, from -1 to 1 (the dot product of their embeddings):
        compare faces of one pack, whose manifest's identity_metric made both embeddings."""
        if self.embedding is None or other.embedding is None:
            raise OptionError("similarity needs both faces' embeddings; a Face made outside a Reconstructor has none")
        if self.embedding.shape != other.embedding.shape:
            raise OptionError(
                f"these faces come from different models: embeddings of {len(self.embedding)} "
                f"and {len(other.embedding)} values"
            )
        return float(np.dot(self.embedding, other.embedding))

    def to_dict(self) -> dict:
        """JSON-ready dict of every field (arrays as nested lists)."""
        return {
            "box": self.box.tolist(),
            "score": self.score,
            "crop": list(self.crop),
            "pose": {
                "yaw": self.pose.yaw,
                "pitch": self.pose.pitch,
                "roll": self.pose.roll,
                "rotation": self.pose.rotation.tolist(),
                "translation": self.pose.translation.tolist(),
                "scale": self.pose.scale,
            },
            "landmarks": self.landmarks.tolist(),
            "dense": self.dense.tolist(),
            "visibility": self.visibility.tolist(),
            "identity": self.identity.tolist(),
            "embedding": None if self.embedding is None else self.embedding.tolist(),
            "expression": self.expression,
            "attributes": self.attributes,
            "age": self.age,
            "gender": self.gender,
            "track_id": self.track_id,
            "triangles": self.mesh.triangles.tolist(),
            "extra": {name: value.tolist() for name, value in self.extra.items()},
        }

    def save_json(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    def save_obj(self, path) -> None:
        """Wavefront OBJ of the dense mesh in image pixels with y flipped up (as viewers expect),
        with vertex normals; every point belongs to a triangle, so loaders keep all of them, in order."""
        v = self.mesh.vertices
        n = self.mesh.normals()
        lines = [f"v {x:.3f} {-y:.3f} {z:.3f}" for x, y, z in v]
        lines += [f"vn {x:.4f} {-y:.4f} {z:.4f}" for x, y, z in n]
        lines += [f"f {a + 1}//{a + 1} {b + 1}//{b + 1} {c + 1}//{c + 1}" for a, b, c in self.mesh.triangles]
        Path(path).write_text("# edgeface dense face mesh\n" + "\n".join(lines) + "\n")

    def save_ply(self, path) -> None:
        """Binary little-endian PLY of the dense mesh (y flipped up, as in the OBJ): vertices with
        normals and visibility as properties."""
        v = self.mesh.vertices.astype("<f4")
        t = self.mesh.triangles.astype("<i4")
        header = (
            f"ply\nformat binary_little_endian 1.0\ncomment edgeface dense face mesh\n"
            f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
            f"property float nx\nproperty float ny\nproperty float nz\n"
            f"property float visibility\nelement face {len(t)}\n"
            f"property list uchar int vertex_indices\nend_header\n"
        ).encode("ascii")
        flip = np.array([1, -1, 1], "<f4")
        verts = np.concatenate([v * flip, self.mesh.normals() * flip, self.visibility.astype("<f4")[:, None]], 1)
        faces = np.zeros(len(t), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
        faces["n"], faces["idx"] = 3, t
        with open(path, "wb") as f:
            f.write(header + verts.astype("<f4").tobytes() + faces.tobytes())

    def draw(
        self, image: np.ndarray, dense: bool = True, axes: bool = True, attributes: int = 3, mesh: bool = False
    ) -> np.ndarray:
        """A copy of `image` with this face drawn (see `edgeface.draw`, which draws many)."""
        return draw(image, [self], dense=dense, axes=axes, attributes=attributes, mesh=mesh, legend=False)

    def landmarks_normalized(self, image_size: tuple[int, int]) -> np.ndarray:
        """(68, 3) landmarks with x and y in [0, 1] of the image's (width, height), as MediaPipe
        gives them; z is divided by the width, as MediaPipe scales its z."""
        w, h = (float(v) for v in image_size)
        if not (w > 0 and h > 0):
            raise OptionError(f"image_size must be (width, height) in pixels, both > 0, not {image_size!r}")
        return (self.landmarks / np.array([w, h, w], np.float32)).astype(np.float32)

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in self.box)
        extra = "".join(
            [
                f", age={self.age:.0f}" if self.age is not None else "",
                f", gender={self.gender!r}" if self.gender else "",
                f", track_id={self.track_id}" if self.track_id is not None else "",
            ]
        )
        return (
            f"Face(box=[{box}], score={self.score:.2f}, yaw={self.pose.yaw:+.1f}, pitch={self.pose.pitch:+.1f}, "
            f"roll={self.pose.roll:+.1f}, points={len(self.dense)}{extra})"
        )


#: BGR colours of what `draw` puts on an image, also written in its legend
COLOURS = {
    "box": (255, 160, 0),
    "landmarks": (0, 255, 0),
    "visible": (0, 200, 255),
    "hidden": (90, 90, 90),
    "mesh": (200, 200, 200),
}


def _label(out: np.ndarray, text: str, x: float, y: float, scale: float) -> float:
    """Text on a dark plate, moved inside the image; returns the y below it."""
    font, size, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.4 * scale, max(1, int(scale))
    (tw, th), base = cv2.getTextSize(text, font, size, thick)
    h, w = out.shape[:2]
    x = int(min(max(0, x), max(0, w - tw - 4)))
    y = int(min(max(th + 4, y), h - base - 2))
    cv2.rectangle(out, (x, y - th - 3), (x + tw + 4, y + base + 1), (0, 0, 0), -1)
    cv2.putText(out, text, (x + 2, y), font, size, (255, 255, 255), thick, cv2.LINE_AA)
    return y + th + base + 4


def draw(
    image: np.ndarray,
    faces,
    dense: bool = True,
    axes: bool = True,
    attributes: int = 3,
    mesh: bool = False,
    legend: bool = True,
) -> np.ndarray:
    """A copy of `image` (BGR uint8) with every face's box, dense points (orange where visible,
    grey where hidden), 68 landmarks (green), pose axes (x red, y green, z blue), optionally its
    mesh as a wireframe, and its top `attributes` on labels kept inside the image; `legend` adds
    a key to the colours in the top-left corner."""
    from .image import load_image

    out = load_image(image).copy()  # refuses what is not an (H, W, 3) uint8 image, by name
    faces = list(faces)
    for k, face in enumerate(faces):
        values = (face.box, face.dense, face.landmarks, face.pose.rotation)
        if not all(np.isfinite(np.asarray(v, np.float64)).all() for v in values):
            raise OptionError(f"face {k} has non-finite box, points or pose: there is nothing to draw")
    for face in faces:
        scale = max(1, round(max(face.box[2] - face.box[0], face.box[3] - face.box[1]) / 150))
        x1, y1, x2, y2 = (int(round(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), COLOURS["box"], scale)
        if mesh:
            pts = np.round(face.mesh.vertices[:, :2]).astype(np.int32)
            cv2.polylines(out, list(pts[face.mesh.triangles]), True, COLOURS["mesh"], 1, cv2.LINE_AA)
        if dense:
            for (x, y, _), vis in zip(face.dense, face.visibility):
                cv2.circle(
                    out,
                    (int(round(x)), int(round(y))),
                    scale,
                    COLOURS["visible"] if vis >= 0.5 else COLOURS["hidden"],
                    -1,
                    cv2.LINE_AA,
                )
        for x, y, _ in face.landmarks:
            cv2.circle(out, (int(round(x)), int(round(y))), scale + 1, COLOURS["landmarks"], -1, cv2.LINE_AA)
        if axes:
            origin = face.pose.translation
            length = 0.5 * (face.box[2] - face.box[0])
            for axis, color in zip(np.eye(3), ((0, 0, 255), (0, 255, 0), (255, 0, 0))):
                d = face.pose.rotation @ axis
                tip = origin + length * np.array([d[0], -d[1]])  # model y is up, image y is down
                cv2.line(
                    out,
                    tuple(int(round(c)) for c in origin),
                    tuple(int(round(c)) for c in tip),
                    color,
                    scale + 1,
                    cv2.LINE_AA,
                )
        y = y2 + 4 + 12 * scale
        if face.track_id is not None:
            y = _label(out, f"track {face.track_id}", x1, y, scale)
        for name, p in sorted(face.attributes.items(), key=lambda kv: -kv[1])[:attributes]:
            y = _label(out, f"{name} {p:.2f}", x1, y, scale)
    if legend and faces:
        y = 16
        for text, key in (
            ("68 landmarks", "landmarks"),
            ("dense, visible", "visible"),
            ("dense, hidden", "hidden"),
            ("detector box", "box"),
        ):
            cv2.circle(out, (10, y - 4), 4, COLOURS[key], -1, cv2.LINE_AA)
            y = _label(out, text, 18, y, 1)
    return out
