"""examples/ run as a user runs them: the gallery on the shipped portraits, the webcam script on a
synthesised clip standing in for a camera."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, cwd):
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_gallery_draws_every_portrait(tmp_path):
    run = _run(ROOT / "examples" / "gallery.py", "--out", tmp_path / "gallery.png", "--side", "200", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    portraits = sorted((ROOT / "examples" / "portraits").glob("*.jpg"))
    assert run.stdout.count("Face(box=") == len(portraits) >= 4
    assert cv2.imread(str(tmp_path / "gallery.png")).shape[:2] == (200 * len(portraits), 400)


def test_webcam_script_tracks_a_stand_in_clip(tmp_path):
    portrait = cv2.imread(str(ROOT / "edgeface" / "runtime" / "assets" / "portrait.jpg"))
    clip = tmp_path / "camera.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for i in range(12):
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[15:465, 20 + 10 * i : 470 + 10 * i] = portrait
        writer.write(frame)
    writer.release()
    run = _run(
        ROOT / "examples" / "webcam.py", "--source", clip, "--frames", 10, "--out", tmp_path / "o.mp4", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.startswith("frame ")]
    assert len(lines) == 10 and all("track 0 " in line for line in lines)
    assert "detector ran on 1" in run.stdout
    assert int(cv2.VideoCapture(str(tmp_path / "o.mp4")).get(cv2.CAP_PROP_FRAME_COUNT)) == 10
