"""The oracle coach: the cue a perfect coach would give, from the optimal line and speed profile.

It knows the track's racing line and QSS speed profiles and its rider, and looks where the rider
will be when a cue takes effect: ``L = v * latency_s`` ahead (at 50 m/s a 250 ms latency is
12.5 m; physics.md section 4: cues must lead, not react). There it compares

- the rider's predicted lateral offset ``n + L * tan(heading_error)`` with the racing line's
  offset: ``lateral = (|deviation| - lateral_deadband_m) / lateral_full_scale_m`` toward the racing
  line, clipped to [-1, 1], so a rider close to the line is left alone;
- the rider's predicted speed ``v + a_x * latency_s`` with the coach's target speed there:
  ``urgency = (|relative error| - speed_deadband) / speed_full_scale`` (+ more throttle, - brake),
  clipped to [-1, 1]. In a braking zone too: the target at the preview point already includes
  the braking the corner needs, so a rider below it is braking too early, the amateur's largest
  fixable loss. (An earlier version stayed silent in braking zones; it closed only ~20 % of the
  amateur-to-pro gap instead of ~50 %, with more violations.)

The target speed is the optimal one, capped by what THIS rider can carry: a perfect coach knows its
rider. A rider willing to use ``grip_fraction`` of the tyre's grip rides safely at speed fraction
``sqrt(grip_margin * grip_fraction)`` (corner speeds scale with the square root of the usable
grip), on its own line (``line_bias``), so the coach's target is the QSS profile at speed
fraction ``min(speed_fraction, sqrt(grip_margin * grip_fraction))`` of a line blended
``line_bias`` toward the centre (:func:`apexrl.riders.profile.profile_speed`). Without rider
information (``line_bias=0``, ``grip_fraction=1``) that is the optimal profile on the racing line at
``min(speed_fraction, sqrt(grip_margin))``. Pushing an amateur to the optimal speed on its own
wide line would ask for more lean than it dares to use and run it off the outside of a corner.

``(lateral, urgency)`` is encoded as the weakest cue that reads as it
(:func:`apexrl.riders.haptics.encode_cue`). The oracle labels the datasets and is the baseline a
learned coach must match or beat.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from apexrl.riders import haptics as hp
from apexrl.riders.profile import SPEED_LEVELS, TrackProfile, profile_speed, track_profile
from apexrl.tracks.geometry import interp_periodic
from apexrl.tracks.track import Track
from apexrl.vehicles.params import MotorcycleParams

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

DEFAULT_LATENCY_S = 0.45
"""Latency assumed when the rider's is not given: a typical 250 ms plus the response lag, s."""
_LEVELS = np.asarray(SPEED_LEVELS)
_LEVEL_INDEX = np.arange(_LEVELS.size, dtype=np.float64)


@nb.njit(**_NUMBA)
def coach_level(grip: float, speed_fraction: float, grip_margin: float) -> float:
    """Fractional speed level (:data:`SPEED_LEVELS` index) the coach asks a rider to ride at."""
    f = min(speed_fraction, math.sqrt(grip_margin * grip))
    return np.interp(f, _LEVELS, _LEVEL_INDEX)


@nb.njit(**_NUMBA)
def oracle_kernel(
    s: np.ndarray,
    n: np.ndarray,
    psi: np.ndarray,
    v: np.ndarray,
    ax_g: np.ndarray,
    crashed: np.ndarray,
    latency_s: np.ndarray,
    line_bias: np.ndarray,
    grip_fraction: np.ndarray,
    off_line: np.ndarray,
    table: np.ndarray,
    ds: float,
    g: float,
    speed_fraction: float,
    grip_margin: float,
    lat_scale_m: float,
    lat_dead_m: float,
    speed_scale: float,
    speed_dead: float,
    out: np.ndarray,
) -> None:
    """Oracle cues ``out (B, 3)`` [left, right, frequency_hz] for B riders (module docstring);
    every input array is ``(B,)`` except the profile's ``off_line (M,)`` and ``table (2, F, M)``."""
    for b in range(s.shape[0]):
        if crashed[b]:
            out[b, 0], out[b, 1], out[b, 2] = 0.0, 0.0, hp.NEUTRAL_HZ
            continue
        lat_s = latency_s[b]
        look = v[b] * lat_s
        x = s[b] + look
        dev = interp_periodic(off_line, x, ds, True) - (n[b] + look * math.tan(psi[b]))
        lateral = 0.0
        if abs(dev) > lat_dead_m:
            lateral = (dev - math.copysign(lat_dead_m, dev)) / lat_scale_m

        level = coach_level(grip_fraction[b], speed_fraction, grip_margin)
        v_target = profile_speed(x, level, line_bias[b], table, ds)
        v_pred = max(v[b] + ax_g[b] * g * lat_s, 0.0)
        rel = (v_target - v_pred) / max(v_target, 1.0)
        urgency = 0.0
        if abs(rel) > speed_dead:
            urgency = (rel - math.copysign(speed_dead, rel)) / speed_scale
        out[b, 0], out[b, 1], out[b, 2] = hp.encode_one(lateral, urgency)


