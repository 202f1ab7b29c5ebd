"""The top-level command: help, info, and that startup stays light."""

from __future__ import annotations

import json
import subprocess
import sys


def test_help_lists_the_command_groups(cli):
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("tracks", "lapsim", "raceline", "pipeline", "info"):
        assert command in result.output


def test_cli_import_does_not_load_heavy_libraries():
    # `apexrl --help` must stay fast: command modules import typer only; `import apexrl` registers
    # the Gymnasium ids (gymnasium + numpy, ~0.2 s) but never the simulator or training stacks.
    code = (
        "import sys, apexrl.cli.app; "
        "heavy = [m for m in ('numba', 'scipy', 'matplotlib', 'torch', 'osqp', 'minari', "
        "'stable_baselines3', 'tensorflow', 'boto3') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_info_json_reports_versions_extras_and_folders(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("APEXRL_CACHE_DIR", str(tmp_path / "c"))
    result = cli("info", "--json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["cache_dir"] == str(tmp_path / "c")
    assert data["packages"]["numpy"]
    assert set(data["extras"]) >= {"train", "edge", "deepracer", "distributed"}


def test_unknown_command_is_a_usage_error(cli):
    assert cli("no-such-command").exit_code == 2
