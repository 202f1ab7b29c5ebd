"""DeepRacer Gymnasium environments: API conformance, the simulator's semantics, vectors."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import apexrl  # noqa: F401  (registers the ids)
from apexrl.deepracer.actions import ContinuousActionSpace
from apexrl.deepracer.files import LidarConfig
from apexrl.deepracer.params import PARAM_KEYS, reward_params
from apexrl.deepracer.reward_runner import RewardError
from apexrl.deepracer.reward_test import ScriptedDriver
from apexrl.envs.deepracer import TELEMETRY_FIELDS, DeepRacerEnv, DeepRacerVectorEnv
from apexrl.vehicles import car as carm

FIXTURES = __import__("pathlib").Path(__file__).parents[1] / "deepracer" / "fixtures"

PARAM_TYPES = {
    "all_wheels_on_track": bool,
    "x": float,
    "y": float,
    "heading": float,
    "distance_from_center": float,
    "projection_distance": float,
    "progress": float,
    "steps": int,
    "speed": float,
    "steering_angle": float,
    "track_width": float,
    "track_length": float,
    "waypoints": list,
    "closest_waypoints": list,
    "is_left_of_center": bool,
    "is_reversed": bool,
    "is_offtrack": bool,
    "is_crashed": bool,
    "closest_objects": list,
    "objects_location": list,
    "objects_left_of_center": list,
    "objects_speed": list,
    "objects_heading": list,
    "objects_distance": list,
    "objects_distance_from_center": list,
    "object_in_camera": bool,
    "sim_time": float,
}


class Recorder:
    """A reward function that keeps a deep copy of every params dict it gets."""

    def __init__(self, value: float = 1.0) -> None:
        self.calls: list[dict] = []
        self.value = value

    def __call__(self, params):
        import copy

        self.calls.append(copy.deepcopy(params))
        return self.value


def make(**kwargs) -> DeepRacerEnv:
    kwargs.setdefault("sensors", [])
    return DeepRacerEnv(**kwargs)


def drive(env, actions, max_steps=2000):
    """Step until the episode ends; returns the list of (reward, info) per step."""
    out = []
    for _ in range(max_steps):
        _, reward, term, trunc, info = env.step(actions())
        out.append((reward, info))
        if term or trunc:
            return out
    raise AssertionError("the episode did not end")


def pursuit(env, speed=1.5):
    driver = ScriptedDriver(env.batch, "centerline", speed_mps=speed, rng=np.random.default_rng(0))
    return lambda: driver.actions()[0] if env.action_space.shape == () else driver.actions()[0]


# ---------------------------------------------------------------------- API conformance
def _check_without_warnings(env):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


def test_check_env_telemetry_only():
    _check_without_warnings(gym.make("apexrl/DeepRacer-v0", sensors=[], track="dr_oval"))


def test_check_env_camera_and_lidar():
    pytest.importorskip("apexrl.sensors.lidar")
    env = gym.make(
        "apexrl/DeepRacer-v0",
        sensors=["FRONT_FACING_CAMERA", "LIDAR"],
        stack_size=2,
        action_space="speed_optimization",
        race_type="OBJECT_AVOIDANCE",
    )
    _check_without_warnings(env)


def test_check_env_camera():
    _check_without_warnings(gym.make("apexrl/DeepRacer-v0", track="dr_hairpins", stack_size=3))


def test_spaces():
    env = make()
    assert env.action_space == gym.spaces.Discrete(12)  # the time_trial preset
    assert list(env.observation_space) == ["TELEMETRY"]
    assert env.observation_space["TELEMETRY"].shape == (len(TELEMETRY_FIELDS),)
    cont = make(action_space=ContinuousActionSpace(-20, 20, 1, 3))
    assert cont.action_space == gym.spaces.Box(-1, 1, (2,), np.float32)
    cam = DeepRacerEnv(sensors=["STEREO_CAMERAS"], stack_size=2)
    assert list(cam.observation_space) == ["STEREO_CAMERAS"]
    assert cam.observation_space["STEREO_CAMERAS"].shape == (120, 160, 4)
    obs, _ = cam.reset(seed=0)
    assert obs["STEREO_CAMERAS"].dtype == np.uint8
    # The stack starts as the first frame repeated: (left, right) twice.
    assert np.array_equal(obs["STEREO_CAMERAS"][..., :2], obs["STEREO_CAMERAS"][..., 2:])


@pytest.mark.parametrize(
    ("lidar", "config", "shape", "high"),
    [
        ("LIDAR", None, (64,), 12.0),
        ("SECTOR_LIDAR", None, (8,), 1.0),
        ("DISCRETIZED_SECTOR_LIDAR", {"num_sectors": 4, "num_values_per_sector": 3}, (12,), 1.0),
        ("DISCRETIZED_SECTOR_LIDAR", LidarConfig(8, 2, 1.5), (16,), 1.0),
    ],
)
def test_lidar_observations(lidar, config, shape, high):
    pytest.importorskip("apexrl.sensors.lidar")
    env = DeepRacerEnv(
        sensors=["LEFT_CAMERA", lidar], lidar_config=config, race_type="OBJECT_AVOIDANCE"
    )
    space = env.observation_space[lidar]
    assert (space.shape, space.high.max()) == (shape, high)
    obs, _ = env.reset(seed=0)
    for _ in range(3):
        assert obs in env.observation_space
        obs, *_ = env.step(5)


@pytest.mark.parametrize(
    ("sensors", "message"),
    [
        (["LIDAR"], "no camera"),
        (["FRONT_FACING_CAMERA", "LEFT_CAMERA"], "2 cameras"),
        (["FRONT_FACING_CAMERA", "LIDAR", "SECTOR_LIDAR"], "2 lidars"),
        (["FRONT_CAMERA"], "unknown sensor"),
    ],
)
def test_sensor_lists_are_validated_like_the_simulator(sensors, message):
    with pytest.raises(ValueError, match=message):
        DeepRacerEnv(sensors=sensors)


def test_camera_frames_stack_oldest_first():
    env = DeepRacerEnv(stack_size=3, track="dr_oval", start="start_line")
    obs0, _ = env.reset(seed=0)
    frames = [obs0["FRONT_FACING_CAMERA"][..., -1]]
    for _ in range(4):
        obs, *_ = env.step(6)  # straight at 4 m/s: the view changes every step after step 1
        frames.append(obs["FRONT_FACING_CAMERA"][..., -1])
    stack = obs["FRONT_FACING_CAMERA"]
    assert [np.array_equal(stack[..., i], frames[2 + i]) for i in range(3)] == [True] * 3
    assert not np.array_equal(frames[-1], frames[-2])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="stack_size stacks camera frames"):
        make(stack_size=2)
    with pytest.raises(ValueError, match="lidar_config needs a lidar"):
        DeepRacerEnv(lidar_config={"num_sectors": 8})
    with pytest.raises(ValueError, match="start must be one of"):
        make(start="middle")
    with pytest.raises(ValueError, match="unknown race setting"):
        make(race_type="OBJECT_AVOIDANCE", race={"obstacles": 2})
    with pytest.raises(ValueError, match="race_type must be one of"):
        make(race_type="DRAG_RACE")
    env = make()
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


# ---------------------------------------------------------------------- params
def test_every_call_gets_27_keys_of_the_right_types():
    rec = Recorder()
    env = make(
        reward_function=rec, race_type="HEAD_TO_BOT", track="dr_hairpins", start="start_line"
    )
    env.reset(seed=4)
    drive(env, pursuit(env))
    assert len(rec.calls) > 50
    for params in rec.calls:
        assert list(params) == list(PARAM_KEYS)
        for key, kind in PARAM_TYPES.items():
            assert type(params[key]) is kind, (key, type(params[key]))
        assert all(type(p) is tuple and len(p) == 2 for p in params["waypoints"])
        assert len(params["objects_location"]) == 3
        assert all(type(v) is float for v in params["objects_heading"])
        assert params["objects_speed"] == [0.2] * 3
        assert 0 <= params["progress"] <= 100


def test_params_match_reward_params_at_the_start_of_each_step():
    """The batched params equal apexrl.deepracer.params.reward_params for the pose at the START
    of the step, with the action's commanded speed and steering."""
    rec = Recorder()
    env = make(
        reward_function=rec,
        race_type="OBJECT_AVOIDANCE",
        race={"randomize_obstacle_locations": True},
        reverse=True,
        track="dr_hairpins",
    )
    env.reset(seed=11)
    batch = env.batch
    rng = np.random.default_rng(0)
    for _ in range(25):
        st = batch.sim.state[0].copy()
        objs = batch.race.objects
        objects = [
            {"x_m": float(x), "y_m": float(y), "heading_rad": 0.0, "speed_mps": 0.0}
            for x, y in objs.xy_m[0]
        ]
        progress = float(batch.rules.progress[0])
        action = int(rng.integers(0, 12))
        *_, term, trunc, info = env.step(action)
        steps = info["steps"]
        if steps < 2:
            continue
        a = env.dr_action_space.actions[action]
        got = rec.calls[-1]
        expected = reward_params(
            env.batch.track,
            x_m=st[carm.X_M],
            y_m=st[carm.Y_M],
            heading_rad=st[carm.YAW_RAD],
            speed_cmd_mps=a.speed_mps,
            steering_cmd_deg=a.steering_angle_deg,
            steps=steps,
            progress_pct=progress + (info["progress"] - progress),
            all_wheels_on_track=got["all_wheels_on_track"],
            is_offtrack=got["is_offtrack"],
            is_crashed=got["is_crashed"],
            is_reversed=True,
            objects=objects,
        )
        for key in PARAM_KEYS:
            if isinstance(expected[key], float):
                assert got[key] == pytest.approx(expected[key], abs=1e-9), key
            elif key == "objects_location" or key.startswith("objects_d"):
                np.testing.assert_allclose(got[key], expected[key], atol=1e-9, err_msg=key)
            else:
                assert got[key] == expected[key], key
        if term or trunc:
            break


def test_first_call_at_step_2_and_prepare_holds_the_car():
    rec = Recorder(value=1.0)
    env = make(reward_function=rec)
    obs0, info0 = env.reset(seed=1)
    assert info0["episode_status"] == "prepare" and info0["steps"] == 0
    obs1, r1, term, trunc, info1 = env.step(6)
    assert (r1, info1["episode_status"], info1["steps"], rec.calls) == (0.0, "prepare", 1, [])
    assert np.array_equal(obs1["TELEMETRY"], obs0["TELEMETRY"])  # held at the start pose
    _, r2, *_ = env.step(6)
    assert r2 == 1.0 and [c["steps"] for c in rec.calls] == [2]
    assert rec.calls[0]["speed"] == 4.0 and rec.calls[0]["sim_time"] == pytest.approx(1 / 15)
    assert rec.calls[0]["progress"] == 0.0  # the car has not moved yet


def test_first_call_step_1_emulates_old_simulators():
    rec = Recorder()
    env = make(reward_function=rec, first_call_step=1)
    obs0, _ = env.reset(seed=1)
    obs1, r1, _, _, info = env.step(6)
    assert r1 == 1.0 and rec.calls[0]["steps"] == 1 and info["episode_status"] == "in_progress"
    assert rec.calls[0]["sim_time"] == 0.0
    assert obs1["TELEMETRY"][0] > 0  # it moved on step 1


