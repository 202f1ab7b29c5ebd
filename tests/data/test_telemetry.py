from __future__ import annotations

import numpy as np
import pytest

from apexrl.data import telemetry as tm
from apexrl.data.minari_io import CHANNELS
from apexrl.tracks.library import load_track
from tests.data.conftest import AIM, ORIGIN, RACECHRONO, true_offset_m


def _edit(tmp_path, source, line_no, new_line, name="edited.csv"):
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[line_no - 1] = new_line
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------- parsing
def test_racechrono_parsed_by_position_in_si():
    raw = tm.read_log(RACECHRONO)
    assert raw.format == "racechrono"
    assert raw.t_s[0] == 0.0 and np.all(np.diff(raw.t_s) > 0)
    assert np.allclose(np.diff(raw.t_s), 0.1, atol=1e-6)
    # Two columns are called 'speed': the GPS one (column 14) is chosen.
    assert raw.sources["speed"] == "logged: column 14 'speed' (100: gps) [m/s]"
    assert raw.speed_mps is not None and 20 < raw.speed_mps.max() < 75
    assert raw.lean_rad is not None and np.degrees(np.abs(raw.lean_rad)).max() < 64
    assert raw.throttle is None and raw.brake is None
    assert raw.metadata["Track name"] == "apex_park"
    assert raw.logger_lap_times_s == pytest.approx((101.3,), abs=1e-3)


def test_aim_parsed_with_units_converted():
    raw = tm.read_log(AIM)
    assert raw.format == "aim"
    assert raw.sources["speed"] == "logged: column 2 'GPS Speed' [km/h]"
    assert raw.lean_rad is None
    assert raw.throttle is not None and 0.0 <= raw.throttle.min() and raw.throttle.max() <= 1.0
    assert raw.brake is not None and raw.brake.max() > 0.3
    assert raw.sources["brake"].endswith("/ 20 bar full scale")
    # Half the brake pressure scale doubles the fraction (until clipped at full braking).
    half = tm.read_log(AIM, brake_full_scale_bar=40.0)
    assert np.allclose(half.brake * 2.0, np.minimum(raw.brake, 2 * half.brake))
    assert raw.logger_lap_times_s == pytest.approx((107.2,))


def test_speed_units_agree_between_formats():
    # km/h in the AiM file and m/s in RaceChrono describe comparable riders (85 % vs 90 % pace).
    rc, aim = tm.read_log(RACECHRONO), tm.read_log(AIM)
    assert aim.speed_mps.max() / rc.speed_mps.max() == pytest.approx(0.85 / 0.90, rel=0.02)


def test_detect_format():
    assert tm.detect_format(RACECHRONO) == "racechrono"
    assert tm.detect_format(AIM) == "aim"


@pytest.mark.parametrize(
    ("source", "line", "content", "message"),
    [
        (RACECHRONO, 1, "Exported by SomethingElse", r"edited\.csv:1: not a RaceChrono export"),
        (RACECHRONO, 2, "Format,2", r"edited\.csv:2: expected 'Format,3' \(RaceChrono CSV v3\)"),
        (AIM, 1, '"Format","Other CSV"', r"edited\.csv:1: not an AiM CSV export"),
    ],
)
def test_wrong_banner(tmp_path, source, line, content, message):
    fmt = "racechrono" if source == RACECHRONO else "aim"
    with pytest.raises(tm.TelemetryFormatError, match=message):
        tm.read_log(_edit(tmp_path, source, line, content), fmt)


def test_auto_format_rejects_unknown_files(tmp_path):
    path = tmp_path / "laps.csv"
    path.write_text("time,x,y\n0,1,2\n", encoding="utf-8")
    with pytest.raises(tm.TelemetryFormatError, match=r"laps\.csv:1: unknown log format"):
        tm.read_log(path)


def test_missing_column_names_file_and_header_line(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    header = lines[9].replace("latitude", "lat")
    with pytest.raises(
        tm.TelemetryFormatError, match=r"edited\.csv:10: missing required column 'latitude'"
    ):
        tm.read_log(_edit(tmp_path, RACECHRONO, 10, header))
    aim_lines = AIM.read_text(encoding="utf-8").splitlines()
    header = aim_lines[14].replace('"GPS Longitude"', '"Lng"')
    with pytest.raises(
        tm.TelemetryFormatError, match=r"edited\.csv:15: missing required column 'GPS Longitude'"
    ):
        tm.read_log(_edit(tmp_path, AIM, 15, header))


def test_non_numeric_value_names_line_and_column(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    cells = lines[99].split(",")
    cells[10] = "46.2x"
    path = _edit(tmp_path, RACECHRONO, 100, ",".join(cells))
    with pytest.raises(
        tm.TelemetryFormatError,
        match=r"edited\.csv:100: column 11 'latitude': '46\.2x' is not a number",
    ):
        tm.read_log(path)
    cells = AIM.read_text(encoding="utf-8").splitlines()[49].split(",")
    cells[1] = '"fast"'
    with pytest.raises(
        tm.TelemetryFormatError,
        match=r"edited\.csv:50: column 2 'GPS Speed': 'fast' is not a number",
    ):
        tm.read_log(_edit(tmp_path, AIM, 50, ",".join(cells)))


def test_ragged_row_and_unknown_unit(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    path = _edit(tmp_path, RACECHRONO, 200, lines[199] + ",7")
    with pytest.raises(
        tm.TelemetryFormatError, match=r"edited\.csv:200: row has 21 cells, expected 20"
    ):
        tm.read_log(path)
    units = lines[10].replace("m/s", "furlong/fortnight", 1)
    with pytest.raises(
        tm.TelemetryFormatError,
        match=r"edited\.csv:11: column 14 'speed' has unit 'furlong/fortnight'; a speed channel",
    ):
        tm.read_log(_edit(tmp_path, RACECHRONO, 11, units))


def test_time_going_backwards(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    cells = lines[300].split(",")
    cells[0] = "1777716000.000"
    with pytest.raises(tm.TelemetryFormatError, match=r"edited\.csv:301: time goes backwards"):
        tm.read_log(_edit(tmp_path, RACECHRONO, 301, ",".join(cells)))


def test_missing_file_and_bad_format_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no log file"):
        tm.read_log(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="unknown log format 'motec'"):
        tm.read_log(RACECHRONO, "motec")


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
    raw = tm.read_log(AIM)
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
    raw = tm.read_log(AIM)
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
    raw = tm.RawLog(
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
    from apexrl.riders.rider import track_profile

    profile = track_profile(imported_racechrono.track)
    lap = imported_racechrono.lap(1)
    fixes = slice(1, -1)  # the first and last samples are interpolated onto the line
    s = np.mod(lap.s_m[fixes], imported_racechrono.track.length_m)
    assert np.allclose(lap.channel("distance_to_apex")[fixes], profile.distance_to_apex_m(s))
    offset = np.interp(s, profile.track.s_m, profile.line_offset_m)
    assert np.allclose(lap.channel("racing_line_deviation")[fixes], lap.n_m[fixes] - offset)
