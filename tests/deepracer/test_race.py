"""Race types: object placement, bot cars, lanes and collisions (apexrl.deepracer.race)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.deepracer.drfc_env import parse_env_file, run_env
from apexrl.deepracer.episode import Route
from apexrl.deepracer.race import (
    BOT_CAR_SIZE_M,
    BOX_SIZE_M,
    RaceConfig,
    RaceObjects,
    parse_object_positions,
)
from apexrl.sensors.objects import ObjectsState, wheel_points
from apexrl.tracks.library import load_track


@pytest.fixture(scope="module")
def oval():
    return load_track("dr_oval")  # counter-clockwise


@pytest.fixture(scope="module")
def hairpins():
    return load_track("dr_hairpins")  # clockwise


def place(track, *, reverse=False, seed=0, batch=1, **settings):
    cfg = RaceConfig(**settings)
    race = RaceObjects(cfg, Route.of(track, reverse=reverse), batch)
    rngs = [np.random.default_rng(seed + i) for i in range(batch)]
    race.reset(np.arange(batch), rngs)
    return race


def route_view(race):
    """Route distance, offset and left flag of every object, (B, K) each."""
    xy = race.objects.xy_m
    d, off, left, _ = race.route.project(xy[..., 0].ravel(), xy[..., 1].ravel())
    shape = xy.shape[:2]
    return d.reshape(shape), off.reshape(shape), left.reshape(shape)


# ---------------------------------------------------------------------- configuration
def test_parse_object_positions():
    assert parse_object_positions("0.25,1;0.5,-1") == ((0.25, 1), (0.5, -1))
    assert parse_object_positions("") == ()
    assert parse_object_positions("0.3,-1;") == ((0.3, -1),)
    for bad in ("1.2,1", "0.5,2", "half,1", "0.5"):
        with pytest.raises(ValueError, match="progress_fraction,lane"):
            parse_object_positions(bad)


def test_config_counts_and_validation():
    assert RaceConfig().num_objects == 0
    assert RaceConfig(race_type="OBJECT_AVOIDANCE", number_of_obstacles=5).num_objects == 5
    positions = RaceConfig(race_type="OBJECT_AVOIDANCE", object_positions="0.2,1;0.6,-1")
    assert positions.num_objects == 2  # positions override the count
    assert positions.object_positions == ((0.2, 1), (0.6, -1))
    assert RaceConfig(race_type="HEAD_TO_BOT", number_of_bot_cars=4).num_objects == 4
    with pytest.raises(ValueError, match="race_type must be one of"):
        RaceConfig(race_type="time_trial")
    with pytest.raises(ValueError, match="lower <= upper"):
        RaceConfig(lower_lane_change_time_s=5.0, upper_lane_change_time_s=3.0)
    with pytest.raises(ValueError, match="bot_car_speed_mps must be a positive number"):
        RaceConfig(bot_car_speed_mps=0.0)
    with pytest.raises(ValueError, match="unknown race setting.*obstacles"):
        RaceConfig.from_mapping("OBJECT_AVOIDANCE", {"obstacles": 3})


def test_config_from_a_drfc_run_env(tmp_path):
    env = run_env(name="m", race_type="HEAD_TO_BOT")
    env.update(DR_H2B_BOT_CAR_SPEED="0.5", DR_H2B_IS_LANE_CHANGE="True")
    path = tmp_path / "run.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    cfg = RaceConfig.from_drfc_env(parse_env_file(path))
    assert (cfg.race_type, cfg.bot_car_speed_mps, cfg.is_lane_change) == ("HEAD_TO_BOT", 0.5, True)
    oa = RaceConfig.from_drfc_env(
        {"DR_RACE_TYPE": "OBJECT_AVOIDANCE", "DR_OA_OBJECT_POSITIONS": "0.4,-1"}
    )
    assert oa.object_positions == ((0.4, -1),)
    with pytest.raises(ValueError, match="DR_OA_NUMBER_OF_OBSTACLES='three'"):
        RaceConfig.from_drfc_env({"DR_OA_NUMBER_OF_OBSTACLES": "three"})


# ---------------------------------------------------------------------- placement
def test_evenly_spaced_boxes_alternate_inner_and_outer_lanes(oval, hairpins):
    for track, inner_is_left in ((oval, True), (hairpins, False)):
        race = place(track, race_type="OBJECT_AVOIDANCE")
        d, off, left = route_view(race)
        length = race.route.length_m
        np.testing.assert_allclose(d[0], np.linspace(2.0, length - 1.0, 3), atol=0.03)
        # Halfway between the centre line and the border (a quarter of the 1.067 m width).
        np.testing.assert_allclose(off[0], 1.067 / 4, atol=0.01)
        assert left[0].tolist() == [inner_is_left, not inner_is_left, inner_is_left]
        assert race.objects.length_m.tolist() == [BOX_SIZE_M[0]] * 3
        assert not race.objects.is_bot.any()


def test_fixed_positions_lane_1_is_inner(oval, hairpins):
    for track in (oval, hairpins):
        race = place(track, race_type="OBJECT_AVOIDANCE", object_positions="0.25,1;0.5,-1")
        d, _, left = route_view(race)
        np.testing.assert_allclose(
            d[0], [0.25 * race.route.length_m, 0.5 * race.route.length_m], atol=0.03
        )
        inner_left = track.orientation == "ccw"
        assert left[0].tolist() == [inner_left, not inner_left]


def test_reversed_positions_follow_the_driving_direction_lanes_stay(oval):
    fwd = place(oval, race_type="OBJECT_AVOIDANCE", object_positions="0.25,1")
    rev = place(oval, reverse=True, race_type="OBJECT_AVOIDANCE", object_positions="0.25,1")
    d_rev, _, left_rev = route_view(rev)
    assert d_rev[0, 0] == pytest.approx(0.25 * rev.route.length_m, abs=0.03)
    d_fwd_of_rev = fwd.route.project(*rev.objects.xy_m[0].T)[0]
    assert d_fwd_of_rev[0] == pytest.approx(0.75 * fwd.route.length_m, abs=0.03)
    # Still the inner (left on this counter-clockwise oval) lane: right of the reversed driver.
    assert not left_rev[0, 0]
    assert route_view(fwd)[2][0, 0]


def test_randomised_placement_keeps_the_gap_and_is_seeded(oval):
    kw = {"race_type": "OBJECT_AVOIDANCE", "number_of_obstacles": 4}
    kw["randomize_obstacle_locations"] = True
    kw["min_distance_between_obstacles_m"] = 2.5
    a = place(oval, seed=1, batch=20, **kw)
    b = place(oval, seed=1, batch=20, **kw)
    np.testing.assert_array_equal(a.objects.xy_m, b.objects.xy_m)
    start = a.start_m
    length = a.route.length_m
    assert (np.diff(start, axis=1) >= 2.5 - 1e-9).all()
    assert (start[:, 0] >= 2.5).all() and (start[:, -1] <= length - 1.0).all()
    assert len({tuple(row) for row in np.round(start, 6)}) == 20  # every env differs
    lanes = a.lane
    assert (lanes == 1).any() and (lanes == -1).any()


# ---------------------------------------------------------------------- bots
def test_bots_drive_their_lane_at_the_set_speed(oval):
    race = place(oval, race_type="HEAD_TO_BOT", bot_car_speed_mps=0.5, number_of_bot_cars=2)
    d0, _, left0 = route_view(race)
    race.update(np.array([4.0]))
    d1, off1, left1 = route_view(race)
    length = race.route.length_m
    np.testing.assert_allclose((d1 - d0) % length, 2.0, atol=0.03)
    np.testing.assert_allclose(off1, 1.067 / 4, atol=0.01)
    assert left1.tolist() == left0.tolist()
    assert race.objects.is_bot.all() and race.objects.length_m[0] == BOT_CAR_SIZE_M[0]
    # Facing the driving direction.
    s = race.route.track_s(race.distance_m[0])
    heading = oval.heading_at(s)
    err = (race.objects.yaw_rad[0] - heading + math.pi) % (2 * math.pi) - math.pi
    assert np.abs(err).max() < 0.05


def test_bot_lane_change_within_the_time_window(oval):
    race = place(
        oval,
        race_type="HEAD_TO_BOT",
        number_of_bot_cars=1,
        bot_car_speed_mps=0.5,
        is_lane_change=True,
        lower_lane_change_time_s=1.0,
        upper_lane_change_time_s=1.0,
        lane_change_distance_m=0.5,
    )
    # The change starts after 1 s and takes 0.5 m / 0.5 m/s = 1 s.
    lefts, offsets = [], []
    for t in (0.5, 0.99, 1.5, 2.01, 2.5):
        race.update(np.array([t]))
        _, off, left = route_view(race)
        lefts.append(bool(left[0, 0]))
        offsets.append(float(off[0, 0]))
    assert lefts[:2] == [True, True] and lefts[3:] == [False, False]
    assert offsets[2] < 0.02  # halfway: on the centre line
    assert offsets[0] == pytest.approx(1.067 / 4, abs=0.01)
    assert offsets[4] == pytest.approx(1.067 / 4, abs=0.01)
    # The next change is scheduled 1 s after this one ended.
    assert race.change_start_s[0, 0] == pytest.approx(2.01 + 1.0)


# ---------------------------------------------------------------------- collisions
def test_wheel_points_and_box_containment():
    wheels = wheel_points(np.array([1.0]), np.array([2.0]), np.array([math.pi / 2]), 0.2, 0.1)
    np.testing.assert_allclose(
        wheels[0], [[0.95, 2.0], [1.05, 2.0], [0.95, 2.2], [1.05, 2.2]], atol=1e-12
    )
    objs = ObjectsState(
        xy_m=np.array([[[1.0, 2.4], [5.0, 5.0]]]),
        yaw_rad=np.array([[math.pi / 2, 0.0]]),
        length_m=np.array([0.5, 0.5]),
        width_m=np.array([0.4, 0.4]),
        is_bot=np.array([False, False]),
        valid=np.array([[True, True]]),
    )
    assert objs.contains_any(wheels).tolist() == [[True, False]]  # front wheels at y 2.2 >= 2.15
    objs.valid[0, 0] = False
    assert objs.contains_any(wheels).tolist() == [[False, False]]
    corners = objs.corners_m()[0, 0]
    np.testing.assert_allclose(corners[0], [0.8, 2.65], atol=1e-12)  # front-left
    with pytest.raises(ValueError, match="yaw_rad must have shape"):
        ObjectsState(objs.xy_m, np.zeros(2), objs.length_m, objs.width_m, objs.is_bot, objs.valid)


def test_a_bot_only_counts_when_the_car_runs_into_it_from_behind(oval):
    race = place(oval, race_type="HEAD_TO_BOT", number_of_bot_cars=1)
    bot_xy = race.objects.xy_m[0, 0]
    # Put the car's front wheels on the bot's centre, behind it, then ahead of it.
    for delta, expected in ((-0.1, True), (0.3, False)):
        d = race.distance_m[0, 0] + delta
        wheels = np.repeat(bot_xy[None, None], 4, axis=1)
        assert race.crashed(wheels, np.array([d])).tolist() == [expected]
    boxes = place(oval, race_type="OBJECT_AVOIDANCE", number_of_obstacles=1)
    wheels = np.repeat(boxes.objects.xy_m[0, :1][None], 4, axis=1)
    assert boxes.crashed(wheels, np.array([boxes.distance_m[0, 0] + 0.3])).tolist() == [True]


def test_a_car_starting_next_to_an_object_starts_in_the_other_lane(oval):
    race = place(oval, race_type="OBJECT_AVOIDANCE", object_positions="0.5,1")
    d = race.distance_m[0, 0]
    n = race.start_lane_offset(np.array([d - 0.5, d - 3.0]), np.array([0, 0]))
    assert n[0] == pytest.approx(-1.067 / 4, abs=0.01)  # the outer lane (right, on this oval)
    assert n[1] == 0.0
