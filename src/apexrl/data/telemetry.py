"""Import logged laps (RaceChrono CSV v3, AiM CSV) into apexrl's 8-channel, map-matched schema.

Pipeline (physics.md section 5):

1. **Parse** the file with :func:`apexrl.data.formats.read_log`: columns by POSITION (RaceChrono
   repeats names such as ``speed`` for GPS, calculated and OBD values; the first match wins, GPS
   preferred for speed), every channel converted to SI (speed m/s, accelerations g, angles rad,
   throttle and brake as fractions), sensor rows without a GPS fix interpolated onto the GPS rows
   by time.
2. **Align** the log with the track. GPS lat/lon become local metres with an equirectangular
   projection (exact to millimetres over a circuit), then a rigid 2-D transform puts them in the
   track's frame. Either the user gives the frame (``origin``: the lat/lon of the track's (0, 0)
   and the compass bearing of its +x axis; exact), or it is FITTED: iterative closest point
   (trimmed, 36 starting rotations) of the driven path, resampled every 3 m, onto the centre
   line. The fit is refused when the path does not lie on the track (95 % of points farther than
   the half width + 3 m) or when two different rotations fit equally well (a symmetric track such
   as a circle); pass ``origin`` then. A fitted frame is good to 1-2 m (the rider's line is not
   the centre line, and that bias is fitted too); give ``origin`` when sub-metre deviations
   matter.
3. **Map-match** every fix with :meth:`Track.project`, the previous fix's ``s`` as the hint, and
   unwrap ``s`` into driven distance. Laps are split where that distance crosses the start/finish
   line (s = 0); the crossing time is interpolated between fixes. Before the first crossing is the
   out-lap, after the last the in-lap (both partial).
4. **Channels** (:data:`apexrl.data.minari_io.CHANNELS`). Logged when the file has them; otherwise
   derived, and :attr:`ImportedTelemetry.channel_sources` says which:

   - velocity: GPS speed, else the speed of the smoothed path;
   - lateral_g: the logged lateral acceleration, else v^2 kappa of the driven path (v times the
     heading rate of the smoothed path). A logged channel's sign is checked against that estimate
     and flipped to apexrl's + left convention when they disagree;
   - roll_angle: the logged lean (sign checked the same way), else atan(a_y / g);
   - throttle_position / brake_pressure: logged (% -> fraction; a pressure is divided by
     ``brake_full_scale_bar``), else from the tyre's longitudinal acceleration
     a_tyre = a_x + drag + rolling resistance as a fraction of what the bike can do there
     (drive: min(P/(m v), wheelie, mu g); brake: min(brake_max, stoppie)), the same scaling the
     simulator applies to its inputs;
   - distance_to_apex: distance along the centre line to the next apex, and
   - racing_line_deviation: n minus the racing line's offset at s (+ = left of the line), both
     exactly as the MotoCoach env computes them from the track's
     :class:`~apexrl.riders.TrackProfile` (apexes = minimum-speed points of the optimal lap);
   - tire_friction_usage: sqrt((a_tyre/(mu g))^2 + (a_y/(mu g))^2) with the bike's mu.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.ndimage import gaussian_filter1d

# Log-file parsing moved to apexrl.data.formats; the names marked F401 are re-exported so that
# imports from this module keep working.
from apexrl.data.formats import (
    DEFAULT_BRAKE_FULL_SCALE_BAR,
    FORMATS,  # noqa: F401
    RACECHRONO_BANNER,  # noqa: F401
    LogFormat,  # noqa: F401
    RawLog,
    TelemetryFormatError,  # noqa: F401
    detect_format,  # noqa: F401
    read_log,
)
from apexrl.data.minari_io import (
    CHANNEL_UNITS,
    CHANNELS,
    NO_CUE_ACTION,
    Episode,
    observation_space,
)
from apexrl.tracks.track import Track
from apexrl.vehicles.params import MotorcycleParams

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG) of the equirectangular projection."""
MOVING_SPEED_MPS = 2.0
"""Fixes slower than this are ignored by the alignment fit (standing in the pits)."""
_SMOOTH_S = 0.3
"""Time constant (Gaussian sigma, seconds) of the smoothing before numerical derivatives."""
_SIGN_CHECK_MIN = 0.3
"""Correlation a logged lateral/lean channel must reach with the path estimate to be trusted."""


