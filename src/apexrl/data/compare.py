"""Corner-by-corner comparison of a lap with the optimal lap, as a data-logger coach does it.

Reference (:func:`track_reference`, cached per track): the minimum-curvature racing line (the
one the riders and the oracle use, from :func:`apexrl.riders.track_profile`), the QSS optimal
lap on it with ``MotorcycleParams().envelope()`` (no roll-rate limit: physics.md's plain QSS),
and the corners. Everything is placed on
the CENTRE line's distance ``s`` (the racing line's samples are projected onto the track), which
is also where imported and simulated laps live.

Corner detection (:func:`detect_corners`): the racing line's signed curvature is smoothed with a
Gaussian (sigma ``smooth_m`` = 8 m) and the peaks of its magnitude tighter than
``max_radius_m`` = 400 m are found. Each peak's window extends while the curvature keeps its sign
and stays above ``edge_fraction`` = 30 % of the peak; windows of the same direction that touch
are merged (a double apex is one corner), windows of opposite direction stay apart (each half of
a chicane is a corner). The apex is the tightest point of the window; entry and exit are its ends.

Per corner (:func:`compare_lap`):
- entry / minimum / exit speed: at the window's entry, the slowest point inside it, its exit;
- braking point: where the speed peaks between the previous corner's exit and this corner's
  slowest point (braking starts there); ``None`` when the speed drops by less than 1 m/s;
- time lost: (lap's elapsed time across the window) - (optimal lap's), where the window starts at
  the optimal braking point when that lies before the entry (braking belongs to the corner), but
  never before the previous corner's exit. The time of the rest of the lap is reported as
  ``straights_time_lost_s``, so corners + straights = the lap-time difference.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

from apexrl.tracks.track import Track

if TYPE_CHECKING:
    from apexrl.tracks.lapsim import LapResult
    from apexrl.tracks.raceline import RacingLine

SMOOTH_M = 8.0
MAX_RADIUS_M = 400.0
EDGE_FRACTION = 0.3
MIN_BRAKING_DROP_MPS = 1.0
LAP_COVERAGE_M = 10.0
"""A lap must reach within this distance of both ends of the track to count as complete."""


@dataclass(frozen=True)
class Corner:
    """A corner of the racing line, positions as centre-line distance ``s`` from the line."""

    number: int
    """1-based, in driving order from the start/finish line."""
    direction: Literal["left", "right"]
    entry_s_m: float
    apex_s_m: float
    exit_s_m: float
    min_radius_m: float
    """Radius of the racing line at the apex."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "direction": self.direction,
            "entry_s_m": round(self.entry_s_m, 1),
            "apex_s_m": round(self.apex_s_m, 1),
            "exit_s_m": round(self.exit_s_m, 1),
            "min_radius_m": round(self.min_radius_m, 1),
        }


@dataclass(frozen=True, eq=False)
class TrackReference:
    """Racing line, optimal lap and corners of a track, on centre-line distance."""

    track: Track = field(repr=False)
    racing_line: RacingLine = field(repr=False)
    optimal: LapResult = field(repr=False)
    line_s_on_centre_m: np.ndarray = field(repr=False)
    """``(M_line,)`` centre-line distance of each racing-line sample, increasing from ~0."""
    corners: tuple[Corner, ...]

    @property
    def optimal_lap_time_s(self) -> float:
        return float(self.optimal.lap_time_s)

    def _closed(self, values: np.ndarray, end_value: float) -> tuple[np.ndarray, np.ndarray]:
        grid = np.append(self.line_s_on_centre_m, self.line_s_on_centre_m[0] + self.track.length_m)
        return grid, np.append(values, end_value)

    def optimal_time_at(self, s_m: np.ndarray | float) -> np.ndarray:
        """Optimal elapsed time at centre-line distance ``s`` (0 <= s <= length), s."""
        grid, t = self._closed(self.optimal.t_s, self.optimal.lap_time_s)
        return np.interp(s_m, grid, t)

    def optimal_speed_at(self, s_m: np.ndarray | float) -> np.ndarray:
        """Optimal speed at centre-line distance ``s``, m/s."""
        grid, v = self._closed(self.optimal.v_mps, float(self.optimal.v_mps[0]))
        return np.interp(np.mod(s_m, self.track.length_m), grid, v)


