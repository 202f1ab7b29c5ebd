from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.deepracer.params import sample_params
from apexrl.deepracer.reward_runner import MAX_ABS_REWARD, RewardError, RewardFunction


@pytest.fixture(scope="module")
def params(circle):
    return sample_params(circle, 12, np.random.default_rng(0))


def test_module_globals_persist_across_calls_and_episodes(fixture_path, params):
    rf = RewardFunction.load(fixture_path("globals_state"))
    for p in params:
        rf(p)
    assert rf.module.CALLS == len(params)
    episode_two = dict(params[0])  # steps go back down: a new episode
    rf(episode_two)
    assert rf.module.CALLS == len(params) + 1 and rf.module.EPISODES == 2
    # A second load is a fresh import with its own globals.
    other = RewardFunction.load(fixture_path("globals_state"))
    assert other.module is not rf.module and other.module.CALLS == 0


def test_class_instance_keeps_state(fixture_path, params):
    rf = RewardFunction.load(fixture_path("class_state"))
    rewards = [rf(p) for p in params]
    assert rf.module.driver.calls == len(params)
    assert rf.module.driver.previous_steering == params[-1]["steering_angle"]
    assert all(type(r) is float for r in rewards)


def test_params_are_deep_copied(params):
    original = params[0]
    before = [tuple(w) for w in original["waypoints"]]

    def vandal(p):
        p["waypoints"].clear()
        p["closest_waypoints"][0] = -1
        p["steps"] = 0
        return 1.0

    assert RewardFunction.load(vandal)(original) == 1.0
    assert original["waypoints"] == before and original["closest_waypoints"][0] >= 0
    assert original["steps"] == 2


def test_int_return_becomes_float(fixture_path, params):
    rf = RewardFunction.load(fixture_path("int_return"))
    values = {rf(p) for p in params}
    assert values <= {0.0, 1.0} and all(type(v) is float for v in values)


def test_numpy_and_shapely_importable(fixture_path, params):
    rf = RewardFunction.load(fixture_path("numpy_shapely"))
    reward = rf(params[3])
    assert type(reward) is float and 1e-3 <= reward <= 2.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (math.nan, "returned nan at step 9"),
        (math.inf, "returned inf at step 9"),
        (-math.inf, "returned -inf at step 9"),
        (1e5 + 1, "|reward| > 100000"),
        ("1.5", "returned text '1.5' at step 9"),
        (None, "returned None (NoneType) at step 9, which is not a number"),
        ([1.0], "returned [1.0] (list) at step 9"),
    ],
)
def test_invalid_returns_name_file_step_and_value(value, fragment):
    rf = RewardFunction.load(lambda p: value)
    with pytest.raises(RewardError) as info:
        rf({"steps": 9})
    assert fragment in str(info.value)
    assert info.value.kind == "value" and info.value.step == 9
    assert "test_reward_runner.py" in str(info.value)  # the lambda's file names the function


@pytest.mark.parametrize("value", [MAX_ABS_REWARD, -MAX_ABS_REWARD, -3, 0, True, np.float32(0.5)])
def test_valid_returns(value):
    assert RewardFunction.load(lambda p: value)({"steps": 2}) == float(value)


def test_nan_fixture_reports_step_and_value(fixture_path, params):
    rf = RewardFunction.load(fixture_path("returns_nan"))
    for p in params[:3]:
        assert rf(p) == 1.0
    with pytest.raises(RewardError) as info:
        rf(params[3])
    assert info.value.step == 5 and info.value.value == "nan"
    assert str(fixture_path("returns_nan")) in str(info.value)


def test_exception_shows_only_user_frames(fixture_path, params):
    path = fixture_path("raises")
    rf = RewardFunction.load(path)
    with pytest.raises(RewardError) as info:
        rf(params[0])
    message = str(info.value)
    assert message.startswith(f"{path}: reward_function raised at step 2: ZeroDivisionError")
    assert f'File "{path}", line 9, in reward_function' in message
    assert f'File "{path}", line 5, in speed_ratio' in message
    assert "reward_runner.py" not in message
    assert info.value.kind == "exception" and info.value.step == 2


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="reward function file not found"):
        RewardFunction.load(tmp_path / "missing.py")
    with pytest.raises(IsADirectoryError):
        RewardFunction.load(tmp_path)
    broken = tmp_path / "broken.py"
    broken.write_text("def reward_function(params)\n    return 1.0\n")
    with pytest.raises(RewardError, match=r"broken.py line 1: syntax error: expected ':'"):
        RewardFunction.load(broken)
    nothing = tmp_path / "nothing.py"
    nothing.write_text("def reward(params):\n    return 1.0\n")
    with pytest.raises(RewardError, match=r"does not define reward_function\(params\)"):
        RewardFunction.load(nothing)
    not_callable = tmp_path / "value.py"
    not_callable.write_text("reward_function = 3\n")
    with pytest.raises(RewardError, match="reward_function is a int, not a function"):
        RewardFunction.load(not_callable)
    failing = tmp_path / "failing.py"
    failing.write_text("import math\nVALUE = math.sqrt(-1)\n")
    with pytest.raises(RewardError) as info:
        RewardFunction.load(failing)
    assert "importing the module failed: ValueError: math domain error" in str(info.value)
    assert f'File "{failing}", line 2, in <module>' in str(info.value)
