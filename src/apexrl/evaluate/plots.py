"""Evaluation plots: lap-time comparison, speed maps (coached vs uncoached), haptic cues.

Matplotlib's object API on the Agg canvas (imported inside each function), so plotting never
touches pyplot's global state; every file is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apexrl.io_utils import atomic_open

if TYPE_CHECKING:
    from apexrl.evaluate.metrics import Trace
    from apexrl.tracks.track import Track

LABELS = {"amateur": "amateur\nalone", "coached": "amateur +\nlearned coach",
          "oracle": "amateur +\noracle coach", "pro": "pro"}  # fmt: skip
SHORT = {"amateur": "alone", "coached": "learned", "oracle": "oracle", "pro": "pro"}
COLOURS = {"amateur": "tab:gray", "coached": "tab:blue", "oracle": "tab:green", "pro": "tab:red"}


def _figure(size: tuple[float, float]):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    target = Path(path)
    with atomic_open(target, "wb") as fh:
        fig.savefig(fh, format=target.suffix.lstrip(".") or "png", dpi=130)
    return target


def plot_lap_times(
    conditions: Mapping[str, Mapping[str, Any]], optimal_lap_s: float, path: str | os.PathLike
) -> Path:
    """Mean lap time per condition (dot, +- std bar, thin min-max line; points, not bars, because
    the axis does not start at zero), the QSS optimal lap as a dashed line, and the safety
    violations per episode beside them."""
    fig = _figure((10.0, 4.8))
    ax, ax2 = fig.subplots(1, 2, width_ratios=[2.2, 1.0])
    names = [n for n in LABELS if n in conditions]
    x = np.arange(len(names))
    lows = [conditions[n]["lap_time_min_s"] for n in names if conditions[n]["lap_time_min_s"]]
    highs = [conditions[n]["lap_time_max_s"] for n in names if conditions[n]["lap_time_max_s"]]
    lo, hi = min(lows + [optimal_lap_s]), max(highs + [optimal_lap_s])
    pad = max(0.06 * (hi - lo), 0.5)
    for i, n in enumerate(names):
        m = conditions[n]
        if m["lap_time_mean_s"] is None:
            ax.text(i, lo, "no lap\ncompleted", ha="center", va="bottom", fontsize="small")
            continue
        ax.plot([i, i], [m["lap_time_min_s"], m["lap_time_max_s"]], color=COLOURS[n], lw=1.0)
        ax.errorbar(i, m["lap_time_mean_s"], yerr=m["lap_time_std_s"], fmt="o", ms=8,
                    color=COLOURS[n], lw=4.0, capsize=0)  # fmt: skip
        ax.text(i + 0.08, m["lap_time_mean_s"], f"{m['lap_time_mean_s']:.2f} s", va="center",
                fontsize="small")  # fmt: skip
    ax.axhline(optimal_lap_s, color="k", ls="--", lw=1.0,
               label=f"QSS optimal lap {optimal_lap_s:.2f} s")  # fmt: skip
    ax.set_xlim(-0.5, len(names) - 0.2)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xticks(x, [LABELS[n] for n in names])
    ax.set_ylabel("lap time (s)")
    ax.set_title("lap time: mean (dot), +- std (thick), min-max (thin)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(True, axis="y", color="0.92")
    viol = [conditions[n]["safety_violations_per_episode"] for n in names]
    ax2.bar(x, viol, color=[COLOURS[n] for n in names], alpha=0.85, width=0.6)
    for i, v in enumerate(viol):
        ax2.text(i, v, f"{v:.2f}", ha="center", va="bottom", fontsize="small")
    ax2.set_xticks(x, [SHORT[n] for n in names])
    ax2.set_ylabel("unsafe steps per episode")
    ax2.set_title("safety violations")
    ax2.grid(True, axis="y", color="0.92")
    return _save(fig, path)


def plot_speed_maps(track: Track, traces: Mapping[str, Trace | None],
                    path: str | os.PathLike) -> Path:  # fmt: skip
    """One track map per trace, the rider's path coloured by its speed (one shared scale)."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    items = [(name, tr) for name, tr in traces.items() if tr is not None and len(tr.s_m) > 1]
    if not items:
        raise ValueError("no trace to plot")
    fig = _figure((6.0 * len(items) + 1.0, 6.0))
    axes = np.atleast_1d(fig.subplots(1, len(items)))
    kmh = 3.6
    vmax = max(float(tr.speed_mps.max()) for _, tr in items) * kmh
    vmin = min(float(tr.speed_mps.min()) for _, tr in items) * kmh
    norm = Normalize(vmin=vmin, vmax=vmax)
    left, right = track.left_border_m, track.right_border_m
    lines = None
    for ax, (name, tr) in zip(axes, items, strict=True):
        ax.plot(*np.vstack([left, left[:1]]).T, color="0.2", lw=0.8)
        ax.plot(*np.vstack([right, right[:1]]).T, color="0.2", lw=0.8)
        segments = np.stack([tr.xy_m[:-1], tr.xy_m[1:]], axis=1)
        lines = LineCollection(segments, cmap="turbo", norm=norm, linewidths=2.2)
        lines.set_array(0.5 * (tr.speed_mps[:-1] + tr.speed_mps[1:]) * kmh)
        ax.add_collection(lines)
        lap = f"lap {tr.lap_time_s:.2f} s" if tr.lap_time_s is not None else "lap not completed"
        ax.set_title(f"{name}: {lap}")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("x (m)")
        ax.grid(True, color="0.93", lw=0.5)
    axes[0].set_ylabel("y (m)")
    bar = fig.colorbar(lines, ax=list(axes), shrink=0.8)
    bar.set_label("speed (km/h)")
    return _save(fig, path)


