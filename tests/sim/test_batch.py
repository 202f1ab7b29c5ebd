"""BatchSim: lap timing, resets, batched == single, input validation, telemetry contract."""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pytest

from apexrl.sim import PARALLEL_MIN_BATCH, BatchSim, CrashCause, Telemetry
from apexrl.sim import kernels as k
from apexrl.tracks import Track
from apexrl.vehicles import car as carm
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import CarParams, MotorcycleParams

G = 9.81
NO_RESISTANCE = MotorcycleParams(cda_m2=0.0, rolling_resistance=0.0)


def circle(radius_m: float, half_width_m: float) -> Track:
    th = np.linspace(0.0, 2 * np.pi, 400, endpoint=False)
    xy = np.c_[radius_m * np.cos(th), radius_m * np.sin(th)]
    return Track.from_centerline(xy, half_width_m, half_width_m, name=f"circle{radius_m:g}")


@pytest.fixture(scope="module")
def circle50() -> Track:
    return circle(50.0, 5.0)


@pytest.fixture(scope="module")
def circle5() -> Track:
    return circle(5.0, 0.5)


@pytest.fixture(scope="module")
def straight() -> Track:
    xy = np.c_[np.linspace(0.0, 1000.0, 1001), np.zeros(1001)]
    return Track.from_centerline(xy, 5.0, 5.0, closed=False, name="straight")


def random_actions(vehicle: str, rng: np.random.Generator, b: int) -> np.ndarray:
    if vehicle == "motorcycle":
        return np.c_[rng.uniform(0, 1, b), rng.uniform(0, 0.3, b), rng.uniform(-0.6, 0.6, b)]
    return np.c_[rng.uniform(-0.5, 0.5, b), rng.uniform(-1.0, 5.0, b)]


def snapshot(sim: BatchSim) -> dict[str, np.ndarray]:
    tel = sim.telemetry.copy()
    out = {f.name: getattr(tel, f.name) for f in fields(tel) if getattr(tel, f.name) is not None}
    out["state"] = sim.state.copy()
    return out


# ---------------------------------------------------------------------- lap timing
def test_motorcycle_lap_time_at_constant_speed_is_2_pi_r_over_v(circle50: Track) -> None:
    v = 20.0
    roll = math.atan(v**2 / (G * 50.0))
    sim = BatchSim(circle50, "motorcycle", params=NO_RESISTANCE)
    sim.reset(speed_mps=v)
    sim.state[:, moto.ROLL_RAD] = roll
    lap_steps = []
    for step in range(700):  # 35 s: two laps of 15.7 s
        tel = sim.step(np.array([[0.0, 0.0, roll]]))
        assert abs(tel.n_m[0]) < 0.01
        if tel.lap_completed[0]:
            lap_steps.append(step)
            assert tel.last_lap_time_s[0] == pytest.approx(2 * math.pi * 50.0 / v, rel=1e-3)
        elif not lap_steps:
            assert math.isnan(tel.last_lap_time_s[0])
    # The crossing falls inside a step (15.708 s / 0.05 s = 314.16 steps): interpolated.
    assert lap_steps == [314, 628]
    assert tel.lap_count[0] == 2
    assert tel.progress[0] == pytest.approx(700 * sim.dt_s * v / circle50.length_m, rel=1e-4)


def test_car_lap_time_at_constant_speed_is_2_pi_r_over_v(circle5: Track) -> None:
    v = 2.0
    sim = BatchSim(circle5, "car", batch_size=2)
    delta = math.atan(CarParams().wheelbase_m / 5.0)  # rear axle on the 5 m circle
    sim.reset(s_m=np.array([0.0, 7.0]), speed_mps=v)
    sim.state[:, carm.STEERING_RAD] = delta  # skip the steering transient
    cmd = np.tile([delta, v], (2, 1))
    times: list[list[float]] = [[], []]
    for _ in range(260):  # 17.3 s: one lap of 15.7 s each
        tel = sim.step(cmd)
        for i in np.flatnonzero(tel.lap_completed):
            times[i].append(tel.last_lap_time_s[i])
        assert not tel.off_track.any()
    for lap_times in times:
        assert len(lap_times) == 1
        assert lap_times[0] == pytest.approx(2 * math.pi * 5.0 / v, rel=1e-3)
    assert np.abs(tel.n_m).max() < 0.01


def test_running_off_the_end_of_an_open_track_ends_the_run(straight: Track) -> None:
    v = 30.0
    sim = BatchSim(straight, "motorcycle", params=NO_RESISTANCE)
    sim.reset(speed_mps=v)
    for steps in range(1, 1001):  # noqa: B007 (the loop count is the answer)
        tel = sim.step(np.zeros((1, 3)))
        if tel.crashed[0]:
            break
    assert steps == math.ceil(straight.length_m / (v * sim.dt_s))  # the step passing 1000 m
    assert tel.crash_cause[0] == CrashCause.TRACK_END
    assert tel.lap_completed[0] and tel.lap_count[0] == 1
    assert tel.last_lap_time_s[0] == pytest.approx(straight.length_m / v, rel=1e-9)
    assert tel.s_m[0] == straight.length_m and tel.speed_mps[0] == 0.0
    tel = sim.step(np.zeros((1, 3)))
    assert not tel.lap_completed[0] and tel.crashed[0]


# ---------------------------------------------------------------------- resets
@pytest.mark.parametrize("vehicle", ["motorcycle", "car"])
def test_reset_of_some_vehicles_leaves_the_others_untouched(vehicle: str, circle50: Track) -> None:
    rng = np.random.default_rng(3)
    sim = BatchSim(circle50, vehicle, batch_size=4)
    sim.reset(speed_mps=5.0, s_m=np.array([0.0, 10.0, 20.0, 30.0]))
    for _ in range(20):
        sim.step(random_actions(vehicle, rng, 4))
    before = snapshot(sim)
    tel = sim.reset(np.array([1, 3]), s_m=np.array([40.0, 350.0]), speed_mps=3.0, n_m=0.5)
    after = snapshot(sim)
    for name, value in before.items():
        np.testing.assert_array_equal(after[name][[0, 2]], value[[0, 2]], err_msg=name)
    assert tel.t_s[[1, 3]].tolist() == [0.0, 0.0]
    assert tel.progress[[1, 3]].tolist() == [0.0, 0.0]
    assert tel.lap_count[[1, 3]].tolist() == [0, 0]
    assert np.isnan(tel.last_lap_time_s[[1, 3]]).all()
    assert not tel.crashed[[1, 3]].any()
    np.testing.assert_allclose(tel.s_m[[1, 3]], [40.0, 350.0 - circle50.length_m], atol=1e-6)
    np.testing.assert_allclose(tel.n_m[[1, 3]], 0.5, atol=1e-6)
    assert tel.speed_mps[[1, 3]].tolist() == [3.0, 3.0]

    mask = np.array([True, False, False, False])
    sim.reset(mask, s_m=5.0)
    np.testing.assert_array_equal(sim.state[1:], after["state"][1:])
    assert sim.telemetry.s_m[0] == pytest.approx(5.0, abs=1e-6)


