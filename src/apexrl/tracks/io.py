"""Reading and writing track files: DeepRacer routes (.npy), track-database CSV, apexrl JSON.

Formats:
- ``.npy``: an AWS DeepRacer route, float ``(N, 6)`` rows ``[center_x, center_y, inner_x, inner_y,
  outer_x, outer_y]`` in metres; closed when the last row repeats the first. "inner" is the inside
  of the loop, so it lies LEFT of the driving direction on counter-clockwise tracks and RIGHT on
  clockwise ones; the side is detected per file. Loaded with ``allow_pickle=False`` always.
- ``.csv``: the TUM racetrack-database convention, header ``x_m,y_m,w_right_m,w_left_m`` (a leading
  ``#`` and the names ``w_tr_right_m``/``w_tr_left_m`` are accepted), one centre-line point per
  line, widths are the distances from the centre line to each border. Closed by default; the
  database does not repeat the first point.
- ``.json``: apexrl's own format ``{"format": "apexrl-track", "version": 1, "name", "closed",
  "ds_m", "x_m", "y_m", "w_left_m", "w_right_m"}`` holding the resampled centre line and widths of
  a :class:`Track` (``ds_m`` optional), so a save/load round trip reproduces the geometry.

Every error about file contents is a :class:`TrackError` naming the file.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.io_utils import atomic_open, write_json_atomic
from apexrl.tracks.track import Track, TrackError

JSON_FORMAT = "apexrl-track"
JSON_VERSION = 1
SUPPORTED_SUFFIXES = (".npy", ".csv", ".json")
CLOSED_ROW_TOLERANCE_M = 1e-6
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80
_CSV_COLUMNS = ("x_m", "y_m", "w_right_m", "w_left_m")
_CSV_ALIASES = {"w_tr_right_m": "w_right_m", "w_tr_left_m": "w_left_m"}


# ---------------------------------------------------------------------- DeepRacer .npy
def load_deepracer_npy(path: str | os.PathLike, *, name: str | None = None) -> Track:
    """Load a DeepRacer route file into a :class:`Track`.

    Args:
        path: the ``.npy`` file, float ``(N, 6)`` metres (see the module docstring).
        name: the track's name; default the file stem (the DeepRacer world name).

    The file is closed when its first and last rows agree within 1e-6 m. Consecutive duplicate rows
    are dropped. A closed centre line is smoothed over the median point spacing so point noise
    cannot make curvature spikes (this shrinks a loop of radius R by about spacing^2 / (2 R)).
    """
    file = _existing_file(path)
    array = _read_npy(file)
    if array.ndim != 2 or array.shape[1] != 6:
        raise TrackError(
            f"{file}: a DeepRacer route must have shape (N, 6) [center_x, center_y, inner_x, "
            f"inner_y, outer_x, outer_y], got shape {array.shape}"
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TrackError(
            f"{file}: a DeepRacer route must hold real numbers, got dtype {array.dtype}"
        )
    rows = array.astype(np.float64)
    if not np.isfinite(rows).all():
        bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0])
        raise TrackError(f"{file}: track data contains NaN or inf (first bad row {bad})")
    if rows.shape[0] < 2:
        raise TrackError(f"{file}: a track needs at least 4 distinct points, got {rows.shape[0]}")
    closed = bool(np.abs(rows[0] - rows[-1]).max() <= CLOSED_ROW_TOLERANCE_M)
    if closed:
        rows = rows[:-1]
    # Drop zero-length segments (most official files have one) before taking tangents.
    step_m = np.hypot(*np.diff(rows[:, :2], axis=0).T)
    rows = rows[np.concatenate([[True], step_m > 1e-9])]
    center, inner, outer = rows[:, 0:2], rows[:, 2:4], rows[:, 4:6]
    w_inner = np.hypot(*(inner - center).T)
    w_outer = np.hypot(*(outer - center).T)
    if _inner_is_left(center, inner, closed):
        w_left, w_right = w_inner, w_outer
    else:
        w_left, w_right = w_outer, w_inner
    # Open routes are not smoothed: Track's edge handling for open lines would shorten them.
    spacing_m = np.hypot(*np.diff(center, axis=0).T)
    smoothing_m = float(np.median(spacing_m)) if closed and spacing_m.size else 0.0
    return _build(
        file,
        center,
        w_left,
        w_right,
        closed=closed,
        name=name if name is not None else file.stem,
        smoothing_m=smoothing_m,
    )


def save_deepracer_npy(track: Track, path: str | os.PathLike) -> Path:
    """Write ``track`` as a DeepRacer route ``(N, 6)`` float64 of its resampled centre line.

    "inner" is the left border on counter-clockwise (and open) tracks, the right one on clockwise
    tracks; closed tracks repeat the first row at the end, as the official files do.
    """
    left, right = track.left_border_m, track.right_border_m
    inner, outer = (right, left) if track.orientation == "cw" else (left, right)
    rows = np.hstack([track.xy_m, inner, outer]).astype(np.float64)
    if track.closed:
        rows = np.vstack([rows, rows[:1]])
    target = Path(path)
    with atomic_open(target, "wb") as fh:
        np.save(fh, rows, allow_pickle=False)
    return target


def _read_npy(file: Path) -> np.ndarray:
    with open(file, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if not head:
        raise TrackError(f"{file}: the file is empty; expected a DeepRacer route (.npy)")
    if head.startswith(_ZIP_MAGIC):
        raise TrackError(f"{file}: this is a .npz archive; expected a single-array .npy route")
    if head[0] == _PICKLE_PROTO:
        raise TrackError(f"{file}: contains pickled data; apexrl never unpickles track files")
    if head != _NPY_MAGIC:
        raise TrackError(f"{file}: not a NumPy .npy file (bad magic bytes {head!r})")
    try:
        return np.load(file, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise TrackError(
                f"{file}: contains pickled data; apexrl never unpickles track files (this is an "
                "object array; save the route as a float array of shape (N, 6))"
            ) from None
        raise TrackError(f"{file}: truncated or corrupt .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise TrackError(f"{file}: truncated or corrupt .npy file ({exc})") from None


def _inner_is_left(center: np.ndarray, inner: np.ndarray, closed: bool) -> bool:
    """Majority vote of sign(cross(tangent, inner - center)) over all rows (``(N, 2)`` arrays)."""
    if closed:
        tangent = np.roll(center, -1, axis=0) - np.roll(center, 1, axis=0)
    else:
        tangent = np.gradient(center, axis=0)
    offset = inner - center
    cross = tangent[:, 0] * offset[:, 1] - tangent[:, 1] * offset[:, 0]
    return int(np.sum(cross > 0)) >= int(np.sum(cross < 0))


# ---------------------------------------------------------------------- CSV
def load_csv(path: str | os.PathLike, *, closed: bool = True, name: str | None = None) -> Track:
    """Load a ``x_m,y_m,w_right_m,w_left_m`` CSV (TUM racetrack-database convention).

    Args:
        path: the CSV file; the first non-empty line is the header, columns in any order.
        closed: whether the last point joins the first (the database's circuits are closed).
        name: the track's name; default the file stem.
    """
    file = _existing_file(path)
    text = file.read_text(encoding="utf-8-sig")
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines()) if line.strip()]
    if not lines:
        raise TrackError(f"{file}: the file is empty; expected a header {','.join(_CSV_COLUMNS)}")
    header_no, header = lines[0]
    names = [_CSV_ALIASES.get(c, c) for c in (c.strip().lower() for c in _csv_cells(header))]
    if names and names[0].startswith("#"):
        names[0] = _CSV_ALIASES.get(names[0].lstrip("#").strip(), names[0].lstrip("#").strip())
    if sorted(names) != sorted(_CSV_COLUMNS):
        raise TrackError(
            f"{file}, line {header_no}: expected the header {','.join(_CSV_COLUMNS)} "
            f"(any order; w_tr_right_m/w_tr_left_m also accepted), got {header.strip()!r}"
        )
    order = [names.index(c) for c in _CSV_COLUMNS]
    values = []
    for line_no, line in lines[1:]:
        if line.lstrip().startswith("#"):
            continue
        cells = _csv_cells(line)
        if len(cells) != len(_CSV_COLUMNS):
            raise TrackError(
                f"{file}, line {line_no}: expected {len(_CSV_COLUMNS)} values, got {len(cells)}"
            )
        try:
            values.append([float(cells[k]) for k in order])
        except ValueError:
            raise TrackError(
                f"{file}, line {line_no}: not a number in {line.strip()!r}; every value must be "
                "a number of metres"
            ) from None
    data = np.array(values, dtype=np.float64).reshape(-1, 4)
    return _build(
        file,
        data[:, :2],
        data[:, 3],
        data[:, 2],
        closed=closed,
        name=name if name is not None else file.stem,
    )


def save_csv(track: Track, path: str | os.PathLike) -> Path:
    """Write the resampled centre line and widths as ``# x_m,y_m,w_right_m,w_left_m`` CSV."""
    buf = io.StringIO()
    buf.write("# " + ",".join(_CSV_COLUMNS) + "\n")
    data = np.column_stack([track.xy_m, track.w_right_m, track.w_left_m])
    np.savetxt(buf, data, fmt="%.9f", delimiter=",")
    target = Path(path)
    with atomic_open(target, "w", encoding="utf-8") as fh:
        fh.write(buf.getvalue())
    return target


def _csv_cells(line: str) -> list[str]:
    return next(csv.reader([line]))


# ---------------------------------------------------------------------- apexrl JSON
def save_json(track: Track, path: str | os.PathLike) -> Path:
    """Write apexrl's JSON track format (the resampled centre line, exact float round trip)."""
    data: dict[str, Any] = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "name": track.name,
        "closed": track.closed,
        "ds_m": track.ds_m,
        "x_m": track.xy_m[:, 0].tolist(),
        "y_m": track.xy_m[:, 1].tolist(),
        "w_left_m": track.w_left_m.tolist(),
        "w_right_m": track.w_right_m.tolist(),
    }
    target = Path(path)
    write_json_atomic(target, data)
    return target


