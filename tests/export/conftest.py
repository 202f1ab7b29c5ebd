"""Coach policies without training (seeded weights, a wide action head so the outputs use the
whole [-1, 1] range) and ONE shared export of such a coach, reused by the export tests."""

from __future__ import annotations

import pytest

OVAL = "oval:a=300,b=150,width=12"


def fast_calibration(**overrides):
    """Real rollouts, kept short so the test suite stays fast."""
    from apexrl.export.report import CalibrationConfig

    settings = {"track": OVAL, "num_envs": 4, "steps": 400, "calibration_samples": 400,
                "validation_samples": 1200}  # fmt: skip
    return CalibrationConfig(**{**settings, **overrides})


def make_policy(algo: str = "ppo", *, seed: int = 0, head_gain: float = 3.0, lap_harmonics=0):
    """A seeded SB3 policy whose action head has gain ``head_gain`` (SB3 initialises it with
    0.01, which would leave every output near 0 and hide quantization errors)."""
    import torch

    from apexrl.envs.vector import observation_box
    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import build_policy, default_policy_kwargs

    obs_space = observation_box(lap_harmonics)
    mean, std = observation_scaling(obs_space)
    torch.manual_seed(seed)
    policy = build_policy(algo, obs_space, 3, policy_kwargs=default_policy_kwargs(algo),
                          obs_mean=mean, obs_std=std)  # fmt: skip
    head = policy.action_net if algo == "ppo" else policy.actor.mu
    with torch.no_grad():
        torch.nn.init.orthogonal_(head.weight, gain=head_gain)
    return policy, obs_space


def make_coach(folder, *, algo: str = "ppo", seed: int = 0, lap_harmonics: int = 0):
    """Save a seeded coach (model.json + model.safetensors) into ``folder``; with
    ``lap_harmonics`` it observes its lap position on :data:`OVAL`."""
    from gymnasium import spaces

    from apexrl.tracks.library import load_track
    from apexrl.train.model_io import default_policy_kwargs, save_policy

    policy, obs_space = make_policy(algo, seed=seed, lap_harmonics=lap_harmonics)
    lap = {"harmonics": lap_harmonics, "track_length_m": load_track(OVAL).length_m}
    save_policy(folder, policy, algo=algo, policy_kwargs=default_policy_kwargs(algo),
                observation_space=obs_space, action_space=spaces.Box(0.0, 1.0, shape=(3,)),
                provenance={"track": OVAL, "seed": seed}, lap_position=lap)  # fmt: skip
    return folder


@pytest.fixture(scope="session")
def coach_dir(tmp_path_factory):
    return make_coach(tmp_path_factory.mktemp("coach") / "model")


@pytest.fixture(scope="session")
def exported(coach_dir, tmp_path_factory):
    """``(folder, report)`` of one export of the seeded coach."""
    from apexrl.export import export_policy

    folder = tmp_path_factory.mktemp("export") / "out"
    report = export_policy(coach_dir, folder, calibration=fast_calibration(), progress=False)
    return folder, report
