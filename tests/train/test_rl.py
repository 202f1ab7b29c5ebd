"""PPO fine-tuning: the fast update equals SB3's, same seed => same run, checkpoints and resume."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import Logger

from apexrl.train import rl
from apexrl.train.checkpoints import TENSORS_FILE, list_checkpoints, seeded_torch
from apexrl.train.model_io import PickleNotAllowedError, load_policy

from .conftest import OVAL

TINY = rl.PPOConfig(num_envs=2, n_steps=64, batch_size=64, n_epochs=2, critic_warmup=128)
"""128 transitions per rollout, 2 epochs of 2 minibatches: a rollout trains in milliseconds; from
an init policy the first rollout's update trains only the critic."""


def _train(out, **kwargs):
    args = {"timesteps": 512, "track": OVAL, "seed": 5, "config": TINY, "progress": False,
            "checkpoint_every": 256}  # fmt: skip
    return rl.train_rl(out, **{**args, **kwargs})


def _params(folder) -> dict[str, torch.Tensor]:
    return load_policy(folder).policy.state_dict()


def test_fast_update_equals_sb3_ppo_train():
    from stable_baselines3.common.callbacks import BaseCallback

    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import default_policy_kwargs, sb3_policy_kwargs

    class Nothing(BaseCallback):
        def _on_step(self) -> bool:
            return True

    cfg = rl.PPOConfig(num_envs=4, n_steps=128, batch_size=64, n_epochs=3)
    with seeded_torch(0):
        env, _ = rl.make_training_env(cfg.num_envs, track=OVAL, seed=0)
        mean, std = observation_scaling(env.observation_space)
        model = rl.ppo_class()("MlpPolicy", env, seed=0, device="cpu",
                               policy_kwargs=sb3_policy_kwargs("ppo", default_policy_kwargs("ppo"),
                                                               mean, std),
                               **cfg.sb3_kwargs())  # fmt: skip
        model.set_logger(Logger(None, []))  # configure(None) makes a /tmp dir
        model._setup_learn(10_000, None)
        callback = Nothing()
        callback.init_callback(model)
        assert rl.FastPPOUpdate.supports(model)
        for _ in range(2):  # the second round starts from Adam moments of the first
            model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
            weights = copy.deepcopy(model.policy.state_dict())
            adam = copy.deepcopy(model.policy.optimizer.state_dict())
            rng = np.random.get_state()  # noqa: NPY002 (SB3 permutes with the global generator)
            model.fast_update = False
            model.train()
            reference = copy.deepcopy(model.policy.state_dict())
            reference_adam = copy.deepcopy(model.policy.optimizer.state_dict())
            model.policy.load_state_dict(weights)
            model.policy.optimizer.load_state_dict(adam)
            np.random.set_state(rng)  # noqa: NPY002
            model.fast_update = True
            model.train()
            for key, value in model.policy.named_parameters():
                moved = float((reference[key] - weights[key]).abs().max())
                assert moved > 1e-4, key  # the update did change this parameter
                torch.testing.assert_close(value.detach(), reference[key], rtol=0, atol=2e-6)
            got = model.policy.optimizer.state_dict()["state"]
            for i, st in reference_adam["state"].items():
                assert float(got[i]["step"]) == float(st["step"])
                torch.testing.assert_close(got[i]["exp_avg"], st["exp_avg"], rtol=0, atol=1e-7)
        env.close()


def test_same_seed_gives_the_same_run(tmp_path, bc_model):
    a = _train(tmp_path / "a", init_policy=bc_model)
    b = _train(tmp_path / "b", init_policy=bc_model)
    pa, pb = _params(a.model_dir), _params(b.model_dir)
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key
    bc = load_policy(bc_model).policy.state_dict()
    assert not torch.equal(pa["action_net.weight"], bc["action_net.weight"])  # PPO moved it
    assert a.timesteps == 512
    assert a.checkpoints == ["step_0000000256"]  # after the rollout that reached 256 steps


