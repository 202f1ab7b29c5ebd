"""Behaviour cloning: pretrain a Stable-Baselines3 policy on the coaching datasets.

The network trained here IS the policy PPO fine-tunes (:func:`apexrl.train.rl.train_rl` loads
its state dict into ``PPO.policy``): the same ``ActorCriticPolicy`` with the same
``policy_kwargs``, observation normalisation and action scaling.

Data: the Minari datasets ``apexrl/moto-<rider>-v0`` (:mod:`apexrl.data.generate`):
observations are telemetry, actions the oracle coach's cues. Targets go through the policy's
action scaling (:func:`apexrl.train.model_io.to_policy_action`); the policy's deterministic action
is the Gaussian mean (for SAC ``tanh`` of it) in [-1, 1].

- Loss (``loss``): ``"cue"`` (default) is the mean squared error of the CUE THE RIDER READS,
  ``(lateral, urgency)`` (:func:`apexrl.riders.haptics.decode_cue`), of the predicted and the
  oracle's action; ``"action"`` is the plain mean squared error of the three raw actions. The raw
  actions are a redundant, discontinuous code of the cue: the frequency means nothing while both
  motors are off, and the oracle's weakest-cue encoding jumps from 50 Hz ("more throttle") to
  300 Hz ("brake") where the urgency changes sign. Plain MSE averages those two into a neutral or
  braking cue wherever the telemetry cannot tell them apart. Measured on apex_park (200 amateur
  episodes, BC only): the action-MSE clone closes 43 % of the amateur-to-pro gap, the cue-MSE
  clone 51 % (the oracle 50 %).

- Input noise (``input_noise``, off by default): Gaussian noise of that many int8 input steps
  (1/255 of each channel's observation-space range) on every training observation. It makes the
  actor smoother at the resolution of an int8 input, which the int8 export needs, and models
  sensor noise, at a cost in cloning accuracy. Measured on apex_park (one clone per setting, int8
  max error of the export against PyTorch; gap closed on 200 amateur episodes): 0 steps 15.7 %
  and 51 %; 10 steps (``apexrl train bc --input-noise 10``) 6.0 % and 46 %, its input-rounding
  floor 3.3 %. An earlier prototype with other noise draws: 3 steps 12.6 % and 49 %.

- Int8-aware (``policy_kwargs["int8_aware"] = True``, :mod:`apexrl.train.quant`): after cloning,
  the policy's normalisation is folded into its first layers and training goes on for up to
  ``int8_epochs`` with the int8 model's roundings in the forward pass (straight-through
  gradients, learning rate x :data:`INT8_LR_FACTOR`, the same early stopping); the actor's
  weights and biases then go onto their int8 and int32 grids. The saved coach IS its int8 model.
  By default (``int8_target="clone"``) this phase fits the float clone's own cues, so the int8
  coach reproduces the clone; re-fitting the oracle's cues instead (``"oracle"``) lowers the
  validation loss further but made coaches less safe (README, "Coaching quality").

- Mix: every epoch draws ``samples_per_epoch`` samples (default: as many as the training split
  holds), a fraction ``mix[rider]`` of them from each rider's data (70 % pro / 30 % amateur by
  default): without replacement when the rider has enough, with replacement otherwise.
- Validation: whole EPISODES are held out (``val_fraction`` per rider, at least one when a rider
  has two or more), so no lap is in both splits; the validation loss is the mix-weighted mean of
  each rider's MSE. Early stopping after ``patience`` epochs without a relative improvement of
  ``min_delta``; the best epoch's weights are kept.
- Critic (PPO, ``fit_value``): the value head is fitted to the discounted returns of the same
  episodes (bootstrapped at truncation with the episode's mean reward / (1 - gamma)), so PPO's
  first advantages come from a critic that knows the task, not from a random one.
- Exploration: after cloning, PPO's state-independent ``log_std`` is set to
  ``log(exploration_std)``: the Gaussian PPO starts from is centred on the cloned actions.

Reproducible: the same seed, data and config give the same loss curve and weights (torch seeded,
deterministic algorithms, one thread; :class:`apexrl.train.checkpoints.seeded_torch`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.envs.vector import check_lap_harmonics, episode_with_lap, observation_box
from apexrl.riders import haptics as hp
from apexrl.train.model_io import (
    default_policy_kwargs,
    save_policy,
    to_policy_action,
)

BC_LOSSES = ("cue", "action")
"""The behaviour-cloning losses (:attr:`BCConfig.loss`)."""
INT8_TARGETS = ("clone", "oracle")
"""What int8-aware training fits (:attr:`BCConfig.int8_target`)."""


@dataclass(frozen=True)
class BCConfig:
    """Behaviour-cloning settings (module docstring)."""

    mix: Mapping[str, float] = field(default_factory=lambda: {"pro": 0.7, "amateur": 0.3})
    """Rider preset -> share of every epoch's samples (normalised to sum 1)."""
    epochs: int = 30
    """Most epochs; early stopping usually ends sooner."""
    batch_size: int = 256
    """Samples per gradient step."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    val_fraction: float = 0.1
    """Fraction of each rider's episodes held out for validation."""
    patience: int = 4
    """Epochs without improvement before stopping."""
    min_delta: float = 1e-3
    """Relative improvement of the validation loss that counts as one."""
    samples_per_epoch: int | None = None
    """Samples drawn per epoch (None: the size of the training split)."""
    fit_value: bool = True
    """Also fit PPO's value head to the episodes' discounted returns."""
    gamma: float = 0.99
    """Discount of those returns (PPO's gamma)."""
    exploration_std: float | None = 0.3
    """PPO's action std after cloning (policy units, [-1, 1] actions); None leaves log_std."""
    loss: str = "cue"
    """``"cue"``: MSE of the cue the rider reads (lateral, urgency); ``"action"``: MSE of the raw
    actions (module docstring)."""
    input_noise: float = 0.0
    """Std of Gaussian noise added to every training observation, in int8 input steps of each
    channel (1/255 of its observation-space range); 0 = none (module docstring)."""
    lap_harmonics: int = 0
    """Lap-position harmonics K appended to the observation (module docstring); 0 = the 8
    telemetry channels only."""
    int8_epochs: int = 20
    """Most epochs of int8-aware training after cloning (``policy_kwargs["int8_aware"]``;
    module docstring)."""
    int8_target: str = "clone"
    """What int8-aware training fits: ``"clone"``, the float clone's own actions (the int8 coach
    reproduces it), or ``"oracle"``, the datasets' oracle cues again (module docstring)."""

    def __post_init__(self) -> None:
        mix = dict(self.mix)
        if not mix or any(not isinstance(k, str) for k in mix):
            raise ValueError(
                "mix must map rider presets to weights, e.g. {'pro': 0.7, 'amateur': 0.3}"
            )
        if any(
            not (isinstance(w, int | float) and math.isfinite(w) and w >= 0) for w in mix.values()
        ):
            raise ValueError(f"mix weights must be finite numbers >= 0, got {mix}")
        if sum(mix.values()) <= 0:
            raise ValueError(f"mix weights must not all be zero, got {mix}")
        for name in ("epochs", "batch_size", "patience", "int8_epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"BCConfig.{name} must be a positive integer, got {v!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if not (self.learning_rate > 0 and self.min_delta >= 0 and 0 < self.gamma < 1):
            raise ValueError("learning_rate must be > 0, min_delta >= 0 and gamma in (0, 1)")
        if self.samples_per_epoch is not None and self.samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be positive, got {self.samples_per_epoch}")
        if self.int8_target not in INT8_TARGETS:
            raise ValueError(f"int8_target must be one of {', '.join(INT8_TARGETS)}, got "
                             f"{self.int8_target!r}")  # fmt: skip
        if self.loss not in BC_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(BC_LOSSES)}, got {self.loss!r}")
        noise = self.input_noise
        if (
            isinstance(noise, bool)
            or not isinstance(noise, int | float)
            or not (math.isfinite(noise) and noise >= 0)
        ):
            raise ValueError(f"input_noise must be a finite number >= 0, got {noise!r}")
        check_lap_harmonics(self.lap_harmonics)
        if self.exploration_std is not None and not self.exploration_std > 0:
            raise ValueError(f"exploration_std must be > 0, got {self.exploration_std}")

    @property
    def weights(self) -> dict[str, float]:
        """The mix normalised to sum 1, riders with weight 0 left out."""
        total = float(sum(self.mix.values()))
        return {k: float(v) / total for k, v in self.mix.items() if v > 0}

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["mix"] = self.weights
        return out


@dataclass(frozen=True, eq=False)
class RiderData:
    """One rider's training or validation samples: ``obs (N, D)`` raw telemetry float32,
    ``act (N, A)`` policy-space targets float32, ``ret (N,)`` discounted returns float32."""

    obs: np.ndarray
    act: np.ndarray
    ret: np.ndarray

    @property
    def size(self) -> int:
        return int(self.obs.shape[0])


@dataclass(frozen=True, eq=False)
class BCData:
    """The split data of every rider in the mix, and the spaces of the datasets."""

    train: dict[str, RiderData]
    val: dict[str, RiderData]
    observation_space: Any
    action_space: Any
    provenance: dict[str, Any]
    lap_position: dict[str, Any] | None = None
    """``{"harmonics", "track_length_m"}`` when the observations end with lap-position channels."""


@dataclass(frozen=True, eq=False)
class BCResult:
    """What :func:`train_bc` produced."""

    policy: Any
    """The SB3 policy with the best epoch's weights."""
    train_loss: list[float]
    """Mean training loss (:attr:`BCConfig.loss`) per epoch."""
    val_loss: list[float]
    """Mix-weighted validation loss per epoch (empty without a validation split)."""
    val_loss_per_rider: list[dict[str, float]]
    best_epoch: int
    """1-based epoch whose weights were kept."""
    stopped_early: bool
    model_dir: Path | None
    policy_kwargs: dict[str, Any]
    observation_space: Any
    action_space: Any
    provenance: dict[str, Any]
    seconds: float

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers."""
        return {
            "epochs": len(self.train_loss),
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "train_loss": [round(x, 6) for x in self.train_loss],
            "val_loss": [round(x, 6) for x in self.val_loss],
            "best_val_loss": round(self.val_loss[self.best_epoch - 1], 6)
            if self.val_loss
            else None,
            "final_val_loss_per_rider": self.val_loss_per_rider[self.best_epoch - 1]
            if self.val_loss_per_rider
            else {},
            "model_dir": str(self.model_dir) if self.model_dir else None,
            "seconds": round(self.seconds, 3),
            "provenance": self.provenance,
        }


# ---------------------------------------------------------------------- data
def load_bc_data(
    datasets_root: str | os.PathLike,
    *,
    riders: Sequence[str] = ("pro", "amateur"),
    val_fraction: float = 0.1,
    gamma: float = 0.99,
    seed: int = 42,
    lap_harmonics: int = 0,
) -> BCData:
    """Read the riders' Minari datasets under ``datasets_root`` and split them by episode.
    ``lap_harmonics`` K > 0 appends the lap-position channels of every step
    (:func:`apexrl.envs.vector.lap_features`), computed from the episodes' ``infos["s_m"]`` and
    the length of the track named in the datasets' metadata."""
    from apexrl.data.generate import dataset_id
    from apexrl.data.minari_io import dataset_path, file_digest, load_dataset

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBC]))
    train: dict[str, RiderData] = {}
    val: dict[str, RiderData] = {}
    provenance: dict[str, Any] = {"datasets_root": str(datasets_root), "datasets": {}}
    harmonics = check_lap_harmonics(lap_harmonics)
    obs_space = act_space = None
    length_m = None
    for rider in riders:
        ds_id = dataset_id(rider)
        ds = load_dataset(datasets_root, ds_id)
        spec = (ds.storage.metadata.get("apexrl") or {}).get("track_spec")
        if spec and "track" not in provenance:
            provenance["track"] = spec
        if harmonics:
            length = _dataset_track_length(ds, ds_id)
            if length_m is not None and abs(length - length_m) > 1e-3:
                raise ValueError(f"dataset {ds_id} was recorded on another track than the first")
            length_m = length
        if obs_space is None:
            obs_space, act_space = ds.observation_space, ds.action_space
        elif ds.observation_space != obs_space or ds.action_space != act_space:
            raise ValueError(f"dataset {ds_id} has other spaces than the first dataset")
        episodes = list(ds.iterate_episodes())
        if not episodes:
            raise ValueError(f"dataset {ds_id} has no episodes")
        order = rng.permutation(len(episodes))
        n_val = 0
        if val_fraction > 0 and len(episodes) >= 2:
            n_val = min(max(1, round(val_fraction * len(episodes))), len(episodes) - 1)
        val_ids = set(order[:n_val].tolist())
        parts: dict[bool, list] = {True: [], False: []}
        for i, ep in enumerate(episodes):
            parts[i in val_ids].append(ep)
        lap = (length_m, harmonics, ds_id) if harmonics else None
        train[rider] = _samples(parts[False], act_space, gamma, lap)
        if parts[True]:
            val[rider] = _samples(parts[True], act_space, gamma, lap)
        checksums = dataset_path(datasets_root, ds_id) / "checksums.json"
        provenance["datasets"][ds_id] = {
            "episodes": len(episodes),
            "train_episodes": len(parts[False]),
            "val_episodes": len(parts[True]),
            "steps": int(sum(len(ep.actions) for ep in episodes)),
            "checksums_sha256": file_digest(checksums) if checksums.is_file() else None,
        }
    lap_position = None
    if harmonics:
        if obs_space != observation_box(0):
            raise ValueError("lap_harmonics needs datasets of the 8 MotoCoach telemetry channels")
        obs_space = observation_box(harmonics)
        lap_position = {"harmonics": harmonics, "track_length_m": length_m}
        provenance["lap_position"] = lap_position
    return BCData(train=train, val=val, observation_space=obs_space, action_space=act_space,
                  provenance=provenance, lap_position=lap_position)  # fmt: skip


