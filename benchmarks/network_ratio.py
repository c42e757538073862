"""The network's time against MediaPipe's face_landmark.tflite in one run, interleaved.

    python benchmarks/network_ratio.py [--model PACK ...] [--rounds 30] [--calls 20]

Each pack's TFLite INT8 network and MediaPipe's, batch 1, one thread, the same interpreter
(`edgeface.tools.bench` cases), timed in alternating rounds so that a busy machine slows them
alike; prints each one's median and the ratio of medians. Needs the `bench` extra for the peer.
"""

from __future__ import annotations

import argparse

import numpy as np

from edgeface.tools import bench


def timed_cases(models, precision: str) -> dict[str, object]:
    calls = {}
    for model in models:
        for case in bench.cases(model, threads=(1,), batches=(1,)):
            if case.name == f"network/tflite/{precision}/t1/b1":
                calls[f"{model or 'default'} tflite {precision}"] = case.make()
    peer = [c for c in bench.cases(models[0], threads=(1,), batches=(1,)) if c.name.startswith("network/mediapipe")]
    if not peer:
        raise SystemExit(
            "MediaPipe's face_landmark.tflite not found: pip install 'edgeface[bench]' (its own environment)"
        )
    calls["mediapipe face_landmark fp32"] = peer[0].make()
    return calls


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", action="append", default=None, help="a pack folder (repeatable; default: the shipped one)"
    )
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--calls", type=int, default=20, help="calls per case per round")
    args = parser.parse_args(argv)
    times = bench.interleaved(timed_cases(args.model or [None], args.precision), args.rounds, args.calls)
    peer = float(np.median(times["mediapipe face_landmark fp32"]))
    for name, t in times.items():
        med = float(np.median(t))
        print(
            f"{name:60s} median {med:.3f} ms (p10 {np.percentile(t, 10):.3f}, p90 {np.percentile(t, 90):.3f})"
            f"  {med / peer:.2f}x MediaPipe"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
