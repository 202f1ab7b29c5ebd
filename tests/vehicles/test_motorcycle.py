"""Motorcycle dynamics against closed forms (driven through the batched simulator)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.sim import BatchSim, CrashCause
from apexrl.tracks import Track
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import MotorcycleParams

G = 9.81
NO_RESISTANCE = MotorcycleParams(cda_m2=0.0, rolling_resistance=0.0)


@pytest.fixture(scope="module")
def wide_straight() -> Track:
    """1 km straight, 200 m either side: room to drive full circles on it."""
    xy = np.c_[np.linspace(0.0, 1000.0, 1001), np.zeros(1001)]
    return Track.from_centerline(xy, 200.0, 200.0, closed=False, name="wide-straight")


@pytest.fixture(scope="module")
def circle50() -> Track:
    th = np.linspace(0.0, 2 * np.pi, 400, endpoint=False)
    return Track.from_centerline(np.c_[50 * np.cos(th), 50 * np.sin(th)], 5.0, 5.0, name="c50")


def fit_circle(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares circle through points: (centre x, centre y, radius)."""
    a = np.c_[x, y, np.ones_like(x)]
    d, e, f = np.linalg.lstsq(a, -(x**2 + y**2), rcond=None)[0]
    cx, cy = -d / 2, -e / 2
    return cx, cy, math.sqrt(cx**2 + cy**2 - f)


def actions(b: int, throttle: float, brake: float, lean_rad: float) -> np.ndarray:
    return np.tile([throttle, brake, lean_rad], (b, 1))


def test_steady_turn_radius_is_v2_over_g_tan_roll(wide_straight: Track) -> None:
    v, roll = 20.0, 0.4
    sim = BatchSim(wide_straight, "motorcycle", params=NO_RESISTANCE)
    sim.reset(s_m=300.0, speed_mps=v)
    sim.state[:, moto.ROLL_RAD] = roll
    pts = []
    for _ in range(300):  # 15 s: most of a circle
        tel = sim.step(actions(1, 0.0, 0.0, roll))
        pts.append((tel.s_m[0], tel.n_m[0]))
    s, n = np.array(pts).T
    cx, cy, radius = fit_circle(s, n)
    expected = v**2 / (G * math.tan(roll))
    assert radius == pytest.approx(expected, rel=1e-3)
    assert cy == pytest.approx(expected, rel=1e-3)  # centre to the left: a left turn
    assert tel.speed_mps[0] == v
    assert tel.lateral_g[0] == pytest.approx(math.tan(roll))
    assert tel.friction_usage[0] == pytest.approx(math.tan(roll) / NO_RESISTANCE.mu)
    assert not tel.crashed[0]


def test_braking_distance_is_v0_squared_over_2a(wide_straight: Track) -> None:
    params = MotorcycleParams(cda_m2=0.0)  # rolling resistance kept: a constant deceleration too
    decel = min(params.brake_max_mps2, params.stoppie_ax_max_mps2) + params.rolling_resistance * G
    v0, substeps = 30.0, 50
    sim = BatchSim(wide_straight, "motorcycle", params=params, substeps=substeps)
    sim.reset(s_m=100.0, speed_mps=v0)
    t_stop = None
    for _ in range(80):
        tel = sim.step(actions(1, 0.0, 1.0, 0.0))
        if t_stop is None and tel.speed_mps[0] == 0.0:
            t_stop = tel.t_s[0]
    assert not tel.crashed[0]
    h = sim.dt_s / substeps
    assert abs((tel.s_m[0] - 100.0) - v0**2 / (2 * decel)) <= v0 * h
    assert t_stop is not None and abs(t_stop - v0 / decel) <= sim.dt_s
    assert tel.friction_usage[0] <= 1.0


def test_power_limited_acceleration_matches_integral_of_p_over_mv(wide_straight: Track) -> None:
    p = NO_RESISTANCE
    v0 = 30.0  # above P / (m * min(wheelie, mu g)) = 27.7 m/s: purely power limited
    assert v0 * min(p.wheelie_ax_max_mps2, p.mu * G) > p.power_w / p.mass_kg
    sim = BatchSim(wide_straight, "motorcycle", params=p, substeps=20)
    sim.reset(s_m=0.0, speed_mps=v0)
    for step in range(1, 101):
        tel = sim.step(actions(1, 1.0, 0.0, 0.0))
        if step % 20 == 0:
            t = tel.t_s[0]
            assert tel.speed_mps[0] == pytest.approx(
                math.sqrt(v0**2 + 2 * p.power_w * t / p.mass_kg), rel=1e-3
            )
    assert tel.friction_usage[0] < 1.0


def test_grip_limited_launch_uses_exactly_all_the_grip(wide_straight: Track) -> None:
    p = NO_RESISTANCE  # mu g = 11.77 < wheelie limit 12.26: full throttle from rest is grip-bound
    sim = BatchSim(wide_straight, "motorcycle", params=p)
    sim.reset(s_m=0.0, speed_mps=0.0)
    for _ in range(20):  # 1 s, still below 27.7 m/s where power takes over
        tel = sim.step(actions(1, 1.0, 0.0, 0.0))
    assert tel.speed_mps[0] == pytest.approx(p.mu * G * 1.0, rel=1e-12)
    assert tel.friction_usage[0] == 1.0  # on the ellipse, not beyond it: no lowside
    assert not tel.crashed[0]


