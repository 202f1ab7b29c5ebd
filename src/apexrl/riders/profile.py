"""Per-track profiles: what simulated riders and the oracle coach know about a closed circuit.

A :class:`TrackProfile` (built and cached by :func:`track_profile`) holds, on the track's
centre-line grid:

- the minimum-curvature **racing line** (its offset from the centre line and its curvature);
- **QSS speed profiles** on the racing line and on the centre line at every speed fraction ``f`` of
  :data:`SPEED_LEVELS`, each a QSS lap with the bike's roll-rate limit for tyres with grip
  ``mu * f^2`` (corner speeds ``f`` times the optimum, braking ``f^2`` times as hard, full power on
  the straights), so they are the fastest the simulated bike can follow;
- the **apexes** (prominent minima of the optimal speed) and a signed weight toward the outside of
  each apex's turn, which shapes a rider's apex error.

The numba lookups :func:`profile_speed` (speed at a fractional level on a line blended toward the
centre) and :func:`distance_to_next_apex` read these tables inside the rider and coach kernels
(:mod:`apexrl.riders.rider`, :mod:`apexrl.riders.oracle`).
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numba as nb
import numpy as np
from scipy.signal import find_peaks

from apexrl.tracks.geometry import interp_periodic
from apexrl.tracks.lapsim import LapResult, simulate_lap
from apexrl.tracks.raceline import RacingLine, minimum_curvature_line
from apexrl.tracks.track import Track
from apexrl.vehicles.params import MotorcycleParams

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

APEX_PROMINENCE_MPS = 2.0
"""A local minimum of the optimal speed is an apex when it lies this far below the maxima on both
sides (data-logger convention: the apex of a corner is its minimum-speed point)."""
APEX_SIGMA_M = 15.0
"""Standard deviation of the bump by which a rider's apex error shapes its line, m."""
SPEED_LEVELS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
"""Speed fractions at which :class:`TrackProfile` tabulates QSS profiles (riders between two
levels interpolate linearly)."""


@dataclass(frozen=True, eq=False)
class TrackProfile:
    """What riders and the oracle coach know about a track, on its centre-line grid (M samples,
    spacing ``track.ds_m``). Build with :func:`track_profile` (cached).

    Speed profiles are QSS laps with the bike's roll-rate limit (what the simulated bike can
    follow) for tyres with grip ``mu * f^2`` at every ``f`` in :data:`SPEED_LEVELS`: riding at speed
    fraction ``f`` means cornering at ``f`` times the optimal speed and braking at ``f^2`` times the
    optimal deceleration, while power-limited acceleration is unchanged.
    """

    track: Track
    bike: MotorcycleParams
    racing_line: RacingLine = field(repr=False)
    optimal_lap: LapResult = field(repr=False)
    """QSS lap on the racing line with the bike's roll-rate limit."""
    optimal_lap_time_s: float
    """``optimal_lap.lap_time_s``, s: the reference a rider's lap is measured against."""
    ideal_lap_time_s: float
    """QSS lap time on the racing line without the roll-rate limit (physics.md's plain QSS), s."""
    centre_lap_time_s: float
    """QSS lap time on the centre line with the roll-rate limit, s."""
    line_offset_m: np.ndarray = field(repr=False)
    """``(M,)`` racing-line offset from the centre line, + left, m."""
    line_curvature_1pm: np.ndarray = field(repr=False)
    """``(M,)`` curvature of the racing line, 1/m."""
    speed_table_mps: np.ndarray = field(repr=False)
    """``(2, F, M)`` QSS speeds, m/s: ``[0]`` on the racing line, ``[1]`` on the centre line, one
    row per level of :data:`SPEED_LEVELS`."""
    apex_s_m: np.ndarray = field(repr=False)
    """``(K,)`` sorted centre-line distances of the apexes (minimum-speed points), m."""
    apex_outside: np.ndarray = field(repr=False)
    """``(M,)`` signed weight in [-1, 1] toward the OUTSIDE of the nearest apex's turn (Gaussian of
    width ``APEX_SIGMA_M``); a rider's line is shifted by ``apex_error_m`` times it."""

    @property
    def line_speed_mps(self) -> np.ndarray:
        """``(M,)`` optimal speed on the racing line, m/s."""
        return self.speed_table_mps[0, -1]

    @property
    def centre_speed_mps(self) -> np.ndarray:
        """``(M,)`` QSS speed on the centre line, m/s."""
        return self.speed_table_mps[1, -1]

    def kernel_arrays(self) -> tuple[np.ndarray, ...]:
        """``(line_offset (M,), line_curvature (M,), centre_curvature (M,), speed_table (2, F, M),
        apex_outside (M,), w_left (M,), w_right (M,))`` float64 for the numba kernels."""
        t = self.track
        return (
            self.line_offset_m,
            self.line_curvature_1pm,
            np.ascontiguousarray(t.curvature_1pm, dtype=np.float64),
            self.speed_table_mps,
            self.apex_outside,
            np.ascontiguousarray(t.w_left_m, dtype=np.float64),
            np.ascontiguousarray(t.w_right_m, dtype=np.float64),
        )

    def distance_to_apex_m(self, s_m: np.ndarray) -> np.ndarray:
        """Distance along the track from each ``s_m`` to the next apex, m (inf without apexes)."""
        s = np.atleast_1d(np.asarray(s_m, dtype=np.float64))
        out = np.empty(s.shape)
        _distance_to_apex(s.ravel(), self.apex_s_m, self.track.length_m, out.ravel())
        return out


