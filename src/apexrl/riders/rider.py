"""Simulated motorcycle riders: parameters, presets and a batched controller.

A rider is a human-like controller for :class:`apexrl.sim.BatchSim`'s motorcycle (physics.md
sections 3-4). What it tries to do:

- **Line**: the minimum-curvature racing line blended toward the centre line by ``line_bias``
  (0 = racing line, 1 = centre line), missing every apex by ``apex_error_m`` toward the outside of
  the turn (a Gaussian bump of ``profile.APEX_SIGMA_M`` around each apex), kept
  ``LINE_EDGE_MARGIN_M`` from the edges.
- **Speed**: the QSS speed profile of that line for tyres with ``mu * speed_fraction^2`` (corner
  speeds ``speed_fraction`` times the optimum, braking ``speed_fraction^2`` times as hard, full
  power on the straights), with braking points moved ``braking_point_error_m`` early (+) or late (-,
  an overshoot: the rider also arrives at the apex too fast). Profiles are tabulated per track
  (:class:`~apexrl.riders.profile.TrackProfile`, in :mod:`apexrl.riders.profile`) and include the
  bike's roll-rate limit, so they are the fastest the simulated bike can follow.

How it rides (one control step, vectorised over B riders in :func:`rider_kernel`):

1. **Perception** through ``reaction_delay_s`` (a ring buffer of what it saw). Like a skilled
   human operator it predicts, with an internal model that holds the perceived speed and lean,
   where the bike will be when a new lean takes effect: ``tau = delay + roll time constant`` later
   (position along the track, lateral offset and heading error, integrating the Frenet kinematics
   of :mod:`apexrl.vehicles.motorcycle` along the road's changing curvature, and the speed from the
   longitudinal acceleration it feels).
2. **Lean**: a preview (pure-pursuit) controller on the predicted state,
   ``kappa_cmd = kappa_ff + 2 e / L^2`` with ``L = v * preview_s`` and
   ``e = (n_line - n) + L (n_line' - heading_error)``; ``kappa_ff`` is the intended line's curvature
   at the predicted position, and the lean command is the steady lean ``atan(v^2 kappa_cmd / g)``
   at the predicted speed,
   capped at ``atan(grip_fraction * mu)`` less ``NOISE_MARGIN_SIGMAS`` of its lean noise.
3. **Speed**: the smaller of the average accelerations that reach the target speed ``L/2`` and
   ``L`` ahead, ``(v_target^2 - v^2) / (2 d)``, plus drag and rolling resistance, limited to what
   the friction circle leaves at ``grip_fraction`` after the lateral demand ``g tan(roll)`` (less
   ``NOISE_MARGIN_SIGMAS`` of its throttle or brake noise), turned into throttle or brake with the
   bike's limits.
4. **Input noise**: smooth-to-jerky band-limited noise on lean, throttle and brake, a sum of
   ``NOISE_SINES`` sines with frequencies drawn in [``NOISE_MIN_HZ``, ``noise_bandwidth_hz``] and
   random phases per episode (the classic "remnant" model of a human operator); added after the
   caps, so a rider near its limits can exceed the grip and lowside.
5. **Haptic cues** (:mod:`apexrl.riders.haptics`) move the intended line, the lean and the target
   speed after ``haptic_latency_s``.

Every random quantity (the rider's parameters within its preset ranges, noise frequencies and
phases, misread draws) comes from a seeded ``numpy.random.Generator`` at reset or in rare pool
refills; the step itself draws nothing, so a rollout is a pure function of the seed and the cues.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numba as nb
import numpy as np

from apexrl.riders import haptics as hp

# The track profile moved to apexrl.riders.profile; the names marked F401 are re-exported so that
# imports from this module keep working.
from apexrl.riders.profile import (
    APEX_PROMINENCE_MPS,  # noqa: F401
    APEX_SIGMA_M,  # noqa: F401
    SPEED_LEVELS,
    TrackProfile,
    distance_to_next_apex,  # noqa: F401
    level_position,
    profile_speed,
    track_profile,
)
from apexrl.sim import BatchSim
from apexrl.tracks.geometry import interp_periodic
from apexrl.vehicles import motorcycle as moto

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

LINE_EDGE_MARGIN_M = 1.25
"""A rider's intended line stays this far inside the track edges, m."""
MIN_PREVIEW_M = 5.0
"""Shortest look-ahead distance (low speeds), m."""
NOISE_SINES = 5
"""Sines per noise channel."""
NOISE_MIN_HZ = 0.2
"""Lowest input-noise frequency, Hz."""
RING_SIZE = 16
"""Slots of the perception and cue ring buffers: delays up to (RING_SIZE - 1) control steps."""
MISREAD_POOL = 64
"""Uniform draws kept per rider for misread decisions (refilled from its generator when used)."""
NOISE_LEAN, NOISE_THROTTLE, NOISE_BRAKE = 0, 1, 2
PREDICTION_STEPS = 4
"""Euler steps of a rider's internal model over its delay plus the roll lag."""
NOISE_MARGIN_SIGMAS = 2.0
"""A rider keeps this many RMS of its own input noise inside its grip budget (lean and throttle or
brake), so its jitter alone rarely exceeds the grip; delays, overshoots and cues still can."""
MAX_DELAY_S = 0.7
"""Longest reaction delay or haptic latency (the ring buffers hold 15 steps of 50 ms)."""

