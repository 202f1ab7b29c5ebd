from __future__ import annotations

import json

import numpy as np
import pytest

from apexrl.deepracer.actions import (
    PRESETS,
    ActionSpaceError,
    ContinuousActionSpace,
    DiscreteAction,
    DiscreteActionSpace,
    action_space_from_json,
    action_space_preset,
    discrete_action_space,
    load_action_space,
    resolve_action_space,
    scale_action,
    unscale_action,
)


def test_console_style_grid():
    space = discrete_action_space(30.0, 5, 2, 1.0, 2.0)
    pairs = [(a.steering_angle_deg, a.speed_mps) for a in space.actions]
    assert pairs == [(s, v) for s in (-30.0, -15.0, 0.0, 15.0, 30.0) for v in (1.0, 2.0)]
    one_speed = discrete_action_space(20.0, 3, 1, 0.5, 1.5)
    assert [(a.steering_angle_deg, a.speed_mps) for a in one_speed.actions] == [
        (-20.0, 1.5),
        (0.0, 1.5),
        (20.0, 1.5),
    ]
    assert len(discrete_action_space(30.0, 7, 3, 1.0, 4.0)) == 21


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"steering_levels": 4}, "steering_levels must be one of (3, 5, 7)"),
        ({"speed_levels": 4}, "speed_levels must be one of (1, 2, 3)"),
        ({"max_steering_deg": 35.0}, "max_steering_deg must be in (0, 30]"),
        ({"max_speed_mps": 4.5}, "speed 4.5 m/s is outside 0.1-4 m/s"),
        ({"min_speed_mps": 3.0, "max_speed_mps": 2.0}, "min_speed_mps (3) must be below"),
    ],
)
def test_grid_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ActionSpaceError) as info:
        discrete_action_space(**kwargs)
    assert fragment in str(info.value)


def test_presets_are_valid_and_documented():
    assert set(PRESETS) == {
        "time_trial",
        "object_avoidance",
        "head_to_head",
        "centerline_following",
        "speed_optimization",
    }
    assert isinstance(PRESETS["speed_optimization"], ContinuousActionSpace)
    time_trial = PRESETS["time_trial"]
    # Friction-circle shape: the fastest action goes straight, the sharpest is the slowest.
    fastest = max(time_trial.actions, key=lambda a: a.speed_mps)
    sharpest = max(time_trial.actions, key=lambda a: abs(a.steering_angle_deg))
    assert fastest.steering_angle_deg == 0.0 and fastest.speed_mps == 4.0
    assert sharpest.speed_mps == min(a.speed_mps for a in time_trial.actions)
    for name in PRESETS:
        assert action_space_preset(name) is PRESETS[name]
    with pytest.raises(ActionSpaceError, match="no action-space preset 'fast'; presets: "):
        action_space_preset("fast")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "needs at least one action"),
        ([{"steering_angle": 0, "speed": 4.1}], "action 0: speed 4.1 m/s is outside 0.1-4 m/s"),
        ([{"steering_angle": 0, "speed": 0.05}], "speed 0.05 m/s is outside"),
        ([{"steering_angle": -31, "speed": 1}], "steering angle -31 deg is outside -30..30"),
        ([{"steering_angle": 0, "speed": float("nan")}], "must be a finite number"),
        ([{"steering_angle": True, "speed": 1}], "steering_angle must be a number, got True"),
        ([{"steering_angle": "0", "speed": 1}], "steering_angle must be a number, got '0'"),
        ([{"steering_angle": 0}], "action 0: missing speed"),
        ([{"steering_angle": 0, "speed": 1, "throttle": 1}], "unknown key(s) throttle"),
        (
            [{"steering_angle": 0, "speed": 1}, {"steering_angle": 0, "speed": 1.0}],
            "actions 0 and 1 are the same",
        ),
        ([{"steering_angle": 0, "speed": 1, "index": 1}], "action 0 has index 1"),
        ({"steering_angle": {"low": 10, "high": -10}, "speed": {"low": 1, "high": 2}}, "low (10)"),
        ({"steering_angle": {"low": -10, "high": 10}, "speed": {"low": 2, "high": 2}}, "speed low"),
        (
            {"steering_angle": {"low": -10, "high": 10}, "speed": {"low": 1, "high": 5}},
            "speed high",
        ),
        ({"steering_angle": {"low": -10, "high": 10}}, "exactly the keys steering_angle and speed"),
        ({"steering_angle": {"low": -10}, "speed": {"low": 1, "high": 2}}, "exactly low and high"),
        ("fast", "must be a list of actions (discrete) or an object"),
    ],
)
def test_invalid_action_spaces(data, fragment):
    with pytest.raises(ActionSpaceError) as info:
        action_space_from_json(data)
    assert fragment in str(info.value)


def test_json_round_trip_and_type_check():
    for space in PRESETS.values():
        assert action_space_from_json(space.to_json(), action_space_type=space.type) == space
    discrete = PRESETS["time_trial"].to_json()
    assert discrete[0] == {"steering_angle": -30, "speed": 1.2, "index": 0}
    assert PRESETS["speed_optimization"].to_json() == {
        "steering_angle": {"low": -30, "high": 30},
        "speed": {"low": 1, "high": 4},
    }
    with pytest.raises(ActionSpaceError, match="action_space_type is 'continuous' but"):
        action_space_from_json(discrete, action_space_type="continuous")


def test_continuous_scaling():
    space = ContinuousActionSpace(-20.0, 30.0, 1.0, 3.0)
    steer, speed = scale_action(space, [[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [2.0, -5.0]])
    np.testing.assert_allclose(steer, [-20.0, 30.0, 5.0, 30.0])
    np.testing.assert_allclose(speed, [1.0, 3.0, 2.0, 1.0])
    out = np.array([[0.3, -0.7], [-0.9, 0.1]])
    np.testing.assert_allclose(unscale_action(space, *scale_action(space, out)), out, atol=1e-12)
    with pytest.raises(ActionSpaceError, match="last dimension 2"):
        scale_action(space, [0.1, 0.2, 0.3])


def test_load_from_files(tmp_path):
    bare = tmp_path / "actions.json"
    bare.write_text(json.dumps([{"steering_angle": 10, "speed": 2}]))
    assert load_action_space(bare) == DiscreteActionSpace((DiscreteAction(10.0, 2.0),))
    meta = tmp_path / "model_metadata.json"
    meta.write_text(
        json.dumps(
            {
                "action_space": {
                    "steering_angle": {"low": -5, "high": 5},
                    "speed": {"low": 1, "high": 2},
                },
                "action_space_type": "continuous",
            }
        )
    )
    assert resolve_action_space(str(meta)) == ContinuousActionSpace(-5.0, 5.0, 1.0, 2.0)
    assert resolve_action_space("head_to_head") is PRESETS["head_to_head"]
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(ActionSpaceError, match="broken.json: not valid JSON"):
        load_action_space(broken)
    with pytest.raises(FileNotFoundError):
        resolve_action_space(str(tmp_path / "missing.json"))
    with pytest.raises(ActionSpaceError, match="neither a preset"):
        resolve_action_space("fastest")
