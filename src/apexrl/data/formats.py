"""Read logged laps: RaceChrono CSV v3 and AiM CSV files into a :class:`RawLog` in SI units.

:func:`read_log` (``format="auto"`` asks :func:`detect_format`, which looks at the first line)
parses the file by column POSITION: RaceChrono repeats names such as ``speed`` for GPS, calculated
and OBD values; the first match wins, GPS preferred for speed. Every channel is converted to SI
(speed m/s, accelerations g, angles rad, throttle and brake as fractions; a brake pressure is
divided by ``brake_full_scale_bar``). Sensor rows without a GPS fix are interpolated onto the GPS
rows by time, so a :class:`RawLog` has one row per fix. The lap times the logger recorded itself
(RaceChrono ``lap_number``, AiM ``Beacon Markers``) are kept for cross-checks.

A file that cannot be read raises :class:`TelemetryFormatError` naming the file and the line.
Alignment with a track, map matching and lap splitting are :mod:`apexrl.data.telemetry`'s.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from apexrl.tracks.lapsim import G_MPS2

LogFormat = Literal["racechrono", "aim"]
FORMATS: tuple[str, ...] = ("racechrono", "aim")
RACECHRONO_BANNER = "This file is created using RaceChrono"
DEFAULT_BRAKE_FULL_SCALE_BAR = 20.0
"""Brake line pressure taken as full braking when a log gives pressure in bar (sport-bike front
brakes reach 15-20 bar at the limit)."""

_SPEED_UNITS = {"m/s": 1.0, "km/h": 1 / 3.6, "kph": 1 / 3.6, "mph": 0.44704, "kn": 0.514444}
_ACCEL_UNITS = {"g": 1.0, "m/s2": 1 / G_MPS2, "m/s^2": 1 / G_MPS2, "m/s²": 1 / G_MPS2}
_ANGLE_UNITS = {"deg": math.pi / 180, "°": math.pi / 180, "rad": 1.0}
_FRACTION_UNITS = {"%": 0.01, "": 1.0, "0-1": 1.0}
_PRESSURE_UNITS = {"bar": 1.0, "psi": 0.0689476, "kpa": 0.01, "mpa": 10.0}
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "unix time": 1.0, "ms": 1e-3}


class TelemetryFormatError(ValueError):
    """A log file cannot be read; the message names the file and the line."""


@dataclass(frozen=True, eq=False)
class RawLog:
    """A parsed log in SI units, one row per GPS fix (``N`` fixes, every array ``(N,)``).

    Optional channels are ``None`` when the file does not have them.
    """

    path: Path
    format: str
    t_s: np.ndarray
    """Seconds since the first fix, strictly increasing."""
    lat_deg: np.ndarray
    lon_deg: np.ndarray
    speed_mps: np.ndarray | None = None
    lean_rad: np.ndarray | None = None
    """As logged (sign convention unknown until checked against the path)."""
    lateral_g: np.ndarray | None = None
    longitudinal_g: np.ndarray | None = None
    throttle: np.ndarray | None = None
    """Fraction of full throttle."""
    brake: np.ndarray | None = None
    """Fraction of full braking (pressures already divided by the full-scale pressure)."""
    sources: dict[str, str] = field(default_factory=dict)
    """Channel -> where it came from (column number, name, source, unit)."""
    metadata: dict[str, str] = field(default_factory=dict)
    """The file's key/value preamble (session, track, driver, date, ...)."""
    logger_lap_times_s: tuple[float, ...] = ()
    """Lap times the logger itself recorded (its own start/finish line), for cross-checks."""


@dataclass(frozen=True)
class _Table:
    path: Path
    names: list[str]
    units: list[str]
    sources: list[str]
    values: np.ndarray  # (R, C) float64, NaN where a cell is empty
    lines: np.ndarray  # (R,) 1-based line number of every data row
    header_line: int
    units_line: int


def detect_format(path: str | os.PathLike) -> LogFormat:
    """``"racechrono"`` or ``"aim"`` from the first line of the file."""
    first = _read_lines(Path(path))[0] if Path(path).stat().st_size else ""
    if first.startswith(RACECHRONO_BANNER):
        return "racechrono"
    cells = next(csv.reader([first]), [])
    if (
        len(cells) >= 2
        and cells[0].strip() == "Format"
        and cells[1].strip().lower() == "aim csv file"
    ):
        return "aim"
    raise TelemetryFormatError(
        f"{path}:1: unknown log format; expected a RaceChrono CSV v3 banner "
        f'({RACECHRONO_BANNER!r} ...) or an AiM CSV export (\'"Format","AiM CSV File"\'), '
        f"got {first[:60]!r}"
    )


