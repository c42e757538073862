"""Run the shipped INT8 models on given crops and save what they produce (the same script on x86-64
and, under qemu, on aarch64; tests/test_aarch64.py compares the two). Needs only the runtime."""

import platform
import sys

import numpy as np

from edgeface.runtime.model import Model
from edgeface.runtime.pack import read_manifest


def main(crops_path: str, out_path: str, reference_faces: int = 2) -> None:
    crops = np.load(crops_path)
    manifest = read_manifest()
    saved = {"machine": np.array(platform.machine())}
    for backend in ("tflite", "onnx"):
        model = Model(manifest, backend, "int8", num_threads=1)
        saved[f"{backend}/input"] = model.preprocess(crops)
        for name, value in model(crops).items():
            saved[f"{backend}/{name}"] = value
    # TFLite's reference kernels, keeping every intermediate int8 tensor.
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    tflite = Model(manifest, "tflite", "int8", num_threads=1)
    for i in range(reference_faces):
        interpreter = Interpreter(
            model_path=str(tflite.file.path),
            num_threads=1,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            experimental_preserve_all_tensors=True,
        )
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tflite.preprocess(crops[i : i + 1]))
        interpreter.invoke()
        for detail in interpreter.get_output_details():
            saved[f"reference/{i}/output/{detail['name']}"] = interpreter.get_tensor(detail["index"])
        for detail in interpreter.get_tensor_details():
            if detail["dtype"] == np.int8:
                try:
                    saved[f"reference/{i}/int8/{detail['index']}"] = interpreter.get_tensor(detail["index"])
                except ValueError:  # constant tensors without data of their own
                    pass
    np.savez(out_path, **saved)


if __name__ == "__main__":
    main(*sys.argv[1:3])
