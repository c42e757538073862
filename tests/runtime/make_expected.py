"""Write the runtime's expected outputs on the synthetic portrait (tests/runtime/expected/portrait.json).

    python tests/runtime/make_expected.py

Run it when a change is meant to change the outputs (a new default pack, a new crop rule), and say
so in the commit; test_expected_outputs.py holds every later run to these figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from conftest import COMMITTED_FIXTURE_PACK, PORTRAIT  # noqa: E402

#: (pack, backend, precision) rows: the default pack as users run it, and the fixture pack
ROWS = [
    ("default", "onnx", "fp32"),
    ("default", "onnx", "int8"),
    ("default", "openvino", "fp32"),
    ("default", "openvino", "int8"),
    ("default", "tflite", "fp32"),
    ("default", "tflite", "int8"),
    ("fixture", "onnx", "fp32"),
    ("fixture", "openvino", "fp32"),
    ("fixture", "tflite", "fp32"),
]


def outputs(pack: str, backend: str, precision: str) -> list[dict]:
    import edgeface

    rec = edgeface.Reconstructor(
        backend, model=None if pack == "default" else COMMITTED_FIXTURE_PACK, precision=precision
    )
    faces = rec(str(PORTRAIT))
    return [
        {
            "box": f.box.tolist(),
            "landmarks": np.round(f.landmarks, 3).tolist(),
            "angles": [f.pose.yaw, f.pose.pitch, f.pose.roll],
            "scale": f.pose.scale,
            "identity": np.round(f.identity, 4).tolist(),
            "embedding": np.round(f.embedding, 4).tolist(),
            "attributes": {k: round(v, 4) for k, v in f.attributes.items()},
            "expression": {k: round(v, 4) for k, v in f.expression.items()},
            "age": f.age,
            "gender": f.gender,
        }
        for f in faces
    ]


def main() -> int:
    table = {f"{p}/{b}/{q}": outputs(p, b, q) for p, b, q in ROWS}
    path = HERE / "expected" / "portrait.json"
    path.write_text(json.dumps(table, indent=1) + "\n")
    print(f"{path}: {len(table)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
