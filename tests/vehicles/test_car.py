"""DeepRacer car dynamics against closed forms and the DeepRacer off-track rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.sim import BatchSim
from apexrl.tracks import Track
from apexrl.vehicles import car as carm
from apexrl.vehicles.params import CarParams

G = 9.81
CAR = CarParams()


@pytest.fixture(scope="module")
def straight() -> Track:
    """1 km straight, 0.5 m either side (a DeepRacer-width road)."""
    xy = np.c_[np.linspace(0.0, 1000.0, 1001), np.zeros(1001)]
    return Track.from_centerline(xy, 0.5, 0.5, closed=False, name="straight")


def fit_circle(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares circle through points: (centre x, centre y, radius)."""
    a = np.c_[x, y, np.ones_like(x)]
    d, e, f = np.linalg.lstsq(a, -(x**2 + y**2), rcond=None)[0]
    cx, cy = -d / 2, -e / 2
    return cx, cy, math.sqrt(cx**2 + cy**2 - f)


def drive(
    sim: BatchSim, steering_rad: float | np.ndarray, speed_cmd_mps: float | np.ndarray, steps: int
) -> np.ndarray:
    """Step with constant commands; returns the rear-axle path ``(steps, B, 2)``."""
    cmd = np.empty((sim.batch_size, 2))
    cmd[:, carm.STEERING_CMD_RAD] = steering_rad
    cmd[:, carm.SPEED_CMD_MPS] = speed_cmd_mps
    path = np.empty((steps, sim.batch_size, 2))
    for k in range(steps):
        tel = sim.step(cmd)
        path[k, :, 0] = tel.x_m
        path[k, :, 1] = tel.y_m
    return path


def test_commanded_speed_is_clamped_to_deepracer_range(straight: Track) -> None:
    sim = BatchSim(straight, "car", batch_size=4)
    sim.reset(s_m=100.0, speed_mps=2.0)
    drive(sim, 0.0, np.array([10.0, 4.0, 0.0, -5.0]), 30)
    clamped = np.array([4.0, 4.0, 0.1, 0.1])
    decay = math.exp(-30 * sim.dt_s / CAR.speed_time_constant_s)
    np.testing.assert_allclose(
        sim.telemetry.speed_mps, clamped + (2.0 - clamped) * decay, rtol=1e-12
    )


def test_speed_follows_a_first_order_response(straight: Track) -> None:
    sim = BatchSim(straight, "car")
    sim.reset(s_m=100.0, speed_mps=0.0)
    tau = CAR.speed_time_constant_s
    for k in range(1, 31):
        tel = sim.step(np.array([[0.0, 3.0]]))
        t = k * sim.dt_s
        assert tel.speed_mps[0] == pytest.approx(3.0 * (1 - math.exp(-t / tau)), rel=1e-12)
        expected_ax = 3.0 * (math.exp(-(t - sim.dt_s) / tau) - math.exp(-t / tau)) / sim.dt_s
        assert tel.longitudinal_g[0] * G == pytest.approx(expected_ax, rel=1e-9)


def test_steering_clipped_to_lock(straight: Track) -> None:
    sim = BatchSim(straight, "car", batch_size=2)
    sim.reset(s_m=100.0)
    drive(sim, np.array([1.5, -1.5]), np.array([0.1, 0.1]), 30)
    np.testing.assert_allclose(
        sim.telemetry.steering_rad, [CAR.steering_max_rad, -CAR.steering_max_rad], rtol=1e-12
    )


def test_steady_state_turning_radius_is_wheelbase_over_tan_delta(straight: Track) -> None:
    delta, v = 0.3, 0.5  # lateral acceleration 0.47 m/s^2: far below the grip limit
    sim = BatchSim(straight, "car")
    sim.reset(s_m=500.0, speed_mps=v)
    path = drive(sim, delta, v, 150)[30:, 0]  # after the steering transient (tau 0.05 s)
    _, _, radius = fit_circle(path[:, 0], path[:, 1])
    assert radius == pytest.approx(CAR.wheelbase_m / math.tan(delta), rel=1e-3)
    tel = sim.telemetry
    assert not tel.sliding[0]
    assert tel.lateral_g[0] * G == pytest.approx(v**2 * math.tan(delta) / CAR.wheelbase_m)


