"""Experiment (docs/experiments.md, "What the branches cost, and where age and gender go wrong"):
the time of the shipped network's parts, from fp32 TFLite files of the network with parts left out
(trunk and head; with the attribute branch; with the eyelid branch; whole), 1 thread, interleaved.

    python docs/experiments/branch_cost.py [CHECKPOINT]

CHECKPOINT: the eyelid stage's (`edgeface train --recipe recipes/edgeface-0.4.3.json --stop-after eyelids`).
"""

import sys
import tempfile

import numpy as np
import torch

from edgeface.export.fp32 import model_cost
from edgeface.tools import bench
from edgeface.train.build import load_checkpoint
from edgeface.train.morphable import MorphableModel


class Trunk(torch.nn.Module):
    """The trunk and head, and optionally one branch on the tap (the tap's mean otherwise, so the
    tap is computed either way)."""

    def __init__(self, model, branch=None):
        super().__init__()
        self.model, self.branch = model, branch

    def forward(self, x):
        pooled, tap = self.model.backbone(x, tap=self.model.branch_tap)
        return self.model.head(pooled), (self.branch(tap) if self.branch is not None else tap.mean((2, 3)))


def main():
    import litert_torch
    from ai_edge_litert.interpreter import Interpreter

    checkpoint = sys.argv[1] if len(sys.argv) > 1 else "runs/edgeface-0.4.3/eyelids/eyelids.pt"
    model = load_checkpoint(checkpoint, MorphableModel.load(None), "cpu").eval()
    parts = {
        "trunk and head": Trunk(model),
        "with the attribute branch": Trunk(model, model.branch),
        "with the eyelid branch": Trunk(model, model.eyelids),
        "whole": model,
    }
    folder, x = tempfile.mkdtemp(), np.random.default_rng(0).random((1, 3, 112, 112), np.float32)
    calls = {}
    for name, net in parts.items():
        path = f"{folder}/{len(calls)}.tflite"
        litert_torch.convert(net.eval(), (torch.zeros(1, 3, 112, 112),)).export(path)
        interpreter = Interpreter(model_path=path, num_threads=1)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        calls[name] = interpreter.invoke
        print(f"{name}: {model_cost(net, 112)['macs'] / 1e6:.1f} M multiply-adds")
    for name, t in bench.interleaved(calls, rounds=15, per_round=20).items():
        print(f"{name:28s} median {np.median(t):.3f} ms")


if __name__ == "__main__":
    main()
