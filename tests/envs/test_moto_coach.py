"""apexrl/MotoCoach-v0: Gymnasium conformance and the facts a coaching env must get right."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import apexrl  # noqa: F401  (registers the ids)
from apexrl.envs.moto_coach import MotoCoachEnv
from apexrl.envs.vector import OBSERVATION_NAMES, REWARD_TERMS, MotoCoachVectorEnv
from apexrl.riders import nominal_rider

OVAL = "oval:a=300,b=150,width=12"
NO_CUE = np.array([0.0, 0.0, 0.4], dtype=np.float32)
INFO_KEYS = {"reward_terms", "safety_violations", "crash_cause", "lap_completed", "lap_time_s"}


def test_check_env_passes_without_warnings():
    env = gym.make("apexrl/MotoCoach-v0")  # the built-in apex_park
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    assert env.unwrapped.core.track.name == "apex_park"
    assert env.observation_space.shape == (8,) and env.action_space.shape == (3,)


def _rollout(env, actions, seed):
    obs, info = env.reset(seed=seed)
    out = [(obs, 0.0, info)]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append((obs, reward, info))
        if terminated or truncated:
            break
    return out


def test_rollouts_stay_in_the_spaces_and_terms_sum_to_the_reward():
    env = MotoCoachEnv(OVAL)
    env.action_space.seed(1)
    actions = [env.action_space.sample() * (t % 40 < 10) for t in range(600)]
    for obs, reward, info in _rollout(env, actions, seed=3):
        assert env.observation_space.contains(obs)
        assert set(info) == INFO_KEYS and set(info["reward_terms"]) == set(REWARD_TERMS)
        assert sum(info["reward_terms"].values()) == reward


def test_same_seed_same_episode_bit_for_bit():
    env = MotoCoachEnv(OVAL)
    actions = [np.array([0.5 * (t % 7 == 0), 0.3, (t % 11) / 11], np.float32) for t in range(400)]
    a, b = _rollout(env, actions, seed=11), _rollout(env, actions, seed=11)
    c = _rollout(env, actions, seed=12)
    assert len(a) == len(b)
    for (o1, r1, _), (o2, r2, _) in zip(a, b, strict=True):
        np.testing.assert_array_equal(o1, o2)
        assert r1 == r2
    assert not all(np.array_equal(o1, o3) for (o1, _, _), (o3, _, _) in zip(a, c, strict=False))


def test_zero_maximal_and_oracle_cues_ride_differently():
    rider = nominal_rider("amateur")
    runs = {}
    for name in ("zero", "maximal", "oracle"):
        env = MotoCoachEnv(OVAL, rider=rider)
        obs, _ = env.reset(seed=5)
        trace = [obs]
        for _ in range(200):
            if name == "zero":
                action = NO_CUE
            elif name == "maximal":
                action = np.ones(3, np.float32)
            else:
                action = env.oracle_action()
            obs, _, terminated, truncated, _ = env.step(action)
            trace.append(obs)
            if terminated or truncated:
                break
        runs[name] = np.array(trace)
    for a, b in (("zero", "maximal"), ("zero", "oracle"), ("maximal", "oracle")):
        n = min(len(runs[a]), len(runs[b]))
        assert np.abs(runs[a][:n] - runs[b][:n]).max() > 1.0, (a, b)


def test_frequency_in_hz_is_the_same_task():
    norm, hz = MotoCoachEnv(OVAL), MotoCoachEnv(OVAL, frequency_units="hz")
    assert hz.action_space.high[2] == 300.0 and norm.action_space.high[2] == 1.0
    norm.reset(seed=2)
    hz.reset(seed=2)
    for t in range(100):
        a = np.array([0.6, 0.1, (t % 10) / 10], np.float32)
        r1 = norm.step(a)
        r2 = hz.step(np.array([a[0], a[1], 50.0 + 250.0 * a[2]], np.float32))
        np.testing.assert_allclose(r1[0], r2[0], rtol=1e-6, atol=1e-5)


def test_over_cueing_crashes_and_terminates_with_the_crash_term():
    env = MotoCoachEnv(OVAL, rider="pro")
    env.reset(seed=0)
    for _ in range(2000):  # full left and "more throttle": the pro ends up past its grip or line
        obs, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0, 0.0], np.float32))
        if terminated or truncated:
            break
    assert terminated and not truncated
    assert info["crash_cause"] in (1, 2)
    assert info["reward_terms"]["crash"] == -10.0
    assert info["safety_violations"] >= 1


def test_a_completed_lap_truncates_and_reports_its_time():
    env = MotoCoachEnv(OVAL, rider=nominal_rider("pro"))
    env.reset(seed=0)
    steps = 0
    while True:
        _, reward, terminated, truncated, info = env.step(NO_CUE)
        steps += 1
        if terminated or truncated:
            break
    assert truncated and not terminated and info["lap_completed"]
    assert info["lap_time_s"] == pytest.approx(steps * 0.05, abs=0.05)
    optimal = env.profile.optimal_lap_time_s
    assert info["reward_terms"]["lap_time"] == pytest.approx(10.0 * optimal / info["lap_time_s"])


def test_time_limit_truncates():
    env = MotoCoachEnv(OVAL, max_episode_s=2.0)
    env.reset(seed=0)
    flags = [env.step(NO_CUE)[2:4] for _ in range(40)]
    assert flags[:39] == [(False, False)] * 39 and flags[39] == (False, True)


def test_bad_actions_and_arguments_are_refused():
    env = MotoCoachEnv(OVAL)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0, 0.5]))
    with pytest.raises(ValueError, match=r"shape \(1, 3\)"):
        env.step(np.zeros(4))
    with pytest.raises(ValueError, match="unknown rider preset"):
        MotoCoachEnv(OVAL, rider="expert")
    with pytest.raises(ValueError, match="frequency_units"):
        MotoCoachEnv(OVAL, frequency_units="khz")
    with pytest.raises(ValueError, match="open"):
        MotoCoachEnv("straight:length=500,width=10")


def test_observation_channels_are_the_documented_ones():
    env = MotoCoachEnv(OVAL, rider=nominal_rider("pro"))
    obs, _ = env.reset(seed=0)
    state = env.core.sim.state[0]
    assert OBSERVATION_NAMES[0] == "velocity" and obs[0] == pytest.approx(state[3])
    assert obs[1] == pytest.approx(np.degrees(state[4]), abs=1e-4)
    assert obs[6] == pytest.approx(state[1] - env.profile.line_offset_m[0], abs=1e-5)
    d = env.profile.distance_to_apex_m(np.array([state[0]]))[0]
    assert obs[3] == pytest.approx(min(d, 500.0), rel=1e-6)


# ---------------------------------------------------------------------- lap times on apex_park
def first_episodes(rider: str, policy: str, n: int = 64, seed: int = 100):
    """Lap time (NaN if none) and crash flag of the first episode of n riders on apex_park."""
    env = MotoCoachVectorEnv(n, rider=rider, seed=seed)
    env.reset()
    done = np.zeros(n, bool)
    lap = np.full(n, np.nan)
    crash = np.zeros(n, bool)
    zero = np.tile(NO_CUE, (n, 1))
    while not done.all():
        action = env.oracle_action() if policy == "oracle" else zero
        _, _, terminated, truncated, info = env.step(action)
        new = (terminated | truncated) & ~done
        lapped = new & info["lap_completed"]
        lap[lapped] = info["lap_time_s"][lapped]
        crash[new & terminated] = True
        done |= terminated | truncated
    return lap, crash, env.profile


@pytest.fixture(scope="module")
def apex_park_laps():
    return {
        (r, p): first_episodes(r, p)
        for r, p in (("pro", "zero"), ("amateur", "zero"), ("amateur", "oracle"))
    }


def test_pros_are_faster_and_crash_less_than_amateurs(apex_park_laps):
    pro_lap, pro_crash, profile = apex_park_laps[("pro", "zero")]
    am_lap, am_crash, _ = apex_park_laps[("amateur", "zero")]
    assert pro_crash.sum() < am_crash.sum()
    assert np.nanmean(pro_lap) < 0.95 * np.nanmean(am_lap)
    # Nobody beats the QSS optimum of the racing line (with the bike's roll-rate limit).
    assert np.nanmin(pro_lap) > profile.optimal_lap_time_s


def test_the_oracle_coach_makes_amateurs_faster(apex_park_laps):
    alone, alone_crash, _ = apex_park_laps[("amateur", "zero")]
    coached, coached_crash, _ = apex_park_laps[("amateur", "oracle")]
    both = ~np.isnan(alone) & ~np.isnan(coached)  # same seeds: the same 64 riders
    assert both.sum() >= 48
    assert coached[both].mean() < 0.995 * alone[both].mean()
    assert (coached[both] < alone[both]).mean() > 0.75
    assert coached_crash.sum() <= alone_crash.sum() + 4  # no more than statistical noise
