"""Batched numba kernels: step B vehicles on one track and fill their telemetry in one call.

Every kernel takes plain arrays (numba cannot take Python objects) packed into a few 2D buffers
so that one call costs about a microsecond of dispatch:

- ``state (B, S)`` float64: one row per vehicle, layout of :mod:`apexrl.vehicles.motorcycle` or
  :mod:`apexrl.vehicles.car`;
- ``actions (B, A)`` float64: the vehicle module's action layout;
- ``p (P,)`` float64: the vehicle module's ``params_array``;
- the track as ``Track.kernel_arrays()`` (``xy (M, 2)`` m, and ``(M,)`` heading rad,
  curvature 1/m, w_left m, w_right m; each kernel takes the ones it needs), ``ds_m``,
  ``length_m`` and ``closed``;
- telemetry ``telf (N_FLOAT, B)`` float64, ``teli (N_INT, B)`` int64, ``telb (N_BOOL, B)`` bool,
  one row per field (rows are the contiguous ``(B,)`` arrays :class:`apexrl.sim.Telemetry` shows);
- ``lap (N_LAP, B)`` float64: lap bookkeeping that is not telemetry.

The telemetry buffers double as per-vehicle memory (time since reset, lap count, crash flag).
Each step kernel comes in a serial and a ``parallel=True`` (``prange``) variant with identical
per-vehicle arithmetic, so results do not depend on the variant; the simulator picks by batch
size because waking threads costs more than stepping a small batch. A step kernel first scans the
actions and, if one is not finite, returns its flat index without touching anything (else -1).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from apexrl.tracks.geometry import interp_periodic, wrap_angle
from apexrl.vehicles import car as carm
from apexrl.vehicles import motorcycle as moto

# error_model="numpy": a float division by zero gives inf/nan instead of raising. Every
# denominator here is positive by construction; the default model would add a check and an
# exception path to each division in the per-vehicle loops.
_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

# Crash causes (apexrl.sim.CrashCause mirrors these).
CRASH_NONE = moto.CRASH_NONE
CRASH_LOWSIDE = moto.CRASH_LOWSIDE
CRASH_OFF_TRACK = moto.CRASH_EXCURSION
CRASH_TRACK_END = 3

# Telemetry rows: floats, ints, bools.
F_T_S = 0
F_SPEED_MPS = 1
F_ROLL_RAD = 2
F_LATERAL_G = 3
F_LONGITUDINAL_G = 4
F_FRICTION_USAGE = 5
F_S_M = 6
F_N_M = 7
F_HEADING_ERROR_RAD = 8
F_PROGRESS = 9
F_LAST_LAP_TIME_S = 10
F_X_M = 11
F_Y_M = 12
F_YAW_RAD = 13
F_STEERING_RAD = 14
F_THROTTLE = 15
F_BRAKE = 16
N_FLOAT = 17
I_LAP_COUNT = 0
I_CRASH_CAUSE = 1
N_INT = 2
B_LAP_COMPLETED = 0
B_OFF_TRACK = 1
B_CRASHED = 2
B_SLIDING = 3
N_BOOL = 4

# Lap bookkeeping rows: distance driven since reset (m), time of the last line crossing (s).
L_DIST_M = 0
L_CROSS_T_S = 1
N_LAP = 2


# ---------------------------------------------------------------------- shared per-vehicle parts
@nb.njit(**_NUMBA)
def _first_bad(actions: np.ndarray) -> int:
    flat = actions.ravel()
    for k in range(flat.shape[0]):
        if not math.isfinite(flat[k]):
            return k
    return -1


@nb.njit(**_NUMBA)
def _clear_run(b: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray, lap: np.ndarray):
    """Forget vehicle b's run: time, laps, crash (the start of a new episode)."""
    telf[F_T_S, b] = 0.0
    telf[F_PROGRESS, b] = 0.0
    telf[F_LAST_LAP_TIME_S, b] = np.nan
    telf[F_THROTTLE, b] = 0.0
    telf[F_BRAKE, b] = 0.0
    teli[I_LAP_COUNT, b] = 0
    teli[I_CRASH_CAUSE, b] = CRASH_NONE
    telb[B_LAP_COMPLETED, b] = False
    telb[B_CRASHED, b] = False
    telb[B_SLIDING, b] = False
    lap[L_DIST_M, b] = 0.0
    lap[L_CROSS_T_S, b] = 0.0


