"""A coach model without training: a freshly initialised PPO policy (seeded), saved."""

from __future__ import annotations

import pytest

OVAL = "oval:a=300,b=150,width=12"


def make_model(folder, *, silent: bool = False, seed: int = 0):
    """Save a seeded fresh policy; ``silent`` pins its mean action to -1 (= no cue at all)."""
    import torch
    from gymnasium import spaces

    from apexrl.envs.vector import OBSERVATION_HIGH, OBSERVATION_LOW
    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import build_policy, default_policy_kwargs, save_policy

    obs_space = spaces.Box(OBSERVATION_LOW, OBSERVATION_HIGH)
    mean, std = observation_scaling(obs_space)
    torch.manual_seed(seed)
    policy = build_policy("ppo", obs_space, 3, policy_kwargs=default_policy_kwargs("ppo"),
                          obs_mean=mean, obs_std=std)  # fmt: skip
    if silent:
        with torch.no_grad():
            policy.action_net.weight.zero_()
            policy.action_net.bias.fill_(-5.0)
    save_policy(folder, policy, algo="ppo", policy_kwargs=default_policy_kwargs("ppo"),
                observation_space=obs_space,
                action_space=spaces.Box(0.0, 1.0, shape=(3,)))  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def fresh_model(tmp_path_factory):
    return make_model(tmp_path_factory.mktemp("model") / "fresh")