def test_roll_follows_command_with_lag_rate_limit_and_lean_limit(wide_straight: Track) -> None:
    p = NO_RESISTANCE
    sim = BatchSim(wide_straight, "motorcycle", params=p, batch_size=4)
    sim.reset(s_m=500.0, speed_mps=0.0)  # at rest: any lean, no lateral load
    cmd = np.zeros((4, 3))
    cmd[:, moto.LEAN_CMD_RAD] = [0.05, 0.8, 2.0, p.lean_max_rad]
    for k in range(1, 61):
        tel = sim.step(cmd)
        t = k * sim.dt_s
        # Small command: pure first-order lag (its rate never reaches the limit).
        assert tel.roll_rad[0] == pytest.approx(0.05 * (1 - math.exp(-t / 0.25)), rel=1e-9)
        if t <= 0.2 + 1e-9:  # large command: rate-limited ramp at first
            assert tel.roll_rad[1] == pytest.approx(p.roll_rate_max_radps * t, rel=1e-9)
        # A command past the lean limit acts as the limit itself.
        assert tel.roll_rad[2] == tel.roll_rad[3] <= p.lean_max_rad
    assert tel.roll_rad[1] == pytest.approx(0.8, abs=1e-3)
    assert tel.roll_rad[2] == pytest.approx(p.lean_max_rad, abs=1e-3)
    assert not tel.crashed.any()


def test_combined_braking_and_cornering_beyond_the_ellipse_lowsides(wide_straight: Track) -> None:
    roll = math.radians(40.0)  # 0.71 of the grip sideways; full brake is 0.93 of it lengthwise
    sim = BatchSim(wide_straight, "motorcycle", params=NO_RESISTANCE, batch_size=3)
    sim.reset(s_m=300.0, speed_mps=25.0)
    sim.state[:, moto.ROLL_RAD] = [roll, 0.0, roll]
    cmd = np.array([[0.0, 0.0, roll], [0.0, 1.0, 0.0], [0.0, 1.0, roll]])
    tel = sim.step(cmd)
    assert tel.crashed.tolist() == [False, False, True]
    assert tel.crash_cause[2] == CrashCause.LOWSIDE
    assert tel.friction_usage[2] > 1.0 and tel.friction_usage[:2].max() < 1.0
    assert tel.speed_mps[2] == 0.0
    frozen = sim.state[2].copy()
    t_crash = tel.t_s[2]
    assert t_crash == pytest.approx(sim.dt_s / sim.substeps)  # the first sub-step
    for _ in range(5):
        tel = sim.step(np.tile([1.0, 0.0, 0.0], (3, 1)))
    np.testing.assert_array_equal(sim.state[2], frozen)
    assert tel.t_s[2] == t_crash and tel.crashed[2]


def test_leaning_past_the_grip_limit_lowsides_at_atan_mu(wide_straight: Track) -> None:
    p = NO_RESISTANCE
    sim = BatchSim(wide_straight, "motorcycle", params=p)
    sim.reset(s_m=300.0, speed_mps=30.0)
    for _ in range(60):
        tel = sim.step(actions(1, 0.0, 0.0, p.lean_max_rad))
        if tel.crashed[0]:
            break
    assert tel.crash_cause[0] == CrashCause.LOWSIDE
    h = sim.dt_s / sim.substeps
    assert math.atan(p.mu) < tel.roll_rad[0] <= math.atan(p.mu) + p.roll_rate_max_radps * h


def test_friction_usage_stays_within_one_unless_crashed(circle50: Track) -> None:
    rng = np.random.default_rng(7)
    b = 256
    sim = BatchSim(circle50, "motorcycle", batch_size=b)
    sim.reset(speed_mps=rng.uniform(5.0, 40.0, b), s_m=rng.uniform(0.0, circle50.length_m, b))
    lean_max = sim.params.lean_max_rad
    for _ in range(60):
        cmd = np.c_[rng.uniform(0, 1, b), rng.uniform(0, 1, b) ** 4, rng.uniform(-1, 1, b)]
        cmd[:, 2] *= lean_max
        tel = sim.step(cmd)
        assert np.all((tel.friction_usage <= 1.0) | tel.crashed)
    causes = set(tel.crash_cause.tolist())
    assert CrashCause.LOWSIDE in causes and CrashCause.NONE in causes  # both outcomes occurred


def test_leaving_the_track_is_an_excursion(circle50: Track) -> None:
    v = 20.0
    roll = math.atan(v**2 / (G * 50.0))
    sim = BatchSim(circle50, "motorcycle", params=NO_RESISTANCE)
    sim.reset(n_m=4.8, speed_mps=v, heading_error_rad=0.1)  # heading for the left edge at 5 m
    sim.state[:, moto.ROLL_RAD] = roll
    for _ in range(40):
        tel = sim.step(actions(1, 0.0, 0.0, roll))
        if tel.crashed[0]:
            break
    assert tel.crash_cause[0] == CrashCause.OFF_TRACK
    assert tel.off_track[0] and tel.n_m[0] > 5.0 - 1e-3
    assert tel.n_m[0] < 5.0 + v * sim.dt_s / sim.substeps


def test_path_curvature_is_capped_at_low_speed() -> None:
    p = moto.params_array(MotorcycleParams(min_turn_radius_m=2.5))
    assert moto.path_curvature(0.0, 0.3, p) == pytest.approx(1 / 2.5)
    assert moto.path_curvature(0.0, -0.3, p) == pytest.approx(-1 / 2.5)
    assert moto.path_curvature(20.0, 0.3, p) == pytest.approx(G * math.tan(0.3) / 400.0)


def test_min_turn_radius_must_be_positive() -> None:
    with pytest.raises(ValueError, match="min_turn_radius_m must be a positive number"):
        MotorcycleParams(min_turn_radius_m=0.0)