def _dataset_track_length(ds, ds_id: str) -> float:
    """Length of the track a generated dataset was recorded on (its ``apexrl`` metadata)."""
    from apexrl.tracks.library import load_track

    spec = (ds.storage.metadata.get("apexrl") or {}).get("track_spec")
    if not spec:
        raise ValueError(
            f"dataset {ds_id} does not name its track (metadata apexrl.track_spec), so its lap "
            "position is unknown; use lap_harmonics=0 (--lap-harmonics 0) or apexrl-generated data"
        )
    return float(load_track(spec).length_m)


def _samples(episodes: list, act_space, gamma: float, lap=None) -> RiderData:
    obs, act, ret = [], [], []
    for ep in episodes:
        o = np.asarray(ep.observations, dtype=np.float32)[:-1]
        if lap is not None:
            length_m, harmonics, ds_id = lap
            o = episode_with_lap(ep, o, length_m, harmonics, f"dataset {ds_id}")
        obs.append(o)
        act.append(to_policy_action(np.asarray(ep.actions), act_space.low, act_space.high))
        ret.append(discounted_returns(np.asarray(ep.rewards, dtype=np.float64),
                                      bool(ep.terminations[-1]), gamma))  # fmt: skip
    return RiderData(
        obs=np.concatenate(obs), act=np.concatenate(act),
        ret=np.concatenate(ret).astype(np.float32),
    )  # fmt: skip