@functools.lru_cache(maxsize=8)
def track_reference(track: Track) -> TrackReference:
    """Build (once per track object) the racing line, the optimal lap and the corners."""
    from apexrl.riders.profile import track_profile
    from apexrl.tracks.lapsim import simulate_lap
    from apexrl.vehicles.params import MotorcycleParams

    if not track.closed:
        raise ValueError(f"track {track.name!r} is open; corner comparison needs a closed circuit")
    racing = track_profile(track).racing_line
    optimal = simulate_lap(racing.line, MotorcycleParams().envelope())
    line = racing.line
    scale = track.length_m / line.length_m
    hint = np.mod(line.s_m * scale, track.length_m)
    s_centre = track.project(line.xy_m, s_hint_m=hint).s_m
    step = (np.diff(s_centre) + track.length_m / 2) % track.length_m - track.length_m / 2
    start = s_centre[0] if s_centre[0] < track.length_m / 2 else s_centre[0] - track.length_m
    unwrapped = start + np.concatenate([[0.0], np.cumsum(step)])
    unwrapped = np.maximum.accumulate(unwrapped)
    corners = detect_corners(line, unwrapped, track.length_m)
    return TrackReference(track, racing, optimal, unwrapped, corners)


def detect_corners(
    line: Track,
    line_s_on_centre_m: np.ndarray,
    centre_length_m: float,
    *,
    smooth_m: float = SMOOTH_M,
    max_radius_m: float = MAX_RADIUS_M,
    edge_fraction: float = EDGE_FRACTION,
) -> tuple[Corner, ...]:
    """Corners of a closed racing line (module docs), positions on the centre line."""
    from scipy.signal import find_peaks

    kappa = gaussian_filter1d(
        np.asarray(line.curvature_1pm, dtype=np.float64), smooth_m / line.ds_m, mode="wrap"
    )
    m = kappa.shape[0]
    shift = int(np.argmin(np.abs(kappa)))  # start the circular scan on a straight
    k = np.roll(kappa, -shift)
    mag = np.abs(k)
    threshold = 1.0 / max_radius_m
    peaks, _ = find_peaks(mag, height=threshold)
    windows: list[list[int]] = []
    for p in sorted(peaks, key=lambda i: -mag[i]):
        if any(lo <= p <= hi for lo, hi, _ in windows):
            continue
        sign = np.sign(k[p])
        edge = edge_fraction * mag[p]
        lo = p
        while lo > 0 and np.sign(k[lo - 1]) == sign and mag[lo - 1] > edge:
            lo -= 1
        hi = p
        while hi < m - 1 and np.sign(k[hi + 1]) == sign and mag[hi + 1] > edge:
            hi += 1
        windows.append([lo, hi, int(sign)])
    windows.sort()
    merged: list[list[int]] = []
    for lo, hi, sign in windows:
        if merged and merged[-1][2] == sign and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi, sign])

    def centre_s(i_rolled: int) -> float:
        s = float(line_s_on_centre_m[(i_rolled + shift) % m])
        return s % centre_length_m

    corners = []
    for lo, hi, sign in merged:
        apex = lo + int(np.argmax(mag[lo : hi + 1]))
        corners.append(
            (
                centre_s(apex),
                "left" if sign > 0 else "right",
                centre_s(lo),
                centre_s(hi),
                1.0 / float(np.abs(line.curvature_1pm[(apex + shift) % m])),
            )
        )
    corners.sort()
    return tuple(
        Corner(i + 1, direction, entry, apex, exit_, radius)
        for i, (apex, direction, entry, exit_, radius) in enumerate(corners)
    )