def read_log(
    path: str | os.PathLike,
    format: str = "auto",
    *,
    brake_full_scale_bar: float = DEFAULT_BRAKE_FULL_SCALE_BAR,
) -> RawLog:
    """Parse a RaceChrono CSV v3 or AiM CSV file (``format="auto"`` looks at the first line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no log file {p}")
    if format == "auto":
        format = detect_format(p)
    if format == "racechrono":
        return _read_racechrono(p, brake_full_scale_bar)
    if format == "aim":
        return _read_aim(p, brake_full_scale_bar)
    raise ValueError(f"unknown log format {format!r}; use one of: auto, {', '.join(FORMATS)}")


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TelemetryFormatError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    lines = text.splitlines()
    if not lines:
        raise TelemetryFormatError(f"{path}:1: the file is empty")
    return lines


def _cells(line: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([line]), [])]


def _read_racechrono(path: Path, brake_full_scale_bar: float) -> RawLog:
    lines = _read_lines(path)
    if not lines[0].startswith(RACECHRONO_BANNER):
        raise TelemetryFormatError(
            f"{path}:1: not a RaceChrono export: expected the banner "
            f"{RACECHRONO_BANNER!r} ..., got {lines[0][:60]!r}"
        )
    fmt = _cells(lines[1]) if len(lines) > 1 else []
    if fmt[:1] != ["Format"] or fmt[1:2] != ["3"]:
        got = lines[1] if len(lines) > 1 else "end of file"
        raise TelemetryFormatError(
            f"{path}:2: expected 'Format,3' (RaceChrono CSV v3), got {got!r}; "
            "re-export the session as CSV v3"
        )
    metadata: dict[str, str] = {}
    i = 2
    while i < len(lines) and lines[i].strip():
        cells = _cells(lines[i])
        if cells and cells[0] != "timestamp":
            metadata[cells[0]] = ",".join(cells[1:])
            i += 1
            continue
        break
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or _cells(lines[i])[:1] != ["timestamp"]:
        raise TelemetryFormatError(
            f"{path}:{min(i, len(lines) - 1) + 1}: expected the header row starting with "
            "'timestamp' after the session preamble"
        )
    table = _table(path, lines, i, with_sources=True)
    time_col = _require(table, ("timestamp",), "timestamp")
    lat_col = _require(table, ("latitude",), "latitude")
    lon_col = _require(table, ("longitude",), "longitude")
    time_factor = _unit(table, time_col, _TIME_UNITS, "time")
    columns = {
        "speed": _find(table, ("speed",), prefer_source="gps"),
        "lean": _find(table, ("lean_angle",)),
        "lateral": _find(table, ("lateral_acc",)),
        "longitudinal": _find(table, ("longitudinal_acc",)),
        "throttle": _find(table, ("throttle_pos", "throttle_position", "accelerator_pos")),
        "brake": _find(table, ("brake_pos", "brake_position", "brake_pressure", "brake_press")),
    }
    lap_col = _find(table, ("lap_number",))
    raw = _assemble(
        table,
        "racechrono",
        time_col,
        time_factor,
        lat_col,
        lon_col,
        columns,
        brake_full_scale_bar,
        metadata,
    )
    if lap_col is None:
        return raw
    return _with_logger_laps(raw, table, time_col, time_factor, lap_col)


def _read_aim(path: Path, brake_full_scale_bar: float) -> RawLog:
    lines = _read_lines(path)
    first = _cells(lines[0])
    if first[:1] != ["Format"] or len(first) < 2 or first[1].lower() != "aim csv file":
        raise TelemetryFormatError(
            f'{path}:1: not an AiM CSV export: expected \'"Format","AiM CSV File"\', '
            f"got {lines[0][:60]!r}"
        )
    metadata: dict[str, str] = {}
    beacons: list[float] = []
    i = 1
    while i < len(lines) and lines[i].strip():
        cells = _cells(lines[i])
        key, values = cells[0], [c for c in cells[1:] if c]
        if key == "Time" and len(cells) > 2:
            break  # the channel row right after the metadata, without the usual blank line
        if key == "Beacon Markers":
            try:
                beacons = [float(v) for v in values]
            except ValueError:
                raise TelemetryFormatError(
                    f"{path}:{i + 1}: 'Beacon Markers' must be numbers (seconds), got {values[:3]}"
                ) from None
        metadata[key] = ",".join(values)
        i += 1
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or _cells(lines[i])[:1] != ["Time"]:
        raise TelemetryFormatError(
            f"{path}:{min(i, len(lines) - 1) + 1}: expected the channel row starting with "
            '"Time" after the metadata block'
        )
    table = _table(path, lines, i, with_sources=False)
    time_col = _require(table, ("time",), "Time")
    lat_col = _require(table, ("gps latitude", "latitude"), "GPS Latitude")
    lon_col = _require(table, ("gps longitude", "longitude"), "GPS Longitude")
    time_factor = _unit(table, time_col, _TIME_UNITS, "time")
    columns = {
        "speed": _find(table, ("gps speed", "speed")),
        "lean": _find(table, ("lean angle", "leanangle", "roll angle", "roll")),
        "lateral": _find(table, ("lateralacc", "lateral acc", "gps latacc")),
        "longitudinal": _find(table, ("inlineacc", "inline acc", "gps lonacc")),
        "throttle": _find(table, ("tps", "throttle", "throttle pos", "pps")),
        "brake": _find(table, ("brakepress", "brake press", "front brake", "brk", "brake")),
    }
    raw = _assemble(
        table,
        "aim",
        time_col,
        time_factor,
        lat_col,
        lon_col,
        columns,
        brake_full_scale_bar,
        metadata,
    )
    if len(beacons) >= 2:
        laps = tuple(float(b) for b in np.diff(beacons))
        raw = replace(raw, logger_lap_times_s=laps)
    return raw


def _table(path: Path, lines: list[str], header: int, *, with_sources: bool) -> _Table:
    names = _cells(lines[header])
    width = len(names)
    meta_rows = 3 if with_sources else 2
    if header + meta_rows > len(lines):
        raise TelemetryFormatError(
            f"{path}:{header + 1}: the file ends before the units"
            + (" and source rows" if with_sources else " row")
        )
    units = _cells(lines[header + 1])
    sources = _cells(lines[header + 2]) if with_sources else [""] * width
    for offset, row, what in ((1, units, "units"), (2, sources, "source")):
        if (with_sources or offset == 1) and len(row) != width:
            raise TelemetryFormatError(
                f"{path}:{header + offset + 1}: the {what} row has {len(row)} cells but the "
                f"header has {width}"
            )
    rows: list[list[float]] = []
    numbers: list[int] = []
    nan = math.nan
    for k in range(header + meta_rows, len(lines)):
        line = lines[k]
        if not line.strip():
            continue
        cells = _cells(line)
        if len(cells) != width:
            raise TelemetryFormatError(
                f"{path}:{k + 1}: row has {len(cells)} cells, expected {width} (one per column)"
            )
        try:
            rows.append([float(c) if c else nan for c in cells])
        except ValueError:
            col = next(j for j, c in enumerate(cells) if c and not _is_number(c))
            raise TelemetryFormatError(
                f"{path}:{k + 1}: column {col + 1} {names[col]!r}: {cells[col]!r} is not a number"
            ) from None
        numbers.append(k + 1)
    if not rows:
        raise TelemetryFormatError(f"{path}:{len(lines)}: no data rows after the header")
    return _Table(
        path,
        names,
        [u.strip() for u in units],
        sources,
        np.array(rows, dtype=np.float64),
        np.array(numbers),
        header + 1,
        header + 2,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _find(table: _Table, candidates: Sequence[str], prefer_source: str | None = None) -> int | None:
    matches = [j for j, n in enumerate(table.names) if n.strip().lower() in candidates]
    if not matches:
        return None
    if prefer_source is not None:
        preferred = [j for j in matches if prefer_source in table.sources[j].lower()]
        if preferred:
            return preferred[0]
    # The candidates are listed in order of preference.
    return min(matches, key=lambda j: (candidates.index(table.names[j].strip().lower()), j))


def _require(table: _Table, candidates: Sequence[str], label: str) -> int:
    col = _find(table, candidates)
    if col is None:
        raise TelemetryFormatError(
            f"{table.path}:{table.header_line}: missing required column {label!r}; "
            f"columns are: {', '.join(table.names)}"
        )
    return col


def _unit(table: _Table, col: int, units: dict[str, float], kind: str) -> float:
    unit = table.units[col].strip()
    for key, factor in units.items():
        if unit.lower() == key.lower():
            return factor
    raise TelemetryFormatError(
        f"{table.path}:{table.units_line}: column {col + 1} {table.names[col]!r} has unit "
        f"{unit!r}; a {kind} channel must be in one of: {', '.join(repr(u) for u in units)}"
    )


def _describe(table: _Table, col: int) -> str:
    source = f" ({table.sources[col]})" if table.sources[col] else ""
    unit = table.units[col] or "no unit"
    return f"logged: column {col + 1} {table.names[col]!r}{source} [{unit}]"


def _assemble(
    table: _Table,
    fmt: str,
    time_col: int,
    time_factor: float,
    lat_col: int,
    lon_col: int,
    columns: dict[str, int | None],
    brake_full_scale_bar: float,
    metadata: dict[str, str],
) -> RawLog:
    if not (math.isfinite(brake_full_scale_bar) and brake_full_scale_bar > 0):
        raise ValueError(f"brake_full_scale_bar must be positive, got {brake_full_scale_bar!r}")
    v = table.values
    t_all = v[:, time_col] * time_factor
    gps = np.isfinite(v[:, lat_col]) & np.isfinite(v[:, lon_col]) & np.isfinite(t_all)
    gps &= ~((v[:, lat_col] == 0) & (v[:, lon_col] == 0))  # (0, 0) = no fix yet
    if gps.sum() < 10:
        raise TelemetryFormatError(
            f"{table.path}:{table.header_line}: only {int(gps.sum())} rows have a GPS fix; "
            "a lap needs hundreds"
        )
    rows = np.flatnonzero(gps)
    t = t_all[rows]
    back = np.flatnonzero(np.diff(t) < 0)
    if back.size:
        line = int(table.lines[rows[back[0] + 1]])
        raise TelemetryFormatError(f"{table.path}:{line}: time goes backwards ({t[back[0] + 1]})")
    keep = np.concatenate([[True], np.diff(t) > 0])  # loggers repeat rows; keep the first
    rows, t = rows[keep], t[keep]
    t0 = float(t[0])

    def channel(name: str, units: dict[str, float], kind: str) -> np.ndarray | None:
        col = columns[name]
        if col is None:
            return None
        factor = _unit(table, col, units, kind)
        ok = np.isfinite(v[:, col]) & np.isfinite(t_all)
        if ok.sum() < 2:
            return None
        return np.interp(t, t_all[ok], v[ok, col] * factor)

    sources = {"position": _describe(table, lat_col) + " + " + _describe(table, lon_col)}
    out: dict[str, Any] = {}
    for name, units, kind in (
        ("speed", _SPEED_UNITS, "speed"),
        ("lean", _ANGLE_UNITS, "angle"),
        ("lateral", _ACCEL_UNITS, "acceleration"),
        ("longitudinal", _ACCEL_UNITS, "acceleration"),
        ("throttle", _FRACTION_UNITS, "throttle"),
    ):
        out[name] = channel(name, units, kind)
        if out[name] is not None:
            sources[name] = _describe(table, columns[name])  # type: ignore[arg-type]
    brake = None
    col = columns["brake"]
    if col is not None:
        unit = table.units[col].strip().lower()
        if unit in _PRESSURE_UNITS:
            pressure = channel("brake", _PRESSURE_UNITS, "brake")
            brake = None if pressure is None else pressure / brake_full_scale_bar
            note = f" / {brake_full_scale_bar:g} bar full scale"
        else:
            brake = channel("brake", {**_FRACTION_UNITS, **_PRESSURE_UNITS}, "brake")
            note = ""
        if brake is not None:
            sources["brake"] = _describe(table, col) + note
    return RawLog(
        path=table.path,
        format=fmt,
        t_s=t - t0,
        lat_deg=v[rows, lat_col],
        lon_deg=v[rows, lon_col],
        speed_mps=out["speed"],
        lean_rad=out["lean"],
        lateral_g=out["lateral"],
        longitudinal_g=out["longitudinal"],
        throttle=None if out["throttle"] is None else np.clip(out["throttle"], 0.0, 1.0),
        brake=None if brake is None else np.clip(brake, 0.0, 1.0),
        sources=sources,
        metadata=metadata,
    )


def _with_logger_laps(
    raw: RawLog, table: _Table, time_col: int, time_factor: float, lap_col: int
) -> RawLog:
    """The logger's lap times: a lap starts where ``lap_number`` changes (or first appears)."""
    laps = table.values[:, lap_col]
    t = table.values[:, time_col] * time_factor
    rows = np.flatnonzero(np.isfinite(laps) & np.isfinite(t))
    if rows.size < 2:
        return raw
    starts = list(t[rows[np.flatnonzero(np.diff(laps[rows]) != 0) + 1]])
    if rows[0] > 0:  # numbering starts mid-file: that row is the first line crossing
        starts.insert(0, t[rows[0]])
    return replace(raw, logger_lap_times_s=tuple(float(x) for x in np.diff(starts)))