# Perception ring-buffer columns.
_PS, _PN, _PPSI, _PV, _PROLL, _PAX = 0, 1, 2, 3, 4, 5
_N_PERC = 6


# ---------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class RiderParams:
    """One rider for one episode. Ranges for the presets are in :data:`PRESET_RANGES`."""

    reaction_delay_s: float
    """Delay between the bike's state and the rider's control reacting to it, s (humans: 0.15-0.3
    or more; quantised to whole control steps)."""
    lean_noise_rad: float
    """RMS of the band-limited noise on the lean command, rad."""
    throttle_noise: float
    """RMS of the noise on the throttle while it is open (fraction of full throttle)."""
    brake_noise: float
    """RMS of the noise on the brake while braking (fraction of full brake)."""
    noise_bandwidth_hz: float
    """Highest frequency of the input noise, Hz: about 1 Hz is smooth, 3 Hz is jerky."""
    braking_point_error_m: float
    """Braking points moved this far EARLY (+) or LATE (-, overshooting the corner), m."""
    apex_error_m: float
    """How far the line misses each apex toward the outside of the turn, m (>= 0)."""
    speed_fraction: float
    """Fraction of the optimal cornering speed the rider rides at: it follows the QSS profile of
    its line for tyres with ``mu * speed_fraction^2`` (:class:`TrackProfile`), in [0.5, 1]."""
    grip_fraction: float
    """Fraction of the tyre's friction circle the rider is willing to use (lean and braking)."""
    line_bias: float
    """Line choice: 0 = racing line, 1 = centre line, in between a blend."""
    preview_s: float
    """Look-ahead time of the lean and speed controllers, s."""
    haptic_compliance: float
    """How strongly cues are followed: 0 ignores them, 1 follows them fully."""
    haptic_latency_s: float
    """Delay from a cue to the start of the rider's response, s (quantised to control steps)."""
    misread_prob: float
    """Probability that a cue that changes side is read as the opposite side (for
    ``haptics.MISREAD_S``, until the rider notices)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"RiderParams.{f.name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"RiderParams.{f.name} must be finite, got {value!r}")
        for name in ("reaction_delay_s", "haptic_latency_s"):
            if not 0.0 <= getattr(self, name) <= MAX_DELAY_S:
                raise ValueError(f"RiderParams.{name} must be in [0, {MAX_DELAY_S}] s")
        for name in ("lean_noise_rad", "throttle_noise", "brake_noise", "apex_error_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"RiderParams.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("line_bias", "haptic_compliance", "misread_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"RiderParams.{name} must be in [0, 1], got {getattr(self, name)}")
        if not SPEED_LEVELS[0] <= self.speed_fraction <= 1.0:
            raise ValueError(
                f"RiderParams.speed_fraction must be in [{SPEED_LEVELS[0]}, 1], "
                f"got {self.speed_fraction}"
            )
        if not 0.0 < self.grip_fraction <= 1.0:
            raise ValueError(
                f"RiderParams.grip_fraction must be in (0, 1], got {self.grip_fraction}"
            )
        if not NOISE_MIN_HZ < self.noise_bandwidth_hz <= 10.0:
            raise ValueError(f"RiderParams.noise_bandwidth_hz must be in ({NOISE_MIN_HZ}, 10] Hz")
        if not 0.1 <= self.preview_s <= 5.0:
            raise ValueError(f"RiderParams.preview_s must be in [0.1, 5] s, got {self.preview_s}")
        if abs(self.braking_point_error_m) > 200.0:
            raise ValueError("RiderParams.braking_point_error_m must be within +-200 m")

    def to_dict(self) -> dict[str, float]:
        """JSON-ready field values."""
        return {k: float(v) for k, v in asdict(self).items()}


PRESET_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    # Close to the optimal line, 95-98 % of the limit, smooth, ~150 ms.
    "pro": {
        "reaction_delay_s": (0.12, 0.18),
        "lean_noise_rad": (0.002, 0.005),
        "throttle_noise": (0.01, 0.03),
        "brake_noise": (0.01, 0.03),
        "noise_bandwidth_hz": (0.6, 1.2),
        "braking_point_error_m": (-2.0, 4.0),
        "apex_error_m": (0.0, 0.4),
        "speed_fraction": (0.95, 0.98),
        "grip_fraction": (0.96, 0.98),
        "line_bias": (0.0, 0.1),
        "preview_s": (1.0, 1.3),
        "haptic_compliance": (0.5, 0.8),
        "haptic_latency_s": (0.15, 0.25),
        "misread_prob": (0.0, 0.02),
    },
    # Centre-biased line, early braking with occasional overshoot, 75-85 % of the limit, jerky,
    # ~300 ms.
    "amateur": {
        "reaction_delay_s": (0.25, 0.35),
        "lean_noise_rad": (0.012, 0.03),
        "throttle_noise": (0.05, 0.12),
        "brake_noise": (0.05, 0.12),
        "noise_bandwidth_hz": (1.5, 3.0),
        "braking_point_error_m": (-30.0, 40.0),
        "apex_error_m": (0.5, 2.5),
        "speed_fraction": (0.75, 0.85),
        "grip_fraction": (0.82, 0.9),
        "line_bias": (0.4, 0.8),
        "preview_s": (1.1, 1.5),
        "haptic_compliance": (0.6, 0.95),
        "haptic_latency_s": (0.25, 0.4),
        "misread_prob": (0.02, 0.08),
    },
}
"""Per preset, the uniform range of every :class:`RiderParams` field (:func:`sample_rider`)."""
RIDER_PRESETS = tuple(PRESET_RANGES)


def _check_preset(preset: str) -> dict[str, tuple[float, float]]:
    if preset not in PRESET_RANGES:
        raise ValueError(f"unknown rider preset {preset!r}; presets: {', '.join(RIDER_PRESETS)}")
    return PRESET_RANGES[preset]


def sample_rider(preset: str, rng: np.random.Generator) -> RiderParams:
    """A rider drawn uniformly within the preset's documented ranges (one draw per field, in
    field order, from ``rng``)."""
    ranges = _check_preset(preset)
    u = rng.random(len(ranges))
    values = {
        f.name: ranges[f.name][0] + u[i] * (ranges[f.name][1] - ranges[f.name][0])
        for i, f in enumerate(fields(RiderParams))
    }
    return RiderParams(**{k: float(v) for k, v in values.items()})


def nominal_rider(preset: str) -> RiderParams:
    """The middle of the preset's ranges (a deterministic typical rider)."""
    ranges = _check_preset(preset)
    return RiderParams(**{k: 0.5 * (lo + hi) for k, (lo, hi) in ranges.items()})