@dataclass(frozen=True)
class CornerComparison:
    """One corner of a lap against the optimal lap (speeds m/s, positions centre-line m)."""

    corner: Corner
    window_start_s_m: float
    window_end_s_m: float
    entry_speed_mps: float
    optimal_entry_speed_mps: float
    min_speed_mps: float
    optimal_min_speed_mps: float
    min_speed_s_m: float
    optimal_min_speed_s_m: float
    exit_speed_mps: float
    optimal_exit_speed_mps: float
    braking_point_s_m: float | None
    optimal_braking_point_s_m: float | None
    time_s: float
    optimal_time_s: float

    @property
    def time_lost_s(self) -> float:
        return self.time_s - self.optimal_time_s

    @property
    def braking_delta_m(self) -> float | None:
        """Lap braking point minus optimal (negative = the rider brakes earlier)."""
        if self.braking_point_s_m is None or self.optimal_braking_point_s_m is None:
            return None
        return self.braking_point_s_m - self.optimal_braking_point_s_m

    def to_dict(self) -> dict[str, Any]:
        def r(x: float | None, nd: int = 2) -> float | None:
            return None if x is None else round(float(x), nd)

        return {
            **self.corner.to_dict(),
            "window_m": [r(self.window_start_s_m, 1), r(self.window_end_s_m, 1)],
            "entry_speed_mps": r(self.entry_speed_mps),
            "optimal_entry_speed_mps": r(self.optimal_entry_speed_mps),
            "min_speed_mps": r(self.min_speed_mps),
            "optimal_min_speed_mps": r(self.optimal_min_speed_mps),
            "min_speed_s_m": r(self.min_speed_s_m, 1),
            "optimal_min_speed_s_m": r(self.optimal_min_speed_s_m, 1),
            "exit_speed_mps": r(self.exit_speed_mps),
            "optimal_exit_speed_mps": r(self.optimal_exit_speed_mps),
            "braking_point_s_m": r(self.braking_point_s_m, 1),
            "optimal_braking_point_s_m": r(self.optimal_braking_point_s_m, 1),
            "braking_delta_m": r(self.braking_delta_m, 1),
            "time_s": r(self.time_s, 3),
            "optimal_time_s": r(self.optimal_time_s, 3),
            "time_lost_s": r(self.time_lost_s, 3),
        }


@dataclass(frozen=True, eq=False)
class LapComparison:
    """A lap against the optimal lap, corner by corner."""

    label: str
    track: str
    lap_time_s: float
    optimal_lap_time_s: float
    corners: tuple[CornerComparison, ...]
    s_m: np.ndarray = field(repr=False)
    """``(K,)`` the lap's centre-line distance samples."""
    v_mps: np.ndarray = field(repr=False)
    t_s: np.ndarray = field(repr=False)
    reference: TrackReference = field(repr=False)

    @property
    def time_lost_s(self) -> float:
        return self.lap_time_s - self.optimal_lap_time_s

    @property
    def corners_time_lost_s(self) -> float:
        return float(sum(c.time_lost_s for c in self.corners))

    def to_dict(self) -> dict[str, Any]:
        return {
            "lap": self.label,
            "track": self.track,
            "lap_time_s": round(self.lap_time_s, 3),
            "optimal_lap_time_s": round(self.optimal_lap_time_s, 3),
            "time_lost_s": round(self.time_lost_s, 3),
            "corners_time_lost_s": round(self.corners_time_lost_s, 3),
            "straights_time_lost_s": round(self.time_lost_s - self.corners_time_lost_s, 3),
            "corners": [c.to_dict() for c in self.corners],
        }


