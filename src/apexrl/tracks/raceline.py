"""Minimum-curvature racing line: a sparse QP over lateral offsets, solved with OSQP.

Method (physics.md section 2). Each centre-line point p_i moves sideways by alpha_i along its left
normal n_i, so the line is r_i = p_i + alpha_i n_i. With derivatives in the sample index, the
discrete curvature is

    kappa_i = (x'_i y''_i - y'_i x''_i) / |r'_i|^3,

with the first derivatives r'_i = (r_{i+1} - r_{i-1}) / 2 taken from a fixed REFERENCE line and the
second differences r''_i = r_{i+1} - 2 r_i + r_{i-1} of the unknown line. That makes kappa affine in
alpha, kappa = A alpha + b, and the line minimising sum kappa_i^2 inside the margins is the QP

    minimise ||A alpha + b||^2  subject to  -w_right_i + margin_i <= alpha_i <= w_left_i - margin_i

(one variable per node, box constraints only, so the QP is as sparse as it gets). The reference
starts as the centre line and is replaced by each solution (``iterations`` solves). Closed tracks
use periodic differences; open tracks leave the end points' curvature out of the objective.

What the frozen first derivatives do: for a line offset by a constant d on a bend of radius R, the
second differences shrink with the line's own radius R - d while |r'|^3 stays the reference's, so
the linear model rewards moving to the inside of long constant-radius bends (on a circle the
iteration walks to the inner edge, the opposite of the exact minimum-curvature line, which is the
outer edge). The result is a compromise between minimum curvature and a short path. It is faster
than the exact minimiser of sum kappa_i^2 where the path length matters: with the exact Jacobian
of kappa (Gauss-Newton) the line was 2-3 % SLOWER than the centre line for the speed-capped
DeepRacer car on dr_flow and dr_hairpins, while this formulation is 4-8 % faster there.

Long tracks are solved on a uniform grid of at most ``max_qp_points`` nodes (about every 3-4 m on
a 5 km circuit, far finer than any corner) and the offsets are brought back to every track sample
with a C2 cubic spline, so the line's curvature stays continuous.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.interpolate import CubicSpline

from apexrl.tracks.track import Track

DEFAULT_MARGIN_FRACTION = 0.075
"""Default margin on each side as a fraction of the local FULL track width (15 % of each half on a
centred line): 8 cm on a 1.07 m DeepRacer track, about half a car's body width, so the wheels stay
on the track; 0.9 m on a 12 m circuit, room for a leaning motorcycle. It scales with the track, so
one default serves both."""
DEFAULT_ITERATIONS = 3
DEFAULT_MAX_QP_POINTS = 1500
CSV_COLUMNS = ("x_m", "y_m", "w_right_m", "w_left_m")
QP_TOLERANCE = 1e-5
"""OSQP eps_abs = eps_rel, relative to the objective's gradient at the warm start."""
QP_MAX_ITER = 10_000
"""ADMM iteration cap per QP solve (bounds the time on long straights; see ``_solve_qp``)."""


