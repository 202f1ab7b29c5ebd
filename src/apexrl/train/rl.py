"""Reinforcement-learning fine-tuning of a coach with Stable-Baselines3: PPO (default) or SAC.

The coach trains in closed loop with simulated AMATEUR riders (a new rider drawn from the
preset's ranges every episode) on the native batched env: ``MotoCoachVectorEnv`` (one simulator
for every env, same-step autoreset) -> :class:`CoachStats` (reward terms, lap times, crashes,
safety violations for TensorBoard) -> ``SB3VecEnvAdapter`` -> SB3 ``VecMonitor`` ->
:class:`ScaledActions` (the policy acts in [-1, 1]^3, mapped onto the haptic Box; the same
mapping as the behaviour-cloning targets).

PPO hyperparameters are the original pipeline's (:class:`PPOConfig`). SB3's ``n_steps`` is per
env, so with the native vector env the rollout keeps the original SIZE: 16 envs x 128 steps =
2048 transitions per update, then 10 epochs of minibatches of 64, exactly as one env x 2048 steps
did. What changes nothing but time: the envs step together in one numba call, torch runs one
thread, and torch.distributions' argument validation is off (:class:`seeded_torch`).

Critic warm-up (:attr:`PPOConfig.critic_warmup`): a run that starts from a cloned policy first
updates only the critic for 51,200 env steps. The value head behaviour cloning fitted predicts
the returns of the ORACLE-coached riders in the datasets, not of this policy with exploration
noise, so PPO's first advantages are biased and its first updates move the actor away from the
clone. Measured on apex_park (200 amateur laps, one clone that closes 51 % of the amateur-to-pro
gap): 100 k PPO steps without warm-up closed 46 %; 50 k warm-up + 50 k PPO 52 %; 20 k warm-up +
80 k PPO 41 % or 53 % depending on the seed. The warm-up removes a bias; it does not make 100 k
steps of PPO improve the clone reliably (the pipeline still chooses between the two).

A run folder holds ``model/`` (the final model: safetensors + JSON + SB3 zip), ``checkpoints/``
(every ``checkpoint_every`` env steps, atomic, the newest ``keep_checkpoints`` kept) and
``tensorboard/``. ``resume=True`` continues from the latest VALID checkpoint (a corrupted one is
skipped), so a kill -9 loses at most one checkpoint interval. Same seed => same run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import VectorWrapper

from apexrl.envs.vector import REWARD_TERMS, check_lap_harmonics
from apexrl.train.model_io import (
    check_lap_track,
    default_policy_kwargs,
    lap_position,
    load_policy,
    save_policy,
)
from apexrl.train.quant import is_int8_aware, project_weights

log = logging.getLogger(__name__)

MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
DEFAULT_CHECKPOINT_EVERY = 10_240
"""Env steps between checkpoints (5 PPO rollouts of 2048)."""


@dataclass(frozen=True)
class PPOConfig:
    """PPO settings. Defaults: the original pipeline's hyperparameters, with the rollout of 2048
    transitions collected as ``num_envs`` x ``n_steps`` = 16 x 128 on the native vector env."""

    num_envs: int = 16
    """Envs stepped together (one batched simulator)."""
    n_steps: int = 128
    """Steps PER ENV per rollout (SB3 semantics): rollout size = num_envs x n_steps."""
    learning_rate: float = 3e-4
    batch_size: int = 64
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    normalize_advantage: bool = True
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    critic_warmup: int = 51_200
    """Env steps (25 rollouts, half the default run) at the start of a run from an init
    (behaviour-cloned) policy during which only the critic learns: the actor and its log_std
    are frozen, so PPO's first policy updates use advantages from a critic fitted to THIS
    policy's returns. Part of ``timesteps`` and at most half of them; 0 turns it off; ignored
    without an init policy (module docstring: why)."""
    fast_update: bool = True
    """Run PPO's update as NumPy on flat arrays (:class:`FastPPOUpdate`: the same minibatches,
    losses, gradient clipping and Adam as SB3's ``PPO.train``, equal to float32 rounding and ~8x
    faster, measured); False runs SB3's own ``train``."""

    def __post_init__(self) -> None:
        _positive_ints(self, ("num_envs", "n_steps", "batch_size", "n_epochs"))
        w = self.critic_warmup
        if isinstance(w, bool) or not isinstance(w, int) or w < 0:
            raise ValueError(f"PPOConfig.critic_warmup must be an integer >= 0, got {w!r}")

    @property
    def rollout_size(self) -> int:
        return self.num_envs * self.n_steps

    def sb3_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        kwargs.pop("num_envs")
        kwargs.pop("fast_update")
        kwargs.pop("critic_warmup")
        return kwargs


@dataclass(frozen=True)
class SACConfig:
    """SAC settings: Stable-Baselines3's defaults, on one env, with a 300 k replay buffer."""

    num_envs: int = 1
    learning_rate: float = 3e-4
    buffer_size: int = 300_000
    learning_starts: int = 100
    batch_size: int = 256
    tau: float = 0.005
    gamma: float = 0.99
    train_freq: int = 1
    gradient_steps: int = 1
    ent_coef: str | float = "auto"

    def __post_init__(self) -> None:
        _positive_ints(self, ("num_envs", "buffer_size", "batch_size", "train_freq"))

    def sb3_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        kwargs.pop("num_envs")
        return kwargs


