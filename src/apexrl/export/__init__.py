"""Edge export: a trained policy as ONNX, TFLite (fp32, fp16, dynamic, int8), a TFLM C array and a
dependency-free C forward pass, each checked numerically against the PyTorch actor.

:func:`export_policy` (``apexrl export MODEL --output DIR``) writes into ``DIR``:

| file | runs on | input -> output |
|---|---|---|
| ``policy.onnx`` | onnxruntime (Linux, Windows, Android) | raw obs float32 -> policy units |
| ``policy_fp32.tflite`` | LiteRT, TFLM | raw obs float32 -> policy units |
| ``policy_fp16.tflite`` | LiteRT only (TFLM refuses fp16) | raw obs float32 -> policy units |
| ``policy_dynamic.tflite`` | LiteRT only (TFLM refuses hybrid) | raw obs float32 -> policy units |
| ``policy_int8.tflite`` | LiteRT, TFLM (ESP32, Cortex-M) | int8 (see below) -> int8 policy units |
| ``policy_int8.h`` / ``.cc`` | TFLM firmware | the int8 model as a 16-byte aligned C array |
| ``policy_mlp.h`` / ``.c`` | any C99 compiler (MLP policies) | raw obs float -> policy units |
| ``policy_int8.onnx`` | onnxruntime int8 (QDQ; Linux/Intel) | raw obs float32 -> policy units |
| ``export_report.json`` | | sizes, errors, latencies, MACs, ops, TFLM arena, budget |

The exported function is the Stable-Baselines3 DETERMINISTIC actor including the observation
normalisation: ``obs -> clip((obs - mean) / std, -clip, clip) -> MLP -> action_net ->
clamp(low, high)`` for PPO (SAC: ``tanh(mu(...))``; discrete policies output logits). Outputs are
POLICY units, ``[-1, 1]`` per channel for apexrl coaches; env units are
``low + (a + 1) / 2 * (high - low)`` and, for the haptic frequency, Hz =
``50 + 250 * env`` (``export_report.json["output"]`` and the C headers carry both).

Why the int8 model's input is not the raw observation: an int8 tensor has ONE scale, and the
telemetry channels span 0..500 m next to 0..1 and +-2 g, so a raw int8 input would round lateral g
and throttle to a handful of levels (measured: 29 % mean error). ``policy_int8.tflite`` therefore
takes each channel mapped onto [-1, 1] by its own range, the observation space's bounds
(``u = clip((obs - offset) / half_range, -1, 1)``), quantized; the normalisation is folded into
the first layer, so the arithmetic is the same actor. ``policy_int8.h`` has the per-channel
constants and ``apexrl_int8_quantize_observation()``, so firmware passes raw telemetry.

Int8-aware coaches (:mod:`apexrl.train.quant`, the pipeline's default) were trained with the int8
model's roundings: their int8 model is converted with exactly those grids (FakeQuant ops), and the
int8 artifacts and the C forward pass (integer arithmetic for such a coach) are compared with the
coach's own int8 forward; ``policy.onnx`` and the fp32/fp16 TFLite files are its float network
(the same weights without the roundings) and are compared with that. ``policy_dynamic.tflite`` is
not made for them (:data:`apexrl.export.report.DYNAMIC_SKIPPED`). A float-trained coach's int8
model is a post-training approximation: measured 12-15 % of an action's range off for the
pipeline's float coaches, whose cues are steep (README, "Edge export").

This module holds the actor as data (:class:`ActorGraph`: normalise, dense, conv, clip layers in
numpy, extracted from the SB3 policy) and :func:`load_actor`; the steps live in
:mod:`apexrl.export.onnx_export`, :mod:`apexrl.export.tflite`, :mod:`apexrl.export.micro` and
:mod:`apexrl.export.report` (which runs them: :func:`export_policy`). torch, SB3, TensorFlow,
onnx and tflite-micro are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

ACTIVATIONS = ("none", "tanh", "relu")


class ExportError(ValueError):
    """An export step failed or an artifact is outside its tolerance (the message says which)."""


# ---------------------------------------------------------------------- the actor as layers
@dataclass(frozen=True, eq=False)
class Normalize:
    """``clip((x - mean) / std, -clip, clip)`` per channel; ``mean``, ``std``: ``(D,)``."""

    mean: np.ndarray
    std: np.ndarray
    clip: float


@dataclass(frozen=True, eq=False)
class Rescale:
    """``x * factor`` (camera pixels 0..255 -> 0..1, as SB3's image preprocessing)."""

    factor: float


@dataclass(frozen=True, eq=False)
class Dense:
    """``act(x @ weight + bias)``; ``weight (in, out)``, ``bias (out,)`` float32."""

    weight: np.ndarray
    bias: np.ndarray
    activation: str = "none"


@dataclass(frozen=True, eq=False)
class Conv2D:
    """Valid (unpadded) convolution on NHWC; ``weight (kh, kw, cin, cout)``, ``bias (cout,)``."""

    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    activation: str = "none"


@dataclass(frozen=True, eq=False)
class Flatten:
    """NHWC -> (N, H*W*C); the next Dense's rows are already in this order."""


@dataclass(frozen=True, eq=False)
class Clip:
    """``clip(x, low, high)`` per channel (SB3's clip of continuous actions)."""

    low: np.ndarray
    high: np.ndarray


Layer = Normalize | Rescale | Dense | Conv2D | Flatten | Clip


@dataclass(frozen=True, eq=False)
class ActorGraph:
    """The deterministic actor as a sequence of layers.

    ``input_shape`` is one observation: ``(D,)`` telemetry or ``(H, W, C)`` camera frames (NHWC,
    as the camera delivers them; SB3's channel-first transpose is folded into the weights).
    ``output`` is ``"action"`` (continuous, within ``action_low..action_high``, policy units) or
    ``"logits"`` (discrete; the action is the argmax).
    """

    layers: tuple[Layer, ...]
    input_shape: tuple[int, ...]
    output: Literal["action", "logits"]
    action_low: np.ndarray
    action_high: np.ndarray
    int8_aware: bool = False
    """Trained with the int8 model's roundings (:mod:`apexrl.train.quant`): the layers are the
    float network; the int8 conversion fixes every grid to the trained one (FakeQuant ops)."""

    @property
    def kind(self) -> Literal["mlp", "cnn"]:
        return "cnn" if any(isinstance(layer, Conv2D) for layer in self.layers) else "mlp"

    @property
    def output_dim(self) -> int:
        return int(self.action_low.shape[0])

    def shapes(self, input_shape: Sequence[int] | None = None) -> list[tuple[tuple, tuple]]:
        """``(in_shape, out_shape)`` of every layer for one observation of ``input_shape``
        (default :attr:`input_shape`); a Dense after a Flatten takes whatever the Flatten gives,
        which is how :mod:`apexrl.export.report` sizes the same architecture at other inputs."""
        shape = tuple(int(s) for s in (input_shape or self.input_shape))
        out = []
        for layer in self.layers:
            if isinstance(layer, Conv2D):
                kh, kw, _, cout = layer.weight.shape
                h = (shape[0] - kh) // layer.stride[0] + 1
                w = (shape[1] - kw) // layer.stride[1] + 1
                if h < 1 or w < 1:
                    raise ExportError(f"input {shape} is too small for a {kh}x{kw} convolution")
                new: tuple = (h, w, int(cout))
            elif isinstance(layer, Flatten):
                new = (int(np.prod(shape)),)
            elif isinstance(layer, Dense):
                new = (int(layer.weight.shape[1]),)
            else:
                new = shape
            out.append((shape, new))
            shape = new
        return out

    def costs(self, input_shape: Sequence[int] | None = None) -> dict[str, int]:
        """``macs`` (multiply-accumulates of the Dense and Conv2D layers), ``weights``,
        ``biases`` and ``activation_bytes`` (the largest pair of consecutive int8 activations, a
        lower bound on the TFLM arena) for one observation of ``input_shape`` (default: the
        graph's own)."""
        macs = weights = biases = biggest = 0
        for layer, (shape_in, shape_out) in zip(self.layers, self.shapes(input_shape), strict=True):
            n_in, n_out = int(np.prod(shape_in)), int(np.prod(shape_out))
            if isinstance(layer, Dense):
                macs += n_in * n_out
                weights += n_in * n_out
                biases += n_out
            elif isinstance(layer, Conv2D):
                kh, kw, cin, cout = layer.weight.shape
                macs += n_out * kh * kw * cin
                weights += kh * kw * cin * cout
                biases += cout
            biggest = max(biggest, n_in + n_out)
        return {"macs": macs, "weights": weights, "biases": biases, "activation_bytes": biggest}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """The graph in float64 numpy: ``(N, *input_shape)`` -> ``(N, output_dim)``."""
        h = np.asarray(x, dtype=np.float64)
        for layer in self.layers:
            if isinstance(layer, Normalize):
                h = np.clip((h - layer.mean) / layer.std, -layer.clip, layer.clip)
            elif isinstance(layer, Rescale):
                h = h * layer.factor
            elif isinstance(layer, Dense):
                h = _activate(h @ layer.weight.astype(np.float64) + layer.bias, layer.activation)
            elif isinstance(layer, Conv2D):
                h = _activate(_conv2d(h, layer), layer.activation)
            elif isinstance(layer, Flatten):
                h = h.reshape(h.shape[0], -1)
            elif isinstance(layer, Clip):
                h = np.clip(h, layer.low, layer.high)
        return h


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "tanh":
        return np.tanh(x)
    if activation == "relu":
        return np.maximum(x, 0.0)
    return x


def _conv2d(x: np.ndarray, layer: Conv2D) -> np.ndarray:
    kh, kw, _, _ = layer.weight.shape
    sh, sw = layer.stride
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    windows = windows[:, ::sh, ::sw]  # (N, Ho, Wo, Cin, kh, kw)
    return np.einsum("nhwcij,ijco->nhwo", windows, layer.weight.astype(np.float64)) + layer.bias


# ---------------------------------------------------------------------- loading a policy
@dataclass(frozen=True, eq=False)
class LoadedActor:
    """A policy ready to export.

    Attributes:
        graph: the actor as layers (numpy).
        module: the deterministic actor as a torch ``nn.Module`` built from the SB3 policy's own
            modules: ``(N, *graph.input_shape)`` float32 -> ``(N, A)``; the PyTorch reference.
        policy: the SB3 policy.
        algo: ``"ppo"`` or ``"sac"``.
        source: where it came from (path or type name).
        env_low, env_high: ``(A,)`` env action bounds that policy units ``[-1, 1]`` map onto
            (None when the policy acts in env units or is discrete).
        metadata: ``model.json`` content when there is one.
    """

    graph: ActorGraph
    module: Any
    policy: Any
    algo: str
    source: str
    env_low: np.ndarray | None = None
    env_high: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def reference(self, observations: np.ndarray, batch: int = 4096) -> np.ndarray:
        """The PyTorch actor's outputs ``(N, A)`` float32 for ``(N, *input_shape)`` inputs; for
        an int8-aware actor its float network (without the roundings): what the float artifacts
        compute."""
        from apexrl.train.quant import float_mode

        with float_mode(self.policy):
            return self._run(observations, batch)

    def reference_int8(self, observations: np.ndarray, batch: int = 4096) -> np.ndarray:
        """What the int8 artifacts must compute: for an int8-aware actor its own forward (the
        trained int8 network, computed exactly: :func:`apexrl.train.quant.exact`), else
        :meth:`reference`."""
        from apexrl.train.quant import exact

        if not self.graph.int8_aware:
            return self.reference(observations, batch)
        with exact(self.policy):
            return self._run(observations, batch)

    def _run(self, observations: np.ndarray, batch: int) -> np.ndarray:
        import torch

        obs = np.asarray(observations, dtype=np.float32)
        outs = []
        with torch.no_grad():
            for start in range(0, len(obs), batch):
                outs.append(self.module(torch.as_tensor(obs[start : start + batch])).numpy())
        return np.concatenate(outs).astype(np.float32)


def load_actor(model: Any, *, allow_pickle: bool = False) -> LoadedActor:
    """The deterministic actor of ``model``: an apexrl model folder (or its ``model.json``), an SB3
    ``.zip`` (``allow_pickle=True`` only), a :class:`apexrl.train.model_io.CoachPolicy`, an SB3
    policy or an SB3 algorithm object (``PPO``/``SAC``)."""
    from apexrl.export.tflite import quiet_import

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # SB3 imports TensorBoard, which imports TensorFlow when it is installed: banners captured.
    quiet_import("torch", "stable_baselines3")
    from apexrl.train.model_io import CoachPolicy

    source = type(model).__name__
    metadata: dict[str, Any] = {}
    env_low = env_high = None
    if isinstance(model, str | os.PathLike):
        source = os.fspath(model)
        model = _load_path(model, allow_pickle=allow_pickle)
    if isinstance(model, CoachPolicy):
        metadata = model.metadata
        if model.scaled_actions:
            env_low, env_high = model.action_low, model.action_high
        policy, algo = model.policy, model.algo
    elif hasattr(model, "policy") and hasattr(model, "learn"):
        policy = model.policy
        algo = "sac" if hasattr(policy, "actor") else "ppo"
    else:
        policy = model
        algo = "sac" if hasattr(policy, "actor") else "ppo"
    policy.set_training_mode(False)
    module = _actor_module(policy, algo)
    graph = _extract(policy, algo)
    return LoadedActor(graph=graph, module=module, policy=policy, algo=algo, source=source,
                       env_low=env_low, env_high=env_high, metadata=metadata)  # fmt: skip


def _load_path(path: str | os.PathLike, *, allow_pickle: bool):
    from apexrl.train.model_io import load_policy

    p = os.fspath(path)
    if not p.endswith(".zip") or not allow_pickle or _zip_is_coach(p):
        return load_policy(p, allow_pickle=allow_pickle)  # refuses a zip without allow_pickle
    # Any other SB3 zip (a DeepRacer camera policy, discrete actions): plain SB3.
    from stable_baselines3 import PPO, SAC

    errors = []
    for cls in (PPO, SAC):
        try:
            return cls.load(p, device="cpu")
        except Exception as exc:  # noqa: BLE001 - SB3 raises many types for a wrong class
            errors.append(f"{cls.__name__}: {exc}")
    raise ExportError(f"{p!r} loads neither as PPO nor as SAC: {'; '.join(errors)}")


def _zip_is_coach(path: str) -> bool:
    """An SB3 zip of a MotoCoach policy (8 observations, 3 actions), read from the zip's JSON
    ``data`` entry (nothing is unpickled)."""
    try:
        with zipfile.ZipFile(path) as zf:
            data = json.loads(zf.read("data"))
    except (OSError, zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        return True  # let load_policy report what is wrong with the file
    shape = [data.get(k, {}).get("_shape") for k in ("observation_space", "action_space")]
    return shape == [[8], [3]]


def _channels_first(policy) -> bool:
    """True for a channel-first image observation (SB3 transposes camera frames to CHW)."""
    from stable_baselines3.common.preprocessing import is_image_space, is_image_space_channels_first

    space = policy.observation_space
    if not is_image_space(space, check_channels=False):
        return False
    if not is_image_space_channels_first(space):
        raise ExportError(f"image observations {space.shape} are channel-last; SB3's CnnPolicy "
                          "sees channel-first (C, H, W) images (VecTransposeImage)")  # fmt: skip
    return True


def _actor_module(policy, algo: str):
    """The deterministic actor as an ``nn.Module`` over the SB3 modules (no copies)."""
    import torch
    from gymnasium import spaces

    chw = _channels_first(policy)
    space = policy.action_space
    box = isinstance(space, spaces.Box)
    if not box and not isinstance(space, spaces.Discrete):
        raise ExportError(f"action space {space} is not supported (Box or Discrete only)")
    if getattr(policy, "use_sde", False):
        raise ExportError("policies with gSDE (use_sde=True) are not supported")

    class DeterministicActor(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = policy
            if box:
                self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
                self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            if chw:
                obs = obs.permute(0, 3, 1, 2)
            if algo == "sac":
                actor = self.policy.actor
                features = actor.extract_features(obs, actor.features_extractor)
                return torch.tanh(actor.mu(actor.latent_pi(features)))
            features = self.policy.extract_features(obs, self.policy.pi_features_extractor)
            out = self.policy.action_net(self.policy.mlp_extractor.forward_actor(features))
            if not box:
                return out
            return torch.clamp(out, self.low.to(out.dtype), self.high.to(out.dtype)).float()

    return DeterministicActor().eval()


def _extract(policy, algo: str) -> ActorGraph:
    """The SB3 policy's actor as an :class:`ActorGraph` (weights copied as float32)."""
    from gymnasium import spaces

    if algo == "sac":
        actor = policy.actor
        extractor, net, head = actor.features_extractor, actor.latent_pi, actor.mu
        head_activation = "tanh"
    else:
        extractor, net, head = (
            policy.pi_features_extractor,
            policy.mlp_extractor.policy_net,
            (policy.action_net),
        )
        head_activation = "none"
    chw = _channels_first(policy)
    obs_shape = tuple(int(s) for s in policy.observation_space.shape)
    input_shape = (obs_shape[1], obs_shape[2], obs_shape[0]) if chw else obs_shape
    layers: list[Layer] = list(_extractor_layers(policy, extractor, chw))
    layers += _sequential(net)
    layers.append(_dense(head, head_activation))
    space = policy.action_space
    if isinstance(space, spaces.Box):
        low = np.asarray(space.low, dtype=np.float32).ravel()
        high = np.asarray(space.high, dtype=np.float32).ravel()
        output: Literal["action", "logits"] = "action"
        if algo == "ppo":
            layers.append(Clip(low, high))
    else:
        n = int(space.n)
        low, high = np.full(n, -np.inf, np.float32), np.full(n, np.inf, np.float32)
        output = "logits"
    return ActorGraph(tuple(layers), input_shape, output, low, high,
                      int8_aware=bool(getattr(extractor, "int8_input", False)))  # fmt: skip


def _extractor_layers(policy, extractor, chw: bool) -> list[Layer]:
    from stable_baselines3.common.torch_layers import FlattenExtractor, NatureCNN

    if getattr(extractor, "int8_input", False):  # int8-aware: u = clip((x - offset) / half, -1, 1)
        return [Normalize(extractor.int8_offset.numpy().astype(np.float32),
                          extractor.int8_half_range.numpy().astype(np.float32), 1.0)]  # fmt: skip
    if hasattr(extractor, "obs_mean") and hasattr(extractor, "obs_std"):  # ObservationNormalizer
        return [Normalize(_np(extractor.obs_mean), _np(extractor.obs_std), float(extractor.clip))]
    if isinstance(extractor, FlattenExtractor):
        if len(policy.observation_space.shape) != 1:
            raise ExportError("FlattenExtractor over a multi-dimensional observation is not "
                              "supported; flatten the observation in the env")  # fmt: skip
        return []
    if isinstance(extractor, NatureCNN):
        layers: list[Layer] = []
        if getattr(policy, "normalize_images", True):
            layers.append(Rescale(1.0 / 255.0))
        modules = [*extractor.cnn, *extractor.linear]
        return layers + _sequential(modules, chw=chw, input_shape=policy.observation_space.shape)
    raise ExportError(
        f"features extractor {type(extractor).__name__} is not supported; supported: apexrl's "
        "ObservationNormalizer, SB3 FlattenExtractor and NatureCNN (CnnPolicy)"
    )


def _sequential(seq, *, chw: bool = False, input_shape: Sequence[int] | None = None) -> list[Layer]:
    """Linear/Conv2d followed by Tanh/ReLU become one layer; Flatten reorders the next Linear."""
    import torch

    from apexrl.train.quant import quant_tanh_class

    layers: list[Layer] = []
    shape = tuple(int(s) for s in input_shape) if input_shape is not None else None
    pending_flatten: tuple | None = None  # (C, H, W) of the tensor torch flattened
    for mod in seq:
        if isinstance(mod, torch.nn.Linear):
            dense = _dense(mod, "none")
            if pending_flatten is not None and chw:
                c, h, w = pending_flatten
                out = dense.weight.shape[1]
                rows = dense.weight.T.reshape(out, c, h, w).transpose(0, 2, 3, 1).reshape(out, -1)
                dense = Dense(np.ascontiguousarray(rows.T), dense.bias, "none")
            pending_flatten = None
            layers.append(dense)
        elif isinstance(mod, torch.nn.Conv2d):
            if mod.padding not in (0, (0, 0)) or mod.dilation != (1, 1) or mod.groups != 1:
                raise ExportError("only unpadded, undilated, ungrouped Conv2d layers are supported")
            weight = _np(mod.weight).transpose(2, 3, 1, 0)  # OIHW -> HWIO
            bias = _np(mod.bias) if mod.bias is not None else np.zeros(weight.shape[3], np.float32)
            layers.append(Conv2D(np.ascontiguousarray(weight), bias, tuple(mod.stride)))
            if shape is not None:
                kh, kw = mod.kernel_size
                shape = (int(mod.out_channels), (shape[1] - kh) // mod.stride[0] + 1,
                         (shape[2] - kw) // mod.stride[1] + 1)  # fmt: skip
        elif isinstance(mod, torch.nn.Tanh | torch.nn.ReLU | quant_tanh_class()):
            if not layers or not isinstance(layers[-1], Dense | Conv2D):
                raise ExportError(f"{type(mod).__name__} must follow a Linear or Conv2d layer")
            act = "relu" if isinstance(mod, torch.nn.ReLU) else "tanh"
            last = layers[-1]
            if isinstance(last, Dense):
                layers[-1] = Dense(last.weight, last.bias, act)
            else:
                layers[-1] = Conv2D(last.weight, last.bias, last.stride, act)
        elif isinstance(mod, torch.nn.Flatten):
            layers.append(Flatten())
            pending_flatten = shape
        else:
            raise ExportError(f"layer {type(mod).__name__} is not supported in an exported actor")
    return layers


def _dense(linear, activation: str) -> Dense:
    weight = np.ascontiguousarray(_np(linear.weight).T)
    bias = _np(linear.bias) if linear.bias is not None else np.zeros(weight.shape[1], np.float32)
    return Dense(weight, bias, activation)


def _np(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32).copy()


def export_policy(model: Any, output_dir: str | os.PathLike, **kwargs: Any) -> dict[str, Any]:
    """Export ``model`` into ``output_dir`` and return the report; see
    :func:`apexrl.export.report.export_policy` for the arguments."""
    from apexrl.export.report import export_policy as run

    return run(model, output_dir, **kwargs)


__all__ = [
    "ActorGraph",
    "Clip",
    "Conv2D",
    "Dense",
    "ExportError",
    "Flatten",
    "LoadedActor",
    "Normalize",
    "Rescale",
    "export_policy",
    "load_actor",
]
