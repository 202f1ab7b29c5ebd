"""Int8-aware coaches: a PPO actor whose PyTorch forward IS the full-int8 TFLite model.

Post-training int8 quantization of a cloned coach moves its raw actions by up to 15 % of their
range (measured on the default 80-64 coach: the 8-bit input step alone 9.7 %, the weight rounding
alone 5.4 %), because the cloned cue is steep where the oracle's cue switches. An int8-aware coach
is trained with the int8 model's own roundings in its forward pass (straight-through gradients),
so the network the ESP32 runs is the network that was trained and evaluated. Its grids are FIXED
(they do not depend on calibration data) and the int8 export reproduces them with TensorFlow
FakeQuant ops (:mod:`apexrl.export.tflite`):

- input: each channel mapped onto ``u = clip((obs - offset) / half_range, -1, 1)`` by its own range
  (:func:`int8_input_mapping`: the observation space's bounds within the normaliser's clip), then
  ``round(u / INPUT_SCALE)`` clamped to int8 (``INPUT_SCALE = 2/255``, zero point 0);
- every hidden layer: ``W u + b`` rounded to ``PRE_SCALE = 2/255`` (int8, +-1), ``tanh``, rounded
  to ``1/128`` (TFLite's fixed int8 tanh output);
- weights: on their int8 grid per output row (``max |w| / 127``), exactly as the converter
  quantizes them (:func:`project_weights`, after training);
- output: the action in [-1, 1] (the int8 model rounds it to 2/255: at most 0.2 % of the range).

The observation normaliser then outputs ``u`` (quantized) instead of the normalised observation, so
the first layer of each net reads ``u`` (:func:`int8_state_dict` folds a float policy's
normalisation into it). ``policy_kwargs["int8_aware"] = True`` in ``model.json`` marks such a coach;
:func:`float_mode` switches the roundings off (the float artifacts of the export are the same
network without them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

INPUT_SCALE = float(np.float32(2.0 / 255.0))
"""Step of the int8 input ``u`` in [-1, 1] (zero point 0: codes -128..127)."""
PRE_SCALE = float(np.float32(2.0 / 255.0))
"""Step of a hidden layer's pre-activation (int8 codes -128..127: -1.004..0.996, so tanh stays
within +-0.76). A wider range (+-3.5, step 7/255) lets one int8 step of the pre-activation move
tanh by up to 3.5 output steps; TFLM's fixed-point tanh then differs from LiteRT's table by one
step now and then, and that amplifies to 2.8 % of an action's range (measured), against 1.2-1.4 %
with this range; the coaching quality was the same (1,000 laps, 3 dataset seeds each)."""
TANH_SCALE = 1.0 / 128.0
"""Step of TFLite's int8 tanh output (fixed by the op: codes -128..127)."""
_LAZY: dict[str, Any] = {}


def fake_quant(x, scale: float):
    """``clamp(round(x / scale), -128, 127) * scale`` with a straight-through gradient (1 inside
    the int8 range, 0 outside). Rounds half to even, as numpy and TensorFlow do."""
    import torch as th

    clipped = th.clamp(x, -128.0 * scale, 127.0 * scale)
    return clipped + (th.round(clipped / scale) * scale - clipped).detach()


def int8_input_mapping(
    low: np.ndarray, high: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(offset, half_range)`` per channel of the int8 input: the range ``[low, high]`` kept
    inside the normaliser's ``mean +- clip * std``; a channel without spread keeps ``std``."""
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    lo = np.maximum(np.asarray(low, dtype=np.float64), mean - clip * std)
    hi = np.minimum(np.asarray(high, dtype=np.float64), mean + clip * std)
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi >= lo)):
        raise ValueError(f"int8 input bounds must be finite with high >= low: {lo} .. {hi}")
    half = np.where(hi - lo > 1e-6 * std, (hi - lo) / 2.0, std)
    return (lo + hi) / 2.0, half


def quant_tanh_class() -> type:
    """The activation of int8-aware nets (a torch module class, made on first use)."""
    if "QuantTanh" in _LAZY:
        return _LAZY["QuantTanh"]
    import torch as th

    class QuantTanh(th.nn.Module):
        """``tanh`` between the int8 model's roundings: the pre-activation to
        :data:`PRE_SCALE`, the output to :data:`TANH_SCALE` (straight-through gradients).
        ``quantize = False`` (:func:`float_mode`) makes it a plain ``tanh``."""

        def __init__(self) -> None:
            super().__init__()
            self.quantize = True

        def forward(self, x: th.Tensor) -> th.Tensor:
            if not self.quantize:
                return th.tanh(x)
            return fake_quant(th.tanh(fake_quant(x, PRE_SCALE)), TANH_SCALE)

    QuantTanh.__module__ = __name__
    QuantTanh.__qualname__ = "QuantTanh"
    _LAZY["QuantTanh"] = QuantTanh
    return QuantTanh