def discounted_returns(rewards: np.ndarray, terminated: bool, gamma: float) -> np.ndarray:
    """``G_t = r_t + gamma G_{t+1}`` of one episode ``(T,)``. A terminated episode ends with
    ``G_T = 0``; a truncated one is bootstrapped with its mean reward / (1 - gamma), the value of
    riding on at the episode's average pace."""
    out = np.empty_like(rewards)
    g = 0.0 if terminated or rewards.size == 0 else float(rewards.mean()) / (1.0 - gamma)
    for t in range(rewards.size - 1, -1, -1):
        g = rewards[t] + gamma * g
        out[t] = g
    return out


# ---------------------------------------------------------------------- training
def observation_scaling(observation_space) -> tuple[np.ndarray, np.ndarray]:
    """Fixed normalisation from the observation Box: ``mean = (low + high) / 2``,
    ``std = (high - low) / 2``, so every channel maps onto [-1, 1]. Requires finite bounds."""
    low = np.asarray(observation_space.low, dtype=np.float64)
    high = np.asarray(observation_space.high, dtype=np.float64)
    if not (np.isfinite(low).all() and np.isfinite(high).all() and (high > low).all()):
        raise ValueError("the observation space needs finite bounds with high > low to scale it")
    return (low + high) / 2.0, (high - low) / 2.0


