"""``apexrl info``: versions, installed extras, cache and runs folders."""

from __future__ import annotations

from typing import Annotated

import typer

from apexrl.cli._common import console, handle_errors, print_json


@handle_errors
def info_command(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of a table.")
    ] = False,
) -> None:
    """Print apexrl's version, Python, installed extras and the cache and runs folders."""
    from apexrl.config import environment_info

    data = environment_info()
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    table = Table(title="apexrl", show_header=False)
    table.add_row("version", data["apexrl"])
    table.add_row("python", data["python"])
    table.add_row("platform", data["platform"])
    table.add_row("cache folder", data["cache_dir"])
    table.add_row("runs folder", data["runs_dir"])
    for extra, ok in data["extras"].items():
        table.add_row(f"extra [{extra}]", "[green]installed[/]" if ok else "[dim]not installed[/]")
    for name, version in data["packages"].items():
        table.add_row(name, version or "[dim]-[/]")
    console().print(table)