_PROFILE_CACHE: OrderedDict[tuple, TrackProfile] = OrderedDict()
_PROFILE_CACHE_SIZE = 8


def track_profile(track: Track, bike: MotorcycleParams | None = None) -> TrackProfile:
    """The rider/oracle profile of a CLOSED track for a bike (default :class:`MotorcycleParams`).

    Solves the racing line and about twenty QSS laps (a few seconds on a 4 km circuit); the result
    is cached by the track's content and the bike parameters.
    """
    bike = MotorcycleParams() if bike is None else bike
    if not isinstance(track, Track):
        raise TypeError(f"track must be an apexrl Track, got {type(track).__name__}")
    if not isinstance(bike, MotorcycleParams):
        raise TypeError(f"bike must be MotorcycleParams, got {type(bike).__name__}")
    if not track.closed:
        raise ValueError(
            f"track {track.name!r} is open; rider models and the coaching envs need a closed "
            "circuit"
        )
    digest = hashlib.blake2b(digest_size=16)
    for arr in (track.xy_m, track.w_left_m, track.w_right_m):
        digest.update(np.ascontiguousarray(arr).tobytes())
    key = (track.name, digest.hexdigest(), bike)
    if key in _PROFILE_CACHE:
        _PROFILE_CACHE.move_to_end(key)
        return _PROFILE_CACHE[key]
    profile = _build_profile(track, bike)
    _PROFILE_CACHE[key] = profile
    if len(_PROFILE_CACHE) > _PROFILE_CACHE_SIZE:
        _PROFILE_CACHE.popitem(last=False)
    return profile