def compare_lap(
    s_m: np.ndarray,
    t_s: np.ndarray,
    v_mps: np.ndarray,
    track: Track | str,
    *,
    label: str = "lap",
) -> LapComparison:
    """Compare one complete lap with the optimal lap (module docs).

    Args:
        s_m: ``(K,)`` centre-line distance from the start/finish line, 0 .. track length.
        t_s: ``(K,)`` elapsed time since the line, s.
        v_mps: ``(K,)`` speed, m/s.
        track: the track (or a spec for ``load_track``).
    """
    from apexrl.tracks.library import load_track

    trk = track if isinstance(track, Track) else load_track(track)
    ref = track_reference(trk)
    s = np.maximum.accumulate(np.asarray(s_m, dtype=np.float64))
    t = np.asarray(t_s, dtype=np.float64)
    v = np.asarray(v_mps, dtype=np.float64)
    if not (s.shape == t.shape == v.shape and s.ndim == 1 and s.size >= 10):
        raise ValueError("s_m, t_s and v_mps must be 1-D arrays of the same length (>= 10)")
    if not (np.isfinite(s).all() and np.isfinite(t).all() and np.isfinite(v).all()):
        raise ValueError(f"{label}: the lap has NaN or inf samples")
    length = trk.length_m
    if s[0] > LAP_COVERAGE_M or s[-1] < length - LAP_COVERAGE_M:
        raise ValueError(
            f"{label}: not a complete lap of {trk.name!r} (covers {s[0]:.0f}-{s[-1]:.0f} m of "
            f"{length:.0f} m); compare needs a lap from line to line"
        )
    t = t - t[0]

    def lap_time_at(x: float) -> float:
        # A lap that stops a few metres short of the line is extended at its last speed.
        if x >= s[-1]:
            return float(t[-1] + (x - s[-1]) / max(v[-1], 0.1))
        return float(np.interp(x, s, t))

    lap_time = lap_time_at(length)

    fine = np.linspace(0.0, length, int(length) + 1)
    lap_v = np.interp(fine, s, v)
    opt_v = ref.optimal_speed_at(fine)
    results = []
    previous_exit = 0.0
    for corner in ref.corners:
        entry, exit_ = corner.entry_s_m, corner.exit_s_m
        if exit_ < entry:  # straddles the start/finish line: keep the part after the line
            entry = 0.0
        inside = (fine >= entry) & (fine <= exit_)
        if not inside.any():
            continue
        idx = np.flatnonzero(inside)
        i_lap = idx[np.argmin(lap_v[idx])]
        i_opt = idx[np.argmin(opt_v[idx])]
        brake_lap = _braking_point(fine, lap_v, previous_exit, fine[i_lap])
        brake_opt = _braking_point(fine, opt_v, previous_exit, fine[i_opt])
        start = entry if brake_opt is None else max(min(entry, brake_opt), previous_exit)
        lap_dt = lap_time_at(exit_) - lap_time_at(start)
        opt_dt = float(ref.optimal_time_at(exit_) - ref.optimal_time_at(start))
        results.append(
            CornerComparison(
                corner=corner,
                window_start_s_m=start,
                window_end_s_m=exit_,
                entry_speed_mps=float(np.interp(entry, s, v)),
                optimal_entry_speed_mps=float(ref.optimal_speed_at(entry)),
                min_speed_mps=float(lap_v[i_lap]),
                optimal_min_speed_mps=float(opt_v[i_opt]),
                min_speed_s_m=float(fine[i_lap]),
                optimal_min_speed_s_m=float(fine[i_opt]),
                exit_speed_mps=float(np.interp(exit_, s, v)),
                optimal_exit_speed_mps=float(ref.optimal_speed_at(exit_)),
                braking_point_s_m=brake_lap,
                optimal_braking_point_s_m=brake_opt,
                time_s=lap_dt,
                optimal_time_s=opt_dt,
            )
        )
        previous_exit = exit_
    return LapComparison(
        label=label,
        track=trk.name,
        lap_time_s=lap_time,
        optimal_lap_time_s=ref.optimal_lap_time_s,
        corners=tuple(results),
        s_m=s,
        v_mps=v,
        t_s=t,
        reference=ref,
    )


def _braking_point(grid: np.ndarray, v: np.ndarray, lo: float, hi: float) -> float | None:
    window = np.flatnonzero((grid >= lo) & (grid <= hi))
    if window.size < 2:
        return None
    i = window[np.argmax(v[window])]
    if v[i] - v[window[-1]] < MIN_BRAKING_DROP_MPS:
        return None
    return float(grid[i])


def compare_log(
    path: str | os.PathLike,
    track: Track | str,
    *,
    format: str = "auto",
    origin: tuple[float, float, float] | str | None = None,
    lap: int | None = None,
) -> LapComparison:
    """Import a RaceChrono/AiM log and compare lap ``lap`` (default: its fastest complete lap)."""
    from apexrl.data.telemetry import import_log

    imported = import_log(path, track, format=format, origin=origin)
    chosen = imported.lap(lap)
    if not chosen.complete:
        raise ValueError(f"{imported.source}: lap {chosen.number} is a partial {chosen.kind}-lap")
    return compare_lap(
        chosen.s_m,
        chosen.t_s,
        chosen.channel("velocity"),
        imported.track,
        label=f"{Path(path).name} lap {chosen.number}",
    )


