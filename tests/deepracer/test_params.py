from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.deepracer.actions import ContinuousActionSpace
from apexrl.deepracer.params import (
    FRONT_OFFSET_M,
    PARAM_KEYS,
    STEP_S,
    TrackObject,
    reward_params,
    sample_params,
)
from tests.deepracer.conftest import N_WAYPOINTS, RADIUS_M, circle_track

CHORD_M = 2 * RADIUS_M * math.sin(math.pi / N_WAYPOINTS)
"""Length of one waypoint segment of the circle fixture."""


def _params(track, **overrides):
    args = {
        "x_m": RADIUS_M,
        "y_m": 0.0,
        "heading_rad": math.pi / 2,
        "speed_cmd_mps": 2.5,
        "steering_cmd_deg": -10.0,
        "steps": 7,
        "progress_pct": 12.5,
        "all_wheels_on_track": True,
        "is_offtrack": False,
        "is_crashed": False,
    }
    args.update(overrides)
    return reward_params(track, **args)


def _front_at(angle_rad: float, radius_m: float = RADIUS_M, reverse: bool = False) -> dict:
    """Origin placed so that the reported x/y lie at ``angle_rad`` on a circle of ``radius_m``."""
    heading = angle_rad + (-math.pi / 2 if reverse else math.pi / 2)
    fx, fy = radius_m * math.cos(angle_rad), radius_m * math.sin(angle_rad)
    return {
        "x_m": fx - FRONT_OFFSET_M * math.cos(heading),
        "y_m": fy - FRONT_OFFSET_M * math.sin(heading),
        "heading_rad": heading,
        "is_reversed": reverse,
    }


def test_all_27_keys_with_simulator_types(circle):
    p = _params(circle, objects=[TrackObject(0.0, 3.0, 1.0, 0.5)])
    assert len(PARAM_KEYS) == 27 and len(set(PARAM_KEYS)) == 27
    assert list(p) == list(PARAM_KEYS)
    for key in (
        "all_wheels_on_track",
        "is_left_of_center",
        "is_reversed",
        "is_offtrack",
        "is_crashed",
        "object_in_camera",
    ):
        assert type(p[key]) is bool, key
    assert type(p["steps"]) is int and p["steps"] == 7
    for key in (
        "x",
        "y",
        "heading",
        "distance_from_center",
        "projection_distance",
        "progress",
        "speed",
        "steering_angle",
        "track_width",
        "track_length",
        "sim_time",
    ):
        assert type(p[key]) is float, key
    assert type(p["waypoints"]) is list
    assert all(type(w) is tuple and len(w) == 2 for w in p["waypoints"])
    assert all(type(c) is float for w in p["waypoints"] for c in w)
    assert [type(i) for i in p["closest_waypoints"]] == [int, int]
    assert [type(i) for i in p["closest_objects"]] == [int, int]
    assert p["objects_location"] == [[0.0, 3.0]]
    assert all(type(v) is float for v in p["objects_location"][0])
    assert type(p["objects_left_of_center"][0]) is bool


def test_commanded_action_reported_unclamped(circle):
    p = _params(circle, speed_cmd_mps=5.0, steering_cmd_deg=-45.0)
    assert p["speed"] == 5.0 and p["steering_angle"] == -45.0


def test_xy_is_014_m_ahead_of_the_origin(circle):
    p = _params(circle, x_m=1.0, y_m=2.0, heading_rad=math.radians(30))
    assert p["x"] == pytest.approx(1.0 + 0.14 * math.cos(math.radians(30)), abs=1e-12)
    assert p["y"] == pytest.approx(2.0 + 0.14 * math.sin(math.radians(30)), abs=1e-12)
    q = _params(circle, x_m=1.0, y_m=2.0, heading_rad=0.0, front_offset_m=0.0)
    assert (q["x"], q["y"]) == (1.0, 2.0)


@pytest.mark.parametrize(
    ("heading_rad", "degrees"),
    [
        (math.pi / 2, 90.0),
        (-math.pi / 2, -90.0),
        (3 * math.pi, -180.0),
        (2 * math.pi + 0.5, 28.6478897565),
    ],
)
def test_heading_in_degrees_wrapped(circle, heading_rad, degrees):
    h = _params(circle, heading_rad=heading_rad)["heading"]
    assert -180.0 <= h < 180.0
    assert h == pytest.approx(degrees, abs=1e-9)


def test_projection_distance_and_length_on_the_waypoint_polyline(circle):
    k = 30
    p = _params(circle, **_front_at(2 * math.pi * k / N_WAYPOINTS))
    assert p["track_length"] == pytest.approx(N_WAYPOINTS * CHORD_M, rel=1e-12)
    assert p["projection_distance"] == pytest.approx(k * CHORD_M, abs=1e-9)
    assert p["distance_from_center"] == pytest.approx(0.0, abs=1e-9)
    assert p["closest_waypoints"] in ([k - 1, k], [k, k + 1])