@dataclass(frozen=True, eq=False)
class RacingLine:
    """A racing line as lateral offsets from a track's centre line (M = ``track.n_points``)."""

    track: Track
    """The track the line was computed on."""
    offsets_m: np.ndarray = field(repr=False)
    """``(M,)`` offset of the line from each centre-line sample along its left normal, m."""
    xy_m: np.ndarray = field(repr=False)
    """``(M, 2)`` line points, one per track sample, m."""
    margin_m: np.ndarray = field(repr=False)
    """``(M,)`` margin kept from each border at each track sample, m."""
    line: Track
    """The line as a :class:`Track` of its own (resampled along the line, spacing ``track.ds_m``),
    with widths measured from the line to the borders; drive it with ``simulate_lap``."""
    iterations: int = DEFAULT_ITERATIONS
    """Number of QP solves (re-linearisations) used."""
    qp_points: int = 0
    """Number of QP variables (grid nodes) the line was solved on."""

    @property
    def w_left_m(self) -> np.ndarray:
        """``(M,)`` distance from the line to the left border along the centre-line normal, m."""
        return self.track.w_left_m - self.offsets_m

    @property
    def w_right_m(self) -> np.ndarray:
        """``(M,)`` distance from the line to the right border along the centre-line normal, m."""
        return self.track.w_right_m + self.offsets_m

    def csv_columns(self) -> dict[str, np.ndarray]:
        """The line as track-CSV columns ``x_m, y_m, w_right_m, w_left_m``, each ``(M,)`` metres.

        Written out, they load back as a track whose centre line is this racing line.
        """
        return {
            "x_m": self.xy_m[:, 0],
            "y_m": self.xy_m[:, 1],
            "w_right_m": self.w_right_m,
            "w_left_m": self.w_left_m,
        }

    def to_csv_text(self) -> str:
        """CSV text with a header row and one row per track sample (millimetre precision)."""
        cols = self.csv_columns()
        data = np.column_stack([cols[name] for name in CSV_COLUMNS])
        rows = "\n".join(",".join(f"{value:.4f}" for value in row) for row in data)
        return ",".join(CSV_COLUMNS) + "\n" + rows + "\n"

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (no per-sample arrays)."""
        return {
            "track": self.track.name,
            "n_points": int(self.offsets_m.shape[0]),
            "qp_points": self.qp_points,
            "iterations": self.iterations,
            "length_m": round(self.line.length_m, 3),
            "track_length_m": round(self.track.length_m, 3),
            "offset_min_m": round(float(self.offsets_m.min()), 4),
            "offset_max_m": round(float(self.offsets_m.max()), 4),
            "margin_min_m": round(float(self.margin_m.min()), 4),
            "margin_max_m": round(float(self.margin_m.max()), 4),
            "max_abs_curvature_1pm": round(float(np.abs(self.line.curvature_1pm).max()), 6),
        }


def minimum_curvature_line(
    track: Track,
    *,
    margin_m: float | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    max_qp_points: int = DEFAULT_MAX_QP_POINTS,
) -> RacingLine:
    """The minimum-curvature racing line of ``track`` inside its borders less a margin.

    Args:
        track: closed or open track.
        margin_m: distance to keep from each border, m (> 0). Default: ``DEFAULT_MARGIN_FRACTION``
            of the local full width at every sample.
        iterations: QP solves; each re-linearises around the previous solution (>= 1).
        max_qp_points: largest QP size; longer tracks are solved on a coarser uniform grid.

    Raises:
        ValueError: a margin that leaves no room (more than half the narrowest width) or other bad
            arguments; ``RuntimeError`` if OSQP does not solve the QP.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be a positive integer, got {iterations!r}")
    if isinstance(max_qp_points, bool) or not isinstance(max_qp_points, int) or max_qp_points < 8:
        raise ValueError(f"max_qp_points must be an integer >= 8, got {max_qp_points!r}")
    margins = _margins_m(track, margin_m)

    m = track.n_points
    step = math.ceil(m / max_qp_points)
    if step == 1:
        s_nodes = np.asarray(track.s_m)
        centre = np.asarray(track.xy_m)
        normal = track.normal_left
        w_left, w_right = track.w_left_m, track.w_right_m
    else:
        n_nodes = math.ceil(m / step)
        s_nodes = np.linspace(0.0, track.length_m, n_nodes, endpoint=not track.closed)
        centre = track.to_world(s_nodes)
        heading = track.heading_at(s_nodes)
        normal = np.stack([-np.sin(heading), np.cos(heading)], axis=1)
        w_left, w_right = track.widths_at(s_nodes)
    node_margin = _interp_on(track, margins, s_nodes)
    lower = -w_right + node_margin
    upper = w_left - node_margin

    alpha = np.zeros(s_nodes.shape[0])
    for _ in range(iterations):
        alpha = _solve_qp(centre, normal, alpha, lower, upper, track.closed)

    offsets = alpha if step == 1 else _spline_back(track, s_nodes, alpha)
    # The QP meets its bounds only to solver tolerance and the spline may overshoot between
    # nodes by a hair: clip so the stated margins hold exactly at every sample.
    offsets = np.clip(offsets, -track.w_right_m + margins, track.w_left_m - margins)
    xy = np.asarray(track.xy_m) + offsets[:, None] * track.normal_left
    line = Track.from_centerline(
        xy,
        track.w_left_m - offsets,
        track.w_right_m + offsets,
        closed=track.closed,
        name=f"{track.name} racing line",
        ds_m=track.ds_m,
        source=f"minimum-curvature line of {track.name}",
    )
    for arr in (offsets, xy, margins):
        arr.setflags(write=False)
    return RacingLine(
        track=track,
        offsets_m=offsets,
        xy_m=xy,
        margin_m=margins,
        line=line,
        iterations=iterations,
        qp_points=int(s_nodes.shape[0]),
    )


