from __future__ import annotations

import numpy as np
import pytest

from apexrl.data import telemetry as tm
from apexrl.data.formats import RawLog, read_log
from apexrl.data.minari_io import CHANNELS
from apexrl.tracks.library import load_track
from tests.data.conftest import AIM, ORIGIN, RACECHRONO, true_offset_m


# ---------------------------------------------------------------------- alignment
def test_projection_round_trip_and_scale():
    en = np.array([[0.0, 0.0], [1000.0, -250.0], [-3.5, 2200.0]])
    back = tm.local_metres(*tm.lat_lon(en, 46.2, 6.1).T, 46.2, 6.1)
    assert np.allclose(back, en, atol=1e-9)
    # One arc-minute of latitude is about 1852 m (a nautical mile).
    assert tm.local_metres(np.array([46.2 + 1 / 60]), np.array([6.1]), 46.2, 6.1)[0, 1] == (
        pytest.approx(1853.2, abs=1.0)
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("46.2,6.1", (46.2, 6.1, 90.0)), (" 46.2 , 6.1 , 30 ", (46.2, 6.1, 30.0))],
)
def test_parse_origin(text, expected):
    assert tm.parse_origin(text) == expected


@pytest.mark.parametrize("text", ["46.2", "a,b", "46.2,6.1,1,2", "95,6.1"])
def test_parse_origin_rejects(text):
    with pytest.raises(ValueError, match="origin"):
        tm.parse_origin(text)


def test_fitted_alignment_recovers_the_known_frame():
    raw = read_log(AIM)
    track = load_track("apex_park")
    fitted = tm.align(raw, track)
    exact = tm.align(raw, track, ORIGIN)
    assert fitted.method == "fitted" and exact.method == "origin"
    gap = np.hypot(
        *(
            fitted.to_track_xy(raw.lat_deg, raw.lon_deg)
            - exact.to_track_xy(raw.lat_deg, raw.lon_deg)
        ).T
    )
    # The rider's line is not the centre line, so the fit is good to a couple of metres.
    assert gap.max() < 3.0
    assert fitted.heading_deg == pytest.approx(30.0, abs=0.5)


def test_alignment_refused_on_the_wrong_track():
    raw = read_log(AIM)
    with pytest.raises(ValueError, match="cannot align the log with track|drives only"):
        tm.align(raw, load_track("random:seed=3,scale=motorcycle"))


def test_alignment_refused_when_ambiguous(tmp_path):
    # A rider going round a circle fits every rotation equally: the importer must refuse.
    track = load_track("circle:radius=120,width=12")
    t = np.arange(0.0, 60.0, 0.1)
    angle = 0.3 * t
    en = np.stack(
        [120 * np.sin(angle), -120 * np.cos(angle)], axis=1
    )  # as the track: centre (0, 0)
    latlon = tm.lat_lon(en, 45.0, 7.0)
    raw = RawLog(
        tmp_path / "circle.csv", "aim", t, latlon[:, 0], latlon[:, 1], np.full(t.size, 36.0)
    )
    with pytest.raises(ValueError, match="equally well rotated"):
        tm.align(raw, track)
    # On the line: the residual is measured to the nearest centre-line sample (1 m apart).
    assert tm.align(raw, track, "45,7,90").p95_m < 0.6


# ---------------------------------------------------------------------- import
def test_import_splits_laps_at_the_line(imported_racechrono):
    imp = imported_racechrono
    assert [(lap.number, lap.kind) for lap in imp.laps] == [(0, "out"), (1, "lap"), (2, "in")]
    lap = imp.lap(1)
    length = imp.track.length_m
    assert lap.s_m[0] == 0.0 and lap.s_m[-1] == pytest.approx(length)
    assert np.all(np.diff(lap.s_m) >= 0)
    # The interpolated crossings give the logger's own lap time to its 0.1 s sampling.
    assert lap.lap_time_s == pytest.approx(imp.logger_lap_times_s[0], abs=0.05)
    assert imp.lap() is lap
    assert imp.laps[0].s_m[-1] == pytest.approx(length) and imp.laps[2].s_m[0] == 0.0


def test_import_map_matching_recovers_the_true_line(imported_racechrono):
    lap = imported_racechrono.lap(1)
    err = lap.n_m - true_offset_m(lap.s_m)
    assert np.abs(err).mean() < 0.2 and np.abs(err).max() < 0.8


