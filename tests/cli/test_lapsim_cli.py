"""``apexrl lapsim`` and ``apexrl raceline`` through the real command."""

from __future__ import annotations

import json

import pytest

from apexrl.tracks.library import load_track


def test_lapsim_json_circle_closed_form(cli):
    result = cli(
        "lapsim",
        "circle:radius=50,width=10",
        "--vehicle",
        "pointmass",
        "--mu",
        "1.2",
        "--line",
        "centerline",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["lap_time_s"] == pytest.approx(12.9491, rel=5e-4)
    assert {"lap_time_s", "track", "line", "vehicle"} <= set(data)
    assert data["vehicle"] == "pointmass" and data["line"] == "centerline"


def test_lapsim_auto_vehicle_and_table(cli):
    result = cli("lapsim", "dr_oval")
    assert result.exit_code == 0
    assert "car" in result.stdout and "lap time" in result.stdout


def test_lapsim_errors(cli):
    unknown = cli("lapsim", "no-such-track")
    assert unknown.exit_code == 1
    assert "not found" in unknown.stderr
    bad_vehicle = cli("lapsim", "dr_oval", "--vehicle", "bicycle")
    assert bad_vehicle.exit_code == 2
    roll = cli("lapsim", "dr_oval", "--vehicle", "car", "--roll-rate-limit")
    assert roll.exit_code == 1 and "motorcycle only" in roll.stderr


def test_raceline_writes_a_loadable_track_and_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "line.csv"
    result = cli("raceline", "dr_flow", "--output", str(out), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["output"] == str(out)
    assert data["track"] == "dr_flow" and data["vehicle"] == "car"
    assert data["n_points"] == load_track("dr_flow").n_points
    assert data["lap_time_raceline_s"] < data["lap_time_centerline_s"]
    assert -0.535 < data["offset_min_m"] < 0 < data["offset_max_m"] < 0.535
    line = load_track(out)
    assert line.closed
    assert line.length_m == pytest.approx(data["length_m"], rel=0.02)
    again = cli("raceline", "dr_flow", "--output", str(out))
    assert again.exit_code == 1 and "--force" in again.stderr
    assert cli("raceline", "dr_flow", "--output", str(out), "--force").exit_code == 0


def test_lapsim_roll_rate_limit_is_slower_and_mu_overrides(cli):
    def lap(*extra: str) -> dict:
        args = ("lapsim", "stadium:straight=400,radius=40,width=10", "--line", "centerline")
        result = cli(*args, "--json", *extra)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    free = lap()
    assert free["vehicle"] == "motorcycle" and free["roll_rate_limit"] is False
    assert lap("--roll-rate-limit")["lap_time_s"] > free["lap_time_s"]
    grippy = lap("--mu", "1.5")
    assert grippy["mu"] == 1.5 and grippy["lap_time_s"] < free["lap_time_s"]
    assert len(free["sector_times_s"]) == 3
    assert sum(free["sector_times_s"]) == pytest.approx(free["lap_time_s"], abs=1e-3)
    bad_mu = cli("lapsim", "dr_oval", "--mu", "-1")
    assert bad_mu.exit_code == 1 and "--mu must be positive" in bad_mu.stderr


def test_raceline_margin_too_large_is_one_clear_error(cli, tmp_path):
    out = tmp_path / "line.csv"
    result = cli("raceline", "dr_oval", "--output", str(out), "--margin", "0.6")
    assert result.exit_code == 1
    assert "more than half the narrowest width" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()
    missing = cli("raceline", "dr_oval")
    assert missing.exit_code == 2  # --output is required
