"""C array, TFLM arena and the C forward pass, checked with the real compilers and interpreter."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.export import ActorGraph, Clip, Dense, ExportError, Normalize, micro
from apexrl.export.tflite import Int8Input

needs_cc = pytest.mark.skipif(
    micro.find_compiler("c") is None or micro.find_compiler("c++") is None,
    reason="needs a C and a C++ compiler",
)


def _array_files(blob: bytes) -> tuple[str, str]:
    return micro.c_array_files(
        blob, stem="policy_int8", int8_input=Int8Input(np.zeros(2), np.ones(2), 0.5, -1),
        input_quantization=(0.5, -1), output_quantization=(0.25, 3), arena_bytes=3000,
        observation_names=["a [m]", "b [1]"], scaling=None,
    )  # fmt: skip


@pytest.mark.parametrize("size", [1, 12, 13, 1000])
def test_c_array_round_trips_exact_bytes(size):
    blob = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    header, source = _array_files(blob)
    assert micro.parse_c_array(source) == blob
    assert f"apexrl_policy_int8_tflite_len = {size};" in source
    # measured minimum 3000 B, +25 % and rounded up to whole KiB
    assert "#define APEXRL_INT8_TENSOR_ARENA_BYTES 4096" in header


@needs_cc
def test_c_array_compiles_aligned_and_a_changed_byte_is_caught(tmp_path):
    blob = bytes(range(256)) * 3
    header, source = _array_files(blob)
    (tmp_path / "policy_int8.h").write_text(header)
    (tmp_path / "policy_int8.cc").write_text(source)
    assert micro.check_c_array(tmp_path, "policy_int8", blob, cxx=micro.find_compiler("c++"))
    with pytest.raises(ExportError, match="does not hold the bytes of policy_int8.tflite"):
        micro.check_c_array(tmp_path, "policy_int8", blob[:-1] + b"\x00", cxx=None)


def _random_mlp(seed: int = 0) -> ActorGraph:
    rng = np.random.default_rng(seed)

    def dense(n_in, n_out, act):
        return Dense(rng.normal(0, 0.7, (n_in, n_out)).astype(np.float32),
                     rng.normal(0, 0.3, n_out).astype(np.float32), act)  # fmt: skip

    norm = Normalize(np.array([50, 0, 0, 250, 0.5, 0.5, 0, 0.5], np.float32),
                     np.array([50, 60, 2, 250, 0.5, 0.5, 10, 0.5], np.float32), 10.0)  # fmt: skip
    layers = (norm, dense(8, 16, "tanh"), dense(16, 12, "relu"), dense(12, 3, "none"),
              Clip(-np.ones(3, np.float32), np.ones(3, np.float32)))  # fmt: skip
    return ActorGraph(layers, (8,), "action", -np.ones(3, np.float32), np.ones(3, np.float32))


@needs_cc
def test_c_forward_pass_matches_the_graph(tmp_path):
    graph = _random_mlp()
    header, source = micro.c_mlp_files(graph, observation_names=[f"c{i}" for i in range(8)],
                                       scaling=None)  # fmt: skip
    (tmp_path / "policy_mlp.h").write_text(header)
    (tmp_path / "policy_mlp.c").write_text(source)
    rng = np.random.default_rng(1)
    low = np.array([0, -60, -2, 0, 0, 0, -10, 0], np.float32)
    high = np.array([100, 60, 2, 500, 1, 1, 10, 1], np.float32)
    obs = rng.uniform(low - 0.2 * (high - low), high + 0.2 * (high - low), (500, 8))
    actions, us = micro.run_c_mlp(tmp_path, obs, cc=micro.find_compiler("c"), repeats=2000)
    assert np.abs(actions - graph.forward(obs)).max() < 2e-6
    assert 0 < us < 1000
    assert "#define APEXRL_MLP_MACS 356" in header  # 8*16 + 16*12 + 12*3
    with pytest.raises(ExportError, match=r"running policy_mlp.c failed \(exit 5\)"):
        micro.run_c_mlp(tmp_path, np.full((1, 8), np.nan), cc=micro.find_compiler("c"))


def test_c_forward_pass_refuses_a_cnn():
    from apexrl.export import Conv2D, Flatten

    conv = Conv2D(np.zeros((3, 3, 1, 2), np.float32), np.zeros(2, np.float32), (1, 1), "relu")
    graph = ActorGraph((conv, Flatten(), Dense(np.zeros((8, 1), np.float32),
                        np.zeros(1, np.float32))), (4, 4, 1), "action",
                       -np.ones(1, np.float32), np.ones(1, np.float32))  # fmt: skip
    assert not micro.supports_c_mlp(graph)
    with pytest.raises(ExportError, match="covers MLP actors only"):
        micro.c_mlp_files(graph, observation_names=["frame"], scaling=None)


def test_tflm_arena_is_the_minimum(exported):
    """The measured arena runs the exported int8 model; 16 bytes less does not."""
    folder, report = exported
    model = (folder / "policy_int8.tflite").read_bytes()
    probe = np.zeros((1, 8), np.int8)
    arena = report["tflm_arena_bytes"]
    assert arena % 16 == 0
    micro.TFLMRunner(model, arena).run_tensor(probe)
    # 16 bytes less, probed in a child (an arena just too small can crash TFLM outright).
    assert micro.tflm_min_arena(model, probe) == arena


_FAKE_TFLM = r"""
import os, signal, sys
lo, hi, limit = (int(x) for x in sys.argv[3:6])
NEED, CRASH_FROM = int(os.environ["FAKE_NEED"]), int(os.environ["FAKE_CRASH_FROM"])