class OracleCoach:
    """Vectorised oracle coach for a track (module docstring).

    Args:
        track: a closed :class:`~apexrl.tracks.Track`, or its :class:`TrackProfile`.
        bike: the motorcycle (for the speed profiles); default ``MotorcycleParams()``.
        speed_fraction: largest fraction of the optimal speed the coach asks for.
        grip_margin: fraction of a rider's grip fraction the coach plans to use.
        lateral_full_scale_m: lateral deviation (beyond the dead band) that gives a full cue, m.
        lateral_deadband_m: lateral deviation the coach tolerates without a cue, m.
        speed_full_scale: relative speed error (beyond the dead band) that gives full urgency.
        speed_deadband: relative speed error the coach tolerates without urgency.
    """

    def __init__(
        self,
        track: Track | TrackProfile,
        *,
        bike: MotorcycleParams | None = None,
        speed_fraction: float = 1.0,
        grip_margin: float = 0.95,
        lateral_full_scale_m: float = 2.0,
        lateral_deadband_m: float = 0.3,
        speed_full_scale: float = 0.08,
        speed_deadband: float = 0.01,
    ) -> None:
        if isinstance(track, TrackProfile):
            if bike is not None and bike != track.bike:
                raise ValueError("bike differs from the bike the TrackProfile was built for")
            self.profile = track
        else:
            self.profile = track_profile(track, bike)
        positive = {
            "speed_fraction": speed_fraction,
            "grip_margin": grip_margin,
            "lateral_full_scale_m": lateral_full_scale_m,
            "speed_full_scale": speed_full_scale,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name, value in (
            ("lateral_deadband_m", lateral_deadband_m),
            ("speed_deadband", speed_deadband),
        ):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        self.speed_fraction = float(speed_fraction)
        self.grip_margin = float(grip_margin)
        self.lateral_full_scale_m = float(lateral_full_scale_m)
        self.lateral_deadband_m = float(lateral_deadband_m)
        self.speed_full_scale = float(speed_full_scale)
        self.speed_deadband = float(speed_deadband)
        p = self.profile
        self._args = (
            p.line_offset_m,
            p.speed_table_mps,
            p.track.ds_m,
            p.bike.g_mps2,
            self.speed_fraction,
            self.grip_margin,
            self.lateral_full_scale_m,
            self.lateral_deadband_m,
            self.speed_full_scale,
            self.speed_deadband,
        )

    def act(
        self,
        telemetry,
        latency_s: float | np.ndarray = DEFAULT_LATENCY_S,
        *,
        line_bias: float | np.ndarray = 0.0,
        grip_fraction: float | np.ndarray = 1.0,
    ) -> np.ndarray:
        """Cues ``(B, 3)`` float64 [left 0..1, right 0..1, frequency_hz 50..300] for the riders in
        ``telemetry`` (an :class:`apexrl.sim.Telemetry` of a motorcycle BatchSim on this track).

        Args:
            telemetry: the riders' current telemetry.
            latency_s: scalar or ``(B,)`` rider latency from cue to response, s.
            line_bias: scalar or ``(B,)`` the riders' line bias (:class:`RiderParams`), in [0, 1].
            grip_fraction: scalar or ``(B,)`` the riders' grip fraction, in (0, 1].
        """
        tel = telemetry
        b = tel.s_m.shape[0]
        out = np.empty((b, 3))
        oracle_kernel(
            tel.s_m,
            tel.n_m,
            tel.heading_error_rad,
            tel.speed_mps,
            tel.longitudinal_g,
            tel.crashed,
            _per_rider("latency_s", latency_s, b, 0.0, np.inf),
            _per_rider("line_bias", line_bias, b, 0.0, 1.0),
            _per_rider("grip_fraction", grip_fraction, b, 1e-9, 1.0),
            *self._args,
            out,
        )
        return out


def _per_rider(name: str, value, b: int, lo: float, hi: float) -> np.ndarray:
    arr = np.ascontiguousarray(np.broadcast_to(np.asarray(value, dtype=np.float64), (b,)))
    if not (np.isfinite(arr).all() and (arr >= lo).all() and (arr <= hi).all()):
        raise ValueError(f"{name} must be finite and in [{lo:g}, {hi:g}], got {value!r}")
    return arr
