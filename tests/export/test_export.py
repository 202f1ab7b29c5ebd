"""The whole export of a seeded coach: every file, the report, and re-checks of the files on disk
done here independently of the exporter (the report's own numbers could be wrong too)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from apexrl.export.report import ARTIFACTS, REPORT_FILE, Tolerances
from tests.export.conftest import fast_calibration, make_coach


def _held_out(n: int = 600, seed: int = 7):
    """Observations from rollouts the exporter never saw (other seed, oracle coaching)."""
    from apexrl.envs.vector import MotoCoachVectorEnv
    from tests.export.conftest import OVAL

    env = MotoCoachVectorEnv(4, track=OVAL, rider="amateur")
    obs, _ = env.reset(seed=seed)
    out = []
    for _ in range(n // 4):
        out.append(obs)
        obs, *_ = env.step(env.oracle_action())
    return np.concatenate(out)


@pytest.fixture(scope="module")
def torch_reference(coach_dir):
    from apexrl.train.model_io import load_policy

    obs = _held_out()
    return obs, load_policy(coach_dir).policy_actions(obs)


def test_every_artifact_is_written_and_the_report_is_the_file(exported):
    folder, report = exported
    assert sorted(p.name for p in folder.iterdir()) == sorted([*ARTIFACTS, REPORT_FILE])
    assert json.loads((folder / REPORT_FILE).read_text()) == report
    assert report["passed"] is True and report["failures"] == []


def test_report_has_the_documented_fields(exported):
    _, report = exported
    for name in ARTIFACTS:
        entry = report["artifacts"][name]
        for key in ("bytes", "max_abs_error", "max_error_fraction_of_range", "latency_us"):
            assert entry[key] is not None, (name, key)
        assert entry["bytes"] == (exported[0] / name).stat().st_size
    # 8 -> 64 -> 64 -> 3: 8*64 + 64*64 + 64*3 multiply-accumulates.
    assert report["macs"] == 4800
    assert report["esp32_latency_estimate_ms"] == pytest.approx(4800 / 1e6 * 53.0)
    assert "380 ms" in report["esp32_latency_source"]
    assert report["tflm_matches_litert"] is True
    assert 1000 < report["tflm_arena_bytes"] <= 8 * 1024
    assert report["fits_budget"] is True
    assert {r["op"] for r in report["ops"]} <= {"FULLY_CONNECTED", "TANH", "MINIMUM", "MAXIMUM"}
    assert all(r["tflm_supported"] for r in report["ops"])
    assert report["artifacts"]["policy_int8.tflite"]["bytes"] <= 16 * 1024


def test_float_artifacts_match_pytorch_to_float_rounding(exported):
    arts = exported[1]["artifacts"]
    for name in ("policy.onnx", "policy_fp32.tflite", "policy_mlp.c"):
        assert arts[name]["max_abs_error"] < 2e-5, name
    assert arts["policy_fp16.tflite"]["max_error_fraction_of_range"] < 5e-3
    assert arts["policy_int8.tflite"]["max_error_fraction_of_range"] < 0.08
    floor = arts["policy_int8.tflite"]["input_rounding_floor"]
    assert 0 < floor["mean_error_fraction_of_range"] <= floor["max_error_fraction_of_range"]
    weights = arts["policy_int8.tflite"]["weight_rounding_floor"]
    assert 0 < weights["mean_error_fraction_of_range"] <= weights["max_error_fraction_of_range"]
    assert arts["policy_int8.tflite"]["mean_error_fraction_of_range"] < 0.015


def test_weight_rounding_is_per_output_channel_like_the_converter():
    from apexrl.export.report import _int8_rounded

    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 4, 5)) * np.array([1e-3, 0.1, 1.0, 10.0, 0.0])
    q = _int8_rounded(w)
    scale = np.abs(w).reshape(-1, 5).max(axis=0) / 127.0
    np.testing.assert_allclose(np.abs(q).reshape(-1, 5).max(axis=0), 127 * scale, rtol=1e-6)
    assert np.all(np.abs(q - w).reshape(-1, 5) <= scale / 2 * (1 + 1e-5) + 1e-12)
    steps = q.reshape(-1, 5)[:, :4] / scale[:4]
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert not q[..., 4].any()


def test_tflm_accepts_only_fp32_and_int8(exported):
    arts = exported[1]["artifacts"]
    assert arts["policy_fp32.tflite"]["tflm_loads"] is True
    assert arts["policy_int8.tflite"]["tflm_loads"] is True
    assert arts["policy_fp16.tflite"]["tflm_loads"] is False
    assert arts["policy_dynamic.tflite"]["tflm_loads"] is False
    assert "TFLM refused" in arts["policy_fp16.tflite"]["tflm_refusal"]


def test_onnx_on_disk_matches_pytorch(exported, torch_reference):
    import onnx
    import onnxruntime as ort

    obs, ref = torch_reference
    path = exported[0] / "policy.onnx"
    onnx.checker.check_model(onnx.load(path), full_check=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {"observation": obs.astype(np.float32)})[0]
    assert np.abs(out - ref).max() < 2e-5


def test_int8_on_disk_in_tflm_with_the_documented_quantization(exported, torch_reference):
    """The firmware recipe from the report (per-channel mapping, scale, zero point) applied by
    hand, the int8 file run in the real TFLM interpreter: close to PyTorch."""
    from tflite_micro.python.tflite_micro import runtime

    folder, report = exported
    obs, ref = torch_reference
    q_in, q_out = report["input"]["int8"], report["output"]["int8"]
    u = np.clip((obs - np.array(q_in["offset"])) / np.array(q_in["half_range"]), -1.0, 1.0)
    q = np.clip(np.round(u / q_in["scale"]) + q_in["zero_point"], -128, 127).astype(np.int8)
    model = (folder / "policy_int8.tflite").read_bytes()
    tflm = runtime.Interpreter.from_bytes(model, arena_size=report["tflm_arena_bytes"])
    outs = []
    for row in q:
        tflm.set_input(row[None], 0)
        tflm.invoke()
        outs.append(tflm.get_output(0)[0])
    actions = (np.array(outs, dtype=np.float32) - q_out["zero_point"]) * q_out["scale"]
    err = np.abs(actions - ref)
    assert err.max() / 2.0 < 0.08
    assert err.mean() / 2.0 < 0.015


def test_c_array_holds_the_tflite_bytes(exported):
    from apexrl.export.micro import parse_c_array

    folder, report = exported
    source = (folder / "policy_int8.cc").read_text()
    assert "alignas(16) const unsigned char apexrl_policy_int8_tflite[]" in source
    assert parse_c_array(source) == (folder / "policy_int8.tflite").read_bytes()
    assert report["artifacts"]["policy_int8.cc"]["checked_by"] in ("g++", "c++", "clang++")
    header = (folder / "policy_int8.h").read_text()
    assert "apexrl_int8_quantize_observation" in header and "racing_line_deviation [m]" in header
    assert "AddFullyConnected(), AddMinimum(), AddMaximum(), AddTanh()" in header


def test_outputs_are_policy_units_with_the_scaling_to_hz(exported):
    output = exported[1]["output"]
    assert output["units"] == "policy units"
    assert output["low"] == [-1.0, -1.0, -1.0] and output["high"] == [1.0, 1.0, 1.0]
    assert output["to_env"]["low"] == [0.0, 0.0, 0.0] and output["to_env"]["high"] == [1, 1, 1]
    assert output["frequency_hz"] == {"channel": 2, "formula": "hz = 50 + 250 * env"}
    assert "apexrl_mlp_frequency_hz" in (exported[0] / "policy_mlp.h").read_text()


def test_refuses_a_folder_that_holds_an_export(exported, coach_dir):
    from apexrl.export import export_policy

    with pytest.raises(FileExistsError, match="already holds an export"):
        export_policy(coach_dir, exported[0], progress=False)


def test_out_of_tolerance_fails_loudly_and_moves_the_file_aside(tmp_path):
    """An int8 tolerance no int8 model can meet: the export must fail, name the file, keep
    the report and move the failing files out of the export folder."""
    from apexrl.export import ExportError, export_policy

    coach = make_coach(tmp_path / "coach", seed=3)
    out = tmp_path / "export"
    small = fast_calibration(steps=200, validation_samples=400)
    with pytest.raises(
        ExportError, match=r"policy_int8\.tflite: max error .* tolerance 0\.0001"
    ) as e:
        export_policy(coach, out, calibration=small, progress=False,
                      tolerances=Tolerances(int8=1e-4))  # fmt: skip
    # It also says whether the int8 INPUTS alone already cost more than the tolerance.
    assert "rounding the observations to int8 alone" in str(e.value)
    report = json.loads((out / REPORT_FILE).read_text())
    assert report["passed"] is False
    floor = report["artifacts"]["policy_int8.tflite"]["input_rounding_floor"]
    assert 1e-4 < floor["max_error_fraction_of_range"] < 0.5
    assert (out / "rejected" / "policy_int8.tflite").is_file()
    assert not (out / "policy_int8.tflite").exists()
    assert (out / "policy_fp32.tflite").is_file()
    assert "rejected/policy_int8.onnx" in report["rejected"]
