"""``apexrl evaluate``: lap metrics and coaching efficacy of a coach model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import console, handle_errors, print_json


@handle_errors
def evaluate_command(
    model: Annotated[
        Path, typer.Argument(help="Model folder (model.json + model.safetensors) or SB3 .zip.")
    ],
    track: Annotated[
        str, typer.Option("--track", "-t", help="Built-in name, shape spec or track file.")
    ] = "apex_park",
    episodes: Annotated[int, typer.Option(min=1, help="Lap attempts per condition.")] = 10,
    seed: Annotated[int, typer.Option(min=0, help="First env seed (env i: seed + i).")] = 42,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write evaluation.json and the PNGs here."),
    ] = None,
    plots: Annotated[bool, typer.Option(help="Write the PNGs (with --output).")] = True,
    allow_pickle: Annotated[
        bool,
        typer.Option("--allow-pickle", help="Allow loading an SB3 .zip (it contains pickle)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an evaluation.json in --output.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Evaluate a coach on the same riders as the baselines: the amateur alone, with the learned
    coach, with the oracle coach, the pro, and the QSS optimal lap; gap_closed_fraction =
    (amateur - coached) / (amateur - pro)."""
    from apexrl.evaluate.coaching import evaluate_coach, evaluation_table

    result = evaluate_coach(model, output, track=track, episodes=episodes, seed=seed,
                            allow_pickle=allow_pickle, plots=plots,
                            progress=not json_output, overwrite=force)  # fmt: skip
    if json_output:
        print_json(result)
        return
    out = console()
    out.print(evaluation_table(result))
    c = result["coaching"]
    gap = c["gap_closed_fraction"]
    out.print(
        f"gap closed: [bold]{'-' if gap is None else f'{gap:.0%}'}[/] of the amateur-to-pro lap "
        f"time; violations per episode: amateur {c['amateur_violations_per_episode']}, coached "
        f"{c['coached_violations_per_episode']}"
    )
    if output is not None:
        out.print(f"wrote {output / 'evaluation.json'}" + (
            f" and {', '.join(result['plots'])}" if result["plots"] else ""))  # fmt: skip
