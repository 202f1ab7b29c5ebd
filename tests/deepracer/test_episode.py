"""Episode rules, the batched params and the reward-call semantics (apexrl.deepracer.episode)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.deepracer.episode import (
    CRASHED,
    IMMOBILIZED,
    IMMOBILIZED_STEPS,
    IN_PROGRESS,
    LAP_COMPLETE,
    OFF_TRACK,
    PREPARE,
    REVERSED,
    REVERSED_STEPS,
    STATUSES,
    TIME_UP,
    EpisodeRules,
    Route,
    call_reward,
    centerline_reward,
    closest_objects,
    object_in_camera,
)
from apexrl.deepracer.params import reward_params
from apexrl.deepracer.reward_runner import RewardError, RewardFunction
from apexrl.tracks.library import load_track

DT = 1.0 / 15.0


@pytest.fixture(scope="module")
def oval():
    return load_track("dr_oval")


def _rules(track, first_call_step=2, time_limit_s=None, reverse=False):
    route = Route.of(track, reverse=reverse)
    return EpisodeRules(
        1, route, dt_s=DT, first_call_step=first_call_step, time_limit_s=time_limit_s
    ), route


def _step(rules, d, xy=None, off=False, crashed=False):
    xy = np.array([[d, 0.0]]) if xy is None else np.asarray(xy, dtype=float).reshape(1, 2)
    return int(rules.update(np.array([d]), xy, np.array([off]), np.array([crashed]))[0])


# ---------------------------------------------------------------------- route geometry
@pytest.mark.parametrize("name", ["dr_oval", "dr_hairpins"])
@pytest.mark.parametrize("reverse", [False, True])
def test_route_projection_matches_reward_params(name, reverse):
    track = load_track(name)
    route = Route.of(track, reverse=reverse)
    rng = np.random.default_rng(3)
    s = rng.uniform(0, track.length_m, 300)
    # On the road, off it, and far away (outside the projection grid: the full search).
    n = np.concatenate([rng.uniform(-0.8, 0.8, 280), rng.uniform(6.0, 9.0, 20)])
    xy = track.to_world(s, n)
    dist, off, left, seg = route.project(xy[:, 0], xy[:, 1])
    for i in range(0, 300, 7):
        # front_offset 0 so x/y are the projected point itself.
        p = reward_params(
            track, x_m=xy[i, 0], y_m=xy[i, 1], heading_rad=0.0, speed_cmd_mps=1.0,
            steering_cmd_deg=0.0, steps=2, progress_pct=0.0, all_wheels_on_track=True,
            is_offtrack=False, is_crashed=False, is_reversed=reverse, front_offset_m=0.0,
        )  # fmt: skip
        assert dist[i] == pytest.approx(p["projection_distance"], abs=1e-9)
        assert off[i] == pytest.approx(p["distance_from_center"], abs=1e-9)
        assert bool(left[i]) == p["is_left_of_center"]
        assert [int(seg[i]), int(seg[i]) + 1] == p["closest_waypoints"]
        assert route.track_width(dist[i : i + 1])[0] == pytest.approx(p["track_width"], abs=1e-12)
    assert route.length_m == pytest.approx(p["track_length"])
    assert list(route.tuples) == p["waypoints"]


def test_reversed_route_is_the_waypoints_backwards(oval):
    fwd, rev = Route.of(oval), Route.of(oval, reverse=True)
    assert rev.tuples == fwd.tuples[::-1]
    assert fwd.tuples[0] == fwd.tuples[-1]  # the loop's closing point is repeated
    assert rev.length_m == pytest.approx(fwd.length_m)
    # A point a quarter lap along the forward route is three quarters along the reversed one.
    d = np.array([0.25 * fwd.length_m])
    xy = oval.to_world(fwd.track_s(d))
    assert rev.project(xy[:, 0], xy[:, 1])[0][0] == pytest.approx(0.75 * fwd.length_m, abs=2e-3)


# ---------------------------------------------------------------------- rules
def test_prepare_step_then_in_progress(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([5.0]), np.array([[5.0, 0.0]]))
    assert _step(rules, 5.0) == PREPARE
    assert _step(rules, 5.1) == IN_PROGRESS
    assert rules.steps[0] == 2


def test_legacy_first_call_step_has_no_prepare(oval):
    rules, _ = _rules(oval, first_call_step=1)
    rules.reset(np.array([0]), np.array([5.0]), np.array([[5.0, 0.0]]))
    assert _step(rules, 5.0) == IN_PROGRESS


def test_first_call_step_must_be_1_or_2(oval):
    with pytest.raises(ValueError, match="first_call_step must be 2"):
        _rules(oval, first_call_step=3)


def test_progress_is_relative_to_the_start_and_wraps_the_start_line(oval):
    rules, route = _rules(oval)
    length = route.length_m
    start = length - 1.0  # one metre before the start line
    rules.reset(np.array([0]), np.array([start]), np.array([[0.0, 0.0]]))
    _step(rules, start, xy=[0, 0])
    _step(rules, start + 0.5, xy=[0.5, 0])
    assert rules.progress[0] == pytest.approx(100 * 0.5 / length)
    _step(rules, 0.5, xy=[1.5, 0])  # across the start line
    assert rules.progress[0] == pytest.approx(100 * 1.5 / length)


def test_lap_complete_when_progress_reaches_100(oval):
    rules, route = _rules(oval)
    length = route.length_m
    rules.reset(np.array([0]), np.array([3.0]), np.array([[0.0, 0.0]]))
    statuses = [_step(rules, (3.0 + k * length / 20) % length, xy=[k, 0]) for k in range(21)]
    assert statuses[-1] == LAP_COMPLETE
    assert LAP_COMPLETE not in statuses[:-1]


def test_immobilized_after_15_still_steps(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    statuses = [_step(rules, 2.0, xy=[2.0, 0.0]) for _ in range(1 + IMMOBILIZED_STEPS)]
    # Step 1 prepares (its counters are reset); steps 2..16 are the 15 still ones.
    assert statuses[:-1] == [PREPARE] + [IN_PROGRESS] * (IMMOBILIZED_STEPS - 1)
    assert statuses[-1] == IMMOBILIZED


def test_moving_more_than_the_threshold_is_not_immobilized(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    for k in range(40):
        # 0.4 mm per step: above the 0.3 mm threshold, but the progress barely changes.
        assert _step(rules, 2.0 + 4e-4 * k, xy=[2.0 + 4e-4 * k, 0.0]) != IMMOBILIZED


def test_reversed_after_15_decreasing_steps(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([9.0]), np.array([[9.0, 0.0]]))
    statuses = [_step(rules, 9.0 - 0.05 * k, xy=[9.0 - 0.05 * k, 0]) for k in range(20)]
    # Progress decreases from step 2 on; the 15th decrease is step 16.
    assert statuses.index(REVERSED) == REVERSED_STEPS
    assert rules.progress[0] < 0


def test_a_single_forward_step_resets_the_reverse_count(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([9.0]), np.array([[9.0, 0.0]]))
    d = 9.0
    for k in range(40):
        d += 0.05 if k % 10 == 9 else -0.05
        assert _step(rules, d, xy=[d, 0]) != REVERSED


def test_time_up_wins_over_everything(oval):
    rules, _ = _rules(oval, time_limit_s=1.0)
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    statuses = [_step(rules, 2.0 + 0.1 * k, xy=[2 + 0.1 * k, 0]) for k in range(14)]
    assert TIME_UP not in statuses
    assert _step(rules, 9.0, xy=[9, 0], off=True, crashed=True) == TIME_UP  # step 15 = 1.0 s


def test_status_priority_crashed_over_off_track(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    _step(rules, 2.0)
    assert _step(rules, 2.1, xy=[2.1, 0], off=True, crashed=True) == CRASHED
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    _step(rules, 2.0)
    assert _step(rules, 2.1, xy=[2.1, 0], off=True) == OFF_TRACK


def test_rules_ignore_everything_while_preparing(oval):
    rules, _ = _rules(oval)
    rules.reset(np.array([0]), np.array([2.0]), np.array([[2.0, 0.0]]))
    assert _step(rules, 2.0, off=True, crashed=True) == PREPARE
    assert STATUSES[PREPARE] == "prepare"


# ---------------------------------------------------------------------- objects
def test_closest_objects_in_route_order_with_wrap():
    dist = np.array([[5.0, 1.0, 9.0]] * 3)
    got = closest_objects(dist, np.array([3.0, 10.0, 0.5]))
    assert got.tolist() == [[1, 0], [2, 1], [2, 1]]
    assert closest_objects(np.zeros((2, 0)), np.zeros(2)).tolist() == [[0, 0], [0, 0]]


def test_object_in_camera_uses_the_field_of_view_and_range():
    front = np.zeros((4, 2))
    heading = np.zeros(4)
    objects = np.array([[2.0, 0.0], [2.0, 2.0 * math.tan(math.radians(61))], [-1.0, 0.0], [3.5, 0]])
    assert object_in_camera(front, heading, objects).tolist() == [True, False, False, False]


# ---------------------------------------------------------------------- reward calls
def test_call_reward_wraps_errors_with_file_and_step(fixture_path):
    rf = RewardFunction.load(fixture_path("raises"))
    with pytest.raises(RewardError, match=r"raises\.py: reward_function raised at step 7") as exc:
        call_reward(rf, {"speed": 1.0, "steps": 7}, 7)
    assert exc.value.step == 7 and exc.value.kind == "exception"
    assert "speed_ratio" in str(exc.value)  # the user's own traceback lines
    nan = RewardFunction.load(fixture_path("returns_nan"))
    with pytest.raises(RewardError, match="step 5") as exc:
        call_reward(nan, {"steps": 5}, 5)
    assert exc.value.kind == "value"
    assert call_reward(RewardFunction.load(lambda p: 3), {}, 2) == 3.0


def test_centerline_reward_bands():
    p = {"track_width": 1.0, "all_wheels_on_track": True}
    got = [centerline_reward({**p, "distance_from_center": d}) for d in (0.05, 0.2, 0.4, 0.6)]
    assert got == [1.0, 0.5, 0.1, 1e-3]
    assert (
        centerline_reward({**p, "distance_from_center": 0.0, "all_wheels_on_track": False}) == 1e-3
    )
