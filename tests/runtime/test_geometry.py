import cv2
import numpy as np
import pytest

from edgeface.runtime.geometry import Crop, euler_to_matrix, iou, matrix_to_euler, square_crop


def test_euler_round_trip():
    rng = np.random.default_rng(0)
    for pitch, yaw, roll in rng.uniform(-1.2, 1.2, (50, 3)):
        r = euler_to_matrix(pitch, yaw, roll)
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
        np.testing.assert_allclose(matrix_to_euler(r), (pitch, yaw, roll), atol=1e-5)


def test_signs_follow_aflw():
    """AFLW's labels: +yaw puts the nose on the image's left, +pitch raises it, +roll turns clockwise."""
    nose = np.array([0.0, 0.0, 1.0])  # model z points at the viewer; model x is image-right, y is up
    assert (euler_to_matrix(0, np.radians(30), 0) @ nose)[0] < 0
    assert (euler_to_matrix(np.radians(20), 0, 0) @ nose)[1] > 0
    right = euler_to_matrix(0, 0, np.radians(20)) @ np.array([1.0, 0.0, 0.0])
    assert -right[1] > 0  # image y grows downwards: the face's right side dips, i.e. clockwise


def test_square_crop_rule():
    crop = square_crop([100, 200, 200, 320], scale=1.5, shift_y=0.1)
    assert crop.size == pytest.approx(1.5 * 110)
    assert crop.x0 + crop.size / 2 == pytest.approx(150)
    assert crop.y0 + crop.size / 2 == pytest.approx(260 + 12)
    with pytest.raises(ValueError):
        square_crop([10, 10, 10, 20], 1.5)


@pytest.mark.parametrize("out_size", [32, 64, 120])
def test_affine_matches_point_mapping(out_size):
    """A smooth blob warped by Crop.affine lands where Crop.to_crop says it does."""
    y, x = 140, 230
    yy, xx = np.mgrid[0:300, 0:400]
    image = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 12.0**2)).astype(np.float32)
    crop = Crop(150.5, 80.25, 180.0)
    warped = cv2.warpAffine(image, crop.affine(out_size), (out_size, out_size), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(warped > 1e-6)
    w = warped[ys, xs]
    centre = np.array([(xs * w).sum() / w.sum(), (ys * w).sum() / w.sum()])
    expected = crop.to_crop(np.array([x, y], np.float32)) * out_size - 0.5
    np.testing.assert_allclose(centre, expected, atol=0.05)
    np.testing.assert_allclose(crop.to_image(crop.to_crop(np.array([[x, y]], np.float32))), [[x, y]], atol=1e-4)


def test_iou_values():
    box = np.array([0, 0, 10, 10])
    got = iou(box, [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(got, [1.0, 50 / 150, 0.0, 0.25])


def test_aflw2000_angles_read_a_rotation_in_the_labels_convention():
    """AFLW2000-3D composes R = Rx(-pitch) Ry(-yaw) Rz(-roll); edgeface's own angles compose the same
    rotations in the other order. Built in the labels' order, a rotation reads back its angles;
    near frontal both conventions agree, at large yaw they do not."""
    from edgeface.tools.evaluate import aflw2000_angles

    def r(axis, a):
        c, s = np.cos(a), np.sin(a)
        return {
            "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
        }[axis]

    for pitch, yaw, roll in [(10.0, -20.0, 5.0), (-25.0, 75.0, 30.0), (15.0, -80.0, -20.0)]:
        p, y, rl = np.radians([pitch, yaw, roll])
        labels_order = r("x", -p) @ r("y", -y) @ r("z", -rl)
        np.testing.assert_allclose(aflw2000_angles(labels_order), [pitch, yaw, roll], atol=1e-6)
    small = euler_to_matrix(*np.radians([3.0, 4.0, 2.0]))
    np.testing.assert_allclose(aflw2000_angles(small), [3.0, 4.0, 2.0], atol=0.3)  # second order: 0.21 at most
    large = aflw2000_angles(euler_to_matrix(*np.radians([20.0, 70.0, 20.0])))
    assert abs(large[0] - 20.0) > 5.0 or abs(large[2] - 20.0) > 5.0
