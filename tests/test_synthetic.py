"""The synthetic engine: rasteriser, determinism, labels that agree with the pixels, attribute
rates, and shards that read back what was rendered."""

import numpy as np
import pytest

pytest.importorskip("numba", reason="the synthetic engine needs numba (pip install 'edgeface[train]')")

from edgeface.runtime.geometry import matrix_to_euler  # noqa: E402
from edgeface.tools.datasets import data_root  # noqa: E402
from edgeface.train.raster import rasterize  # noqa: E402

pytestmark = pytest.mark.train


def _triangle(xy, depth, colour):
    return (np.array(xy, np.float32), np.array(depth, np.float32), np.array([colour] * 3, np.float32))


def test_rasteriser_covers_a_triangle_and_keeps_the_nearest_surface():
    # one large triangle, wound like a camera-facing ICT triangle (negative area, y down)
    xy, depth, colour = _triangle([[0, 0], [0, 8], [8, 0]], [5, 5, 5], [1.0])
    tris = np.array([[0, 1, 2]], np.int32)
    image, zbuf, tbuf = rasterize(xy, depth, colour, tris, np.zeros(1, bool), 8, 8)
    covered = tbuf >= 0
    # pixel centres (j + 0.5, i + 0.5) inside x + y <= 8: the upper-left half
    ii, jj = np.mgrid[0:8, 0:8]
    assert np.array_equal(covered, (ii + 0.5) + (jj + 0.5) <= 8)
    assert np.allclose(zbuf[covered], 5) and np.isinf(zbuf[~covered]).all()

    # a second, nearer triangle over the same pixels wins wherever both cover
    xy2 = np.concatenate([xy, xy])
    depth2 = np.array([5, 5, 5, 2, 2, 2], np.float32)
    colour2 = np.array([[1.0]] * 3 + [[0.25]] * 3, np.float32)
    tris2 = np.array([[0, 1, 2], [3, 4, 5]], np.int32)
    image, zbuf, tbuf = rasterize(xy2, depth2, colour2, tris2, np.zeros(2, bool), 8, 8)
    assert (tbuf[covered] == 1).all() and np.allclose(image[covered, 0], 0.25)
    # drawn the other way round, the same result: order does not matter, depth does
    image_r, _, _ = rasterize(xy2, depth2, colour2, tris2[::-1].copy(), np.zeros(2, bool), 8, 8)
    assert np.allclose(image_r, image)


def test_rasteriser_culls_back_faces_unless_two_sided():
    xy, depth, colour = _triangle([[0, 0], [8, 0], [0, 8]], [5, 5, 5], [1.0])  # turned away
    tris = np.array([[0, 1, 2]], np.int32)
    assert (rasterize(xy, depth, colour, tris, np.zeros(1, bool), 8, 8)[2] < 0).all()
    assert (rasterize(xy, depth, colour, tris, np.ones(1, bool), 8, 8)[2] >= 0).sum() == 36


def test_rasteriser_interpolates_colour_across_a_triangle():
    xy = np.array([[0, 0], [0, 16], [16, 0]], np.float32)
    colour = np.array([[0.0], [1.0], [0.0]], np.float32)  # 1 at the bottom-left corner
    image, _, tbuf = rasterize(
        xy, np.ones(3, np.float32), colour, np.array([[0, 1, 2]], np.int32), np.zeros(1, bool), 16, 16
    )
    # the weight of corner (0, 16) is y / 16
    ii, jj = np.nonzero(tbuf >= 0)
    assert np.allclose(image[ii, jj, 0], (ii + 0.5) / 16, atol=1e-5)


# ---- the engine (needs the ICT-FaceKit model from the data folder) ----------------------------
@pytest.fixture(scope="module")
def model():
    root = data_root()
    if root is None or not (root / "ict_facekit.npz").exists():
        pytest.skip("ICT-FaceKit model not found: set EDGEFACE_DATA (see ../shared/README.md)")
    from edgeface.train.morphable import MorphableModel

    return MorphableModel.load(root / "ict_facekit.npz")


@pytest.fixture(scope="module")
def engine(model):
    from edgeface.train.synthetic import SyntheticFaces

    return SyntheticFaces(model, seed=7)


@pytest.fixture(scope="module")
def clean(model):
    """No occluders and no degradations: the pixels show exactly the rendered head."""
    from edgeface.train.synthetic import SyntheticConfig, SyntheticFaces

    return SyntheticFaces(model, SyntheticConfig(occluders=0.0, degrade=False), seed=11)


@pytest.fixture(scope="module")
def clean_samples(clean):
    return clean.batch(range(48))