@nb.njit(**_NUMBA)
def _advance_laps(
    b: int,
    s0_m: float,
    s1_m: float,
    elapsed_s: float,
    length_m: float,
    closed: bool,
    telf: np.ndarray,
    teli: np.ndarray,
    telb: np.ndarray,
    lap: np.ndarray,
) -> None:
    """Progress, time and lap timing after a step that moved vehicle b from s0 to s1.

    A lap completes when progress (laps since reset) reaches the next integer; the crossing time
    is interpolated linearly in progress within the step, and the lap time is measured from the
    previous crossing (the first from the reset).
    """
    d = s1_m - s0_m
    if closed:
        d = (d + 0.5 * length_m) % length_m - 0.5 * length_m
    dist0 = lap[L_DIST_M, b]
    dist1 = dist0 + d
    lap[L_DIST_M, b] = dist1
    p0 = dist0 / length_m
    p1 = dist1 / length_m
    t0 = telf[F_T_S, b]
    target = teli[I_LAP_COUNT, b] + 1
    done = p1 >= target and p0 < target
    if done:
        t_cross = t0 + elapsed_s * (target - p0) / (p1 - p0)
        telf[F_LAST_LAP_TIME_S, b] = t_cross - lap[L_CROSS_T_S, b]
        lap[L_CROSS_T_S, b] = t_cross
        teli[I_LAP_COUNT, b] = target
    telb[B_LAP_COMPLETED, b] = done
    telf[F_PROGRESS, b] = p1
    telf[F_T_S, b] = t0 + elapsed_s


@nb.njit(**_NUMBA)
def _track_end(s_m: float, length_m: float, closed: bool) -> bool:
    return not closed and (s_m < 0.0 or s_m > length_m)


@nb.njit(**_NUMBA)
def _reported_s(s_m: float, length_m: float, closed: bool) -> float:
    return s_m if closed else min(max(s_m, 0.0), length_m)


# ---------------------------------------------------------------------- motorcycle
@nb.njit(**_NUMBA)
def _moto_telemetry(
    b: int, x: np.ndarray, p: np.ndarray, w_left: np.ndarray, w_right: np.ndarray, ds_m: float,
    length_m: float, closed: bool, telf: np.ndarray, telb: np.ndarray,
) -> None:  # fmt: skip
    g = p[moto.P_G_MPS2]
    s = x[moto.S_M]
    n = x[moto.N_M]
    telf[F_SPEED_MPS, b] = x[moto.SPEED_MPS]
    telf[F_ROLL_RAD, b] = x[moto.ROLL_RAD]
    telf[F_LATERAL_G, b] = x[moto.AY_MPS2] / g
    telf[F_LONGITUDINAL_G, b] = x[moto.AX_MPS2] / g
    telf[F_FRICTION_USAGE, b] = x[moto.FRICTION_USAGE]
    telf[F_S_M, b] = _reported_s(s, length_m, closed)
    telf[F_N_M, b] = n
    telf[F_HEADING_ERROR_RAD, b] = x[moto.HEADING_ERROR_RAD]
    telb[B_OFF_TRACK, b] = n > interp_periodic(w_left, s, ds_m, closed) or (
        -n > interp_periodic(w_right, s, ds_m, closed)
    )


@nb.njit(**_NUMBA)
def motorcycle_vehicle_step(
    b: int, state: np.ndarray, actions: np.ndarray, p: np.ndarray, curvature: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    dt_s: float, substeps: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray,
    lap: np.ndarray,
) -> None:  # fmt: skip
    """Step motorcycle b (row b of every buffer); a crashed vehicle stays frozen."""
    if telb[B_CRASHED, b]:
        telb[B_LAP_COMPLETED, b] = False
        return
    x = state[b]
    s0 = x[moto.S_M]
    throttle = actions[b, moto.THROTTLE]
    brake = actions[b, moto.BRAKE]
    cause, elapsed = moto.motorcycle_step(
        x, throttle, brake, actions[b, moto.LEAN_CMD_RAD], p, curvature, w_left, w_right, ds_m,
        length_m, closed, dt_s, substeps,
    )  # fmt: skip
    if cause == CRASH_NONE and _track_end(x[moto.S_M], length_m, closed):
        cause = CRASH_TRACK_END
        x[moto.SPEED_MPS] = 0.0
    _advance_laps(b, s0, x[moto.S_M], elapsed, length_m, closed, telf, teli, telb, lap)
    _moto_telemetry(b, x, p, w_left, w_right, ds_m, length_m, closed, telf, telb)
    telf[F_THROTTLE, b] = min(max(throttle, 0.0), 1.0)
    telf[F_BRAKE, b] = min(max(brake, 0.0), 1.0)
    if cause != CRASH_NONE:
        telb[B_CRASHED, b] = True
        teli[I_CRASH_CAUSE, b] = cause


