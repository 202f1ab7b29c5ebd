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


def make_policy(algo: str = "ppo", *, seed: int = 0, head_gain: float = 3.0, lap_harmonics=0,
                int8_aware: bool = False):  # fmt: skip
    """A seeded SB3 policy whose action head has gain ``head_gain`` (SB3 initialises it with
    0.01, which would leave every output near 0 and hide quantization errors); ``int8_aware``:
    with the int8 model's roundings and its weights on their int8 grid."""
    import torch

    from apexrl.envs.vector import observation_box
    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import build_policy
    from apexrl.train.quant import project_weights

    obs_space = observation_box(lap_harmonics)
    mean, std = observation_scaling(obs_space)
    torch.manual_seed(seed)
    policy = build_policy(algo, obs_space, 3, policy_kwargs=_kwargs(algo, int8_aware),
                          obs_mean=mean, obs_std=std)  # fmt: skip
    head = policy.action_net if algo == "ppo" else policy.actor.mu
    with torch.no_grad():
        torch.nn.init.orthogonal_(head.weight, gain=head_gain)
    if int8_aware:
        project_weights(policy)
    return policy, obs_space


def _kwargs(algo: str, int8_aware: bool) -> dict:
    from apexrl.train.model_io import default_policy_kwargs

    return {**default_policy_kwargs(algo), **({"int8_aware": True} if int8_aware else {})}


def make_coach(folder, *, algo: str = "ppo", seed: int = 0, lap_harmonics: int = 0,
               int8_aware: bool = False):  # fmt: skip
    """Save a seeded coach (model.json + model.safetensors) into ``folder``; with
    ``lap_harmonics`` it observes its lap position on :data:`OVAL`."""
    from gymnasium import spaces

    from apexrl.tracks.library import load_track
    from apexrl.train.model_io import save_policy

    policy, obs_space = make_policy(algo, seed=seed, lap_harmonics=lap_harmonics,
                                    int8_aware=int8_aware)  # fmt: skip
    lap = {"harmonics": lap_harmonics, "track_length_m": load_track(OVAL).length_m}
    save_policy(folder, policy, algo=algo, policy_kwargs=_kwargs(algo, int8_aware),
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


@pytest.fixture(scope="session")
def exported_int8_aware(tmp_path_factory):
    """``(coach folder, export folder, report)`` of one export of a seeded int8-aware coach."""
    from apexrl.export import export_policy

    coach = make_coach(tmp_path_factory.mktemp("coach8") / "model", seed=1, int8_aware=True)
    folder = tmp_path_factory.mktemp("export8") / "out"
    report = export_policy(coach, folder, calibration=fast_calibration(), progress=False)
    return coach, folder, report
