"""The coach's lap-position observation (``lap_harmonics``): the env's channels, behaviour cloning
from the datasets' lap distance, PPO and evaluation following the model, clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.envs.vector import (
    MotoCoachVectorEnv,
    lap_feature_names,
    lap_features,
    observation_box,
)
from apexrl.train import bc
from apexrl.train.model_io import coach_env_kwargs, lap_position, load_policy
from tests.train.conftest import OVAL

FAST = {"epochs": 2, "batch_size": 512}


def test_lap_features_are_sin_then_cos_of_the_lap_fraction():
    f = lap_features(np.array([0.0, 25.0, 100.0, 125.0]), 100.0, 2)
    assert f.shape == (4, 4) and f.dtype == np.float32
    np.testing.assert_allclose(f[0], [0, 0, 1, 1], atol=1e-7)
    np.testing.assert_allclose(f[1], [1, 0, 0, -1], atol=1e-7)  # a quarter lap: k=1 sin, k=2 cos
    np.testing.assert_allclose(f[2], f[0], atol=1e-6)  # s wraps at the lap length
    np.testing.assert_allclose(f[3], f[1], atol=1e-6)
    assert lap_feature_names(2) == ("lap_sin_1", "lap_sin_2", "lap_cos_1", "lap_cos_2")


@pytest.mark.parametrize("bad", [-1, 33, 2.0, True, "8"])
def test_bad_harmonics_are_refused(bad):
    with pytest.raises(ValueError, match="lap_harmonics"):
        MotoCoachVectorEnv(2, track=OVAL, lap_harmonics=bad)
    with pytest.raises(ValueError, match="lap_harmonics"):
        bc.BCConfig(lap_harmonics=bad)


def test_env_appends_the_lap_channels_and_keeps_the_telemetry():
    from apexrl.vehicles import motorcycle as moto

    plain = MotoCoachVectorEnv(3, track=OVAL, seed=5)
    lap = MotoCoachVectorEnv(3, track=OVAL, seed=5, lap_harmonics=4)
    assert lap.single_observation_space == observation_box(4)
    assert lap.single_observation_space.shape == (16,)
    a, _ = plain.reset(seed=5)
    b, _ = lap.reset(seed=5)
    for _ in range(40):
        np.testing.assert_array_equal(a, b[:, :8])  # the same riders, the same telemetry
        s = lap.core.sim.state[:, moto.S_M]
        np.testing.assert_allclose(b[:, 8:], lap_features(s, lap.core.track.length_m, 4),
                                   atol=1e-6)  # fmt: skip
        action = plain.oracle_action()
        a, *_ = plain.step(action)
        b, *_ = lap.step(action)
    assert np.abs(b[:, 8:]).max() <= 1.0


def test_single_env_passes_check_env_with_lap_channels():
    from gymnasium.utils.env_checker import check_env

    from apexrl.envs.moto_coach import MotoCoachEnv

    env = MotoCoachEnv(track=OVAL, lap_harmonics=3)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (14,)


def test_bc_data_gets_the_lap_channels_from_the_episodes_lap_distance(datasets_root):
    from apexrl.data.minari_io import load_dataset
    from apexrl.tracks.library import load_track

    data = bc.load_bc_data(datasets_root, val_fraction=0.0, seed=0, lap_harmonics=2)
    length = load_track(OVAL).length_m
    assert data.lap_position == {"harmonics": 2, "track_length_m": length}
    assert data.observation_space == observation_box(2)
    ep = next(iter(load_dataset(datasets_root, "apexrl/moto-amateur-v0").iterate_episodes()))
    obs = np.asarray(ep.observations[:-1], dtype=np.float32)
    rows = np.flatnonzero((data.train["amateur"].obs[:, :8] == obs[0]).all(axis=1))[0]
    got = data.train["amateur"].obs[rows : rows + len(obs)]
    np.testing.assert_array_equal(got[:, :8], obs)
    np.testing.assert_array_equal(got[:, 8:], lap_features(ep.infos["s_m"][:-1], length, 2))


def test_bc_without_the_track_in_the_metadata_is_a_clear_error(datasets_root, monkeypatch):
    original = bc._dataset_track_length
    monkeypatch.setattr(bc, "_dataset_track_length",
                        lambda ds, ds_id: original(_NoTrack(ds), ds_id))  # fmt: skip
    with pytest.raises(ValueError, match="does not name its track"):
        bc.load_bc_data(datasets_root, lap_harmonics=2)


class _NoTrack:
    def __init__(self, ds):
        self.storage = type("S", (), {"metadata": {"apexrl": {}}})()


def test_bc_config_and_data_must_agree(datasets_root):
    data = bc.load_bc_data(datasets_root, lap_harmonics=2)
    with pytest.raises(ValueError, match="lap-position harmonics"):
        bc.train_bc(datasets_root, config=bc.BCConfig(**FAST), data=data, progress=False)


@pytest.fixture(scope="module")
def lap_bc_model(datasets_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("lap-bc") / "model"
    bc.train_bc(datasets_root, out, config=bc.BCConfig(lap_harmonics=2, **FAST), seed=3,
                progress=False)  # fmt: skip
    return out


def test_the_model_records_its_lap_position(lap_bc_model, bc_model):
    from apexrl.tracks.library import load_track

    meta = load_policy(lap_bc_model).metadata
    assert lap_position(meta) == {"harmonics": 2, "track_length_m": load_track(OVAL).length_m}
    assert coach_env_kwargs(meta) == {"lap_harmonics": 2}
    assert load_policy(lap_bc_model).env_kwargs == {"lap_harmonics": 2}
    assert meta["observation_space"]["low"][8:] == [-1.0] * 4
    # A model without lap position says so, and needs no env option.
    assert lap_position(load_policy(bc_model).metadata) is None
    assert load_policy(bc_model).env_kwargs == {}


def test_evaluation_builds_the_env_the_model_observes(lap_bc_model):
    from apexrl.evaluate.metrics import lap_metrics, policy_coach, run_episodes

    coach = policy_coach(load_policy(lap_bc_model))
    rollout = run_episodes(coach, track=OVAL, episodes=2, seed=9)
    assert len(rollout.records) == 2
    assert math.isfinite(lap_metrics(rollout.records)["reward_mean"])


def test_a_lap_coach_refuses_a_track_of_another_length(lap_bc_model):
    from apexrl.evaluate.metrics import policy_coach, run_episodes

    coach = policy_coach(load_policy(lap_bc_model))
    with pytest.raises(ValueError, match="lap position of a"):
        run_episodes(coach, track="oval:a=200,b=100,width=12", episodes=1, seed=9)


def test_ppo_from_a_lap_clone_observes_the_lap_and_saves_it(lap_bc_model, tmp_path):
    from apexrl.train.rl import PPOConfig, train_rl

    cfg = PPOConfig(num_envs=2, n_steps=32, batch_size=32, n_epochs=1, critic_warmup=32)
    result = train_rl(tmp_path / "ppo", timesteps=128, config=cfg, track=OVAL,
                      init_policy=lap_bc_model, progress=False)  # fmt: skip
    meta = load_policy(result.model_dir).metadata
    assert meta["lap_position"] == load_policy(lap_bc_model).metadata["lap_position"]
    assert len(meta["observation_space"]["low"]) == 12
    with pytest.raises(ValueError, match="init policy"):
        train_rl(tmp_path / "ppo2", timesteps=128, config=cfg, track=OVAL,
                 init_policy=lap_bc_model, lap_harmonics=0, progress=False)  # fmt: skip


def test_export_calibration_from_the_datasets_adds_the_lap_channels(lap_bc_model, tmp_path):
    from apexrl.data.generate import generate_datasets
    from apexrl.export import load_actor
    from apexrl.export.report import CalibrationConfig, collect_observations

    generate_datasets(tmp_path, laps=5, seed=7, track=OVAL, progress=False)  # 5+ episodes each
    actor = load_actor(lap_bc_model)
    cfg = CalibrationConfig(source="datasets", datasets_root=str(tmp_path))
    obs = collect_observations(actor, cfg)
    assert obs.pool.shape[1] == 12 and obs.validation.shape[1] == 12
    np.testing.assert_allclose(np.hypot(obs.pool[:, 8:10], obs.pool[:, 10:12]), 1.0, atol=1e-5)


def test_an_episode_without_lap_distance_is_a_clear_error():
    from apexrl.envs.vector import episode_with_lap

    episode = type("E", (), {"infos": {}})()
    with pytest.raises(ValueError, match="dataset x has an episode without lap distance"):
        episode_with_lap(episode, np.zeros((3, 8), np.float32), 100.0, 2, "dataset x")
