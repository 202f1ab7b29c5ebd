"""TFLite: the actor rebuilt in TensorFlow from its weights, converted by ``TFLiteConverter``,
run in LiteRT.

The path measured to work (shared/specs/edge.md): an :class:`~apexrl.export.ActorGraph` becomes a
``tf.function`` of plain ops (matmul, conv2d, tanh, relu, clip), and ``TFLiteConverter`` turns it
into four files: fp32, fp16 weights, dynamic range (int8 weights, float activations) and full
integer int8 with int8 input and output, calibrated on real observations.

The int8 model differs from the float ones in two exact-in-float ways that buy accuracy:

- its input is each observation channel mapped onto [-1, 1] by its own range
  (:class:`Int8Input`; :func:`apexrl.export.report.int8_input_bounds`), with the normalisation
  folded into the first layer, because one int8 scale cannot serve channels from 0..1 to 0..500
  (package docstring);
- tanh inputs are clipped to +-:data:`TANH_INPUT_LIMIT` (tanh(3.5) = 0.9982, within half an
  int8 step of 1), so the int8 step of the pre-activation covers the range that still changes the
  output rather than saturated outliers (measured: max error 0.10 -> 0.08 on a trained coach).

An int8-aware actor (:mod:`apexrl.train.quant`) is converted with TensorFlow FakeQuant ops on its
input, its pre-activations and its output instead: the converter then takes every activation grid
from them, not from the calibration data, so the int8 model has exactly the grids it was trained
with.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from apexrl.export import (
    ActorGraph,
    Clip,
    Conv2D,
    Dense,
    ExportError,
    Flatten,
    Layer,
    Normalize,
    Rescale,
)

Variant = Literal["fp32", "fp16", "dynamic", "int8"]
VARIANTS: tuple[Variant, ...] = ("fp32", "fp16", "dynamic", "int8")
TANH_INPUT_LIMIT = 3.5
"""int8 graph only: tanh inputs are clipped to +-this (1 - tanh(3.5) = 0.0018 < 1/256)."""
OUTPUT_SCALE = float(np.float32(2.0 / 255.0))
"""int8-aware actors: the int8 step of the action output in [-1, 1] (zero point 0)."""


# ---------------------------------------------------------------------- native stderr
@contextlib.contextmanager
def native_output() -> Iterator[list[str]]:
    """Send what C/C++ code writes to file descriptors 1 and 2 (TensorFlow, the converter, TFLM)
    into a buffer; the yielded list receives the text on exit, for error messages. Keeps ``--json``
    stdout clean."""
    captured: list[str] = []
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as sink:
        try:
            for fd in (1, 2):
                os.dup2(sink.fileno(), fd)
            yield captured
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", errors="replace"))


def quiet_import(*modules: str) -> None:
    """Import ``modules`` with their native start-up banners (absl, oneDNN) captured. A missing
    one is an :class:`ExportError` naming the install command."""
    with native_output():
        try:
            for name in modules:
                importlib.import_module(name)
        except ImportError as exc:
            failure: ImportError | None = exc
        else:
            failure = None
    if failure is not None:
        raise ExportError(f"the edge export needs {failure.name or failure}: install it with "
                          "pip install 'apexrl[edge]' -c constraints.txt")  # fmt: skip


def last_lines(text: str, n: int = 4) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-n:])


# ---------------------------------------------------------------------- the int8 input mapping
@dataclass(frozen=True, eq=False)
class Int8Input:
    """How raw observations become the int8 model's input, per channel ``(D,)``:
    ``u = clip((obs - offset) / half_range, -1, 1)``, ``q = clip(round(u / scale) + zero_point,
    -128, 127)``. One int8 step is ``half_range * scale`` observation units."""

    offset: np.ndarray
    half_range: np.ndarray
    scale: float = 1.0
    zero_point: int = 0

    def transform(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations ``(N, D)`` -> ``u`` in [-1, 1], float32."""
        u = (np.asarray(observations, dtype=np.float64) - self.offset) / self.half_range
        return np.clip(u, -1.0, 1.0).astype(np.float32)

    def quantize(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations ``(N, D)`` -> the int8 input tensor values ``(N, D)``."""
        u = self.transform(observations).astype(np.float64)
        return _quantize(u, self.scale, self.zero_point)

    def step_per_channel(self) -> np.ndarray:
        return self.half_range * self.scale

    def with_tensor_quantization(self, scale: float, zero_point: int) -> Int8Input:
        return Int8Input(self.offset, self.half_range, float(scale), int(zero_point))


def _quantize(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return np.clip(np.round(x / scale) + zero_point, -128, 127).astype(np.int8)


def int8_graph(
    graph: ActorGraph, low: np.ndarray, high: np.ndarray
) -> tuple[ActorGraph, Int8Input | None]:
    """The graph the int8 model is converted from, and its input mapping.

    For a telemetry actor (``Normalize`` then ``Dense``) each channel's ``[low, high]`` (kept
    inside the normaliser's clip) becomes ``u`` in [-1, 1] and is folded into the first Dense:
    ``z = u * half_range / std + (offset - mean) / std``, exact for every observation inside the
    bounds. Camera actors keep their graph: all pixels share one range.
    """
    layers = graph.layers
    if len(layers) < 2 or not isinstance(layers[0], Normalize) or not isinstance(layers[1], Dense):
        return graph, None
    from apexrl.train.quant import int8_input_mapping

    norm, first = layers[0], layers[1]
    mean = norm.mean.astype(np.float64)
    std = norm.std.astype(np.float64)
    try:
        offset, half = int8_input_mapping(low, high, mean, std, norm.clip)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    w = first.weight.astype(np.float64)
    folded = Dense(
        (w * (half / std)[:, None]).astype(np.float32),
        (first.bias + ((offset - mean) / std) @ w).astype(np.float32),
        first.activation,
    )
    return replace(graph, layers=(folded, *layers[2:])), Int8Input(offset, half)


def pin_input_range(representative: np.ndarray, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """A copy of ``representative`` whose most extreme entries are set to ``low`` and ``high``,
    so the converter's input scale covers the whole mapped range (one entry per end changes; an
    int8 input that saturated early would clip real observations)."""
    rep = np.array(representative, dtype=np.float32, copy=True)
    flat = rep.reshape(-1)
    if flat.min() > low:
        flat[flat.argmin()] = low
    if flat.max() < high:
        flat[flat.argmax()] = high
    return rep


# ---------------------------------------------------------------------- TensorFlow rebuild
def tf_function(graph: ActorGraph, *, tanh_input_limit: float | None = None,
                fake_quant: Literal["int8"] | None = None):  # fmt: skip
    """The graph as a ``tf.function`` over one observation ``(1, *input_shape)`` float32.
    ``fake_quant="int8"``: the int8 grids of an int8-aware MLP as FakeQuant ops (module
    docstring)."""
    import tensorflow as tf

    from apexrl.train.quant import INPUT_SCALE, PRE_SCALE

    layers = graph.layers
    dense = [i for i, layer in enumerate(layers) if isinstance(layer, Dense | Conv2D)]

    def grid(x, scale: float):
        return tf.quantization.fake_quant_with_min_max_args(
            x, min=-128.0 * scale, max=127.0 * scale, num_bits=8
        )

    def apply(x, layer: Layer, index: int):
        if fake_quant and isinstance(layer, Dense):
            if index == dense[0]:
                x = grid(x, INPUT_SCALE)
            y = tf.matmul(x, tf.constant(layer.weight)) + tf.constant(layer.bias)
            if layer.activation == "tanh":  # TANH's int8 output grid is fixed by the op
                return tf.tanh(grid(y, PRE_SCALE))
            if layer.activation != "none" or index != dense[-1]:
                raise ExportError("an int8-aware actor is tanh hidden layers and a linear output")
            return grid(y, OUTPUT_SCALE)
        if isinstance(layer, Normalize):
            z = (x - tf.constant(layer.mean, tf.float32)) / tf.constant(layer.std, tf.float32)
            return tf.clip_by_value(z, -layer.clip, layer.clip)
        if isinstance(layer, Rescale):
            return x * tf.constant(layer.factor, tf.float32)
        if isinstance(layer, Dense):
            y = tf.matmul(x, tf.constant(layer.weight)) + tf.constant(layer.bias)
            return _tf_activation(y, layer.activation, tanh_input_limit)
        if isinstance(layer, Conv2D):
            y = tf.nn.conv2d(x, tf.constant(layer.weight), strides=[1, *layer.stride, 1],
                             padding="VALID") + tf.constant(layer.bias)  # fmt: skip
            return _tf_activation(y, layer.activation, tanh_input_limit)
        if isinstance(layer, Flatten):
            return tf.reshape(x, [1, -1])
        if isinstance(layer, Clip):
            lo, hi = np.unique(layer.low), np.unique(layer.high)
            if lo.size == 1 and hi.size == 1:  # scalar bounds fuse (RELU_N1_TO_1 for +-1)
                return tf.clip_by_value(x, float(lo[0]), float(hi[0]))
            return tf.minimum(tf.maximum(x, tf.constant(layer.low)), tf.constant(layer.high))
        raise ExportError(f"layer {type(layer).__name__} has no TensorFlow form")

    @tf.function(input_signature=[tf.TensorSpec([1, *graph.input_shape], tf.float32)])
    def actor(observation):
        h = observation
        for index, layer in enumerate(layers):
            h = apply(h, layer, index)
        return h

    return actor


def _tf_activation(y, activation: str, tanh_input_limit: float | None):
    import tensorflow as tf

    if activation == "tanh":
        if tanh_input_limit is not None:
            y = tf.clip_by_value(y, -tanh_input_limit, tanh_input_limit)
        return tf.tanh(y)
    if activation == "relu":
        return tf.nn.relu(y)
    return y


def convert(
    graph: ActorGraph, variant: Variant, *, representative: np.ndarray | None = None
) -> bytes:
    """One TFLite flatbuffer. ``int8`` needs ``representative`` inputs ``(N, *input_shape)`` in
    the graph's input units (for :func:`int8_graph` graphs: ``u``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    int8 = variant == "int8"
    fn = tf_function(graph, tanh_input_limit=TANH_INPUT_LIMIT if int8 else None,
                     fake_quant="int8" if int8 and graph.int8_aware else None)  # fmt: skip
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn)
    if variant != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative is None or len(representative) == 0:
            raise ExportError("int8 conversion needs calibration observations")
        data = np.asarray(representative, dtype=np.float32)

        def samples():
            for row in data:
                yield [row[None]]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with native_output() as log, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return bytes(converter.convert())
        except Exception as exc:  # noqa: BLE001 - the converter raises many types
            failure = exc
    raise ExportError(f"TFLite {variant} conversion failed: {failure} ({last_lines(log[0])})")