def test_same_seed_same_sample_other_seed_other_sample(model, engine):
    from edgeface.train.synthetic import SyntheticFaces

    a, b = engine.sample(5), SyntheticFaces(model, seed=7).sample(5)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    c = SyntheticFaces(model, seed=8).sample(5)
    assert not np.array_equal(a["image"], c["image"]) and not np.array_equal(a["identity"], c["identity"])
    # a batch renders exactly what single samples render
    assert np.array_equal(engine.batch([4, 5])[1]["image"], a["image"])


def test_renders_of_one_identity_share_shape_and_differ_in_everything_else(engine):
    k = engine.config.renders_per_identity
    group = engine.batch(range(k + 1))
    assert len({int(s["identity_id"]) for s in group[:k]}) == 1 and int(group[k]["identity_id"]) == 1
    assert all(np.array_equal(s["identity"], group[0]["identity"]) for s in group[:k])
    assert not np.array_equal(group[k]["identity"], group[0]["identity"])
    assert len({tuple(np.round(s["pose"], 4)) for s in group[:k]}) == k


def test_label_shapes_and_ranges(engine):
    s = engine.sample(3)
    size = engine.config.size
    assert s["image"].shape == (size, size, 3) and s["image"].dtype == np.uint8
    assert s["points"].shape == (520, 3) and s["landmarks68"].shape == (68, 3) and s["points21"].shape == (21, 2)
    assert s["identity"].shape == (100,) and s["expression"].shape == (53,)
    assert ((s["expression"] >= 0) & (s["expression"] <= 1)).all()
    assert s["attributes"].shape == (len(engine.attribute_names),) and s["attributes"].dtype == bool
    pitch, yaw, roll = s["pose"]
    assert np.allclose(matrix_to_euler(s["rotation"]), (pitch, yaw, roll), atol=1e-4)
    # the 68 landmarks and the AFLW points are the dense points they are defined from
    assert np.array_equal(s["landmarks68"], s["points"][engine.lm68])
    assert np.allclose(s["points21"][20], s["points"][engine.lm68[8], :2])  # chin


def test_crops_follow_the_runtime_rule(clean_samples):
    """The 68-point box spans about 1 / crop_scale of the crop, centred up to the jitter."""
    from edgeface.train.synthetic import SyntheticConfig

    cfg = SyntheticConfig()
    for s in clean_samples:
        lm = s["landmarks68"][:, :2]
        side = 0.5 * (np.ptp(lm[:, 0]) + np.ptp(lm[:, 1]))
        ratio = cfg.size / side
        assert (
            cfg.crop_scale * np.exp(-cfg.scale_jitter) - 1e-3
            <= ratio
            <= cfg.crop_scale * np.exp(cfg.scale_jitter) + 1e-3
        )
        centre = 0.5 * (lm.min(0) + lm.max(0))
        assert (np.abs(centre - cfg.size / 2) <= cfg.centre_jitter * cfg.size * np.exp(cfg.scale_jitter) + 0.5).all()


def test_visible_points_fall_on_the_rendered_head(clean_samples):
    on_head = []
    for s in clean_samples:
        xy = s["points"][s["visible"], :2].astype(int)
        on_head.append(s["mask"][xy[:, 1], xy[:, 0]] >= 128)
    assert np.concatenate(on_head).mean() > 0.97


def test_hidden_points_lie_behind_the_head_at_profile(clean_samples, clean):
    profiles = [s for s in clean_samples if abs(np.degrees(s["pose"][1])) > 55]
    frontal = [s for s in clean_samples if abs(np.degrees(s["pose"][1])) < 15 and abs(np.degrees(s["pose"][0])) < 15]
    assert profiles and frontal
    for s in profiles:
        inside = ((s["points"][:, :2] >= 0) & (s["points"][:, :2] < clean.config.size)).all(1)
        hidden = inside & ~s["visible"]
        assert hidden.sum() > 0.1 * inside.sum()
        # something nearer covers each hidden point: it lies on the head's silhouette, further away
        xy = s["points"][hidden, :2].astype(int)
        assert (s["mask"][xy[:, 1], xy[:, 0]] >= 128).mean() > 0.95
        assert s["points"][hidden, 2].mean() < s["points"][s["visible"], 2].mean()
    # the 68 landmarks of a frontal face are nearly all visible (the eyes can be closed)
    assert np.mean([s["visible"][clean.lm68].mean() for s in frontal]) > 0.9


