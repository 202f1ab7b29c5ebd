"""The trajectory + coach PettingZoo env: conformance and what each agent controls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from apexrl.envs.coaching_parallel import COACH, TRAJECTORY
from apexrl.envs.coaching_parallel_v0 import parallel_env

OVAL = "oval:a=300,b=150,width=12"


def test_parallel_api_test_passes_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(parallel_env(), num_cycles=300)  # apex_park, the default


def test_parallel_seed_test_passes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_seed_test(lambda: parallel_env(track=OVAL), num_cycles=200)


def test_spaces_are_cached_and_shaped_as_documented():
    env = parallel_env(track=OVAL)
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
    assert env.observation_space(TRAJECTORY).shape == (14,)
    assert env.observation_space(COACH).shape == (10,)
    assert env.action_space(TRAJECTORY).high.tolist() == [6.0, 90.0]
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(infos) == {TRAJECTORY, COACH}
    for agent, o in obs.items():
        assert env.observation_space(agent).contains(o)


def _run(traj_action, seed=3, steps=150):
    env = parallel_env(track=OVAL)
    env.reset(seed=seed)
    coach_action = np.array([0.2, 0.0, 0.4], np.float32)
    out = []
    for _ in range(steps):
        obs, rewards, terminations, truncations, infos = env.step(
            {TRAJECTORY: np.asarray(traj_action, np.float32), COACH: coach_action}
        )
        out.append((obs, rewards, infos))
        if not env.agents:
            break
    return out


def test_the_proposal_reaches_the_coach_but_not_the_rider():
    wide, tight = _run([4.0, 40.0]), _run([-4.0, 20.0])
    assert len(wide) == len(tight)
    for (o1, r1, _), (o2, r2, _) in zip(wide, tight, strict=True):
        np.testing.assert_array_equal(o1[COACH][:8], o2[COACH][:8])  # same rider telemetry
        np.testing.assert_array_equal(o1[COACH][8:], [4.0, 40.0])  # the latest proposal
        np.testing.assert_array_equal(o2[COACH][8:], [-4.0, 20.0])
        assert r1[TRAJECTORY] == r2[TRAJECTORY]  # the team terms
    assert any(r1[COACH] != r2[COACH] for (_, r1, _), (_, r2, _) in zip(wide, tight, strict=True))


def test_rewards_are_the_sum_of_each_agents_terms():
    for _, rewards, infos in _run([0.0, 35.0]):
        for agent in (TRAJECTORY, COACH):
            assert sum(infos[agent]["reward_terms"].values()) == pytest.approx(
                rewards[agent], abs=1e-12
            )
        assert infos[COACH]["reward_terms"]["tracking"] <= 0.0
        assert set(infos[TRAJECTORY]["reward_terms"]) == {"progress", "lap_time", "safety", "crash"}


def test_stepping_after_the_end_is_refused():
    env = parallel_env(track=OVAL, max_episode_s=0.1)
    env.reset(seed=0)
    actions = {a: env.action_space(a).sample() for a in env.agents}
    env.step(actions)
    *_, truncations, _ = env.step(actions)  # 0.1 s = 2 steps
    assert truncations == {TRAJECTORY: True, COACH: True} and env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step(actions)