@pytest.mark.parametrize("fast_update", [True, False])
def test_critic_warmup_updates_only_the_critic(bc_model, fast_update):
    config = rl.PPOConfig(num_envs=2, n_steps=64, batch_size=64, n_epochs=2,
                          fast_update=fast_update)  # fmt: skip
    bc = load_policy(bc_model).policy.state_dict()
    actor = ("mlp_extractor.policy_net", "action_net", "log_std")
    with seeded_torch(0):
        env, _ = rl.make_training_env(config.num_envs, track=OVAL, seed=0)
        model, _, _ = rl._build_model(env, "ppo", config, 0, bc_model, None)
        model.set_logger(Logger(None, []))
        model.critic_warmup = 256
        model.learn(256)  # two updates, both inside the warm-up
        warm = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(128, reset_num_timesteps=False)  # one update after it
        env.close()
    for key, value in warm.items():
        if key.startswith(actor):
            assert torch.equal(value, bc[key]), key
    assert not torch.equal(warm["value_net.weight"], bc["value_net.weight"])
    assert not torch.equal(model.policy.state_dict()["action_net.weight"], bc["action_net.weight"])


def test_critic_warmup_is_at_most_half_the_run(tmp_path, bc_model):
    config = rl.PPOConfig(num_envs=2, n_steps=64, batch_size=64, n_epochs=2, critic_warmup=10**6)
    run = _train(tmp_path, init_policy=bc_model, timesteps=512, config=config)
    bc = load_policy(bc_model).policy.state_dict()
    assert not torch.equal(_params(run.model_dir)["action_net.weight"], bc["action_net.weight"])


def test_critic_warmup_must_be_a_non_negative_integer():
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="critic_warmup"):
            rl.PPOConfig(critic_warmup=bad)


def test_the_final_model_has_an_sb3_zip_behind_the_pickle_opt_in(tmp_path):
    r = _train(tmp_path / "run", timesteps=128)
    zip_path = r.model_dir / "model_sb3.zip"
    assert zip_path.is_file()
    with pytest.raises(PickleNotAllowedError, match="--allow-pickle"):
        load_policy(zip_path)
    ours = load_policy(r.model_dir)
    theirs = load_policy(zip_path, allow_pickle=True)
    obs = np.random.default_rng(0).uniform(ours.policy.observation_space.low,
                                           ours.policy.observation_space.high,
                                           size=(32, 8)).astype(np.float32)  # fmt: skip
    np.testing.assert_array_equal(ours.predict(obs), theirs.predict(obs))
    meta = ours.metadata
    assert meta["hyperparameters"]["ppo"]["learning_rate"] == 3e-4
    assert meta["provenance"]["num_timesteps"] == 128 and meta["provenance"]["seed"] == 5


def test_resume_skips_a_corrupted_latest_checkpoint(tmp_path):
    first = _train(tmp_path, timesteps=640, keep_checkpoints=3, checkpoint_every=128)
    assert first.checkpoints == ["step_0000000256", "step_0000000384", "step_0000000512"]
    # The kill came after the last checkpoint, while it was being written.
    for p in first.model_dir.iterdir():
        p.unlink()
    first.model_dir.rmdir()
    newest = tmp_path / "checkpoints" / "step_0000000512" / TENSORS_FILE
    newest.write_bytes(newest.read_bytes()[:100])
    again = _train(tmp_path, timesteps=640, resume=True, checkpoint_every=128)
    assert again.resumed_from == 384
    assert again.timesteps == 640
    assert load_policy(again.model_dir).metadata["provenance"]["resumed_from"] == 384


