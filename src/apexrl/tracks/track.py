"""The track model shared by every apexrl simulator: a centre line with left and right widths.

A :class:`Track` is immutable. It is built from any sampled centre line (DeepRacer waypoints, a CSV
from a track database, a procedural generator) and stored resampled at a uniform arc-length spacing
``ds_m`` so that lookups by distance are O(1) and numba kernels can use it directly.

Conventions (used everywhere in apexrl):
- ``s`` is the distance along the centre line in metres from sample 0, in the driving direction.
- ``n`` is the signed lateral offset in metres, POSITIVE TO THE LEFT of the driving direction.
- ``heading`` is the yaw of the centre-line tangent in radians, counter-clockwise from +x.
- ``curvature`` is d(heading)/ds in 1/m, positive for left turns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.ndimage import gaussian_filter1d

from apexrl.tracks import geometry

MIN_DISTINCT_POINTS = 4
DEFAULT_PROJECTION_WINDOW = 24


class TrackError(ValueError):
    """A track cannot be built from the given data; the message says what is wrong."""


def default_spacing_m(length_m: float) -> float:
    """Resampling step: about 1 m on road circuits, between 400 and 5000 samples."""
    n = int(np.clip(round(length_m), 400, 5000))
    return length_m / n


@dataclass(frozen=True)
class FrenetPoints:
    """Batched Frenet coordinates of B world points (all arrays ``(B,)`` float64)."""

    s_m: np.ndarray
    n_m: np.ndarray
    heading_error_rad: np.ndarray
    w_left_m: np.ndarray
    w_right_m: np.ndarray
    segment: np.ndarray = field(repr=False)


@dataclass(frozen=True, eq=False)
class Track:
    """A closed or open track resampled at uniform spacing.

    Arrays (M samples): ``s_m (M,)``, ``xy_m (M, 2)``, ``heading_rad (M,)``, ``curvature_1pm (M,)``,
    ``w_left_m (M,)``, ``w_right_m (M,)``. ``waypoints_xy_m (K, 2)`` keeps the cleaned input points
    in driving order (DeepRacer reward functions see those, not the resampled ones).
    Build one with :meth:`Track.from_centerline`; do not call the constructor directly.
    """

    name: str
    closed: bool
    length_m: float
    ds_m: float
    s_m: np.ndarray = field(repr=False)
    xy_m: np.ndarray = field(repr=False)
    heading_rad: np.ndarray = field(repr=False)
    curvature_1pm: np.ndarray = field(repr=False)
    w_left_m: np.ndarray = field(repr=False)
    w_right_m: np.ndarray = field(repr=False)
    waypoints_xy_m: np.ndarray = field(repr=False)
    source: str = ""

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_centerline(
        cls,
        xy_m: np.ndarray,
        w_left_m: np.ndarray | float,
        w_right_m: np.ndarray | float,
        *,
        closed: bool = True,
        name: str = "track",
        ds_m: float | None = None,
        smoothing_m: float = 0.0,
        source: str = "",
    ) -> Track:
        """Build a track from a sampled centre line.

        Args:
            xy_m: ``(N, 2)`` centre-line points in driving order, metres. On a closed track the
                first point may be repeated at the end. Consecutive duplicate points are dropped.
            w_left_m, w_right_m: half-widths to the left/right border, metres, scalar or ``(N,)``.
            closed: whether the last point joins the first.
            ds_m: resampling step; default :func:`default_spacing_m`.
            smoothing_m: standard deviation (metres along the line) of a Gaussian filter applied to
                the resampled points before curvature is taken. Use about the input point spacing
                for measured or hand-digitised lines so point noise cannot make curvature spikes.
        """
        xy, wl, wr = _clean_input(xy_m, w_left_m, w_right_m, closed)
        t = _chord_parameter(xy, closed)
        waypoints = xy.copy()

        spline = _fit_spline(xy, t, closed)
        length = _spline_length(spline, t[-1])
        step = ds_m if ds_m is not None else default_spacing_m(length)
        if not np.isfinite(step) or step <= 0:
            raise TrackError(f"ds_m must be a positive number of metres, got {ds_m!r}")
        t_u, s_u, length = _uniform_parameter(spline, t[-1], step, closed)
        pts = spline(t_u)
        widths_t = np.stack([wl, wr], axis=1)
        if closed:
            widths_t = np.vstack([widths_t, widths_t[:1]])
        w_u = np.stack([np.interp(t_u, t, widths_t[:, k]) for k in range(2)], axis=1)
        if smoothing_m > 0:
            sigma = smoothing_m / (length / (len(s_u) if closed else len(s_u) - 1))
            pts = _smooth_points(pts, sigma, closed)
            t2 = _chord_parameter(pts, closed)
            spline = _fit_spline(pts, t2, closed)
            t_u, s_u, length = _uniform_parameter(spline, t2[-1], step, closed)
            w_t2 = np.vstack([w_u, w_u[:1]]) if closed else w_u
            w_u = np.stack([np.interp(t_u, t2, w_t2[:, k]) for k in range(2)], axis=1)
            pts = spline(t_u)

        d1 = spline(t_u, 1)
        heading = np.arctan2(d1[:, 1], d1[:, 0])
        if smoothing_m > 0:
            curvature = _turning_curvature(pts, closed)
        else:
            # Curvature at the input points themselves, interpolated along the line: the spline
            # between them rings where curvature jumps (see _turning_curvature).
            k_in = _turning_curvature(xy, closed)
            k_t = np.append(k_in, k_in[0]) if closed else k_in
            curvature = np.interp(t_u, t, k_t)
        track = cls(
            name=name,
            closed=closed,
            length_m=float(length),
            ds_m=float(s_u[1] - s_u[0]),
            s_m=s_u,
            xy_m=np.ascontiguousarray(pts, dtype=np.float64),
            heading_rad=heading,
            curvature_1pm=curvature,
            w_left_m=np.ascontiguousarray(w_u[:, 0]),
            w_right_m=np.ascontiguousarray(w_u[:, 1]),
            waypoints_xy_m=waypoints,
            source=source,
        )
        for arr in (s_u, track.xy_m, heading, curvature, track.w_left_m, track.w_right_m):
            arr.setflags(write=False)
        waypoints.setflags(write=False)
        if geometry.segments_intersect(track.xy_m, closed):
            raise TrackError(f"track {name!r}: the centre line crosses itself")
        return track

    # ------------------------------------------------------------------ properties
    @property
    def n_points(self) -> int:
        return int(self.s_m.shape[0])

    @property
    def orientation(self) -> str:
        """``"ccw"``/``"cw"`` for closed tracks (sign of the enclosed area), else ``"open"``."""
        if not self.closed:
            return "open"
        x, y = self.xy_m[:, 0], self.xy_m[:, 1]
        area2 = np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))
        return "ccw" if area2 > 0 else "cw"

    @property
    def width_m(self) -> np.ndarray:
        """Full road width per sample, ``(M,)`` metres."""
        return self.w_left_m + self.w_right_m

    @property
    def normal_left(self) -> np.ndarray:
        """Unit normals pointing left of the driving direction, ``(M, 2)``."""
        return np.stack([-np.sin(self.heading_rad), np.cos(self.heading_rad)], axis=1)

    @property
    def left_border_m(self) -> np.ndarray:
        return self.xy_m + self.w_left_m[:, None] * self.normal_left

    @property
    def right_border_m(self) -> np.ndarray:
        return self.xy_m - self.w_right_m[:, None] * self.normal_left

    def summary(self) -> dict:
        """The facts `apexrl tracks show` prints."""
        return {
            "name": self.name,
            "length_m": round(self.length_m, 3),
            "closed": self.closed,
            "n_points": self.n_points,
            "n_waypoints": int(self.waypoints_xy_m.shape[0]),
            "width_min_m": round(float(self.width_m.min()), 4),
            "width_max_m": round(float(self.width_m.max()), 4),
            "orientation": self.orientation,
            "min_radius_m": round(float(1.0 / max(np.abs(self.curvature_1pm).max(), 1e-12)), 3),
            "source": self.source,
        }

    # ------------------------------------------------------------------ lookups
    def wrap_s(self, s_m: np.ndarray | float) -> np.ndarray:
        """Map any distance to [0, length) on closed tracks, clip to [0, length] on open ones."""
        s = np.asarray(s_m, dtype=np.float64)
        return np.mod(s, self.length_m) if self.closed else np.clip(s, 0.0, self.length_m)

    def _interp(self, values: np.ndarray, s_m: np.ndarray | float) -> np.ndarray:
        s = self.wrap_s(s_m)
        if self.closed:
            grid = np.append(self.s_m, self.length_m)
            return np.interp(s, grid, np.append(values, values[0]))
        return np.interp(s, self.s_m, values)

    def curvature_at(self, s_m: np.ndarray | float) -> np.ndarray:
        return self._interp(self.curvature_1pm, s_m)

    def widths_at(self, s_m: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        """``(w_left_m, w_right_m)`` at the given distances."""
        return self._interp(self.w_left_m, s_m), self._interp(self.w_right_m, s_m)

    def heading_at(self, s_m: np.ndarray | float) -> np.ndarray:
        unwrapped = np.unwrap(self.heading_rad)
        if self.closed:
            grid = np.append(self.s_m, self.length_m)
            turn = (
                unwrapped[-1]
                - unwrapped[0]
                + geometry.wrap_angle(self.heading_rad[0] - self.heading_rad[-1])
            )
            h = np.interp(self.wrap_s(s_m), grid, np.append(unwrapped, unwrapped[0] + turn))
        else:
            h = np.interp(self.wrap_s(s_m), self.s_m, unwrapped)
        return (h + np.pi) % (2 * np.pi) - np.pi

    def to_world(self, s_m: np.ndarray | float, n_m: np.ndarray | float = 0.0) -> np.ndarray:
        """World points ``(B, 2)`` for Frenet coordinates (s along the line, n to the left)."""
        s = np.atleast_1d(self.wrap_s(s_m))
        n = np.broadcast_to(np.asarray(n_m, dtype=np.float64), s.shape)
        pts = self.xy_m if not self.closed else np.vstack([self.xy_m, self.xy_m[:1]])
        grid = self.s_m if not self.closed else np.append(self.s_m, self.length_m)
        x = np.interp(s, grid, pts[:, 0])
        y = np.interp(s, grid, pts[:, 1])
        h = self.heading_at(s)
        return np.stack([x - n * np.sin(h), y + n * np.cos(h)], axis=1)

    def project(
        self,
        points_xy_m: np.ndarray,
        heading_rad: np.ndarray | None = None,
        s_hint_m: np.ndarray | None = None,
        window: int = DEFAULT_PROJECTION_WINDOW,
    ) -> FrenetPoints:
        """Project B world points ``(B, 2)`` onto the centre line.

        ``s_hint_m`` (e.g. last step's ``s``) makes it a local search of ``window`` segments either
        side; without a hint, or when the local optimum lies on the window's edge, every segment is
        searched. ``heading_error_rad`` is ``heading_rad - track heading``, wrapped to [-pi, pi).
        """
        pts = np.ascontiguousarray(np.atleast_2d(points_xy_m), dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"points must have shape (B, 2), got {pts.shape}")
        b = pts.shape[0]
        hint = (
            np.full(b, -1.0)
            if s_hint_m is None
            else np.ascontiguousarray(np.broadcast_to(s_hint_m, (b,)), dtype=np.float64)
        )
        s = np.empty(b)
        n = np.empty(b)
        seg = np.empty(b, dtype=np.int64)
        geometry.project_batch(
            pts, self.xy_m, self.closed, hint, window, self.ds_m, self.length_m, s, n, seg
        )
        if heading_rad is None:
            err = np.zeros(b)
        else:
            err = (np.asarray(heading_rad) - self.heading_at(s) + np.pi) % (2 * np.pi) - np.pi
        wl, wr = self.widths_at(s)
        return FrenetPoints(s, n, err, wl, wr, seg)

    def kernel_arrays(self) -> tuple[np.ndarray, ...]:
        """``(xy, heading, curvature, w_left, w_right)`` as contiguous float64 for numba kernels."""
        return (
            self.xy_m,
            self.heading_rad,
            self.curvature_1pm,
            self.w_left_m,
            self.w_right_m,
        )


# ---------------------------------------------------------------------- helpers
def _clean_input(xy_m, w_left_m, w_right_m, closed: bool):
    xy = np.asarray(xy_m)
    if xy.dtype == object or not np.issubdtype(xy.dtype, np.number):
        raise TrackError(f"centre line must be numeric, got dtype {xy.dtype}")
    xy = xy.astype(np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise TrackError(f"centre line must have shape (N, 2), got {xy.shape}")
    n = xy.shape[0]
    wl = np.broadcast_to(np.asarray(w_left_m, dtype=np.float64), (n,)).copy()
    wr = np.broadcast_to(np.asarray(w_right_m, dtype=np.float64), (n,)).copy()
    if not (np.isfinite(xy).all() and np.isfinite(wl).all() and np.isfinite(wr).all()):
        bad = np.flatnonzero(~(np.isfinite(xy).all(axis=1) & np.isfinite(wl) & np.isfinite(wr)))
        raise TrackError(f"track data contains NaN or inf (first bad row {int(bad[0])})")
    if (wl <= 0).any() or (wr <= 0).any():
        bad = np.flatnonzero((wl <= 0) | (wr <= 0))
        raise TrackError(
            f"track widths must be positive; {bad.size} row(s) are not "
            f"(first bad row {int(bad[0])})"
        )
    scale = max(float(np.ptp(xy, axis=0).max()), 1e-9) if n else 1.0
    keep = np.ones(n, dtype=bool)
    if n > 1:
        step = np.hypot(*np.diff(xy, axis=0).T)
        keep[1:] = step > 1e-9 * scale
    xy, wl, wr = xy[keep], wl[keep], wr[keep]
    if closed and xy.shape[0] > 1 and np.hypot(*(xy[-1] - xy[0])) <= 1e-9 * scale:
        xy, wl, wr = xy[:-1], wl[:-1], wr[:-1]
    if xy.shape[0] < MIN_DISTINCT_POINTS:
        raise TrackError(
            f"a track needs at least {MIN_DISTINCT_POINTS} distinct centre-line points, "
            f"got {xy.shape[0]}"
        )
    return xy, wl, wr


def _turning_curvature(pts: np.ndarray, closed: bool) -> np.ndarray:
    """Curvature ``(N,)`` 1/m at each point: turning angle between its two chords over their mean
    length (accurate to (ds/R)^2/24 on arcs).

    A C2 spline's own second derivative overshoots by ~13 % of 1/R where curvature jumps (a
    straight meeting an arc), and a QSS lap must brake to the peak's speed: an error that does
    not shrink with finer sampling. The turning angle at the points has no such overshoot.
    """
    chords = np.diff(np.vstack([pts, pts[:1]]) if closed else pts, axis=0)
    theta = np.arctan2(chords[:, 1], chords[:, 0])
    length = np.hypot(chords[:, 0], chords[:, 1])
    if closed:
        turn = theta - np.roll(theta, 1)
        span = 0.5 * (length + np.roll(length, 1))
    else:
        turn = np.concatenate([[0.0], np.diff(theta), [0.0]])
        span = np.concatenate([[1.0], 0.5 * (length[1:] + length[:-1]), [1.0]])
    kappa = ((turn + np.pi) % (2 * np.pi) - np.pi) / span
    if not closed:  # the end points have one chord: take their neighbour's curvature
        kappa[0], kappa[-1] = kappa[1], kappa[-2]
    return kappa


def _smooth_points(pts: np.ndarray, sigma: float, closed: bool) -> np.ndarray:
    """Gaussian-smooth sampled points; open lines are padded by point reflection through their
    end points so a straight stays straight and keeps its length (edge padding would shorten it)."""
    if closed:
        return gaussian_filter1d(pts, sigma, axis=0, mode="wrap")
    pad = min(int(4 * sigma) + 1, len(pts) - 1)
    head = 2 * pts[0] - pts[pad:0:-1]
    tail = 2 * pts[-1] - pts[-2 : -pad - 2 : -1]
    smoothed = gaussian_filter1d(np.vstack([head, pts, tail]), sigma, axis=0, mode="nearest")
    return smoothed[pad : pad + len(pts)]


def _chord_parameter(xy: np.ndarray, closed: bool) -> np.ndarray:
    pts = np.vstack([xy, xy[:1]]) if closed else xy
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(pts, axis=0).T))])


def _fit_spline(xy: np.ndarray, t: np.ndarray, closed: bool) -> CubicSpline:
    if closed:
        pts = np.vstack([xy, xy[:1]]) if len(t) == len(xy) + 1 else xy
        return CubicSpline(t, pts, bc_type="periodic")
    return CubicSpline(t, xy, bc_type="natural")


def _dense_arclength(spline: CubicSpline, t_end: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, t_end, n)
    # Trapezoid on |r'(t)| at high resolution: exact enough for metre-scale resampling.
    speed = np.hypot(*spline(t, 1).T)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (speed[1:] + speed[:-1]) * np.diff(t))])
    return t, s


def _spline_length(spline: CubicSpline, t_end: float) -> float:
    return float(_dense_arclength(spline, t_end, 20001)[1][-1])


def _uniform_parameter(spline: CubicSpline, t_end: float, step: float, closed: bool):
    t_dense, s_dense = _dense_arclength(spline, t_end, max(20001, int(40 * t_end / step)))
    length = s_dense[-1]
    m = max(int(round(length / step)), MIN_DISTINCT_POINTS)
    s_u = np.linspace(0.0, length, m, endpoint=False) if closed else np.linspace(0.0, length, m + 1)
    return np.interp(s_u, s_dense, t_dense), s_u, float(length)
