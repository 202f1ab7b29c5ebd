"""Track maps: borders, centre line, racing line coloured by the optimal lap's speed.

Matplotlib is imported inside :func:`plot_track` and used through its object API with the Agg
canvas, so plotting never changes the caller's pyplot backend or global state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from apexrl.io_utils import atomic_open

if TYPE_CHECKING:
    from apexrl.tracks.lapsim import LapResult
    from apexrl.tracks.raceline import RacingLine
    from apexrl.tracks.track import Track

KMH_ABOVE_LENGTH_M = 200.0
"""Tracks longer than this get a colour bar in km/h (road circuits), shorter ones m/s."""


def plot_track(
    track: Track,
    path: str | os.PathLike,
    *,
    racing_line: RacingLine | None = None,
    lap: LapResult | None = None,
    title: str | None = None,
) -> Path:
    """Draw ``track`` (and optionally a racing line and a lap's speeds) into an image file.

    Args:
        track: the track; its borders are solid, its centre line dashed.
        path: output file; the format follows the suffix (``.png``, ``.svg``, ``.pdf``, ...).
            Written atomically: a temp file in the same folder, then renamed.
        racing_line: drawn as a solid line when no ``lap`` is given.
        lap: a lap result whose ``xy_m (M, 2)`` points are drawn coloured by ``v_mps (M,)``, with a
            colour bar in km/h on tracks longer than 200 m and m/s otherwise.
        title: the plot title; default the track's name, length and the lap time.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.figure import Figure

    target = Path(path)
    fig = Figure(figsize=(9.0, 8.0), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    fmt = target.suffix.lower().lstrip(".")
    supported = canvas.get_supported_filetypes()
    if fmt not in supported:
        raise ValueError(
            f"cannot write a plot to {target}: unknown image type {target.suffix or '(none)'!r}; "
            f"use one of {', '.join('.' + k for k in sorted(supported))}"
        )
    ax = fig.add_subplot()

    def loop(points: np.ndarray, closed: bool) -> np.ndarray:
        return np.vstack([points, points[:1]]) if closed else points

    left = track.left_border_m
    right = track.right_border_m
    ax.plot(*loop(left, track.closed).T, color="0.15", lw=1.0, label="track borders")
    ax.plot(*loop(right, track.closed).T, color="0.15", lw=1.0)
    ax.plot(*loop(track.xy_m, track.closed).T, color="0.55", lw=0.8, ls="--", label="centre line")

    if lap is not None:
        kmh = track.length_m > KMH_ABOVE_LENGTH_M
        speed = np.asarray(lap.v_mps, dtype=np.float64) * (3.6 if kmh else 1.0)
        xy = np.asarray(lap.xy_m, dtype=np.float64)
        if lap.closed:
            xy, speed = loop(xy, True), np.append(speed, speed[0])
        segments = np.stack([xy[:-1], xy[1:]], axis=1)
        lines = LineCollection(
            segments, cmap="turbo", linewidths=2.5, zorder=3, label="optimal lap"
        )
        lines.set_array(0.5 * (speed[:-1] + speed[1:]))
        ax.add_collection(lines)
        bar = fig.colorbar(lines, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label("optimal speed (km/h)" if kmh else "optimal speed (m/s)")
    elif racing_line is not None:
        ax.plot(
            *loop(racing_line.xy_m, track.closed).T, color="tab:red", lw=1.8, label="racing line"
        )

    # Start/finish line across the road, and an arrow in the driving direction.
    ax.plot(
        [left[0, 0], right[0, 0]],
        [left[0, 1], right[0, 1]],
        color="k",
        lw=3.0,
        zorder=4,
        solid_capstyle="butt",
        label="start / finish",
    )
    extent_m = float(np.ptp(track.xy_m, axis=0).max())
    heading = float(track.heading_rad[0])
    tail = track.xy_m[0]
    tip = tail + 0.06 * extent_m * np.array([np.cos(heading), np.sin(heading)])
    ax.annotate(
        "",
        xy=tuple(tip),
        xytext=tuple(tail),
        zorder=5,
        arrowprops={"arrowstyle": "-|>", "color": "k", "lw": 1.8, "mutation_scale": 18},
    )

    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.grid(True, color="0.92", lw=0.6)
    ax.legend(loc="best", fontsize="small", framealpha=0.85)
    ax.set_title(title if title is not None else _default_title(track, lap))
    with atomic_open(target, "wb") as fh:
        fig.savefig(fh, format=fmt, dpi=150)
    return target


def _default_title(track: Track, lap: LapResult | None) -> str:
    length = (
        f"{track.length_m / 1000:.2f} km" if track.length_m >= 1000 else f"{track.length_m:.1f} m"
    )
    text = f"{track.name}: {length}, {track.orientation}"
    if lap is not None:
        minutes, seconds = divmod(lap.lap_time_s, 60.0)
        time = f"{int(minutes)}:{seconds:06.3f}" if minutes >= 1 else f"{seconds:.3f} s"
        text += f", optimal lap {time}"
    return text
