"""The coach's recipe as settings (actor size, behaviour cloning's rider mix): BC, the pipeline
and the CLI use what was asked, a bad value is a clear error, and older runs resume as they were."""

from __future__ import annotations

import json

import pytest

from apexrl import pipeline
from apexrl.train import bc
from apexrl.train.model_io import actor_policy_kwargs, check_actor_layers, load_policy


def test_actor_layers_are_checked():
    assert check_actor_layers([128, 64]) == (128, 64)
    for bad in ([], [0, 64], [64.0], [True], [2048], [8] * 5, "64,64", None):
        with pytest.raises(ValueError, match="actor layers must be 1 to 4 hidden widths"):
            check_actor_layers(bad)


def test_only_the_actor_changes_size():
    ppo = actor_policy_kwargs("ppo", (96, 32))
    assert ppo["net_arch"] == {"pi": [96, 32], "vf": [64, 64]}
    assert ppo["activation_fn"] == "tanh"
    sac = actor_policy_kwargs("sac", (32,))
    assert sac["net_arch"] == {"pi": [32], "qf": [256, 256]}


def test_sb3_builds_the_asked_actor_for_sac_too():
    import numpy as np
    from gymnasium import spaces

    from apexrl.train.model_io import build_policy

    space = spaces.Box(-1.0, 1.0, (8,), np.float32)
    policy = build_policy("sac", space, 3, policy_kwargs=actor_policy_kwargs("sac", (32, 16)),
                          obs_mean=np.zeros(8), obs_std=np.ones(8))  # fmt: skip
    widths = [m.out_features for m in policy.actor.latent_pi if hasattr(m, "out_features")]
    assert widths == [32, 16]
    critic = [m.out_features for m in policy.critic.qf0 if hasattr(m, "out_features")]
    assert critic == [256, 256, 1]


def test_bc_builds_and_saves_the_asked_actor(datasets_root, tmp_path):
    out = tmp_path / "bc"
    bc.train_bc(datasets_root, out, config=bc.BCConfig(epochs=1, batch_size=512), seed=3,
                policy_kwargs=actor_policy_kwargs("ppo", (24, 12)), progress=False)  # fmt: skip
    meta = json.loads((out / "model.json").read_text())
    assert meta["policy_kwargs"]["net_arch"]["pi"] == [24, 12]
    policy = load_policy(out).policy
    widths = [m.out_features for m in policy.mlp_extractor.policy_net if hasattr(m, "out_features")]
    assert widths == [24, 12]


def test_pipeline_settings_take_and_check_the_actor_layers(tmp_path):
    assert pipeline.PipelineSettings(actor_layers=[32, 16]).actor_layers == (32, 16)
    assert pipeline.PipelineSettings().actor_layers == pipeline.DEFAULT_ACTOR_LAYERS
    with pytest.raises(ValueError, match="actor layers"):
        pipeline.run(output=tmp_path / "run", actor_layers=(0,), progress=False)
    assert not (tmp_path / "run").exists()


def test_a_run_from_before_the_setting_resumes_with_the_old_size(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / pipeline.RUN_FILE).write_text(json.dumps({"track": "apex_park", "laps": 3}))
    settings = pipeline._settings(folder, {"actor_layers": None}, resume=True)
    assert settings.actor_layers == (64, 64) and settings.lap_harmonics == 0
    assert settings.bc_mix == {"pro": 0.7, "amateur": 0.3}
    assert settings.int8_aware is False  # a float coach, as it was trained
    with pytest.raises(ValueError, match="int8_aware"):
        pipeline._settings(folder, {"int8_aware": True}, resume=True)
    with pytest.raises(ValueError, match="actor_layers"):
        pipeline._settings(folder, {"actor_layers": (128, 128)}, resume=True)
    with pytest.raises(ValueError, match="bc_mix"):
        pipeline._settings(folder, {"bc_mix": {"amateur": 1.0}}, resume=True)


def test_pipeline_settings_check_the_bc_mix():
    assert pipeline.PipelineSettings(bc_mix={"amateur": 1.0}).bc_mix == {"amateur": 1.0}
    with pytest.raises(ValueError, match="unknown riders 'expert'"):
        pipeline.PipelineSettings(bc_mix={"expert": 1.0})
    with pytest.raises(ValueError, match="must not all be zero"):
        pipeline.PipelineSettings(bc_mix={"pro": 0.0, "amateur": 0.0})


def test_pipeline_settings_train_an_int8_aware_coach_by_default():
    assert pipeline.PipelineSettings().int8_aware is True
    assert pipeline.PipelineSettings(int8_aware=False).int8_aware is False
    with pytest.raises(ValueError, match="int8_aware must be true or false"):
        pipeline.PipelineSettings(int8_aware="yes")


def test_cli_int8_aware_cloning_is_for_ppo(cli, datasets_root, tmp_path):
    result = cli("train", "bc", "--datasets", str(datasets_root), "--output", str(tmp_path / "m"),
                 "--algo", "sac", "--int8-aware")  # fmt: skip
    assert result.exit_code == 2 and "int8-aware training is for PPO coaches" in result.output
    assert not (tmp_path / "m" / "model.json").exists()
