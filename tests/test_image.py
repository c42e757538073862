"""Every kind of bad image gets a clear ImageError, or a correct answer; never a backend traceback."""
import cv2
import numpy as np
import pytest

import edgeface
from edgeface.image import load_image


@pytest.fixture(scope="module")
def rec(fixture_pack):
    return edgeface.Reconstructor("auto", model=fixture_pack)


@pytest.mark.parametrize("array, message", [
    (np.zeros((0, 0, 3), np.uint8), "empty"),
    (np.zeros((10, 10), np.uint8), "grayscale"),
    (np.zeros((10, 10, 1), np.uint8), "grayscale"),
    (np.zeros((10, 10, 4), np.uint8), "alpha"),
    (np.zeros((10, 10, 3), np.uint16), "16-bit"),
    (np.zeros((10, 10, 3), np.float32), "floating point"),
    (np.zeros((10, 10, 3), np.int32), "uint8"),
    (np.zeros((10, 10, 3, 2), np.uint8), "shape"),
])
def test_bad_arrays_are_refused_with_a_reason(rec, array, message):
    with pytest.raises(edgeface.ImageError, match=message):
        rec(array)


def test_not_an_array_or_path(rec):
    with pytest.raises(edgeface.ImageError, match="file path or a numpy array"):
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
    big[y0:y0 + face.shape[0], x0:x0 + face.shape[1]] = face
    small = rec(face_image)
    found = rec(big)
    assert len(found) == 1
    expected = small[0].box * scale + np.array([x0, y0, x0, y0])
    side = expected[2] - expected[0]
    # box and landmarks land where the small image's do, to within 5 % of the face size (the detector sees the face at another scale)
    assert np.abs(found[0].box - expected).max() < 0.05 * side
    landmarks = small[0].landmarks[:, :2] * scale + np.array([x0, y0])
    assert np.abs(found[0].landmarks[:, :2] - landmarks).max() < 0.05 * side
