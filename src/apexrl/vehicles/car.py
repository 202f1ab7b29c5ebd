"""AWS DeepRacer car dynamics: a kinematic bicycle with a lateral-grip limit (physics.md section 3).

Pure numba functions on ONE vehicle's state row; the batched simulator (:mod:`apexrl.sim`) calls
them in a loop. The car's origin is the REAR AXLE CENTRE (as in the DeepRacer simulator; reward
``params`` x/y lie ``origin_to_front_axle_m`` ahead of it). World frame: x, y in metres, yaw
counter-clockwise from +x. Steering is + to the left.

State row, float64 ``(STATE_SIZE,)``:

  0  x_m                m      world x of the rear axle centre
  1  y_m                m      world y of the rear axle centre
  2  yaw_rad            rad    heading of the car, in [-pi, pi)
  3  speed_mps          m/s    measured speed of the rear axle centre, >= 0
  4  steering_rad       rad    front wheel angle, + left
  5  s_m                m      projection of the origin on the centre line (car_frenet); on
                                open tracks it extends past the ends along the end tangents
  6  n_m                m      lateral offset of the origin, + left
  7  heading_error_rad  rad    yaw minus centre-line heading at s, in [-pi, pi)
  8  ax_mps2            m/s^2  longitudinal acceleration over the last step
  9  ay_mps2            m/s^2  lateral acceleration actually achieved (last sub-step)
 10  grip_demand        1      |v^2 tan(delta) / L| / (mu g): kinematic lateral demand as a
                                fraction of the grip; > 1 means the car is sliding

Action, float64 ``(ACTION_SIZE,)``: ``[steering_rad, speed_cmd_mps]``. Steering is clipped to
+-``steering_max_rad``; the commanded speed is CLAMPED to [``speed_min_mps``, ``speed_max_mps``]
(DeepRacer's 0.1..4 m/s), so a zero or negative command still creeps forward at 0.1 m/s.

Model, per sub-step of length h:

- speed and steering follow their commands with first-order responses (time constants
  ``speed_time_constant_s``, ``steering_time_constant_s``), discretised exactly:
  v += (v_cmd - v) (1 - exp(-h / tau));
- kinematic bicycle about the rear axle: yaw_rate = v tan(delta) / L, velocity along the yaw;
- grip: the kinematic lateral acceleration v * yaw_rate may not exceed mu g. Beyond it the front
  tyres saturate and the car UNDERSTEERS: the yaw rate is held at mu g / v (path radius
  v^2 / (mu g), lateral acceleration exactly mu g) and the step reports ``sliding``. Velocity
  stays along the yaw (no body slip angle): a deliberately simple model of a light car on a
  low-grip surface whose steering stops biting;
- semi-implicit Euler: speed and steering first, then yaw, then position with the new yaw.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from apexrl.tracks.geometry import interp_periodic, project_point
from apexrl.vehicles.params import CarParams

# error_model="numpy": a float division by zero gives inf/nan instead of raising. Every
# denominator here is positive by construction; the default model would add a check and an
# exception path to each division in the per-vehicle loops.
_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

# State row layout (see module docstring).
X_M = 0
Y_M = 1
YAW_RAD = 2
SPEED_MPS = 3
STEERING_RAD = 4
S_M = 5
N_M = 6
HEADING_ERROR_RAD = 7
AX_MPS2 = 8
AY_MPS2 = 9
GRIP_DEMAND = 10
STATE_SIZE = 11
STATE_FIELDS = (
    "x_m",
    "y_m",
    "yaw_rad",
    "speed_mps",
    "steering_rad",
    "s_m",
    "n_m",
    "heading_error_rad",
    "ax_mps2",
    "ay_mps2",
    "grip_demand",
)

# Action layout.
STEERING_CMD_RAD = 0
SPEED_CMD_MPS = 1
ACTION_SIZE = 2
ACTION_FIELDS = ("steering_rad", "speed_cmd_mps")

# Flat parameter array layout (built by params_array).
P_WHEELBASE_M = 0
P_TRACK_WIDTH_M = 1
P_SPEED_MIN_MPS = 2
P_SPEED_MAX_MPS = 3
P_STEERING_MAX_RAD = 4
P_SPEED_TAU_S = 5
P_STEERING_TAU_S = 6
P_MU_G_MPS2 = 7
P_G_MPS2 = 8
PARAMS_SIZE = 9


def params_array(params: CarParams) -> np.ndarray:
    """The flat float64 ``(PARAMS_SIZE,)`` parameter array the numba functions take."""
    p = np.empty(PARAMS_SIZE)
    p[P_WHEELBASE_M] = params.wheelbase_m
    p[P_TRACK_WIDTH_M] = params.track_width_m
    p[P_SPEED_MIN_MPS] = params.speed_min_mps
    p[P_SPEED_MAX_MPS] = params.speed_max_mps
    p[P_STEERING_MAX_RAD] = params.steering_max_rad
    p[P_SPEED_TAU_S] = params.speed_time_constant_s
    p[P_STEERING_TAU_S] = params.steering_time_constant_s
    p[P_MU_G_MPS2] = params.mu * params.g_mps2
    p[P_G_MPS2] = params.g_mps2
    return p


@nb.njit(**_NUMBA)
def wrap_near(angle_rad: float) -> float:
    """Wrap an angle within one turn of [-pi, pi) to [-pi, pi) (a branch, not a float modulo:
    the hot loops only ever add small increments to wrapped angles)."""
    if angle_rad >= math.pi:
        return angle_rad - 2.0 * math.pi
    if angle_rad < -math.pi:
        return angle_rad + 2.0 * math.pi
    return angle_rad


@nb.njit(**_NUMBA)
def _lag_gain(dt_s: float, tau_s: float) -> float:
    """Exact first-order step fraction 1 - exp(-dt/tau); a zero time constant follows instantly."""
    if tau_s <= 0.0:
        return 1.0
    return 1.0 - math.exp(-dt_s / tau_s)


@nb.njit(**_NUMBA)
def car_step(
    x: np.ndarray,
    steering_cmd_rad: float,
    speed_cmd_mps: float,
    p: np.ndarray,
    dt_s: float,
    substeps: int,
) -> bool:
    """Advance one state row ``x`` by ``dt_s`` in ``substeps`` sub-steps, in place.

    Updates pose, speed, steering, ``ax``, ``ay`` and ``grip_demand``; the Frenet columns are left
    for :func:`car_frenet`. Returns True if the car slid (grip limit hit) in any sub-step.
    """
    steer_max = p[P_STEERING_MAX_RAD]
    delta_cmd = min(max(steering_cmd_rad, -steer_max), steer_max)
    v_cmd = min(max(speed_cmd_mps, p[P_SPEED_MIN_MPS]), p[P_SPEED_MAX_MPS])
    h = dt_s / substeps
    speed_gain = _lag_gain(h, p[P_SPEED_TAU_S])
    steer_gain = _lag_gain(h, p[P_STEERING_TAU_S])
    wheelbase = p[P_WHEELBASE_M]
    mu_g = p[P_MU_G_MPS2]
    v0 = x[SPEED_MPS]
    v = v0
    delta = x[STEERING_RAD]
    yaw = x[YAW_RAD]
    px = x[X_M]
    py = x[Y_M]
    slid = False
    ay = 0.0
    demand = 0.0
    for _ in range(substeps):
        v += (v_cmd - v) * speed_gain
        delta += (delta_cmd - delta) * steer_gain
        yaw_rate = v * math.tan(delta) / wheelbase
        ay = v * yaw_rate
        demand = abs(ay) / mu_g
        if demand > 1.0:
            # Front tyres saturated: the path radius grows to v^2 / (mu g) (understeer).
            yaw_rate = math.copysign(mu_g / v, yaw_rate)
            ay = math.copysign(mu_g, ay)
            slid = True
        yaw = wrap_near(yaw + yaw_rate * h)
        px += v * math.cos(yaw) * h
        py += v * math.sin(yaw) * h
    x[X_M] = px
    x[Y_M] = py
    x[YAW_RAD] = yaw
    x[SPEED_MPS] = v
    x[STEERING_RAD] = delta
    x[AX_MPS2] = (v - v0) / dt_s
    x[AY_MPS2] = ay
    x[GRIP_DEMAND] = demand
    return slid


@nb.njit(**_NUMBA)
def heading_at(heading_rad: np.ndarray, s_m: float, ds_m: float, closed: bool) -> float:
    """Centre-line heading (rad) at ``s_m``, interpolated along the shorter way round."""
    m = heading_rad.shape[0]
    u = s_m / ds_m
    i = int(math.floor(u))
    if closed:
        i = i % m
        j = (i + 1) % m
    else:
        if i < 0:
            return heading_rad[0]
        if i >= m - 1:
            return heading_rad[m - 1]
        j = i + 1
    f = u - math.floor(u)
    return wrap_near(heading_rad[i] + f * wrap_near(heading_rad[j] - heading_rad[i]))


@nb.njit(**_NUMBA)
def car_frenet(
    x: np.ndarray,
    xy_m: np.ndarray,
    heading_rad: np.ndarray,
    ds_m: float,
    length_m: float,
    closed: bool,
    window: int,
) -> None:
    """Project the car's origin onto the centre line, filling ``s_m``, ``n_m``, heading error.

    Uses :func:`apexrl.tracks.geometry.project_point` with the row's previous ``s_m`` as the hint
    (a local search of ``window`` segments either side). On an open track a point beyond either end
    gets an ``s`` outside [0, L], measured along the end segment's direction.
    """
    px = x[X_M]
    py = x[Y_M]
    s, n, i = project_point(px, py, xy_m, closed, x[S_M], window, ds_m, length_m)
    last = xy_m.shape[0] - 1
    if not closed and (i == 0 or i == last - 1):
        tx = xy_m[i + 1, 0] - xy_m[i, 0]
        ty = xy_m[i + 1, 1] - xy_m[i, 1]
        seg = math.sqrt(tx * tx + ty * ty)
        if i == 0:
            behind = ((px - xy_m[0, 0]) * tx + (py - xy_m[0, 1]) * ty) / seg
            if behind < 0.0:
                s = behind
        if i == last - 1:
            beyond = ((px - xy_m[last, 0]) * tx + (py - xy_m[last, 1]) * ty) / seg
            if beyond > 0.0:
                s = length_m + beyond
    x[S_M] = s
    x[N_M] = n
    x[HEADING_ERROR_RAD] = wrap_near(x[YAW_RAD] - heading_at(heading_rad, s, ds_m, closed))


@nb.njit(**_NUMBA)
def car_off_track(
    x: np.ndarray,
    p: np.ndarray,
    w_left_m: np.ndarray,
    w_right_m: np.ndarray,
    ds_m: float,
    closed: bool,
) -> bool:
    """The DeepRacer off-track rule: True only when ALL FOUR wheels are outside the road.

    Wheel contact points sit at the rear axle (longitudinal offset 0) and the front axle
    (``wheelbase_m``), +-``track_width_m``/2 sideways. Each wheel's offset is rotated by the heading
    error into the track frame at the origin's projection (a first-order Frenet approximation,
    exact on straights) and compared with the half-widths at that wheel's own ``s``.
    """
    s = x[S_M]
    n = x[N_M]
    sin_e = math.sin(x[HEADING_ERROR_RAD])
    cos_e = math.cos(x[HEADING_ERROR_RAD])
    half = 0.5 * p[P_TRACK_WIDTH_M]
    for k in range(4):
        along = p[P_WHEELBASE_M] if k >= 2 else 0.0
        side = half if k % 2 == 0 else -half
        n_w = n + along * sin_e + side * cos_e
        s_w = s + along * cos_e - side * sin_e
        if n_w <= interp_periodic(w_left_m, s_w, ds_m, closed) and -n_w <= interp_periodic(
            w_right_m, s_w, ds_m, closed
        ):
            return False
    return True