# ---------------------------------------------------------------------- intended speed and line
@nb.njit(**_NUMBA)
def target_speed(
    x: float, level_pos: float, bias: float, brake_err: float, table: np.ndarray, ds: float
) -> float:
    """A rider's target speed at ``x`` with its braking points moved (module doc), m/s."""
    v = profile_speed(x, level_pos, bias, table, ds)
    if brake_err == 0.0:
        return v
    shifted = profile_speed(x + brake_err, level_pos, bias, table, ds)
    return min(v, shifted) if brake_err > 0.0 else max(v, shifted)


@nb.njit(**_NUMBA)
def intended_offset(
    x: float,
    bias: float,
    apex_err: float,
    shift_m: float,
    off_line: np.ndarray,
    apex_outside: np.ndarray,
    w_left: np.ndarray,
    w_right: np.ndarray,
    ds: float,
) -> float:
    """A rider's intended lateral offset at ``x`` (+ left, m), kept inside the edge margin."""
    n = (1.0 - bias) * interp_periodic(off_line, x, ds, True)
    n += apex_err * interp_periodic(apex_outside, x, ds, True) + shift_m
    hi = interp_periodic(w_left, x, ds, True) - LINE_EDGE_MARGIN_M
    lo = LINE_EDGE_MARGIN_M - interp_periodic(w_right, x, ds, True)
    return min(max(n, lo), hi)