def test_progress_is_relative_to_the_episode_start():
    rec = Recorder()
    env = make(reward_function=rec, start="random", track="dr_flow")
    env.reset(seed=5)
    for _ in range(30):
        env.step(6)
    first = rec.calls[0]
    start = first["projection_distance"]
    assert start > 5.0  # a random start, not the start line
    assert first["progress"] == 0.0
    last = rec.calls[-1]
    driven = (last["projection_distance"] - start) % last["track_length"]
    assert 0 < last["progress"] == pytest.approx(100 * driven / last["track_length"], abs=1e-9)


# ---------------------------------------------------------------------- episode ends
def test_lap_complete():
    rec = Recorder()
    env = make(reward_function=rec, start="start_line")
    env.reset(seed=0)
    steps = drive(env, pursuit(env))
    assert steps[-1][1]["episode_status"] == "lap_complete"
    assert rec.calls[-1]["progress"] == 100.0
    assert all(c["all_wheels_on_track"] for c in rec.calls)


def test_off_track_only_when_all_four_wheels_are_off():
    rec = Recorder()
    env = make(reward_function=rec, start="start_line")
    env.reset(seed=0)
    wheels, sim_flags = [], []

    def left_turn():
        wheels.append(env.batch.wheels_on_road()[0].copy())
        sim_flags.append(bool(env.batch.sim.telemetry.off_track[0]))
        return 7  # 10 deg left at 2.2 m/s: a 0.94 m circle leaves the straight (inside)

    steps = drive(env, left_turn)
    assert steps[-1][1]["episode_status"] == "off_track"
    # The rule looks at the pose at the start of the last step: every wheel off then ...
    assert not wheels[-1].any() and rec.calls[-1]["is_offtrack"]
    # ... while on the steps before, some wheel was still on and the episode went on.
    partly = [
        c for c, w in zip(rec.calls[:-1], wheels[1:-1], strict=True) if w.any() and not w.all()
    ]
    assert partly and all(not c["all_wheels_on_track"] and not c["is_offtrack"] for c in partly)
    # The same test as apexrl.sim's flag (from step 3 on: no held prepare step in between).
    assert sim_flags[2:] == [not w.any() for w in wheels[2:]]


