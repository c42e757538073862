"""`Model`: one file of a pack on one backend, and the one pre/post-processing path for all of them.

It checks that the file is the one the manifest describes, and turns crops into named float
outputs; it is the only place that normalises, transposes, quantizes or dequantizes, whatever the
backend (edgeface.runtime.backends).
"""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from . import backends
from .errors import BackendNotInstalledError, ModelError, OptionError
from .pack import MAX_MODEL_BYTES, Manifest, ModelFile, check_pack_file, read_pack_file


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integer tensor values to float32: (q - zero_point) * scale, in float32 (the apps' rule too)."""
    return (values.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def default_precision(file_format: str, available: list[str]) -> str:
    """What precision='auto' picks: int8 where this CPU runs it faster (edgeface.runtime.cpu), else fp32."""
    from .cpu import int8_is_faster

    order = ("int8", "fp32") if int8_is_faster(file_format) else ("fp32", "int8")
    for precision in order:
        if precision in available:
            return precision
    return available[0]


class Model:
    """One model file running on one backend, with the shared pre- and post-processing."""

    def __init__(
        self, manifest: Manifest, backend: str = "auto", precision: str = "auto", num_threads: int | None = None
    ):
        self.manifest = manifest
        self.backend_name, self.file = self._choose(manifest, backend, precision)
        # every file checked before any is read (inside the pack, regular, within the limit together);
        # then read once, hash what was read, and hand the backend those bytes: it opens no file itself
        size = sum(check_pack_file(manifest, path) for path in (self.file.path, *self.file.companions))
        if size > MAX_MODEL_BYTES:
            raise ModelError(f"model file {self.file.path} is {size:,} bytes, over the limit of {MAX_MODEL_BYTES:,}")
        content = read_pack_file(manifest, self.file.path)
        companions = {path.name: read_pack_file(manifest, path) for path in self.file.companions}
        digest = hashlib.sha256(content)
        for data in companions.values():
            digest.update(data)
        if digest.hexdigest() != self.file.sha256:
            raise ModelError(
                f"model file {self.file.path} does not match its manifest's sha256: "
                "the file is corrupt or belongs to another model"
            )
        try:
            self.backend = backends.load(
                self.backend_name, backends.ModelBytes(self.file.path.name, content, companions), num_threads
            )
        except BackendNotInstalledError:
            raise
        except Exception as error:  # the backends' own exceptions have no common base
            raise ModelError(
                f"{self.backend_name} could not load {self.file.path}: "
                f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
            ) from None
        self._output_index = self._check_io()
        self._prepare_constants()

    @staticmethod
    def _choose(manifest: Manifest, backend: str, precision: str) -> tuple[str, ModelFile]:
        if precision not in ("auto", "fp32", "int8", "fp16"):
            raise OptionError(f"precision must be 'auto', 'fp32', 'fp16' or 'int8', not {precision!r}")
        if backend == "auto":
            present = backends.installed()
            order = backends.AUTO_ORDER["int8" if precision == "int8" else "fp32"]
            rest = tuple(n for n in backends.BACKENDS if n not in order and n not in backends.UNSAFE)
            for name in order + rest:
                fmt = backends.BACKENDS[name].file_format
                if (
                    name in present
                    and manifest.precisions(fmt)
                    and (precision == "auto" or precision in manifest.precisions(fmt))
                ):
                    backend = name
                    break
            else:
                raise BackendNotInstalledError(
                    f"no installed backend can run model {manifest.name!r} at precision {precision!r}: "
                    f"it has {sorted({f.format + ':' + f.precision for f in manifest.files})}, installed "
                    f"backends are {', '.join(present) or 'none'}; pip install 'edgeface[onnx]' (or tflite, openvino)"
                )
        spec = backends.require(backend)
        available = manifest.precisions(spec.file_format)
        if not available:
            raise ModelError(
                f"model {manifest.name!r} has no {spec.file_format} file; it has "
                f"{sorted({f.format for f in manifest.files})}"
            )
        if precision == "auto":
            precision = default_precision(spec.file_format, available)
        file = manifest.find_file(spec.file_format, precision)
        if file is None:
            raise ModelError(
                f"model {manifest.name!r} has no {precision} {spec.file_format} file; available precisions: {available}"
            )
        return backend, file

    def _check_io(self) -> list[int]:
        """Match the file's tensors to the manifest; the index of each output in `run`'s list."""
        m, f, b = self.manifest, self.file, self.backend
        where = f"model file {f.path.name} ({b.name})"
        if len(b.inputs) != 1:
            raise ModelError(f"{where} has {len(b.inputs)} inputs; an edgeface model has exactly one")
        size = m.input_size
        expected = (3, size, size) if f.layout == "NCHW" else (size, size, 3)
        got = tuple(b.inputs[0].shape[1:])
        if got != expected:
            raise ModelError(
                f"{where} takes input of shape {got}, but the manifest says {f.layout} "
                f"{expected}: file and manifest do not belong together"
            )
        in_dtype = b.inputs[0].dtype
        want_dtype = "float32" if f.input_quantization is None else "int8"
        if in_dtype not in (want_dtype, "uint8" if f.input_quantization else want_dtype):
            raise ModelError(f"{where} takes {in_dtype} input, the manifest says {want_dtype}")
        self._input_dtype = np.dtype(in_dtype)
        names = [t.name for t in b.outputs]
        index = []
        for out, expected_shape in m.tensor_shapes.items():
            tensor = f.outputs.get(out)
            if tensor not in names:
                raise ModelError(
                    f"{where} has no output tensor {tensor!r} for {out!r} "
                    f"(its outputs: {names}): file and manifest do not belong together"
                )
            i = names.index(tensor)
            shape = tuple(b.outputs[i].shape[1:])
            if shape != expected_shape:
                raise ModelError(
                    f"{where}: output {out!r} has shape {shape}, the manifest implies "
                    f"{expected_shape}: file and manifest do not belong together"
                )
            file_quant = b.outputs[i].quantization
            if b.outputs[i].dtype in ("int8", "uint8") and file_quant is None and out not in f.output_quantization:
                raise ModelError(
                    f"{where}: output {out!r} is {b.outputs[i].dtype} but neither the file nor the "
                    "manifest gives its quantization (scale, zero point)"
                )
            if file_quant is not None and out in f.output_quantization:
                if (
                    not np.allclose(file_quant[0], f.output_quantization[out][0], rtol=1e-5)
                    or file_quant[1] != f.output_quantization[out][1]
                ):
                    raise ModelError(
                        f"{where}: output {out!r} quantization {file_quant} differs from "
                        f"the manifest's {f.output_quantization[out]}"
                    )
            index.append(i)
        return index

    def _prepare_constants(self) -> None:
        m, f = self.manifest, self.file
        # Normalisation is one multiply-add per pixel, x * a + b = (x / 255 - mean) / std, in
        # float32. An int8 input then takes q = rint(v / s) + z: the arithmetic, order and
        # rounding (ties to even) of the QUANTIZE op cut from the file (as LiteRT's XNNPACK runs
        # it), so the cut file sees exactly the tensor the uncut one made for itself.
        self._pixel_scale = (1.0 / (255.0 * m.std)).astype(np.float32)
        self._pixel_offset = (-m.mean / m.std).astype(np.float32)
        self._input_quantization: tuple[np.float32, np.float32] | None = None
        if f.input_quantization is not None:
            s, z = f.input_quantization
            self._input_quantization = (np.float32(s), np.float32(z))
        self._swap_rb = m.channels.upper() == "RGB"
        self._lookup: np.ndarray | None = None

    def normalise(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR crops -> float32 NHWC in the manifest's colour order and scale."""
        x = crops[..., ::-1] if self._swap_rb else crops
        return x.astype(np.float32) * self._pixel_scale + self._pixel_offset

    def encode(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR crops -> the file's input values, NHWC, by the definition:
        `normalise`, then for an integer input the quantization. The runtime's path is `preprocess`."""
        x = self.normalise(crops)
        if self._input_dtype.kind in "iu":
            info = np.iinfo(self._input_dtype)
            assert self._input_quantization is not None  # an integer input always has its quantization
            s, z = self._input_quantization
            x = np.clip(np.rint(x / s) + z, info.min, info.max).astype(self._input_dtype)
        return x

    def _table(self) -> np.ndarray:
        """(1, 256, 3) `encode` of every byte value in every channel, in the file's channel order:
        a pixel's input value depends on its byte and channel alone, so a lookup gives `encode`'s
        values to the bit, with no float round trip for an integer input."""
        if self._lookup is None:
            ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, None, :, None], 3, axis=3)
            self._lookup = np.ascontiguousarray(self.encode(ramp)[0])
        return self._lookup

    def preprocess(self, crops: np.ndarray) -> np.ndarray:
        """(N, S, S, 3) uint8 BGR crops -> the file's input tensor (`encode`'s values, by lookup)."""
        n, size = crops.shape[0], crops.shape[1]
        rows = np.ascontiguousarray(crops).reshape(n * size, size, 3)
        if self._swap_rb:
            rows = cv2.cvtColor(rows, cv2.COLOR_BGR2RGB)
        table = self._table()
        if table.dtype in (np.int8, np.uint8, np.float32):
            x = cv2.LUT(rows, table).reshape(crops.shape)
        else:  # float16 inputs: the same lookup in numpy
            x = table[0][rows, np.arange(3)].reshape(crops.shape)
        if self.file.layout == "NCHW":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x

    def postprocess(self, raw: list[np.ndarray]) -> dict[str, np.ndarray]:
        """The file's outputs -> float32 arrays by name (the manifest's `outputs`)."""
        result = {}
        for name, i in zip(self.manifest.tensor_shapes, self._output_index):
            value = raw[i]
            if value.dtype.kind in "iu":
                quantization = self.file.output_quantization.get(name) or self.backend.outputs[i].quantization
                if quantization is None:
                    raise ModelError(
                        f"model file {self.file.path.name}: integer output {name!r} has no quantization "
                        "in the manifest or the file"
                    )
                value = dequantize(value, *quantization)
            result[name] = np.asarray(value, dtype=np.float32)
        column = self.manifest.age_in_attributes
        if column is not None:  # a schema-1 pack: age is the column after the attribute logits
            result["age"] = result["attributes"][:, column : column + 1]
            result["attributes"] = result["attributes"][:, :column]
        return result

    def __call__(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        if crops.ndim != 4 or crops.shape[1:] != (self.manifest.input_size, self.manifest.input_size, 3):
            raise OptionError(f"crops must be (N, {self.manifest.input_size}, {self.manifest.input_size}, 3) uint8")
        batch = self.preprocess(crops)
        try:
            raw = self.backend.run(batch)
        except MemoryError:
            raise ModelError(f"model file {self.file.path.name} ran out of memory on a batch of {len(crops)}") from None
        except Exception as error:  # the backends' own exceptions have no common base
            text = str(error).strip()
            raise ModelError(
                f"{self.backend_name} could not run {self.file.path.name}: {type(error).__name__}: "
                f"{text.splitlines()[0][:300] if text else ''}"
            ) from None
        outputs = self.postprocess(raw)
        broken = [name for name, value in outputs.items() if not np.isfinite(value).all()]
        if broken:
            # a damaged file whose hash was rewritten to match, or an export gone wrong: never pass NaN on
            raise ModelError(
                f"model file {self.file.path.name} gave non-finite values for {', '.join(broken)}: "
                "the file's weights are damaged"
            )
        return outputs
