"""``apexrl export``: the command through Typer, exit codes, JSON and the table."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from apexrl.cli.export import export_command, print_summary


@pytest.fixture(scope="module")
def run():
    """``run("export", ...)``: the command registered as app.py registers it."""
    app = typer.Typer()
    app.command("export")(export_command)

    @app.callback()
    def _root() -> None:
        """apexrl (test app)."""

    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def coach(tmp_path_factory):
    from tests.export.conftest import make_coach

    return make_coach(tmp_path_factory.mktemp("cli-coach") / "model", seed=5)


def _one_red_line(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    return " ".join(result.stderr.split())


@pytest.fixture(scope="module")
def exported_json(run, coach, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-export") / "out"
    result = run("export", coach, "--output", out, "--json", "--sram-kb", "64", "--seed", "3")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_json_is_the_report_and_only_json(exported_json):
    out, report = exported_json
    assert report == json.loads((out / "export_report.json").read_text())
    assert set(report["artifacts"]) >= {"policy.onnx", "policy_int8.tflite", "policy_mlp.c"}
    assert report["budget"]["arena_bytes"] == 64 * 1024
    assert report["calibration"]["seed"] == 3 and report["calibration"]["source"] == "rollouts"
    assert report["passed"] is True


def test_table_names_every_artifact(exported_json):
    from rich.console import Console

    console = Console(record=True, width=120)
    print_summary(exported_json[1], console)
    text = console.export_text()
    for name in exported_json[1]["artifacts"]:
        assert name in text
    assert "4,800 MACs" in text and "fits" in text and "hz = 50 + 250 * env" in text


def test_existing_export_is_refused(run, coach, exported_json):
    err = _one_red_line(run("export", coach, "--output", exported_json[0]))
    assert err.startswith("error: ") and "already holds an export" in err and "--force" in err


def test_missing_model_is_one_red_line(run, tmp_path):
    err = _one_red_line(run("export", tmp_path / "nope", "--output", tmp_path / "out"))
    assert "no apexrl model at" in err


def test_sb3_zip_needs_allow_pickle(run, tmp_path):
    (tmp_path / "m.zip").write_bytes(b"PK")
    err = _one_red_line(run("export", tmp_path / "m.zip", "--output", tmp_path / "out"))
    assert "--allow-pickle" in err


def test_datasets_calibration_needs_a_root(run, coach, tmp_path):
    err = _one_red_line(run("export", coach, "-o", tmp_path / "o", "--calibration", "datasets"))
    assert "calibration from datasets needs datasets_root" in err


def test_unknown_device_is_a_usage_error(run, coach, tmp_path):
    result = run("export", coach, "--output", tmp_path / "o", "--device", "esp8266")
    assert result.exit_code == 2