def test_time_up_truncates():
    env = make(time_limit_s=1.0, start="start_line")
    env.reset(seed=0)
    steps = drive(env, pursuit(env))
    assert len(steps) == 15 and steps[-1][1]["episode_status"] == "time_up"
    with pytest.raises(RuntimeError, match="after an episode ends"):
        env.step(0)


def test_immobilized_when_the_car_cannot_move():
    env = make(start="start_line")
    env.reset(seed=0)
    env.batch.sim.step = lambda actions: None  # the car is stuck: physics leaves it in place
    steps = drive(env, lambda: 6)
    assert steps[-1][1]["episode_status"] == "immobilized"
    assert len(steps) == 16  # step 1 prepares; then 15 steps without movement


def test_reversed_when_driving_the_wrong_way():
    rec = Recorder()
    env = make(reward_function=rec, start="start_line", track="dr_flow")
    env.reset(seed=0)
    st = env.batch.sim.state
    st[0, carm.YAW_RAD] = math.pi  # turned around on the start line (track heading is 0 there)
    st[0, carm.HEADING_ERROR_RAD] = -math.pi
    steps = drive(env, lambda: 6)
    assert steps[-1][1]["episode_status"] == "reversed"
    progress = [c["progress"] for c in rec.calls]
    assert progress[-1] == 0.0  # reported progress is clipped at 0
    assert env.batch.rules.progress[0] < 0
    assert 16 <= len(steps) <= 18


def test_crash_into_a_box_ends_the_episode_with_is_crashed():
    rec = Recorder()
    env = make(
        reward_function=rec,
        race_type="OBJECT_AVOIDANCE",
        race={"object_positions": "0.1,1"},
        start="start_line",
    )
    env.reset(seed=0)
    steps = drive(env, pursuit(env))
    assert steps[-1][1]["episode_status"] == "crashed"
    assert rec.calls[-1]["is_crashed"] and not any(c["is_crashed"] for c in rec.calls[:-1])
    box_d = rec.calls[-1]["objects_distance"][0]
    assert box_d == pytest.approx(0.1 * rec.calls[-1]["track_length"], abs=0.05)
    assert rec.calls[-1]["projection_distance"] < box_d  # hit it from behind


def test_reverse_driving():
    rec = Recorder()
    env = make(reward_function=rec, reverse=True, start="start_line", track="dr_hairpins")
    env.reset(seed=0)
    steps = drive(env, pursuit(env), max_steps=4000)
    assert steps[-1][1]["episode_status"] == "lap_complete"
    forward = env.batch.track.waypoints_xy_m
    first = rec.calls[0]
    assert first["is_reversed"] is True
    assert first["waypoints"][1] == tuple(forward[-1])  # driving order: backwards
    assert first["waypoints"][0] == tuple(forward[0])
    # Driving backwards, projection_distance grows along the reversed waypoints.
    assert rec.calls[40]["projection_distance"] > rec.calls[5]["projection_distance"]


def test_reward_errors_surface_with_file_and_step():
    env = make(reward_function=str(FIXTURES / "returns_nan.py"))
    env.reset(seed=0)
    for _ in range(4):
        env.step(0)
    with pytest.raises(RewardError, match=r"returns_nan\.py.*step 5"):
        env.step(0)


