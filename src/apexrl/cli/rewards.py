"""``apexrl rewards``: DeepRacer reward functions -- templates and validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from apexrl.cli._common import console, handle_errors, print_json

if TYPE_CHECKING:
    from apexrl.deepracer.reward_check import ValidationReport

app = typer.Typer(
    help=(
        "DeepRacer reward functions: list and render the scenario templates, and validate a "
        "reward_function.py before training with it."
    ),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("list")
@handle_errors
def list_command(json_output: JsonOpt = False) -> None:
    """List the reward templates with their parameters and reward ranges."""
    from apexrl.deepracer.templates import list_templates

    templates = list_templates()
    if json_output:
        print_json(
            [
                {
                    "name": t.name,
                    "title": t.title,
                    "needs_track": t.needs_track,
                    "reward_range": t.reward_range,
                    "description": t.description,
                    "params": {p.name: {"default": p.default, "help": p.help} for p in t.params},
                }
                for t in templates
            ]
        )
        return
    from rich.table import Table

    table = Table(title="reward templates (apexrl rewards create-from-racing-scenario NAME)")
    for column in ("name", "what it rewards", "range", "parameters (default)"):
        table.add_column(column)
    for t in templates:
        params = ", ".join(f"{p.name}={p.default!r}" for p in t.params)
        title = t.title + (" [needs --track]" if t.needs_track else "")
        table.add_row(t.name, title, t.reward_range, params)
    console().print(table)


def _parse_params(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(
            f"not valid JSON ({exc.msg} at column {exc.colno}); e.g. '{{\"max_speed_mps\": 3.5}}'",
            param_hint="--params",
        ) from None
    if not isinstance(data, dict):
        raise typer.BadParameter("must be a JSON object of name: value", param_hint="--params")
    return data


@app.command("create-from-racing-scenario")
@handle_errors
def create_command(
    name: Annotated[
        str, typer.Argument(help="Template name (see 'apexrl rewards list').", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="File to write, e.g. reward_function.py."),
    ],
    params: Annotated[
        str | None,
        typer.Option(
            "--params", help="Template parameters as a JSON object, e.g. '{\"tolerance_m\": 0.2}'."
        ),
    ] = None,
    track: Annotated[
        str | None,
        typer.Option(
            "--track",
            help="Track the model trains on (racing_line embeds its racing line): a built-in "
            "name, shape spec, .npy/.csv/.json file or downloaded DeepRacer world.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Write a self-contained reward_function.py from a scenario template."""
    from apexrl.deepracer.templates import write_template

    values = _parse_params(params)
    source = write_template(name, output, values, track, force=force)
    if json_output:
        print_json({"template": name, "path": str(output), "bytes": len(source.encode())})
        return
    console().print(
        f"wrote {output} from template {name}; check it with 'apexrl rewards validate {output}'",
        markup=False,
    )


@app.command(
    "validate",
    help=(
        "Lint a reward_function.py like the AWS console (imports only from math, random, numpy, "
        "scipy, shapely; no open/eval/exec/compile/input/__import__; a reward_function(params)), "
        "then call it on sample params in a separate process with a per-call time limit. Exit "
        "code 1 on any problem.\n\nThis is LINTING, NOT A SANDBOX: the sample calls run the file "
        "with your privileges. Read code you did not write before validating it."
    ),
)
@handle_errors
def validate_command(
    file: Annotated[Path, typer.Argument(help="The reward_function.py to check.")],
    track: Annotated[
        str | None,
        typer.Option("--track", help="Track for the sample params. Default: dr_oval."),
    ] = None,
    calls: Annotated[int, typer.Option("--calls", min=1, help="Number of sample calls.")] = 100,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.01, help="Seconds allowed per call (console: 5).")
    ] = 5.0,
    objects: Annotated[
        int,
        typer.Option(
            "--objects",
            min=0,
            help="Boxes on the track in the samples (object avoidance / head-to-bot races).",
        ),
    ] = 0,
    legacy_first_step: Annotated[
        bool,
        typer.Option(
            "--legacy-first-step",
            help="Start episodes at steps == 1 like simulators before 2021 (the current one "
            "first calls the reward function at steps == 2).",
        ),
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample params.")] = 0,
    json_output: JsonOpt = False,
) -> None:
    from apexrl.deepracer.reward_check import validate_reward_file

    report = validate_reward_file(
        file,
        track,
        calls=calls,
        timeout_s=timeout,
        seed=seed,
        n_objects=objects,
        first_step=1 if legacy_first_step else 2,
    )
    if json_output:
        print_json(report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: ValidationReport) -> None:
    out = console()
    err = console(stderr=True)
    for issue in report.lint:
        err.print(f"[red]lint[/] {report.path}:{issue.line}: {issue.message}", markup=True)
    for failure in report.failures:
        where = "loading" if failure.call < 0 else f"call {failure.call} (step {failure.step})"
        first, _, rest = failure.message.partition("\n")
        err.print(f"[red]{failure.kind}[/] {where}: ", end="", markup=True)
        err.print(first, markup=False)
        if rest:
            err.print(rest, markup=False)
    for note in report.notes:
        err.print(note, markup=False)
    if report.ok:
        out.print(
            f"ok: {report.path} passed lint and {report.calls_made} calls on {report.track}; "
            f"rewards {report.reward_min:.4g} to {report.reward_max:.4g} "
            f"(mean {report.reward_mean:.4g})",
            markup=False,
        )
    else:
        problems = len(report.lint) + len(report.failures)
        err.print(
            f"[bold red]{report.path}: {problems} problem(s)[/] "
            f"({report.calls_made} of {report.calls_requested} calls made)",
            markup=True,
        )
