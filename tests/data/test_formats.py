"""Log-file parsing: RaceChrono CSV v3 and AiM CSV into SI channels, and the error for each bad
input (file and line named)."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.data.formats import TelemetryFormatError, detect_format, read_log
from tests.data.conftest import AIM, RACECHRONO


def _edit(tmp_path, source, line_no, new_line, name="edited.csv"):
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[line_no - 1] = new_line
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------------- parsing
def test_racechrono_parsed_by_position_in_si():
    raw = read_log(RACECHRONO)
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
    raw = read_log(AIM)
    assert raw.format == "aim"
    assert raw.sources["speed"] == "logged: column 2 'GPS Speed' [km/h]"
    assert raw.lean_rad is None
    assert raw.throttle is not None and 0.0 <= raw.throttle.min() and raw.throttle.max() <= 1.0
    assert raw.brake is not None and raw.brake.max() > 0.3
    assert raw.sources["brake"].endswith("/ 20 bar full scale")
    # Half the brake pressure scale doubles the fraction (until clipped at full braking).
    half = read_log(AIM, brake_full_scale_bar=40.0)
    assert np.allclose(half.brake * 2.0, np.minimum(raw.brake, 2 * half.brake))
    assert raw.logger_lap_times_s == pytest.approx((107.2,))


def test_speed_units_agree_between_formats():
    # km/h in the AiM file and m/s in RaceChrono describe comparable riders (85 % vs 90 % pace).
    rc, aim = read_log(RACECHRONO), read_log(AIM)
    assert aim.speed_mps.max() / rc.speed_mps.max() == pytest.approx(0.85 / 0.90, rel=0.02)


def test_detect_format():
    assert detect_format(RACECHRONO) == "racechrono"
    assert detect_format(AIM) == "aim"


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
    with pytest.raises(TelemetryFormatError, match=message):
        read_log(_edit(tmp_path, source, line, content), fmt)


def test_auto_format_rejects_unknown_files(tmp_path):
    path = tmp_path / "laps.csv"
    path.write_text("time,x,y\n0,1,2\n", encoding="utf-8")
    with pytest.raises(TelemetryFormatError, match=r"laps\.csv:1: unknown log format"):
        read_log(path)


def test_missing_column_names_file_and_header_line(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    header = lines[9].replace("latitude", "lat")
    with pytest.raises(
        TelemetryFormatError, match=r"edited\.csv:10: missing required column 'latitude'"
    ):
        read_log(_edit(tmp_path, RACECHRONO, 10, header))
    aim_lines = AIM.read_text(encoding="utf-8").splitlines()
    header = aim_lines[14].replace('"GPS Longitude"', '"Lng"')
    with pytest.raises(
        TelemetryFormatError, match=r"edited\.csv:15: missing required column 'GPS Longitude'"
    ):
        read_log(_edit(tmp_path, AIM, 15, header))


def test_non_numeric_value_names_line_and_column(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    cells = lines[99].split(",")
    cells[10] = "46.2x"
    path = _edit(tmp_path, RACECHRONO, 100, ",".join(cells))
    with pytest.raises(
        TelemetryFormatError,
        match=r"edited\.csv:100: column 11 'latitude': '46\.2x' is not a number",
    ):
        read_log(path)
    cells = AIM.read_text(encoding="utf-8").splitlines()[49].split(",")
    cells[1] = '"fast"'
    with pytest.raises(
        TelemetryFormatError,
        match=r"edited\.csv:50: column 2 'GPS Speed': 'fast' is not a number",
    ):
        read_log(_edit(tmp_path, AIM, 50, ",".join(cells)))


def test_ragged_row_and_unknown_unit(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    path = _edit(tmp_path, RACECHRONO, 200, lines[199] + ",7")
    with pytest.raises(
        TelemetryFormatError, match=r"edited\.csv:200: row has 21 cells, expected 20"
    ):
        read_log(path)
    units = lines[10].replace("m/s", "furlong/fortnight", 1)
    with pytest.raises(
        TelemetryFormatError,
        match=r"edited\.csv:11: column 14 'speed' has unit 'furlong/fortnight'; a speed channel",
    ):
        read_log(_edit(tmp_path, RACECHRONO, 11, units))


def test_time_going_backwards(tmp_path):
    lines = RACECHRONO.read_text(encoding="utf-8").splitlines()
    cells = lines[300].split(",")
    cells[0] = "1777716000.000"
    with pytest.raises(TelemetryFormatError, match=r"edited\.csv:301: time goes backwards"):
        read_log(_edit(tmp_path, RACECHRONO, 301, ",".join(cells)))


def test_missing_file_and_bad_format_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no log file"):
        read_log(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="unknown log format 'motec'"):
        read_log(RACECHRONO, "motec")