# ====================================================================== alignment
@dataclass(frozen=True)
class Alignment:
    """How GPS fixes map into the track's frame: equirectangular about (``lat0``, ``lon0``), then
    ``xy = R(rotation) @ (east, north) + translation``.

    ``origin_lat_deg, origin_lon_deg, heading_deg`` state the same frame the way ``--origin``
    takes it: the lat/lon of the track's (0, 0) and the compass bearing of its +x axis.
    """

    method: Literal["origin", "fitted"]
    lat0_deg: float
    lon0_deg: float
    rotation_rad: float
    translation_m: tuple[float, float]
    origin_lat_deg: float
    origin_lon_deg: float
    heading_deg: float
    rms_m: float
    """RMS distance of the moving fixes from the nearest centre-line sample after alignment."""
    p95_m: float
    """95th percentile of that distance."""

    def to_track_xy(self, lat_deg: np.ndarray, lon_deg: np.ndarray) -> np.ndarray:
        """Track-frame points ``(N, 2)`` metres for GPS fixes."""
        enu = local_metres(lat_deg, lon_deg, self.lat0_deg, self.lon0_deg)
        return enu @ _rot(self.rotation_rad).T + np.asarray(self.translation_m)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "origin": f"{self.origin_lat_deg:.7f},{self.origin_lon_deg:.7f},{self.heading_deg:.3f}",
            "rms_m": round(self.rms_m, 3),
            "p95_m": round(self.p95_m, 3),
        }


def local_metres(
    lat_deg: np.ndarray, lon_deg: np.ndarray, lat0_deg: float, lon0_deg: float
) -> np.ndarray:
    """Equirectangular east/north metres ``(N, 2)`` about (lat0, lon0)."""
    k = math.pi / 180 * EARTH_RADIUS_M
    east = (np.asarray(lon_deg) - lon0_deg) * k * math.cos(math.radians(lat0_deg))
    north = (np.asarray(lat_deg) - lat0_deg) * k
    return np.stack([east, north], axis=1)


def lat_lon(east_north_m: np.ndarray, lat0_deg: float, lon0_deg: float) -> np.ndarray:
    """Inverse of :func:`local_metres`: ``(N, 2)`` [lat, lon] degrees."""
    k = math.pi / 180 * EARTH_RADIUS_M
    en = np.atleast_2d(east_north_m)
    lat = lat0_deg + en[:, 1] / k
    lon = lon0_deg + en[:, 0] / (k * math.cos(math.radians(lat0_deg)))
    return np.stack([lat, lon], axis=1)


def parse_origin(text: str) -> tuple[float, float, float]:
    """``"LAT,LON[,HEADING]"`` -> (lat, lon, heading_deg); heading defaults to 90 (x = east)."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not all(math.isfinite(x) for x in values):
        raise ValueError(
            f"origin {text!r} must be LAT,LON[,HEADING] in degrees, e.g. 45.5,9.2,90 "
            "(HEADING: compass bearing of the track's +x axis; 90 = east)"
        )
    if not (-90 <= values[0] <= 90 and -180 <= values[1] <= 180):
        raise ValueError(
            f"origin {text!r}: latitude must be in [-90, 90], longitude in [-180, 180]"
        )
    return values[0], values[1], values[2] if len(values) == 3 else 90.0


def _rot(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


def _heading_rotation(heading_deg: float) -> float:
    """Rotation taking (east, north) into a frame whose +x axis points at compass ``heading``."""
    return math.radians(heading_deg) - math.pi / 2


def align(
    raw: RawLog, track: Track, origin: tuple[float, float, float] | str | None = None
) -> Alignment:
    """The log's frame on ``track``: from ``origin`` (exact) or fitted (see the module docs)."""
    if isinstance(origin, str):
        origin = parse_origin(origin)
    if origin is not None:
        lat0, lon0, heading = origin
        rotation = _heading_rotation(heading)
        xy = local_metres(raw.lat_deg, raw.lon_deg, lat0, lon0) @ _rot(rotation).T
        rms, p95 = _residual(track, xy[_moving(raw, xy)])
        return Alignment("origin", lat0, lon0, rotation, (0.0, 0.0), lat0, lon0, heading, rms, p95)
    return _fit(raw, track)