def test_resume_after_kill_9(tmp_path):
    script = (
        "import sys\n"
        "from apexrl.train.rl import PPOConfig, train_rl\n"
        "train_rl(sys.argv[1], timesteps=10**7, track=sys.argv[2], seed=5, progress=False,\n"
        "         config=PPOConfig(num_envs=2, n_steps=64, batch_size=64, n_epochs=2,\n"
        "                          critic_warmup=128),\n"
        "         checkpoint_every=256)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), OVAL],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while len(list_checkpoints(tmp_path / "checkpoints")) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "model").exists()
    valid = [int(p.name.split("_")[1]) for p in list_checkpoints(tmp_path / "checkpoints")]
    r = rl.train_rl(tmp_path, timesteps=max(valid) + 256, track=OVAL, seed=5, config=TINY,
                    checkpoint_every=256, resume=True, progress=False)  # fmt: skip
    assert r.resumed_from in valid and r.resumed_from >= 256
    assert r.timesteps == r.resumed_from + 256
    assert (r.model_dir / "model.safetensors").is_file()


def test_resume_refuses_other_settings_and_fresh_runs_refuse_used_folders(tmp_path):
    _train(tmp_path, timesteps=384)
    with pytest.raises(FileExistsError, match="already holds a training run"):
        _train(tmp_path, timesteps=384)
    for p in (tmp_path / "model").iterdir():
        p.unlink()
    (tmp_path / "model").rmdir()
    with pytest.raises(ValueError, match="other settings.*seed"):
        _train(tmp_path, timesteps=384, seed=6, resume=True)
    done = _train(tmp_path, timesteps=384, resume=True)
    assert done.resumed_from == 256
    assert _train(tmp_path, timesteps=384, resume=True).resumed_from is None  # already finished


def test_tensorboard_gets_reward_terms_and_coaching_metrics(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(tmp_path, timesteps=256)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {
        f"reward_terms/{t}" for t in ("progress", "lap_time", "safety", "crash", "action")
    } <= tags
    assert {"train/value_loss", "train/approx_kl"} <= tags


def test_bad_arguments_are_errors(tmp_path):
    with pytest.raises(ValueError, match="algorithm must be 'ppo' or 'sac'"):
        rl.train_rl(tmp_path, algo="a2c")
    with pytest.raises(ValueError, match="timesteps must be a positive integer"):
        rl.train_rl(tmp_path, timesteps=0)
    with pytest.raises(ValueError, match="ppo needs a PPOConfig"):
        rl.train_rl(tmp_path, config=rl.SACConfig())
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        rl.PPOConfig(num_envs=0)


def test_sac_starts_from_its_clone_and_resumes_with_its_replay_buffer(tmp_path, datasets_root):
    from apexrl.train.bc import BCConfig, train_bc
    from apexrl.train.checkpoints import latest_valid

    clone = tmp_path / "bc"
    train_bc(datasets_root, clone, config=BCConfig(epochs=1, batch_size=512), algo="sac",
             seed=0, progress=False)  # fmt: skip
    cfg = rl.SACConfig(buffer_size=1_000, learning_starts=50, batch_size=32)
    args = {"algo": "sac", "track": OVAL, "seed": 1, "config": cfg, "init_policy": clone,
            "checkpoint_every": 100, "progress": False}  # fmt: skip
    first = rl.train_rl(tmp_path / "sac", timesteps=300, **args)
    assert first.checkpoints == ["step_0000000100", "step_0000000200"]
    state = latest_valid(tmp_path / "sac" / "checkpoints").state
    assert state["replay_buffer"]["pos"] == 200
    assert state["replay_buffer"]["observations"].shape[0] == 200
    for p in first.model_dir.iterdir():
        p.unlink()
    again = rl.train_rl(tmp_path / "sac", timesteps=300, resume=True, **args)
    assert (again.resumed_from, again.timesteps) == (200, 300)
    policy = load_policy(again.model_dir)
    assert policy.algo == "sac"
    cues = policy.predict(np.zeros((4, 8), dtype=np.float32) + 1.0)
    assert cues.shape == (4, 3) and (cues >= 0).all() and (cues <= 1).all()
