"""``apexrl pipeline``: the main job (what ./run_pipeline.sh runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import console, handle_errors, print_json


@handle_errors
def pipeline_command(
    track: Annotated[
        str, typer.Option(help="Track: built-in name, shape spec, file or DeepRacer world name.")
    ] = "apex_park",
    output: Annotated[
        Path | None,
        typer.Option(help="Run folder (must be new or empty). Default: runs/<UTC timestamp>/."),
    ] = None,
    vehicle: Annotated[
        str, typer.Option(help="Vehicle for the optimal lap: motorcycle or car.")
    ] = "motorcycle",
    json_output: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the apexrl pipeline into a fresh run folder.

    Steps available today: the racing line and QSS optimal lap of the track, with a plot
    (optimal_lap.png), the line as CSV and optimal_lap.json. The coaching steps (datasets,
    behaviour cloning, PPO, evaluation, export) are added to this command as they land.
    Writes pipeline.log, and summary.json last, only when every step succeeded.
    """
    from apexrl import pipeline

    with console(stderr=True).status("racing line and optimal lap ..."):
        summary = pipeline.run(track=track, output=output, vehicle=vehicle)
    if json_output:
        print_json(summary)
        return
    lap = summary["steps"]["optimal_lap"]
    out = console()
    out.print(f"[bold]apexrl pipeline[/] -> {summary['output']}")
    out.print(
        f"  {lap['track']} ({lap['length_m']:.0f} m, {lap['vehicle']}): optimal lap "
        f"[bold green]{lap['raceline_lap_time_s']:.2f} s[/] on the racing line, "
        f"{lap['centerline_lap_time_s']:.2f} s on the centre line "
        f"({lap['raceline_gain_percent']:.1f} % faster)"
    )
    out.print(f"  files: {lap['plot_png']}, {lap['raceline_csv']}, optimal_lap.json, summary.json")
    out.print(f"  done in {summary['seconds']:.1f} s")