def train_bc(
    datasets_root: str | os.PathLike,
    output: str | os.PathLike | None = None,
    *,
    config: BCConfig | None = None,
    algo: str = "ppo",
    policy_kwargs: Mapping[str, Any] | None = None,
    seed: int = 42,
    tensorboard_dir: str | os.PathLike | None = None,
    progress: bool = True,
    data: BCData | None = None,
    force: bool = False,
) -> BCResult:
    """Clone the oracle coach from the datasets under ``datasets_root`` (module docstring).

    Args:
        datasets_root: Minari root holding ``apexrl/moto-<rider>-v0`` for every rider in the mix.
        output: folder for the model (``model.safetensors`` + ``model.json``); None: not saved.
        config: :class:`BCConfig` (default settings when None).
        algo: ``"ppo"`` (ActorCriticPolicy) or ``"sac"`` (its actor is cloned).
        policy_kwargs: JSON form of the architecture (default :func:`default_policy_kwargs`).
        seed: seeds the split, the sampling and torch.
        tensorboard_dir: where TensorBoard logs ``bc/train_loss`` and ``bc/val_loss`` go.
        progress: show a rich progress bar (stderr).
        data: already loaded data (skips reading the datasets).
        force: replace a model already in ``output``.
    """
    from apexrl.train.checkpoints import seeded_torch

    cfg = config or BCConfig()
    kwargs = dict(policy_kwargs or default_policy_kwargs(algo))
    weights = cfg.weights
    started = time.perf_counter()
    if output is not None and not force and (Path(output) / "model.json").exists():
        raise FileExistsError(
            f"{output} already holds a model; choose another folder or pass --force (force=True)"
        )
    if data is None:
        data = load_bc_data(datasets_root, riders=tuple(weights), val_fraction=cfg.val_fraction,
                            gamma=cfg.gamma, seed=seed,
                            lap_harmonics=cfg.lap_harmonics)  # fmt: skip
    given = (data.lap_position or {}).get("harmonics", 0)
    if given != cfg.lap_harmonics:
        raise ValueError(
            f"the data has {given} lap-position harmonics, the config {cfg.lap_harmonics}"
        )
    with seeded_torch(seed):
        result = _fit(data, cfg, weights, algo, kwargs, seed, tensorboard_dir, progress)
    model_dir = None
    if output is not None:
        model_dir = save_policy(
            output,
            result["policy"],
            algo=algo,
            policy_kwargs=kwargs,
            observation_space=data.observation_space,
            action_space=data.action_space,
            hyperparameters={"bc": cfg.to_dict()},
            provenance={
                "seed": seed,
                "stage": "bc",
                **data.provenance,
                "best_epoch": result["best_epoch"],
                "best_val_loss": result["val"][result["best_epoch"] - 1] if result["val"] else None,
                **_float_phase(result),
            },  # fmt: skip
            overwrite=force,
            lap_position=data.lap_position,
        )
    return BCResult(
        policy=result["policy"],
        train_loss=result["train"],
        val_loss=result["val"],
        val_loss_per_rider=result["val_per_rider"],
        best_epoch=result["best_epoch"],
        stopped_early=result["stopped_early"],
        model_dir=model_dir,
        policy_kwargs=kwargs,
        observation_space=data.observation_space,
        action_space=data.action_space,
        provenance=data.provenance,
        seconds=time.perf_counter() - started,
    )


