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
    line = load_track(out)
    assert line.closed
    assert line.length_m == pytest.approx(data["length_m"], rel=0.02)
    again = cli("raceline", "dr_flow", "--output", str(out))
    assert again.exit_code == 1 and "--force" in again.stderr
    assert cli("raceline", "dr_flow", "--output", str(out), "--force").exit_code == 0
