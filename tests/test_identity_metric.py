"""The identity metric: fitted on some people, it must tell other people apart better than the plain
cosine of the coefficients; the runtime applies the manifest's metric to every face's embedding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import edgeface
from edgeface.export.identity_metric import REGULARISATION, cross_validated, fit, fit_pack, within_person_whitening
from edgeface.runtime.pack import PackManifest, read_manifest
from edgeface.runtime.pipeline import embed
from edgeface.runtime.results import Face
from edgeface.tools.datasets import data_root
from edgeface.tools.evaluate_faces import vector_verification


def people(count: int, photos: int, seed: int):
    """Coefficients as the network's look: a shared offset, people spread evenly, and photo-to-photo
    noise that is largest along two directions that say nothing about who it is."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(count), photos)
    centres = rng.normal(size=(count, 8))
    noise = rng.normal(size=(len(person), 8)) * np.array([4.0, 4.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    return 6.0 + centres[person] + noise, person


def eer(e, person):
    return vector_verification(e, person)[0]


def test_whitening_makes_each_persons_spread_unit():
    x, person = people(50, 4, 0)
    mean, whitening = within_person_whitening(x, person, ridge=0.0)
    np.testing.assert_allclose(mean, x.mean(0))
    white = (x - mean) @ whitening.T
    spread = sum((w - w.mean(0)).T @ (w - w.mean(0)) for w in (white[person == p] for p in range(50)))
    np.testing.assert_allclose(spread / (len(x) - 50), np.eye(8), atol=1e-9)
    with pytest.raises(ValueError, match="two or more photos"):
        within_person_whitening(x[::4], person[::4], 0.1)


def test_a_fitted_metric_tells_new_people_apart_better_than_plain_cosine():
    x, person = people(300, 3, 1)
    metric = fit(x, person)
    assert metric["ridge"] in REGULARISATION and set(metric["cross_validation"]) == {str(r) for r in REGULARISATION}
    new, new_person = people(200, 3, 2)  # other people, drawn the same way
    plain = new / np.linalg.norm(new, axis=1, keepdims=True)
    fitted = embed(new, metric["mean"], metric["whitening"])
    np.testing.assert_allclose(np.linalg.norm(fitted, axis=1), 1.0, rtol=1e-6)
    assert eer(fitted, new_person) < eer(plain, new_person) - 0.15
    # the cross-validation scores held-out people: a ridge that erases the whitening scores worse
    scores = cross_validated(x, person, ridges=(0.01, 1e6))
    assert scores[0.01]["eer"] < scores[1e6]["eer"]


def test_similarity_needs_embeddings_of_one_size():
    def face(embedding):
        return Face(
            box=np.zeros(4),
            score=1.0,
            landmarks=np.zeros((68, 3)),
            dense=np.zeros((1, 3)),
            mesh=None,
            pose=None,
            identity=np.zeros(3),
            expression={},
            attributes={},
            visibility=np.zeros(1),
            embedding=embedding,
        )

    a, b = face(np.array([0.6, 0.8, 0.0])), face(np.array([0.0, 1.0, 0.0]))
    assert a.similarity(b) == pytest.approx(0.8) == b.similarity(a)
    with pytest.raises(edgeface.EdgefaceError, match="embeddings"):
        a.similarity(face(None))
    with pytest.raises(edgeface.EdgefaceError, match="different models"):
        a.similarity(face(np.ones(2) / np.sqrt(2)))


def test_the_runtime_applies_the_manifests_metric(pack_copy, face_image):
    plain = edgeface.Reconstructor("onnx", model=pack_copy)(face_image)[0]
    k = len(plain.identity)
    np.testing.assert_allclose(plain.embedding, plain.identity / np.linalg.norm(plain.identity), rtol=1e-5)
    rng = np.random.default_rng(0)
    mean, whitening = rng.normal(size=k), rng.normal(size=(k, k))
    manifest = PackManifest.open(pack_copy)
    manifest.set_identity_metric(mean, whitening, fitted_on="a test")
    manifest.save()
    face = edgeface.Reconstructor("onnx", model=pack_copy)(face_image)[0]
    np.testing.assert_array_equal(face.identity, plain.identity)  # the coefficients, and so the shape, stay
    expected = whitening @ (face.identity - mean)
    np.testing.assert_allclose(face.embedding, expected / np.linalg.norm(expected), rtol=1e-4, atol=1e-6)
    assert face.similarity(face) == pytest.approx(1.0, abs=1e-6)
    assert face.to_dict()["embedding"] == pytest.approx(face.embedding.tolist())


@pytest.mark.parametrize(
    "metric, message",
    [
        ({"mean": [0.0] * 8, "whitening": [[1.0] * 8] * 7}, "identity_metric.whitening must be 8 x 8 finite numbers"),
        ({"mean": [0.0] * 8, "whitening": [[1.0] * 8] * 7 + [[1.0] * 3]}, "identity_metric.whitening must be 8 x 8"),
        ({"mean": [0.0] * 7, "whitening": np.eye(8).tolist()}, "identity_metric.mean must be 8 finite numbers"),
        ({"mean": [0.0] * 8}, "identity_metric.whitening is missing"),
        ({"mean": [float("nan")] * 8, "whitening": np.eye(8).tolist()}, "identity_metric.mean must be 8 finite"),
    ],
)
def test_a_wrong_identity_metric_is_refused_by_name(pack_copy, metric, message):
    path = pack_copy / "edgeface.json"
    data = json.loads(path.read_text())
    assert data["identity_size"] == 8
    data["identity_metric"] = metric
    path.write_text(json.dumps(data))
    with pytest.raises(edgeface.ModelError, match=message):
        edgeface.Reconstructor("onnx", model=pack_copy)


def test_fit_pack_writes_a_metric_from_training_people(tmp_path):
    root = data_root()
    if root is None or not (root / "celeba" / "labels.npz").exists():
        pytest.skip("celeba not found: set EDGEFACE_DATA")
    labels = dict(np.load(root / "celeba" / "labels.npz"))
    train = np.flatnonzero(labels["split"] == "train")
    counts = np.bincount(labels["identity"][train])
    rows = train[counts[labels["identity"][train]] >= 3]
    rows = np.sort(rows[np.argsort(labels["identity"][rows], kind="stable")][:60])  # whole people
    folder = tmp_path / "celeba"
    (folder / "images").mkdir(parents=True)
    n = len(labels["names"])
    np.savez(folder / "labels.npz", **{k: (v[rows] if v.shape[:1] == (n,) else v) for k, v in labels.items()})
    for name in labels["names"][rows]:
        (folder / "images" / str(name)).symlink_to(root / "celeba" / "images" / str(name))
    pack = tmp_path / "pack"
    shutil.copytree(Path(edgeface.__file__).parent / "models" / "default", pack)
    record = fit_pack(pack, folder, progress=False)
    assert record["photos"] + record["missed"] == 60 and record["photos"] >= 55 and record["ridge"] in REGULARISATION
    m = read_manifest(pack)
    assert m.identity_whitening.shape == (m.identity_size, m.identity_size)
    assert json.loads((pack / "edgeface.json").read_text())["identity_metric"]["fitted_on"].startswith("CelebA train")
