"""``apexrl train`` and ``apexrl evaluate`` through their exit codes and output."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from apexrl.cli import evaluate as evaluate_cli
from apexrl.cli import train as train_cli

OVAL = "oval:a=300,b=150,width=12"


@pytest.fixture(scope="module")
def run_cli():
    """The two command groups mounted as ``apexrl`` mounts them."""
    app = typer.Typer()
    app.add_typer(train_cli.app, name="train")
    app.command("evaluate")(evaluate_cli.evaluate_command)
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    from apexrl.data.generate import generate_datasets

    root = tmp_path_factory.mktemp("cli-datasets")
    generate_datasets(root, laps=2, seed=3, track=OVAL, progress=False)
    return root


def test_train_bc_then_ppo_then_evaluate(run_cli, datasets, tmp_path):
    bc = run_cli("train", "bc", "--datasets", datasets, "--output", tmp_path / "bc", "--epochs",
                 "2", "--batch-size", "512", "--json")  # fmt: skip
    assert bc.exit_code == 0, bc.output
    summary = json.loads(bc.stdout)
    assert summary["epochs"] == 2 and len(summary["val_loss"]) == 2
    assert (tmp_path / "bc" / "model.safetensors").is_file()
    assert (tmp_path / "bc" / "tensorboard").is_dir()

    ppo = run_cli("train", "ppo", "--output", tmp_path / "ppo", "--init", tmp_path / "bc",
                  "--track", OVAL, "--timesteps", "128", "--num-envs", "2", "--n-steps", "64",
                  "--json")  # fmt: skip
    assert ppo.exit_code == 0, ppo.output
    assert json.loads(ppo.stdout)["timesteps"] == 128

    ev = run_cli("evaluate", tmp_path / "ppo" / "model", "--track", OVAL, "--episodes", "1",
                 "--output", tmp_path / "eval", "--no-plots", "--json")  # fmt: skip
    assert ev.exit_code == 0, ev.output
    assert "gap_closed_fraction" in json.loads(ev.stdout)["coaching"]
    assert (tmp_path / "eval" / "evaluation.json").is_file()

    table = run_cli("evaluate", tmp_path / "ppo" / "model", "--track", OVAL, "--episodes", "1")
    assert table.exit_code == 0, table.output
    assert "+ learned coach" in table.stdout

    again = run_cli("train", "bc", "--datasets", datasets, "--output", tmp_path / "bc")
    assert again.exit_code == 1 and "already holds a model" in again.output


def test_sb3_zip_needs_allow_pickle(run_cli, tmp_path):
    zip_path = tmp_path / "model.zip"
    zip_path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)  # an empty zip: never opened without opt-in
    result = run_cli("evaluate", zip_path, "--track", OVAL, "--episodes", "1")
    assert result.exit_code == 1
    assert "--allow-pickle" in result.output and "Traceback" not in result.output


def test_user_errors_are_one_line_and_usage_errors_exit_2(run_cli, tmp_path):
    missing = run_cli("train", "bc", "--datasets", tmp_path, "--output", tmp_path / "bc")
    assert missing.exit_code == 1
    assert "no dataset 'apexrl/moto-pro-v0'" in missing.output
    bad_mix = run_cli("train", "bc", "--datasets", tmp_path, "--output", tmp_path / "bc", "--mix",
                      "pro:0.7")  # fmt: skip
    assert bad_mix.exit_code == 2 and "RIDER=WEIGHT" in bad_mix.output
    for layers, why in (("64,x", "whole numbers"), ("0,64", "1..1024 units")):
        bad = run_cli("train", "bc", "--datasets", tmp_path, "--output", tmp_path / "bc",
                      "--actor-layers", layers)  # fmt: skip
        assert bad.exit_code == 2 and "--actor-layers wants" in bad.output and why in bad.output
    no_model = run_cli("evaluate", tmp_path / "nothing", "--episodes", "1")
    assert no_model.exit_code == 1 and "no apexrl model" in no_model.output