def _moving(raw: RawLog, xy: np.ndarray) -> np.ndarray:
    speed = raw.speed_mps if raw.speed_mps is not None else _path_speed(raw.t_s, xy)
    return speed > MOVING_SPEED_MPS


def _residual(track: Track, xy: np.ndarray) -> tuple[float, float]:
    from scipy.spatial import cKDTree

    if xy.shape[0] == 0:
        return math.inf, math.inf
    d, _ = cKDTree(track.xy_m).query(xy)
    return float(np.sqrt(np.mean(d**2))), float(np.percentile(d, 95))


def _fit(raw: RawLog, track: Track) -> Alignment:
    from scipy.spatial import cKDTree

    lat0, lon0 = float(raw.lat_deg[0]), float(raw.lon_deg[0])
    enu = local_metres(raw.lat_deg, raw.lon_deg, lat0, lon0)
    path = _resample_path(enu[_moving(raw, enu)], 3.0)
    path_len = 3.0 * max(path.shape[0] - 1, 0)
    hint = "pass --origin LAT,LON[,HEADING] (the track frame's origin and +x bearing)"
    if path_len < 0.5 * track.length_m:
        raise ValueError(
            f"{raw.path}: the log drives only {path_len:.0f} m on a {track.length_m:.0f} m track; "
            f"fitting the alignment needs most of a lap; {hint}"
        )
    # Coarse stage on a thinned centre line (every ~4 m) and at most ~150 points of the path:
    # from badly rotated starts most points are far from the line, where KD-tree queries are slow.
    coarse_ref = track.xy_m[:: max(1, int(round(4.0 / track.ds_m)))]
    coarse_tree = cKDTree(coarse_ref)
    sub = path[:: max(1, path.shape[0] // 150)]
    centre_p, centre_t = sub.mean(axis=0), track.xy_m.mean(axis=0)
    results = []
    for start in np.radians(np.arange(0.0, 360.0, 10.0)):
        rot = _rot(start)
        results.append(_icp(sub, coarse_tree, coarse_ref, rot, centre_t - rot @ centre_p, 15))
    results.sort(key=lambda r: r[2])
    rot, trans, _ = _icp(path, cKDTree(track.xy_m), track.xy_m, results[0][0], results[0][1], 60)
    xy = enu @ rot.T + trans
    rms, p95 = _residual(track, xy[_moving(raw, xy)])
    allowed = float(np.max(np.maximum(track.w_left_m, track.w_right_m))) + 3.0
    if p95 > allowed:
        raise ValueError(
            f"{raw.path}: cannot align the log with track {track.name!r}: 5 % of the fixes lie "
            f"more than {p95:.1f} m from the centre line (half width + GPS error: "
            f"{allowed:.1f} m); is it the right track? {hint}"
        )
    best_angle = math.atan2(rot[1, 0], rot[0, 0])
    best_rms = results[0][2]
    for other_rot, _, other_rms in results[1:]:
        other = math.atan2(other_rot[1, 0], other_rot[0, 0])
        diff = abs((other - best_angle + math.pi) % (2 * math.pi) - math.pi)
        if diff > math.radians(5.0) and other_rms <= 1.25 * best_rms + 0.5:
            raise ValueError(
                f"{raw.path}: the log fits track {track.name!r} equally well rotated by "
                f"{math.degrees(diff):.0f} deg (a symmetric layout); {hint}"
            )
    # Express the same frame as --origin would: the GPS position of the track's (0, 0).
    origin_en = rot.T @ (-trans)
    origin_lat, origin_lon = lat_lon(origin_en, lat0, lon0)[0]
    angle = math.atan2(rot[1, 0], rot[0, 0])
    heading = (math.degrees(angle + math.pi / 2)) % 360.0
    return Alignment(
        "fitted",
        lat0,
        lon0,
        angle,
        (float(trans[0]), float(trans[1])),
        float(origin_lat),
        float(origin_lon),
        heading,
        rms,
        p95,
    )


def _icp(points, tree, ref, rot, trans, iterations: int):
    """Trimmed point-to-point ICP (90 % closest pairs); returns (R, t, rms of the kept pairs)."""
    rms = math.inf
    for _ in range(iterations):
        moved = points @ rot.T + trans
        d, idx = tree.query(moved)
        keep = d <= np.quantile(d, 0.9)
        a, b = points[keep], ref[idx[keep]]
        ca, cb = a.mean(axis=0), b.mean(axis=0)
        u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
        if np.linalg.det(vt.T @ u.T) < 0:
            vt[-1] *= -1
        rot = vt.T @ u.T
        trans = cb - rot @ ca
        new = float(np.sqrt(np.mean(d[keep] ** 2)))
        if abs(rms - new) < 1e-4:
            rms = new
            break
        rms = new
    return rot, trans, rms


def _resample_path(xy: np.ndarray, step_m: float) -> np.ndarray:
    if xy.shape[0] < 2:
        return xy
    arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    grid = np.arange(0.0, arc[-1], step_m)
    return np.stack([np.interp(grid, arc, xy[:, 0]), np.interp(grid, arc, xy[:, 1])], axis=1)


def _path_speed(t_s: np.ndarray, xy: np.ndarray) -> np.ndarray:
    sm = _smooth(xy, t_s)
    return np.hypot(np.gradient(sm[:, 0], t_s), np.gradient(sm[:, 1], t_s))


def _smooth(values: np.ndarray, t_s: np.ndarray, sigma_s: float = _SMOOTH_S) -> np.ndarray:
    dt = float(np.median(np.diff(t_s))) if t_s.shape[0] > 1 else 1.0
    return gaussian_filter1d(values, max(sigma_s / dt, 1e-6), axis=0, mode="nearest")


# ====================================================================== laps and channels
@dataclass(frozen=True, eq=False)
class LapTelemetry:
    """One lap as a distance-indexed SI table (K samples; every array ``(K,)``).

    Complete laps start and end exactly on the start/finish line (interpolated samples), so
    ``t_s[-1]`` is the lap time; partial laps (``kind`` ``"out"``/``"in"``) keep the fixes only.
    """

    number: int
    """0 = out-lap, 1..N complete laps, N+1 = in-lap (Race Studio's numbering)."""
    kind: Literal["out", "lap", "in"]
    s_m: np.ndarray
    """Distance along the centre line from the start/finish line, non-decreasing."""
    t_s: np.ndarray
    """Seconds since the lap started (the line crossing; the first fix for an out-lap)."""
    n_m: np.ndarray
    """Lateral offset from the centre line, + left."""
    xy_m: np.ndarray = field(repr=False)
    """``(K, 2)`` track-frame position."""
    channels: np.ndarray = field(repr=False)
    """``(K, 8)`` float64 in :data:`~apexrl.data.minari_io.CHANNELS` order and units."""

    @property
    def complete(self) -> bool:
        return self.kind == "lap"

    @property
    def lap_time_s(self) -> float | None:
        return float(self.t_s[-1]) if self.complete else None

    def channel(self, name: str) -> np.ndarray:
        """One channel ``(K,)`` by name."""
        try:
            return self.channels[:, CHANNELS.index(name)]
        except ValueError:
            raise ValueError(f"unknown channel {name!r}; channels: {', '.join(CHANNELS)}") from None

    def observations(self) -> np.ndarray:
        """``(K, 8)`` float32 observations."""
        return self.channels.astype(np.float32)


@dataclass(frozen=True, eq=False)
class ImportedTelemetry:
    """A log map-matched to a track: its laps and how every channel was obtained."""

    source: Path
    format: str
    track: Track = field(repr=False)
    alignment: Alignment
    laps: tuple[LapTelemetry, ...]
    channel_sources: dict[str, str]
    """Channel -> ``"logged: ..."`` or ``"derived: ..."``."""
    metadata: dict[str, str] = field(default_factory=dict)
    logger_lap_times_s: tuple[float, ...] = ()
    sample_rate_hz: float = 0.0

    @property
    def complete_laps(self) -> tuple[LapTelemetry, ...]:
        return tuple(lap for lap in self.laps if lap.complete)

    @property
    def derived_channels(self) -> tuple[str, ...]:
        return tuple(c for c in CHANNELS if self.channel_sources[c].startswith("derived"))

    def lap(self, number: int | None = None) -> LapTelemetry:
        """Lap ``number``, or the fastest complete lap when None."""
        if number is None:
            complete = self.complete_laps
            if not complete:
                raise ValueError(
                    f"{self.source}: no complete lap (the log never crosses the start/finish "
                    "line twice)"
                )
            return min(complete, key=lambda lap: lap.t_s[-1])
        for lap in self.laps:
            if lap.number == number:
                return lap
        known = ", ".join(str(lap.number) for lap in self.laps)
        raise ValueError(f"{self.source}: no lap {number}; laps: {known}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-sample arrays)."""
        complete = [lap.t_s[-1] for lap in self.complete_laps]
        return {
            "source": str(self.source),
            "format": self.format,
            "track": self.track.name,
            "sample_rate_hz": round(self.sample_rate_hz, 3),
            "alignment": self.alignment.to_dict(),
            "laps": [
                {
                    "number": lap.number,
                    "kind": lap.kind,
                    "lap_time_s": None if lap.lap_time_s is None else round(lap.lap_time_s, 3),
                    "samples": int(lap.s_m.shape[0]),
                    "distance_m": round(float(lap.s_m[-1] - lap.s_m[0]), 1),
                }
                for lap in self.laps
            ],
            "best_lap_time_s": round(float(min(complete)), 3) if complete else None,
            "logger_lap_times_s": [round(x, 3) for x in self.logger_lap_times_s],
            "clipped_to_space": clipped_samples(self),
            "channels": dict(zip(CHANNELS, CHANNEL_UNITS, strict=True)),
            "channel_sources": dict(self.channel_sources),
            "derived_channels": list(self.derived_channels),
        }


def import_log(
    path: str | os.PathLike,
    track: Track | str,
    *,
    format: str = "auto",
    origin: tuple[float, float, float] | str | None = None,
    params: MotorcycleParams | None = None,
    brake_full_scale_bar: float = DEFAULT_BRAKE_FULL_SCALE_BAR,
) -> ImportedTelemetry:
    """Parse, align, map-match and split a RaceChrono/AiM log into laps (module docs)."""
    from apexrl.riders.profile import track_profile
    from apexrl.tracks.library import load_track

    trk = track if isinstance(track, Track) else load_track(track)
    if not trk.closed:
        raise ValueError(f"track {trk.name!r} is open; lap import needs a closed circuit")
    params = params or MotorcycleParams()
    raw = read_log(path, format, brake_full_scale_bar=brake_full_scale_bar)
    alignment = align(raw, trk, origin)
    xy = alignment.to_track_xy(raw.lat_deg, raw.lon_deg)
    s, n = _map_match(trk, xy)
    driven = _unwrap(s, trk.length_m)
    if driven[-1] - driven[0] < -0.25 * trk.length_m:
        raise ValueError(
            f"{raw.path}: the log drives track {trk.name!r} backwards (against increasing s)"
        )
    channels, sources = _channels(raw, xy, s, n, track_profile(trk), params)
    laps = _split_laps(raw.t_s, driven, n, xy, channels, trk.length_m)
    dt = np.diff(raw.t_s)
    return ImportedTelemetry(
        source=raw.path,
        format=raw.format,
        track=trk,
        alignment=alignment,
        laps=laps,
        channel_sources=sources,
        metadata=dict(raw.metadata),
        logger_lap_times_s=raw.logger_lap_times_s,
        sample_rate_hz=float(1.0 / np.median(dt)),
    )


def _map_match(track: Track, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sequential projection, each fix hinted with the previous fix's ``s``."""
    count = xy.shape[0]
    s = np.empty(count)
    n = np.empty(count)
    hint = None
    for i in range(count):
        fp = track.project(xy[i : i + 1], s_hint_m=hint)
        s[i], n[i] = fp.s_m[0], fp.n_m[0]
        hint = fp.s_m
    return s, n


def _unwrap(s: np.ndarray, length: float) -> np.ndarray:
    step = (np.diff(s) + length / 2) % length - length / 2
    return np.concatenate([[s[0]], s[0] + np.cumsum(step)])


def _channels(raw, xy, s, n, profile, params: MotorcycleParams):
    """``(N, 8)`` channels and their sources (module docs, step 4)."""
    t = raw.t_s
    g = params.g_mps2
    sources: dict[str, str] = {}
    smooth_xy = _smooth(xy, t)
    vx, vy = np.gradient(smooth_xy[:, 0], t), np.gradient(smooth_xy[:, 1], t)
    path_speed = np.hypot(vx, vy)
    yaw_rate = np.gradient(np.unwrap(np.arctan2(vy, vx)), t)
    path_ay = path_speed * yaw_rate  # v^2 kappa of the driven path, + left

    if raw.speed_mps is not None:
        speed = np.maximum(raw.speed_mps, 0.0)
        sources["velocity"] = raw.sources["speed"]
    else:
        speed = path_speed
        sources["velocity"] = "derived: speed of the smoothed GPS path"
    fast = speed > 10.0

    if raw.lateral_g is not None:
        sign, note = _sign(raw.lateral_g, path_ay, fast)
        ay = sign * raw.lateral_g * g
        sources["lateral_g"] = raw.sources["lateral"] + note
    else:
        ay = path_ay
        sources["lateral_g"] = "derived: v^2 kappa of the driven path (v x heading rate)"

    if raw.lean_rad is not None:
        sign, note = _sign(raw.lean_rad, path_ay, fast)
        roll_deg = np.degrees(sign * raw.lean_rad)
        sources["roll_angle"] = raw.sources["lean"] + note
    else:
        roll_deg = np.degrees(np.arctan2(ay, g))
        sources["roll_angle"] = "derived: steady-state lean atan(a_y / g)"

    if raw.longitudinal_g is not None:
        ax = raw.longitudinal_g * g
        ax_note = "logged longitudinal acceleration"
    else:
        ax = np.gradient(_smooth(speed, t), t)
        ax_note = "dv/dt"
    moving = speed > 0.5
    a_tyre = ax + params.drag_per_mass_1pm * speed**2 + params.rolling_resistance * g * moving
    mu_g = params.mu * g
    drive_max = np.minimum(
        np.minimum(params.power_w / (params.mass_kg * np.maximum(speed, 1.0)), mu_g),
        params.wheelie_ax_max_mps2,
    )
    brake_max = min(params.brake_max_mps2, params.stoppie_ax_max_mps2)
    if raw.throttle is not None:
        throttle = raw.throttle
        sources["throttle_position"] = raw.sources["throttle"]
    else:
        throttle = np.clip(a_tyre / drive_max, 0.0, 1.0)
        sources["throttle_position"] = (
            f"derived: tyre drive acceleration ({ax_note} + drag + rolling) / "
            "min(P/(m v), wheelie, mu g)"
        )
    if raw.brake is not None:
        brake = raw.brake
        sources["brake_pressure"] = raw.sources["brake"]
    else:
        brake = np.clip(-a_tyre / brake_max, 0.0, 1.0)
        sources["brake_pressure"] = (
            f"derived: tyre braking ({ax_note} + drag + rolling) / min(brake_max, stoppie)"
        )
    friction = np.hypot(a_tyre / mu_g, ay / mu_g)
    sources["tire_friction_usage"] = (
        f"derived: sqrt((a_tyre/(mu g))^2 + (a_y/(mu g))^2), mu = {params.mu:g}"
    )
    track = profile.track
    grid = np.append(track.s_m, track.length_m)
    offsets = np.append(profile.line_offset_m, profile.line_offset_m[0])
    deviation = n - np.interp(np.mod(s, track.length_m), grid, offsets)
    sources["racing_line_deviation"] = "derived: n - racing-line offset at s (+ left of the line)"
    to_apex = profile.distance_to_apex_m(s)
    sources["distance_to_apex"] = (
        "derived: centre-line distance to the next apex (minimum-speed point of the optimal lap)"
    )
    columns = {
        "velocity": speed,
        "roll_angle": roll_deg,
        "lateral_g": ay / g,
        "distance_to_apex": to_apex,
        "throttle_position": throttle,
        "brake_pressure": brake,
        "racing_line_deviation": deviation,
        "tire_friction_usage": friction,
    }
    return np.stack([columns[c] for c in CHANNELS], axis=1), {c: sources[c] for c in CHANNELS}


def _sign(logged: np.ndarray, estimate: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    """+1 or -1 so the logged channel agrees with the path estimate (+ left), and a note."""
    if mask.sum() < 10 or np.std(logged[mask]) == 0 or np.std(estimate[mask]) == 0:
        return 1.0, " (sign as logged: too little cornering to check)"
    corr = float(np.corrcoef(logged[mask], estimate[mask])[0, 1])
    if corr <= -_SIGN_CHECK_MIN:
        return -1.0, f" (sign flipped to + left: correlation with the path {corr:.2f})"
    if corr < _SIGN_CHECK_MIN:
        return 1.0, f" (sign as logged: weak correlation with the path, {corr:.2f})"
    return 1.0, ""


def _split_laps(t, driven, n, xy, channels, length) -> tuple[LapTelemetry, ...]:
    """Cut at every crossing of the start/finish line (driven distance = k * length)."""
    monotone = np.maximum.accumulate(driven)
    first = math.floor(monotone[0] / length) + 1
    last = math.floor(monotone[-1] / length)
    crossings = np.arange(first, last + 1) * length
    idx = np.searchsorted(monotone, crossings, side="left")  # first fix at/after the line
    laps: list[LapTelemetry] = []

    def at(i_before: int, target: float):
        """Interpolated state where monotone distance reaches ``target`` between two fixes."""
        j = i_before
        d0, d1 = monotone[j - 1], monotone[j]
        w = 0.0 if d1 == d0 else (target - d0) / (d1 - d0)
        lerp = lambda a: (1 - w) * a[j - 1] + w * a[j]  # noqa: E731
        return lerp(t), lerp(n), lerp(xy), lerp(channels)

    def make(number, kind, lo, hi, start_s, head=None, tail=None):
        sl = slice(lo, hi)
        ss, tt, nn, pp, cc = monotone[sl], t[sl], n[sl], xy[sl], channels[sl]
        if head is not None:
            ss = np.concatenate([[start_s], ss])
            tt, nn = np.concatenate([[head[0]], tt]), np.concatenate([[head[1]], nn])
            pp, cc = np.vstack([head[2], pp]), np.vstack([head[3], cc])
        if tail is not None:
            ss = np.concatenate([ss, [start_s + length]])
            tt, nn = np.concatenate([tt, [tail[0]]]), np.concatenate([nn, [tail[1]]])
            pp, cc = np.vstack([pp, tail[2]]), np.vstack([cc, tail[3]])
        return LapTelemetry(number, kind, ss - start_s, tt - tt[0], nn, pp, cc)

    if crossings.size == 0:
        laps.append(make(0, "out", 0, len(t), math.floor(monotone[0] / length) * length))
        return tuple(laps)
    states = [at(max(int(i), 1), c) for i, c in zip(idx, crossings, strict=True)]
    if idx[0] > 0:
        laps.append(make(0, "out", 0, int(idx[0]), crossings[0] - length, tail=states[0]))
    for k in range(len(crossings) - 1):
        laps.append(
            make(k + 1, "lap", int(idx[k]), int(idx[k + 1]), crossings[k], states[k], states[k + 1])
        )
    if idx[-1] < len(t):
        laps.append(
            make(len(crossings), "in", int(idx[-1]), len(t), crossings[-1], head=states[-1])
        )
    return tuple(laps)


# ====================================================================== Minari export
def imported_episodes(imported: ImportedTelemetry, *, complete_only: bool = False) -> list[Episode]:
    """One Minari episode per lap: observations = the lap's samples, actions = 'no cue'.

    Observations are clipped into the MotoCoach observation space, as the env clips its own
    (:func:`clipped_samples` counts what was clipped). A logged lap was ridden without apexrl's
    coach, so every action is :data:`~apexrl.data.minari_io.NO_CUE_ACTION` and every reward 0 (a
    log has no reward). Every episode ends truncated, as MotoCoach ends a completed lap (nothing
    in a log is a crash); the episode metadata ``outcome`` says ``lap`` or which partial lap.
    """
    space = observation_space()
    episodes = []
    for lap in imported.laps:
        if complete_only and not lap.complete:
            continue
        k = lap.s_m.shape[0]
        if k < 2:
            continue
        steps = k - 1
        term = np.zeros(steps, dtype=bool)
        trunc = np.zeros(steps, dtype=bool)
        trunc[-1] = True
        episodes.append(
            Episode(
                observations=np.clip(lap.observations(), space.low, space.high),
                actions=np.tile(NO_CUE_ACTION, (steps, 1)),
                rewards=np.zeros(steps),
                terminations=term,
                truncations=trunc,
                infos={"s_m": lap.s_m.copy(), "t_s": lap.t_s.copy(), "n_m": lap.n_m.copy()},
                metadata={
                    "outcome": "lap" if lap.complete else f"{lap.kind}-lap (partial)",
                    "lap_number": lap.number,
                    "lap_time_s": float("nan") if lap.lap_time_s is None else lap.lap_time_s,
                },
            )
        )
    return episodes


def clipped_samples(imported: ImportedTelemetry) -> dict[str, int]:
    """Per channel, how many samples lie outside the MotoCoach observation space."""
    space = observation_space()
    values = np.vstack([lap.channels for lap in imported.laps])
    outside = (values < space.low) | (values > space.high)
    return {
        name: int(outside[:, k].sum()) for k, name in enumerate(CHANNELS) if outside[:, k].any()
    }


def write_imported_dataset(
    imported: ImportedTelemetry,
    root: str | os.PathLike,
    dataset_id: str = "apexrl/imported-v0",
    *,
    force: bool = False,
    complete_only: bool = False,
) -> Path:
    """Write the imported laps as a Minari dataset (one episode per lap); returns its folder."""
    import datetime

    from apexrl import __version__
    from apexrl.data.minari_io import action_space, stats, write_dataset

    episodes = imported_episodes(imported, complete_only=complete_only)
    if not episodes:
        raise ValueError(f"{imported.source}: no laps to write")
    laps = [ep.metadata["lap_time_s"] for ep in episodes if ep.metadata["outcome"] == "lap"]
    metadata = {
        "kind": "imported",
        "source_file": imported.source.name,
        "source_format": imported.format,
        "track": imported.track.name,
        "rider": imported.metadata.get("Driver name") or imported.metadata.get("Racer") or "",
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seed": None,
        "counts": {
            "episodes": len(episodes),
            "steps": int(sum(ep.steps for ep in episodes)),
            "laps_completed": len(laps),
            "crashes": 0,
            "time_limits": 0,
            "partial": len(episodes) - len(laps),
        },
        "lap_time_s": stats(laps),
        "channels": list(CHANNELS),
        "channel_units": list(CHANNEL_UNITS),
        "channel_sources": dict(imported.channel_sources),
        "clipped_to_space": clipped_samples(imported),
        "alignment": imported.alignment.to_dict(),
        "actions": "no cue (logged laps were ridden without the coach)",
        "rewards": "none: a log carries no reward; every step is 0",
        "apexrl_version": __version__,
    }
    return write_dataset(
        root,
        dataset_id,
        episodes,
        observation_space=observation_space(),
        action_space=action_space(),
        metadata=metadata,
        description=(
            f"Laps imported from {imported.source.name} ({imported.format}), map-matched to "
            f"{imported.track.name}; one episode per lap, 8 telemetry channels."
        ),
        algorithm_name="logged rider (no coach)",
        force=force,
    )
