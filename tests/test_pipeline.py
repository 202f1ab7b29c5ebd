"""The main job: one fresh folder per run, every artifact, nothing overwritten, errors stop it."""

from __future__ import annotations

import json

import pytest

from apexrl import pipeline
from apexrl.tracks.library import load_track


def test_pipeline_writes_every_artifact_of_the_optimal_lap_step(tmp_path):
    out = tmp_path / "run"
    summary = pipeline.run(track="stadium:straight=100,radius=20,width=8", output=out)
    names = {p.name for p in out.iterdir()}
    assert {"optimal_lap.png", "raceline.csv", "optimal_lap.json", "summary.json"} <= names
    assert "pipeline.log" in names
    lap = json.loads((out / "optimal_lap.json").read_text())
    assert lap["raceline_lap_time_s"] < lap["centerline_lap_time_s"]
    assert summary["steps"]["optimal_lap"]["raceline_lap_time_s"] == lap["raceline_lap_time_s"]
    # The racing line file is itself a track.
    line = load_track(out / "raceline.csv")
    assert line.closed
    assert (out / "optimal_lap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pipeline_never_writes_into_a_used_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="never overwrites"):
        pipeline.run(track="circle:radius=30,width=6", output=out)
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_a_failing_step_leaves_no_summary_and_logs_the_error(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(ValueError, match="not found"):
        pipeline.run(track="no-such-track", output=out)
    assert not (out / "summary.json").exists()
    assert "pipeline failed" in (out / "pipeline.log").read_text()


def test_pipeline_cli_exit_codes(cli, tmp_path):
    ok = cli(
        "pipeline", "--track", "circle:radius=30,width=6", "--output", str(tmp_path / "a"), "--json"
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["steps"]["optimal_lap"]["track"]
    bad = cli("pipeline", "--track", "no-such-track", "--output", str(tmp_path / "b"))
    assert bad.exit_code == 1
    assert "not found" in bad.output