def compare_dataset_episode(
    root: str | os.PathLike, dataset_id: str, episode: int, track: Track | str | None = None
) -> LapComparison:
    """Compare episode ``episode`` of an apexrl Minari dataset (it must be a completed lap)."""
    from apexrl.data.minari_io import CHANNELS, load_dataset
    from apexrl.tracks.library import load_track

    dataset = load_dataset(root, dataset_id)
    meta = dataset.storage.metadata.get("apexrl", {})
    recorded = meta.get("track")
    if track is None:
        if not recorded:
            raise ValueError(f"dataset {dataset_id!r} does not record its track; pass --track")
        track = recorded
    trk = track if isinstance(track, Track) else load_track(track)
    if recorded and recorded != trk.name:
        raise ValueError(
            f"dataset {dataset_id!r} was recorded on track {recorded!r}, not {trk.name!r}; "
            f"pass --track {recorded}"
        )
    total = dataset.total_episodes
    if isinstance(episode, bool) or not 0 <= episode < total:
        raise ValueError(f"episode {episode} is out of range; dataset {dataset_id!r} has {total}")
    ep = next(iter(dataset.iterate_episodes([episode])))
    outcome = next(iter(dataset.storage.get_episode_metadata([episode]))).get("outcome")
    infos = ep.infos or {}
    if "s_m" not in infos or "t_s" not in infos or outcome is None:
        raise ValueError(
            f"dataset {dataset_id!r} has no per-step distance (infos 's_m', 't_s') or episode "
            "outcomes; it was not written by apexrl"
        )
    if outcome != "lap":
        raise ValueError(
            f"episode {episode} of {dataset_id!r} did not complete its lap (outcome: {outcome})"
        )
    v = np.asarray(ep.observations[:, CHANNELS.index("velocity")], dtype=np.float64)
    return compare_lap(
        np.asarray(infos["s_m"], dtype=np.float64),
        np.asarray(infos["t_s"], dtype=np.float64),
        v,
        trk,
        label=f"{dataset_id} episode {episode}",
    )


def plot_comparison(
    comparison: LapComparison, path: str | os.PathLike, *, force: bool = False
) -> Path:
    """Speed vs distance (lap and optimal, corners shaded) and the time delta, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from apexrl.io_utils import write_bytes_atomic

    out = Path(path)
    if out.exists() and not force:
        raise FileExistsError(f"{out} exists; pass --force (force=True) to overwrite it")
    ref = comparison.reference
    fine = np.linspace(0.0, ref.track.length_m, int(ref.track.length_m) + 1)
    lap_t = np.interp(fine, comparison.s_m, comparison.t_s)
    fig = Figure(figsize=(12, 6.5), dpi=110)
    FigureCanvasAgg(fig)
    ax_v, ax_t = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.4]})
    ax_v.plot(fine, ref.optimal_speed_at(fine) * 3.6, color="0.35", lw=1.2, label="optimal (QSS)")
    ax_v.plot(
        comparison.s_m, comparison.v_mps * 3.6, color="tab:red", lw=1.2, label=comparison.label
    )
    ax_t.plot(fine, lap_t - ref.optimal_time_at(fine), color="tab:red", lw=1.2)
    top = float(max(comparison.v_mps.max(), ref.optimal.v_mps.max()) * 3.6)
    for c in comparison.corners:
        for ax in (ax_v, ax_t):
            ax.axvspan(c.window_start_s_m, c.window_end_s_m, color="tab:blue", alpha=0.12, lw=0)
        ax_v.text(
            c.corner.apex_s_m,
            top * 1.02,
            f"T{c.corner.number}",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax_v.set_ylim(0, top * 1.1)
    ax_v.set_ylabel("speed [km/h]")
    ax_v.legend(loc="lower right", fontsize=8)
    ax_v.set_title(
        f"{comparison.label} on {comparison.track}: {comparison.lap_time_s:.2f} s vs optimal "
        f"{comparison.optimal_lap_time_s:.2f} s (+{comparison.time_lost_s:.2f} s)",
        fontsize=10,
    )
    ax_t.axhline(0.0, color="0.5", lw=0.8)
    ax_t.set_ylabel("time lost [s]")
    ax_t.set_xlabel("distance along the centre line [m]")
    ax_t.set_xlim(0, ref.track.length_m)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes_atomic(out, buffer.getvalue())
    return out


def table_rows(comparison: LapComparison) -> list[Sequence[str]]:
    """Rows for a people-facing table: corner, speeds (km/h), braking delta, time lost."""
    rows = []
    for c in comparison.corners:
        kmh = lambda x: f"{x * 3.6:.0f}"  # noqa: E731
        delta = c.braking_delta_m
        rows.append(
            (
                f"T{c.corner.number} {c.corner.direction[0].upper()}",
                f"{kmh(c.entry_speed_mps)} / {kmh(c.optimal_entry_speed_mps)}",
                f"{kmh(c.min_speed_mps)} / {kmh(c.optimal_min_speed_mps)}",
                f"{kmh(c.exit_speed_mps)} / {kmh(c.optimal_exit_speed_mps)}",
                "-" if delta is None else f"{delta:+.0f}",
                f"{c.time_lost_s:+.3f}",
            )
        )
    return rows