def _positive_ints(cfg: Any, names: tuple[str, ...]) -> None:
    for name in names:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{type(cfg).__name__}.{name} must be a positive integer, got {v!r}")


@dataclass(frozen=True, eq=False)
class RLResult:
    """What :func:`train_rl` produced."""

    model_dir: Path
    algo: str
    timesteps: int
    """Env steps trained in total (including those before a resume)."""
    resumed_from: int | None
    """The checkpoint step this call continued from (None: a fresh run)."""
    seconds: float
    """Wall time of this call's learning."""
    env_steps_per_s: float
    """Env steps of this call / its learning wall time."""
    checkpoints: list[str]
    metrics: dict[str, float]
    """Coaching statistics of the episodes that ended during this call."""

    def summary(self) -> dict[str, Any]:
        return {
            "algo": self.algo,
            "model_dir": str(self.model_dir),
            "timesteps": self.timesteps,
            "resumed_from": self.resumed_from,
            "seconds": round(self.seconds, 3),
            "env_steps_per_s": round(self.env_steps_per_s, 1),
            "checkpoints": self.checkpoints,
            "metrics": self.metrics,
        }


# ---------------------------------------------------------------------- env stack
class CoachStats(VectorWrapper):
    """Counts what TensorBoard shows, on the batched arrays (no per-env Python objects): the sum of
    every reward term, the steps, and per finished episode its lap time (if the lap was
    completed), crash and safety violations. :meth:`pop` returns the means and restarts them."""

    def __init__(self, env) -> None:
        super().__init__(env)
        self._clear()
        self.totals = {"episodes": 0, "laps": 0, "crashes": 0}

    def _clear(self) -> None:
        self.term_sums = np.zeros(len(REWARD_TERMS))
        self.steps = 0
        self.lap_times: list[float] = []
        self.crashes = 0
        self.episodes = 0
        self.violations = 0

    def step(self, actions):
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        done = terminated | truncated
        final = info.get("final_info", {}) if done.any() else {}
        terms = info["reward_terms"]
        for k, name in enumerate(REWARD_TERMS):
            values = np.asarray(terms[name], dtype=np.float64)
            if done.any():
                values = np.where(done, final["reward_terms"][name], values)
            self.term_sums[k] += float(values.sum())
        self.steps += int(done.size)
        if done.any():
            idx = np.flatnonzero(done)
            laps = np.asarray(final["lap_time_s"])[idx]
            self.lap_times.extend(float(x) for x in laps if x > 0)
            crashed = np.asarray(terminated)[idx]
            self.crashes += int(crashed.sum())
            self.episodes += int(idx.size)
            self.violations += int(np.asarray(final["safety_violations"])[idx].sum())
            self.totals["episodes"] += int(idx.size)
            self.totals["laps"] += int((laps > 0).sum())
            self.totals["crashes"] += int(crashed.sum())
        return obs, rewards, terminated, truncated, info

    def pop(self) -> dict[str, float]:
        """Means since the last call (NaN where nothing ended), then start counting again."""
        out: dict[str, float] = {}
        for k, name in enumerate(REWARD_TERMS):
            out[f"reward_terms/{name}"] = self.term_sums[k] / max(self.steps, 1)
        eps = self.episodes
        out["coach/episodes"] = float(eps)
        out["coach/lap_time_s"] = float(np.mean(self.lap_times)) if self.lap_times else math.nan
        out["coach/laps_completed"] = float(len(self.lap_times))
        out["coach/crash_rate"] = self.crashes / eps if eps else math.nan
        out["coach/safety_violations_per_episode"] = self.violations / eps if eps else math.nan
        self._clear()
        return out


def make_training_env(
    num_envs: int,
    *,
    track: str = "apex_park",
    rider: str = "amateur",
    seed: int | None = None,
    lap_harmonics: int = 0,
):
    """The SB3 training stack (module docstring); returns ``(vec_env, stats)``."""
    from gymnasium.vector import AutoresetMode
    from stable_baselines3.common.vec_env import VecMonitor

    from apexrl.envs.sb3 import SB3VecEnvAdapter
    from apexrl.envs.vector import MotoCoachVectorEnv

    native = MotoCoachVectorEnv(num_envs, track=track, rider=rider, seed=seed,
                                autoreset_mode=AutoresetMode.SAME_STEP,
                                lap_harmonics=lap_harmonics)  # fmt: skip
    stats = CoachStats(native)
    with warnings.catch_warnings():
        # SB3's VecEnv base class warns that the adapter has no render_mode (it renders nothing).
        warnings.filterwarnings("ignore", message="The `render_mode` attribute is not defined")
        adapter = SB3VecEnvAdapter(stats)
    venv = VecMonitor(adapter)
    return scaled_actions(venv), stats


def scaled_actions(venv):
    """Wrap an SB3 VecEnv whose actions are a Box so the policy acts in [-1, 1]
    (:func:`apexrl.train.model_io.to_env_action`)."""
    return _scaled_actions_class()(venv)


_CLASSES: dict[str, type] = {}