def load_json(path: str | os.PathLike) -> Track:
    """Load apexrl's JSON track format written by :func:`save_json`."""
    from pydantic import BaseModel, ConfigDict, ValidationError

    class TrackFile(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        format: str
        version: int
        name: str
        closed: bool
        ds_m: float | None = None
        x_m: list[float]
        y_m: list[float]
        w_left_m: list[float]
        w_right_m: list[float]

    file = _existing_file(path)
    text = file.read_text(encoding="utf-8")
    if not text.strip():
        raise TrackError(f"{file}: the file is empty; expected an apexrl track JSON document")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TrackError(f"{file}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != JSON_FORMAT:
        raise TrackError(f'{file}: not an apexrl track (expected "format": "{JSON_FORMAT}")')
    if raw.get("version") != JSON_VERSION:
        raise TrackError(
            f"{file}: apexrl track format version {raw.get('version')!r} is not supported "
            f"(this apexrl reads version {JSON_VERSION}); upgrade apexrl"
        )
    try:
        doc = TrackFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise TrackError(f"{file}: invalid apexrl track: {problems}") from None
    n = len(doc.x_m)
    if not (len(doc.y_m) == len(doc.w_left_m) == len(doc.w_right_m) == n):
        raise TrackError(f"{file}: x_m, y_m, w_left_m and w_right_m must have the same length")
    return _build(
        file,
        np.column_stack([doc.x_m, doc.y_m]) if n else np.empty((0, 2)),
        np.asarray(doc.w_left_m),
        np.asarray(doc.w_right_m),
        closed=doc.closed,
        name=doc.name,
        ds_m=doc.ds_m,
    )


# ---------------------------------------------------------------------- dispatch
def save_track(track: Track, path: str | os.PathLike) -> Path:
    """Write ``track`` in the format its suffix names: ``.npy``, ``.csv`` or ``.json``."""
    target = Path(path)
    writer = {".npy": save_deepracer_npy, ".csv": save_csv, ".json": save_json}.get(
        target.suffix.lower()
    )
    if writer is None:
        raise ValueError(_suffix_message(target))
    return writer(track, target)


def load_track_file(path: str | os.PathLike) -> Track:
    """Load a track file, choosing the reader by suffix: ``.npy``, ``.csv`` or ``.json``."""
    target = Path(path)
    reader = {".npy": load_deepracer_npy, ".csv": load_csv, ".json": load_json}.get(
        target.suffix.lower()
    )
    if reader is None:
        raise ValueError(_suffix_message(target))
    return reader(target)


def _suffix_message(path: Path) -> str:
    return (
        f"{path}: unknown track file type {path.suffix or '(no suffix)'!r}; supported: "
        ".npy (DeepRacer route), .csv (x_m,y_m,w_right_m,w_left_m), .json (apexrl track)"
    )


def _existing_file(path: str | os.PathLike) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise FileNotFoundError(f"track file not found: {file}")
    if file.is_dir():
        raise IsADirectoryError(f"{file} is a folder; expected a track file")
    return file


def _build(
    file: Path,
    xy_m: np.ndarray,
    w_left_m: np.ndarray,
    w_right_m: np.ndarray,
    *,
    closed: bool,
    name: str,
    smoothing_m: float = 0.0,
    ds_m: float | None = None,
) -> Track:
    """``Track.from_centerline`` with the file name added to any error."""
    try:
        return Track.from_centerline(
            xy_m,
            w_left_m,
            w_right_m,
            closed=closed,
            name=name,
            smoothing_m=smoothing_m,
            ds_m=ds_m,
            source=str(file),
        )
    except TrackError as exc:
        raise TrackError(f"{file}: {exc}") from None