def test_distance_and_side_relative_to_the_driving_direction(circle):
    # 0.3 m inside a counter-clockwise loop is left of the forward direction, right in reverse.
    inside = _params(circle, **_front_at(math.radians(47), RADIUS_M - 0.3))
    sag = RADIUS_M * (1 - math.cos(math.pi / N_WAYPOINTS))
    assert inside["distance_from_center"] == pytest.approx(0.3, abs=sag + 1e-9)
    assert inside["is_left_of_center"] is True
    reverse = _params(circle, **_front_at(math.radians(47), RADIUS_M - 0.3, reverse=True))
    assert reverse["is_left_of_center"] is False
    outside = _params(circle, **_front_at(math.radians(47), RADIUS_M + 0.2))
    assert outside["is_left_of_center"] is False


def test_track_width_is_local_left_plus_right():
    track = circle_track(w_left_m=0.4, w_right_m=0.65)
    assert _params(track)["track_width"] == pytest.approx(1.05, abs=1e-12)


def test_waypoints_repeat_the_closing_point_and_reverse(circle):
    fwd = _params(circle)["waypoints"]
    rev = _params(circle, is_reversed=True)["waypoints"]
    assert len(fwd) == N_WAYPOINTS + 1 and fwd[0] == fwd[-1]
    assert fwd[0] == pytest.approx((RADIUS_M, 0.0))
    assert rev == fwd[::-1]
    expected = [(float(x), float(y)) for x, y in circle.waypoints_xy_m]
    assert fwd[:-1] == expected


def test_closest_waypoints_at_the_seam(circle):
    half_step = math.pi / N_WAYPOINTS
    before = _params(circle, **_front_at(-half_step))
    after = _params(circle, **_front_at(half_step))
    assert before["closest_waypoints"] == [N_WAYPOINTS - 1, N_WAYPOINTS]
    assert before["waypoints"][N_WAYPOINTS] == before["waypoints"][0]
    assert before["projection_distance"] == pytest.approx((N_WAYPOINTS - 0.5) * CHORD_M)
    assert after["closest_waypoints"] == [0, 1]
    assert after["projection_distance"] == pytest.approx(0.5 * CHORD_M)
    # Driving in reverse, "just after the start" is at a small negative angle.
    rev_after = _params(circle, **_front_at(-half_step, reverse=True))
    rev_before = _params(circle, **_front_at(half_step, reverse=True))
    assert rev_after["closest_waypoints"] == [0, 1]
    assert rev_after["projection_distance"] == pytest.approx(0.5 * CHORD_M)
    assert rev_before["closest_waypoints"] == [N_WAYPOINTS - 1, N_WAYPOINTS]


