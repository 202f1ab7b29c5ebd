"""Coach policies and their files: safetensors weights + JSON metadata, an SB3 ``.zip`` beside them.

A coach policy is a Stable-Baselines3 policy (PPO's ``ActorCriticPolicy`` or SAC's ``SACPolicy``)
whose first layer is :class:`ObservationNormalizer`: fixed per-channel ``(obs - mean) / std``
(clipped to +-``OBS_CLIP``) with the statistics as buffers, so the weights file, the SB3 zip and
any export carry their own normalisation. The policy acts in ``[-1, 1]^3``; :func:`to_env_action`
maps that linearly onto the env's haptic Box ``[left 0..1, right 0..1, frequency 50..300 Hz]``
and :func:`to_policy_action` back (behaviour-cloning targets go through it).

Our model folder (``save_policy``)::

    model.safetensors   the policy's state dict (float32; shared tensors stored once per name)
    model.json          format, algorithm, policy architecture, spaces, normalisation,
                        hyperparameters, provenance (datasets, seed, versions), sha256 of the
                        weights
    model_sb3.zip       SB3's own file (pickle inside), for SB3 users; written when the SB3
                        algorithm object is given

Loading our format never unpickles anything. Loading an SB3 zip does (its ``data`` entry holds
cloudpickle'd objects), so :func:`load_policy` refuses it unless ``allow_pickle=True``.

torch and SB3 are imported lazily; :class:`ObservationNormalizer` is built on first access
(module ``__getattr__``), so it pickles by reference as
``apexrl.train.model_io.ObservationNormalizer``.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.io_utils import write_bytes_atomic, write_json_atomic

MODEL_FORMAT = "apexrl-policy-v1"
WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "model.json"
SB3_ZIP_FILE = "model_sb3.zip"
OBS_CLIP = 10.0
"""Normalised observations are clipped to +-this many standard deviations."""
ALGOS = ("ppo", "sac")
ACTIVATIONS = ("tanh", "relu")

DEFAULT_POLICY_KWARGS: dict[str, dict[str, Any]] = {
    # SB3's MlpPolicy defaults for PPO (two 64-unit tanh layers each for actor and critic).
    "ppo": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": "tanh",
            "ortho_init": True, "log_std_init": 0.0},
    # SB3's SAC defaults (256-256 ReLU).
    "sac": {"net_arch": [256, 256], "activation_fn": "relu", "log_std_init": -3.0},
}  # fmt: skip
"""JSON form of the policy architecture per algorithm (``policy_kwargs`` in ``model.json``)."""


class PickleNotAllowedError(ValueError):
    """A Stable-Baselines3 zip would be unpickled without the explicit opt-in."""


# ---------------------------------------------------------------------- the normalising layer
_LAZY: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    if name == "ObservationNormalizer":
        return _observation_normalizer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _observation_normalizer_class() -> type:
    if "ObservationNormalizer" in _LAZY:
        return _LAZY["ObservationNormalizer"]
    import torch as th
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    from apexrl.train.quant import int8_input_mapping, quantize_input

    class ObservationNormalizer(BaseFeaturesExtractor):
        """Fixed observation scaling: ``clip((obs - mean) / std, -clip, clip)``, float32.

        ``mean`` and ``std`` are ``(D,)`` per channel, in the channels' units; they are buffers
        (saved with the weights, never trained).

        ``int8_input=True`` (int8-aware coaches, :mod:`apexrl.train.quant`): the output is instead
        each channel mapped onto [-1, 1] by its own range and rounded to the int8 input grid, as
        the int8 model's input is (``quantize = False`` leaves out the rounding).
        """

        def __init__(
            self,
            observation_space,
            mean: Sequence[float],
            std: Sequence[float],
            clip: float = OBS_CLIP,
            int8_input: bool = False,
        ) -> None:
            dim = int(np.prod(observation_space.shape))
            super().__init__(observation_space, features_dim=dim)
            mean_t = th.as_tensor(np.asarray(mean, dtype=np.float32).reshape(dim))
            std_t = th.as_tensor(np.asarray(std, dtype=np.float32).reshape(dim))
            if not bool(th.all(std_t > 0)):
                raise ValueError("observation std must be positive in every channel")
            self.register_buffer("obs_mean", mean_t)
            self.register_buffer("obs_std", std_t)
            self.clip = float(clip)
            self.int8_input = bool(int8_input)
            if self.int8_input:
                offset, half = int8_input_mapping(
                    np.asarray(observation_space.low).reshape(dim),
                    np.asarray(observation_space.high).reshape(dim),
                    mean_t.double().numpy(), std_t.double().numpy(), self.clip,
                )  # fmt: skip
                self.int8_offset = th.as_tensor(offset, dtype=th.float64)
                self.int8_half_range = th.as_tensor(half, dtype=th.float64)
                self.quantize = True

        def forward(self, observations: th.Tensor) -> th.Tensor:
            x = th.flatten(observations, start_dim=1)
            if not self.int8_input:
                return th.clamp((x - self.obs_mean) / self.obs_std, -self.clip, self.clip)
            if self.quantize:  # float64 inside quant.exact()
                return quantize_input(x, self.int8_offset, self.int8_half_range,
                                      self.obs_mean.dtype)  # fmt: skip
            u = (x.double() - self.int8_offset) / self.int8_half_range
            return th.clamp(u, -1.0, 1.0).to(self.obs_mean.dtype)

    ObservationNormalizer.__module__ = __name__
    ObservationNormalizer.__qualname__ = "ObservationNormalizer"
    _LAZY["ObservationNormalizer"] = ObservationNormalizer
    return ObservationNormalizer


# ---------------------------------------------------------------------- spaces and actions
def box_to_json(space) -> dict[str, Any]:
    """A gymnasium Box as JSON (infinite bounds as the strings ``"inf"``/``"-inf"``)."""
    from gymnasium import spaces

    if not isinstance(space, spaces.Box):
        raise ValueError(f"only Box spaces are supported, got {type(space).__name__}")

    def enc(arr: np.ndarray) -> list:
        return [float(x) if math.isfinite(x) else ("inf" if x > 0 else "-inf")
                for x in np.asarray(arr, dtype=np.float64).ravel()]  # fmt: skip

    return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
            "low": enc(space.low), "high": enc(space.high)}  # fmt: skip


def box_from_json(data: Mapping[str, Any]):
    """Inverse of :func:`box_to_json`."""
    from gymnasium import spaces

    if data.get("type") != "Box":
        raise ValueError(f"only Box spaces are supported, got {data.get('type')!r}")
    shape = tuple(int(x) for x in data["shape"])
    low = np.array([float(x) for x in data["low"]], dtype=np.float64).reshape(shape)
    high = np.array([float(x) for x in data["high"]], dtype=np.float64).reshape(shape)
    return spaces.Box(low.astype(data["dtype"]), high.astype(data["dtype"]), shape=shape,
                      dtype=np.dtype(data["dtype"]))  # fmt: skip


def policy_action_space(dim: int):
    """The ``[-1, 1]^dim`` float32 Box the policy acts in."""
    from gymnasium import spaces

    return spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32)


def to_env_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Policy actions ``(N, A)`` in [-1, 1] (clipped) -> env actions in ``[low, high]``, float32."""
    a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
    lo = np.asarray(low, dtype=np.float64)
    return (lo + 0.5 * (a + 1.0) * (np.asarray(high, dtype=np.float64) - lo)).astype(np.float32)