@nb.njit(**_NUMBA)
def _noise(t: float, w: np.ndarray, phase: np.ndarray, amp: float) -> float:
    acc = 0.0
    for k in range(w.shape[0]):
        acc += math.sin(w[k] * t + phase[k])
    return amp * acc * math.sqrt(2.0 / w.shape[0])


# ---------------------------------------------------------------------- batched controller
# Per-rider parameter columns of the kernel's ``prm (B, N_COLUMNS)``.
(
    C_DELAY_STEPS,
    C_HAPTIC_STEPS,
    C_LEAN_NOISE,
    C_THROTTLE_NOISE,
    C_BRAKE_NOISE,
    C_BRAKE_ERR,
    C_APEX_ERR,
    C_LEVEL,
    C_GRIP_FRAC,
    C_BIAS,
    C_PREVIEW,
    C_COMPLIANCE,
    C_MISREAD,
) = range(13)
N_COLUMNS = 13


@nb.njit(**_NUMBA)
def rider_kernel(
    state: np.ndarray,
    crashed: np.ndarray,
    t_s: np.ndarray,
    active: np.ndarray,
    cues: np.ndarray,
    prm: np.ndarray,
    perc: np.ndarray,
    cue_buf: np.ndarray,
    head: int,
    resp: np.ndarray,
    side: np.ndarray,
    misread: np.ndarray,
    pool: np.ndarray,
    pool_i: np.ndarray,
    noise_w: np.ndarray,
    noise_phase: np.ndarray,
    off_line: np.ndarray,
    k_line: np.ndarray,
    k_centre: np.ndarray,
    table: np.ndarray,
    apex_outside: np.ndarray,
    w_left: np.ndarray,
    w_right: np.ndarray,
    ds: float,
    dt: float,
    p: np.ndarray,
    out: np.ndarray,
) -> int:
    """One control step of B riders: simulator ``state (B, 9)`` (the motorcycle state layout),
    ``crashed``/``t_s (B,)`` telemetry and cues ``(B, 3)`` [left, right, Hz] -> ``out (B, 3)``
    motorcycle actions [throttle, brake, lean_cmd_rad]. Riders with ``active[b]`` False are left
    untouched (their actions are zero). On entry ``out`` holds the previous step's actions (the
    rider remembers its last lean command).

    Memory: ``perc (B, RING, 6)`` (s, n, heading error, speed, roll, a_x) and
    ``cue_buf (B, RING, 3)`` are ring buffers whose slot ``head`` receives this step's state and
    cue; ``resp (B, 2)`` is the filtered haptic response (lateral, urgency), ``side`` the side of
    the last read cue, ``misread`` the steps it stays misread, ``pool (B, P)`` uniforms consumed at
    ``pool_i``. ``noise_w``/``noise_phase`` are ``(B, 3, K)``; ``p`` is the bike's
    ``motorcycle.params_array``. Returns how many pools ran out (the caller refills them).
    """
    ring = perc.shape[1]
    g = p[moto.P_G_MPS2]
    mu_g = p[moto.P_MU_G_MPS2]
    mu = mu_g / g
    lean_max = p[moto.P_LEAN_MAX_RAD]
    tau_roll = p[moto.P_ROLL_TAU_S]
    k_cap = p[moto.P_KAPPA_MAX_1PM]
    resp_gain = 1.0 - math.exp(-dt / hp.RESPONSE_TAU_S)
    misread_steps = max(int(round(hp.MISREAD_S / dt)), 1)
    spent = 0
    for b in range(state.shape[0]):
        if not active[b]:
            out[b, 0] = 0.0
            out[b, 1] = 0.0
            out[b, 2] = 0.0
            continue
        perc[b, head, _PS] = state[b, moto.S_M]
        perc[b, head, _PN] = state[b, moto.N_M]
        perc[b, head, _PPSI] = state[b, moto.HEADING_ERROR_RAD]
        perc[b, head, _PV] = state[b, moto.SPEED_MPS]
        perc[b, head, _PROLL] = state[b, moto.ROLL_RAD]
        perc[b, head, _PAX] = state[b, moto.AX_MPS2]
        cue_buf[b, head, 0] = cues[b, 0]
        cue_buf[b, head, 1] = cues[b, 1]
        cue_buf[b, head, 2] = cues[b, 2]
        if crashed[b]:
            out[b, 0] = 0.0
            out[b, 1] = 0.0
            out[b, 2] = 0.0
            continue
        delay = int(prm[b, C_DELAY_STEPS])
        r = (head - delay) % ring
        sp = perc[b, r, _PS]
        np_ = perc[b, r, _PN]
        psip = perc[b, r, _PPSI]
        vp = perc[b, r, _PV]
        rollp = perc[b, r, _PROLL]
        axp = perc[b, r, _PAX]

        # Haptics: the cue felt after the latency, possibly misread, through a first-order lag.
        h = (head - int(prm[b, C_HAPTIC_STEPS])) % ring
        lat, urg = hp.decode_one(cue_buf[b, h, 0], cue_buf[b, h, 1], cue_buf[b, h, 2])
        sd = 0
        if lat > hp.SIDE_THRESHOLD:
            sd = 1
        elif lat < -hp.SIDE_THRESHOLD:
            sd = -1
        if sd != 0 and sd != side[b]:
            if pool[b, pool_i[b]] < prm[b, C_MISREAD]:
                misread[b] = misread_steps
            pool_i[b] += 1
            if pool_i[b] >= pool.shape[1]:
                spent += 1
        side[b] = sd
        if misread[b] > 0:
            misread[b] -= 1
            lat = -lat
        resp[b, 0] += resp_gain * (lat - resp[b, 0])
        resp[b, 1] += resp_gain * (urg - resp[b, 1])
        c = prm[b, C_COMPLIANCE]
        shift = c * hp.LINE_SHIFT_M * resp[b, 0]
        lean_bias = c * hp.LEAN_BIAS_RAD * resp[b, 0]
        speed_scale = 1.0 + c * hp.SPEED_GAIN * resp[b, 1]

        bias = prm[b, C_BIAS]
        apex_err = prm[b, C_APEX_ERR]
        grip = prm[b, C_GRIP_FRAC]
        # Internal model: where the bike will be when a new lean takes effect (after the
        # perception delay and the roll lag), holding the perceived speed and lean; the Frenet
        # kinematics are integrated in PREDICTION_STEPS steps because the road's curvature
        # changes along the way (turn-in).
        k_path = g * math.tan(rollp) / max(vp * vp, 1.0)
        k_path = min(max(k_path, -k_cap), k_cap)
        h = (delay * dt + tau_roll) / PREDICTION_STEPS
        sa, n_pred, psi_pred = sp, np_, psip
        for _ in range(PREDICTION_STEPS):
            k_ref = interp_periodic(k_centre, sa, ds, True)
            s_rate = vp * math.cos(psi_pred) / max(1.0 - n_pred * k_ref, moto.MIN_FRENET_SCALE)
            psi_pred += h * (vp * k_path - k_ref * s_rate)
            n_pred += h * vp * math.sin(psi_pred)
            sa += h * s_rate
        look = max(vp * prm[b, C_PREVIEW], MIN_PREVIEW_M)

        # Lean: preview controller around the intended line.
        n0 = intended_offset(sa, bias, apex_err, shift, off_line, apex_outside, w_left, w_right, ds)
        n1 = intended_offset(
            sa + ds, bias, apex_err, shift, off_line, apex_outside, w_left, w_right, ds
        )
        err = (n0 - n_pred) + look * ((n1 - n0) / ds - psi_pred)
        k_ff = (1.0 - bias) * interp_periodic(k_line, sa, ds, True)
        k_ff += bias * interp_periodic(k_centre, sa, ds, True)
        k_cmd = k_ff + 2.0 * err / (look * look)
        # A rider knows its own jitter and keeps NOISE_MARGIN_SIGMAS of it inside its grip.
        lean_noise = prm[b, C_LEAN_NOISE]
        lean_cap = min(math.atan(grip * mu) - NOISE_MARGIN_SIGMAS * lean_noise, lean_max)
        v_lean = max(vp + axp * (delay * dt + tau_roll), 0.0)  # the speed when it bites
        lean = math.atan(v_lean * v_lean * k_cmd / g) + lean_bias
        lean = min(max(lean, -lean_cap), lean_cap)
        # The rider budgets grip for the largest of the lean it feels, the lean it asked for last
        # step (``out`` still holds it) and the lean it asks for now.
        ay = g * math.tan(max(abs(rollp), abs(out[b, 2]), abs(lean)))
        lean += _noise(t_s[b], noise_w[b, NOISE_LEAN], noise_phase[b, NOISE_LEAN], lean_noise)

        # Speed: the target at two look-ahead points (the near one keeps the rider braking in
        # time where the target falls steeply toward the end of the window), inside the grip.
        level = prm[b, C_LEVEL]
        brake_err = prm[b, C_BRAKE_ERR]
        a_des = np.inf
        for frac in (0.5, 1.0):
            vt = speed_scale * target_speed(sa + frac * look, level, bias, brake_err, table, ds)
            a_des = min(a_des, (vt * vt - vp * vp) / (2.0 * frac * look))
        ax_tyre = a_des + p[moto.P_DRAG_1PM] * vp * vp + p[moto.P_ROLLING_MPS2]
        drive_cap = min(p[moto.P_WHEELIE_MPS2], mu_g)
        if vp * drive_cap > p[moto.P_POWER_PER_MASS_WPKG]:
            drive_cap = p[moto.P_POWER_PER_MASS_WPKG] / vp
        brake_cap = p[moto.P_BRAKE_LIMIT_MPS2]
        budget = (grip * mu_g) ** 2 - ay * ay
        a_grip = math.sqrt(budget) if budget > 0.0 else 0.0
        a_drive = a_grip - NOISE_MARGIN_SIGMAS * prm[b, C_THROTTLE_NOISE] * drive_cap
        a_brake = a_grip - NOISE_MARGIN_SIGMAS * prm[b, C_BRAKE_NOISE] * brake_cap
        ax_tyre = min(max(ax_tyre, -max(a_brake, 0.0)), max(a_drive, 0.0))
        throttle = 0.0
        brake = 0.0
        if ax_tyre >= 0.0:
            throttle = ax_tyre / drive_cap
            throttle += _noise(
                t_s[b],
                noise_w[b, NOISE_THROTTLE],
                noise_phase[b, NOISE_THROTTLE],
                prm[b, C_THROTTLE_NOISE],
            )
        else:
            brake = -ax_tyre / brake_cap
            brake += _noise(
                t_s[b], noise_w[b, NOISE_BRAKE], noise_phase[b, NOISE_BRAKE], prm[b, C_BRAKE_NOISE]
            )
        out[b, 0] = min(max(throttle, 0.0), 1.0)
        out[b, 1] = min(max(brake, 0.0), 1.0)
        out[b, 2] = lean
    return spent


