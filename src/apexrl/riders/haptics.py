"""The haptic channel: what a cue ``[left, right, frequency_hz]`` tells a rider, and back.

A coach drives two vibration motors (left and right, intensity 0..1 each) at one shared frequency
(50..300 Hz). Physics.md section 4 sets the design: cue LOCATION changes reaction times by
20-120 ms, FREQUENCY by under 20 ms, so direction is carried by location and frequency is used only
for urgency.

The mapping (what a rider takes from a cue):

- **Lateral command** ``lateral = left - right`` in [-1, 1]. The rider moves its intended line
  ``lateral * LINE_SHIFT_M`` metres toward the vibrating side (left is +n in apexrl's Frenet frame)
  and adds ``lateral * LEAN_BIAS_RAD`` to its lean command, both scaled by its haptic compliance.
  Equal intensities on both sides cancel laterally.
- **Intensity** ``intensity = max(left, right)`` in [0, 1] scales the urgency.
- **Urgency** from the frequency, scaled by the intensity:
  below ``THROTTLE_BELOW_HZ`` (125 Hz) it means "more throttle": urgency rises linearly from 0 at
  125 Hz to +1 at 50 Hz; above ``BRAKE_ABOVE_HZ`` (175 Hz) it means "brake / back off": urgency
  falls linearly from 0 at 175 Hz to -1 at 300 Hz; in between it is neutral. The rider multiplies
  its target speed by ``1 + compliance * SPEED_GAIN * intensity * urgency`` (+-20 % at most).
- **Timing**: the rider feels a cue after its haptic latency and follows it through a first-order
  response with time constant ``RESPONSE_TAU_S``; a rider may misread the side of a new cue (it
  then follows the mirrored lateral command for ``MISREAD_S`` until it notices, or until the cue
  changes side).

Cues can help or hurt: a cue toward the racing line and toward the safe speed makes a rider faster,
while strong or wrong cues push it off its line or past the grip limit (a crash).

:func:`encode_cue` inverts the mapping: the smallest-intensity cue that asks for a given lateral
command and urgency. The oracle coach uses it.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

FREQ_MIN_HZ = 50.0
"""Lowest cue frequency."""
FREQ_MAX_HZ = 300.0
"""Highest cue frequency."""
THROTTLE_BELOW_HZ = 125.0
"""Frequencies below this ask for more speed (urgency > 0)."""
BRAKE_ABOVE_HZ = 175.0
"""Frequencies above this ask to brake / back off (urgency < 0)."""
NEUTRAL_HZ = 150.0
"""A frequency in the neutral band: a purely lateral cue."""
LINE_SHIFT_M = 3.0
"""Shift of the intended line at full lateral command and full compliance, m."""
LEAN_BIAS_RAD = math.radians(4.0)
"""Extra lean toward the cued side at full lateral command and full compliance, rad."""
SPEED_GAIN = 0.20
"""Relative change of the target speed at full urgency and full compliance."""
RESPONSE_TAU_S = 0.2
"""Time constant of the rider's first-order response to a felt cue, s."""
MISREAD_S = 1.0
"""How long a misread cue is followed mirrored before the rider notices, s."""
SIDE_THRESHOLD = 0.05
"""|lateral| above which a cue has a side (a change of side may be misread)."""


@nb.njit(**_NUMBA)
def urgency_of(frequency_hz: float) -> float:
    """Urgency in [-1, 1] of a frequency at full intensity (+ more throttle, - brake)."""
    if frequency_hz < THROTTLE_BELOW_HZ:
        u = (THROTTLE_BELOW_HZ - frequency_hz) / (THROTTLE_BELOW_HZ - FREQ_MIN_HZ)
        return min(u, 1.0)
    if frequency_hz > BRAKE_ABOVE_HZ:
        u = (frequency_hz - BRAKE_ABOVE_HZ) / (FREQ_MAX_HZ - BRAKE_ABOVE_HZ)
        return -min(u, 1.0)
    return 0.0


@nb.njit(**_NUMBA)
def decode_one(left: float, right: float, frequency_hz: float) -> tuple[float, float]:
    """``(lateral, urgency)`` a rider reads from one cue (inputs clipped to their ranges)."""
    left = min(max(left, 0.0), 1.0)
    right = min(max(right, 0.0), 1.0)
    f = min(max(frequency_hz, FREQ_MIN_HZ), FREQ_MAX_HZ)
    return left - right, max(left, right) * urgency_of(f)


