from __future__ import annotations

import pytest
from typer.testing import CliRunner


@pytest.fixture
def cli():
    """Invoke the real ``apexrl`` Typer app in-process: ``cli("tracks", "show", "x")``."""
    from apexrl.cli.app import app

    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), catch_exceptions=False)

    return invoke
