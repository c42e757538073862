"""What the second pass (`refine`, the default) costs a photo: one pass against two, interleaved.

    python benchmarks/refine_cost.py [--backend tflite] [--rounds 20] [--calls 10]

The shipped synthetic portrait (one face, 450x450), the detector and the network on one thread,
timed in alternating rounds so that a busy machine slows both alike; prints each one's median and
their ratio. The accuracy side of the trade is in the model card ("Refine").
"""

from __future__ import annotations

import argparse

import numpy as np


def main(argv=None) -> int:
    import cv2

    import edgeface
    from edgeface.tools.bench import interleaved, sample_image

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--model", default=None, help="a pack folder (default: the shipped one)")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10, help="calls per case per round")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    image = sample_image()
    recs = {
        passes: edgeface.Reconstructor(
            args.backend, model=args.model, precision=args.precision, num_threads=1, refine=passes == 2
        )
        for passes in (1, 2)
    }
    for rec in recs.values():
        if len(rec(image)) != 1:
            raise SystemExit("the portrait should give one face")
    times = interleaved(
        {passes: (lambda rec=rec: rec(image)) for passes, rec in recs.items()}, args.rounds, args.calls, warmup=1
    )
    one = float(np.median(times[1]))
    for passes, t in times.items():
        rec, med = recs[passes], float(np.median(t))
        print(
            f"{rec.backend} {rec.precision}, {passes} pass{'es' if passes > 1 else ''}: median {med:.2f} ms "
            f"(p10 {np.percentile(t, 10):.2f}, p90 {np.percentile(t, 90):.2f})  {med / one:.2f}x one pass"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
