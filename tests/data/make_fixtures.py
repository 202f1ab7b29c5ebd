"""Regenerate tests/data/fixtures/: ``python tests/data/make_fixtures.py`` (from the repo root).

Both files are synthetic logs of a rider on apexrl's built-in ``apex_park`` with a KNOWN ground
truth, so the importer can be tested against it:

- path: the centre line plus a lateral offset ``n = OFFSET_AMPLITUDE_M * sin(2 pi s / 600 m)``;
- speed: the centre line's QSS speed (``MotorcycleParams().envelope()``) times ``speed_fraction``;
- GPS: the path placed on Earth with the track's (0, 0) at ``ORIGIN`` and its +x axis at compass
  bearing ``HEADING_DEG``, projected with the equirectangular formula written out here (not the
  importer's), plus seeded Gaussian noise of ``GPS_NOISE_M``;
- accelerations: lateral v^2 kappa, longitudinal dv/dt; lean atan(a_y / g).

``racechrono_v3.csv`` (10 Hz, CSV v3 layout: banner, Format,3, preamble, header/units/source rows,
a repeated ``speed`` and ``device_update_rate`` column) logs lean and lateral acceleration
POSITIVE TO THE RIGHT, so the importer's sign check must flip them, and has no throttle or brake.
``aim.csv`` (10 Hz, AiM layout: metadata rows with beacon markers, channel names, units, quoted
data) logs throttle (%), brake pressure (bar, 20 bar = full) and + left lateral acceleration, and
no lean. Both start before the line (out-lap), hold one complete lap and end after it (in-lap).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from apexrl.tracks.lapsim import simulate_lap
from apexrl.tracks.library import load_track
from apexrl.vehicles.params import MotorcycleParams

FIXTURES = Path(__file__).parent / "fixtures"
ORIGIN = (46.20316, 6.14571)
HEADING_DEG = 30.0
OFFSET_AMPLITUDE_M = 2.5
OFFSET_WAVELENGTH_M = 600.0
GPS_NOISE_M = 0.15
RATE_HZ = 10.0
BRAKE_FULL_BAR = 20.0
_R = 6_371_008.8
G = 9.81


def offset_m(s: np.ndarray) -> np.ndarray:
    return OFFSET_AMPLITUDE_M * np.sin(2 * np.pi * s / OFFSET_WAVELENGTH_M)


def ride(speed_fraction: float, before_m: float, after_m: float, seed: int) -> dict:
    """Sampled ground truth of a ride from ``before_m`` ahead of the line, one lap, ``after_m``."""
    track = load_track("apex_park")
    bike = MotorcycleParams()
    qss = simulate_lap(track, bike.envelope())
    length = track.length_m
    start_s, distance_m = length - before_m, before_m + length + after_m
    grid = np.append(track.s_m, length)
    v_grid = np.append(qss.v_mps, qss.v_mps[0]) * speed_fraction
    # Unwrapped distance u on a fine grid and the time to get there.
    u = np.arange(start_s, start_s + distance_m, 0.25)
    v = np.interp(np.mod(u, length), grid, v_grid)
    t = np.concatenate([[0.0], np.cumsum(np.diff(u) * 2.0 / (v[1:] + v[:-1]))])
    ts = np.arange(0.0, t[-1], 1.0 / RATE_HZ)
    us = np.interp(ts, t, u)
    s = np.mod(us, length)
    speed = np.interp(ts, t, v)
    n = offset_m(s)
    xy = track.to_world(s, n)
    kappa = track.curvature_at(s)
    # Curvature of the offset path (a parallel curve plus the weave), good to a few per cent.
    kappa_path = kappa / (1 - n * kappa) - np.gradient(np.gradient(n, us), us)
    lateral_g = speed**2 * kappa_path / G
    longitudinal_g = np.gradient(speed, ts) / G
    rng = np.random.default_rng(seed)
    xy = xy + rng.normal(0.0, GPS_NOISE_M, xy.shape)
    beta = math.radians(HEADING_DEG)
    # Track frame -> east/north: x axis at compass bearing beta, y axis 90 deg to its left.
    east = xy[:, 0] * math.sin(beta) - xy[:, 1] * math.cos(beta)
    north = xy[:, 0] * math.cos(beta) + xy[:, 1] * math.sin(beta)
    lat = ORIGIN[0] + np.degrees(north / _R)
    lon = ORIGIN[1] + np.degrees(east / (_R * math.cos(math.radians(ORIGIN[0]))))
    a_tyre = longitudinal_g * G + bike.drag_per_mass_1pm * speed**2 + bike.rolling_resistance * G
    drive_max = np.minimum(
        np.minimum(bike.power_w / (bike.mass_kg * np.maximum(speed, 1.0)), bike.mu * G),
        bike.wheelie_ax_max_mps2,
    )
    brake_max = min(bike.brake_max_mps2, bike.stoppie_ax_max_mps2)
    crossings = np.flatnonzero(np.diff(np.floor(us / length)) > 0) + 1
    return {
        "t": ts,
        "u": us - start_s,
        "lat": lat,
        "lon": lon,
        "speed": speed + rng.normal(0.0, 0.05, ts.shape),
        "lateral_g": lateral_g + rng.normal(0.0, 0.02, ts.shape),
        "longitudinal_g": longitudinal_g + rng.normal(0.0, 0.02, ts.shape),
        "lean_deg": np.degrees(np.arctan(lateral_g)),
        "throttle": np.clip(a_tyre / drive_max, 0.0, 1.0),
        "brake": np.clip(-a_tyre / brake_max, 0.0, 1.0),
        "crossings": crossings,
        "heading_deg": (HEADING_DEG - np.degrees(track.heading_at(s))) % 360.0,
    }


def write_racechrono(path: Path) -> None:
    r = ride(0.90, 450.0, 250.0, seed=11)
    names = (
        "timestamp,fragment_id,lap_number,elapsed_time,distance_traveled,accuracy,altitude,"
        "bearing,device_update_rate,fix_type,latitude,longitude,satellites,speed,combined_acc,"
        "device_update_rate,lateral_acc,lean_angle,longitudinal_acc,speed"
    )
    units = "unix time,,,s,m,m,m,deg,Hz,,deg,deg,sats,m/s,G,Hz,G,deg,G,m/s"
    sources = ",,,,," + ",".join(["100: gps"] * 9) + "," + ",".join(["calc"] * 6)
    lap = np.searchsorted(r["crossings"], np.arange(r["t"].size), side="right")
    lines = [
        "This file is created using RaceChrono Pro v9.1.3 ( http://racechrono.com/ ).",
        "Format,3",
        'Session title,"apexrl fixture"',
        "Session type,Lap timing",
        'Track name,"apex_park"',
        "Driver name,fixture rider",
        "Created,02/05/2026,10:15",
        "Note,synthetic log (tests/data/make_fixtures.py)",
        "",
        names,
        units,
        sources,
    ]
    t0 = 1777716900.0
    for i in range(r["t"].size):
        combined = math.hypot(r["lateral_g"][i], r["longitudinal_g"][i])
        lines.append(
            ",".join(
                [
                    f"{t0 + r['t'][i]:.3f}",
                    "0",
                    "" if lap[i] == 0 else str(int(lap[i])),
                    f"{r['t'][i]:.3f}",
                    f"{r['u'][i]:.2f}",
                    "0.8",
                    "412.0",
                    f"{r['heading_deg'][i]:.1f}",
                    "10.0",
                    "3",
                    f"{r['lat'][i]:.8f}",
                    f"{r['lon'][i]:.8f}",
                    "14",
                    f"{r['speed'][i]:.3f}",
                    f"{combined:.3f}",
                    "10.0",
                    f"{-r['lateral_g'][i]:.3f}",
                    f"{-r['lean_deg'][i]:.2f}",
                    f"{r['longitudinal_g'][i]:.3f}",
                    f"{r['speed'][i]:.3f}",
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_aim(path: Path) -> None:
    r = ride(0.85, 300.0, 300.0, seed=12)
    beacons = r["t"][r["crossings"]]
    segments = np.diff(np.concatenate([[0.0], beacons]))

    def q(*cells: str) -> str:
        return ",".join(f'"{c}"' for c in cells)

    lines = [
        q("Format", "AiM CSV File"),
        q("Venue", "apex_park"),
        q("Vehicle", "600 SS"),
        q("User", "fixture rider"),
        q("Data Source", "AiM data logger"),
        q("Comment", "synthetic log (tests/data/make_fixtures.py)"),
        q("Date", "Saturday, May 2, 2026"),
        q("Time", "10:15 AM"),
        q("Sample Rate", "10"),
        q("Duration", f"{r['t'][-1]:.3f}"),
        q("Segment", "Session"),
        q("Beacon Markers", *(f"{b:.3f}" for b in beacons)),
        q("Segment Times", *(f"{int(x // 60)}:{x % 60:06.3f}" for x in segments)),
        "",
        q(
            "Time",
            "GPS Speed",
            "GPS Latitude",
            "GPS Longitude",
            "GPS Heading",
            "LateralAcc",
            "InlineAcc",
            "TPS",
            "BrakePress",
            "RPM",
        ),  # fmt: skip
        q("s", "km/h", "deg", "deg", "deg", "g", "g", "%", "bar", "rpm"),
        "",
    ]
    for i in range(r["t"].size):
        lines.append(
            q(
                f"{r['t'][i]:.3f}",
                f"{r['speed'][i] * 3.6:.2f}",
                f"{r['lat'][i]:.8f}",
                f"{r['lon'][i]:.8f}",
                f"{r['heading_deg'][i]:.1f}",
                f"{r['lateral_g'][i]:.3f}",
                f"{r['longitudinal_g'][i]:.3f}",
                f"{r['throttle'][i] * 100:.1f}",
                f"{r['brake'][i] * BRAKE_FULL_BAR:.2f}",
                f"{4000 + 100 * r['speed'][i]:.0f}",
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    FIXTURES.mkdir(exist_ok=True)
    write_racechrono(FIXTURES / "racechrono_v3.csv")
    write_aim(FIXTURES / "aim.csv")
    print("wrote", *sorted(p.name for p in FIXTURES.glob("*.csv")))
