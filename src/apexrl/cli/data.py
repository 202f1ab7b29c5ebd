"""``apexrl data``: generate, validate, import and compare laps (Minari datasets)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import console, fail, handle_errors, print_json

app = typer.Typer(
    help=(
        "Datasets: generate Minari datasets of oracle-coached laps, validate them, import "
        "RaceChrono/AiM logs and compare a lap with the optimal lap corner by corner."
    ),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
TrackOpt = Annotated[
    str,
    typer.Option(
        "--track", "-t", help="Built-in name, shape spec or track file (see `apexrl tracks list`)."
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace existing outputs.")]
OriginOpt = Annotated[
    str | None,
    typer.Option(
        "--origin",
        help="LAT,LON[,HEADING]: GPS position of the track's (0, 0) and the compass bearing of "
        "its +x axis (default 90 = east). Without it the log is fitted onto the track.",
    ),
]
BrakeScaleOpt = Annotated[
    float,
    typer.Option(
        "--brake-full-scale-bar",
        min=0.1,
        help="Brake pressure (bar) counted as full braking when a log gives pressure.",
    ),
]


class LogFormat(StrEnum):
    auto = "auto"
    racechrono = "racechrono"
    aim = "aim"


FormatOpt = Annotated[
    LogFormat,
    typer.Option("--format", "-f", help="Log format; auto reads the first line."),
]


@app.command("generate")
@handle_errors
def generate_command(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Minari root folder to write the datasets into.")
    ],
    laps: Annotated[int, typer.Option(min=1, help="Lap attempts (episodes) per rider.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives identical datasets.")] = 42,
    track: TrackOpt = "apex_park",
    riders: Annotated[
        str, typer.Option(help="Comma-separated rider presets, one dataset each.")
    ] = "pro,amateur",
    num_envs: Annotated[
        int | None, typer.Option(min=1, help="Parallel riders (default: min(laps, 100)).")
    ] = None,
    force: ForceOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Write apexrl/moto-<rider>-v0 Minari datasets of oracle-coached lap attempts."""
    from apexrl.data.generate import generate_datasets

    names = tuple(r.strip() for r in riders.split(",") if r.strip())
    summary = generate_datasets(
        output,
        laps=laps,
        seed=seed,
        track=track,
        riders=names,
        num_envs=num_envs,
        force=force,
        progress=not json_output,
    )
    if json_output:
        print_json(summary)
        return
    from rich.table import Table

    table = Table(title=f"seed {seed}, track {summary['track']}")
    table.add_column("dataset", no_wrap=True)
    for column in ("episodes", "laps/crash/limit", "mean lap", "best lap"):
        table.add_column(column, justify="right")
    for d in summary["datasets"]:
        c, lt = d["counts"], d["lap_time_s"]
        table.add_row(
            d["dataset_id"],
            str(c["episodes"]),
            f"{c['laps_completed']}/{c['crashes']}/{c['time_limits']}",
            "-" if lt["mean"] is None else f"{lt['mean']:.2f} s",
            "-" if lt["min"] is None else f"{lt['min']:.2f} s",
        )
    out = console()
    out.print(table)
    out.print(f"generated in {summary['seconds']:.1f} s; load with MINARI_DATASETS_PATH={output}")


@app.command("validate")
@handle_errors
def validate_command(
    path: Annotated[
        Path, typer.Argument(help="Minari root folder (every dataset in it) or a dataset folder.")
    ],
    json_output: JsonOpt = False,
) -> None:
    """Check checksums and the Minari invariants of datasets; exit 1 on any problem."""
    from apexrl.data.validate import validate_root

    reports = validate_root(path, raise_on_error=False)
    bad = [r for r in reports if not r.ok]
    if json_output:
        print_json({"ok": not bad, "datasets": [r.to_dict() for r in reports]})
        if bad:
            raise typer.Exit(1)
        return
    out = console()
    for r in reports:
        if r.ok:
            out.print(
                f"[green]ok[/] {r.dataset_id}: {r.episodes} episodes, {r.steps} steps, "
                f"{r.files} files verified ({r.bytes / 1e6:.1f} MB)"
            )
    if bad:
        problems = [f"{r.dataset_id}: {p}" for r in bad for p in r.problems]
        raise fail("invalid dataset: " + "; ".join(problems))


