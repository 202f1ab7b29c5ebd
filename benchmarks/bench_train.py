"""PPO training throughput: the native batched env + apexrl's PPO vs SB3 PPO on single envs.

    python benchmarks/bench_train.py [--json] [--quick] [--steps N] [--repeats R] [--track T]

Rows (env steps per second of ``model.learn``, collection AND updates, after a warm-up rollout
that compiles the numba kernels; best and median of ``repeats`` blocks of ``steps`` env steps,
the rows interleaved so machine noise hits them alike):

- ``reference``: Stable-Baselines3 ``PPO`` with the original pipeline's hyperparameters (one env,
  ``n_steps=2048``, batch 64, 10 epochs, ...) on ``DummyVecEnv([gymnasium.make(
  "apexrl/MotoCoach-v0", rider="amateur")])``: the same env as single Gymnasium envs.
- ``native``: what ``apexrl train ppo`` runs: ``MotoCoachVectorEnv`` with 16 envs x 128 steps (the
  same 2048 transitions per rollout) through ``SB3VecEnvAdapter``, and the NumPy update
  (:class:`apexrl.train.rl.FastPPOUpdate`, equal to SB3's to float32 rounding).
- ``native-sb3-update``: the native env with SB3's own ``PPO.train``, to separate the two gains.

Both sides run in the same process with the same torch settings (one thread, no distribution
argument validation: :class:`apexrl.train.checkpoints.seeded_torch`), the same policy network and
observation/action scaling. Target: ``ratio_native_vs_reference`` >= 5.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

TRACK = "apex_park"


def _policy_kwargs(env) -> dict:
    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import default_policy_kwargs, sb3_policy_kwargs

    mean, std = observation_scaling(env.observation_space)
    return sb3_policy_kwargs("ppo", default_policy_kwargs("ppo"), mean, std)


def reference_model(track: str):
    """SB3 PPO, original hyperparameters, one single Gymnasium env in a DummyVecEnv."""
    import gymnasium as gym
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

    import apexrl  # noqa: F401  (registers apexrl/MotoCoach-v0)
    from apexrl.train.rl import scaled_actions

    env = scaled_actions(VecMonitor(DummyVecEnv(
        [lambda: gym.make("apexrl/MotoCoach-v0", track=track, rider="amateur")])))  # fmt: skip
    return PPO("MlpPolicy", env, n_steps=2048, batch_size=64, n_epochs=10, learning_rate=3e-4,
               gamma=0.99, gae_lambda=0.95, clip_range=0.2, ent_coef=0.0, vf_coef=0.5,
               max_grad_norm=0.5, policy_kwargs=_policy_kwargs(env), seed=0, device="cpu",
               verbose=0)  # fmt: skip


def native_model(track: str, fast_update: bool):
    """apexrl's PPO on the native vector env (train_rl's stack), 16 envs x 128 steps."""
    from apexrl.train.rl import PPOConfig, make_training_env, ppo_class

    cfg = PPOConfig(fast_update=fast_update)
    env, _ = make_training_env(cfg.num_envs, track=track, seed=0)
    model = ppo_class()("MlpPolicy", env, policy_kwargs=_policy_kwargs(env), seed=0,
                        device="cpu", verbose=0, **cfg.sb3_kwargs())  # fmt: skip
    model.fast_update = fast_update
    return model


class _Timed:
    """Seconds spent in ``train`` (the update) vs the rest of ``learn`` (collection)."""

    def __init__(self, model) -> None:
        self.update_s = 0.0
        inner = model.train

        def train() -> None:
            t0 = time.perf_counter()
            inner()
            self.update_s += time.perf_counter() - t0

        model.train = train


def measure(models: dict, steps: int, repeats: int) -> dict[str, dict]:
    from stable_baselines3.common.logger import Logger

    timers = {}
    for name, model in models.items():
        model.set_logger(Logger(None, []))  # configure(None) makes a /tmp dir
        timers[name] = _Timed(model)
        model.learn(2048)  # warm-up: numba kernels, torch, buffers
    rates: dict[str, list[float]] = {n: [] for n in models}
    update_share: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(repeats):
        for name, model in models.items():
            timers[name].update_s = 0.0
            start = model.num_timesteps
            t0 = time.perf_counter()
            model.learn(steps, reset_num_timesteps=False)
            wall = time.perf_counter() - t0
            rates[name].append((model.num_timesteps - start) / wall)
            update_share[name].append(timers[name].update_s / wall)
    return {
        n: {
            "env_steps_per_s_best": round(max(r), 1),
            "env_steps_per_s_median": round(float(np.median(r)), 1),
            "update_share_of_time": round(float(np.median(update_share[n])), 3),
        }  # fmt: skip
        for n, r in rates.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--quick", action="store_true", help="one short block per row")
    parser.add_argument("--steps", type=int, default=10_240, help="env steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per row")
    parser.add_argument("--track", default=TRACK)
    args = parser.parse_args()
    steps, repeats = (4096, 1) if args.quick else (args.steps, args.repeats)

    from apexrl.train.checkpoints import seeded_torch

    with seeded_torch(0):
        models = {
            "reference": reference_model(args.track),
            "native": native_model(args.track, fast_update=True),
            "native-sb3-update": native_model(args.track, fast_update=False),
        }
        rows = measure(models, steps, repeats)
    ref = rows["reference"]["env_steps_per_s_median"]
    result = {
        "benchmark": "ppo_train_throughput",
        "track": args.track,
        "steps_per_block": steps,
        "repeats": repeats,
        "machine": platform.machine(),
        "rows": rows,
        "ratio_native_vs_reference": round(rows["native"]["env_steps_per_s_median"] / ref, 2),
        "ratio_native_sb3_update_vs_reference": round(
            rows["native-sb3-update"]["env_steps_per_s_median"] / ref, 2
        ),
        "target_ratio": 5.0,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name, row in rows.items():
        print(f"{name:20s} {row['env_steps_per_s_median']:9.0f} env-steps/s (best "
              f"{row['env_steps_per_s_best']:.0f}), update {row['update_share_of_time']:.0%} "
              "of the time")  # fmt: skip
    print(
        f"native / reference: {result['ratio_native_vs_reference']:.1f}x (target >= 5x); "
        f"native with SB3's update: {result['ratio_native_sb3_update_vs_reference']:.1f}x"
    )


if __name__ == "__main__":
    main()
