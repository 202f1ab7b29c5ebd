"""Test-wide fixtures: every test gets its own cache and runs folder, never the user's."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_apexrl_dirs(tmp_path_factory, monkeypatch):
    base = tmp_path_factory.mktemp("apexrl-home")
    monkeypatch.setenv("APEXRL_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("APEXRL_RUNS_DIR", str(base / "runs"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield


@pytest.fixture
def cli():
    """Invoke the real ``apexrl`` Typer app in-process: ``cli("tracks", "show", "x")``."""
    from typer.testing import CliRunner

    from apexrl.cli.app import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke
