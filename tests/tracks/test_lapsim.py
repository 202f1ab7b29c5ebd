"""QSS lap simulation against closed-form answers (shared/specs/physics.md section 1)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import brentq

from apexrl.tracks import Track
from apexrl.tracks.lapsim import GGEnvelope, optimal_lap, simulate_lap, speed_ceiling_mps
from apexrl.tracks.library import load_track
from apexrl.vehicles.params import CarParams, MotorcycleParams, point_mass_envelope

G = 9.81


def stadium(straight_m: float, radius_m: float, ds_m: float) -> Track:
    """Two straights joined by two semicircles, sampled analytically every ``ds_m``.

    The input spacing follows ``ds_m`` on purpose: a C2 spline through a line whose curvature
    jumps (straight -> arc) rings over about one input spacing, so refining only the resampling
    would resolve that ringing instead of converging to the ideal geometry.
    """
    n_s = round(straight_m / ds_m)
    n_c = round(math.pi * radius_m / ds_m)
    x1 = np.linspace(0.0, straight_m, n_s, endpoint=False)
    th = np.linspace(-math.pi / 2, math.pi / 2, n_c, endpoint=False)
    parts = [
        np.c_[x1, np.full(n_s, -radius_m)],
        np.c_[straight_m + radius_m * np.cos(th), radius_m * np.sin(th)],
        np.c_[straight_m - x1, np.full(n_s, radius_m)],
        np.c_[-radius_m * np.cos(th), -radius_m * np.sin(th)],
    ]
    return Track.from_centerline(np.vstack(parts), 5.0, 5.0, ds_m=ds_m, name="stadium")


def test_circle_matches_the_closed_form_lap_time():
    lap = simulate_lap(load_track("circle:radius=50,width=10"), point_mass_envelope(mu=1.2))
    expected = 2 * math.pi * 50 / math.sqrt(1.2 * G * 50)
    assert expected == pytest.approx(12.9491, abs=1e-4)
    assert lap.lap_time_s == pytest.approx(expected, rel=5e-4)
    assert sum(lap.sector_times_s) == pytest.approx(lap.lap_time_s, rel=1e-12)


def test_stadium_matches_the_closed_form_and_converges():
    vc = math.sqrt(G * 40)
    vp = math.sqrt(vc**2 + G * 400)
    expected = 2 * math.pi * 40 / vc + 4 * (vp - vc) / G
    assert expected == pytest.approx(31.3991, abs=1e-4)
    env = point_mass_envelope(mu=1.0)
    default = simulate_lap(load_track("stadium:straight=400,radius=40,width=10"), env)
    assert default.lap_time_s == pytest.approx(expected, rel=5e-3)
    errors = [
        abs(simulate_lap(stadium(400, 40, ds_m=ds), env).lap_time_s - expected) / expected
        for ds in (4.0, 1.0, 0.25)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3


def test_standing_start_on_a_straight_is_uniform_acceleration():
    track = load_track("straight:length=400,width=10")
    lap = simulate_lap(track, point_mass_envelope(mu=1.0))
    assert lap.lap_time_s == pytest.approx(math.sqrt(2 * 400 / G), rel=2e-3)
    assert lap.v_mps[0] == 0.0
    assert lap.v_mps[-1] == pytest.approx(math.sqrt(2 * G * 400), rel=1e-3)


def test_motorcycle_top_speed_approaches_the_power_drag_balance():
    params = MotorcycleParams()
    lap = simulate_lap(load_track("straight:length=6000,width=12"), params.envelope())
    # P = m v (k v^2 + c_rr g): solve for the equilibrium speed.
    k, crr, m = params.drag_per_mass_1pm, params.rolling_resistance, params.mass_kg
    v_eq = float(
        max(
            r.real
            for r in np.roots([m * k, 0.0, m * crr * G, -params.power_w])
            if abs(r.imag) < 1e-9
        )
    )
    assert lap.v_mps.max() < v_eq
    assert lap.v_mps.max() == pytest.approx(v_eq, rel=0.02)
    # Power-limited above the wheelie limit: acceleration falls with speed.
    assert lap.ax_mps2[-10] < 0.2 * params.wheelie_ax_max_mps2


def test_friction_ellipse_is_respected_everywhere():
    env = point_mass_envelope(mu=1.1)
    lap = simulate_lap(load_track("apex_park"), env)
    usage = (lap.ax_mps2 / (1.1 * G)) ** 2 + (lap.ay_mps2 / (1.1 * G)) ** 2
    # Each segment's acceleration is evaluated at the sample where it starts (braking: solved
    # implicitly there), so the ellipse holds at every sample to rounding.
    assert usage.max() <= 1.0 + 1e-9
    assert usage.max() > 0.999  # and the lap does use the grip


def test_motorcycle_tyre_forces_stay_inside_the_ellipse_and_its_limits():
    params = MotorcycleParams()
    lap = simulate_lap(load_track("apex_park"), params.envelope())
    # ax includes drag and rolling resistance; the tyre provides the rest.
    tyre = lap.ax_mps2 + params.drag_per_mass_1pm * lap.v_mps**2 + params.rolling_resistance * G
    mu_g = params.mu * G
    assert np.max((tyre / mu_g) ** 2 + (lap.ay_mps2 / mu_g) ** 2) <= 1.0 + 1e-9
    assert tyre.max() <= params.wheelie_ax_max_mps2 + 1e-9
    assert -tyre.min() <= min(params.stoppie_ax_max_mps2, params.brake_max_mps2) + 1e-9
    assert np.all(lap.v_mps <= lap.v_ceiling_mps + 1e-9)


def test_closed_lap_does_not_depend_on_where_the_samples_start():
    # Drag makes the passes wrap round more than once before they settle: the lap must still be
    # the same periodic solution whichever sample is index 0.
    track = load_track("apex_park")
    env = MotorcycleParams().envelope()
    base = simulate_lap(track, env)
    k = 1777
    rolled = replace(
        track,
        xy_m=np.roll(track.xy_m, -k, axis=0),
        curvature_1pm=np.roll(track.curvature_1pm, -k),
    )
    lap = simulate_lap(rolled, env)
    assert lap.lap_time_s == pytest.approx(base.lap_time_s, rel=1e-12)
    np.testing.assert_allclose(lap.v_mps, np.roll(base.v_mps, -k), rtol=1e-12)


def test_lap_result_bookkeeping():
    track = load_track("dr_hairpins")
    lap = simulate_lap(track, CarParams().envelope(), sectors=4)
    m = track.n_points
    for arr in (lap.s_m, lap.v_mps, lap.ax_mps2, lap.ay_mps2, lap.t_s):
        assert arr.shape == (m,)
    assert lap.xy_m.shape == (m, 2)
    assert lap.t_s[0] == 0.0 and np.all(np.diff(lap.t_s) > 0) and lap.t_s[-1] < lap.lap_time_s
    np.testing.assert_allclose(lap.ay_mps2, lap.v_mps**2 * track.curvature_1pm)
    assert len(lap.sector_times_s) == 4
    assert sum(lap.sector_times_s) == pytest.approx(lap.lap_time_s, rel=1e-12)
    summary = lap.to_dict()
    json.dumps(summary)  # no arrays: a plain JSON document
    assert summary["lap_time_s"] == pytest.approx(lap.lap_time_s, abs=1e-4)
    assert summary["n_points"] == m and len(summary["sector_times_s"]) == 4


def test_flying_start_on_a_straight_is_uniform_acceleration():
    track = load_track("straight:length=20,width=1")
    lap = simulate_lap(track, point_mass_envelope(mu=1.0), v_start_mps=10.0)
    expected = (math.sqrt(10.0**2 + 2 * G * 20) - 10.0) / G
    assert lap.lap_time_s == pytest.approx(expected, rel=1e-9)


def test_first_order_speed_response_converges_to_its_closed_form():
    # dv/dt = (v_max - v) / tau from rest: s(t) = v_max (t - tau (1 - exp(-t / tau))). Grip is
    # made ample so the response is the only limit.
    v_max, tau, length = 4.0, 0.35, 20.0
    env = GGEnvelope(mu=3.0, speed_max_mps=v_max, speed_response_s=tau)
    expected = brentq(lambda t: v_max * (t - tau * (1 - math.exp(-t / tau))) - length, 0.1, 60)
    errors = []
    for ds in (0.2, 0.05):
        n = round(length / ds) + 1
        track = Track.from_centerline(
            np.c_[np.linspace(0, length, n), np.zeros(n)], 0.5, 0.5, closed=False, ds_m=ds
        )
        lap = simulate_lap(track, env)
        assert lap.v_mps.max() <= v_max
        errors.append(abs(lap.lap_time_s / expected - 1))
    assert errors[1] < errors[0] / 3  # first order in ds
    assert errors[1] < 5e-3


def test_roll_rate_ceiling_solves_its_equation():
    # A straight whose curvature is replaced by a ramp kappa = c (s - s0): at s0 the cap is
    # (omega g / c)^(1/3); everywhere it binds, v^3/g |kappa'| / (1 + (v^2 kappa / g)^2) = omega.
    base = load_track("straight:length=200,width=10")
    c = 1e-3
    kappa = c * (base.s_m - 100.0)
    line = replace(base, curvature_1pm=kappa)
    omega = 0.9
    env = GGEnvelope(mu=1.2, roll_rate_max_radps=omega)
    ceiling = speed_ceiling_mps(line, env)
    cornering = np.sqrt(1.2 * G / np.maximum(np.abs(kappa), 1e-300))
    binds = ceiling < cornering * (1 - 1e-9)
    assert binds.sum() > 40 and binds[np.argmin(np.abs(base.s_m - 100.0))]
    v = ceiling[binds]
    demand = v**3 / G * c / (1 + (v**2 * kappa[binds] / G) ** 2)
    np.testing.assert_allclose(demand, omega, rtol=1e-9)
    at_zero = np.argmin(np.abs(base.s_m - 100.0))
    assert ceiling[at_zero] == pytest.approx((omega * G / c) ** (1 / 3), rel=1e-9)


def test_deepracer_car_never_exceeds_its_top_speed():
    lap, _ = optimal_lap(load_track("dr_flow"), CarParams().envelope())
    assert lap.v_mps.max() <= 4.0 + 1e-9
    assert lap.v_mps.min() > 0.5


def test_roll_rate_limit_makes_the_motorcycle_slower():
    track = load_track("apex_park")
    free = simulate_lap(track, MotorcycleParams().envelope())
    limited = simulate_lap(track, MotorcycleParams().envelope(roll_rate_limit=True))
    assert limited.lap_time_s > free.lap_time_s * 1.005
    assert np.all(limited.v_mps <= free.v_mps + 1e-9)


def test_more_grip_is_faster_and_lean_limit_caps_cornering():
    track = load_track("circle:radius=50,width=10")
    base = MotorcycleParams()
    slow = simulate_lap(track, replace(base, mu=0.8).envelope())
    fast = simulate_lap(track, replace(base, mu=1.2).envelope())
    assert fast.lap_time_s < slow.lap_time_s
    lean = simulate_lap(track, GGEnvelope(mu=3.0, lean_max_rad=math.radians(45)))
    assert lean.v_mps.max() == pytest.approx(math.sqrt(G * 50), rel=1e-3)  # tan 45 = 1


def test_bad_arguments_are_rejected():
    track = load_track("circle:radius=50,width=10")
    with pytest.raises(ValueError, match="sectors"):
        simulate_lap(track, point_mass_envelope(), sectors=0)
    with pytest.raises(ValueError, match="open lines only"):
        simulate_lap(track, point_mass_envelope(), v_start_mps=3.0)
    with pytest.raises(ValueError, match="v_start_mps must be"):
        simulate_lap(
            load_track("straight:length=20,width=1"), point_mass_envelope(), v_start_mps=-1
        )
    with pytest.raises(ValueError, match="mu must be positive"):
        point_mass_envelope(mu=0.0)
    with pytest.raises(ValueError, match="GGEnvelope.power_w must be a positive number"):
        GGEnvelope(power_w=-5.0)
    with pytest.raises(ValueError, match="speed_response_s needs speed_max_mps"):
        GGEnvelope(speed_response_s=0.3)
    with pytest.raises(ValueError, match="rolling_resistance"):
        GGEnvelope(mu=0.5, rolling_resistance=0.6)
    with pytest.raises(ValueError, match="line='raceline'"):
        optimal_lap(track, point_mass_envelope(), line="centerline", margin_m=1.0)
    with pytest.raises(ValueError, match="'raceline' or 'centerline'"):
        optimal_lap(track, point_mass_envelope(), line="apex")  # type: ignore[arg-type]