def to_policy_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Env actions ``(N, A)`` in ``[low, high]`` -> policy actions in [-1, 1], float32."""
    lo = np.asarray(low, dtype=np.float64)
    span = np.asarray(high, dtype=np.float64) - lo
    a = 2.0 * (np.asarray(action, dtype=np.float64) - lo) / span - 1.0
    return np.clip(a, -1.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------- building policies
def default_policy_kwargs(algo: str) -> dict[str, Any]:
    """A fresh copy of :data:`DEFAULT_POLICY_KWARGS` for ``algo``."""
    _check_algo(algo)
    return json.loads(json.dumps(DEFAULT_POLICY_KWARGS[algo]))


MAX_ACTOR_LAYERS = 4
MAX_LAYER_WIDTH = 1024


def check_actor_layers(layers: Sequence[int]) -> tuple[int, ...]:
    """``layers`` (hidden widths of the actor, input side first) as a tuple, or a ``ValueError``
    saying what is allowed: 1 to :data:`MAX_ACTOR_LAYERS` widths of 1..:data:`MAX_LAYER_WIDTH`."""
    widths = tuple(layers) if isinstance(layers, list | tuple) else None
    if (
        not widths
        or len(widths) > MAX_ACTOR_LAYERS
        or any(isinstance(w, bool) or not isinstance(w, int) for w in widths)
        or any(not 1 <= w <= MAX_LAYER_WIDTH for w in widths)
    ):
        raise ValueError(
            f"actor layers must be 1 to {MAX_ACTOR_LAYERS} hidden widths of 1..{MAX_LAYER_WIDTH} "
            f"units each, e.g. (64, 64); got {layers!r}"
        )
    return widths


def actor_policy_kwargs(algo: str, actor_layers: Sequence[int]) -> dict[str, Any]:
    """:func:`default_policy_kwargs` with the actor's hidden layers set to ``actor_layers``; the
    critic keeps its default (for PPO the value net, for SAC the Q nets)."""
    kwargs = default_policy_kwargs(algo)
    layers = list(check_actor_layers(actor_layers))
    arch = kwargs["net_arch"]
    critic = arch["vf"] if algo == "ppo" else arch
    kwargs["net_arch"] = {"pi": layers, ("vf" if algo == "ppo" else "qf"): list(critic)}
    return kwargs


def sb3_policy_kwargs(
    algo: str, policy_kwargs: Mapping[str, Any], obs_mean: np.ndarray, obs_std: np.ndarray
) -> dict[str, Any]:
    """SB3 ``policy_kwargs`` from their JSON form plus the observation normalisation."""
    import torch.nn as nn

    _check_algo(algo)
    kwargs = dict(policy_kwargs)
    allowed = {*DEFAULT_POLICY_KWARGS[algo], *(("int8_aware",) if algo == "ppo" else ())}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise ValueError(
            f"unknown {algo} policy option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(allowed))}"
        )
    int8 = kwargs.pop("int8_aware", False)
    act = kwargs.get("activation_fn", DEFAULT_POLICY_KWARGS[algo]["activation_fn"])
    if act not in ACTIVATIONS:
        raise ValueError(f"activation_fn must be one of {', '.join(ACTIVATIONS)}, got {act!r}")
    if not isinstance(int8, bool) or (int8 and act != "tanh"):
        raise ValueError(f"int8_aware must be true or false, and true needs activation_fn "
                         f"'tanh'; got int8_aware={int8!r}, activation_fn={act!r}")  # fmt: skip
    if int8:
        from apexrl.train.quant import quant_tanh_class

        kwargs["activation_fn"] = quant_tanh_class()
    else:
        kwargs["activation_fn"] = {"tanh": nn.Tanh, "relu": nn.ReLU}[act]
    kwargs["features_extractor_class"] = _observation_normalizer_class()
    kwargs["features_extractor_kwargs"] = {
        "mean": [float(x) for x in np.asarray(obs_mean).ravel()],
        "std": [float(x) for x in np.asarray(obs_std).ravel()],
        **({"int8_input": True} if int8 else {}),
    }
    return kwargs


def build_policy(
    algo: str,
    observation_space,
    action_dim: int,
    *,
    policy_kwargs: Mapping[str, Any],
    obs_mean: np.ndarray,
    obs_std: np.ndarray,
):
    """A fresh SB3 policy (PPO ``ActorCriticPolicy`` or ``SACPolicy``) acting in [-1, 1]^A.

    Its initial weights come from torch's global generator (seed it first). PPO built with the
    same ``policy_kwargs`` holds exactly this network, so its ``state_dict`` loads into it.
    """
    kwargs = sb3_policy_kwargs(algo, policy_kwargs, obs_mean, obs_std)
    space = policy_action_space(action_dim)
    if algo == "ppo":
        from stable_baselines3.common.policies import ActorCriticPolicy

        policy = ActorCriticPolicy(observation_space, space, _zero_schedule, **kwargs)
    else:
        from stable_baselines3.sac.policies import SACPolicy

        policy = SACPolicy(observation_space, space, _zero_schedule, **kwargs)
    return policy.to("cpu")


def _zero_schedule(_progress: float) -> float:
    return 0.0


# ---------------------------------------------------------------------- the loaded policy
class CoachPolicy:
    """A coach policy ready to act: raw telemetry ``(N, D)`` in, haptic cues ``(N, A)`` out.

    Attributes:
        policy: the SB3 policy (eval mode, CPU).
        algo: ``"ppo"`` or ``"sac"``.
        action_low, action_high: ``(A,)`` the env's action bounds the policy's [-1, 1] maps onto.
        metadata: the ``model.json`` content (empty for a bare SB3 zip).
    """

    def __init__(
        self,
        policy,
        *,
        algo: str,
        action_low: np.ndarray,
        action_high: np.ndarray,
        metadata: Mapping[str, Any] | None = None,
        scaled_actions: bool = True,
    ) -> None:
        self.policy = policy
        self.algo = algo
        self.action_low = np.asarray(action_low, dtype=np.float32)
        self.action_high = np.asarray(action_high, dtype=np.float32)
        self.metadata = dict(metadata or {})
        self.scaled_actions = scaled_actions
        policy.set_training_mode(False)
        from apexrl.train.quant import exact_copy

        # An int8-aware coach acts exactly as its int8 model (float64 twin, made once).
        self._acting = exact_copy(policy)

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """What a coaching env needs to produce this policy's observations
        (:func:`coach_env_kwargs`)."""
        return coach_env_kwargs(self.metadata)

    def policy_actions(self, observations: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions in the policy's own space (``(N, A)``; [-1, 1] for apexrl policies)."""
        obs = np.asarray(observations, dtype=np.float32)
        single = obs.ndim == 1
        actions, _ = self._acting.predict(obs[None] if single else obs, deterministic=deterministic)
        actions = np.asarray(actions, dtype=np.float32)
        return actions[0] if single else actions

    def predict(self, observations: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Env actions ``(N, A)`` float32 (or ``(A,)`` for one ``(D,)`` observation)."""
        a = self.policy_actions(observations, deterministic)
        if not self.scaled_actions:
            return np.clip(a, self.action_low, self.action_high).astype(np.float32)
        return to_env_action(a, self.action_low, self.action_high)


# ---------------------------------------------------------------------- saving
def save_policy(
    folder: str | os.PathLike,
    policy,
    *,
    algo: str,
    policy_kwargs: Mapping[str, Any],
    observation_space,
    action_space,
    hyperparameters: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    sb3_model=None,
    overwrite: bool = False,
    lap_position: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` + ``model.json`` (and ``model_sb3.zip`` when ``sb3_model`` is
    given) into ``folder``, each atomically; returns the folder.

    Args:
        policy: the SB3 policy (its first layer an :class:`ObservationNormalizer`).
        algo: ``"ppo"`` or ``"sac"``.
        policy_kwargs: JSON form of the architecture (:func:`default_policy_kwargs`).
        observation_space: the env's raw observation Box.
        action_space: the env's raw action Box (what [-1, 1] maps onto).
        hyperparameters: training settings, JSON-ready.
        provenance: datasets, seeds, track, steps ..., JSON-ready.
        sb3_model: the SB3 algorithm object whose ``save`` writes the compatibility zip.
        overwrite: replace a model already in ``folder`` (else ``FileExistsError``).
        lap_position: ``{"harmonics": K, "track_length_m": L}`` for a coach whose observation
            ends with lap-position channels (:func:`apexrl.envs.vector.lap_features`).
    """
    from safetensors.torch import save as st_save

    _check_algo(algo)
    target = Path(folder)
    if not overwrite and (target / METADATA_FILE).exists():
        raise FileExistsError(
            f"{target} already holds a model ({METADATA_FILE}); choose another folder or pass "
            "--force (overwrite=True) to replace it"
        )
    target.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().clone().contiguous() for k, v in policy.state_dict().items()}
    blob = st_save(tensors, metadata={"format": MODEL_FORMAT, "algo": algo})
    extractor = policy.features_extractor if algo == "ppo" else policy.actor.features_extractor
    meta = {
        "format": MODEL_FORMAT,
        "algo": algo,
        "policy_class": type(policy).__name__,
        "policy_kwargs": json.loads(json.dumps(dict(policy_kwargs))),
        "observation_space": box_to_json(observation_space),
        "action_space": box_to_json(action_space),
        "policy_action_space": box_to_json(policy_action_space(int(action_space.shape[0]))),
        "normalization": {
            "observation": {
                "mean": extractor.obs_mean.tolist(),
                "std": extractor.obs_std.tolist(),
                "clip": extractor.clip,
                "formula": "clip((obs - mean) / std, -clip, clip)",
            },
            "action": {
                "formula": "env = low + (clip(policy, -1, 1) + 1) / 2 * (high - low)",
                "low": [float(x) for x in action_space.low],
                "high": [float(x) for x in action_space.high],
            },
        },
        "lap_position": _lap_position_json(lap_position),
        "hyperparameters": json.loads(json.dumps(dict(hyperparameters or {}))),
        "provenance": {**_versions(), **json.loads(json.dumps(dict(provenance or {})))},
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "tensors": len(tensors),
        },  # fmt: skip
    }
    write_bytes_atomic(target / WEIGHTS_FILE, blob)
    if sb3_model is not None:
        buf = io.BytesIO()
        sb3_model.save(buf)
        write_bytes_atomic(target / SB3_ZIP_FILE, buf.getvalue())
        meta["sb3_zip"] = SB3_ZIP_FILE
    write_json_atomic(target / METADATA_FILE, meta)
    return target


