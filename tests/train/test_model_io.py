"""Model files: safetensors + JSON round trips, action scaling, the pickle opt-in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from apexrl.train import model_io as mio


def _space():
    from gymnasium import spaces

    from apexrl.envs.vector import OBSERVATION_HIGH, OBSERVATION_LOW

    return spaces.Box(OBSERVATION_LOW, OBSERVATION_HIGH, dtype=np.float32)


def _haptic():
    from gymnasium import spaces

    return spaces.Box(0.0, 1.0, shape=(3,), dtype=np.float32)


def _policy(algo: str = "ppo", seed: int = 0):
    from apexrl.train.bc import observation_scaling

    torch.manual_seed(seed)
    mean, std = observation_scaling(_space())
    return mio.build_policy(algo, _space(), 3, policy_kwargs=mio.default_policy_kwargs(algo),
                            obs_mean=mean, obs_std=std)  # fmt: skip


def _obs(n: int = 64, seed: int = 0) -> np.ndarray:
    space = _space()
    rng = np.random.default_rng(seed)
    return rng.uniform(space.low, space.high, size=(n, 8)).astype(np.float32)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_save_load_gives_identical_parameters_and_actions(tmp_path, algo):
    policy = _policy(algo)
    with torch.no_grad():  # move off the initialisation so the test is not about defaults
        for p in policy.parameters():
            p.add_(0.01 * torch.randn_like(p))
    kwargs = mio.default_policy_kwargs(algo)
    mio.save_policy(tmp_path / "m", policy, algo=algo, policy_kwargs=kwargs,
                    observation_space=_space(), action_space=_haptic(),
                    provenance={"seed": 1})  # fmt: skip
    loaded = mio.load_policy(tmp_path / "m")
    before, after = policy.state_dict(), loaded.policy.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    original = mio.CoachPolicy(policy, algo=algo, action_low=_haptic().low,
                               action_high=_haptic().high)  # fmt: skip
    obs = _obs()
    np.testing.assert_array_equal(original.predict(obs), loaded.predict(obs))
    meta = json.loads((tmp_path / "m" / mio.METADATA_FILE).read_text())
    assert meta["algo"] == algo and meta["provenance"]["seed"] == 1
    assert meta["normalization"]["observation"]["mean"][0] == pytest.approx(50.0)


def test_actions_land_in_the_haptic_box_and_the_scaling_inverts():
    low, high = np.array([0.0, 0.0, 50.0]), np.array([1.0, 1.0, 300.0])
    np.testing.assert_allclose(mio.to_env_action(np.array([[-1.0, 1.0, 0.0]]), low, high),
                               [[0.0, 1.0, 175.0]])  # fmt: skip
    np.testing.assert_allclose(mio.to_env_action(np.array([[-7.0, 3.0, 2.0]]), low, high),
                               [[0.0, 1.0, 300.0]])  # fmt: skip
    env = np.array([[0.25, 0.8, 90.0], [0.0, 1.0, 300.0]])
    np.testing.assert_allclose(mio.to_env_action(mio.to_policy_action(env, low, high), low, high),
                               env, rtol=1e-6)  # fmt: skip


def test_corrupt_weights_are_refused(tmp_path):
    policy = _policy()
    mio.save_policy(tmp_path, policy, algo="ppo", policy_kwargs=mio.default_policy_kwargs("ppo"),
                    observation_space=_space(), action_space=_haptic())  # fmt: skip
    blob = bytearray((tmp_path / mio.WEIGHTS_FILE).read_bytes())
    blob[-1] ^= 0xFF
    (tmp_path / mio.WEIGHTS_FILE).write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="does not match the sha256"):
        mio.load_policy(tmp_path)


def test_a_model_is_never_overwritten_silently(tmp_path):
    kwargs = {"algo": "ppo", "policy_kwargs": mio.default_policy_kwargs("ppo"),
              "observation_space": _space(), "action_space": _haptic()}  # fmt: skip
    mio.save_policy(tmp_path, _policy(seed=0), **kwargs)
    with pytest.raises(FileExistsError, match="already holds a model"):
        mio.save_policy(tmp_path, _policy(seed=1), **kwargs)
    mio.save_policy(tmp_path, _policy(seed=1), overwrite=True, **kwargs)
    assert torch.equal(mio.load_policy(tmp_path).policy.state_dict()["action_net.weight"],
                       _policy(seed=1).state_dict()["action_net.weight"])  # fmt: skip


def test_unknown_policy_options_and_algorithms_are_errors():
    with pytest.raises(ValueError, match="unknown ppo policy option"):
        mio.sb3_policy_kwargs("ppo", {"net_arch": [8], "dropout": 0.1}, np.zeros(8), np.ones(8))
    with pytest.raises(ValueError, match="algorithm must be one of ppo, sac"):
        mio.default_policy_kwargs("dqn")


def test_missing_model_folder_says_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="model.json"):
        mio.load_policy(tmp_path)
