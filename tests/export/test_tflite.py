"""The int8 input mapping (closed forms), and a camera (CNN) policy through the whole export."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.export import ActorGraph, Dense, load_actor
from apexrl.export.tflite import Int8Input, int8_graph, pin_input_range
from tests.export.conftest import make_policy


def test_int8_input_quantization_closed_form():
    m = Int8Input(offset=np.array([10.0, 0.0]), half_range=np.array([5.0, 2.0]),
                  scale=0.25, zero_point=-1)  # fmt: skip
    obs = np.array([[10.0, 0.0], [12.5, 1.0], [15.0, -2.0], [100.0, -50.0], [11.0, 0.12]])
    # u = (obs - offset) / half_range, clipped: [0, 0], [.5, .5], [1, -1], [1, -1], [.2, .06]
    # q = round(u / 0.25) - 1
    assert m.quantize(obs).tolist() == [[-1, -1], [1, 1], [3, -5], [3, -5], [0, -1]]
    assert m.step_per_channel().tolist() == [1.25, 0.5]
    wide = Int8Input(np.zeros(1), np.ones(1), 1 / 127.5, -1)
    assert wide.quantize(np.array([[1.0], [-1.0], [5.0]])).ravel().tolist() == [127, -128, 127]


def test_folding_the_input_mapping_is_exact_inside_the_bounds():
    policy, space = make_policy("ppo", seed=2)
    graph = load_actor(policy).graph
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    low[3], high[3] = 0.0, 300.0  # a narrower range than the box for one channel
    g8, mapping = int8_graph(graph, low, high)
    assert isinstance(g8.layers[0], Dense) and len(g8.layers) == len(graph.layers) - 1
    rng = np.random.default_rng(0)
    inside = rng.uniform(low, high, (500, 8))
    assert np.abs(g8.forward(mapping.transform(inside)) - graph.forward(inside)).max() < 1e-5
    # Outside the bounds the int8 model sees the clipped channel, like the firmware will.
    outside = inside.copy()
    outside[:, 3] = 450.0
    clipped = outside.copy()
    clipped[:, 3] = 300.0
    assert np.abs(g8.forward(mapping.transform(outside)) - graph.forward(clipped)).max() < 1e-5


def test_camera_graph_keeps_its_input():
    graph = ActorGraph((Dense(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),), (2,),
                       "action", -np.ones(2, np.float32), np.ones(2, np.float32))  # fmt: skip
    same, mapping = int8_graph(graph, np.zeros(2), np.ones(2))
    assert same is graph and mapping is None


def test_pin_input_range_touches_one_entry_per_end():
    rep = np.array([[0.25, -0.5], [0.75, 0.125]], np.float32)
    pinned = pin_input_range(rep)
    assert pinned.tolist() == [[0.25, -1.0], [1.0, 0.125]]
    assert rep.tolist() == [[0.25, -0.5], [0.75, 0.125]]  # a copy
    assert pin_input_range(np.array([[-1.0, 1.0]])).tolist() == [[-1.0, 1.0]]


def test_camera_policy_export(tmp_path):
    """A DeepRacer camera policy (NatureCNN, 120x160 gray, continuous steering/speed), calibrated
    on real DeepRacer camera frames: every TFLite variant converts and passes, TFLM runs the int8
    CNN, and the report says it does not fit an ESP32 and which input size would."""
    from apexrl.export import export_policy
    from apexrl.export.report import REPORT_FILE, CalibrationConfig
    from tests.export.test_graph import _cnn_policy

    out = tmp_path / "cnn"
    report = export_policy(_cnn_policy(features_dim=16), out, progress=False,
                           calibration=CalibrationConfig(camera_frames=12))  # fmt: skip
    arts = report["artifacts"]
    assert report["model"]["kind"] == "cnn" and report["model"]["input_shape"] == [120, 160, 1]
    assert arts["policy_fp32.tflite"]["max_abs_error"] < 1e-4
    assert arts["policy_int8.tflite"]["tflm_loads"] is True
    assert {r["op"] for r in report["ops"]} >= {"CONV_2D", "FULLY_CONNECTED"}
    assert report["tflm_matches_litert"] is True
    assert report["fits_budget"] is False
    assert report["cnn"]["suggested_input_hw"] == [40, 53]
    assert "policy_mlp.c" not in arts and not (out / "policy_mlp.c").exists()
    assert report["calibration"]["source"] == "deepracer camera rollouts"
    assert (out / REPORT_FILE).is_file()


@pytest.mark.parametrize("bad", [{"steps": 0}, {"actors": ("human",)}, {"source": "noise"}])
def test_calibration_config_rejects_bad_values(bad):
    from apexrl.export.report import CalibrationConfig

    with pytest.raises(ValueError):
        CalibrationConfig(**bad)