def _fit(data: BCData, cfg: BCConfig, weights: dict[str, float], algo: str, kwargs: dict,
         seed: int, tensorboard_dir, progress: bool) -> dict[str, Any]:  # fmt: skip
    import torch as th

    from apexrl.train.model_io import build_policy

    mean, std = observation_scaling(data.observation_space)
    float_kwargs = {k: v for k, v in kwargs.items() if k != "int8_aware"}
    policy = build_policy(algo, data.observation_space, int(data.action_space.shape[0]),
                          policy_kwargs=float_kwargs, obs_mean=mean, obs_std=std)  # fmt: skip
    loop = _Epochs(data, cfg, weights, algo, seed, tensorboard_dir)
    with _Progress(progress, cfg.epochs, "behaviour cloning") as bar:
        result = loop.run(policy, cfg.learning_rate, cfg.epochs, bar, "bc")
    if kwargs.get("int8_aware"):
        from apexrl.train import quant

        norm = policy.features_extractor
        offset, half = quant.int8_input_mapping(data.observation_space.low,
                                                data.observation_space.high, mean, std,
                                                norm.clip)  # fmt: skip
        float_policy = policy
        policy = build_policy(algo, data.observation_space, int(data.action_space.shape[0]),
                              policy_kwargs=kwargs, obs_mean=mean, obs_std=std)  # fmt: skip
        policy.load_state_dict(quant.int8_state_dict(float_policy.state_dict(), offset, half,
                                                     mean, std))  # fmt: skip
        if cfg.int8_target == "clone":
            loop.close()
            loop = _Epochs(_relabelled(data, float_policy, algo), cfg, weights, algo, seed,
                           tensorboard_dir)  # fmt: skip
        with _Progress(progress, cfg.int8_epochs, "int8-aware training") as bar:
            tuned = loop.run(policy, cfg.learning_rate * INT8_LR_FACTOR, cfg.int8_epochs, bar,
                             "bc_int8")  # fmt: skip
        quant.project_weights(policy)
        result = {**tuned, "float": result}
    if algo == "ppo" and cfg.exploration_std is not None:
        with th.no_grad():
            policy.log_std.fill_(math.log(cfg.exploration_std))
    policy.set_training_mode(False)
    loop.close()
    return {**result, "policy": policy}