def works(size):
    print(f"@apexrl try {size}", flush=True)
    if CRASH_FROM <= size < NEED:
        os.kill(os.getpid(), signal.SIGSEGV)
    print(f"@apexrl {'ok' if size >= NEED else 'bad'} {size}", flush=True)
    return size >= NEED
"""


@pytest.mark.parametrize(("need", "crash_from"), [(4992, 4700), (4992, 4992), (20000, 0)])
def test_arena_search_survives_tflm_crashing_on_a_small_arena(monkeypatch, need, crash_from):
    """A probe that kills TFLM counts as too small; the search goes on and finds the minimum."""
    monkeypatch.setattr(micro, "ARENA_PROBE", _FAKE_TFLM + micro._ARENA_BISECTION)
    monkeypatch.setenv("FAKE_NEED", str(need))
    monkeypatch.setenv("FAKE_CRASH_FROM", str(crash_from))
    assert micro.tflm_min_arena(b"model", np.zeros((1, 2), np.int8)) == need


def test_arena_search_errors_are_clear(monkeypatch):
    monkeypatch.setattr(micro, "ARENA_PROBE", _FAKE_TFLM + micro._ARENA_BISECTION)
    monkeypatch.setenv("FAKE_NEED", str(1 << 20))
    monkeypatch.setenv("FAKE_CRASH_FROM", str(1 << 30))
    with pytest.raises(ExportError, match="even with a 65536 byte arena"):
        micro.tflm_min_arena(b"model", np.zeros((1, 2), np.int8), limit=1 << 16)
    monkeypatch.setattr(micro, "ARENA_PROBE", "raise SystemExit('no interpreter here')")
    with pytest.raises(ExportError, match="arena search failed: no interpreter here"):
        micro.tflm_min_arena(b"model", np.zeros((1, 2), np.int8))


def test_tflite_ops_and_tflm_refusals(exported):
    folder, _ = exported
    ops = micro.tflite_ops((folder / "policy_int8.tflite").read_bytes())
    assert ops.count("FULLY_CONNECTED") == 3 and ops.count("TANH") == 2
    loads, reason = micro.tflm_loads((folder / "policy_fp16.tflite").read_bytes())
    assert not loads and "DEQUANTIZE" in reason