def test_import_channels_and_sources(imported_racechrono):
    imp = imported_racechrono
    lap = imp.lap(1)
    assert lap.channels.shape == (lap.s_m.size, len(CHANNELS))
    assert np.isfinite(lap.channels).all()
    src = imp.channel_sources
    # Logged + right in the file: flipped to apexrl's + left.
    assert "sign flipped to + left" in src["roll_angle"] and "sign flipped" in src["lateral_g"]
    assert set(imp.derived_channels) == {
        "distance_to_apex", "throttle_position", "brake_pressure", "racing_line_deviation",
        "tire_friction_usage",
    }  # fmt: skip
    # After the flip, lean and lateral acceleration agree with the steady-turn relation.
    roll = lap.channel("roll_angle")
    lat = lap.channel("lateral_g")
    assert np.corrcoef(roll, np.degrees(np.arctan(lat)))[0, 1] > 0.98
    assert (
        0.0 <= lap.channel("throttle_position").min() and lap.channel("brake_pressure").max() <= 1.0
    )
    assert lap.channel("tire_friction_usage").max() < 1.2
    assert lap.channel("distance_to_apex").min() >= 0.0


def test_import_derives_lean_when_absent(imported_aim):
    src = imported_aim.channel_sources
    assert src["roll_angle"].startswith("derived")
    assert src["throttle_position"] == "logged: column 8 'TPS' [%]"
    lap = imported_aim.lap()
    assert lap.lap_time_s == pytest.approx(107.2, abs=0.05)
    summary = imported_aim.to_dict()
    assert summary["alignment"]["method"] == "fitted"
    assert summary["best_lap_time_s"] == pytest.approx(lap.lap_time_s, abs=1e-3)
    assert "roll_angle" in summary["derived_channels"]


def test_import_rejects_backwards_log(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    head, rows = lines[:12], lines[12:]
    # Reverse the fixes (keep time increasing): the rider now drives against increasing s.
    cells = [r.split(",") for r in rows]
    for new, old in zip(cells, reversed([r.split(",") for r in rows]), strict=True):
        new[10], new[11] = old[10], old[11]
    path = tmp_path / "backwards.csv"
    path.write_text("\n".join(head + [",".join(c) for c in cells]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="drives track 'apex_park' backwards"):
        tm.import_log(path, "apex_park", origin=ORIGIN)


def test_lap_lookup_errors(imported_racechrono):
    with pytest.raises(ValueError, match="no lap 7; laps: 0, 1, 2"):
        imported_racechrono.lap(7)
    with pytest.raises(ValueError, match="unknown channel 'rpm'"):
        imported_racechrono.lap(1).channel("rpm")


def test_sign_check_keeps_agreeing_channels():
    est = np.sin(np.linspace(0, 20, 400))
    mask = np.ones(400, dtype=bool)
    assert tm._sign(est * 0.9, est, mask) == (1.0, "")
    sign, note = tm._sign(-est, est, mask)
    assert sign == -1.0 and "flipped" in note
    sign, note = tm._sign(np.ones(400), est, mask)
    assert sign == 1.0 and "too little cornering" in note


def test_schema_matches_the_env():
    from apexrl.data.minari_io import ACTION_FIELDS, NO_CUE_ACTION, action_space, observation_space
    from apexrl.envs.vector import ACTION_NAMES, OBSERVATION_NAMES, CoachBatch
    from apexrl.riders import haptics

    assert CHANNELS == OBSERVATION_NAMES and ACTION_FIELDS == ACTION_NAMES
    core = CoachBatch(1, track="apex_park")
    assert observation_space() == core.observation_space
    assert action_space() == core.action_space
    assert NO_CUE_ACTION[2] == pytest.approx(haptics.frequency_to_unit(haptics.NEUTRAL_HZ))


def test_import_apex_and_line_channels_match_the_env(imported_racechrono):
    from apexrl.riders.profile import track_profile

    profile = track_profile(imported_racechrono.track)
    lap = imported_racechrono.lap(1)
    fixes = slice(1, -1)  # the first and last samples are interpolated onto the line
    s = np.mod(lap.s_m[fixes], imported_racechrono.track.length_m)
    assert np.allclose(lap.channel("distance_to_apex")[fixes], profile.distance_to_apex_m(s))
    offset = np.interp(s, profile.track.s_m, profile.line_offset_m)
    assert np.allclose(lap.channel("racing_line_deviation")[fixes], lap.n_m[fixes] - offset)