def _relabelled(data: BCData, policy, algo: str) -> BCData:
    """``data`` with every target replaced by ``policy``'s own action (int8-aware training that
    reproduces the float clone rather than re-fitting the oracle)."""
    import torch as th

    def relabel(d: RiderData) -> RiderData:
        with th.no_grad():
            act = _forward(policy, algo, th.from_numpy(d.obs), False)[0].numpy()
        return RiderData(obs=d.obs, act=np.clip(act, -1.0, 1.0).astype(np.float32), ret=d.ret)

    return replace(data, train={r: relabel(d) for r, d in data.train.items()},
                   val={r: relabel(d) for r, d in data.val.items()})  # fmt: skip


def _float_phase(result: Mapping[str, Any]) -> dict[str, Any]:
    """Provenance of the float cloning before int8-aware training (empty without it)."""
    first = result.get("float")
    if not first:
        return {}
    best = first["best_epoch"]
    return {"int8_aware": {"float_epochs": len(first["train"]), "float_best_epoch": best,
                           "float_best_val_loss": first["val"][best - 1] if first["val"] else None,
                           "int8_epochs": len(result["train"])}}  # fmt: skip


INT8_LR_FACTOR = 0.3
"""Learning rate of int8-aware training relative to :attr:`BCConfig.learning_rate`."""