def _scaled_actions_class() -> type:
    if "ScaledActions" in _CLASSES:
        return _CLASSES["ScaledActions"]
    from stable_baselines3.common.vec_env import VecEnvWrapper

    from apexrl.train.model_io import policy_action_space, to_env_action

    class ScaledActions(VecEnvWrapper):
        """The policy's [-1, 1]^A actions -> the wrapped env's Box, linearly (clipped)."""

        def __init__(self, venv) -> None:
            space = venv.action_space
            super().__init__(venv, action_space=policy_action_space(int(space.shape[0])))
            self.env_low = np.asarray(space.low, dtype=np.float64)
            self.env_high = np.asarray(space.high, dtype=np.float64)

        def step_async(self, actions: np.ndarray) -> None:
            self.venv.step_async(to_env_action(actions, self.env_low, self.env_high))

        def step_wait(self):
            return self.venv.step_wait()

        def reset(self):
            return self.venv.reset()

    _CLASSES["ScaledActions"] = ScaledActions
    return ScaledActions


# ---------------------------------------------------------------------- training
def train_rl(
    output: str | os.PathLike,
    *,
    algo: str = "ppo",
    timesteps: int = 100_000,
    config: PPOConfig | SACConfig | None = None,
    track: str = "apex_park",
    rider: str = "amateur",
    seed: int = 42,
    init_policy: str | os.PathLike | None = None,
    policy_kwargs: Mapping[str, Any] | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    keep_checkpoints: int = 3,
    resume: bool = False,
    tensorboard_dir: str | os.PathLike | None = None,
    progress: bool = True,
    provenance: Mapping[str, Any] | None = None,
    lap_harmonics: int | None = None,
) -> RLResult:
    """Fine-tune a coach with PPO (or SAC) in closed loop with simulated riders.

    Args:
        output: run folder (``model/``, ``checkpoints/``, ``tensorboard/``).
        algo: ``"ppo"`` or ``"sac"``.
        timesteps: env steps in total (a resumed run continues up to it).
        config: :class:`PPOConfig` / :class:`SACConfig` (defaults when None).
        track: the training track.
        rider: rider preset of the training riders (drawn anew every episode).
        seed: seeds torch, numpy, the env's riders.
        init_policy: a model folder (e.g. behaviour cloning's) whose weights the policy starts
            from; its architecture and normalisation are used. None: a fresh policy, observations
            scaled by the observation space's bounds.
        policy_kwargs: JSON architecture when there is no ``init_policy``.
        checkpoint_every: env steps between checkpoints (rounded up to whole rollouts).
        keep_checkpoints: newest checkpoints kept.
        resume: continue from the latest valid checkpoint in ``output/checkpoints`` (same
            algorithm, track, rider, seed and config; ``timesteps`` may differ); a run whose
            final model exists is returned as it is.
        tensorboard_dir: TensorBoard folder (default ``output/tensorboard``).
        progress: rich progress bar on stderr.
        provenance: extra JSON facts for ``model.json`` (datasets, BC result ...).
        lap_harmonics: lap-position channels of the observation
            (:func:`apexrl.envs.vector.lap_features`); None: those of ``init_policy`` (0
            without one). A value other than the init policy's is a ``ValueError``.
    """
    from apexrl.train.checkpoints import latest_valid, list_checkpoints, seeded_torch, set_rng_state

    if algo not in ("ppo", "sac"):
        raise ValueError(f"algorithm must be 'ppo' or 'sac', got {algo!r}")
    cfg = config or (PPOConfig() if algo == "ppo" else SACConfig())
    if not isinstance(cfg, PPOConfig if algo == "ppo" else SACConfig):
        raise ValueError(f"{algo} needs a {'PPOConfig' if algo == 'ppo' else 'SACConfig'}")
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 1:
        raise ValueError(f"timesteps must be a positive integer, got {timesteps!r}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be positive, got {checkpoint_every}")
    out = Path(output)
    model_dir = out / MODEL_DIR
    ckpt_dir = out / CHECKPOINT_DIR
    tb_dir = Path(tensorboard_dir) if tensorboard_dir is not None else out / TENSORBOARD_DIR
    # What a resumed run must share with the interrupted one (timesteps may change: a run can
    # be extended or cut short).
    harmonics = _lap_harmonics(init_policy, lap_harmonics)
    settings = {"algo": algo, "track": track, "rider": rider, "seed": seed,
                "config": asdict(cfg)}  # fmt: skip
    if harmonics:
        settings["lap_harmonics"] = harmonics

    checkpoint = None
    if resume:
        if (model_dir / "model.json").is_file():
            done = load_policy(model_dir).metadata
            log.info("resume: %s already holds the final model; nothing to do", model_dir)
            return _finished(model_dir, algo, done)
        checkpoint = latest_valid(ckpt_dir)
        if checkpoint is not None:
            saved = checkpoint.state["settings"]
            if saved != json.loads(json.dumps(settings)):
                raise ValueError(
                    f"cannot resume from {checkpoint.path}: it was written with other settings "
                    f"({_diff(saved, settings)}); start a new run or use the same settings"
                )
            log.info("resuming from %s (step %d)", checkpoint.path, checkpoint.step)
        else:
            log.info("resume: no valid checkpoint in %s; starting from the beginning", ckpt_dir)
    elif (ckpt_dir.exists() and any(ckpt_dir.iterdir())) or (model_dir / "model.json").exists():
        raise FileExistsError(
            f"{out} already holds a training run; pass resume=True (--resume) to continue it, "
            "or choose a new output folder"
        )

    with seeded_torch(seed):
        env, stats = make_training_env(cfg.num_envs, track=track, rider=rider, seed=seed,
                                       lap_harmonics=harmonics)  # fmt: skip
        length_m = float(stats.env.core.track.length_m)
        try:
            model, kwargs_json, init_meta = _build_model(env, algo, cfg, seed, init_policy,
                                                         policy_kwargs)  # fmt: skip
            check_lap_track(init_meta, length_m)
            model.set_logger(_tb_logger(tb_dir))
            if algo == "ppo" and init_policy is not None:
                model.critic_warmup = min(cfg.critic_warmup, timesteps // 2)
            resumed_from = None
            if checkpoint is not None:
                _restore(model, checkpoint.state)
                set_rng_state(checkpoint.state["rng"])
                resumed_from = checkpoint.step
                # New riders after a resume (the interrupted episodes are gone), reproducibly.
                model.env.seed(
                    int(np.random.SeedSequence([seed, resumed_from]).generate_state(1)[0])
                )
            start = model.num_timesteps
            callback = _callback_class()(stats, ckpt_dir, checkpoint_every, keep_checkpoints,
                                         settings, timesteps, progress)  # fmt: skip
            t0 = time.perf_counter()
            if timesteps > start:
                model.learn(timesteps - start, callback=callback, reset_num_timesteps=False,
                            log_interval=1)  # fmt: skip
            seconds = time.perf_counter() - t0
            hyper = {algo: asdict(cfg), "timesteps": timesteps,
                     "checkpoint_every": checkpoint_every,
                     "rollout_size": getattr(cfg, "rollout_size", None)}  # fmt: skip
            prov = {"seed": seed, "track": track, "rider": rider, "stage": algo,
                    "num_timesteps": int(model.num_timesteps), "resumed_from": resumed_from,
                    "init_policy": str(init_policy) if init_policy is not None else None,
                    "init_provenance": init_meta.get("provenance"),
                    **dict(provenance or {})}  # fmt: skip
            if is_int8_aware(model.policy):  # the saved weights are the int8 model's
                project_weights(model.policy)
            save_policy(model_dir, model.policy, algo=algo, policy_kwargs=kwargs_json,
                        observation_space=env.observation_space,
                        action_space=env.venv.action_space, hyperparameters=hyper,
                        provenance=prov, sb3_model=model,
                        lap_position={"harmonics": harmonics,
                                      "track_length_m": length_m})  # fmt: skip
        finally:
            env.close()
    steps_done = model.num_timesteps - start
    return RLResult(
        model_dir=model_dir,
        algo=algo,
        timesteps=int(model.num_timesteps),
        resumed_from=resumed_from,
        seconds=seconds,
        env_steps_per_s=steps_done / seconds if seconds > 0 else math.nan,
        checkpoints=[p.name for p in list_checkpoints(ckpt_dir)],
        metrics=callback.final_metrics(),
    )


def _lap_harmonics(init_policy, requested: int | None) -> int:
    """The run's lap-position harmonics: ``requested``, else the init policy's (module doc)."""
    init = 0
    if init_policy is not None:
        lap = lap_position(load_policy(init_policy).metadata)
        init = lap["harmonics"] if lap else 0
    if requested is None:
        return init
    harmonics = check_lap_harmonics(requested)
    if init_policy is not None and harmonics != init:
        raise ValueError(
            f"lap_harmonics={harmonics} but the init policy {init_policy} observes {init}; "
            "leave it unset to use the init policy's"
        )
    return harmonics


def _build_model(env, algo: str, cfg, seed: int, init_policy, policy_kwargs):
    """The SB3 algorithm on ``env``, its policy loaded from ``init_policy`` when given; returns
    ``(model, policy_kwargs JSON, the init policy's model.json or {})``."""
    from stable_baselines3 import SAC

    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import sb3_policy_kwargs

    init = load_policy(init_policy) if init_policy is not None else None
    if init is not None:
        if init.algo != algo:
            raise ValueError(f"init policy {init_policy} is a {init.algo} policy, not {algo}")
        kwargs_json = dict(init.metadata["policy_kwargs"])
        norm = init.metadata["normalization"]["observation"]
        mean, std = np.asarray(norm["mean"]), np.asarray(norm["std"])
    else:
        kwargs_json = dict(policy_kwargs or default_policy_kwargs(algo))
        mean, std = observation_scaling(env.observation_space)
    cls = ppo_class() if algo == "ppo" else SAC
    model = cls("MlpPolicy", env, policy_kwargs=sb3_policy_kwargs(algo, kwargs_json, mean, std),
                seed=seed, device="cpu", verbose=0, **cfg.sb3_kwargs())  # fmt: skip
    if init is not None:
        # The same network: behaviour cloning's weights ARE the policy PPO starts from.
        model.policy.load_state_dict(init.policy.state_dict())
    if algo == "ppo":
        model.fast_update = cfg.fast_update
    return model, kwargs_json, (init.metadata if init is not None else {})


def _tb_logger(folder: Path):
    from stable_baselines3.common.logger import configure

    return configure(str(folder), ["tensorboard"])


def _finished(model_dir: Path, algo: str, meta: Mapping[str, Any]) -> RLResult:
    from apexrl.train.checkpoints import list_checkpoints

    return RLResult(
        model_dir=model_dir, algo=algo, timesteps=int(meta["provenance"]["num_timesteps"]),
        resumed_from=None, seconds=0.0, env_steps_per_s=math.nan,
        checkpoints=[p.name for p in list_checkpoints(model_dir.parent / CHECKPOINT_DIR)],
        metrics={},
    )  # fmt: skip


def _diff(saved: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    now = json.loads(json.dumps(now))
    keys = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    return ", ".join(f"{k}: {saved.get(k)!r} then, {now.get(k)!r} now" for k in keys)


# ---------------------------------------------------------------------- checkpoint state
def _training_state(model) -> dict[str, Any]:
    """Everything needed to continue ``model``'s training, as tensors and JSON values."""
    from stable_baselines3.common.save_util import recursive_getattr

    names, variables = model._get_torch_save_params()
    state: dict[str, Any] = {
        "num_timesteps": int(model.num_timesteps),
        "n_updates": int(model._n_updates),
        "episode_num": int(model._episode_num),
        "params": {n: recursive_getattr(model, n).state_dict() for n in names},
        "variables": {n: recursive_getattr(model, n).detach().clone() for n in variables},
    }
    buffer = getattr(model, "replay_buffer", None)
    if buffer is not None:
        rows = buffer.buffer_size if buffer.full else buffer.pos
        state["replay_buffer"] = {
            "pos": int(buffer.pos), "full": bool(buffer.full),
            **{k: getattr(buffer, k)[:rows] for k in _REPLAY_ARRAYS},
        }  # fmt: skip
    return state


_REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def _restore(model, state: Mapping[str, Any]) -> None:
    import torch as th
    from stable_baselines3.common.save_util import recursive_getattr

    for name, sd in state["params"].items():
        recursive_getattr(model, name).load_state_dict(sd)
    for name, value in state["variables"].items():
        with th.no_grad():
            recursive_getattr(model, name).copy_(value)
    model.num_timesteps = int(state["num_timesteps"])
    model._n_updates = int(state["n_updates"])
    model._episode_num = int(state["episode_num"])
    if "replay_buffer" in state:
        rb, buf = state["replay_buffer"], model.replay_buffer
        rows = rb["observations"].shape[0]
        for k in _REPLAY_ARRAYS:
            getattr(buf, k)[:rows] = rb[k]
        buf.pos, buf.full = int(rb["pos"]), bool(rb["full"])


def _callback_class() -> type:
    if "Callback" in _CLASSES:
        return _CLASSES["Callback"]
    from stable_baselines3.common.callbacks import BaseCallback

    from apexrl.train.bc import _Progress
    from apexrl.train.checkpoints import rng_state, save_checkpoint

    class TrainingCallback(BaseCallback):
        """Coaching metrics into the SB3 logger (TensorBoard) at every rollout end; a checkpoint
        at the first rollout start (i.e. after an update) ``every`` steps past the last one; a
        rich progress bar."""

        def __init__(self, stats, ckpt_dir, every, keep, settings, total, progress) -> None:
            super().__init__(verbose=0)
            self.stats, self.ckpt_dir, self.every, self.keep = stats, ckpt_dir, every, keep
            self.settings, self.total = settings, total
            self._progress = _Progress(progress, total, "training")
            self._last_ckpt = 0
            self._all = {"episodes": 0, "laps": 0, "crashes": 0, "violations": 0}
            self._lap_times: list[float] = []
            self._violations: list[float] = []
            self._crashes: list[float] = []

        def _on_training_start(self) -> None:
            self._last_ckpt = self.num_timesteps
            self._progress.__enter__()
            self._progress.update(self.num_timesteps)

        def _on_rollout_start(self) -> None:
            if self.num_timesteps - self._last_ckpt >= self.every:
                self._checkpoint()

        def _checkpoint(self) -> None:
            state = {**_training_state(self.model), "rng": rng_state(),
                     "settings": self.settings}  # fmt: skip
            save_checkpoint(self.ckpt_dir, self.num_timesteps, state, keep=self.keep)
            self._last_ckpt = self.num_timesteps

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            s = self.stats
            eps, laps, crashes, viol = s.episodes, list(s.lap_times), s.crashes, s.violations
            for key, value in s.pop().items():
                if not math.isnan(value):
                    self.logger.record(key, value)
            if eps:
                self._lap_times.extend(laps)
                self._crashes.append(crashes)
                self._violations.append(viol)
                self._all["episodes"] += eps
            status = f"{self.num_timesteps} steps"
            if self._lap_times:
                status += f", lap {np.mean(self._lap_times[-20:]):.2f} s"
            self._progress.update(min(self.num_timesteps, self.total), status)

        def _on_training_end(self) -> None:
            self._progress.__exit__(None, None, None)

        def final_metrics(self) -> dict[str, float]:
            eps = self._all["episodes"]
            return {
                "episodes": eps,
                "laps_completed": len(self._lap_times),
                "lap_time_mean_s": round(float(np.mean(self._lap_times)), 4)
                if self._lap_times
                else None,
                "crash_rate": round(sum(self._crashes) / eps, 4) if eps else None,
                "safety_violations_per_episode": round(sum(self._violations) / eps, 4)
                if eps
                else None,
            }

    _CLASSES["Callback"] = TrainingCallback
    return TrainingCallback


# ---------------------------------------------------------------------- the fast PPO update
def _actor_parameters(policy) -> list:
    """The actor's parameters of an SB3 ``ActorCriticPolicy``: its MLP branch, head and log_std
    (the critic's branch and head, and the shared observation normaliser, are left out)."""
    return [*policy.mlp_extractor.policy_net.parameters(), *policy.action_net.parameters(),
            policy.log_std]  # fmt: skip


def ppo_class() -> type:
    """SB3's ``PPO`` whose ``train`` runs :class:`FastPPOUpdate` when ``fast_update`` is set and
    the policy is supported, and SB3's own ``train`` otherwise. While ``num_timesteps`` is at most
    ``critic_warmup`` an update changes only the critic (:attr:`PPOConfig.critic_warmup`)."""
    if "PPO" in _CLASSES:
        return _CLASSES["PPO"]
    from stable_baselines3 import PPO

    class CoachPPO(PPO):
        __doc__ = ppo_class.__doc__
        fast_update = True
        critic_warmup = 0

        def train(self) -> None:
            frozen = self.num_timesteps <= self.critic_warmup
            if self.fast_update and FastPPOUpdate.supports(self):
                FastPPOUpdate(self, freeze_actor=frozen).run()
                return None
            actor = _actor_parameters(self.policy) if frozen else []
            for p in actor:
                p.requires_grad_(False)
            try:
                return super().train()
            finally:
                for p in actor:
                    p.requires_grad_(True)

    CoachPPO.__module__ = __name__
    _CLASSES["PPO"] = CoachPPO
    return CoachPPO


class FastPPOUpdate:
    """SB3's ``PPO.train`` for apexrl's MLP Gaussian policy, in NumPy on one flat float32 vector.

    Why: with minibatches of 64 on 2048 transitions x 10 epochs, SB3's update is 320 small torch
    steps of ~300 tensor ops each; torch's per-op overhead, not arithmetic, is what they cost.
    The same arithmetic as a few dozen NumPy calls per minibatch (explicit backward pass, global
    gradient-norm clip and Adam on the flat vector) runs ~8x faster on the development machine.

    It reproduces ``PPO.train`` step for step: the same ``np.random.permutation`` per epoch over
    the rollout buffer flattened as SB3 flattens it, per-minibatch advantage normalisation (std
    with Bessel's correction, + 1e-8), the clipped surrogate with ``torch.min``'s tie rule (half
    the gradient to each side), value MSE x ``vf_coef``, entropy x ``ent_coef``,
    ``clip_grad_norm_`` (coefficient ``max / (norm + 1e-6)`` capped at 1), torch's Adam formula
    and ``target_kl`` early stopping; the weights and Adam moments are read from and written back
    to the torch policy and optimizer, so checkpoints, the SB3 zip and SB3's own ``train`` see the
    same state. A test compares it with ``PPO.train`` on the same rollout (float32 rounding:
    ~1e-7 after 320 steps). Supported: ``ActorCriticPolicy`` with a Gaussian over a Box (no
    gSDE), apexrl's :class:`~apexrl.train.model_io.ObservationNormalizer`, Linear + tanh/ReLU
    MLPs, Adam without weight decay, no value clipping; anything else runs SB3's ``train``.
    """

    def __init__(self, model, freeze_actor: bool = False) -> None:
        import torch.nn as nn

        self.model = model
        self.freeze_actor = freeze_actor
        policy = model.policy
        self.params = list(policy.parameters())
        self.offsets = np.cumsum([0] + [p.numel() for p in self.params])
        size = int(self.offsets[-1])
        self.flat = np.empty(size, dtype=np.float32)
        self.grad = np.zeros(size, dtype=np.float32)
        self.m = np.zeros(size, dtype=np.float32)
        self.v = np.zeros(size, dtype=np.float32)
        index = {id(p): i for i, p in enumerate(self.params)}

        def view(arr: np.ndarray, p) -> np.ndarray:
            i = index[id(p)]
            return arr[self.offsets[i] : self.offsets[i + 1]].reshape(tuple(p.shape))

        def linears(seq) -> list:
            return [m for m in seq if isinstance(m, nn.Linear)]

        pi = linears(policy.mlp_extractor.policy_net) + [policy.action_net]
        vf = linears(policy.mlp_extractor.value_net) + [policy.value_net]
        self.pi = [(view(self.flat, m.weight), view(self.flat, m.bias)) for m in pi]
        self.pi_grad = [(view(self.grad, m.weight), view(self.grad, m.bias)) for m in pi]
        self.vf = [(view(self.flat, m.weight), view(self.flat, m.bias)) for m in vf]
        self.vf_grad = [(view(self.grad, m.weight), view(self.grad, m.bias)) for m in vf]
        self.log_std = view(self.flat, policy.log_std)
        self.log_std_grad = view(self.grad, policy.log_std)
        self.tanh = policy.activation_fn is nn.Tanh
        fe = policy.features_extractor
        self.obs_mean = fe.obs_mean.numpy()
        self.obs_std = fe.obs_std.numpy()
        self.obs_clip = fe.clip

    @staticmethod
    def supports(model) -> bool:
        import torch as th
        import torch.nn as nn
        from gymnasium import spaces
        from stable_baselines3.common.distributions import DiagGaussianDistribution
        from stable_baselines3.common.policies import ActorCriticPolicy

        from apexrl.train.model_io import _observation_normalizer_class

        p = model.policy
        if not (type(p) is ActorCriticPolicy and isinstance(model.action_space, spaces.Box)):
            return False
        if not isinstance(p.action_dist, DiagGaussianDistribution) or p.use_sde:
            return False
        if not (p.share_features_extractor and
                type(p.features_extractor) is _observation_normalizer_class()):  # fmt: skip
            return False
        if p.activation_fn not in (nn.Tanh, nn.ReLU) or model.clip_range_vf is not None:
            return False
        for seq in (p.mlp_extractor.policy_net, p.mlp_extractor.value_net):
            if any(not isinstance(m, nn.Linear | p.activation_fn) for m in seq):
                return False
        opt = p.optimizer
        if type(opt) is not th.optim.Adam or len(opt.param_groups) != 1:
            return False
        g = opt.param_groups[0]
        return (g["weight_decay"] == 0 and not g["amsgrad"] and not g["maximize"]
                and len(g["params"]) == len(list(p.parameters())))  # fmt: skip

    # ------------------------------------------------------------------ state in and out
    def _load(self) -> int:
        """Copy weights and Adam moments from torch; returns Adam's step count."""
        opt = self.model.policy.optimizer
        step = 0
        for i, p in enumerate(self.params):
            sl = slice(self.offsets[i], self.offsets[i + 1])
            self.flat[sl] = p.detach().numpy().ravel()
            st = opt.state.get(p, {})
            if "exp_avg" in st:
                self.m[sl] = st["exp_avg"].numpy().ravel()
                self.v[sl] = st["exp_avg_sq"].numpy().ravel()
                step = int(float(st["step"]))
            else:
                self.m[sl] = 0.0
                self.v[sl] = 0.0
        return step

    def _store(self, step: int) -> None:
        import torch as th

        opt = self.model.policy.optimizer
        with th.no_grad():
            for i, p in enumerate(self.params):
                sl = slice(self.offsets[i], self.offsets[i + 1])
                shape = tuple(p.shape)
                p.copy_(th.from_numpy(self.flat[sl].reshape(shape)))
                opt.state[p] = {
                    "step": th.tensor(float(step), dtype=th.float32),
                    "exp_avg": th.from_numpy(self.m[sl].reshape(shape).copy()),
                    "exp_avg_sq": th.from_numpy(self.v[sl].reshape(shape).copy()),
                }

    # ------------------------------------------------------------------ the update
    def run(self) -> None:
        """One ``PPO.train``: ``n_epochs`` passes of minibatches over the rollout buffer."""
        model = self.model
        model.policy.set_training_mode(True)
        model._update_learning_rate(model.policy.optimizer)
        group = model.policy.optimizer.param_groups[0]
        lr, (beta1, beta2), eps = float(group["lr"]), group["betas"], float(group["eps"])
        clip_range = float(model.clip_range(model._current_progress_remaining))
        buf = model.rollout_buffer
        obs, act, old_logp, adv, ret = (
            _flattened(buf, getattr(buf, k))
            for k in ("observations", "actions", "log_probs", "advantages", "returns")
        )
        obs = obs.reshape(obs.shape[0], -1)
        act = act.reshape(act.shape[0], -1)
        old_logp, adv, ret = old_logp.ravel(), adv.ravel(), ret.ravel()
        x_all = np.clip((obs - self.obs_mean) / self.obs_std, -self.obs_clip, self.obs_clip)
        x_all = x_all.astype(np.float32)
        step = self._load()
        n = x_all.shape[0]
        pg_losses, value_losses, entropy_losses, clip_fractions = [], [], [], []
        approx_kls: list[float] = []
        loss = math.nan
        keep_going = True
        for _ in range(model.n_epochs):
            approx_kls = []
            order = np.random.permutation(n)  # noqa: NPY002 (SB3's generator, as PPO.train)
            for start in range(0, n, model.batch_size):
                b = order[start : start + model.batch_size]
                out = self._minibatch(x_all[b], act[b], old_logp[b], adv[b], ret[b], clip_range,
                                      model.ent_coef, model.vf_coef,
                                      model.normalize_advantage)  # fmt: skip
                pg, vl, ent, kl, cf = out
                if self.freeze_actor:
                    for gw, gb in self.pi_grad:
                        gw[...] = 0.0
                        gb[...] = 0.0
                    self.log_std_grad[...] = 0.0
                pg_losses.append(pg)
                value_losses.append(vl)
                entropy_losses.append(ent)
                clip_fractions.append(cf)
                approx_kls.append(kl)
                loss = pg + model.ent_coef * ent + model.vf_coef * vl
                if model.target_kl is not None and kl > 1.5 * model.target_kl:
                    keep_going = False
                    break
                norm = math.sqrt(float(np.dot(self.grad, self.grad)))
                self.grad *= np.float32(min(model.max_grad_norm / (norm + 1e-6), 1.0))
                step += 1
                self.m += np.float32(1.0 - beta1) * (self.grad - self.m)
                self.v *= np.float32(beta2)
                self.v += np.float32(1.0 - beta2) * self.grad * self.grad
                denom = np.sqrt(self.v) / np.float32(math.sqrt(1.0 - beta2**step))
                denom += np.float32(eps)
                self.flat -= np.float32(lr / (1.0 - beta1**step)) * self.m / denom
            model._n_updates += 1
            if not keep_going:
                break
        self._store(step)
        from stable_baselines3.common.utils import explained_variance

        lg = model.logger
        lg.record("train/entropy_loss", float(np.mean(entropy_losses)))
        lg.record("train/policy_gradient_loss", float(np.mean(pg_losses)))
        lg.record("train/value_loss", float(np.mean(value_losses)))
        lg.record("train/approx_kl", float(np.mean(approx_kls)))
        lg.record("train/clip_fraction", float(np.mean(clip_fractions)))
        lg.record("train/loss", float(loss))
        lg.record("train/explained_variance",
                  explained_variance(buf.values.flatten(), buf.returns.flatten()))  # fmt: skip
        lg.record("train/std", float(np.exp(self.log_std).mean()))
        lg.record("train/n_updates", model._n_updates, exclude="tensorboard")
        lg.record("train/clip_range", clip_range)

    def _mlp(self, x: np.ndarray, layers: list) -> list[np.ndarray]:
        """Activations of every layer (input first, output last)."""
        out = [x]
        last = len(layers) - 1
        for k, (w, b) in enumerate(layers):
            z = x @ w.T + b
            if k < last:
                z = np.tanh(z) if self.tanh else np.maximum(z, np.float32(0.0))
            out.append(z)
            x = z
        return out

    def _backward(self, acts: list[np.ndarray], d_out: np.ndarray, layers: list,
                  grads: list) -> None:  # fmt: skip
        d = d_out
        for k in range(len(layers) - 1, -1, -1):
            if k < len(layers) - 1:
                h = acts[k + 1]
                d = d * (np.float32(1.0) - h * h) if self.tanh else d * (h > 0)
            gw, gb = grads[k]
            np.matmul(d.T, acts[k], out=gw)
            gb[...] = d.sum(axis=0)
            if k:
                d = d @ layers[k][0]

    def _minibatch(self, x, act, old_logp, adv, ret, clip_range, ent_coef, vf_coef, norm_adv):
        """Losses of one minibatch and their gradient into ``self.grad``; returns (policy loss,
        value loss, entropy loss, approx KL, clip fraction)."""
        size = x.shape[0]
        hp = self._mlp(x, self.pi)
        hv = self._mlp(x, self.vf)
        mu, value = hp[-1], hv[-1][:, 0]
        log_std = self.log_std
        inv_var = np.exp(np.float32(-2.0) * log_std)
        diff = act - mu
        log_prob = (-(diff * diff) * np.float32(0.5) * inv_var - log_std
                    - np.float32(0.5 * math.log(2.0 * math.pi))).sum(axis=1)  # fmt: skip
        if norm_adv and size > 1:
            adv = (adv - adv.mean()) / (adv.std(ddof=1) + np.float32(1e-8))
        log_ratio = log_prob - old_logp
        ratio = np.exp(log_ratio)
        lo, hi = np.float32(1.0 - clip_range), np.float32(1.0 + clip_range)
        s1 = adv * ratio
        s2 = adv * np.clip(ratio, lo, hi)
        inside = ((ratio >= lo) & (ratio <= hi)).astype(np.float32)
        # torch.min's backward: the smaller side gets the gradient, a tie half to each side;
        # the clipped side passes it only inside the clip range.
        weight = np.where(s1 < s2, np.float32(1.0),
                          np.where(s1 == s2, np.float32(0.5) + np.float32(0.5) * inside,
                                   inside))  # fmt: skip
        d_logp = -(adv * weight) * ratio / np.float32(size)
        d_mu = d_logp[:, None] * diff * inv_var
        self.log_std_grad[...] = (d_logp[:, None] * (diff * diff * inv_var - 1.0)).sum(axis=0)
        self.log_std_grad -= np.float32(ent_coef)
        d_value = (np.float32(-2.0 * vf_coef / size) * (ret - value))[:, None]
        self._backward(hp, d_mu.astype(np.float32), self.pi, self.pi_grad)
        self._backward(hv, d_value.astype(np.float32), self.vf, self.vf_grad)
        entropy = float(np.sum(0.5 + 0.5 * math.log(2.0 * math.pi) + log_std))
        return (
            float(-np.minimum(s1, s2).mean()),
            float(np.mean((ret - value) ** 2)),
            -entropy,
            float(np.mean(np.exp(log_ratio) - 1.0 - log_ratio)),
            float(np.mean(np.abs(ratio - 1.0) > clip_range)),
        )


def _flattened(buf, arr: np.ndarray) -> np.ndarray:
    """A rollout-buffer array in the order SB3's ``RolloutBuffer.get`` samples it from."""
    return arr if buf.generator_ready else buf.swap_and_flatten(arr)