def test_progress_capped_steps_checked_sim_time_default(circle):
    assert _params(circle, progress_pct=130.0)["progress"] == 100.0
    assert _params(circle, progress_pct=-1.0)["progress"] == 0.0
    assert _params(circle, steps=16)["sim_time"] == pytest.approx(15 * STEP_S)
    assert _params(circle, sim_time_s=4.25)["sim_time"] == 4.25
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        _params(circle, steps=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        _params(circle, steps=True)
    with pytest.raises(ValueError, match="x_m must be a finite number"):
        _params(circle, x_m=float("nan"))


def test_no_objects_gives_empty_lists(circle):
    p = _params(circle)
    assert p["closest_objects"] == [0, 0]
    for key in (
        "objects_location",
        "objects_left_of_center",
        "objects_speed",
        "objects_heading",
        "objects_distance",
        "objects_distance_from_center",
    ):
        assert p[key] == []
    assert p["object_in_camera"] is False


def _on_circle(angle_deg: float, radius_m: float = RADIUS_M, heading_rad: float = 0.0) -> dict:
    a = math.radians(angle_deg)
    return {
        "x_m": radius_m * math.cos(a),
        "y_m": radius_m * math.sin(a),
        "heading_rad": heading_rad,
        "speed_mps": 0.2,
    }


def test_objects_ordered_along_the_centre_line(circle):
    # On segment midpoints (k + 0.5 waypoint steps) the projection is exact at any radius.
    step_deg = 360.0 / N_WAYPOINTS
    mid_radius = RADIUS_M * math.cos(math.pi / N_WAYPOINTS)
    # Given out of order: index 0 near 180 deg (inside), 1 near 270 deg (outside), 2 near 90 deg.
    objects = [
        _on_circle(60.5 * step_deg, mid_radius - 0.2, 1.5),
        _on_circle(90.5 * step_deg, mid_radius + 0.2),
        _on_circle(30.5 * step_deg, mid_radius + 0.05),
    ]
    p = _params(circle, **_front_at(math.radians(200)), objects=objects)
    assert p["objects_distance"] == pytest.approx(
        [60.5 * CHORD_M, 90.5 * CHORD_M, 30.5 * CHORD_M], abs=1e-9
    )
    assert p["closest_objects"] == [0, 1]
    assert p["objects_left_of_center"] == [True, False, False]
    assert p["objects_distance_from_center"] == pytest.approx([0.2, 0.2, 0.05], abs=1e-9)
    assert p["objects_heading"] == [1.5, 0.0, 0.0]
    assert p["objects_speed"] == [0.2, 0.2, 0.2]
    wrapped = _params(circle, **_front_at(math.radians(300)), objects=objects)
    assert wrapped["closest_objects"] == [1, 2]
    single = _params(circle, objects=objects[:1])
    assert single["closest_objects"] == [0, 0]
    # Reversed: distances are measured the other way round from the start line.
    rev = _params(circle, **_front_at(math.radians(200), reverse=True), objects=objects)
    assert rev["objects_distance"] == pytest.approx(
        [59.5 * CHORD_M, 29.5 * CHORD_M, 89.5 * CHORD_M], abs=1e-9
    )
    assert rev["objects_left_of_center"] == [False, True, True]
    assert rev["closest_objects"] == [1, 0]


def test_object_in_camera_needs_the_next_object_ahead_and_near(circle):
    objects = [TrackObject(*_on_circle(270).values())]
    near = _params(circle, **_front_at(math.radians(250)), objects=objects)
    assert near["object_in_camera"] is True
    far = _params(circle, **_front_at(math.radians(150)), objects=objects)
    assert far["object_in_camera"] is False  # 3.9 m away: beyond the 3 m range
    behind = _params(circle, **_front_at(math.radians(280), reverse=True), objects=objects)
    assert behind["object_in_camera"] is True  # reversed: 270 deg is now ahead
    past = _params(circle, **_front_at(math.radians(275)), objects=objects)
    assert past["object_in_camera"] is False  # next object wraps to 270 deg, now behind


def test_object_dicts_must_use_trackobject_keys(circle):
    with pytest.raises(ValueError, match="object 0: keys must be x_m, y_m"):
        _params(circle, objects=[{"x": 1.0, "y": 2.0}])


def test_sample_params_shape_and_determinism(circle):
    a = sample_params(circle, 95, np.random.default_rng(3))
    b = sample_params(circle, 95, np.random.default_rng(3))
    assert a == b and len(a) == 95
    assert all(list(p) == list(PARAM_KEYS) for p in a)
    assert [p["steps"] for p in a[:3]] == [2, 3, 4]
    assert a[40]["steps"] == 2  # a new episode
    assert any(p["is_reversed"] for p in a) and not all(p["is_reversed"] for p in a)
    assert any(p["is_offtrack"] for p in a)
    last = len(a[0]["waypoints"]) - 1
    assert any(p["closest_waypoints"][1] == last for p in a)  # seam probes
    assert all(0.0 <= p["progress"] <= 100.0 for p in a)
    legacy = sample_params(circle, 5, np.random.default_rng(3), first_step=1)
    assert [p["steps"] for p in legacy] == [1, 2, 3, 4, 5]


def test_sample_params_objects_and_continuous_actions(circle):
    space = ContinuousActionSpace(-20.0, 20.0, 1.0, 2.0)
    samples = sample_params(circle, 30, np.random.default_rng(1), action_space=space, n_objects=3)
    assert all(len(p["objects_location"]) == 3 for p in samples)
    assert all(-20.0 <= p["steering_angle"] <= 20.0 and 1.0 <= p["speed"] <= 2.0 for p in samples)
    with pytest.raises(ValueError, match="first_step must be 1"):
        sample_params(circle, 3, np.random.default_rng(1), first_step=3)


def test_open_track_waypoints_are_not_closed():
    from apexrl.tracks.track import Track

    xy = np.column_stack([np.linspace(0.0, 10.0, 21), np.zeros(21)])
    track = Track.from_centerline(xy, 0.5, 0.5, closed=False, name="line")
    p = _params(track, x_m=4.0, y_m=0.2, heading_rad=0.0)
    assert len(p["waypoints"]) == 21 and p["waypoints"][0] != p["waypoints"][-1]
    assert p["projection_distance"] == pytest.approx(4.14)
    assert p["closest_waypoints"] == [8, 9]
    assert p["is_left_of_center"] is True
    samples = sample_params(track, 50, np.random.default_rng(0))
    assert all(p["closest_waypoints"][1] <= 20 for p in samples)