class _Epochs:
    """The epoch loop of cloning: mixed sampling, the loss, validation, early stopping."""

    def __init__(self, data: BCData, cfg: BCConfig, weights: dict[str, float], algo: str,
                 seed: int, tensorboard_dir) -> None:  # fmt: skip
        self.cfg, self.weights, self.algo, self.data = cfg, weights, algo, data
        self.fit_value = cfg.fit_value and algo == "ppo"
        self.bc_loss = _loss_function(cfg.loss, data.action_space)
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0xBC, 1]))
        self.noise = _input_noise_std(data.observation_space, cfg.input_noise)
        self.noise_gen = None
        if self.noise is not None:
            import torch as th

            self.noise_gen = th.Generator().manual_seed(seed)
        self.train = {r: _tensors(data.train[r]) for r in weights}
        self.val = {r: _tensors(data.val[r]) for r in weights if r in data.val}
        per_epoch = cfg.samples_per_epoch or sum(data.train[r].size for r in weights)
        self.counts = _split_counts(per_epoch, weights)
        self.logger = _tb_logger(tensorboard_dir)
        self.step = 0

    def close(self) -> None:
        if self.logger is not None:
            self.logger.close()

    def run(self, policy, lr: float, epochs: int, bar, tag: str) -> dict[str, Any]:
        """Train ``policy`` for up to ``epochs``; it ends with the best epoch's weights."""
        import torch as th

        cfg, weights, val = self.cfg, self.weights, self.val
        params = list(_actor_parameters(policy, self.algo))
        if self.fit_value:
            params += list(policy.mlp_extractor.value_net.parameters())
            params += list(policy.value_net.parameters())
        optimizer = th.optim.Adam(params, lr=lr)
        curve_train: list[float] = []
        curve_val: list[float] = []
        curve_val_rider: list[dict[str, float]] = []
        best = (math.inf, 0, None)
        stopped_early = False
        for epoch in range(1, epochs + 1):
            idx = {r: _draw(self.rng, self.data.train[r].size, self.counts[r]) for r in weights}
            obs = th.cat([self.train[r][0][th.from_numpy(idx[r])] for r in weights])
            act = th.cat([self.train[r][1][th.from_numpy(idx[r])] for r in weights])
            ret = th.cat([self.train[r][2][th.from_numpy(idx[r])] for r in weights])
            order = th.from_numpy(self.rng.permutation(obs.shape[0]))
            policy.set_training_mode(True)
            total, batches = 0.0, 0
            for start in range(0, obs.shape[0], cfg.batch_size):
                b = order[start : start + cfg.batch_size]
                x = obs[b]
                if self.noise is not None:
                    x = x + th.randn(x.shape, generator=self.noise_gen) * self.noise
                pred, value = _forward(policy, self.algo, x, self.fit_value)
                loss = self.bc_loss(pred, act[b])
                full = loss + (th.mean((value - ret[b]) ** 2) if self.fit_value else 0.0)
                optimizer.zero_grad()
                full.backward()
                optimizer.step()
                total += float(loss.detach())
                batches += 1
            curve_train.append(total / max(batches, 1))
            policy.set_training_mode(False)
            if val:
                with th.no_grad():
                    per_rider = {
                        r: float(self.bc_loss(_forward(policy, self.algo, v[0], False)[0], v[1]))
                        for r, v in val.items()
                    }
                val_w = sum(weights[r] for r in per_rider)
                score = sum(weights[r] * per_rider[r] for r in per_rider) / val_w
                curve_val.append(score)
                curve_val_rider.append({r: round(x, 6) for r, x in per_rider.items()})
            else:
                score = curve_train[-1]
            self.step += 1
            if self.logger is not None:
                self.logger.record(f"{tag}/train_loss", curve_train[-1])
                if val:
                    self.logger.record(f"{tag}/val_loss", score)
                self.logger.dump(step=self.step)
            if score < best[0] * (1.0 - cfg.min_delta):
                best = (score, epoch, {k: v.clone() for k, v in policy.state_dict().items()})
            bar.advance(f"epoch {epoch}: train {curve_train[-1]:.4f}"
                        + (f", val {score:.4f}" if val else ""))  # fmt: skip
            if epoch - best[1] >= cfg.patience:
                stopped_early = epoch < epochs
                break
        policy.load_state_dict(best[2])
        return {"train": curve_train, "val": curve_val, "val_per_rider": curve_val_rider,
                "best_epoch": best[1], "stopped_early": stopped_early}  # fmt: skip


