"""Track profiles: QSS speed tables against closed-form speeds, and the apexes."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from apexrl.riders.profile import SPEED_LEVELS
from apexrl.vehicles.params import MotorcycleParams


def test_circle_speed_table_is_the_closed_form_steady_speed(circle_profile):
    # On a circle the speed is steady where the friction ellipse of tyres with grip mu f^2 leaves
    # just the drive that drag and rolling resistance take:
    # mu' g sqrt(1 - (v^2 kappa / (mu' g))^2) = k v^2 + c_rr g, with mu' = mu f^2.
    bike = MotorcycleParams()
    g, k, c_rr = bike.g_mps2, bike.drag_per_mass_1pm, bike.rolling_resistance
    kappa = np.abs(circle_profile.track.curvature_1pm).mean()
    for j, level in enumerate(SPEED_LEVELS):
        mu_g = bike.mu * level**2 * g

        def residual(u, mu_g=mu_g):
            return mu_g * math.sqrt(max(1.0 - (u * kappa / mu_g) ** 2, 0.0)) - k * u - c_rr * g

        expected = math.sqrt(brentq(residual, 0.0, mu_g / kappa))
        np.testing.assert_allclose(circle_profile.speed_table_mps[1, j], expected, rtol=1e-5)
    assert circle_profile.apex_s_m.size == 0  # constant speed: no apex
    assert np.isinf(circle_profile.distance_to_apex_m(np.array([0.0]))).all()


def test_speed_table_grows_with_the_level(oval_profile):
    table = oval_profile.speed_table_mps
    assert (np.diff(table, axis=1) > 0).all()
    assert oval_profile.optimal_lap_time_s <= oval_profile.centre_lap_time_s * 1.001


def test_oval_apexes_are_at_the_tight_ends(oval_profile):
    track = oval_profile.track
    tight = np.sort(np.argsort(np.abs(track.curvature_1pm))[-1:])
    ends = {float(track.s_m[tight[0]]), float(track.s_m[tight[0]] + track.length_m / 2)}
    assert oval_profile.apex_s_m.size == 2
    for apex in oval_profile.apex_s_m:
        gap = min(
            abs((apex - e + track.length_m / 2) % track.length_m - track.length_m / 2) for e in ends
        )
        assert gap < 0.01 * track.length_m
    # The distance to the next apex falls to 0 at an apex and jumps to the gap to the next one.
    a0, a1 = oval_profile.apex_s_m
    d = oval_profile.distance_to_apex_m(np.array([a0 - 10.0, a0 + 1e-6]))
    np.testing.assert_allclose(d, [10.0, a1 - a0 - 1e-6], atol=1e-6)