@app.command("import")
@handle_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="RaceChrono CSV v3 or AiM CSV export.")],
    track: TrackOpt = "apex_park",
    log_format: FormatOpt = LogFormat.auto,
    origin: OriginOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the laps as a Minari dataset here.")
    ] = None,
    dataset_id: Annotated[
        str, typer.Option("--dataset-id", help="Dataset id for --output.")
    ] = "apexrl/imported-v0",
    brake_full_scale_bar: BrakeScaleOpt = 20.0,
    complete_only: Annotated[
        bool, typer.Option("--complete-only", help="Write only complete laps to --output.")
    ] = False,
    force: ForceOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Import logged laps into the 8-channel schema, map-matched to TRACK."""
    from apexrl.data.telemetry import import_log, write_imported_dataset

    imported = import_log(
        file, track, format=log_format.value, origin=origin,
        brake_full_scale_bar=brake_full_scale_bar,
    )  # fmt: skip
    data = imported.to_dict()
    if output is not None:
        data["dataset"] = {
            "dataset_id": dataset_id,
            "path": str(
                write_imported_dataset(
                    imported, output, dataset_id, force=force, complete_only=complete_only
                )
            ),
        }
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    out = console()
    align = data["alignment"]
    out.print(
        f"{file.name}: {data['format']} log on {data['track']}, {data['sample_rate_hz']:g} Hz; "
        f"alignment {align['method']} (origin {align['origin']}, rms {align['rms_m']} m)"
    )
    laps = Table(title="laps")
    for column in ("lap", "kind", "time", "samples", "distance"):
        laps.add_column(column, justify="right")
    for lap in data["laps"]:
        time = "-" if lap["lap_time_s"] is None else f"{lap['lap_time_s']:.3f} s"
        laps.add_row(
            str(lap["number"]), lap["kind"], time, str(lap["samples"]), f"{lap['distance_m']} m"
        )
    out.print(laps)
    channels = Table(title="channels")
    channels.add_column("channel")
    channels.add_column("unit")
    channels.add_column("source")
    for name, unit in data["channels"].items():
        channels.add_row(name, unit, data["channel_sources"][name])
    out.print(channels)
    if "dataset" in data:
        out.print(f"wrote {data['dataset']['dataset_id']} to {data['dataset']['path']}")


@app.command("compare")
@handle_errors
def compare_command(
    lap: Annotated[
        Path | None, typer.Argument(help="RaceChrono/AiM log (its fastest lap unless --lap).")
    ] = None,
    track: TrackOpt = "apex_park",
    log_format: FormatOpt = LogFormat.auto,
    origin: OriginOpt = None,
    lap_number: Annotated[
        int | None, typer.Option("--lap", help="Lap number of the log (default: fastest).")
    ] = None,
    dataset: Annotated[
        Path | None, typer.Option("--dataset", help="Minari root holding the dataset.")
    ] = None,
    dataset_id: Annotated[
        str | None, typer.Option("--dataset-id", help="Dataset id, with --dataset.")
    ] = None,
    episode: Annotated[int, typer.Option(min=0, help="Episode of the dataset.")] = 0,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write speed vs distance as a PNG here.")
    ] = None,
    force: ForceOpt = False,
    json_output: JsonOpt = False,
) -> None:
    """Report a lap corner by corner against the optimal (QSS) lap on the racing line."""
    from apexrl.data import compare

    if (lap is None) == (dataset is None):
        raise fail("give either a log file LAP or --dataset DIR --dataset-id ID", 2)
    if dataset is not None and dataset_id is None:
        raise fail("--dataset needs --dataset-id", 2)
    if plot is not None and plot.exists() and not force:
        raise FileExistsError(f"{plot} exists; pass --force to overwrite it")
    if lap is not None:
        result = compare.compare_log(
            lap, track, format=log_format.value, origin=origin, lap=lap_number
        )
    else:
        result = compare.compare_dataset_episode(dataset, dataset_id, episode, track)
    data = result.to_dict()
    if plot is not None:
        data["plot"] = str(compare.plot_comparison(result, plot, force=force))
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    table = Table(
        title=(
            f"{data['lap']}: {data['lap_time_s']:.3f} s, optimal "
            f"{data['optimal_lap_time_s']:.3f} s (+{data['time_lost_s']:.3f} s)"
        )
    )
    for column in ("corner", "entry km/h", "min km/h", "exit km/h", "braking m", "lost s"):
        table.add_column(column, justify="left" if column == "corner" else "right")
    for row in compare.table_rows(result):
        table.add_row(*row)
    out = console()
    out.print(table)
    out.print(
        "speeds: lap / optimal; braking: + = later than optimal; "
        f"straights and the rest: {data['straights_time_lost_s']:+.3f} s"
    )
    if plot is not None:
        out.print(f"wrote {data['plot']}")