def plot_cues(trace: Trace | None, path: str | os.PathLike, *,
              track_length_m: float | None = None) -> Path:  # fmt: skip
    """Speed, left/right intensities and frequency of the coach's cues along one lap."""
    from apexrl.riders import haptics as hp

    if trace is None or len(trace.s_m) < 2:
        raise ValueError("no trace to plot")
    fig = _figure((11.0, 7.0))
    ax_v, ax_i, ax_f = fig.subplots(3, 1, sharex=True)
    # Distance driven (the centre-line coordinate unwrapped at the start line).
    s = np.asarray(trace.s_m, dtype=np.float64)
    if track_length_m is not None:
        s = s + track_length_m * np.concatenate(
            [[0], np.cumsum(np.diff(s) < -0.5 * track_length_m)]
        )
    ax_v.plot(s, trace.speed_mps * 3.6, color="k", lw=1.0)
    ax_v.set_ylabel("speed (km/h)")
    ax_v.set_title("learned coach: haptic cues along the lap")
    ax_i.plot(s, trace.cues[:, 0], color="tab:blue", lw=1.0, label="left motor")
    ax_i.plot(s, -trace.cues[:, 1], color="tab:orange", lw=1.0, label="right motor (down)")
    ax_i.set_ylim(-1.05, 1.05)
    ax_i.set_ylabel("intensity")
    ax_i.legend(loc="upper right", fontsize="small")
    active = np.maximum(trace.cues[:, 0], trace.cues[:, 1]) > 0.02
    freq = np.where(active, trace.cues[:, 2], np.nan)
    ax_f.plot(s, freq, color="tab:purple", lw=1.0)
    ax_f.axhspan(hp.FREQ_MIN_HZ, hp.THROTTLE_BELOW_HZ, color="tab:green", alpha=0.08,
                 label="more throttle")  # fmt: skip
    ax_f.axhspan(hp.BRAKE_ABOVE_HZ, hp.FREQ_MAX_HZ, color="tab:red", alpha=0.08, label="brake")
    ax_f.set_ylim(hp.FREQ_MIN_HZ - 5, hp.FREQ_MAX_HZ + 5)
    ax_f.set_ylabel("frequency (Hz)\nwhile a motor runs")
    ax_f.set_xlabel("distance (m)")
    ax_f.legend(loc="upper right", fontsize="small")
    for ax in (ax_v, ax_i, ax_f):
        ax.grid(True, color="0.92")
    return _save(fig, path)