def _build_profile(track: Track, bike: MotorcycleParams) -> TrackProfile:
    racing = minimum_curvature_line(track)
    envelope = bike.envelope(roll_rate_limit=True)
    ideal = simulate_lap(racing.line, bike.envelope())

    # Where each centre-line sample's racing-line point lies along the line (chord length along
    # the line's points, scaled to the resampled line's length).
    pts = np.vstack([racing.xy_m, racing.xy_m[:1]])
    chord = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])
    s_line = chord[:-1] * (racing.line.length_m / chord[-1])
    grid = np.append(racing.line.s_m, racing.line.length_m)
    line_kappa = np.asarray(racing.line.curvature_at(s_line), dtype=np.float64)

    m = track.n_points
    table = np.empty((2, len(SPEED_LEVELS), m))
    laps: dict[tuple[int, float], LapResult] = {}
    for j, level in enumerate(SPEED_LEVELS):
        env = replace(envelope, mu=envelope.mu * level * level)
        line_lap = simulate_lap(racing.line, env)
        centre_lap = simulate_lap(track, env)
        table[0, j] = np.interp(s_line, grid, np.append(line_lap.v_mps, line_lap.v_mps[0]))
        table[1, j] = centre_lap.v_mps
        laps[(0, level)], laps[(1, level)] = line_lap, centre_lap
    line_speed = table[0, -1]

    # Apexes: prominent minima of the optimal speed, found on three copies so corners across the
    # start line are seen whole.
    tiled = np.tile(-line_speed, 3)
    peaks, _ = find_peaks(tiled, prominence=APEX_PROMINENCE_MPS)
    apex_idx = np.unique(peaks[(peaks >= m) & (peaks < 2 * m)] - m)
    apex_s = np.asarray(track.s_m)[apex_idx].astype(np.float64)
    outside = np.zeros(m)
    s = np.asarray(track.s_m)
    for i, s_apex in zip(apex_idx, apex_s, strict=True):
        d = (s - s_apex + 0.5 * track.length_m) % track.length_m - 0.5 * track.length_m
        outside -= np.sign(line_kappa[i]) * np.exp(-0.5 * (d / APEX_SIGMA_M) ** 2)
    outside = np.clip(outside, -1.0, 1.0)

    arrays = [
        np.ascontiguousarray(a, dtype=np.float64)
        for a in (racing.offsets_m, line_kappa, table, apex_s, outside)
    ]
    for a in arrays:
        a.setflags(write=False)
    return TrackProfile(
        track=track,
        bike=bike,
        racing_line=racing,
        optimal_lap=laps[(0, 1.0)],
        optimal_lap_time_s=float(laps[(0, 1.0)].lap_time_s),
        ideal_lap_time_s=float(ideal.lap_time_s),
        centre_lap_time_s=float(laps[(1, 1.0)].lap_time_s),
        line_offset_m=arrays[0],
        line_curvature_1pm=arrays[1],
        speed_table_mps=arrays[2],
        apex_s_m=arrays[3],
        apex_outside=arrays[4],
    )


@nb.njit(**_NUMBA)
def distance_to_next_apex(s_m: float, apex_s_m: np.ndarray, length_m: float) -> float:
    """Distance along a closed track from ``s_m`` in [0, L) to the next apex, m (inf without)."""
    k = apex_s_m.shape[0]
    if k == 0:
        return np.inf
    j = np.searchsorted(apex_s_m, s_m, side="right")
    if j < k:
        return apex_s_m[j] - s_m
    return apex_s_m[0] + length_m - s_m


@nb.njit(**_NUMBA)
def _distance_to_apex(s: np.ndarray, apex_s: np.ndarray, length_m: float, out: np.ndarray):
    for b in range(s.shape[0]):
        out[b] = distance_to_next_apex(s[b] % length_m, apex_s, length_m)


def level_position(speed_fraction: float | np.ndarray) -> np.ndarray:
    """Fractional index of speed fractions in :data:`SPEED_LEVELS` (clipped to the table)."""
    levels = np.asarray(SPEED_LEVELS)
    return np.interp(speed_fraction, levels, np.arange(levels.size, dtype=np.float64))


@nb.njit(**_NUMBA)
def profile_speed(x: float, level_pos: float, bias: float, table: np.ndarray, ds: float) -> float:
    """QSS speed at ``x`` of a line blended ``bias`` toward the centre at a fractional speed level,
    m/s: linear between the two tabulated levels, harmonic in v^2 between the racing and centre
    line (exact where the cornering limit binds, as curvature blends linearly)."""
    n_levels = table.shape[1]
    i = int(level_pos)
    w = level_pos - i
    if i >= n_levels - 1:
        i = n_levels - 2
        w = 1.0
    a = (1.0 - w) * interp_periodic(table[0, i], x, ds, True)
    a += w * interp_periodic(table[0, i + 1], x, ds, True)
    c = (1.0 - w) * interp_periodic(table[1, i], x, ds, True)
    c += w * interp_periodic(table[1, i + 1], x, ds, True)
    return 1.0 / math.sqrt((1.0 - bias) / (a * a) + bias / (c * c))