def _lap_position_json(lap: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not lap or not int(lap.get("harmonics", 0)):
        return None
    return {"harmonics": int(lap["harmonics"]), "track_length_m": float(lap["track_length_m"])}


def lap_position(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """A model's lap-position observation ``{"harmonics", "track_length_m"}`` (None: the 8
    telemetry channels only)."""
    return _lap_position_json(metadata.get("lap_position"))


def coach_env_kwargs(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments a coaching env needs to produce this model's observations."""
    lap = lap_position(metadata)
    return {"lap_harmonics": lap["harmonics"]} if lap else {}


def check_lap_track(metadata: Mapping[str, Any], track_length_m: float) -> None:
    """A ``ValueError`` when a lap-position model meets a track of another length: its lap
    features would point at other corners."""
    lap = lap_position(metadata)
    if lap and abs(lap["track_length_m"] - float(track_length_m)) > 1e-3:
        raise ValueError(
            f"this coach observes the lap position of a {lap['track_length_m']:.1f} m track; "
            f"this track is {float(track_length_m):.1f} m long. Train a coach on this track"
        )


def _versions() -> dict[str, str]:
    import stable_baselines3
    import torch

    from apexrl import __version__

    return {
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "apexrl_version": __version__,
        "torch_version": torch.__version__,
        "stable_baselines3_version": stable_baselines3.__version__,
    }


# ---------------------------------------------------------------------- loading
def load_policy(
    path: str | os.PathLike, *, allow_pickle: bool = False, algo: str | None = None
) -> CoachPolicy:
    """Load a coach policy.

    ``path`` is our model folder, its ``model.json`` or ``model.safetensors`` (no pickle is
    involved), or a Stable-Baselines3 ``.zip``, which is only opened with ``allow_pickle=True``
    (``algo`` then picks PPO or SAC; by default it is read from the zip's JSON).
    """
    p = Path(path)
    if p.suffix == ".zip":
        return load_sb3_zip(p, allow_pickle=allow_pickle, algo=algo)
    folder = p if p.is_dir() else p.parent
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"no apexrl model at {str(p)!r}: expected a folder with {METADATA_FILE} and "
            f"{WEIGHTS_FILE} (or an SB3 .zip with --allow-pickle)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{meta_path} is not valid JSON: {exc}") from None
    if meta.get("format") != MODEL_FORMAT:
        raise ValueError(
            f"{meta_path} has format {meta.get('format')!r}, expected {MODEL_FORMAT!r}"
        )
    blob = (folder / meta["weights"]["file"]).read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta["weights"]["sha256"]:
        raise ValueError(
            f"{folder / meta['weights']['file']} does not match the sha256 in {meta_path}: the "
            "weights are corrupt or from another model"
        )
    return policy_from_bytes(meta, blob)


def policy_from_bytes(meta: Mapping[str, Any], blob: bytes) -> CoachPolicy:
    """A :class:`CoachPolicy` from ``model.json`` content and safetensors bytes."""
    from safetensors.torch import load as st_load

    algo = meta["algo"]
    obs_space = box_from_json(meta["observation_space"])
    act_space = box_from_json(meta["action_space"])
    norm = meta["normalization"]["observation"]
    policy = build_policy(
        algo,
        obs_space,
        int(act_space.shape[0]),
        policy_kwargs=meta["policy_kwargs"],
        obs_mean=np.asarray(norm["mean"]),
        obs_std=np.asarray(norm["std"]),
    )
    state = st_load(blob)
    policy.load_state_dict(state, strict=True)
    return CoachPolicy(
        policy, algo=algo, action_low=act_space.low, action_high=act_space.high, metadata=meta
    )


def load_sb3_zip(
    path: str | os.PathLike, *, allow_pickle: bool = False, algo: str | None = None
) -> CoachPolicy:
    """Load a Stable-Baselines3 zip (pickle inside) as a :class:`CoachPolicy`.

    Raises :class:`PickleNotAllowedError` unless ``allow_pickle``. A zip written by apexrl
    (``model_sb3.zip`` next to a ``model.json``) acts in [-1, 1] and is scaled onto the haptic
    Box; a third-party zip whose action space is the haptic Box itself is used as is.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no such file: {str(p)!r}")
    if not allow_pickle:
        raise PickleNotAllowedError(
            f"{str(p)!r} is a Stable-Baselines3 zip: it holds pickled Python objects, and "
            "unpickling a file can run arbitrary code. Pass --allow-pickle (allow_pickle=True) "
            "only for a file you trust, or load an apexrl model folder (model.safetensors + "
            "model.json), which needs no pickle."
        )
    from stable_baselines3 import PPO, SAC

    algo = algo or _zip_algo(p)
    _check_algo(algo)
    model = {"ppo": PPO, "sac": SAC}[algo].load(p, device="cpu")
    from apexrl.data.minari_io import action_space as haptic_space

    haptic = haptic_space()
    space = model.action_space
    sidecar = p.parent / METADATA_FILE
    meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
    if np.allclose(space.low, -1.0) and np.allclose(space.high, 1.0):
        if meta:
            env_space = box_from_json(meta["action_space"])
            low, high = env_space.low, env_space.high
        else:
            low, high = haptic.low, haptic.high
        scaled = True
    elif space.shape == haptic.shape:
        low, high, scaled = space.low, space.high, False
    else:
        raise ValueError(
            f"{str(p)!r}: its action space {space} is neither [-1, 1]^3 nor the haptic Box"
        )
    return CoachPolicy(model.policy, algo=algo, action_low=low, action_high=high,
                       metadata=meta, scaled_actions=scaled)  # fmt: skip


def _zip_algo(path: Path) -> str:
    """PPO or SAC, from the (JSON, not unpickled) ``data`` entry of an SB3 zip."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as exc:
        raise ValueError(f"{str(path)!r} is not a Stable-Baselines3 zip ({exc})") from None
    module = str(data.get("policy_class", {}).get("__module__", ""))
    if ".sac." in module:
        return "sac"
    if module.endswith("common.policies"):
        return "ppo"
    raise ValueError(f"{str(path)!r}: cannot tell its algorithm from {module!r}; pass algo=")


def _check_algo(algo: str) -> None:
    if algo not in ALGOS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGOS)}, got {algo!r}")
