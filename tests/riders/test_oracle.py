"""The oracle coach: zero cue on the optimal line and speed, the right cue off it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from apexrl.riders import OracleCoach
from apexrl.riders import haptics as hp
from apexrl.riders.oracle import coach_level
from apexrl.riders.profile import profile_speed


def _rider(profile, *, dn=0.0, speed_factor=1.0, latency=0.4, s=100.0, crashed=False):
    """Telemetry of one rider at ``s`` offset ``dn`` from the racing line where the oracle looks,
    riding ``speed_factor`` times the oracle's target speed (no heading error, no acceleration)."""
    ds = profile.track.ds_m
    level = coach_level(1.0, 1.0, 0.95)
    v = speed_factor * profile_speed(s, level, 0.0, profile.speed_table_mps, ds)
    x = s + v * latency
    n = float(np.interp(x, profile.track.s_m, profile.line_offset_m)) - dn
    one = np.ones(1)
    return SimpleNamespace(
        s_m=s * one,
        n_m=n * one,
        heading_error_rad=0.0 * one,
        speed_mps=v * one,
        longitudinal_g=0.0 * one,
        crashed=np.array([crashed]),
    ), latency


def test_no_cue_on_the_racing_line_at_the_target_speed(circle_profile):
    tel, lat = _rider(circle_profile)
    np.testing.assert_allclose(OracleCoach(circle_profile).act(tel, lat), [[0.0, 0.0, 150.0]])


@pytest.mark.parametrize(("dn", "left", "right"), [(2.3, 1.0, 0.0), (-1.3, 0.0, 0.5)])
def test_lateral_cue_points_to_the_racing_line(circle_profile, dn, left, right):
    # dn > 0: the racing line is to the rider's left. Cue = (|dn| - 0.3 m) / 2 m, clipped.
    tel, lat = _rider(circle_profile, dn=dn)
    cue = OracleCoach(circle_profile).act(tel, lat)[0]
    np.testing.assert_allclose(cue, [left, right, 150.0], atol=1e-9)


@pytest.mark.parametrize(("factor", "frequency"), [(0.9, 50.0), (0.95, 50.0), (1.03, 300.0)])
def test_urgency_asks_for_the_target_speed(circle_profile, factor, frequency):
    # |urgency| = (|relative error| - 1 %) / 8 %, clipped; the weakest cue carries it as the
    # intensity of both motors at the end of the throttle (50 Hz) or brake (300 Hz) band.
    tel, lat = _rider(circle_profile, speed_factor=factor)
    cue = OracleCoach(circle_profile).act(tel, lat)[0]
    intensity = min((abs(1.0 - factor) - 0.01) / 0.08, 1.0)
    np.testing.assert_allclose(cue, [intensity, intensity, frequency], rtol=1e-6)


def test_the_coach_asks_less_of_a_rider_with_less_grip(circle_profile):
    tel, lat = _rider(circle_profile)
    coach = OracleCoach(circle_profile)
    timid = coach.act(tel, lat, grip_fraction=0.8)[0]
    assert timid[2] > hp.BRAKE_ABOVE_HZ  # at the optimum's pace a timid rider must back off
    assert coach_level(0.8, 1.0, 0.95) < coach_level(1.0, 1.0, 0.95)


def test_cues_anticipate_the_latency(oval_profile):
    # The oracle looks v * latency ahead: a rider with latency L gets the cue a zero-latency rider
    # v * L further on would get (here always "back off": v is far above every target).
    coach = OracleCoach(oval_profile)
    track = oval_profile.track
    v = 1.3 * float(oval_profile.line_speed_mps.max())
    one = np.ones(1)

    def cue(s, lat, n, heading=0.0):
        tel = SimpleNamespace(
            s_m=s * one,
            n_m=n * one,
            heading_error_rad=heading * one,
            speed_mps=v * one,
            longitudinal_g=0 * one,
            crashed=np.zeros(1, bool),
        )
        return coach.act(tel, lat)[0]

    for s in np.linspace(0.0, track.length_m, 13)[:-1]:
        np.testing.assert_allclose(cue(s, 0.5, 1.0), cue(s + v * 0.5, 0.0, 1.0), atol=1e-12)
        # 2 m right of where the racing line will be; heading 0.02 rad to the left, the rider
        # drifts v * 0.5 s * tan(0.02) (about 0.8 m) toward it before the cue acts: the anticipating
        # cue asks for that much less.
        line = float(
            np.interp((s + v * 0.5) % track.length_m, track.s_m, oval_profile.line_offset_m)
        )
        straight, drifting = cue(s, 0.5, line - 2.0), cue(s, 0.5, line - 2.0, 0.02)
        assert straight[0] - straight[1] == pytest.approx((2.0 - 0.3) / 2.0, abs=1e-9)
        drift = v * 0.5 * np.tan(0.02)
        assert drifting[0] - drifting[1] == pytest.approx((2.0 - drift - 0.3) / 2.0, abs=1e-9)


def test_crashed_riders_get_no_cue(circle_profile):
    tel, lat = _rider(circle_profile, dn=3.0, crashed=True)
    np.testing.assert_array_equal(OracleCoach(circle_profile).act(tel, lat), [[0.0, 0.0, 150.0]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latency_s": -0.1}, "latency_s must be"),
        ({"grip_fraction": 1.5}, "grip_fraction must be"),
        ({"line_bias": math.nan}, "line_bias must be"),
    ],
)
def test_bad_rider_information_is_rejected(circle_profile, kwargs, message):
    tel, _ = _rider(circle_profile)
    with pytest.raises(ValueError, match=message):
        OracleCoach(circle_profile).act(tel, **kwargs)


def test_bad_gains_are_rejected(circle_profile):
    with pytest.raises(ValueError, match="speed_full_scale must be a positive number"):
        OracleCoach(circle_profile, speed_full_scale=0.0)
