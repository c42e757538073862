"""`edgeface run VIDEO` keeps memory flat: 20,000 frames, resident memory sampled from outside the
process, within 30 MB of where it stood once warm (it used to grow by 15 KB a frame)."""

import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

FRAMES = 20_000
MAX_GROWTH_MB = 30


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@pytest.mark.slow
def test_memory_stays_flat_over_20000_frames(face_image, tmp_path):
    if not Path("/proc/self/status").exists():
        pytest.skip("samples memory through /proc (Linux)")
    clip = tmp_path / "long.avi"
    face = cv2.resize(face_image, (120, 120), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30, (192, 144))
    assert writer.isOpened()
    for i in range(FRAMES):
        frame = np.zeros((144, 192, 3), np.uint8)
        x = 20 + int(25 * (1 + np.sin(i / 50)))  # the face drifts to and fro
        frame[12:132, x : x + 120] = face
        writer.write(frame)
    writer.release()
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeface.cli", "run", str(clip), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    samples = []  # (seconds, MB)
    start = time.monotonic()
    while process.poll() is None:
        rss = _rss_mb(process.pid)
        if rss is not None:
            samples.append((time.monotonic() - start, rss))
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    frames = json.loads((out / "long_tracks.json").read_text())["frames"]
    assert len(frames) == FRAMES and frames[-1]["frame"] == FRAMES - 1
    assert sum(bool(frame["faces"]) for frame in frames) > 0.95 * FRAMES
    elapsed = samples[-1][0]
    warm = [mb for t, mb in samples if t >= 0.1 * elapsed]
    growth = max(warm) - warm[0]
    print(f"RSS {warm[0]:.0f} MB once warm, peak {max(warm):.0f} MB over {FRAMES} frames ({elapsed:.0f} s)")
    assert growth <= MAX_GROWTH_MB, f"resident memory grew by {growth:.1f} MB"