def test_car_slides_past_mu_g_with_radius_v2_over_mu_g(straight: Track) -> None:
    v, delta = 4.0, CAR.steering_max_rad  # demand v^2 tan(delta) / L = 56 m/s^2 >> mu g
    sim = BatchSim(straight, "car")
    sim.reset(s_m=500.0, speed_mps=v)
    path = drive(sim, delta, v, 90)[10:, 0]
    _, _, radius = fit_circle(path[:, 0], path[:, 1])
    assert radius == pytest.approx(v**2 / (CAR.mu * G), rel=1e-3)
    tel = sim.telemetry
    assert tel.sliding[0]
    assert tel.lateral_g[0] == pytest.approx(CAR.mu, rel=1e-12)
    assert tel.friction_usage[0] == pytest.approx(
        v**2 * math.tan(delta) / CAR.wheelbase_m / (CAR.mu * G)
    )


def test_sliding_starts_exactly_at_the_grip_limit(straight: Track) -> None:
    delta = 0.2
    v_limit = math.sqrt(CAR.mu * G * CAR.wheelbase_m / math.tan(delta))
    sim = BatchSim(straight, "car", batch_size=2)
    speeds = np.array([0.98 * v_limit, 1.02 * v_limit])
    sim.reset(s_m=500.0, speed_mps=speeds)
    for _ in range(20):
        tel = sim.step(np.c_[np.full(2, delta), speeds])
    assert tel.sliding.tolist() == [False, True]


def test_off_track_only_when_all_four_wheels_are_off(straight: Track) -> None:
    half_track = CAR.track_width_m / 2
    # n of the rear axle centre and heading error; the half-width is 0.5 m on both sides.
    cases = [
        (0.5 + half_track - 0.03, 0.0, False),  # straddling the left edge: right wheels in
        (0.5 + half_track + 0.01, 0.0, True),  # all four wheels past the left edge
        (-(0.5 + half_track - 0.03), 0.0, False),  # straddling the right edge
        (-(0.5 + half_track + 0.01), 0.0, True),
        (0.55, math.pi / 2, True),  # pointing away from the road, rear wheels 5 cm out
        (0.6, -math.pi / 2, False),  # pointing back at the road: front wheels are in
        (0.0, 0.7, False),
    ]
    n, he, expected = (np.array(c) for c in zip(*cases, strict=True))
    sim = BatchSim(straight, "car", batch_size=len(cases))
    tel = sim.reset(s_m=500.0, n_m=n, heading_error_rad=he)
    assert tel.off_track.tolist() == expected.tolist()
    tel = sim.step(np.tile([0.0, 0.1], (len(cases), 1)))  # creep: about 7 mm per step at most
    assert tel.off_track.tolist() == expected.tolist()
    assert not tel.crashed.any()  # a car off track is flagged, not stopped


def test_off_track_rule_uses_the_rotated_wheel_positions() -> None:
    p = carm.params_array(CAR)
    widths = np.full(10, 0.5)
    x = np.zeros(carm.STATE_SIZE)
    x[carm.S_M] = 4.0
    x[carm.N_M] = 0.6  # rear axle centre 10 cm outside the left edge
    x[carm.HEADING_ERROR_RAD] = -0.5  # nose turned towards the road
    # Front right wheel: n = 0.6 + L sin(-0.5) - (w/2) cos(-0.5) = 0.45: on the road.
    assert not carm.car_off_track(x, p, widths, widths, 1.0, False)
    x[carm.HEADING_ERROR_RAD] = 0.5  # nose away from the road: the rear right wheel is the
    # innermost at n = 0.6 - (w/2) cos(0.5) = 0.53: every wheel is off
    assert carm.car_off_track(x, p, widths, widths, 1.0, False)


def test_reverse_driving_gives_negative_progress(straight: Track) -> None:
    sim = BatchSim(straight, "car")
    sim.reset(s_m=500.0, heading_error_rad=math.pi, speed_mps=2.0)
    drive(sim, 0.0, 2.0, 30)
    tel = sim.telemetry
    assert tel.progress[0] == pytest.approx(-2.0 * 2.0 / straight.length_m, rel=1e-6)
    assert tel.s_m[0] == pytest.approx(496.0, rel=1e-6)
    assert tel.lap_count[0] == 0 and abs(abs(tel.heading_error_rad[0]) - math.pi) < 1e-9
