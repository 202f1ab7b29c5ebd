"""DeepRacer sim-trace CSV logs: write them like the simulator, read them back, plot a route.

Columns, in the simulator's order (spec section 6)::

    episode, steps, X, Y, yaw, steer, throttle, action, reward, done, all_wheels_on_track,
    progress, closest_waypoint, track_len, tstamp, episode_status, pause_duration

``X``/``Y`` are the reward params' x/y (0.14 m ahead of the car's origin), ``yaw`` degrees,
``steer``/``throttle`` the COMMANDED steering (deg) and speed (m/s), ``action`` the index for
discrete spaces or ``[steer speed]`` for continuous ones, ``done``/``all_wheels_on_track``
``True``/``False``, ``closest_waypoint`` the nearer of params' closest_waypoints, ``tstamp`` the
simulated time (s) at the start of the step -- not wall-clock time, so the same seed writes the
same file. The file starts with a header row, as the simulator's training-simtrace CSVs do, so
deepracer-utils / log-guru load it unchanged. ``pause_duration`` is always 0 (no pauses).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apexrl.io_utils import atomic_open
from apexrl.tracks.track import Track

COLUMNS: tuple[str, ...] = (
    "episode",
    "steps",
    "X",
    "Y",
    "yaw",
    "steer",
    "throttle",
    "action",
    "reward",
    "done",
    "all_wheels_on_track",
    "progress",
    "closest_waypoint",
    "track_len",
    "tstamp",
    "episode_status",
    "pause_duration",
)
"""The sim-trace columns in file order."""
NEWER_COLUMNS = ("obstacle_crash_counter", "wall_clock")
"""Columns newer simulator builds append; the reader accepts and ignores them."""


class SimTraceWriter:
    """Appends rows to one sim-trace CSV per run; each call is one unbuffered write, so an
    interrupted run never leaves a half-written row behind a complete one.

    Args:
        path: the CSV to create. An existing file is an error unless ``overwrite`` is True.
    """

    def __init__(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise IsADirectoryError(f"{self.path} is a folder; give the sim-trace a .csv file name")
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"sim-trace {self.path} already exists; choose a new file for this run"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._write(",".join(COLUMNS) + "\n")

    def _write(self, text: str) -> None:
        data = text.encode("ascii")
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) :]

    def write_rows(
        self,
        *,
        episode: np.ndarray,
        steps: np.ndarray,
        x_m: np.ndarray,
        y_m: np.ndarray,
        yaw_deg: np.ndarray,
        steer_deg: np.ndarray,
        throttle_mps: np.ndarray,
        action: list[str],
        reward: np.ndarray,
        done: np.ndarray,
        all_wheels_on_track: np.ndarray,
        progress: np.ndarray,
        closest_waypoint: np.ndarray,
        track_len_m: float,
        tstamp_s: np.ndarray,
        episode_status: list[str],
    ) -> None:
        """Write N rows (every argument but ``track_len_m`` has length N) in one write."""
        cols = zip(
            episode.tolist(),
            steps.tolist(),
            x_m.tolist(),
            y_m.tolist(),
            yaw_deg.tolist(),
            steer_deg.tolist(),
            throttle_mps.tolist(),
            action,
            reward.tolist(),
            done.tolist(),
            all_wheels_on_track.tolist(),
            progress.tolist(),
            closest_waypoint.tolist(),
            tstamp_s.tolist(),
            episode_status,
            strict=True,
        )
        lines = [
            f"{e},{s},{x:.4f},{y:.4f},{h:.4f},{st:.2f},{th:.2f},{a},{r:.4f},{d},{w},{p:.4f},"
            f"{c},{track_len_m:.2f},{t:.3f},{status},0.0\n"
            for e, s, x, y, h, st, th, a, r, d, w, p, c, t, status in cols
        ]
        if lines:
            self._write("".join(lines))

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> SimTraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def format_action(action: int | tuple[float, float]) -> str:
    """The ``action`` cell: ``"3"`` for a discrete index, ``"[-12.50 1.75]"`` for continuous."""
    if isinstance(action, tuple):
        return f"[{action[0]:.2f} {action[1]:.2f}]"
    return str(int(action))


@dataclass(frozen=True, eq=False)
class SimTrace:
    """A sim-trace read back: one ``(N,)`` array per column (``action`` and ``episode_status``
    as str arrays, ``done``/``all_wheels_on_track`` bool)."""

    columns: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def __len__(self) -> int:
        return int(self.columns["steps"].shape[0])


_INT = ("episode", "steps", "closest_waypoint")
_BOOL = ("done", "all_wheels_on_track")
_STR = ("action", "episode_status")


def read_simtrace(path: str | os.PathLike) -> SimTrace:
    """Read a sim-trace CSV (ours or the simulator's, with or without its newer columns)."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"sim-trace not found: {file}")
    with open(file, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    if not rows or tuple(rows[0][: len(COLUMNS)]) != COLUMNS:
        got = ",".join(rows[0]) if rows else "(empty file)"
        raise ValueError(
            f"{file}: not a sim-trace CSV; the header must start with {','.join(COLUMNS)}, "
            f"got {got[:200]}"
        )
    body = rows[1:]
    for number, row in enumerate(body, 2):
        if len(row) < len(COLUMNS):
            raise ValueError(f"{file} line {number}: {len(row)} cells, expected {len(COLUMNS)}")
    out: dict[str, np.ndarray] = {}
    for i, name in enumerate(COLUMNS):
        cells = [row[i] for row in body]
        try:
            if name in _INT:
                out[name] = np.array([int(c) for c in cells], dtype=np.int64)
            elif name in _BOOL:
                out[name] = np.array([_parse_bool(c) for c in cells], dtype=bool)
            elif name in _STR:
                out[name] = np.array(cells, dtype=str)
            else:
                out[name] = np.array([float(c) for c in cells], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{file}: column {name!r} has a bad value ({exc})") from None
    return SimTrace(out)


def _parse_bool(cell: str) -> bool:
    if cell in ("True", "true", "1"):
        return True
    if cell in ("False", "false", "0"):
        return False
    raise ValueError(f"{cell!r} is not True/False")


def plot_simtrace(
    trace: SimTrace,
    track: Track,
    path: str | os.PathLike,
    *,
    episodes: list[int] | None = None,
    title: str | None = None,
) -> Path:
    """Draw the logged route twice, coloured by commanded speed and by reward, over the track's
    borders; steps with a wheel off the road are marked with red crosses. ``episodes`` selects
    episodes (default all). Written atomically; the image type follows the suffix."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    target = Path(path)
    mask = np.ones(len(trace), dtype=bool)
    if episodes is not None:
        mask = np.isin(trace["episode"], episodes)
        if not mask.any():
            raise ValueError(f"no rows of episodes {episodes} in the sim-trace")
    fig = Figure(figsize=(14.0, 6.5), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    fmt = target.suffix.lower().lstrip(".")
    if fmt not in canvas.get_supported_filetypes():
        raise ValueError(f"cannot write a plot to {target}: unknown image type {target.suffix!r}")
    x, y = trace["X"][mask], trace["Y"][mask]
    off = ~trace["all_wheels_on_track"][mask]
    for k, (name, label, cmap) in enumerate(
        (("throttle", "commanded speed (m/s)", "viridis"), ("reward", "reward", "plasma"))
    ):
        ax = fig.add_subplot(1, 2, k + 1)
        _draw_track(ax, track)
        points = ax.scatter(x, y, c=trace[name][mask], s=6, cmap=cmap, zorder=3)
        if off.any():
            ax.scatter(
                x[off], y[off], marker="x", color="red", s=24, zorder=4, label="wheels off track"
            )
            ax.legend(loc="upper right", fontsize=8)
        fig.colorbar(points, ax=ax, label=label, shrink=0.8)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("y (m)")
        ax.set_title(label)
    n_ep = len(np.unique(trace["episode"][mask]))
    fig.suptitle(title or f"{track.name}: {int(mask.sum())} steps, {n_ep} episode(s)")
    with atomic_open(target, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=110)
    return target


def _draw_track(ax, track: Track) -> None:
    def loop(points: np.ndarray) -> np.ndarray:
        return np.vstack([points, points[:1]]) if track.closed else points

    ax.plot(*loop(track.left_border_m).T, color="0.2", lw=1.0)
    ax.plot(*loop(track.right_border_m).T, color="0.2", lw=1.0)
    ax.plot(*loop(track.xy_m).T, color="0.6", lw=0.6, ls="--")
