"""``apexrl deepracer`` (sim-trace plots) and ``apexrl rewards test`` (scripted test drives)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from apexrl.cli._common import console, handle_errors, print_json

app = typer.Typer(
    help="AWS DeepRacer runs: plot sim-trace logs over their track.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output file.")]
TrackOpt = Annotated[
    str,
    typer.Option(
        "--track",
        help="Built-in name, shape spec, .npy/.csv/.json file or downloaded DeepRacer world.",
    ),
]


class RaceType(StrEnum):
    TIME_TRIAL = "TIME_TRIAL"
    OBJECT_AVOIDANCE = "OBJECT_AVOIDANCE"
    HEAD_TO_BOT = "HEAD_TO_BOT"


class Policy(StrEnum):
    centerline = "centerline"
    raceline = "raceline"
    random = "random"


def _refuse_existing(path: Path, force: bool, option: str) -> None:
    if path.exists() and not force:
        raise FileExistsError(
            f"{path} exists; pass --force to overwrite it or choose another {option}"
        )


@app.command("plot")
@handle_errors
def plot_command(
    log: Annotated[Path, typer.Argument(help="Sim-trace CSV.", show_default=False)],
    track: TrackOpt,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Image to write (default: LOG with .png)."),
    ] = None,
    episode: Annotated[
        list[int] | None, typer.Option("--episode", help="Only these episodes (repeatable).")
    ] = None,
    force: ForceOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Draw a sim-trace's route coloured by speed and by reward, marking off-track steps."""
    from apexrl.deepracer.simtrace import plot_simtrace, read_simtrace
    from apexrl.tracks.library import load_track

    target = output if output is not None else log.with_suffix(".png")
    _refuse_existing(target, force, "--output")
    trace = read_simtrace(log)
    written = plot_simtrace(trace, load_track(track), target, episodes=episode or None)
    summary = {
        "log": str(log),
        "plot": str(written),
        "rows": len(trace),
        "episodes": int(len(set(trace["episode"].tolist()))),
        "off_track_rows": int((~trace["all_wheels_on_track"]).sum()),
    }
    if json_output:
        print_json(summary)
    else:
        console().print(
            f"wrote {written}: {summary['rows']} steps of {summary['episodes']} episode(s), "
            f"{summary['off_track_rows']} with a wheel off the road",
            markup=False,
        )


@handle_errors
def rewards_test_command(
    file: Annotated[Path, typer.Argument(help="The reward_function.py to drive with.")],
    track: TrackOpt = "dr_oval",
    race_type: Annotated[RaceType, typer.Option("--race-type", help="Race type.")] = (
        RaceType.TIME_TRIAL
    ),
    episodes: Annotated[int, typer.Option("--episodes", min=1, help="Episodes to drive.")] = 3,
    policy: Annotated[
        Policy,
        typer.Option(
            "--policy", help="Pure pursuit of the centre line / racing line, or random actions."
        ),
    ] = Policy.centerline,
    first_call_step: Annotated[
        int,
        typer.Option(
            "--first-call-step",
            min=1,
            max=2,
            help="2: the current simulator (step 1 prepares); 1: simulators before 2021.",
        ),
    ] = 2,
    speed: Annotated[
        float, typer.Option("--speed", min=0.1, max=4.0, help="Scripted speed, m/s.")
    ] = 1.5,
    action_space: Annotated[
        str, typer.Option("--action-space", help="Action-space preset or .json file.")
    ] = "time_trial",
    reverse: Annotated[bool, typer.Option("--reverse", help="Drive the track backwards.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random policy.")] = 0,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write rewards along the track to this PNG.")
    ] = None,
    force: ForceOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Drive laps with a scripted policy, calling the reward function exactly as the DeepRacer
    simulator would; report calls, errors (with step and params) and the rewards. Exit code 1
    when a call failed.

    This runs FILE with your privileges; it is not a sandbox.
    """
    from apexrl.deepracer.reward_test import run_reward_test
    from apexrl.tracks.library import load_track

    if plot is not None:
        _refuse_existing(plot, force, "--plot")
    loaded = load_track(track)
    report = run_reward_test(
        file,
        loaded,
        race_type=race_type.value,
        episodes=episodes,
        policy=policy.value,
        first_call_step=first_call_step,
        speed_mps=speed,
        action_space=action_space,
        reverse=reverse,
        seed=seed,
    )
    if plot is not None:
        report.plot(plot, loaded)
    if json_output:
        data = report.to_dict()
        if plot is not None:
            data["plot"] = str(plot)
        print_json(data)
    else:
        _print_report(report, plot)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: Any, plot: Path | None) -> None:
    out, err = console(), console(stderr=True)
    for e in report.errors:
        first, _, rest = e["message"].partition("\n")
        err.print(f"[red]{e['kind']}[/] episode {e['episode']} step {e['step']}: ", end="")
        err.print(first, markup=False)
        if rest:
            err.print(rest, markup=False)
        params = {k: v for k, v in e["params"].items() if k != "waypoints"}
        err.print(f"  params: {params}", markup=False)
    for ep in report.episodes:
        out.print(
            f"episode {ep['episode']}: {ep['status']} after {ep['steps']} steps, "
            f"progress {ep['progress']:.1f} %, {ep['calls']} calls, {ep['errors']} errors",
            markup=False,
        )
    d = report.to_dict()
    rewards = (
        f"rewards {d['reward_min']:.4g} to {d['reward_max']:.4g} (mean {d['reward_mean']:.4g})"
        if d["reward_min"] is not None
        else "no successful calls"
    )
    line = f"{report.calls} calls, {report.error_count} error(s); {rewards}"
    if plot is not None:
        line += f"; plot: {plot}"
    (out if report.ok else err).print(line, markup=False)
