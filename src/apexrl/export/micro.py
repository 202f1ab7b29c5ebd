"""Microcontroller artifacts: the int8 model as a C array for TensorFlow Lite Micro, the check in
the real TFLM interpreter (host build from PyPI ``tflite-micro``), and a dependency-free C forward
pass of MLP actors compiled and run with the system C compiler.

TFLM keeps the model in flash as ``alignas(16) const unsigned char[]`` holding exactly the
``.tflite`` bytes (what ``xxd -i`` writes); :func:`check_c_array` compiles the generated files with
the system C++ compiler and compares the bytes and the alignment. The TFLM interpreter's minimum
tensor arena is found by bisection (:func:`tflm_min_arena`, in child processes because TFLM can
crash on an arena a few bytes too small); it is the host (64-bit) figure, a 32-bit MCU needs a
little less because TFLM's bookkeeping holds pointers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.export import ActorGraph, Clip, Dense, ExportError, Normalize
from apexrl.export.tflite import Int8Input, last_lines, median_us, native_output
from apexrl.io_utils import write_text_atomic

# Builtin operators registered by TFLM's MicroMutableOpResolver (tflite-micro, 2025-2026).
TFLM_BUILTIN_OPS = frozenset(
    """
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS FILL FLOOR FLOOR_DIV
FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH IF L2_NORMALIZATION
L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT LOGICAL_OR LOGISTIC
MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2 PRELU QUANTIZE
READ_VARIABLE REDUCE_MAX RELU RELU6 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR ROUND RSQRT
SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE
SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH TRANSPOSE TRANSPOSE_CONV
UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split()
)


@dataclass(frozen=True)
class OutputScaling:
    """How the policy's outputs become env units and, for the haptic coach, Hz.

    ``env = low + (a + 1) / 2 * (high - low)`` per channel; channel ``frequency_channel`` (or
    None) is the cue frequency, in Hz already when ``frequency_in_hz`` else mapped linearly from
    [0, 1] onto ``freq_min_hz..freq_max_hz``.
    """

    action_names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    frequency_channel: int | None = None
    frequency_in_hz: bool = False
    freq_min_hz: float = 50.0
    freq_max_hz: float = 300.0


