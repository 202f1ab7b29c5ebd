"""``apexrl deepracer plot`` and ``apexrl rewards test``, through exit codes and output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from apexrl.cli import deepracer as cli_module
from apexrl.envs.deepracer import DeepRacerEnv

FIXTURES = Path(__file__).parents[1] / "deepracer" / "fixtures"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run():
    """The two command groups as the top-level app mounts them."""
    app = typer.Typer()
    app.add_typer(cli_module.app, name="deepracer")
    rewards = typer.Typer()
    rewards.command("test")(cli_module.rewards_test_command)
    rewards.command("noop", hidden=True)(lambda: None)  # a group needs two commands
    app.add_typer(rewards, name="rewards")
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


def rewards_test(run, fixture, *args):
    result = run("rewards", "test", FIXTURES / f"{fixture}.py", "--json", *args)
    return result, json.loads(result.stdout)


# ---------------------------------------------------------------------- rewards test
def test_wrapping_lookahead_passes(run):
    result, data = rewards_test(run, "lookahead_wrap")
    assert result.exit_code == 0, result.output
    assert data["errors"] == [] and data["calls"] > 300
    assert 0 < data["reward_min"] <= data["reward_mean"] <= data["reward_max"] <= 1
    assert [e["status"] for e in data["episodes"]] == ["lap_complete"] * 3


def test_lookahead_without_wrap_fails_near_the_start_line(run):
    result, data = rewards_test(run, "lookahead_plain")
    assert result.exit_code == 1
    assert data["error_count"] > 0 and data["calls"] > data["error_count"]
    error = data["errors"][0]
    assert "IndexError" in error["message"] and "lookahead_plain.py" in error["message"]
    params = error["params"]
    assert error["step"] == params["steps"] >= 2
    n_waypoints = 123  # dr_oval: 122 waypoints plus the repeated closing one
    assert params["closest_waypoints"][1] + 5 >= n_waypoints
    assert params["waypoints"] == f"({n_waypoints} (x, y) tuples)"


def test_steps_1_initialiser_needs_the_legacy_first_call_step(run):
    result, data = rewards_test(run, "init_on_step1", "--episodes", "1")
    assert result.exit_code == 1
    assert data["errors"][0]["step"] == 2 and "KeyError" in data["errors"][0]["message"]
    result, data = rewards_test(run, "init_on_step1", "--episodes", "1", "--first-call-step", "1")
    assert result.exit_code == 0, result.output
    assert data["first_call_step"] == 1 and data["reward_min"] == 1.0


def test_object_avoidance_function_needs_objects(run):
    result, data = rewards_test(run, "object_avoidance", "--episodes", "2")
    assert result.exit_code == 1  # TIME_TRIAL: objects_distance is empty
    assert "IndexError" in data["errors"][0]["message"]
    result, data = rewards_test(
        run, "object_avoidance", "--episodes", "2", "--race-type", "OBJECT_AVOIDANCE"
    )
    assert result.exit_code == 0, result.output
    assert data["race_type"] == "OBJECT_AVOIDANCE" and data["calls"] > 10


@pytest.mark.parametrize(
    ("fixture", "args"),
    [
        ("class_state", ("--policy", "raceline", "--track", "dr_hairpins")),
        ("globals_state", ("--reverse",)),
        ("int_return", ("--race-type", "HEAD_TO_BOT")),
        ("numpy_shapely", ("--policy", "random", "--seed", "3")),
    ],
)
def test_community_styles_pass(run, fixture, args):
    result, data = rewards_test(run, fixture, "--episodes", "2", *args)
    assert result.exit_code == 0, result.output
    assert data["calls"] > 5 and data["reward_max"] >= data["reward_min"]


def test_random_policy_is_seeded(run):
    _, a = rewards_test(run, "numpy_shapely", "--policy", "random", "--seed", "1")
    _, b = rewards_test(run, "numpy_shapely", "--policy", "random", "--seed", "1")
    _, c = rewards_test(run, "numpy_shapely", "--policy", "random", "--seed", "2")
    assert a == b and a["episodes"] != c["episodes"]


def test_plot_and_refusal_to_overwrite(run, tmp_path):
    png = tmp_path / "rewards.png"
    result, data = rewards_test(run, "lookahead_wrap", "--episodes", "1", "--plot", png)
    assert result.exit_code == 0 and data["plot"] == str(png)
    assert png.read_bytes().startswith(PNG)
    result = run("rewards", "test", FIXTURES / "lookahead_wrap.py", "--plot", png)
    assert result.exit_code == 1 and "--force" in result.output
    result = run("rewards", "test", FIXTURES / "lookahead_wrap.py", "--plot", png, "--force")
    assert result.exit_code == 0


def test_text_report_and_errors(run):
    result = run("rewards", "test", FIXTURES / "raises.py", "--episodes", "1")
    assert result.exit_code == 1
    assert "ZeroDivisionError" in result.output and "step 2" in result.output
    assert "speed_ratio" in result.output  # the user's traceback lines
    result = run("rewards", "test", FIXTURES / "int_return.py", "--episodes", "1")
    assert result.exit_code == 0 and "calls, 0 error(s)" in result.output
    result = run("rewards", "test", FIXTURES / "missing.py")
    assert result.exit_code == 1 and "not found" in result.output
    result = run("rewards", "test", FIXTURES / "int_return.py", "--first-call-step", "3")
    assert result.exit_code == 2


# ---------------------------------------------------------------------- deepracer plot
@pytest.fixture
def trace(tmp_path):
    path = tmp_path / "run.csv"
    env = DeepRacerEnv(sensors=[], simtrace_path=path)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    for _ in range(120):
        *_, term, trunc, _ = env.step(int(rng.integers(0, 12)))
        if term or trunc:
            env.reset()
    env.close()
    return path


def test_plot_command(run, trace, tmp_path):
    result = run("deepracer", "plot", trace, "--track", "dr_oval", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["plot"] == str(trace.with_suffix(".png")) and data["rows"] == 120
    assert data["off_track_rows"] > 0
    assert trace.with_suffix(".png").read_bytes().startswith(PNG)
    again = run("deepracer", "plot", trace, "--track", "dr_oval")
    assert again.exit_code == 1 and "--force" in again.output
    out = tmp_path / "first.png"
    one = run("deepracer", "plot", trace, "--track", "dr_oval", "-o", out, "--episode", "0")
    assert one.exit_code == 0 and "wrote" in one.output and out.exists()


def test_plot_command_errors(run, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = run("deepracer", "plot", bad, "--track", "dr_oval")
    assert result.exit_code == 1 and "not a sim-trace CSV" in result.output
    result = run("deepracer", "plot", tmp_path / "none.csv", "--track", "dr_oval")
    assert result.exit_code == 1 and "not found" in result.output
