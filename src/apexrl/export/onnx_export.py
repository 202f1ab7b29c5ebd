"""ONNX: the PyTorch deterministic actor through ``torch.onnx.export`` (the dynamo exporter, which
needs onnxscript), checked by ``onnx.checker`` and run in onnxruntime; plus an int8 QDQ model from
onnxruntime's static quantization for Linux/Intel targets.

Named ``onnx_export`` so that ``import onnx`` inside this package finds the real onnx package.

The int8 model quantizes every Gemm/MatMul except the first (the one that reads the normalised
observation): its input would otherwise share one int8 scale across channels whose meaning is
very different, and the layer is only ``D x hidden`` multiply-adds (same reason as the TFLite int8
input mapping, see :mod:`apexrl.export`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.export import ExportError, LoadedActor
from apexrl.export.tflite import last_lines, median_us, native_output

INPUT_NAME = "observation"
OUTPUT_NAME = "action"
OPSET = 18


def export_onnx(actor: LoadedActor) -> bytes:
    """The actor as an ONNX model (batch dimension dynamic), checked with ``full_check``; an
    int8-aware actor as its float network (:meth:`LoadedActor.reference`)."""
    import onnx
    import torch

    from apexrl.train.quant import float_mode

    example = torch.zeros((1, *actor.graph.input_shape), dtype=torch.float32)
    batch = torch.export.Dim("batch", min=1, max=65536)
    text = io.StringIO()
    failure: Exception | None = None
    with (
        native_output() as log,
        contextlib.redirect_stdout(text),
        contextlib.redirect_stderr(text),
        warnings.catch_warnings(),
        float_mode(actor.policy),
    ):
        warnings.simplefilter("ignore")
        try:
            program = torch.onnx.export(actor.module, (example,), dynamo=True,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                                        dynamic_shapes=({0: batch},), opset_version=OPSET,
                                        verbose=False)  # fmt: skip
            model = program.model_proto
        except Exception as exc:  # noqa: BLE001 - the exporter raises many types
            failure = exc
    if failure is not None:
        detail = last_lines(text.getvalue() + log[0])
        raise ExportError(f"torch.onnx.export failed: {failure} ({detail})")
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"policy.onnx fails onnx.checker: {exc}") from None
    return model.SerializeToString()


class OnnxRunner:
    """An ONNX model in onnxruntime (CPU, 1 intra-op thread)."""

    def __init__(self, model: bytes) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load the model: {exc}") from None

    def predict(self, observations: np.ndarray) -> np.ndarray:
        obs = np.asarray(observations, dtype=np.float32)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: obs})[0].astype(np.float32)

    def latency_us(self, observation: np.ndarray, repeats: int = 300) -> float:
        feed = {INPUT_NAME: np.asarray(observation, dtype=np.float32)[None]}
        return median_us(lambda: self.session.run([OUTPUT_NAME], feed), repeats)


@contextlib.contextmanager
def _quiet_root_logger():
    """onnxruntime's quantizer logs advice ("consider pre-processing") on the ROOT logger, which
    Python prints on stderr when nothing is configured; silence it for the call."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(model: bytes, calibration: np.ndarray, *, int8_aware: bool = False) -> bytes:
    """int8 QDQ model (per-channel int8 weights, int8 activations) calibrated with
    ``calibration`` raw observations ``(N, *input_shape)`` (min/max). In an MLP the first
    Gemm/MatMul stays float (module docstring); convolutions read pixels and are quantized.

    ``int8_aware``: the float network of an int8-aware MLP (:mod:`apexrl.train.quant`); every
    Gemm is quantized and its input, pre-activation, tanh and output grids are the trained ones
    (onnxruntime's ``TensorQuantOverrides``), so the model computes the trained int8 network."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    data = np.asarray(calibration, dtype=np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows = iter(range(len(data)))

        def get_next(self):
            k = next(self.rows, None)
            return None if k is None else {INPUT_NAME: data[k : k + 1]}

    proto = onnx.load_from_string(model)
    matmuls = [n.name for n in proto.graph.node if n.op_type in ("Gemm", "MatMul")]
    convs = [n.name for n in proto.graph.node if n.op_type == "Conv"]
    if not matmuls and not convs:
        raise ExportError("policy.onnx has no Gemm, MatMul or Conv node to quantize")
    keep_float = matmuls[:1] if not convs and len(matmuls) > 1 else None
    options: dict[str, Any] = {}
    op_types = ["Gemm", "MatMul", "Conv"]
    if int8_aware:
        keep_float, op_types = None, ["Gemm", "MatMul", "Tanh"]
        options["TensorQuantOverrides"] = _int8_aware_grids(proto)
    with tempfile.TemporaryDirectory(prefix="apexrl-ortq-") as tmp:
        src, dst = Path(tmp) / "fp32.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(model)
        text = io.StringIO()
        failure: Exception | None = None
        with (
            native_output() as log,
            contextlib.redirect_stdout(text),
            contextlib.redirect_stderr(text),
            warnings.catch_warnings(),
            _quiet_root_logger(),
        ):
            warnings.simplefilter("ignore")
            try:
                quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                                per_channel=True, activation_type=QuantType.QInt8,
                                weight_type=QuantType.QInt8,
                                op_types_to_quantize=op_types, nodes_to_exclude=keep_float,
                                extra_options=options)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the quantizer raises many types
                failure = exc
        if failure is not None:
            detail = last_lines(text.getvalue() + log[0])
            raise ExportError(f"onnxruntime int8 quantization failed: {failure} ({detail})")
        out = dst.read_bytes()
    try:
        onnx.checker.check_model(onnx.load_from_string(out), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"policy_int8.onnx fails onnx.checker: {exc}") from None
    return out


def _int8_aware_grids(proto) -> dict[str, list[dict[str, np.ndarray]]]:
    """``TensorQuantOverrides`` of an int8-aware MLP: the first layer's input on the int8 input
    grid, each Tanh's input and output on the pre-activation and tanh grids, the last layer's
    output on the action grid (all zero point 0)."""
    from apexrl.export.tflite import OUTPUT_SCALE
    from apexrl.train.quant import INPUT_SCALE, PRE_SCALE, TANH_SCALE

    def grid(scale: float) -> list[dict[str, np.ndarray]]:
        return [{"scale": np.array(scale, np.float32), "zero_point": np.array(0, np.int8)}]

    layers = [n for n in proto.graph.node if n.op_type in ("Gemm", "MatMul")]
    grids = {layers[0].input[0]: grid(INPUT_SCALE), layers[-1].output[0]: grid(OUTPUT_SCALE)}
    for node in proto.graph.node:
        if node.op_type == "Tanh":
            grids[node.input[0]] = grid(PRE_SCALE)
            grids[node.output[0]] = grid(TANH_SCALE)
    return grids