def test_pose_labels_reproduce_the_points(clean_samples, clean):
    """Weak perspective from (rotation, translation, scale) lands near the perspective points."""
    model = clean.model
    ids = clean.dense_ids
    for s in clean_samples[:16]:
        verts = model.decode(s["identity"], s["expression"], vertices=ids) - clean.centre
        rotated = verts @ s["rotation"].T
        x = s["translation"][0] + s["scale"] * rotated[:, 0]
        y = s["translation"][1] - s["scale"] * rotated[:, 1]
        err = np.hypot(x * clean.config.size - s["points"][:, 0], y * clean.config.size - s["points"][:, 1])
        assert np.median(err) < 0.03 * clean.config.size


def test_attribute_positive_rates_match_the_documented_ones(engine):
    """Labels of 2,000 people and expressions from the engine's own labeller: each rate within
    four binomial standard deviations of the rate committed in attributes_v1.json."""
    from edgeface.train.sampling import sample_expression, sample_identity

    rng = np.random.default_rng(3)
    n = 2000
    flags = np.stack(
        [
            engine.attributes(sample_identity(rng, 100), sample_expression(rng, engine.model.exp_names)[0])
            for _ in range(n)
        ]
    )
    for k, name in enumerate(engine.attribute_names):
        p = engine.thresholds[name]["positive_rate"]
        sd = np.sqrt(max(p * (1 - p), 0.01) / n)
        assert abs(flags[:, k].mean() - p) < 4 * sd + 0.005, (name, flags[:, k].mean(), p)


def test_shards_read_back_what_was_rendered(model, tmp_path):
    from edgeface.train.synthetic import SyntheticConfig, SyntheticFaces
    from edgeface.train.synthetic_sets import SyntheticShards, SyntheticStream, write

    config = SyntheticConfig(size=96)
    out = write(
        tmp_path / "synth",
        count=10,
        seed=2,
        config=config,
        shard_size=4,
        workers=1,
        model_path=data_root() / "ict_facekit.npz",
    )
    data = SyntheticShards(out)
    assert len(data) == 10 and len(data.meta["shards"]) == 3
    direct = SyntheticStream(SyntheticFaces(model, config, seed=2), 10)
    for i in (0, 5, 9):
        a, b = data[i], direct[i]
        for key in ("points", "visible", "identity", "expression", "attributes", "pose"):
            assert np.array_equal(a[key], b[key]), key
        # WebP at quality 90 keeps the pixels close
        assert np.abs(a["image"].astype(int) - b["image"].astype(int)).mean() < 6
    with pytest.raises(IndexError):
        data[10]
    with pytest.raises(FileNotFoundError):
        SyntheticShards(tmp_path / "nothing")


def test_equal_error_rate_separates_people_or_not():
    from edgeface.tools.evaluate import equal_error_rate

    rng = np.random.default_rng(0)
    people = np.repeat(np.arange(20), 4)
    centres = rng.standard_normal((20, 16))
    tight = centres[people] + 0.05 * rng.standard_normal((80, 16))
    assert equal_error_rate(tight, people) < 0.01
    assert 0.35 < equal_error_rate(rng.standard_normal((80, 16)), people) < 0.65


def test_synthetic_metrics_are_zero_for_a_perfect_model_and_grow_with_error(clean_samples, clean):
    """evaluate_synthetic against a stand-in model that returns the labels themselves."""
    from types import SimpleNamespace

    from edgeface.tools.evaluate import evaluate_synthetic

    samples = clean_samples[:24]
    size = clean.config.size
    names = ["Smiling", "Eyes_Closed"]

    class Oracle:
        manifest = SimpleNamespace(landmarks68=clean.lm68, input_size=size, attribute_names=names)

        def __init__(self, noise=0.0):
            self.noise = noise

        def __call__(self, crops):
            rows = [next(s for s in samples if np.array_equal(s["image"][..., ::-1], c)) for c in crops]
            dense = np.stack([r["points"] / size for r in rows]) + self.noise
            attrs = np.stack(
                [np.where(r["attributes"][[clean.attribute_names.index(n) for n in names]], 5.0, -5.0) for r in rows]
            )
            ident = np.stack([np.eye(50)[int(r["identity_id"]) % 50] for r in rows])
            pose = np.stack([np.concatenate([r["pose"], [0, 0, 0]]) for r in rows])
            return {"dense": dense, "attributes": attrs, "identity": ident, "pose": pose}

    perfect = evaluate_synthetic(Oracle(), samples, clean.attribute_names)
    assert perfect["nme_mean"] < 1e-6 and perfect["nme_dense_mean"] < 1e-6 and perfect["pose_mae_deg"] < 1e-4
    assert perfect["attribute_accuracy/Smiling"] == 1.0 and perfect["identity_eer"] < 1e-6
    shifted = evaluate_synthetic(Oracle(noise=0.01), samples, clean.attribute_names)
    assert shifted["nme_mean"] > 0.005