class RiderBatch:
    """The riders of a motorcycle :class:`~apexrl.sim.BatchSim`, one per vehicle, each with its own
    :class:`RiderParams` per episode.

    Example::

        sim = BatchSim(track, "motorcycle", batch_size=64)
        riders = RiderBatch(sim)
        riders.start(np.arange(64), [sample_rider("amateur", r) for r in rngs], rngs)
        for _ in range(1000):
            sim.step(riders.act(cues_hz))          # cues_hz: (64, 3) [left, right, frequency_hz]

    Args:
        sim: the motorcycle simulator the riders ride in (closed track).
        profile: the track's :class:`TrackProfile`; default
            ``track_profile(sim.track, sim.params)``.
    """

    def __init__(self, sim: BatchSim, profile: TrackProfile | None = None) -> None:
        if sim.vehicle != "motorcycle":
            raise ValueError(f"riders ride motorcycles, not a {sim.vehicle!r} simulator")
        profile = track_profile(sim.track, sim.params) if profile is None else profile
        if profile.track is not sim.track and profile.track.name != sim.track.name:
            raise ValueError("the profile was built for another track than the simulator's")
        self.sim = sim
        self.profile = profile
        b = self.batch_size = sim.batch_size
        self.dt_s = sim.dt_s
        self._prm = np.zeros((b, N_COLUMNS))
        self._params: list[RiderParams | None] = [None] * b
        self._perc = np.zeros((b, RING_SIZE, _N_PERC))
        self._cue_buf = np.zeros((b, RING_SIZE, 3))
        self._head = 0
        self._resp = np.zeros((b, 2))
        self._side = np.zeros(b, dtype=np.int64)
        self._misread = np.zeros(b, dtype=np.int64)
        self._pool = np.zeros((b, MISREAD_POOL))
        self._pool_i = np.full(b, MISREAD_POOL, dtype=np.int64)
        self._noise_w = np.zeros((b, 3, NOISE_SINES))
        self._noise_phase = np.zeros((b, 3, NOISE_SINES))
        self._rngs: list[np.random.Generator | None] = [None] * b
        self._actions = np.zeros((b, 3))
        self._all_active = np.ones(b, dtype=np.bool_)
        self._all_started = False
        self._bike = moto.params_array(profile.bike)
        self._track_args = (*profile.kernel_arrays(), profile.track.ds_m, self.dt_s, self._bike)

    @property
    def params(self) -> list[RiderParams | None]:
        """The current :class:`RiderParams` of every rider (None before its first start)."""
        return list(self._params)

    @property
    def line_bias(self) -> np.ndarray:
        """``(B,)`` line bias of every rider (a copy)."""
        return self._prm[:, C_BIAS].copy()

    @property
    def grip_fraction(self) -> np.ndarray:
        """``(B,)`` grip fraction of every rider (a copy)."""
        return self._prm[:, C_GRIP_FRAC].copy()

    @property
    def haptic_latency_s(self) -> np.ndarray:
        """``(B,)`` haptic latency of every rider as simulated (whole control steps), s."""
        return self._prm[:, C_HAPTIC_STEPS] * self.dt_s

    def start(
        self, indices: np.ndarray, params: list[RiderParams], rngs: list[np.random.Generator]
    ) -> None:
        """Start new episodes for riders ``indices (K,)``: new parameters, fresh memory, input
        noise and misread draws from their generators ``rngs`` (one per index, in order), and a
        rolling start in the simulator (its rows are reset): on the start line, on the intended
        line, at the target speed, at the steady lean of the intended line."""
        idx = np.asarray(indices, dtype=np.int64)
        if not (len(params) == len(rngs) == idx.shape[0]):
            raise ValueError("give one RiderParams and one generator per index")
        for i, prm, rng in zip(idx, params, rngs, strict=True):
            if not isinstance(prm, RiderParams):
                raise TypeError(f"params must be RiderParams, got {type(prm).__name__}")
            self._prm[i] = _columns(prm, self.dt_s)
            self._params[i] = prm
            self._rngs[i] = rng
            hz = rng.uniform(NOISE_MIN_HZ, prm.noise_bandwidth_hz, size=(3, NOISE_SINES))
            self._noise_w[i] = 2.0 * np.pi * hz
            self._noise_phase[i] = rng.uniform(0.0, 2.0 * np.pi, size=(3, NOISE_SINES))
            self._pool[i] = rng.random(MISREAD_POOL)
            self._pool_i[i] = 0
        self._resp[idx] = 0.0
        self._side[idx] = 0
        self._misread[idx] = 0
        self._cue_buf[idx] = 0.0
        s, n, psi, v, roll = _start_pose(self.profile, self._prm[idx])
        sim = self.sim
        sim.reset(idx, s_m=s, n_m=n, speed_mps=v, heading_error_rad=psi)
        # The simulator resets upright; lean the rows into their steady turn (coordinated:
        # a_y = g tan(roll)).
        state = sim.state
        g = self.profile.bike.g_mps2
        state[idx, moto.ROLL_RAD] = roll
        state[idx, moto.AY_MPS2] = g * np.tan(roll)
        state[idx, moto.FRICTION_USAGE] = np.abs(np.tan(roll)) / self.profile.bike.mu
        columns = [moto.S_M, moto.N_M, moto.HEADING_ERROR_RAD, moto.SPEED_MPS, moto.ROLL_RAD]
        self._perc[idx] = 0.0  # the rolling start has no longitudinal acceleration yet
        self._perc[idx, :, : len(columns)] = state[idx][:, None, columns]
        self._actions[idx] = 0.0
        self._actions[idx, 2] = roll

    def act(self, cues_hz: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
        """Motorcycle actions ``(B, 3)`` [throttle, brake, lean_cmd_rad] for the simulator's
        current state and this step's cues ``(B, 3)`` [left 0..1, right 0..1, frequency_hz].

        ``active``: optional ``(B,)`` bool; inactive riders keep their memory untouched and get
        zero actions (a vector env about to restart them). The returned array is reused by the
        next call.
        """
        if not self._all_started:
            self._all_started = all(p is not None for p in self._params)
            if not self._all_started:
                raise RuntimeError("start every rider (RiderBatch.start) before asking it to act")
        cues = np.ascontiguousarray(cues_hz, dtype=np.float64)
        if cues.shape != (self.batch_size, 3):
            raise ValueError(f"cues_hz must have shape ({self.batch_size}, 3), got {cues.shape}")
        if active is None:
            active = self._all_active
        self._head = (self._head + 1) % RING_SIZE
        tel = self.sim.telemetry
        spent = rider_kernel(
            self.sim.state,
            tel.crashed,
            tel.t_s,
            active,
            cues,
            self._prm,
            self._perc,
            self._cue_buf,
            self._head,
            self._resp,
            self._side,
            self._misread,
            self._pool,
            self._pool_i,
            self._noise_w,
            self._noise_phase,
            *self._track_args,
            self._actions,
        )
        if spent:  # rare: a pool lasts MISREAD_POOL cue-side changes
            for i in np.flatnonzero(self._pool_i >= MISREAD_POOL):
                self._pool[i] = self._rngs[i].random(MISREAD_POOL)
                self._pool_i[i] = 0
        return self._actions


def _columns(prm: RiderParams, dt_s: float) -> np.ndarray:
    row = np.zeros(N_COLUMNS)
    row[C_DELAY_STEPS] = round(prm.reaction_delay_s / dt_s)
    row[C_HAPTIC_STEPS] = round(prm.haptic_latency_s / dt_s)
    row[C_LEAN_NOISE] = prm.lean_noise_rad
    row[C_THROTTLE_NOISE] = prm.throttle_noise
    row[C_BRAKE_NOISE] = prm.brake_noise
    row[C_BRAKE_ERR] = prm.braking_point_error_m
    row[C_APEX_ERR] = prm.apex_error_m
    row[C_LEVEL] = level_position(prm.speed_fraction)
    row[C_GRIP_FRAC] = prm.grip_fraction
    row[C_BIAS] = prm.line_bias
    row[C_PREVIEW] = prm.preview_s
    row[C_COMPLIANCE] = prm.haptic_compliance
    row[C_MISREAD] = prm.misread_prob
    if max(row[C_DELAY_STEPS], row[C_HAPTIC_STEPS]) > RING_SIZE - 1:
        raise ValueError(
            f"a delay of {max(prm.reaction_delay_s, prm.haptic_latency_s)} s is more than "
            f"{RING_SIZE - 1} control steps of {dt_s} s; use a shorter delay"
        )
    return row


def _start_pose(profile: TrackProfile, prm: np.ndarray) -> tuple[np.ndarray, ...]:
    k = prm.shape[0]
    out = np.empty((5, k))
    _start_kernel(
        prm, *profile.kernel_arrays(), profile.track.ds_m, moto.params_array(profile.bike), out
    )
    return tuple(out)


@nb.njit(**_NUMBA)
def _start_kernel(
    prm: np.ndarray,
    off_line: np.ndarray,
    k_line: np.ndarray,
    k_centre: np.ndarray,
    table: np.ndarray,
    apex_outside: np.ndarray,
    w_left: np.ndarray,
    w_right: np.ndarray,
    ds: float,
    p: np.ndarray,
    out: np.ndarray,
) -> None:
    g = p[moto.P_G_MPS2]
    for b in range(prm.shape[0]):
        bias = prm[b, C_BIAS]
        apex_err = prm[b, C_APEX_ERR]
        n0 = intended_offset(0.0, bias, apex_err, 0.0, off_line, apex_outside, w_left, w_right, ds)
        n1 = intended_offset(ds, bias, apex_err, 0.0, off_line, apex_outside, w_left, w_right, ds)
        v = target_speed(0.0, prm[b, C_LEVEL], bias, prm[b, C_BRAKE_ERR], table, ds)
        kappa = (1.0 - bias) * k_line[0] + bias * k_centre[0]
        lean_cap = min(
            math.atan(prm[b, C_GRIP_FRAC] * p[moto.P_MU_G_MPS2] / g), p[moto.P_LEAN_MAX_RAD]
        )
        out[0, b] = 0.0
        out[1, b] = n0
        out[2, b] = math.atan((n1 - n0) / ds)
        out[3, b] = v
        out[4, b] = min(max(math.atan(v * v * kappa / g), -lean_cap), lean_cap)