def _loss_function(kind: str, action_space):
    """``loss(pred, target)`` for policy-space actions (``(N, 3)`` tensors, targets in [-1, 1])."""
    import torch as th

    if kind == "action":
        return lambda pred, target: th.mean((pred - target) ** 2)
    low = th.as_tensor(np.asarray(action_space.low, dtype=np.float32))
    span = th.as_tensor(np.asarray(action_space.high - action_space.low, dtype=np.float32))
    in_hz = float(action_space.high[2]) > 1.5  # frequency_units="hz" instead of [0, 1]

    def cue(policy_action):
        env = low + (th.clamp(policy_action, -1.0, 1.0) + 1.0) / 2.0 * span
        f = env[:, 2] if in_hz else hp.FREQ_MIN_HZ + (hp.FREQ_MAX_HZ - hp.FREQ_MIN_HZ) * env[:, 2]
        up = th.clamp((hp.THROTTLE_BELOW_HZ - f) / (hp.THROTTLE_BELOW_HZ - hp.FREQ_MIN_HZ), 0, 1)
        down = th.clamp((f - hp.BRAKE_ABOVE_HZ) / (hp.FREQ_MAX_HZ - hp.BRAKE_ABOVE_HZ), 0, 1)
        left, right = th.clamp(env[:, 0], 0, 1), th.clamp(env[:, 1], 0, 1)
        return th.stack([left - right, th.maximum(left, right) * (up - down)], dim=1)

    return lambda pred, target: th.mean((cue(pred) - cue(target)) ** 2)


def _actor_parameters(policy, algo: str):
    if algo == "ppo":
        yield from policy.mlp_extractor.policy_net.parameters()
        yield from policy.action_net.parameters()
    else:
        yield from policy.actor.latent_pi.parameters()
        yield from policy.actor.mu.parameters()


def _input_noise_std(space, steps: float):
    """Per-channel noise std (torch, float32) of ``steps`` int8 input steps, or None for 0."""
    import torch as th

    if steps == 0:
        return None
    low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError("input_noise needs an observation space with finite bounds")
    return th.as_tensor(steps * (high - low) / 255.0, dtype=th.float32)


def _forward(policy, algo: str, obs, with_value: bool):
    """The deterministic action in [-1, 1]-space (before clipping) and, for PPO, the value."""
    import torch as th

    if algo == "ppo":
        features = policy.extract_features(obs)
        latent_pi, latent_vf = policy.mlp_extractor(features)
        value = policy.value_net(latent_vf).flatten() if with_value else None
        return policy.action_net(latent_pi), value
    mean_actions, _, _ = policy.actor.get_action_dist_params(obs)
    return th.tanh(mean_actions), None


def _tensors(d: RiderData):
    import torch as th

    return th.from_numpy(d.obs), th.from_numpy(d.act), th.from_numpy(d.ret)


def _split_counts(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Samples per rider: ``total`` split by ``weights`` (largest remainders get the rest)."""
    raw = {r: total * w for r, w in weights.items()}
    counts = {r: int(math.floor(x)) for r, x in raw.items()}
    rest = total - sum(counts.values())
    for r in sorted(raw, key=lambda r: raw[r] - counts[r], reverse=True)[:rest]:
        counts[r] += 1
    return counts


def _draw(rng: np.random.Generator, size: int, count: int) -> np.ndarray:
    if count <= size:
        return rng.permutation(size)[:count]
    return rng.integers(0, size, count)


def _tb_logger(folder):
    if folder is None:
        return None
    from stable_baselines3.common.logger import configure

    return configure(str(folder), ["tensorboard"])


class _Progress:
    """A rich progress bar on stderr with a status text, or nothing."""

    def __init__(self, enabled: bool, total: int, description: str) -> None:
        self.enabled, self.total, self.description = enabled, total, description
        self._bar = self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), "{task.fields[status]}", console=Console(stderr=True),
                transient=True,
            )  # fmt: skip
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, status="")
        return self

    def advance(self, status: str = "", steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=steps, status=status)

    def update(self, completed: int, status: str = "") -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=completed, status=status)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
