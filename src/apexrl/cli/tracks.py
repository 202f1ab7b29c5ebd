"""``apexrl tracks``: list, show, plot and download tracks."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import TrackArg, console, handle_errors, print_json

app = typer.Typer(
    help=(
        "Tracks: list the built-in ones, show facts about any track, plot it with its racing line "
        "and optimal speed, download official DeepRacer routes."
    ),
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Vehicle(StrEnum):
    motorcycle = "motorcycle"
    car = "car"
    pointmass = "pointmass"


@app.command("list")
@handle_errors
def list_command(json_output: JsonOpt = False) -> None:
    """List the built-in tracks, the shape specs and the downloaded DeepRacer routes."""
    from apexrl.tracks import download, library

    builtins = []
    for name in library.builtin_tracks():
        info = library.builtin_info(name)
        track = library.builtin_track(name)
        builtins.append(
            {
                "name": name,
                "kind": info.kind,
                "length_m": round(track.length_m, 3),
                "orientation": track.orientation,
                "description": info.description,
            }
        )
    downloaded = [
        {"name": n, "path": str(download.cached_route_path(n))} for n in download.cached_routes()
    ]
    shapes = library.shape_specs()
    if json_output:
        print_json({"builtin": builtins, "shapes": shapes, "downloaded": downloaded})
        return
    from rich.table import Table

    out = console()
    table = Table(title="built-in tracks")
    for column in ("name", "kind", "length", "dir", "description"):
        table.add_column(column, justify="right" if column == "length" else "left")
    for row in builtins:
        table.add_row(
            row["name"],
            row["kind"],
            _length(row["length_m"]),
            row["orientation"],
            row["description"],
        )
    out.print(table)
    out.print("[bold]shapes[/] (any TRACK argument accepts these):")
    for syntax in shapes.values():
        out.print(f"  {syntax}", markup=False)
    if downloaded:
        out.print(
            "[bold]downloaded DeepRacer routes:[/] " + ", ".join(d["name"] for d in downloaded)
        )
    else:
        out.print(
            "[dim]no downloaded DeepRacer routes; get one with 'apexrl tracks download NAME'[/]"
        )


@app.command("show")
@handle_errors
def show_command(track: TrackArg, json_output: JsonOpt = False) -> None:
    """Show a track's length, direction, widths and tightest radius."""
    from apexrl.tracks.library import load_track

    data = load_track(track).summary()
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    table = Table(title=data["name"], show_header=False)
    table.add_row("length", _length(data["length_m"]))
    table.add_row("closed", "yes" if data["closed"] else "no (open)")
    table.add_row("direction", data["orientation"])
    table.add_row("width", f"{data['width_min_m']:g} - {data['width_max_m']:g} m")
    table.add_row("tightest radius", f"{data['min_radius_m']:g} m")
    table.add_row("samples", f"{data['n_points']} (input waypoints {data['n_waypoints']})")
    table.add_row("source", data["source"] or "-")
    console().print(table)


@app.command("plot")
@handle_errors
def plot_command(
    track: TrackArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Image file. Default: ./<track name>.png.")
    ] = None,
    vehicle: Annotated[
        Vehicle | None,
        typer.Option(
            help="Vehicle whose optimal speed colours the line. Default: motorcycle on tracks "
            "longer than 200 m, car otherwise.",
            case_sensitive=False,
        ),
    ] = None,
    no_raceline: Annotated[
        bool,
        typer.Option(
            "--no-raceline",
            help="Skip the racing-line optimisation; colour the centre line by its optimal speed.",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing image.")] = False,
) -> None:
    """Plot a track with its minimum-curvature racing line coloured by the optimal lap's speed."""
    from apexrl.evaluate.track_plots import plot_track
    from apexrl.tracks.lapsim import simulate_lap
    from apexrl.tracks.library import load_track
    from apexrl.vehicles.params import CarParams, MotorcycleParams, point_mass_envelope

    loaded = load_track(track)
    target = output if output is not None else Path(f"{loaded.name}.png")
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; pass --force to overwrite it")
    if vehicle is None:
        vehicle = Vehicle.motorcycle if loaded.length_m > 200.0 else Vehicle.car
    envelope = {
        Vehicle.motorcycle: lambda: MotorcycleParams().envelope(),
        Vehicle.car: lambda: CarParams().envelope(),
        Vehicle.pointmass: lambda: point_mass_envelope(),
    }[vehicle]()
    racing_line = None
    with console(stderr=True).status("racing line and optimal lap ..."):
        if no_raceline:
            lap = simulate_lap(loaded, envelope)
        else:
            from apexrl.tracks.raceline import minimum_curvature_line

            racing_line = minimum_curvature_line(loaded)
            lap = simulate_lap(racing_line.line, envelope)
        plot_track(loaded, target, racing_line=racing_line, lap=lap)
    where = "centre line" if no_raceline else "racing line"
    console().print(
        f"wrote {target}: {loaded.name}, optimal lap {lap.lap_time_s:.3f} s on the {where} "
        f"({vehicle.value})",
        markup=False,
    )


@app.command("download")
@handle_errors
def download_command(
    world_name: Annotated[
        str,
        typer.Argument(help="DeepRacer world name, e.g. reInvent2019_track.", show_default=False),
    ],
    base_url: Annotated[
        str | None,
        typer.Option(
            help="Folder URL holding <WORLD_NAME>.npy. Default: $APEXRL_ROUTES_URL, else "
            "the deepracer-simapp routes on GitHub."
        ),
    ] = None,
    sha256: Annotated[
        str | None, typer.Option(help="Expected SHA-256 of the file (hex); refuse anything else.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if cached.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Download an official AWS DeepRacer route into the cache (then use its name as TRACK)."""
    from apexrl.tracks.download import download_route, file_sha256, load_cached_route

    with console(stderr=True).status(f"downloading {world_name} ..."):
        path = download_route(world_name, base_url=base_url, sha256=sha256, force=force)
    track = load_cached_route(world_name, cache=path.parent.parent)
    data = {
        "name": track.name,
        "path": str(path),
        "sha256": file_sha256(path),
        "length_m": round(track.length_m, 3),
        "orientation": track.orientation,
        "closed": track.closed,
    }
    if json_output:
        print_json(data)
        return
    console().print(
        f"{path}\n{track.name}: {_length(track.length_m)}, {track.orientation}, "
        f"width {track.width_m.min():.3f}-{track.width_m.max():.3f} m",
        markup=False,
    )


def _length(length_m: float) -> str:
    return f"{length_m / 1000:.2f} km" if length_m >= 1000 else f"{length_m:.2f} m"