@nb.njit(**_NUMBA)
def step_motorcycle_serial(
    state: np.ndarray, actions: np.ndarray, p: np.ndarray, curvature: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    dt_s: float, substeps: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray,
    lap: np.ndarray,
) -> int:  # fmt: skip
    """Step every motorcycle, one after the other. Returns -1, or the flat index of a bad action."""
    bad = _first_bad(actions)
    if bad >= 0:
        return bad
    for b in range(state.shape[0]):
        motorcycle_vehicle_step(
            b, state, actions, p, curvature, w_left, w_right, ds_m, length_m, closed, dt_s,
            substeps, telf, teli, telb, lap,
        )  # fmt: skip
    return -1


@nb.njit(parallel=True, **_NUMBA)
def step_motorcycle_parallel(
    state: np.ndarray, actions: np.ndarray, p: np.ndarray, curvature: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    dt_s: float, substeps: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray,
    lap: np.ndarray,
) -> int:  # fmt: skip
    """:func:`step_motorcycle_serial` with the vehicles spread over threads (``prange``)."""
    bad = _first_bad(actions)
    if bad >= 0:
        return bad
    for b in nb.prange(state.shape[0]):
        motorcycle_vehicle_step(
            b, state, actions, p, curvature, w_left, w_right, ds_m, length_m, closed, dt_s,
            substeps, telf, teli, telb, lap,
        )  # fmt: skip
    return -1


@nb.njit(**_NUMBA)
def reset_motorcycle_rows(
    idx: np.ndarray, s_m: np.ndarray, n_m: np.ndarray, heading_error_rad: np.ndarray,
    speed_mps: np.ndarray, state: np.ndarray, p: np.ndarray, w_left: np.ndarray,
    w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    telf: np.ndarray, teli: np.ndarray, telb: np.ndarray, lap: np.ndarray,
) -> None:  # fmt: skip
    """Place motorcycles ``idx (K,)`` upright at the given ``(K,)`` Frenet poses; clear runs."""
    for k in range(idx.shape[0]):
        b = idx[k]
        x = state[b]
        x[:] = 0.0
        x[moto.S_M] = s_m[k] % length_m if closed else s_m[k]
        x[moto.N_M] = n_m[k]
        x[moto.HEADING_ERROR_RAD] = wrap_angle(heading_error_rad[k])
        x[moto.SPEED_MPS] = speed_mps[k]
        _clear_run(b, telf, teli, telb, lap)
        _moto_telemetry(b, x, p, w_left, w_right, ds_m, length_m, closed, telf, telb)


# ---------------------------------------------------------------------- car
@nb.njit(**_NUMBA)
def _car_telemetry(
    b: int, x: np.ndarray, p: np.ndarray, w_left: np.ndarray, w_right: np.ndarray, ds_m: float,
    length_m: float, closed: bool, telf: np.ndarray, telb: np.ndarray,
) -> None:  # fmt: skip
    g = p[carm.P_G_MPS2]
    telf[F_SPEED_MPS, b] = x[carm.SPEED_MPS]
    telf[F_ROLL_RAD, b] = 0.0
    telf[F_LATERAL_G, b] = x[carm.AY_MPS2] / g
    telf[F_LONGITUDINAL_G, b] = x[carm.AX_MPS2] / g
    telf[F_FRICTION_USAGE, b] = x[carm.GRIP_DEMAND]
    telf[F_S_M, b] = _reported_s(x[carm.S_M], length_m, closed)
    telf[F_N_M, b] = x[carm.N_M]
    telf[F_HEADING_ERROR_RAD, b] = x[carm.HEADING_ERROR_RAD]
    telf[F_X_M, b] = x[carm.X_M]
    telf[F_Y_M, b] = x[carm.Y_M]
    telf[F_YAW_RAD, b] = x[carm.YAW_RAD]
    telf[F_STEERING_RAD, b] = x[carm.STEERING_RAD]
    telb[B_OFF_TRACK, b] = carm.car_off_track(x, p, w_left, w_right, ds_m, closed)