# ---------------------------------------------------------------------- TFLite op list
def tflite_ops(model: bytes) -> list[str]:
    """Builtin operator names of the main subgraph, in execution order."""
    from tflite_micro.python.tflite_micro import runtime

    schema = runtime.schema_fb
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    fb = schema.Model.GetRootAsModel(model, 0)
    graph = fb.Subgraphs(0)
    ops = []
    for i in range(graph.OperatorsLength()):
        code = fb.OperatorCodes(graph.Operators(i).OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        ops.append(names.get(builtin, f"BUILTIN_{builtin}"))
    return ops


# ---------------------------------------------------------------------- TFLM interpreter
class TFLMRunner:
    """A model in the real TFLM interpreter (host build); raises :class:`ExportError` with TFLM's
    own message when it refuses the model."""

    def __init__(self, model: bytes, arena_bytes: int) -> None:
        from tflite_micro.python.tflite_micro import runtime

        failure = None
        with native_output() as log:
            try:
                self.interpreter = runtime.Interpreter.from_bytes(model, arena_size=arena_bytes)
            except (RuntimeError, ValueError) as exc:
                failure = exc
        if failure is not None:
            raise ExportError(f"TFLM refused the model: {last_lines(log[0]) or failure}")
        self.input = self.interpreter.get_input_details(0)

    def run_tensor(self, tensors: np.ndarray) -> np.ndarray:
        """Input tensor values ``(N, ...)`` -> raw output tensor values ``(N, A)``."""
        it = self.interpreter
        outs = []
        with native_output() as log:
            try:
                for k in range(len(tensors)):
                    it.set_input(np.ascontiguousarray(tensors[k : k + 1]), 0)
                    it.invoke()
                    outs.append(np.array(it.get_output(0))[0])
            except RuntimeError as exc:
                failure: Exception | None = exc
            else:
                failure = None
        if failure is not None:
            raise ExportError(f"TFLM invoke failed: {last_lines(log[0]) or failure}")
        return np.stack(outs)

    def latency_us(self, tensor: np.ndarray, repeats: int = 300) -> float:
        self.interpreter.set_input(np.ascontiguousarray(tensor[None]), 0)
        with native_output():
            return median_us(self.interpreter.invoke, repeats)


def tflm_loads(model: bytes, arena_bytes: int = 1 << 20) -> tuple[bool, str]:
    """Whether TFLM prepares and runs ``model`` (``(True, "")`` or ``(False, TFLM's reason)``)."""
    try:
        runner = TFLMRunner(model, arena_bytes)
        details = runner.input
        runner.run_tensor(np.zeros((1, *details["shape"][1:]), dtype=details["dtype"]))
    except ExportError as exc:
        return False, str(exc)
    return True, ""


_ARENA_SETUP = r"""
import sys
import numpy as np
from tflite_micro.python.tflite_micro import runtime

model = open(sys.argv[1], "rb").read()
probe = np.load(sys.argv[2])
lo, hi, limit = (int(x) for x in sys.argv[3:6])


def works(size):
    print(f"@apexrl try {size}", flush=True)
    try:
        it = runtime.Interpreter.from_bytes(model, arena_size=size)
        it.set_input(probe, 0)
        it.invoke()
    except (RuntimeError, ValueError):
        print(f"@apexrl bad {size}", flush=True)
        return False
    print(f"@apexrl ok {size}", flush=True)
    return True
"""
_ARENA_BISECTION = r"""
if hi == 0:
    size = max(4096, 2 * lo)
    while not works(size):
        size *= 2
        if size > limit:
            print("@apexrl limit", flush=True)
            sys.exit(0)
    hi = size
while hi - lo > 16:
    mid = (lo + hi) // 2 // 16 * 16
    if works(mid):
        hi = mid
    else:
        lo = mid
print(f"@apexrl min {hi}", flush=True)
"""
ARENA_PROBE = _ARENA_SETUP + _ARENA_BISECTION
"""The arena bisection, run in a child process by :func:`tflm_min_arena` (argv: model file,
probe ``.npy``, largest size known too small, smallest known to work or 0, limit). Each probe
prints ``try``, then ``ok`` or ``bad``; a probe that kills the child printed only ``try``."""


def tflm_min_arena(model: bytes, probe: np.ndarray, *, limit: int = 64 << 20) -> int:
    """The smallest tensor arena (bytes, multiple of 16) with which TFLM prepares ``model`` and
    runs ``probe`` (one input tensor value, ``(1, ...)``), by bisection.

    The probes run in child processes: TFLM's host interpreter can crash outright (SIGSEGV)
    instead of reporting an error when the arena is a few bytes too small (measured: a
    24-96-96-3 int8 MLP at 4,752 bytes, minimum 4,768). A probe that crashes counts as too
    small and the bisection goes on in a new child from what is known."""
    lo, hi = 0, 0  # largest size known too small; smallest known to work (0: none yet)
    with tempfile.TemporaryDirectory(prefix="apexrl-arena-") as tmp:
        model_path, probe_path = Path(tmp) / "model.tflite", Path(tmp) / "probe.npy"
        model_path.write_bytes(model)
        np.save(probe_path, np.ascontiguousarray(probe))
        for _ in range(32):
            proc = subprocess.run(
                [sys.executable, "-c", ARENA_PROBE, str(model_path), str(probe_path), str(lo),
                 str(hi), str(limit)],
                capture_output=True, text=True, timeout=600, check=False,
            )  # fmt: skip
            tried = None
            for line in proc.stdout.splitlines():
                if not line.startswith("@apexrl "):  # TFLM's own messages
                    continue
                word, _, value = line.removeprefix("@apexrl ").partition(" ")
                if word == "min":
                    return int(value)
                if word == "limit":
                    raise ExportError(f"TFLM cannot run the model even with a {limit} byte arena")
                if word == "try":
                    tried = int(value)
                elif word == "ok":
                    hi, tried = int(value), None
                elif word == "bad":
                    lo, tried = max(lo, int(value)), None
            if tried is None:  # the child failed outside a probe: nothing to learn from a rerun
                raise ExportError(f"the TFLM arena search failed: "
                                  f"{last_lines(proc.stderr) or proc.returncode}")  # fmt: skip
            lo = max(lo, tried)  # it crashed TFLM: too small
    raise ExportError("the TFLM arena search crashed TFLM 32 times; please report the model")


# ---------------------------------------------------------------------- the C array
def c_array_files(
    model: bytes,
    *,
    stem: str,
    int8_input: Int8Input | None,
    input_quantization: tuple[float, int],
    output_quantization: tuple[float, int],
    arena_bytes: int,
    observation_names: Sequence[str],
    scaling: OutputScaling | None,
    ops: Sequence[str] = (),
) -> tuple[str, str]:
    """``(header, source)`` text of the TFLM C array: ``<stem>.h`` declares the array, its length,
    the arena size and the input/output quantization; ``<stem>.cc`` defines the 16-byte aligned
    array holding exactly ``model``. ``ops`` (:func:`tflite_ops`) become the op resolver line."""
    guard = f"APEXRL_{stem.upper()}_H_"
    sym = f"apexrl_{stem}"
    out_scale, out_zero = output_quantization
    # Round the measured minimum up and add a quarter: arena needs differ a little per build.
    arena = int(np.ceil(arena_bytes * 1.25 / 1024.0) * 1024)
    h = [
        f"/* Generated by apexrl export: {stem}.tflite ({len(model)} bytes) as a TFLM C array. */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <math.h>",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        "/* The .tflite flatbuffer, 16-byte aligned (defined in the .cc file). */",
        f"extern const unsigned char {sym}_tflite[];",
        f"extern const unsigned int {sym}_tflite_len;",
        "",
        *(_resolver_comment(ops) if ops else []),
        f"/* Minimum TFLM tensor arena measured on the host: {arena_bytes} bytes. */",
        f"#define APEXRL_INT8_TENSOR_ARENA_BYTES {arena}",
        f"#define APEXRL_INT8_OUTPUT_SCALE {_cfloat(out_scale)}",
        f"#define APEXRL_INT8_OUTPUT_ZERO_POINT {int(out_zero)}",
        "",
    ]
    if int8_input is None:
        in_scale, in_zero = input_quantization
        h += [
            _channel_comment(observation_names),
            "/* Input quantization: q = clip(round(x / scale) + zero_point, -128, 127). */",
            f"#define APEXRL_INT8_INPUT_SCALE {_cfloat(in_scale)}",
            f"#define APEXRL_INT8_INPUT_ZERO_POINT {int(in_zero)}",
            "",
        ]
    else:
        dim = len(int8_input.offset)
        h += [
            f"#define APEXRL_INT8_OBS_DIM {dim}",
            "/* The input is each raw channel mapped onto [-1, 1] by its own range, then",
            " * quantized: u = clip((obs - offset) / half_range, -1, 1);",
            " * q = clip(round(u / APEXRL_INT8_INPUT_SCALE) + APEXRL_INT8_INPUT_ZERO_POINT). */",
            f"#define APEXRL_INT8_INPUT_SCALE {_cfloat(int8_input.scale)}",
            f"#define APEXRL_INT8_INPUT_ZERO_POINT {int(int8_input.zero_point)}",
            _channel_comment(observation_names),
            f"static const float apexrl_int8_input_offset[{dim}] = {_cfloats(int8_input.offset)};",
            f"static const float apexrl_int8_input_half_range[{dim}] = "
            f"{_cfloats(int8_input.half_range)};",
            "",
            "/* Raw telemetry -> the int8 input tensor (a non-finite channel counts as the middle",
            " * of its range). */",
            "static inline void apexrl_int8_quantize_observation(const float *obs, int8_t *out) {",
            f"  for (int i = 0; i < {dim}; ++i) {{",
            "    float u = (obs[i] - apexrl_int8_input_offset[i]) / "
            "apexrl_int8_input_half_range[i];",
            "    if (u != u) u = 0.0f;",
            "    if (u < -1.0f) u = -1.0f;",
            "    if (u > 1.0f) u = 1.0f;",
            "    long q = lrintf(u / APEXRL_INT8_INPUT_SCALE) + APEXRL_INT8_INPUT_ZERO_POINT;",
            "    out[i] = (int8_t)(q < -128 ? -128 : (q > 127 ? 127 : q));",
            "  }",
            "}",
            "",
        ]
    h += [
        "/* int8 output -> policy units. */",
        "static inline float apexrl_int8_dequantize(int8_t q) {",
        "  return ((float)q - (float)APEXRL_INT8_OUTPUT_ZERO_POINT) * APEXRL_INT8_OUTPUT_SCALE;",
        "}",
        "",
        *_scaling_c("apexrl_int8", scaling),
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        f"#endif /* {guard} */",
        "",
    ]
    body = ",\n".join(
        "  " + ", ".join(f"0x{b:02x}" for b in model[i : i + 12]) for i in range(0, len(model), 12)
    )
    cc = (
        f"/* Generated by apexrl export: {stem}.tflite as a TFLM C array. */\n"
        f'#include "{stem}.h"\n\n'
        f"alignas(16) const unsigned char {sym}_tflite[] = {{\n{body}\n}};\n"
        f"const unsigned int {sym}_tflite_len = {len(model)};\n"
    )
    return "\n".join(h), cc


def _resolver_comment(ops: Sequence[str]) -> list[str]:
    unique = list(dict.fromkeys(ops))
    calls = ", ".join(
        "Add"
        + "".join(p.upper() if p[0].isdigit() else p.capitalize() for p in op.split("_"))
        + "()"
        for op in unique
    )
    return [f"/* Operators to register: tflite::MicroMutableOpResolver<{len(unique)}> with",
            f" * {calls}. */"]  # fmt: skip


def parse_c_array(source: str) -> bytes:
    """The bytes of the array defined in a ``.cc`` written by :func:`c_array_files`."""
    start = source.index("{", source.index("_tflite[]")) + 1
    end = source.index("}", start)
    return bytes(
        int(tok, 16) for tok in source[start:end].replace("\n", " ").split(",") if tok.strip()
    )


_ARRAY_DUMP = r"""
#include <cstdint>
#include <cstdio>
#include "STEM.h"
int main(int argc, char **argv) {
  if (argc != 2) return 2;
  FILE *f = std::fopen(argv[1], "wb");
  if (!f) return 3;
  std::fwrite(SYM_tflite, 1, SYM_tflite_len, f);
  std::fclose(f);
  std::printf("%u\n", (unsigned)(reinterpret_cast<std::uintptr_t>(SYM_tflite) % 16u));
  return 0;
}
"""


def check_c_array(folder: Path, stem: str, model: bytes, *, cxx: str | None) -> str:
    """Compile ``<stem>.cc`` with the C++ compiler and check that the array holds exactly
    ``model`` at a 16-byte aligned address; without a compiler, parse the source instead.
    Returns how it was checked; raises :class:`ExportError` on any difference."""
    source = (folder / f"{stem}.cc").read_text(encoding="utf-8")
    if parse_c_array(source) != model:
        raise ExportError(f"{stem}.cc does not hold the bytes of {stem}.tflite")
    if cxx is None:
        return "parsed"
    with tempfile.TemporaryDirectory(prefix="apexrl-carray-") as tmp:
        t = Path(tmp)
        main = t / "dump.cc"
        main.write_text(_ARRAY_DUMP.replace("STEM", stem).replace("SYM", f"apexrl_{stem}"))
        exe = t / "dump"
        _run([cxx, "-std=c++11", "-O1", "-Wall", "-Werror", f"-I{folder}", str(main),
              str(folder / f"{stem}.cc"), "-o", str(exe)], f"compiling {stem}.cc")  # fmt: skip
        out = _run([str(exe), str(t / "bytes.bin")], f"running the {stem}.cc check")
        if (t / "bytes.bin").read_bytes() != model:
            raise ExportError(f"{stem}.cc compiled to bytes that differ from {stem}.tflite")
        if out.strip() != "0":
            raise ExportError(f"{stem}.cc: the array is not 16-byte aligned (address % 16 = {out})")
    return Path(cxx).name


# ---------------------------------------------------------------------- the C forward pass
def supports_c_mlp(graph: ActorGraph) -> bool:
    """True for Normalize? -> Dense+ -> Clip? graphs on a flat observation."""
    if len(graph.input_shape) != 1:
        return False
    body = list(graph.layers)
    if body and isinstance(body[0], Normalize):
        body = body[1:]
    if body and isinstance(body[-1], Clip):
        body = body[:-1]
    return bool(body) and all(isinstance(layer, Dense) for layer in body)


def c_mlp_files(
    graph: ActorGraph,
    *,
    observation_names: Sequence[str],
    scaling: OutputScaling | None,
    lap: Mapping[str, Any] | None = None,
) -> tuple[str, str]:
    """``(policy_mlp.h, policy_mlp.c)``: the actor as C99 with fp32 weights as const arrays,
    the same arithmetic as PyTorch (``(x - mean) / std``, row-major ``W x + b``, ``tanhf``).
    ``lap`` (``{"harmonics", "track_length_m"}``): the observation ends with lap-position
    channels; the header then defines ``APEXRL_MLP_LAP_HARMONICS`` and ``APEXRL_MLP_LAP_LENGTH_M``
    so firmware can compute them from the lap distance."""
    if not supports_c_mlp(graph):
        raise ExportError("the C forward pass covers MLP actors only (this actor is a CNN)")
    dim, adim = graph.input_shape[0], graph.output_dim
    dense = [layer for layer in graph.layers if isinstance(layer, Dense)]
    macs = sum(int(d.weight.shape[0] * d.weight.shape[1]) for d in dense)
    widest = max(max(d.weight.shape) for d in dense)
    what = (" * (int8 weights, integer sums; needs only <math.h>). The int8-aware coach's trained\n"
            " * int8 network: the same function as policy_int8.tflite. */" if graph.int8_aware
            else " * (fp32; needs only <math.h>). Same function as policy.onnx and "
            "policy_fp32.tflite. */")  # fmt: skip
    h = [
        "/* Generated by apexrl export: the policy's deterministic actor as dependency-free C99",
        what,
        "#ifndef APEXRL_POLICY_MLP_H_",
        "#define APEXRL_POLICY_MLP_H_",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define APEXRL_MLP_OBS_DIM {dim}",
        f"#define APEXRL_MLP_ACTION_DIM {adim}",
        f"#define APEXRL_MLP_MACS {macs}",
        *_lap_defines(lap),
        "",
        _channel_comment(observation_names),
        "/* Raw observation -> action in policy units ([-1, 1] per channel for apexrl coaches).",
        " * Returns 0, or -1 (action untouched) when an observation channel is not finite. */",
        "int apexrl_mlp_forward(const float obs[APEXRL_MLP_OBS_DIM], "
        "float action[APEXRL_MLP_ACTION_DIM]);",
        "",
        *_scaling_c("apexrl_mlp", scaling),
        "#ifdef __cplusplus",
        "}",
        "#endif",
        "",
        "#endif /* APEXRL_POLICY_MLP_H_ */",
        "",
    ]
    c = [
        "/* Generated by apexrl export (see policy_mlp.h). */",
        '#include "policy_mlp.h"',
        "",
        "#include <math.h>",
        "",
    ]
    if graph.int8_aware:
        return "\n".join(h), "\n".join(c + _c_int8_body(graph, widest))
    steps = []
    cur, size = "x", dim
    c.append(f"static float x[{dim}], h0[{widest}], h1[{widest}];")
    for layer in graph.layers:
        if isinstance(layer, Normalize):
            c += [
                f"static const float obs_mean[{dim}] = {_cfloats(layer.mean)};",
                f"static const float obs_std[{dim}] = {_cfloats(layer.std)};",
            ]
            steps += [
                f"  for (int i = 0; i < {dim}; ++i) {{",
                "    float z = (obs[i] - obs_mean[i]) / obs_std[i];",
                f"    x[i] = z < {_cfloat(-layer.clip)} ? {_cfloat(-layer.clip)} : "
                f"(z > {_cfloat(layer.clip)} ? {_cfloat(layer.clip)} : z);",
                "  }",
            ]
        elif isinstance(layer, Dense):
            k = len([s for s in steps if "dense(" in s])
            n_in, n_out = layer.weight.shape
            c.append(
                f"static const float w{k}[{n_out * n_in}] = {_cfloats(layer.weight.T.ravel())};"
            )
            c.append(f"static const float b{k}[{n_out}] = {_cfloats(layer.bias)};")
            dst = "h0" if cur != "h0" else "h1"
            act = {"none": 0, "tanh": 1, "relu": 2}[layer.activation]
            steps.append(f"  dense(w{k}, b{k}, {n_in}, {n_out}, {cur}, {dst}, {act});")
            cur, size = dst, n_out
        elif isinstance(layer, Clip):
            c.append(f"static const float act_low[{size}] = {_cfloats(layer.low)};")
            c.append(f"static const float act_high[{size}] = {_cfloats(layer.high)};")
            steps += [
                f"  for (int i = 0; i < {size}; ++i) {{",
                f"    {cur}[i] = {cur}[i] < act_low[i] ? act_low[i] : "
                f"({cur}[i] > act_high[i] ? act_high[i] : {cur}[i]);",
                "  }",
            ]
    if not isinstance(graph.layers[0], Normalize):
        steps.insert(0, f"  for (int i = 0; i < {dim}; ++i) x[i] = obs[i];")
    c += [
        "",
        "/* y = act(W x + b); W row-major (n_out, n_in). act: 0 none, 1 tanh, 2 relu. */",
        "static void dense(const float *w, const float *b, int n_in, int n_out, const float *in,",
        "                  float *out, int act) {",
        "  for (int o = 0; o < n_out; ++o) {",
        "    float acc = b[o];",
        "    const float *row = w + o * n_in;",
        "    for (int i = 0; i < n_in; ++i) acc += row[i] * in[i];",
        "    out[o] = act == 1 ? tanhf(acc) : (act == 2 ? (acc > 0.0f ? acc : 0.0f) : acc);",
        "  }",
        "}",
        "",
        *_forward_opening(dim),
        *steps,
        f"  for (int i = 0; i < {adim}; ++i) action[i] = {cur}[i];",
        "  return 0;",
        "}",
        "",
    ]
    return "\n".join(h), "\n".join(c)


def _forward_opening(dim: int) -> list[str]:
    """``apexrl_mlp_forward``'s signature and its check of the observation."""
    return [
        "int apexrl_mlp_forward(const float obs[APEXRL_MLP_OBS_DIM], "
        "float action[APEXRL_MLP_ACTION_DIM]) {",
        f"  for (int i = 0; i < {dim}; ++i) {{",
        "    if (!isfinite(obs[i])) return -1;",
        "  }",
    ]


def _c_int8_body(graph: ActorGraph, widest: int) -> list[str]:
    """The C of an int8-aware MLP (:mod:`apexrl.train.quant`): the observation mapped and rounded
    to int8 codes, each layer an int32 sum of int8 codes times int8 weights plus the int32 bias,
    rescaled in double and rounded to the next layer's grid (ties to even, as the coach was
    evaluated), tanh on the pre-activation grid rounded to 1/128."""
    from apexrl.train.quant import INPUT_SCALE, PRE_SCALE, TANH_SCALE

    norm, *rest = graph.layers
    dense = [layer for layer in rest if isinstance(layer, Dense)]
    clip = rest[-1] if isinstance(rest[-1], Clip) else None
    if not isinstance(norm, Normalize) or len(dense) + (clip is not None) != len(rest):
        raise ExportError("an int8-aware C forward pass needs its input mapping, Dense layers "
                          "and an optional clip")  # fmt: skip
    dim = graph.input_shape[0]
    c = [
        f"static const double in_offset[{dim}] = {_cdoubles(norm.mean)};",
        f"static const double in_half[{dim}] = {_cdoubles(norm.std)};",
    ]
    steps = []
    step = INPUT_SCALE
    for k, layer in enumerate(dense):
        n_in, n_out = layer.weight.shape
        w = layer.weight.astype(np.float64).T  # (n_out, n_in)
        peak = np.abs(w).max(axis=1)
        row = np.where(peak > 0, peak / 127.0, 1.0)
        codes = np.round(w / row[:, None]).astype(np.int64)
        bias = np.round(layer.bias.astype(np.float64) / (step * row)).astype(np.int64)
        if np.abs(codes).max() > 127 or np.abs(bias).max() >= 2**31:
            raise ExportError("int8-aware weights out of the int8 range")
        c += [
            f"static const signed char w{k}[{n_out * n_in}] = {_cints(codes.ravel())};",
            f"static const long b{k}[{n_out}] = {_cints(bias)};",
            f"static const double s{k}[{n_out}] = {_cdoubles(step * row)};",
        ]
        src, dst = ("q0", "q1") if k % 2 == 0 else ("q1", "q0")
        act = 1 if layer.activation == "tanh" else 0
        out = dst if act else "y"
        steps.append(f"  layer(w{k}, b{k}, s{k}, {n_in}, {n_out}, {src}, {out}, {act});")
        step = TANH_SCALE
    lines = [f"static int q0[{widest}], q1[{widest}];", f"static double y[{widest}];", *c, ""]
    if clip is not None:
        lines += [
            f"static const double act_low[{graph.output_dim}] = {_cdoubles(clip.low)};",
            f"static const double act_high[{graph.output_dim}] = {_cdoubles(clip.high)};",
        ]
    lines += [
        "",
        "static int code(double x, double step) {",
        "  double q = nearbyint(x / step);",
        "  return q < -128.0 ? -128 : (q > 127.0 ? 127 : (int)q);",
        "}",
        "",
        "/* acc = sum w * q + b (int32); tanh layers write the next int8 codes, the last the",
        " * real values. */",
        "static void layer(const signed char *w, const long *b, const double *s, int n_in,",
        "                  int n_out, const int *in, void *out, int act) {",
        "  for (int o = 0; o < n_out; ++o) {",
        "    long acc = b[o];",
        "    const signed char *row = w + o * n_in;",
        "    for (int i = 0; i < n_in; ++i) acc += (long)row[i] * in[i];",
        "    double v = (double)acc * s[o];",
        "    if (act) {",
        f"      double pre = code(v, {_cdouble(PRE_SCALE)}) * {_cdouble(PRE_SCALE)};",
        f"      ((int *)out)[o] = code(tanh(pre), {_cdouble(TANH_SCALE)});",
        "    } else {",
        "      ((double *)out)[o] = v;",
        "    }",
        "  }",
        "}",
        "",
        *_forward_opening(dim),
        f"  for (int i = 0; i < {dim}; ++i) {{",
        "    double u = ((double)obs[i] - in_offset[i]) / in_half[i];",
        f"    q0[i] = code((double)(float)(u < -1.0 ? -1.0 : (u > 1.0 ? 1.0 : u)), "
        f"{_cdouble(INPUT_SCALE)});",
        "  }",
        *steps,
        f"  for (int i = 0; i < {graph.output_dim}; ++i) {{",
        "    double a = y[i];",
    ]
    if clip is not None:
        lines.append("    a = a < act_low[i] ? act_low[i] : (a > act_high[i] ? act_high[i] : a);")
    lines += ["    action[i] = (float)a;", "  }", "  return 0;", "}", ""]
    return lines


_MLP_HARNESS = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "policy_mlp.h"
/* usage: harness IN.f32 N OUT.f32 REPEATS -> prints ns per forward pass */
int main(int argc, char **argv) {
  if (argc != 5) return 2;
  long n = atol(argv[2]), repeats = atol(argv[4]);
  float *obs = malloc(sizeof(float) * APEXRL_MLP_OBS_DIM * n);
  float *act = malloc(sizeof(float) * APEXRL_MLP_ACTION_DIM * n);
  FILE *f = fopen(argv[1], "rb");
  if (!obs || !act || !f) return 3;
  if (fread(obs, sizeof(float) * APEXRL_MLP_OBS_DIM, n, f) != (size_t)n) return 4;
  fclose(f);
  for (long k = 0; k < n; ++k) {
    if (apexrl_mlp_forward(obs + k * APEXRL_MLP_OBS_DIM, act + k * APEXRL_MLP_ACTION_DIM)) return 5;
  }
  f = fopen(argv[3], "wb");
  if (!f) return 6;
  fwrite(act, sizeof(float) * APEXRL_MLP_ACTION_DIM, n, f);
  fclose(f);
  struct timespec t0, t1;
  float sink = 0.0f, out[APEXRL_MLP_ACTION_DIM];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long r = 0; r < repeats; ++r) {
    apexrl_mlp_forward(obs + (r % n) * APEXRL_MLP_OBS_DIM, out);
    sink += out[0];
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%.1f %g\n", ns / (double)repeats, (double)sink);
  free(obs);
  free(act);
  return 0;
}
"""


def run_c_mlp(
    folder: Path, observations: np.ndarray, *, cc: str, repeats: int = 20000
) -> tuple[np.ndarray, float]:
    """Compile ``policy_mlp.c`` (``-std=c99 -Wall -Wextra -Werror -pedantic``) with a harness,
    run it on ``observations (N, D)``; returns ``(actions (N, A), microseconds per forward
    pass)``."""
    obs = np.ascontiguousarray(observations, dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="apexrl-mlp-") as tmp:
        t = Path(tmp)
        (t / "harness.c").write_text(_MLP_HARNESS)
        exe = t / "harness"
        _run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{folder}",
              str(t / "harness.c"), str(folder / "policy_mlp.c"), "-lm", "-o", str(exe)],
             "compiling policy_mlp.c")  # fmt: skip
        obs.tofile(t / "obs.f32")
        out = _run([str(exe), str(t / "obs.f32"), str(len(obs)), str(t / "act.f32"),
                    str(repeats)], "running policy_mlp.c")  # fmt: skip
        actions = np.fromfile(t / "act.f32", dtype=np.float32).reshape(len(obs), -1)
    return actions, float(out.split()[0]) / 1000.0


def find_compiler(kind: str = "c") -> str | None:
    """``$CC`` / ``$CXX`` or the first of gcc, cc, clang (g++, c++, clang++) on PATH."""
    env, names = (
        ("CC", ("gcc", "cc", "clang")) if kind == "c" else ("CXX", ("g++", "c++", "clang++"))
    )
    if os.environ.get(env):
        return shutil.which(os.environ[env]) or os.environ[env]
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(cmd: list[str], what: str) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExportError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        detail = last_lines(proc.stderr + proc.stdout, 6)
        raise ExportError(f"{what} failed (exit {proc.returncode}): {detail}")
    return proc.stdout


# ---------------------------------------------------------------------- C text helpers
def _cdouble(x: float) -> str:
    return repr(float(x))


def _cdoubles(values: np.ndarray) -> str:
    return _carray([_cdouble(v) for v in np.asarray(values, np.float64).ravel()], 4)


def _cints(values: np.ndarray) -> str:
    return _carray([str(int(v)) for v in np.asarray(values).ravel()], 16)


def _cfloat(x: float) -> str:
    text = f"{float(np.float32(x)):.9g}"
    if "e" not in text and "." not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def _cfloats(values: np.ndarray) -> str:
    return _carray([_cfloat(v) for v in np.asarray(values, dtype=np.float32).ravel()], 6)


def _carray(items: list[str], per_line: int) -> str:
    """A C initializer ``{a, b, ...}``, ``per_line`` items to a line."""
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    if len(lines) == 1:
        return "{" + lines[0] + "}"
    return "{\n    " + ",\n    ".join(lines) + "}"


def _lap_defines(lap: Mapping[str, Any] | None) -> list[str]:
    harmonics = int(lap["harmonics"]) if lap else 0
    lines = ["/* Lap-position channels at the end of the observation: sin(2 pi k s / L), k = 1..K,",
             " * then cos(2 pi k s / L); s = lap distance, m (0: none). */",
             f"#define APEXRL_MLP_LAP_HARMONICS {harmonics}"]  # fmt: skip
    if harmonics:
        lines.append(f"#define APEXRL_MLP_LAP_LENGTH_M {float(lap['track_length_m']):.6f}f")
    return lines


def _channel_comment(names: Sequence[str]) -> str:
    rows = "\n".join(f" *   {i}: {name}" for i, name in enumerate(names))
    return f"/* Observation channels, raw values in this order:\n{rows}\n */"


def _scaling_c(prefix: str, scaling: OutputScaling | None) -> list[str]:
    if scaling is None:
        return []
    n = len(scaling.low)
    names = ", ".join(scaling.action_names)
    lines = [
        f"/* Policy units -> env units ({names}): env = low + (a + 1) / 2 * (high - low). */",
        f"static const float {prefix}_env_low[{n}] = {_cfloats(np.array(scaling.low))};",
        f"static const float {prefix}_env_high[{n}] = {_cfloats(np.array(scaling.high))};",
        f"static inline float {prefix}_to_env(const float *action, int i) {{",
        "  float a = action[i] < -1.0f ? -1.0f : (action[i] > 1.0f ? 1.0f : action[i]);",
        f"  return {prefix}_env_low[i] + 0.5f * (a + 1.0f) * "
        f"({prefix}_env_high[i] - {prefix}_env_low[i]);",
        "}",
        "",
    ]
    if scaling.frequency_channel is not None:
        k = scaling.frequency_channel
        if scaling.frequency_in_hz:
            hz = f"{prefix}_to_env(action, {k})"
        else:
            lo, hi = scaling.freq_min_hz, scaling.freq_max_hz
            hz = f"{_cfloat(lo)} + {_cfloat(hi - lo)} * {prefix}_to_env(action, {k})"
        lines += [
            f"/* Cue frequency in Hz from channel {k} ({scaling.action_names[k]}). */",
            f"#define {prefix.upper()}_FREQUENCY_CHANNEL {k}",
            f"static inline float {prefix}_frequency_hz(const float *action) {{",
            f"  return {hz};",
            "}",
            "",
        ]
    return lines


def write_text_files(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        write_text_atomic(folder / name, text)