@nb.njit(**_NUMBA)
def encode_one(lateral: float, urgency: float) -> tuple[float, float, float]:
    """The weakest cue ``(left, right, frequency_hz)`` that reads as ``(lateral, urgency)``."""
    lateral = min(max(lateral, -1.0), 1.0)
    urgency = min(max(urgency, -1.0), 1.0)
    intensity = max(abs(lateral), abs(urgency))
    if intensity <= 0.0:
        return 0.0, 0.0, NEUTRAL_HZ
    if lateral >= 0.0:
        left, right = intensity, intensity - lateral
    else:
        left, right = intensity + lateral, intensity
    u = urgency / intensity
    if u > 0.0:
        f = THROTTLE_BELOW_HZ - u * (THROTTLE_BELOW_HZ - FREQ_MIN_HZ)
    elif u < 0.0:
        f = BRAKE_ABOVE_HZ - u * (FREQ_MAX_HZ - BRAKE_ABOVE_HZ)
    else:
        f = NEUTRAL_HZ
    return left, right, f


def decode_cue(cues: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Read cues ``(B, 3)`` ``[left 0..1, right 0..1, frequency_hz]``.

    Returns ``(lateral, urgency)``, each ``(B,)`` float64 in [-1, 1] (module docstring).
    """
    c = np.asarray(cues, dtype=np.float64)
    if c.ndim != 2 or c.shape[1] != 3:
        raise ValueError(
            f"cues must have shape (B, 3) = [left, right, frequency_hz], got {c.shape}"
        )
    left = np.clip(c[:, 0], 0.0, 1.0)
    right = np.clip(c[:, 1], 0.0, 1.0)
    f = np.clip(c[:, 2], FREQ_MIN_HZ, FREQ_MAX_HZ)
    up = np.minimum((THROTTLE_BELOW_HZ - f) / (THROTTLE_BELOW_HZ - FREQ_MIN_HZ), 1.0)
    down = np.minimum((f - BRAKE_ABOVE_HZ) / (FREQ_MAX_HZ - BRAKE_ABOVE_HZ), 1.0)
    urgency = np.where(f < THROTTLE_BELOW_HZ, up, np.where(f > BRAKE_ABOVE_HZ, -down, 0.0))
    return left - right, np.maximum(left, right) * urgency


def encode_cue(lateral: np.ndarray, urgency: np.ndarray) -> np.ndarray:
    """The weakest cues ``(B, 3)`` ``[left, right, frequency_hz]`` that read as the given ``(B,)``
    lateral commands and urgencies (both clipped to [-1, 1]); ``decode_cue`` inverts it."""
    lat = np.clip(np.asarray(lateral, dtype=np.float64), -1.0, 1.0)
    urg = np.clip(np.asarray(urgency, dtype=np.float64), -1.0, 1.0)
    lat, urg = np.broadcast_arrays(lat, urg)
    out = np.empty((*lat.shape, 3))
    _encode_batch(
        np.ascontiguousarray(lat).ravel(), np.ascontiguousarray(urg).ravel(), out.reshape(-1, 3)
    )
    return out


@nb.njit(**_NUMBA)
def _encode_batch(lateral: np.ndarray, urgency: np.ndarray, out: np.ndarray) -> None:
    for b in range(lateral.shape[0]):
        out[b, 0], out[b, 1], out[b, 2] = encode_one(lateral[b], urgency[b])


def frequency_from_unit(unit: np.ndarray) -> np.ndarray:
    """Map a normalised frequency in [0, 1] linearly onto [FREQ_MIN_HZ, FREQ_MAX_HZ]."""
    return FREQ_MIN_HZ + (FREQ_MAX_HZ - FREQ_MIN_HZ) * np.asarray(unit, dtype=np.float64)


def frequency_to_unit(frequency_hz: np.ndarray) -> np.ndarray:
    """Inverse of :func:`frequency_from_unit`."""
    return (np.asarray(frequency_hz, dtype=np.float64) - FREQ_MIN_HZ) / (FREQ_MAX_HZ - FREQ_MIN_HZ)