@nb.njit(**_NUMBA)
def car_vehicle_step(
    b: int, state: np.ndarray, actions: np.ndarray, p: np.ndarray, xy: np.ndarray,
    heading: np.ndarray, w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float,
    closed: bool, dt_s: float, substeps: int,
    telf: np.ndarray, teli: np.ndarray, telb: np.ndarray, lap: np.ndarray,
) -> None:  # fmt: skip
    """Step car b (row b of every buffer); a crashed vehicle stays frozen.

    The projection searches the segments the car can have passed this step (with a 50 % margin
    and 3 spare segments); if that misses, project_point falls back to a global search.
    """
    if telb[B_CRASHED, b]:
        telb[B_LAP_COMPLETED, b] = False
        return
    x = state[b]
    s0 = x[carm.S_M]
    v0 = x[carm.SPEED_MPS]
    slid = carm.car_step(
        x, actions[b, carm.STEERING_CMD_RAD], actions[b, carm.SPEED_CMD_MPS], p, dt_s, substeps
    )
    window = int(1.5 * max(v0, x[carm.SPEED_MPS]) * dt_s / ds_m) + 3
    carm.car_frenet(x, xy, heading, ds_m, length_m, closed, window)
    ended = _track_end(x[carm.S_M], length_m, closed)
    if ended:
        x[carm.SPEED_MPS] = 0.0
    _advance_laps(b, s0, x[carm.S_M], dt_s, length_m, closed, telf, teli, telb, lap)
    _car_telemetry(b, x, p, w_left, w_right, ds_m, length_m, closed, telf, telb)
    telb[B_SLIDING, b] = slid
    if ended:
        telb[B_CRASHED, b] = True
        teli[I_CRASH_CAUSE, b] = CRASH_TRACK_END


@nb.njit(**_NUMBA)
def step_car_serial(
    state: np.ndarray, actions: np.ndarray, p: np.ndarray, xy: np.ndarray, heading: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    dt_s: float, substeps: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray,
    lap: np.ndarray,
) -> int:  # fmt: skip
    """Step every car, one after the other. Returns -1, or the flat index of a bad action."""
    bad = _first_bad(actions)
    if bad >= 0:
        return bad
    for b in range(state.shape[0]):
        car_vehicle_step(
            b, state, actions, p, xy, heading, w_left, w_right, ds_m, length_m, closed, dt_s,
            substeps, telf, teli, telb, lap,
        )  # fmt: skip
    return -1


@nb.njit(parallel=True, **_NUMBA)
def step_car_parallel(
    state: np.ndarray, actions: np.ndarray, p: np.ndarray, xy: np.ndarray, heading: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    dt_s: float, substeps: int, telf: np.ndarray, teli: np.ndarray, telb: np.ndarray,
    lap: np.ndarray,
) -> int:  # fmt: skip
    """:func:`step_car_serial` with the vehicles spread over threads (``prange``)."""
    bad = _first_bad(actions)
    if bad >= 0:
        return bad
    for b in nb.prange(state.shape[0]):
        car_vehicle_step(
            b, state, actions, p, xy, heading, w_left, w_right, ds_m, length_m, closed, dt_s,
            substeps, telf, teli, telb, lap,
        )  # fmt: skip
    return -1


@nb.njit(**_NUMBA)
def reset_car_rows(
    idx: np.ndarray, s_m: np.ndarray, n_m: np.ndarray, heading_error_rad: np.ndarray,
    speed_mps: np.ndarray, state: np.ndarray, p: np.ndarray, xy: np.ndarray, heading: np.ndarray,
    w_left: np.ndarray, w_right: np.ndarray, ds_m: float, length_m: float, closed: bool,
    telf: np.ndarray, teli: np.ndarray, telb: np.ndarray, lap: np.ndarray,
) -> None:  # fmt: skip
    """Place cars ``idx (K,)`` (origin = rear axle centre) at the given ``(K,)`` Frenet poses.

    The world pose comes from the centre line (``n`` along the interpolated normal, yaw = track
    heading + heading error); the Frenet columns are then re-projected so that they agree with
    what the step kernels compute. Steering starts straight.
    """
    x_line = xy[:, 0]
    y_line = xy[:, 1]
    for k in range(idx.shape[0]):
        b = idx[k]
        x = state[b]
        x[:] = 0.0
        s = s_m[k] % length_m if closed else s_m[k]
        h = carm.heading_at(heading, s, ds_m, closed)
        x[carm.X_M] = interp_periodic(x_line, s, ds_m, closed) - n_m[k] * math.sin(h)
        x[carm.Y_M] = interp_periodic(y_line, s, ds_m, closed) + n_m[k] * math.cos(h)
        x[carm.YAW_RAD] = wrap_angle(h + heading_error_rad[k])
        x[carm.SPEED_MPS] = speed_mps[k]
        x[carm.S_M] = s
        carm.car_frenet(x, xy, heading, ds_m, length_m, closed, 3)
        _clear_run(b, telf, teli, telb, lap)
        _car_telemetry(b, x, p, w_left, w_right, ds_m, length_m, closed, telf, telb)
