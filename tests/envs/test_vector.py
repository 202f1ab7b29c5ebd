"""MotoCoachVectorEnv: batched Gymnasium semantics, equality with single envs, SB3 adapter."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode

from apexrl.envs.moto_coach import MotoCoachEnv
from apexrl.envs.sb3 import SB3VecEnvAdapter
from apexrl.envs.vector import MotoCoachVectorEnv
from apexrl.riders import RiderParams

OVAL = "oval:a=300,b=150,width=12"
N = 4


def _actions(steps: int, n: int = N, seed: int = 0) -> list[np.ndarray]:
    """Bursts of random cues: strong enough that some riders crash, so episodes end and reset."""
    rng = np.random.default_rng(seed)
    return [rng.random((n, 3)).astype(np.float32) * (t % 50 < 15) for t in range(steps)]


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_equals_n_single_envs_with_the_same_seeds(mode):
    vec = MotoCoachVectorEnv(N, track=OVAL, autoreset_mode=mode, max_episode_s=12.0)
    ref = gym.vector.SyncVectorEnv(
        [lambda: MotoCoachEnv(OVAL, max_episode_s=12.0) for _ in range(N)], autoreset_mode=mode
    )
    assert vec.metadata["autoreset_mode"] == ref.metadata["autoreset_mode"] == mode
    out, expected = vec.reset(seed=[3, 1, 4, 1]), ref.reset(seed=[3, 1, 4, 1])
    assert data_equivalence(out, expected, exact=True)
    ended = 0
    for t, a in enumerate(_actions(900)):
        out, expected = vec.step(a), ref.step(a)
        assert data_equivalence(out, expected, exact=True), t
        ended += int((out[2] | out[3]).sum())
    assert ended >= 2 * N  # crashes and time limits: autoreset was exercised


def test_next_step_autoreset_ignores_the_action_and_returns_the_reset():
    envs = [MotoCoachVectorEnv(2, track=OVAL, max_episode_s=1.0, seed=9) for _ in range(2)]
    for env in envs:
        env.reset()
        for _ in range(20):
            _, _, terminated, truncated, _ = env.step(np.zeros((2, 3), np.float32))
        assert truncated.all() and not terminated.any()
    first = envs[0].step(np.zeros((2, 3), np.float32))
    second = envs[1].step(np.ones((2, 3), np.float32))
    assert data_equivalence(first, second, exact=True)
    obs, reward, terminated, truncated, info = first
    np.testing.assert_array_equal(reward, 0.0)
    assert not (terminated | truncated).any()
    np.testing.assert_array_equal(info["safety_violations"], 0)


def test_spaces_and_oracle_action():
    env = MotoCoachVectorEnv(3, track=OVAL, rider=["pro", "amateur", "amateur"], seed=0)
    assert env.single_observation_space.shape == (8,)
    assert env.observation_space.shape == (3, 8) and env.action_space.shape == (3, 3)
    obs, info = env.reset()
    assert env.observation_space.contains(obs)
    action = env.oracle_action()
    assert action.shape == (3, 3) and action.dtype == np.float32
    assert env.action_space.contains(action)
    assert all(isinstance(p, RiderParams) for p in env.rider_params)
    assert env.rider_params[0].speed_fraction > env.rider_params[1].speed_fraction
    single = MotoCoachEnv(OVAL, rider="amateur")
    single.reset(seed=1)  # env 1 of the vector env got seed 0 + 1
    np.testing.assert_array_equal(single.oracle_action(), action[1])
    assert single.rider_params == env.rider_params[1]


def test_reset_mask_resets_only_the_masked_envs():
    env = MotoCoachVectorEnv(3, track=OVAL, seed=0)
    env.reset()
    for _ in range(30):
        obs, *_ = env.step(np.zeros((3, 3), np.float32))
    fresh, info = env.reset(options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(fresh[[0, 2]], obs[[0, 2]])
    assert not np.array_equal(fresh[1], obs[1])
    np.testing.assert_array_equal(info["_reward_terms"], [False, True, False])
    with pytest.raises(ValueError, match="reset_mask"):
        env.reset(options={"reset_mask": np.zeros(3, bool)})


def test_step_before_reset_and_bad_arguments_are_refused():
    env = MotoCoachVectorEnv(2, track=OVAL)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one rider or 2 riders"):
        MotoCoachVectorEnv(2, track=OVAL, rider=["pro"])
    with pytest.raises(ValueError, match="NEXT_STEP or SAME_STEP"):
        MotoCoachVectorEnv(2, track=OVAL, autoreset_mode=AutoresetMode.DISABLED)


def test_make_vec_uses_the_native_vector_env():
    env = gym.make_vec(
        "apexrl/MotoCoach-v0", num_envs=2, vectorization_mode="vector_entry_point", track=OVAL
    )
    assert isinstance(env, MotoCoachVectorEnv) and env.num_envs == 2


# ---------------------------------------------------------------------- Stable-Baselines3
def test_sb3_vecenv_semantics():
    native = MotoCoachVectorEnv(
        N, track=OVAL, max_episode_s=12.0, autoreset_mode=AutoresetMode.SAME_STEP
    )
    twin = MotoCoachVectorEnv(N, track=OVAL, max_episode_s=12.0)  # NEXT_STEP: shows final obs
    venv = SB3VecEnvAdapter(native)
    venv.seed(21)
    obs = venv.reset()
    twin_obs, _ = twin.reset(seed=21)
    np.testing.assert_array_equal(obs, twin_obs)
    checked = 0
    for a in _actions(600):
        obs, rewards, dones, infos = venv.step(a)
        twin_obs, twin_rewards, terminated, truncated, _ = twin.step(a)
        np.testing.assert_array_equal(rewards, twin_rewards.astype(np.float32))
        np.testing.assert_array_equal(dones, terminated | truncated)
        for i in range(N):
            if dones[i]:  # the last obs is terminal_observation; obs is the next episode's first
                np.testing.assert_array_equal(infos[i]["terminal_observation"], twin_obs[i])
                assert infos[i]["TimeLimit.truncated"] == bool(truncated[i] and not terminated[i])
                assert {"lap_time_s", "crash_cause", "reward_terms"} <= set(infos[i])
                checked += 1
            else:
                np.testing.assert_array_equal(obs[i], twin_obs[i])
                assert infos[i] == {}
        if dones.any():  # the twin resets on its next step; give it the same fresh episodes
            twin_obs = twin.step(a)[0]
            np.testing.assert_array_equal(obs[dones], twin_obs[dones])
    assert checked >= N
    assert venv.get_attr("rider_params", [1])[0] == native.rider_params[1]
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * N
    assert np.array_equal(np.stack(venv.env_method("oracle_action")), native.oracle_action())


def test_sb3_refuses_next_step_autoreset():
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnvAdapter(MotoCoachVectorEnv(2, track=OVAL))


def test_sb3_check_env_and_ppo_learn():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecMonitor

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SB3 prefers [-1, 1] actions; we use [0, 1]
        check_env(MotoCoachEnv(OVAL))
    native = MotoCoachVectorEnv(
        8, track=OVAL, max_episode_s=2.0, seed=0, autoreset_mode=AutoresetMode.SAME_STEP
    )
    model = PPO(
        "MlpPolicy",
        VecMonitor(SB3VecEnvAdapter(native)),
        n_steps=32,
        batch_size=64,
        n_epochs=1,
        seed=0,
        device="cpu",
    )
    model.set_logger(Logger(None, []))  # SB3's default logger makes a /tmp/SB3-* folder
    model.learn(total_timesteps=512)
    assert model.num_timesteps >= 512
    assert len(model.ep_info_buffer) >= 8  # episodes of 2 s ended and were counted
