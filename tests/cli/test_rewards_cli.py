from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from apexrl.deepracer.reward_check import lint_file
from tests.deepracer.conftest import FIXTURES


@pytest.fixture
def run():
    """``apexrl rewards ...``: the rewards group mounted the way cli/app.py mounts groups."""
    from apexrl.cli import deploy, rewards

    root = typer.Typer()
    root.add_typer(rewards.app, name="rewards")
    root.add_typer(deploy.app, name="deploy")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(root, ["rewards", *args], catch_exceptions=False)

    return invoke


def fixture(name: str) -> str:
    return str(FIXTURES / f"{name}.py")


def test_list(run):
    result = run("list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    names = [t["name"] for t in data]
    assert names == sorted(names) and "racing_line" in names and "time_trial" in names
    racing = next(t for t in data if t["name"] == "racing_line")
    assert racing["needs_track"] is True and racing["params"]["points"]["default"] == 200
    table = run("list")
    assert table.exit_code == 0 and "object_avoidance" in table.stdout


def test_create_then_refuse_to_overwrite(run, tmp_path):
    target = tmp_path / "reward_function.py"
    result = run("create-from-racing-scenario", "time_trial", "-o", str(target))
    assert result.exit_code == 0, result.output
    assert lint_file(target) == []
    again = run("create-from-racing-scenario", "time_trial", "-o", str(target))
    assert again.exit_code == 1 and "already exists; pass --force" in again.stderr
    forced = run(
        "create-from-racing-scenario",
        "time_trial",
        "-o",
        str(target),
        "--params",
        '{"target_lap_time_s": 9}',
        "--force",
    )
    assert forced.exit_code == 0, forced.output
    assert "TARGET_LAP_TIME_S = 9.0  #" in target.read_text()


def test_create_racing_line_needs_a_track(run, tmp_path):
    target = tmp_path / "line.py"
    missing = run("create-from-racing-scenario", "racing_line", "-o", str(target))
    assert missing.exit_code == 1 and "--track" in missing.stderr and not target.exists()
    result = run(
        "create-from-racing-scenario",
        "racing_line",
        "-o",
        str(target),
        "--track",
        "dr_oval",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["template"] == "racing_line"
    assert "for track dr_oval" in target.read_text()


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--params", "{not json"], 2, "not valid JSON"),
        (["--params", "[1, 2]"], 2, "must be a JSON object"),
        (["--params", '{"speed": 3}'], 1, "has no parameter(s) 'speed'; valid: target_lap_time_s"),
    ],
)
def test_create_rejects_bad_params(run, tmp_path, args, code, fragment):
    result = run("create-from-racing-scenario", "time_trial", "-o", str(tmp_path / "r.py"), *args)
    assert result.exit_code == code
    assert fragment in result.stderr
    assert not (tmp_path / "r.py").exists()


def test_unknown_template_is_one_red_line(run, tmp_path):
    result = run("create-from-racing-scenario", "warp_speed", "-o", str(tmp_path / "r.py"))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no reward template 'warp_speed'")
    assert "Traceback" not in result.output


def test_validate_clean_file(run):
    result = run("validate", fixture("lookahead_wrap"), "--calls", "30")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ") and "30 calls on dr_oval" in result.stdout
    data = json.loads(run("validate", fixture("lookahead_wrap"), "--calls", "30", "--json").stdout)
    assert data["ok"] is True and data["calls_made"] == 30 and data["failures"] == []


def test_validate_json_survives_user_prints(run):
    result = run("validate", fixture("prints_debug"), "--calls", "10", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_validate_reports_the_failing_step(run):
    result = run("validate", fixture("lookahead_plain"), "--track", "circle:radius=3,width=1.067")
    assert result.exit_code == 1
    assert (
        "exception call" in result.stderr and "IndexError: list index out of range" in result.stderr
    )
    assert "lookahead_plain.py" in result.stderr and "problem(s)" in result.stderr
    data = json.loads(run("validate", fixture("returns_nan"), "--calls", "8", "--json").stdout)
    assert data["ok"] is False and data["failures"][0]["step"] == 5
    assert data["failures"][0]["value"] == "nan"


def test_validate_lint_failure(run):
    result = run("validate", fixture("banned_import"))
    assert result.exit_code == 1
    assert "import of 'os'" in result.stderr and "sample calls skipped" in result.stderr


def test_validate_options(run):
    assert run("validate", fixture("object_avoidance"), "--calls", "20").exit_code == 1
    assert (
        run("validate", fixture("object_avoidance"), "--calls", "20", "--objects", "3").exit_code
        == 0
    )
    assert run("validate", fixture("init_on_step1"), "--calls", "5").exit_code == 1
    legacy = run("validate", fixture("init_on_step1"), "--calls", "5", "--legacy-first-step")
    assert legacy.exit_code == 0, legacy.output
    hang = run("validate", fixture("hangs"), "--calls", "3", "--timeout", "0.3")
    assert hang.exit_code == 1 and "did not finish within 0.3 s" in hang.stderr


def test_validate_missing_file_and_help(run, tmp_path):
    result = run("validate", str(tmp_path / "nope.py"))
    assert result.exit_code == 1 and "reward function file not found" in result.stderr
    help_text = run("validate", "--help").stdout
    assert "NOT A SANDBOX" in help_text and "privileges" in help_text