# ---------------------------------------------------------------------- LiteRT
class LiteRTRunner:
    """A TFLite model in the LiteRT interpreter (1 thread), one observation per invoke."""

    def __init__(self, model: bytes, *, int8_input: Int8Input | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with native_output():
            self.interpreter = Interpreter(model_content=model, num_threads=1)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.quantized = self.input["dtype"] == np.int8
        scale, zero = self.input["quantization"]
        self.int8_input = int8_input.with_tensor_quantization(scale, zero) if int8_input else None
        self.input_quantization = (float(scale), int(zero))
        self.output_quantization = tuple(self.output["quantization"])

    def input_tensor(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations ``(N, *input_shape)`` -> what the model's input tensor holds."""
        obs = np.asarray(observations, dtype=np.float32)
        if not self.quantized:
            return obs
        if self.int8_input is not None:
            return self.int8_input.quantize(obs.reshape(len(obs), -1)).reshape(obs.shape)
        return _quantize(obs.astype(np.float64), *self.input_quantization)

    def run_tensor(self, tensors: np.ndarray) -> np.ndarray:
        """Input tensor values ``(N, ...)`` -> raw output tensor values ``(N, A)``."""
        it, index, out_index = self.interpreter, self.input["index"], self.output["index"]
        outs = np.empty((len(tensors), *self.output["shape"][1:]), dtype=self.output["dtype"])
        for k in range(len(tensors)):
            it.set_tensor(index, tensors[k : k + 1])
            it.invoke()
            outs[k] = it.get_tensor(out_index)[0]
        return outs

    def dequantize(self, outputs: np.ndarray) -> np.ndarray:
        if self.output["dtype"] != np.int8:
            return outputs.astype(np.float32)
        scale, zero = self.output_quantization
        return ((outputs.astype(np.float32) - zero) * scale).astype(np.float32)

    def predict(self, observations: np.ndarray) -> np.ndarray:
        """Raw observations -> outputs in policy units, float32 ``(N, A)``."""
        return self.dequantize(self.run_tensor(self.input_tensor(observations)))

    def latency_us(self, observation: np.ndarray, repeats: int = 300) -> float:
        """Median time of one ``invoke()`` in microseconds (after a warm-up)."""
        it = self.interpreter
        it.set_tensor(self.input["index"], self.input_tensor(observation[None])[0:1])
        return median_us(it.invoke, repeats)


def median_us(call: Any, repeats: int, *, groups: int = 15) -> float:
    """Median over ``groups`` of the mean time of ``repeats // groups`` calls, in microseconds."""
    per = max(repeats // groups, 1)
    for _ in range(per):
        call()
    times = []
    for _ in range(groups):
        start = time.perf_counter()
        for _ in range(per):
            call()
        times.append((time.perf_counter() - start) / per * 1e6)
    return float(np.median(times))