def quantize_input(observations, offset, half_range, dtype):
    """Raw observations (torch, ``(N, D)``) -> the int8 input grid values ``u_q`` in ``dtype``,
    computed as :class:`apexrl.export.tflite.Int8Input` does (float64 mapping, float32 ``u``)."""
    import torch as th

    u = th.clamp((observations.double() - offset) / half_range, -1.0, 1.0).float()
    q = th.clamp(th.round(u.double() / INPUT_SCALE), -128.0, 127.0)
    return (q * INPUT_SCALE).to(dtype)


@contextlib.contextmanager
def exact(policy) -> Iterator[None]:
    """Inside: an int8-aware ``policy`` computes in float64 with its weights and biases exactly
    on their int8 and int32 grids (:func:`project_weights` in float64), so its sums are the int8
    model's integer sums to 1e-14 and every rounding lands where the int8 arithmetic's does
    (float32 sums, or float32 weights, can fall on the other side of a rounding boundary). The
    float32 parameters are restored on exit. A float policy is left as it is."""
    if not is_int8_aware(policy):
        yield
        return
    saved = {k: v.detach().clone() for k, v in policy.state_dict().items()}
    policy.double()
    project_weights(policy)
    try:
        yield
    finally:
        policy.float()
        policy.load_state_dict(saved)


def is_int8_aware(policy) -> bool:
    """True for a policy built with ``policy_kwargs["int8_aware"]``."""
    extractor = getattr(policy, "features_extractor", None)
    return bool(getattr(extractor, "int8_input", False))


@contextlib.contextmanager
def float_mode(policy) -> Iterator[None]:
    """Inside: the int8-aware ``policy`` runs without its roundings (the float network)."""
    modules = [m for m in policy.modules() if hasattr(m, "quantize")]
    saved = [m.quantize for m in modules]
    try:
        for m in modules:
            m.quantize = False
        yield
    finally:
        for m, q in zip(modules, saved, strict=True):
            m.quantize = q


def exact_copy(policy):
    """What :func:`exact` computes, as a float64 copy made once (for acting many times); a float
    policy is returned as it is."""
    import copy

    if not is_int8_aware(policy):
        return policy
    twin = copy.deepcopy(policy).double()
    project_weights(twin)
    return twin


FIRST_LAYERS = ("mlp_extractor.policy_net.0", "mlp_extractor.value_net.0")
"""The layers that read the normaliser's output in an SB3 ``ActorCriticPolicy``."""


def int8_state_dict(
    state: Mapping[str, Any], offset: np.ndarray, half_range: np.ndarray, mean: np.ndarray,
    std: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """A float PPO policy's ``state_dict`` for the int8-aware policy of the same architecture:
    the first layer of each net reads ``u = (obs - offset) / half_range`` instead of
    ``z = (obs - mean) / std``. With ``z = u * half_range / std + (offset - mean) / std``:
    ``W' = W diag(half_range / std)``, ``b' = b + W (offset - mean) / std`` (exact for every
    observation inside the bounds)."""
    import torch as th

    out = dict(state)
    scale = th.as_tensor(np.asarray(half_range) / np.asarray(std), dtype=th.float64)
    shift = th.as_tensor((np.asarray(offset) - np.asarray(mean)) / np.asarray(std),
                         dtype=th.float64)  # fmt: skip
    for name in FIRST_LAYERS:
        w = state[f"{name}.weight"].double()
        out[f"{name}.weight"] = (w * scale[None, :]).float()
        out[f"{name}.bias"] = (state[f"{name}.bias"].double() + w @ shift).float()
    return out


def actor_linears(policy) -> list:
    """The actor's ``nn.Linear`` layers, input side first (PPO: policy net, then action net)."""
    import torch as th

    layers = [m for m in policy.mlp_extractor.policy_net if isinstance(m, th.nn.Linear)]
    return [*layers, policy.action_net]


def project_weights(policy) -> float:
    """Round the actor's weights onto their int8 grid in place (symmetric, one scale per output
    row: ``max |w| / 127``, as the TFLite converter quantizes them) and its biases onto their
    int32 grid (``input step * weight step`` of the row); returns the largest weight change."""
    import torch as th

    worst = 0.0
    with th.no_grad():
        for k, linear in enumerate(actor_linears(policy)):
            w = linear.weight
            rounded = int8_rounded(w)
            worst = max(worst, float((rounded - w).abs().max()))
            w.copy_(rounded)
            step = (INPUT_SCALE if k == 0 else TANH_SCALE) * _row_step(w.double())[:, 0]
            b = linear.bias.double()
            linear.bias.copy_(th.round(b / step) * step)
    return worst


def int8_rounded(weight):
    """``weight`` (torch, output rows first) rounded per row to ``k * max|row| / 127``."""
    import torch as th

    scale = _row_step(weight)
    return th.round(weight / scale) * scale


def _row_step(weight):
    """``(rows, 1)``: each row's int8 weight step ``max|row| / 127`` (1 for an all-zero row)."""
    import torch as th

    peak = weight.detach().abs().amax(dim=1, keepdim=True)
    return th.where(peak > 0, peak / 127.0, th.ones_like(peak))
