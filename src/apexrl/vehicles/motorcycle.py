"""Motorcycle dynamics: a point mass with roll in the track's Frenet frame (physics.md section 3).

Pure numba functions on ONE vehicle's state row; the batched simulator (:mod:`apexrl.sim`) calls
them in a loop. Conventions follow :mod:`apexrl.tracks.track`: ``s`` along the centre line, ``n``
positive to the left, heading error and roll positive to the left (counter-clockwise).

State row, float64 ``(STATE_SIZE,)``:

  0  s_m                m      distance along the centre line (wrapped to [0, L) on closed
                                tracks; on open tracks it may leave [0, L], which ends the run)
  1  n_m                m      lateral offset from the centre line, + left
  2  heading_error_rad  rad    velocity heading minus centre-line heading, in [-pi, pi)
  3  speed_mps          m/s    speed, never negative
  4  roll_rad           rad    lean angle, + = leaning left (turning left)
  5  ax_tyre_mps2       m/s^2  longitudinal tyre acceleration of the last sub-step (drive
                                minus brake; drag and rolling resistance excluded)
  6  ax_mps2            m/s^2  net longitudinal acceleration of the last sub-step
  7  ay_mps2            m/s^2  lateral acceleration v^2 * kappa_path of the last sub-step
  8  friction_usage     1      sqrt((ax_tyre/(mu g))^2 + (ay/(mu g))^2); > 1 is a lowside

Action, float64 ``(ACTION_SIZE,)``: ``[throttle (0..1), brake (0..1), lean_cmd_rad]``. Throttle and
brake are clipped to [0, 1], the lean command to +-lean_max_rad.

Model, per sub-step of length h (semi-implicit Euler: speed and roll first, then the kinematics
with the new speed):

- roll follows the command with a first-order lag (``roll_time_constant_s``, exact exponential
  discretisation), rate-limited to +-``roll_rate_max_radps`` and clipped to +-``lean_max_rad``;
- drive = throttle * min(P/(m v), g b/h, mu g); brake = brake * min(brake_max, g (L-b)/h) while
  moving; a_x = drive - brake - k v^2 - c_rr g (resistances only while moving); v >= 0;
- path curvature of a steady coordinated turn kappa_path = g tan(roll) / v^2, capped at
  1/``min_turn_radius_m`` (the formula diverges at v -> 0); a_y = v^2 kappa_path;
- Frenet kinematics with the reference curvature kappa_ref(s):
  s' = v cos(psi) / (1 - n kappa_ref), n' = v sin(psi), psi' = v kappa_path - kappa_ref s'.
  The denominator is floored at ``MIN_FRENET_SCALE``: n kappa_ref -> 1 means the vehicle sits at
  the centre of curvature, which is far off any real track.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from apexrl.tracks.geometry import interp_periodic
from apexrl.vehicles.car import wrap_near
from apexrl.vehicles.params import MotorcycleParams

# error_model="numpy": a float division by zero gives inf/nan instead of raising. Every
# denominator here is positive by construction; the default model would add a check and an
# exception path to each division in the per-vehicle loops.
_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

# State row layout (see module docstring).
S_M = 0
N_M = 1
HEADING_ERROR_RAD = 2
SPEED_MPS = 3
ROLL_RAD = 4
AX_TYRE_MPS2 = 5
AX_MPS2 = 6
AY_MPS2 = 7
FRICTION_USAGE = 8
STATE_SIZE = 9
STATE_FIELDS = (
    "s_m",
    "n_m",
    "heading_error_rad",
    "speed_mps",
    "roll_rad",
    "ax_tyre_mps2",
    "ax_mps2",
    "ay_mps2",
    "friction_usage",
)

# Action layout.
THROTTLE = 0
BRAKE = 1
LEAN_CMD_RAD = 2
ACTION_SIZE = 3
ACTION_FIELDS = ("throttle", "brake", "lean_cmd_rad")

# Flat parameter array layout (built by params_array; derived quantities precomputed).
P_G_MPS2 = 0
P_MU_G_MPS2 = 1
P_POWER_PER_MASS_WPKG = 2
P_WHEELIE_MPS2 = 3
P_BRAKE_LIMIT_MPS2 = 4
P_DRAG_1PM = 5
P_ROLLING_MPS2 = 6
P_LEAN_MAX_RAD = 7
P_ROLL_RATE_MAX_RADPS = 8
P_ROLL_TAU_S = 9
P_KAPPA_MAX_1PM = 10
PARAMS_SIZE = 11

# Crash codes returned by motorcycle_step (apexrl.sim.CrashCause uses the same numbers).
CRASH_NONE = 0
CRASH_LOWSIDE = 1
CRASH_EXCURSION = 2

MIN_FRENET_SCALE = 0.1


def params_array(params: MotorcycleParams) -> np.ndarray:
    """The flat float64 ``(PARAMS_SIZE,)`` parameter array the numba functions take."""
    p = np.empty(PARAMS_SIZE)
    p[P_G_MPS2] = params.g_mps2
    p[P_MU_G_MPS2] = params.mu * params.g_mps2
    p[P_POWER_PER_MASS_WPKG] = params.power_w / params.mass_kg
    p[P_WHEELIE_MPS2] = params.wheelie_ax_max_mps2
    p[P_BRAKE_LIMIT_MPS2] = min(params.brake_max_mps2, params.stoppie_ax_max_mps2)
    p[P_DRAG_1PM] = params.drag_per_mass_1pm
    p[P_ROLLING_MPS2] = params.rolling_resistance * params.g_mps2
    p[P_LEAN_MAX_RAD] = params.lean_max_rad
    p[P_ROLL_RATE_MAX_RADPS] = params.roll_rate_max_radps
    p[P_ROLL_TAU_S] = params.roll_time_constant_s
    p[P_KAPPA_MAX_1PM] = 1.0 / params.min_turn_radius_m
    return p


@nb.njit(**_NUMBA)
def path_curvature(speed_mps: float, roll_rad: float, p: np.ndarray) -> float:
    """Curvature (1/m, + left) of a steady coordinated turn at this speed and roll, capped."""
    demand = p[P_G_MPS2] * math.tan(roll_rad)
    cap = p[P_KAPPA_MAX_1PM]
    v2 = speed_mps * speed_mps
    if abs(demand) >= cap * v2:
        return math.copysign(cap, demand)
    return demand / v2


@nb.njit(**_NUMBA)
def motorcycle_substep(
    x: np.ndarray,
    throttle: float,
    brake: float,
    lean_cmd_rad: float,
    p: np.ndarray,
    kappa_ref_1pm: float,
    dt_s: float,
    roll_gain: float,
) -> None:
    """Advance one state row ``x`` by ``dt_s`` in place (inputs already clipped).

    ``roll_gain`` = 1 - exp(-dt_s / roll_time_constant_s), precomputed by the caller. The track
    enters only through ``kappa_ref_1pm`` (reference curvature at the row's ``s``); ``s`` is not
    wrapped here.
    """
    # Roll: first-order lag towards the command, rate- then angle-limited.
    lean_max = p[P_LEAN_MAX_RAD]
    roll = x[ROLL_RAD]
    d_roll = (lean_cmd_rad - roll) * roll_gain
    d_roll_max = p[P_ROLL_RATE_MAX_RADPS] * dt_s
    d_roll = min(max(d_roll, -d_roll_max), d_roll_max)
    roll = min(max(roll + d_roll, -lean_max), lean_max)

    # Longitudinal: tyre force (drive minus brake) and resistances; speed cannot go negative.
    v = x[SPEED_MPS]
    mu_g = p[P_MU_G_MPS2]
    drive_cap = min(p[P_WHEELIE_MPS2], mu_g)
    if v * drive_cap > p[P_POWER_PER_MASS_WPKG]:
        drive_cap = p[P_POWER_PER_MASS_WPKG] / v
    ax_tyre = throttle * drive_cap
    resist = 0.0
    if v > 0.0:
        ax_tyre -= brake * p[P_BRAKE_LIMIT_MPS2]
        resist = p[P_DRAG_1PM] * v * v + p[P_ROLLING_MPS2]
    ax = ax_tyre - resist
    v = max(v + ax * dt_s, 0.0)

    # Lateral: steady coordinated turn at the new speed and roll.
    kappa_path = path_curvature(v, roll, p)
    ay = v * v * kappa_path

    # Frenet kinematics, heading first, then position with the new heading.
    n = x[N_M]
    psi = x[HEADING_ERROR_RAD]
    scale = max(1.0 - n * kappa_ref_1pm, MIN_FRENET_SCALE)
    psi = wrap_near(psi + dt_s * (v * kappa_path - kappa_ref_1pm * v * math.cos(psi) / scale))
    x[S_M] += dt_s * v * math.cos(psi) / scale
    x[N_M] = n + dt_s * v * math.sin(psi)
    x[HEADING_ERROR_RAD] = psi
    x[SPEED_MPS] = v
    x[ROLL_RAD] = roll
    x[AX_TYRE_MPS2] = ax_tyre
    x[AX_MPS2] = ax
    x[AY_MPS2] = ay
    x[FRICTION_USAGE] = math.sqrt((ax_tyre / mu_g) ** 2 + (ay / mu_g) ** 2)


@nb.njit(**_NUMBA)
def motorcycle_step(
    x: np.ndarray,
    throttle: float,
    brake: float,
    lean_cmd_rad: float,
    p: np.ndarray,
    curvature_1pm: np.ndarray,
    w_left_m: np.ndarray,
    w_right_m: np.ndarray,
    ds_m: float,
    length_m: float,
    closed: bool,
    dt_s: float,
    substeps: int,
) -> tuple[int, float]:
    """Advance one state row ``x`` by ``dt_s`` in ``substeps`` sub-steps, in place.

    Track arrays are the per-sample ``(M,)`` curvature (1/m) and half-widths (m) of a track
    resampled at ``ds_m``. Inputs are clipped (module docstring). After every sub-step the row is
    checked: friction usage > 1 is a lowside, ``n`` outside [-w_right, w_left] an excursion; on
    either the vehicle stops (speed 0) and the remaining sub-steps are skipped.

    Returns ``(crash_code, simulated_time_s)``: ``CRASH_NONE``/``CRASH_LOWSIDE``/``CRASH_EXCURSION``
    and the time actually integrated (``dt_s`` unless a crash cut the step short).
    """
    throttle = min(max(throttle, 0.0), 1.0)
    brake = min(max(brake, 0.0), 1.0)
    lean_max = p[P_LEAN_MAX_RAD]
    lean_cmd_rad = min(max(lean_cmd_rad, -lean_max), lean_max)
    h = dt_s / substeps
    roll_gain = 1.0 - math.exp(-h / p[P_ROLL_TAU_S]) if p[P_ROLL_TAU_S] > 0.0 else 1.0
    for k in range(substeps):
        kappa_ref = interp_periodic(curvature_1pm, x[S_M], ds_m, closed)
        motorcycle_substep(x, throttle, brake, lean_cmd_rad, p, kappa_ref, h, roll_gain)
        if closed:
            # One sub-step moves far less than a lap: a branch wraps s back into [0, L).
            if x[S_M] >= length_m:
                x[S_M] -= length_m
            elif x[S_M] < 0.0:
                x[S_M] += length_m
        crash = CRASH_NONE
        if x[FRICTION_USAGE] > 1.0:
            crash = CRASH_LOWSIDE
        else:
            n = x[N_M]
            if n > interp_periodic(w_left_m, x[S_M], ds_m, closed):
                crash = CRASH_EXCURSION
            elif -n > interp_periodic(w_right_m, x[S_M], ds_m, closed):
                crash = CRASH_EXCURSION
        if crash != CRASH_NONE:
            x[SPEED_MPS] = 0.0
            return crash, (k + 1) * h
    return CRASH_NONE, dt_s
