"""Network accuracy/latency report: `python benchmarks/report.py` writes docs/network_benchmarks.md and
docs/latency_vs_nme.png from one run (end to end against MediaPipe: benchmarks/end_to_end.py, docs/benchmarks.md).

It runs the pytest-benchmark suite (benchmarks/, JSON output) and `edgeface evaluate` for every
installed backend x precision of the shipped model, then tabulates latency (with ratios to
MediaPipe's face-landmark network, when the `bench` extra is installed), accuracy and model cost,
and plots network latency against balanced NME. `--benchmark-json FILE` reuses an earlier run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def run_benchmarks(json_path: Path, quick: bool) -> None:
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(ROOT / "benchmarks"),
        "-q",
        "--benchmark-only",
        f"--benchmark-json={json_path}",
        "-p",
        "no:cacheprovider",
    ]
    args += ["--benchmark-min-rounds=5", "--benchmark-max-time=0.2" if quick else "--benchmark-max-time=1.0"]
    subprocess.run(args, check=True, cwd=ROOT)


def evaluate_all(root) -> list[dict]:
    import edgeface
    from edgeface.runtime import backends
    from edgeface.runtime.pack import read_manifest
    from edgeface.tools.datasets import Aflw2000
    from edgeface.tools.evaluate import evaluate_landmarks

    dataset = Aflw2000.load(root)
    manifest = read_manifest()
    results = []
    for backend in ("tflite", "onnx", "openvino"):
        if backend not in backends.installed():
            continue
        for precision in manifest.precisions(backends.BACKENDS[backend].file_format):
            rec = edgeface.Reconstructor(backend, precision=precision)
            r = evaluate_landmarks(rec, dataset, progress=False)
            r.update(backend=backend, precision=precision)
            results.append(r)
            print(f"evaluated {backend}/{precision}: balanced NME {r['nme_balanced']:.4f}", flush=True)
    return results


def plot(points, peer_ms, path: Path) -> None:
    """Latency (x) against balanced NME (y), drawn with OpenCV (no plotting dependency)."""
    w, h, m = 720, 440, 70
    img = np.full((h, w, 3), 255, np.uint8)
    xs = [p[1] for p in points] + ([peer_ms] if peer_ms else [])
    ys = [p[2] * 100 for p in points]
    x_max = max(xs) * 1.3
    y_lo, y_hi = 0.0, max(ys) * 1.3

    def to_px(x, y):
        return int(m + x / x_max * (w - 2 * m)), int(h - m - (y - y_lo) / (y_hi - y_lo) * (h - 2 * m))

    cv2.line(img, (m, h - m), (w - m, h - m), (0, 0, 0), 1)
    cv2.line(img, (m, m), (m, h - m), (0, 0, 0), 1)
    for k in range(6):
        x = x_max * k / 5
        px, _ = to_px(x, y_lo)
        cv2.putText(img, f"{x:.2f}", (px - 14, h - m + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        y = y_lo + (y_hi - y_lo) * k / 5
        _, py = to_px(0, y)
        cv2.putText(img, f"{y:.1f}", (m - 40, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        "network latency, batch 1, 1 thread (ms)",
        (w // 2 - 150, h - 20),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.5,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    cv2.putText(
        img, "balanced NME (%), AFLW2000-3D dev", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
    )
    if peer_ms:
        px, _ = to_px(peer_ms, y_lo)
        for y in range(m, h - m, 12):
            cv2.line(img, (px, y), (px, y + 6), (0, 0, 220), 1)
        cv2.putText(
            img,
            "MediaPipe face_landmark",
            (px + 5, m + 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 220),
            1,
            cv2.LINE_AA,
        )
        cv2.putText(
            img,
            "(468 points: no 68-point NME)",
            (px + 5, m + 28),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 220),
            1,
            cv2.LINE_AA,
        )
    for k, (label, ms, nme) in enumerate(points):
        px, py = to_px(ms, nme * 100)
        cv2.circle(img, (px, py), 5, (200, 100, 0), -1, cv2.LINE_AA)
        cv2.putText(
            img, label, (px + 8, py - 6 - 14 * (k % 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (60, 60, 60), 1, cv2.LINE_AA
        )
    cv2.imwrite(str(path), img)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark-json", default=None, help="reuse this pytest-benchmark JSON instead of running")
    parser.add_argument("--root", default=None, help="AFLW2000-3D dev folder (default: $EDGEFACE_DATA/aflw2000_dev)")
    parser.add_argument("--out", default=str(ROOT / "docs"))
    parser.add_argument("--quick", action="store_true", help="few rounds (CI)")
    args = parser.parse_args(argv)
    from edgeface import __version__
    from edgeface.cli.common import cpu_features
    from edgeface.runtime.pack import read_manifest
    from edgeface.tools.datasets import data_root

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.benchmark_json:
        bench_json = Path(args.benchmark_json)
    else:
        bench_json = Path(tempfile.mkdtemp()) / "benchmark.json"
        run_benchmarks(bench_json, args.quick)
    runs = {b["param"]: b for b in json.loads(bench_json.read_text())["benchmarks"] if b.get("param")}
    median = {name: b["stats"]["median"] * 1000 for name, b in runs.items()}
    root = Path(args.root) if args.root else data_root() / "aflw2000_dev"
    accuracy = evaluate_all(root)
    manifest = read_manifest()

    peer = {name.split("/")[3]: ms for name, ms in median.items() if name.startswith("network/mediapipe")}
    lines = [
        f"# edgeface benchmarks: {manifest.name}",
        "",
        f"Made by `python benchmarks/report.py` (edgeface {__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, CPU features: {', '.join(cpu_features()) or 'unknown'}). Medians of "
        "pytest-benchmark rounds; ratios are to MediaPipe's face_landmark.tflite run through the same LiteRT "
        "interpreter with the same thread count.",
        "",
        "## Latency",
        "",
        "| case | median ms | vs MediaPipe network |",
        "| --- | --- | --- |",
    ]
    for name, ms in sorted(median.items()):
        parts = name.split("/")
        ratio = ""
        if (
            parts[0] == "network"
            and "mediapipe" not in name
            and len(parts) > 4
            and parts[3] in peer
            and parts[4] == "b1"
        ):
            ratio = f"{ms / peer[parts[3]]:.2f}x"
        lines.append(f"| `{name}` | {ms:.3f} | {ratio} |")
    lines += [
        "",
        "## Accuracy (AFLW2000-3D dev, 500 images, ROI crops)",
        "",
        "| backend | precision | NME 0-30 | 30-60 | 60-90 | balanced | mean | pose MAE (deg) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    points = []
    for r in accuracy:
        lines.append(
            f"| {r['backend']} | {r['precision']} | {100 * r['nme_0_30']:.2f} % | {100 * r['nme_30_60']:.2f} % | "
            f"{100 * r['nme_60_90']:.2f} % | {100 * r['nme_balanced']:.2f} % | {100 * r['nme_mean']:.2f} % | "
            f"{r['pose_mae_deg']:.2f} |"
        )
        key = f"network/{r['backend']}/{r['precision']}/t1/b1"
        if key in median:
            points.append((f"{r['backend']} {r['precision']}", median[key], r["nme_balanced"]))
    cost = manifest.data.get("cost", {})
    lines += [
        "",
        "## Model cost",
        "",
        f"Parameters: {cost.get('parameters', 0):,}; multiply-adds per face: {cost.get('macs', 0):,}.",
        "",
        "| file | format | precision | size (MB) |",
        "| --- | --- | --- | --- |",
    ]
    for f in manifest.files:
        size = sum(p.stat().st_size for p in (f.path, *f.companions))
        lines.append(f"| `{f.path.name}` | {f.format} | {f.precision} | {size / 1e6:.2f} |")
    lines += ["", "![latency against accuracy](latency_vs_nme.png)", ""]
    (out / "network_benchmarks.md").write_text("\n".join(lines))
    plot(points, peer.get("t1"), out / "latency_vs_nme.png")
    print(f"wrote {out / 'network_benchmarks.md'} and {out / 'latency_vs_nme.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
