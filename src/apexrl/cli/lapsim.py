"""``apexrl lapsim`` and ``apexrl raceline``: optimal laps and minimum-curvature racing lines."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from apexrl.cli._common import TrackArg, console, handle_errors, print_json

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


class Vehicle(StrEnum):
    auto = "auto"
    pointmass = "pointmass"
    motorcycle = "motorcycle"
    car = "car"


class Line(StrEnum):
    raceline = "raceline"
    centerline = "centerline"


AUTO_MOTORCYCLE_MIN_LENGTH_M = 200.0
"""``--vehicle auto`` picks the motorcycle on tracks longer than this, the DeepRacer car below."""


def _envelope(vehicle: Vehicle, track_length_m: float, mu: float | None, roll_rate_limit: bool):
    from dataclasses import replace

    from apexrl.vehicles.params import CarParams, MotorcycleParams, point_mass_envelope

    if vehicle is Vehicle.auto:
        long = track_length_m > AUTO_MOTORCYCLE_MIN_LENGTH_M
        vehicle = Vehicle.motorcycle if long else Vehicle.car
    if roll_rate_limit and vehicle is not Vehicle.motorcycle:
        raise ValueError("--roll-rate-limit applies to the motorcycle only")
    if mu is not None and not mu > 0:
        raise ValueError(f"--mu must be positive, got {mu}")
    if vehicle is Vehicle.pointmass:
        return vehicle, point_mass_envelope(1.0 if mu is None else mu)
    if vehicle is Vehicle.motorcycle:
        params = MotorcycleParams() if mu is None else replace(MotorcycleParams(), mu=mu)
        return vehicle, params.envelope(roll_rate_limit=roll_rate_limit)
    params = CarParams() if mu is None else replace(CarParams(), mu=mu)
    return vehicle, params.envelope()


@handle_errors
def lapsim_command(
    track: TrackArg,
    vehicle: Annotated[
        Vehicle,
        typer.Option(
            help="pointmass (friction ellipse only), motorcycle (600 cc supersport) or car "
            "(DeepRacer). auto: motorcycle on tracks over 200 m, car otherwise."
        ),
    ] = Vehicle.auto,
    mu: Annotated[
        float | None, typer.Option(help="Tyre friction coefficient (default: the vehicle's).")
    ] = None,
    line: Annotated[
        Line, typer.Option(help="Drive the minimum-curvature racing line or the centre line.")
    ] = Line.raceline,
    roll_rate_limit: Annotated[
        bool,
        typer.Option(
            "--roll-rate-limit", help="Motorcycle: add the roll-rate ceiling (club-rider realism)."
        ),
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Quasi-steady-state optimal lap time of a vehicle on a track (physics.md section 1).

    Prints the lap time, speed range and equal-distance sector times.
    """
    from apexrl.tracks.lapsim import optimal_lap
    from apexrl.tracks.library import load_track

    trk = load_track(track)
    chosen, envelope = _envelope(vehicle, trk.length_m, mu, roll_rate_limit)
    lap, _ = optimal_lap(trk, envelope, line=line.value)
    data = {
        "lap_time_s": round(lap.lap_time_s, 4),
        "track": trk.name,
        "line": line.value,
        "vehicle": chosen.value,
        "mu": envelope.mu,
        "roll_rate_limit": roll_rate_limit,
        "length_m": round(trk.length_m, 3),
        "line_length_m": round(lap.length_m, 3),
        "v_max_mps": round(float(lap.v_mps.max()), 3),
        "v_min_mps": round(float(lap.v_mps.min()), 3),
        "v_mean_mps": round(lap.length_m / lap.lap_time_s, 3),
        "sector_times_s": [round(t, 4) for t in lap.sector_times_s],
    }
    if json_output:
        print_json(data)
        return
    from rich.table import Table

    table = Table(title=f"optimal lap: {trk.name} ({chosen.value}, {line.value})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_row("lap time", f"[bold green]{lap.lap_time_s:.3f} s[/]")
    table.add_row("track length", f"{trk.length_m:.1f} m")
    table.add_row("line length", f"{lap.length_m:.1f} m")
    table.add_row(
        "speed min / mean / max",
        f"{data['v_min_mps']:.2f} / {data['v_mean_mps']:.2f} / {data['v_max_mps']:.2f} m/s",
    )
    for i, t in enumerate(lap.sector_times_s, 1):
        table.add_row(f"sector {i}", f"{t:.3f} s")
    console().print(table)


@handle_errors
def raceline_command(
    track: TrackArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="CSV to write (x_m,y_m,w_right_m,w_left_m: loads as a track)."
        ),
    ],
    margin: Annotated[
        float | None,
        typer.Option(help="Distance to keep from each border, m (default 7.5 % of the width)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Compute the minimum-curvature racing line of a track and write it as a track CSV.

    Also reports the QSS lap time on the centre line and on the racing line for the vehicle
    ``apexrl lapsim --vehicle auto`` would pick.
    """
    if output.exists() and not force:
        raise FileExistsError(f"{output} already exists; pass --force to overwrite it")
    from apexrl.io_utils import write_text_atomic
    from apexrl.tracks.lapsim import simulate_lap
    from apexrl.tracks.library import load_track
    from apexrl.tracks.raceline import minimum_curvature_line

    trk = load_track(track)
    racing = minimum_curvature_line(trk, margin_m=margin)
    write_text_atomic(output, racing.to_csv_text())
    chosen, envelope = _envelope(Vehicle.auto, trk.length_m, None, False)
    centre_s = simulate_lap(trk, envelope).lap_time_s
    racing_s = simulate_lap(racing.line, envelope).lap_time_s
    data = {
        **racing.to_dict(),
        "output": str(output),
        "vehicle": chosen.value,
        "lap_time_centerline_s": round(centre_s, 4),
        "lap_time_raceline_s": round(racing_s, 4),
    }
    if json_output:
        print_json(data)
        return
    console().print(
        f"racing line of [bold]{trk.name}[/]: {racing.line.length_m:.2f} m "
        f"(centre line {trk.length_m:.2f} m), offsets {data['offset_min_m']:+.3f} .. "
        f"{data['offset_max_m']:+.3f} m; {chosen.value} lap {racing_s:.3f} s "
        f"(centre line {centre_s:.3f} s) -> {output}"
    )
