"""Every kind of bad image gets a clear ImageError, or a correct answer; never a backend traceback."""

import json
import subprocess
import sys

import cv2
import hostile
import numpy as np
import pytest

import edgeface
from edgeface.runtime.image import load_image


@pytest.fixture(scope="module")
def rec(fixture_pack):
    return edgeface.Reconstructor("auto", model=fixture_pack)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((0, 0, 3), np.uint8), "empty"),
        (np.zeros((10, 10), np.uint8), "grayscale"),
        (np.zeros((10, 10, 1), np.uint8), "grayscale"),
        (np.zeros((10, 10, 4), np.uint8), "alpha"),
        (np.zeros((10, 10, 3), np.uint16), "16-bit"),
        (np.zeros((10, 10, 3), np.float32), "floating point"),
        (np.zeros((10, 10, 3), np.int32), "uint8"),
        (np.zeros((10, 10, 3, 2), np.uint8), "shape"),
    ],
)
def test_bad_arrays_are_refused_with_a_reason(rec, array, message):
    with pytest.raises(edgeface.ImageError, match=message):
        rec(array)


def test_not_an_array_or_path(rec):
    with pytest.raises(edgeface.ImageError, match="file path, file bytes or a numpy array"):
        rec([[1, 2, 3]])


def test_missing_and_non_image_files(rec, tmp_path):
    with pytest.raises(edgeface.ImageError, match="not found"):
        rec(tmp_path / "nope.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(edgeface.ImageError, match="empty"):
        rec(tmp_path / "empty.jpg")
    (tmp_path / "text.jpg").write_text("this is not an image")
    with pytest.raises(edgeface.ImageError, match="cannot decode"):
        rec(tmp_path / "text.jpg")
    with pytest.raises(edgeface.ImageError, match="directory"):
        rec(tmp_path)


def test_truncated_jpeg_and_png_are_refused(rec, face_image, tmp_path):
    for ext in (".jpg", ".png"):
        ok, data = cv2.imencode(ext, face_image)
        path = tmp_path / f"cut{ext}"
        path.write_bytes(data.tobytes()[: len(data) * 2 // 3])
        with pytest.raises(edgeface.ImageError, match="truncated"):
            rec(path)


def test_tiny_image_gives_no_face(rec):
    assert rec(np.full((1, 1, 3), 128, np.uint8)) == []


def test_blank_and_noise_images_give_no_face(rec):
    assert rec(np.full((480, 640, 3), 200, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    assert rec(noise) == []


def test_grayscale_16bit_and_alpha_files_are_read_as_colour(rec, face_image, tmp_path):
    """Files in those formats are legitimate photos: they are converted, and give the same face."""
    reference = rec(face_image)
    assert len(reference) == 1
    gray = cv2.cvtColor(face_image, cv2.COLOR_BGR2GRAY)
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    cv2.imwrite(str(tmp_path / "deep.png"), face_image.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "alpha.png"), cv2.cvtColor(face_image, cv2.COLOR_BGR2BGRA))
    assert np.array_equal(load_image(tmp_path / "deep.png"), face_image)
    assert np.array_equal(load_image(tmp_path / "alpha.png"), face_image)
    assert load_image(tmp_path / "gray.png").shape == face_image.shape
    for name in ("deep.png", "alpha.png"):
        faces = rec(tmp_path / name)
        assert len(faces) == 1
        np.testing.assert_allclose(faces[0].landmarks, reference[0].landmarks, atol=1e-3)
    assert len(rec(tmp_path / "gray.png")) == 1


def test_rgb_input_matches_bgr(rec, face_image):
    bgr = rec(face_image)
    rgb = rec(face_image[..., ::-1].copy(), color="rgb")
    np.testing.assert_allclose(rgb[0].dense, bgr[0].dense, atol=1e-4)


def test_very_large_image_finds_the_face_at_the_right_place(rec, face_image):
    """An 8000x8000 image: detection runs on a downscaled copy, the crop on the original."""
    big = np.zeros((8000, 8000, 3), np.uint8)
    scale = 16
    face = cv2.resize(face_image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    y0, x0 = 500, 400
    big[y0 : y0 + face.shape[0], x0 : x0 + face.shape[1]] = face
    small = rec(face_image)
    found = rec(big)
    assert len(found) == 1
    expected = small[0].box * scale + np.array([x0, y0, x0, y0])
    side = expected[2] - expected[0]
    # box and landmarks land where the small image's do, to within 5 % of the face size (the detector
    # sees the face at another scale)
    assert np.abs(found[0].box - expected).max() < 0.05 * side
    landmarks = small[0].landmarks[:, :2] * scale + np.array([x0, y0])
    assert np.abs(found[0].landmarks[:, :2] - landmarks).max() < 0.05 * side


# --- hostile files (issue 18): bombs refused from the header, EXIF applied, trailers accepted ---

REFUSE_IN_FRESH_PROCESS = """
import json, resource, sys, time
from edgeface.runtime.errors import ImageError
from edgeface.runtime.image import load_image
load_image(sys.argv[2])  # warm the decoder: its first call allocates its own tables
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    load_image(sys.argv[1])
    outcome = "decoded"
except ImageError as error:
    outcome = str(error)
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"outcome": outcome, "grown_kb": grown, "seconds": seconds}))
"""


@pytest.fixture(scope="module")
def bombs(face_image):
    return hostile.bombs(face_image)


@pytest.mark.parametrize(
    "name",
    [
        "jpeg_22343x43084",
        "png_20000x20000",
        "png_60000x60000",
        "jpeg_65000x65000",
        "png_9000x9000_tiny",
        "jpeg_9000x9000_4kb",
    ],
)
def test_decompression_bombs_are_refused_from_the_header(bombs, face_image, tmp_path, name):
    """Refused with an ImageError, and without allocating their pixels: peak memory of a fresh
    process grows by under 20 MB (the smallest bomb would need 240 MB). Their refusal time is in
    benchmarks/test_hostile_images.py."""
    small = hostile.jpeg(face_image)
    (tmp_path / "ok.jpg").write_bytes(small)
    path = tmp_path / name
    path.write_bytes(bombs[name])
    run = subprocess.run(
        [sys.executable, "-c", REFUSE_IN_FRESH_PROCESS, str(path), str(tmp_path / "ok.jpg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["outcome"] != "decoded"
    assert ("over the limit" in result["outcome"]) or ("too few" in result["outcome"]), result["outcome"]
    assert result["grown_kb"] < 20_000, result


def test_bomb_sizes_are_what_the_issue_describes(bombs):
    assert 15_000 <= len(bombs["jpeg_22343x43084"]) <= 17_000
    assert 1_000_000 < len(bombs["png_20000x20000"]) < 1_400_000


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(
    "encode, tag", [(hostile.png, hostile.with_png_orientation), (hostile.jpeg, hostile.with_jpeg_orientation)]
)
def test_exif_orientation_is_applied(face_image, orientation, encode, tag):
    """Every orientation a camera writes comes back upright: exactly for PNG (lossless), and for
    JPEG as the upright photo's own JPEG decodes, to within JPEG noise."""
    stored = np.ascontiguousarray(hostile.STORE[orientation](face_image))
    upright = load_image(tag(encode(stored), orientation))
    assert upright.shape == face_image.shape
    if encode is hostile.png:
        assert np.array_equal(upright, face_image)
    else:
        assert np.abs(upright.astype(int) - face_image).mean() < 3


def test_sideways_phone_photo_gets_the_upright_pose(rec, face_image, tmp_path):
    """A photo stored sideways with Orientation=6 (how phones save portrait shots) gives the pose
    of the upright photo, within 2 degrees."""
    upright_file = tmp_path / "upright.jpg"
    upright_file.write_bytes(hostile.jpeg(face_image))
    sideways_file = tmp_path / "sideways.jpg"
    sideways_file.write_bytes(hostile.with_jpeg_orientation(hostile.jpeg(np.rot90(face_image, 1).copy()), 6))
    upright, sideways = rec(upright_file), rec(sideways_file)
    assert len(upright) == len(sideways) == 1
    for angle in ("yaw", "pitch", "roll"):
        assert abs(getattr(sideways[0].pose, angle) - getattr(upright[0].pose, angle)) < 2.0, angle


def test_trailing_data_after_the_end_marker_is_accepted(face_image, tmp_path):
    """Phone trailers and Motion Photo videos follow the image's end marker; the image is the same."""
    trailer = b"MotionPhoto_Data" + bytes(range(256)) * 40
    for encode in (hostile.jpeg, hostile.png):
        data = encode(face_image)
        path = tmp_path / "trailer.img"
        path.write_bytes(data + trailer)
        assert np.array_equal(load_image(path), load_image(data))


def test_every_decoder_error_is_an_image_error(face_image):
    """Bit flips and cuts in every part of a JPEG and a PNG: an image or an ImageError, nothing else."""
    rng = np.random.default_rng(18)
    outcomes = {"decoded": 0, "refused": 0}
    for encode in (hostile.jpeg, hostile.png):
        data = np.frombuffer(encode(face_image[:96, :96].copy()), np.uint8)
        for _ in range(150):
            mutated = data.copy()
            spots = rng.integers(0, len(mutated), rng.integers(1, 8))
            mutated[spots] = rng.integers(0, 256, len(spots))
            mutated = mutated[: rng.integers(len(mutated) // 2, len(mutated) + 1)] if rng.random() < 0.3 else mutated
            try:
                image = load_image(mutated.tobytes())
                assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
                outcomes["decoded"] += 1
            except edgeface.ImageError:
                outcomes["refused"] += 1
    assert outcomes["decoded"] > 0 and outcomes["refused"] > 0, outcomes