# ---------------------------------------------------------------------- determinism and vectors
def _rollout(env, seed, n):
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, results = [obs["TELEMETRY"]], []
    for _ in range(n):
        obs, r, term, trunc, info = env.step(int(rng.integers(0, 12)))
        observations.append(obs["TELEMETRY"])
        results.append((r, term, trunc, info["episode_status"]))
        if term or trunc:
            observations.append(env.reset()[0]["TELEMETRY"])
    return np.stack(observations), results


def test_same_seed_same_rollout():
    kw = {"race_type": "HEAD_TO_BOT", "race": {"is_lane_change": True}, "track": "dr_flow"}
    obs_a, res_a = _rollout(make(**kw), 3, 200)
    obs_b, res_b = _rollout(make(**kw), 3, 200)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert res_a == res_b
    assert sum(r[1] for r in res_a) >= 2  # several episodes, reset without a seed in between
    obs_c, _ = _rollout(make(**kw), 4, 200)
    assert obs_c.shape != obs_a.shape or not np.array_equal(obs_a, obs_c)


def test_vector_env_equals_single_envs():
    n, seed, steps = 3, 20, 120
    kw = {
        "race_type": "HEAD_TO_BOT",
        "race": {"is_lane_change": True, "randomize_bot_car_locations": True},
        "reward_function": str(FIXTURES / "globals_state.py"),
        "track": "dr_oval",
    }
    vec = DeepRacerVectorEnv(n, sensors=[], **kw)
    singles = [make(**kw) for _ in range(n)]
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 12, (steps, n))
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    ends = 0
    for t in range(steps):
        np.testing.assert_array_equal(obs_v["TELEMETRY"], np.stack([o["TELEMETRY"] for o in obs_s]))
        obs_v, rew_v, term_v, trunc_v, info_v = vec.step(actions[t])
        for i, env in enumerate(singles):
            o, r, term, trunc, info = env.step(int(actions[t, i]))
            assert (rew_v[i], term_v[i], trunc_v[i]) == (r, term, trunc)
            assert info_v["episode_status"][i] == info["episode_status"]
            if term or trunc:
                ends += 1
                np.testing.assert_array_equal(info_v["final_obs"][i]["TELEMETRY"], o["TELEMETRY"])
                o, _ = env.reset()
            obs_s[i] = o
    assert ends >= 2  # autoreset was exercised


def test_vector_env_spaces_and_bad_actions():
    vec = DeepRacerVectorEnv(4, sensors=[], action_space="speed_optimization")
    assert vec.action_space.shape == (4, 2)
    assert vec.observation_space["TELEMETRY"].shape == (4, len(TELEMETRY_FIELDS))
    vec.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(4, 2\)"):
        vec.step(np.zeros((3, 2)))
    disc = DeepRacerVectorEnv(2, sensors=[])
    disc.reset(seed=0)
    with pytest.raises(ValueError, match=r"action indices must be in \[0, 12\)"):
        disc.step(np.array([0, 12]))


def test_vector_env_equals_single_envs_with_camera_lidar_and_boxes():
    n, seed = 2, 5
    kw = {
        "sensors": ["FRONT_FACING_CAMERA", "SECTOR_LIDAR"],
        "stack_size": 2,
        "race_type": "OBJECT_AVOIDANCE",
        "race": {"randomize_obstacle_locations": True},
    }
    pytest.importorskip("apexrl.sensors.lidar")
    vec = DeepRacerVectorEnv(n, **kw)
    singles = [DeepRacerEnv(**kw) for _ in range(n)]
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    rng = np.random.default_rng(1)
    ends = 0
    for _ in range(40):
        for key in obs_v:
            np.testing.assert_array_equal(obs_v[key], np.stack([o[key] for o in obs_s]))
        actions = rng.integers(0, 12, n)
        obs_v, rew_v, term_v, trunc_v, _ = vec.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, _ = env.step(int(actions[i]))
            assert (rew_v[i], term_v[i]) == (r, term)
            if term or trunc:
                ends += 1
                o, _ = env.reset()
            obs_s[i] = o
    assert ends >= 1
