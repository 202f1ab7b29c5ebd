"""Exporting an int8-aware coach: the int8 model has exactly the grids the coach was trained with
(FakeQuant ops, not calibration), so it matches the coach's own PyTorch forward; the float
artifacts are its float network."""

from __future__ import annotations

import numpy as np

from apexrl.export import load_actor
from apexrl.export.report import ARTIFACTS, DYNAMIC_SKIPPED
from apexrl.export.tflite import OUTPUT_SCALE
from apexrl.train.quant import INPUT_SCALE, PRE_SCALE, TANH_SCALE


def test_the_export_passes_and_leaves_out_only_the_dynamic_range_model(exported_int8_aware):
    _, folder, report = exported_int8_aware
    assert report["passed"], report["failures"]
    assert report["skipped_artifacts"] == {"policy_dynamic.tflite": DYNAMIC_SKIPPED}
    assert report["model"]["int8_aware"] is True
    made = {name for name in ARTIFACTS if (folder / name).is_file()}
    assert made == set(ARTIFACTS) - {"policy_dynamic.tflite"}
    assert set(report["artifacts"]) == made


def test_the_int8_models_meet_the_2_percent_target_against_the_coach(exported_int8_aware):
    _, _, report = exported_int8_aware
    for name in ("policy_int8.tflite", "policy_int8.h", "policy_int8.onnx"):
        assert report["artifacts"][name]["max_error_fraction_of_range"] <= 0.02, name
    assert report["targets"]["int8_max_error_fraction_of_range"]["met"]


def test_the_int8_tensors_have_the_trained_grids(exported_int8_aware):
    from ai_edge_litert.interpreter import Interpreter

    _, folder, _ = exported_int8_aware
    it = Interpreter(model_path=str(folder / "policy_int8.tflite"))
    it.allocate_tensors()
    grids = [(d["name"], d["quantization"]) for d in it.get_tensor_details()
             if d["dtype"] == np.int8 and d["quantization"][0] > 0]  # fmt: skip
    scales = {round(q[0], 9) for _, q in grids}
    expected = {round(s, 9) for s in (INPUT_SCALE, PRE_SCALE, TANH_SCALE)}
    assert expected <= scales
    assert all(q[1] == 0 for _, q in grids)  # every zero point 0, as trained
    out = it.get_output_details()[0]["quantization"]
    assert abs(out[0] - OUTPUT_SCALE) < 0.01 * OUTPUT_SCALE  # [-1, 1]: the clip may trim it


def test_float_artifacts_are_the_float_network(exported_int8_aware):
    coach, folder, report = exported_int8_aware
    actor = load_actor(coach)
    obs = np.random.default_rng(0).uniform(-1, 1, (300, 8)) * 0.3 + 0.5
    obs = np.clip(obs.astype(np.float32), actor.policy.observation_space.low,
                  actor.policy.observation_space.high)  # fmt: skip
    float_out, int8_out = actor.reference(obs), actor.reference_int8(obs)
    np.testing.assert_allclose(actor.graph.forward(obs), float_out, atol=1e-5)
    assert np.abs(float_out - int8_out).max() > 1e-3  # the roundings are the coach's
    for name in ("policy.onnx", "policy_fp32.tflite"):
        assert report["artifacts"][name]["max_error_fraction_of_range"] <= 1e-5, name


def test_the_c_forward_pass_is_the_int8_network_in_integer_arithmetic(exported_int8_aware):
    _, folder, report = exported_int8_aware
    source = (folder / "policy_mlp.c").read_text()
    assert "static const signed char w0[" in source and "nearbyint" in source
    entry = report["artifacts"]["policy_mlp.c"]
    assert entry["max_error_fraction_of_range"] <= 1e-5  # against the coach's int8 forward
    assert entry["weights_bytes"] < report["artifacts"]["policy_int8.tflite"]["bytes"]