def test_reset_clears_a_crash(straight: Track) -> None:
    sim = BatchSim(straight, "motorcycle", batch_size=2)
    sim.reset(s_m=500.0, speed_mps=20.0, n_m=np.array([4.99, 0.0]), heading_error_rad=0.2)
    for _ in range(5):
        tel = sim.step(np.zeros((2, 3)))
    assert tel.crashed.tolist() == [True, False] and tel.crash_cause[0] == CrashCause.OFF_TRACK
    tel = sim.reset([0], s_m=500.0, speed_mps=10.0)
    assert not tel.crashed[0] and tel.crash_cause[0] == CrashCause.NONE and not tel.off_track[0]
    tel = sim.step(np.zeros((2, 3)))
    assert tel.speed_mps[0] > 9.0 and tel.t_s[0] == sim.dt_s


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"indices": np.array([0, 4])}, "vehicle index 4 is out of range for batch_size 4"),
        ({"indices": np.array([1, 1])}, "indices must not repeat a vehicle"),
        ({"indices": np.ones(3, dtype=bool)}, r"a boolean reset mask must have shape \(4,\)"),
        ({"indices": np.array([0.5])}, "indices must be a 1-D array of vehicle indices"),
        ({"indices": [0, 1], "s_m": np.zeros(3)}, r"s_m must be a scalar or have shape \(2,\)"),
        ({"speed_mps": -1.0}, "speed_mps must be >= 0"),
        ({"n_m": np.nan}, "n_m must be finite"),
        ({"s_m": 1000.5}, r"s_m must lie in \[0, 1000\] on the open track 'straight'"),
    ],
)
def test_bad_reset_arguments_are_rejected(straight: Track, kwargs: dict, message: str) -> None:
    sim = BatchSim(straight, "car", batch_size=4)
    with pytest.raises(ValueError, match=message):
        sim.reset(**kwargs)


# ---------------------------------------------------------------------- batched == single
@pytest.mark.parametrize("vehicle", ["motorcycle", "car"])
def test_batched_rows_equal_single_vehicle_runs_bit_for_bit(vehicle: str, circle50: Track) -> None:
    b, steps = 64, 40
    rng = np.random.default_rng(11)
    s0 = rng.uniform(0, circle50.length_m, b)
    v0 = rng.uniform(0.0, 25.0 if vehicle == "motorcycle" else 4.0, b)
    n0 = rng.uniform(-1.0, 1.0, b)
    acts = np.stack([random_actions(vehicle, rng, b) for _ in range(steps)])

    def run(rows: np.ndarray, parallel: bool) -> list[dict[str, np.ndarray]]:
        sim = BatchSim(circle50, vehicle, batch_size=rows.size, parallel=parallel)
        sim.reset(s_m=s0[rows], speed_mps=v0[rows], n_m=n0[rows])
        out = []
        for t in range(steps):
            sim.step(acts[t, rows])
            out.append(snapshot(sim))
        return out

    everything = np.arange(b)
    batched = run(everything, parallel=True)
    serial = run(everything, parallel=False)
    for row in (0, 31, 63):
        single = run(np.array([row]), parallel=False)
        for t in range(steps):
            for name, value in single[t].items():
                np.testing.assert_array_equal(batched[t][name][row], value[0], err_msg=name)
    for t in range(steps):
        for name, value in serial[t].items():
            np.testing.assert_array_equal(batched[t][name], value, err_msg=name)


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("vehicle", "actions", "message"),
    [
        ("motorcycle", np.zeros((2, 2)), r"actions must have shape \(2, 3\) = \[throttle, brake, "),
        ("motorcycle", np.zeros(6), r"got \(6,\)"),
        ("car", np.zeros((2, 3)), r"actions must have shape \(2, 2\) = \[steering_rad, speed_cmd"),
        ("car", np.zeros((2, 2), dtype=np.int64), "floating-point array, got dtype int64"),
        ("car", np.array([[0.0, 1.0], ["a", 2.0]], dtype=object), "got dtype object"),
        ("car", np.array([[0.0, 1.0], [0.1, np.nan]]), r"actions\[1, 1\] \(speed_cmd_mps\) is nan"),
        (
            "motorcycle",
            np.array([[0, 0, 0], [0, np.inf, 0.0]]),
            r"actions\[1, 1\] \(brake\) is inf",
        ),
    ],
)
def test_bad_actions_raise_and_change_nothing(
    vehicle: str, actions: np.ndarray, message: str, circle50: Track
) -> None:
    sim = BatchSim(circle50, vehicle, batch_size=2)
    sim.reset(speed_mps=3.0)
    before = snapshot(sim)
    with pytest.raises(ValueError, match=message):
        sim.step(actions)
    for name, value in snapshot(sim).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_float32_actions_are_accepted(circle50: Track) -> None:
    sim = BatchSim(circle50, "car", batch_size=2)
    tel = sim.step(np.tile([0.0, 1.0], (2, 1)).astype(np.float32))
    assert (tel.speed_mps > 0).all()