def curvature_affine(
    centre_xy_m: np.ndarray,
    normal: np.ndarray,
    alpha_ref_m: np.ndarray,
    closed: bool,
) -> tuple[sparse.csc_matrix, np.ndarray, np.ndarray]:
    """Linearised discrete curvature of the line ``centre + alpha * normal``: kappa = A alpha + b.

    Args:
        centre_xy_m: ``(N, 2)`` centre-line nodes, m.
        normal: ``(N, 2)`` unit left normals at the nodes.
        alpha_ref_m: ``(N,)`` offsets of the reference line the first derivatives are taken on, m.
        closed: periodic differences if True; otherwise rows only for nodes 1..N-2.

    Returns:
        ``(A, b, rows)``: sparse ``(R, N)`` matrix in 1/m^2, ``(R,)`` vector in 1/m and the ``(R,)``
        node index of each row (R = N closed, N - 2 open).
    """
    n = centre_xy_m.shape[0]
    ref = centre_xy_m + alpha_ref_m[:, None] * normal
    if closed:
        rows = np.arange(n)
    else:
        rows = np.arange(1, n - 1)
    prev = (rows - 1) % n
    nxt = (rows + 1) % n
    d1 = 0.5 * (ref[nxt] - ref[prev])
    denom = np.hypot(d1[:, 0], d1[:, 1]) ** 3
    if not np.all(denom > 0):
        raise ValueError("the reference line has repeated points; the track is degenerate")
    d2_centre = centre_xy_m[nxt] - 2.0 * centre_xy_m[rows] + centre_xy_m[prev]
    b = (d1[:, 0] * d2_centre[:, 1] - d1[:, 1] * d2_centre[:, 0]) / denom

    # d kappa_i / d alpha_j = w_j (x'_i n_y,j - y'_i n_x,j) / |r'_i|^3 with w = (1, -2, 1).
    def coeff(cols: np.ndarray, weight: float) -> np.ndarray:
        return weight * (d1[:, 0] * normal[cols, 1] - d1[:, 1] * normal[cols, 0]) / denom

    r = np.arange(rows.shape[0])
    data = np.concatenate([coeff(prev, 1.0), coeff(rows, -2.0), coeff(nxt, 1.0)])
    ii = np.concatenate([r, r, r])
    jj = np.concatenate([prev, rows, nxt])
    a = sparse.csc_matrix((data, (ii, jj)), shape=(rows.shape[0], n))
    return a, b, rows


def _solve_qp(
    centre: np.ndarray,
    normal: np.ndarray,
    alpha_ref: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    closed: bool,
) -> np.ndarray:
    """One minimum-curvature QP around ``alpha_ref``; returns the ``(N,)`` offsets, m."""
    import osqp  # imported here: only racing-line users pay for it

    a, b, _ = curvature_affine(centre, normal, alpha_ref, closed)
    p = (a.T @ a).tocsc()
    q = a.T @ b
    # Scale the objective so its gradient at the warm start is 1 in the max norm. OSQP stops when
    # the dual residual ||P x + q + y|| is below eps, so the tolerance must be measured against
    # that gradient: scaled by P's diagonal instead (dominated by point-to-point zigzag, ~1/ds^4)
    # the gradient of a DeepRacer track was already below 1e-5 at the start and OSQP returned the
    # centre line untouched. The minimiser does not change with the scale.
    gradient = np.abs(p @ alpha_ref + q).max()
    if not gradient > 0:
        return np.clip(alpha_ref, lower, upper)
    scale = 1.0 / float(gradient)
    n = centre.shape[0]
    solver = osqp.OSQP()
    solver.setup(
        sparse.triu(p * scale, format="csc"),
        q * scale,
        sparse.identity(n, format="csc"),
        lower,
        upper,
        verbose=False,
        eps_abs=QP_TOLERANCE,
        eps_rel=QP_TOLERANCE,
        max_iter=QP_MAX_ITER,
        polishing=True,
    )
    solver.warm_start(x=np.clip(alpha_ref, lower, upper))
    with _silence_solver_output():
        result = solver.solve(raise_error=False)
    # ADMM converges slowly along offset ramps on long straights, where the objective is nearly
    # flat (kappa is zero for any linear ramp). The iteration cap bounds the time; the iterate it
    # returns is feasible after clipping, and the motorcycle's lap on the resulting line is within
    # 0.05 % of the lap on a line solved to eps 1e-7 (apex_park 85.033 s vs 85.006 s in 0.6 s vs
    # 17 s; the 400 m stadium identical to 0.1 ms).
    accepted = (
        osqp.SolverStatus.OSQP_SOLVED,
        osqp.SolverStatus.OSQP_SOLVED_INACCURATE,
        osqp.SolverStatus.OSQP_MAX_ITER_REACHED,
    )
    x = np.asarray(result.x, dtype=np.float64)
    if result.info.status_val not in accepted or not np.all(np.isfinite(x)):
        raise RuntimeError(f"OSQP could not solve the racing-line QP: {result.info.status}")
    return np.clip(x, lower, upper)


@contextlib.contextmanager
def _silence_solver_output() -> Iterator[None]:
    """Swallow what OSQP prints while it solves, so ``--json`` output stays one JSON document.

    OSQP 1.x prints its polishing notes through Python's ``sys.stdout`` even with verbose=False;
    native builds may write to file descriptor 1 directly, so both are redirected.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _margins_m(track: Track, margin_m: float | None) -> np.ndarray:
    """Per-sample margin ``(M,)`` m, validated so the feasible band is never empty."""
    width = track.w_left_m + track.w_right_m
    if margin_m is None:
        return DEFAULT_MARGIN_FRACTION * width
    if isinstance(margin_m, bool) or not isinstance(margin_m, int | float):
        raise ValueError(f"margin_m must be a number of metres, got {margin_m!r}")
    if not (math.isfinite(margin_m) and margin_m > 0):
        raise ValueError(
            "margin_m must be a positive number of metres (the vehicle has a width), "
            f"got {margin_m!r}"
        )
    half_min = 0.5 * float(width.min())
    if margin_m > half_min:
        raise ValueError(
            f"margin_m={margin_m:g} m is more than half the narrowest width of track "
            f"{track.name!r} ({half_min:.4g} m): no line fits; use a margin below {half_min:.4g} m"
        )
    return np.full(track.n_points, float(margin_m))


def _interp_on(track: Track, values: np.ndarray, s_m: np.ndarray) -> np.ndarray:
    if track.closed:
        return np.interp(s_m, np.append(track.s_m, track.length_m), np.append(values, values[0]))
    return np.interp(s_m, track.s_m, values)


def _spline_back(track: Track, s_nodes: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Offsets on the grid nodes -> every track sample with a C2 cubic spline (``(M,)`` m)."""
    if track.closed:
        spline = CubicSpline(
            np.append(s_nodes, track.length_m), np.append(alpha, alpha[0]), bc_type="periodic"
        )
    else:
        spline = CubicSpline(s_nodes, alpha, bc_type="natural")
    return np.asarray(spline(track.s_m), dtype=np.float64)
