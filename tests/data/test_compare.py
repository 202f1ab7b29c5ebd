from __future__ import annotations

import numpy as np
import pytest

from apexrl.data import compare as cmp
from apexrl.tracks.library import load_track
from tests.data.conftest import AIM, RACECHRONO

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def reference():
    return cmp.track_reference(load_track("apex_park"))


def _optimal_as_lap(ref):
    s = np.append(ref.line_s_on_centre_m, ref.line_s_on_centre_m[0] + ref.track.length_m)
    t = np.append(ref.optimal.t_s, ref.optimal.lap_time_s)
    v = np.append(ref.optimal.v_mps, ref.optimal.v_mps[0])
    return s, t, v


def test_corners_of_apex_park(reference):
    corners = reference.corners
    # apex_park: 11 turns with radius <= 300 m, the chicane as two corners (see library.py).
    assert len(corners) == 11
    assert [c.direction for c in corners[:3]] == ["left", "right", "left"]
    assert all(c.entry_s_m < c.apex_s_m < c.exit_s_m for c in corners)
    assert all(a.exit_s_m < b.entry_s_m for a, b in zip(corners, corners[1:], strict=False))
    hairpins = [c for c in corners if c.min_radius_m < 25]
    assert len(hairpins) == 2  # the 18 m and 22 m hairpins
    assert reference.optimal_lap_time_s == pytest.approx(reference.optimal.lap_time_s)


def test_optimal_lap_loses_nothing(reference):
    s, t, v = _optimal_as_lap(reference)
    result = cmp.compare_lap(s, t, v, reference.track, label="optimal")
    assert result.lap_time_s == pytest.approx(reference.optimal_lap_time_s, abs=1e-6)
    for c in result.corners:
        assert abs(c.time_lost_s) < 1e-3
        assert c.min_speed_mps == pytest.approx(c.optimal_min_speed_mps, abs=0.05)
        assert c.braking_delta_m in (None, 0.0)


def test_slower_lap_loses_time_in_proportion(reference):
    s, t, v = _optimal_as_lap(reference)
    result = cmp.compare_lap(s, t / 0.9, v * 0.9, reference.track, label="90 %")
    assert result.time_lost_s == pytest.approx(reference.optimal_lap_time_s * (1 / 0.9 - 1))
    for c in result.corners:
        assert c.time_lost_s == pytest.approx(c.optimal_time_s * (1 / 0.9 - 1), rel=1e-6)
        assert c.entry_speed_mps == pytest.approx(0.9 * c.optimal_entry_speed_mps, rel=1e-3)
    total = result.corners_time_lost_s + result.to_dict()["straights_time_lost_s"]
    assert total == pytest.approx(result.time_lost_s, abs=2e-3)


def test_compare_log_reports_every_corner(imported_racechrono):
    result = cmp.compare_log(RACECHRONO, "apex_park", origin="46.20316,6.14571,30")
    assert result.lap_time_s == pytest.approx(imported_racechrono.lap(1).lap_time_s, abs=1e-3)
    data = result.to_dict()
    assert len(data["corners"]) == 11
    assert data["time_lost_s"] > 10  # a 90 %-pace centre-line rider vs the optimal racing line
    first = data["corners"][0]
    for key in (
        "entry_speed_mps",
        "min_speed_mps",
        "exit_speed_mps",
        "braking_point_s_m",
        "time_lost_s",
    ):
        assert first[key] is not None
    assert first["min_speed_mps"] < first["entry_speed_mps"]
    assert sum(c["time_lost_s"] for c in data["corners"]) == pytest.approx(
        data["corners_time_lost_s"], abs=0.01
    )


def test_compare_rejects_partial_laps(reference, imported_racechrono):
    s, t, v = _optimal_as_lap(reference)
    half = s < reference.track.length_m / 2
    with pytest.raises(ValueError, match="not a complete lap of 'apex_park'"):
        cmp.compare_lap(s[half], t[half], v[half], reference.track)
    with pytest.raises(ValueError, match="lap 0 is a partial out-lap"):
        cmp.compare_log(RACECHRONO, "apex_park", origin="46.20316,6.14571,30", lap=0)


def test_plot_written_atomically_and_not_overwritten(tmp_path, reference):
    s, t, v = _optimal_as_lap(reference)
    result = cmp.compare_lap(s, t / 0.95, v * 0.95, reference.track, label="95 %")
    path = tmp_path / "cmp.png"
    assert cmp.plot_comparison(result, path) == path
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(FileExistsError, match="pass --force"):
        cmp.plot_comparison(result, path)
    cmp.plot_comparison(result, path, force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["cmp.png"]


def test_table_rows(reference):
    s, t, v = _optimal_as_lap(reference)
    rows = cmp.table_rows(cmp.compare_lap(s, t, v, reference.track))
    assert len(rows) == 11 and rows[0][0] == "T1 L"
    assert rows[0][-1] == "+0.000"


def test_aim_log_compare_fitted(imported_aim):
    result = cmp.compare_log(AIM, "apex_park")
    assert result.lap_time_s == pytest.approx(imported_aim.lap().lap_time_s, abs=1e-3)