@pytest.mark.parametrize(
    ("vehicle", "kwargs", "error", "message"),
    [
        ("bicycle", {}, ValueError, "vehicle must be 'motorcycle' or 'car', got 'bicycle'"),
        ("car", {"params": MotorcycleParams()}, TypeError, "a car needs CarParams"),
        ("car", {"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ("car", {"dt_s": 0.0}, ValueError, "dt_s must be a positive number of seconds"),
        ("motorcycle", {"substeps": 0}, ValueError, "substeps must be a positive integer"),
    ],
)
def test_bad_constructor_arguments(
    vehicle: str, kwargs: dict, error: type, message: str, circle50: Track
) -> None:
    with pytest.raises(error, match=message):
        BatchSim(circle50, vehicle, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- telemetry contract
def test_defaults_follow_the_control_rates(circle50: Track) -> None:
    car = BatchSim(circle50, "car")
    bike = BatchSim(circle50, "motorcycle")
    assert (car.dt_s, car.substeps) == (1 / 15, 4)
    assert (bike.dt_s, bike.substeps) == (0.05, 5)
    assert not car.parallel
    assert not BatchSim(circle50, "car", batch_size=PARALLEL_MIN_BATCH - 1).parallel
    assert BatchSim(circle50, "car", batch_size=PARALLEL_MIN_BATCH).parallel


def test_telemetry_fields_per_vehicle_and_read_only(circle50: Track) -> None:
    car = BatchSim(circle50, "car", batch_size=3).telemetry
    bike = BatchSim(circle50, "motorcycle", batch_size=3).telemetry
    car_only = {"x_m", "y_m", "yaw_rad", "steering_rad", "sliding"}
    bike_only = {"throttle", "brake"}
    for f in fields(Telemetry):
        assert (getattr(car, f.name) is None) == (f.name in bike_only), f.name
        assert (getattr(bike, f.name) is None) == (f.name in car_only), f.name
        value = getattr(car, f.name)
        if value is not None:
            assert value.shape == (3,)
            with pytest.raises(ValueError, match="read-only"):
                value[0] = 1
    assert car.roll_rad.tolist() == [0.0, 0.0, 0.0]


def test_step_overwrites_telemetry_and_copy_keeps_a_snapshot(circle50: Track) -> None:
    sim = BatchSim(circle50, "car")
    tel = sim.step(np.array([[0.0, 2.0]]))
    kept = tel.copy()
    again = sim.step(np.array([[0.0, 2.0]]))
    assert again is tel
    assert tel.t_s[0] == pytest.approx(2 * sim.dt_s) and kept.t_s[0] == pytest.approx(sim.dt_s)


def test_world_xy(circle50: Track) -> None:
    bike = BatchSim(circle50, "motorcycle", batch_size=2)
    bike.reset(s_m=np.array([0.0, circle50.length_m / 4]), n_m=np.array([0.0, 2.0]))
    np.testing.assert_allclose(bike.world_xy(), [[50.0, 0.0], [0.0, 48.0]], atol=1e-3)
    car = BatchSim(circle50, "car", batch_size=2)
    car.reset(s_m=np.array([0.0, circle50.length_m / 4]), n_m=np.array([0.0, 2.0]))
    np.testing.assert_allclose(car.world_xy(), [[50.0, 0.0], [0.0, 48.0]], atol=1e-3)
    np.testing.assert_array_equal(car.world_xy()[:, 0], car.telemetry.x_m)


def test_crash_cause_codes_match_the_kernels() -> None:
    assert (
        [c.value for c in CrashCause]
        == [
            k.CRASH_NONE,
            k.CRASH_LOWSIDE,
            k.CRASH_OFF_TRACK,
            k.CRASH_TRACK_END,
        ]
        == [0, 1, 2, 3]
    )
