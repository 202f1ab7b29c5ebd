"""What the DeepRacer simulator decides on every step, for B cars at once: reward ``params``,
progress and the episode rules (spec section 2).

One step (1/15 s), as the simulator runs it:

1. the policy picks an action; the step counter goes up;
2. ``params`` are built from the car's pose at the START of the step with the action's
   COMMANDED speed and steering; the rules look at the same pose;
3. the reward function is called (not on the "prepare" step 1 of the current simulator);
4. unless the episode ended, physics runs to the next frame.

Geometry is measured on the polyline through the track's waypoints in driving order, exactly as
:func:`apexrl.deepracer.params.reward_params` does (that function builds one dict; this module
builds the same values for a whole batch with one numba call).

:mod:`apexrl.deepracer.reward_test` drives scripted laps through this machinery to check a reward
function the way the simulator would call it (``apexrl rewards test``).

Episode statuses (the sim-trace ``episode_status`` column), in the simulator's priority order when
several rules fire on the same step: ``time_up``, ``lap_complete``, ``crashed``, ``off_track``,
``immobilized``, ``reversed``; otherwise ``in_progress``, or ``prepare`` on a prepare step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from apexrl.deepracer.params import CAMERA_FOV_DEG, CAMERA_RANGE_M, FIRST_STEP, LEGACY_FIRST_STEP
from apexrl.deepracer.reward_runner import (
    MAX_ABS_REWARD,
    RewardError,
    RewardFunction,
    check_reward,
)
from apexrl.deepracer.reward_runner import user_traceback as _user_traceback
from apexrl.tracks.track import Track

STATUSES: tuple[str, ...] = (
    "prepare",
    "in_progress",
    "off_track",
    "lap_complete",
    "crashed",
    "immobilized",
    "reversed",
    "time_up",
)
"""Episode status names; arrays hold their index (:data:`PREPARE` ... :data:`TIME_UP`)."""
PREPARE, IN_PROGRESS, OFF_TRACK, LAP_COMPLETE, CRASHED, IMMOBILIZED, REVERSED, TIME_UP = range(8)
TERMINAL = np.array([False, False, True, True, True, True, True, False])
"""Statuses that terminate an episode (time_up truncates it instead)."""

IMMOBILIZED_STEPS = 15
"""Consecutive steps of (almost) no movement that end an episode as immobilized."""
IMMOBILIZED_DISTANCE_M = 0.0003
"""'No movement': the reported point moved at most this far from both of its last two positions."""
REVERSED_STEPS = 15
"""Consecutive steps of decreasing progress that end an episode as reversed."""


def centerline_reward(params: dict[str, Any]) -> float:
    """The default reward: AWS's 'follow the centre line' example (bands at 10/25/50 % of the
    track width), 1e-3 off the track."""
    width = params["track_width"]
    distance = params["distance_from_center"]
    if not params["all_wheels_on_track"]:
        return 1e-3
    if distance <= 0.1 * width:
        return 1.0
    if distance <= 0.25 * width:
        return 0.5
    if distance <= 0.5 * width:
        return 0.1
    return 1e-3


# ---------------------------------------------------------------------- waypoint route
GRID_CELL_M = 0.25
"""Cell size of the projection grid on DeepRacer-sized tracks (larger tracks use coarser cells)."""
GRID_MAX_CELLS = 1 << 16
GRID_MARGIN_M = 2.0
"""The grid covers the waypoints' bounding box plus this margin; points outside it (far off the
track) are projected by a search over every segment."""


@dataclass(frozen=True, eq=False)
class Route:
    """The waypoint polyline in one driving direction: ``points (P, 2)`` with the closing point
    repeated on loops, reversed when driving the track backwards.

    Projections are exact global nearest points (like the simulator's shapely projection and
    :func:`~apexrl.deepracer.params.reward_params`), found through a uniform grid: each cell
    lists the segments that can be nearest to some point in it, i.e. those whose distance from
    the cell centre is within one cell diagonal of the smallest such distance (the distance to a
    segment changes by at most half a diagonal inside the cell).
    """

    track: Track
    reverse: bool
    points: np.ndarray
    seg_len_m: np.ndarray
    cum_m: np.ndarray
    tuples: tuple[tuple[float, float], ...]
    length_m: float
    grid: tuple[np.ndarray, ...]

    @classmethod
    def of(cls, track: Track, *, reverse: bool = False) -> Route:
        pts = np.asarray(track.waypoints_xy_m, dtype=np.float64)
        if track.closed:
            pts = np.vstack([pts, pts[:1]])
        if reverse:
            pts = pts[::-1]
        pts = np.ascontiguousarray(pts)
        seg = np.hypot(*np.diff(pts, axis=0).T)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        return cls(
            track=track,
            reverse=reverse,
            points=pts,
            seg_len_m=seg,
            cum_m=cum,
            tuples=tuple((float(x), float(y)) for x, y in pts),
            length_m=float(cum[-1]),
            grid=_build_grid(pts),
        )

    @property
    def closed(self) -> bool:
        return self.track.closed

    def project(
        self, x_m: np.ndarray, y_m: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest points on the polyline for points ``(N,)``: ``(distance_m, offset_m, left,
        segment)`` -- distance along the route from point 0, distance to the line (>= 0), left of
        the driving direction, and the segment index (its ``[i, i + 1]`` are closest_waypoints)."""
        x = np.ascontiguousarray(x_m, dtype=np.float64).reshape(-1)
        y = np.ascontiguousarray(y_m, dtype=np.float64).reshape(-1)
        n = x.shape[0]
        dist, off = np.empty(n), np.empty(n)
        left = np.empty(n, dtype=np.bool_)
        seg = np.empty(n, dtype=np.int64)
        _project_polyline(x, y, self.points, self.cum_m, *self.grid, dist, off, left, seg)
        return dist, off, left, seg

    def track_s(self, distance_m: np.ndarray) -> np.ndarray:
        """Route distance -> the Track's own arc length ``s`` (the spline is slightly longer)."""
        d = np.asarray(distance_m, dtype=np.float64)
        forward = self.length_m - d if self.reverse else d
        return forward * (self.track.length_m / self.length_m)

    def track_width(self, distance_m: np.ndarray) -> np.ndarray:
        w_left, w_right = self.track.widths_at(self.track_s(distance_m))
        return w_left + w_right


def _build_grid(pts: np.ndarray) -> tuple[np.ndarray, ...]:
    lo = pts.min(axis=0) - GRID_MARGIN_M
    extent = pts.max(axis=0) + GRID_MARGIN_M - lo
    cell = max(GRID_CELL_M, math.sqrt(float(extent[0] * extent[1]) / GRID_MAX_CELLS))
    nx, ny = (int(math.ceil(e / cell)) for e in extent)
    start, cand = _grid_candidates(pts, lo[0], lo[1], cell, nx, ny)
    geo = np.array([lo[0], lo[1], cell, nx, ny], dtype=np.float64)
    return geo, start, cand


@nb.njit(cache=True, nogil=True)
def _segment_d2(px, py, pts, i):  # pragma: no cover - numba
    vx = pts[i + 1, 0] - pts[i, 0]
    vy = pts[i + 1, 1] - pts[i, 1]
    t = ((px - pts[i, 0]) * vx + (py - pts[i, 1]) * vy) / (vx * vx + vy * vy)
    t = min(max(t, 0.0), 1.0)
    dx = px - (pts[i, 0] + t * vx)
    dy = py - (pts[i, 1] + t * vy)
    return dx * dx + dy * dy, t


@nb.njit(cache=True, nogil=True)
def _grid_candidates(pts, x0, y0, cell, nx, ny):  # pragma: no cover - numba
    m = pts.shape[0] - 1
    diag = cell * math.sqrt(2.0)
    start = np.zeros(nx * ny + 1, dtype=np.int64)
    lists = []
    d = np.empty(m)
    for c in range(nx * ny):
        cx = x0 + (c % nx + 0.5) * cell
        cy = y0 + (c // nx + 0.5) * cell
        best = np.inf
        for i in range(m):
            d[i] = math.sqrt(_segment_d2(cx, cy, pts, i)[0])
            best = min(best, d[i])
        keep = np.flatnonzero(d <= best + diag + 1e-9)
        lists.append(keep)
        start[c + 1] = start[c] + keep.shape[0]
    cand = np.empty(start[-1], dtype=np.int64)
    for c in range(nx * ny):
        cand[start[c] : start[c + 1]] = lists[c]
    return start, cand


@nb.njit(cache=True, nogil=True)
def _project_polyline(x, y, pts, cum, geo, start, cand, dist, off, left, seg):  # pragma: no cover
    # First minimum in index order wins, as in a search over every segment (candidate lists are
    # in index order), so results equal params.reward_params' exactly.
    m = pts.shape[0] - 1
    x0, y0, cell, nx, ny = geo[0], geo[1], geo[2], int(geo[3]), int(geo[4])
    for b in range(x.shape[0]):
        best = np.inf
        bi = 0
        bt = 0.0
        gx = int(math.floor((x[b] - x0) / cell))
        gy = int(math.floor((y[b] - y0) / cell))
        if 0 <= gx < nx and 0 <= gy < ny:
            c = gy * nx + gx
            for j in range(start[c], start[c + 1]):
                i = cand[j]
                d2, t = _segment_d2(x[b], y[b], pts, i)
                if d2 < best:
                    best, bi, bt = d2, i, t
        else:
            for i in range(m):
                d2, t = _segment_d2(x[b], y[b], pts, i)
                if d2 < best:
                    best, bi, bt = d2, i, t
        vx = pts[bi + 1, 0] - pts[bi, 0]
        vy = pts[bi + 1, 1] - pts[bi, 1]
        ox = x[b] - (pts[bi, 0] + bt * vx)
        oy = y[b] - (pts[bi, 1] + bt * vy)
        dist[b] = cum[bi] + bt * math.sqrt(vx * vx + vy * vy)
        off[b] = math.sqrt(best)
        left[b] = vx * oy - vy * ox > 0.0
        seg[b] = bi


# ---------------------------------------------------------------------- rules
class EpisodeRules:
    """Step counters, progress and the termination rules for B episodes.

    Progress is the distance the reported point (0.14 m ahead of the car's origin) has moved
    along the route since the episode started, in percent of the route length: 0 at the start
    pose wherever that is, negative when driving backwards (reported clipped to 0..100).

    Args:
        batch_size: B.
        route: the waypoint route the car drives.
        dt_s: step length (1/15 s).
        first_call_step: 2 (current simulator: step 1 is a prepare step with the car held at
            its start pose and no reward call) or 1 (simulators before 2021).
        time_limit_s: episodes whose simulated time reaches this are ``time_up``; None: no limit.
    """

    def __init__(
        self,
        batch_size: int,
        route: Route,
        *,
        dt_s: float,
        first_call_step: int = FIRST_STEP,
        time_limit_s: float | None = None,
    ) -> None:
        if first_call_step not in (FIRST_STEP, LEGACY_FIRST_STEP):
            raise ValueError(
                f"first_call_step must be 2 (current simulator: step 1 prepares, the first call "
                f"sees steps == 2) or 1 (simulators before 2021), got {first_call_step!r}"
            )
        if time_limit_s is not None and not (math.isfinite(time_limit_s) and time_limit_s > 0):
            raise ValueError(f"time_limit_s must be a positive number or None, got {time_limit_s}")
        self.route = route
        self.dt_s = float(dt_s)
        self.first_call_step = int(first_call_step)
        self.time_limit_s = time_limit_s
        b = batch_size
        self.steps = np.zeros(b, dtype=np.int64)
        self.start_m = np.zeros(b)
        self.last_m = np.zeros(b)
        self.driven_m = np.zeros(b)
        self.progress = np.zeros(b)
        """Unclipped progress, percent, after the last update."""
        self.prev_xy = np.zeros((b, 2))
        self.prev2_xy = np.zeros((b, 2))
        self.still_count = np.zeros(b, dtype=np.int64)
        self.reverse_count = np.zeros(b, dtype=np.int64)

    def reset(self, idx: np.ndarray, distance_m: np.ndarray, xy_m: np.ndarray) -> None:
        """Start episodes ``idx (K,)`` with the reported point at route ``distance_m (K,)``,
        world ``xy_m (K, 2)``."""
        self.steps[idx] = 0
        self.start_m[idx] = distance_m
        self.last_m[idx] = distance_m
        self.driven_m[idx] = 0.0
        self.progress[idx] = 0.0
        self.prev_xy[idx] = xy_m
        self.prev2_xy[idx] = xy_m
        self.still_count[idx] = 0
        self.reverse_count[idx] = 0

    def update(
        self,
        distance_m: np.ndarray,
        xy_m: np.ndarray,
        off_track: np.ndarray,
        crashed: np.ndarray,
    ) -> np.ndarray:
        """Advance every episode by one step from the pose at its start; returns ``(B,)`` status
        codes. ``off_track`` / ``crashed`` are the rules' inputs at that pose."""
        self.steps += 1
        length = self.route.length_m
        delta = distance_m - self.last_m
        if self.route.closed:
            delta = (delta + 0.5 * length) % length - 0.5 * length
        self.last_m[:] = distance_m
        self.driven_m += delta
        previous = self.progress.copy()
        self.progress[:] = 100.0 * self.driven_m / length

        moved = np.minimum(np.hypot(*(xy_m - self.prev_xy).T), np.hypot(*(xy_m - self.prev2_xy).T))
        self.prev2_xy[:] = self.prev_xy
        self.prev_xy[:] = xy_m
        self.still_count = np.where(moved <= IMMOBILIZED_DISTANCE_M, self.still_count + 1, 0)
        self.reverse_count = np.where(self.progress < previous, self.reverse_count + 1, 0)

        status = np.full(self.steps.shape, IN_PROGRESS, dtype=np.int64)
        # Lowest priority first: later assignments win.
        status[self.reverse_count >= REVERSED_STEPS] = REVERSED
        status[self.still_count >= IMMOBILIZED_STEPS] = IMMOBILIZED
        status[off_track] = OFF_TRACK
        status[crashed] = CRASHED
        status[self.progress >= 100.0] = LAP_COMPLETE
        if self.time_limit_s is not None:
            # Time is checked after the step's physics: the step that reaches the limit is the last.
            status[self.steps * self.dt_s >= self.time_limit_s - 1e-9] = TIME_UP
        preparing = self.steps < self.first_call_step
        status[preparing] = PREPARE
        # The simulator resets its rules while preparing: the counters start with the first call.
        self.still_count[preparing] = 0
        self.reverse_count[preparing] = 0
        return status

    def sim_time_s(self) -> np.ndarray:
        """Simulated time at the start of the current step, ``(steps - 1) / 15`` s."""
        return (self.steps - 1) * self.dt_s


# ---------------------------------------------------------------------- params dicts
@dataclass(eq=False)
class StepParams:
    """Everything in ``params`` for B cars at one step, as lists ready for per-car dicts.

    Per-car lists hold Python scalars (``ndarray.tolist()``); ``objects_*`` hold one list per car.
    Every dict from :meth:`params` is built fresh, with new containers, so a reward function that
    mutates its argument cannot affect another call -- the same guarantee as the simulator's deep
    copy, without copying the (immutable) waypoint tuples. (:meth:`RewardFunction.__call__`'s
    deep copy would cost more than the whole simulated step.)
    """

    route: Route
    all_wheels_on_track: list
    x: list
    y: list
    heading: list
    distance_from_center: list
    projection_distance: list
    progress: list
    steps: list
    speed: list
    steering_angle: list
    track_width: list
    closest_waypoint: list
    is_left_of_center: list
    is_offtrack: list
    is_crashed: list
    closest_objects: list
    objects_location: list
    objects_left_of_center: list
    objects_speed: list
    objects_heading: list
    objects_distance: list
    objects_distance_from_center: list
    object_in_camera: list
    sim_time: list

    def params(self, b: int) -> dict[str, Any]:
        """The 27-key dict for car ``b``."""
        return self._builder()(b)

    def _builder(self) -> Callable[[int], dict[str, Any]]:
        # A closure over the per-car lists: the dict is built from local cells, which is most
        # of what a step costs per car when the reward function itself is trivial.
        on, x, y, heading = self.all_wheels_on_track, self.x, self.y, self.heading
        dfc, proj, progress, steps = (
            self.distance_from_center,
            self.projection_distance,
            self.progress,
            self.steps,
        )
        speed, steer, width, closest = (
            self.speed,
            self.steering_angle,
            self.track_width,
            self.closest_waypoint,
        )
        left, offtrack, crashed, camera, sim_time = (
            self.is_left_of_center,
            self.is_offtrack,
            self.is_crashed,
            self.object_in_camera,
            self.sim_time,
        )
        c_obj, o_loc, o_left, o_speed, o_head, o_dist, o_dfc = (
            self.closest_objects,
            self.objects_location,
            self.objects_left_of_center,
            self.objects_speed,
            self.objects_heading,
            self.objects_distance,
            self.objects_distance_from_center,
        )
        length, waypoints, reverse = self.route.length_m, self.route.tuples, self.route.reverse

        def build(b: int) -> dict[str, Any]:
            seg = closest[b]
            locations = o_loc[b]
            return {
                "all_wheels_on_track": on[b],
                "x": x[b],
                "y": y[b],
                "heading": heading[b],
                "distance_from_center": dfc[b],
                "projection_distance": proj[b],
                "progress": progress[b],
                "steps": steps[b],
                "speed": speed[b],
                "steering_angle": steer[b],
                "track_width": width[b],
                "track_length": length,
                "waypoints": list(waypoints),
                "closest_waypoints": [seg, seg + 1],
                "is_left_of_center": left[b],
                "is_reversed": reverse,
                "is_offtrack": offtrack[b],
                "is_crashed": crashed[b],
                "closest_objects": list(c_obj[b]),
                "objects_location": [list(p) for p in locations] if locations else [],
                "objects_left_of_center": list(o_left[b]),
                "objects_speed": list(o_speed[b]),
                "objects_heading": list(o_head[b]),
                "objects_distance": list(o_dist[b]),
                "objects_distance_from_center": list(o_dfc[b]),
                "object_in_camera": camera[b],
                "sim_time": sim_time[b],
            }

        return build

    def call(self, rewards: Sequence[RewardFunction], cars: list[int]) -> list[float]:
        """Call ``rewards[b]`` with car b's params for each b in ``cars``, as the simulator calls
        a reward function; returns the validated rewards in that order."""
        out = []
        params, steps = self._builder(), self.steps
        for b in cars:
            reward = rewards[b]
            try:
                result = reward.func(params(b))
            except Exception as exc:
                raise _raised(reward, exc, steps[b]) from exc
            kind = type(result)
            # Fast path for plain numbers in range; everything else (NaN fails the comparison)
            # goes through the full check for its error message.
            if (kind is float or kind is int) and -MAX_ABS_REWARD <= result <= MAX_ABS_REWARD:
                out.append(float(result))
            else:
                out.append(check_reward(result, label=reward.label, step=steps[b]))
        return out


def closest_objects(objects_distance_m: np.ndarray, car_distance_m: np.ndarray) -> np.ndarray:
    """``[prev, next]`` per car, ``(B, 2)`` int: ``next`` is the first object farther along the
    route than the car (wrapping to the first after the start line), ``prev`` the one before it
    in route order. ``(B, 2)`` zeros without objects."""
    b, k = objects_distance_m.shape
    if k == 0:
        return np.zeros((b, 2), dtype=np.int64)
    order = np.argsort(objects_distance_m, axis=1, kind="stable")
    ordered = np.take_along_axis(objects_distance_m, order, axis=1)
    ahead = ordered > car_distance_m[:, None]
    j = np.where(ahead.any(axis=1), ahead.argmax(axis=1), 0)
    rows = np.arange(b)
    return np.stack([order[rows, (j - 1) % k], order[rows, j]], axis=1)


def object_in_camera(
    front_xy_m: np.ndarray, heading_rad: np.ndarray, next_object_xy_m: np.ndarray
) -> np.ndarray:
    """Whether the next object's centre lies within the camera's field of view (120 deg) and
    range (3 m) of the reported point -- apexrl's frustum model, the same as
    :func:`~apexrl.deepracer.params.reward_params`."""
    d = next_object_xy_m - front_xy_m
    bearing = (np.arctan2(d[:, 1], d[:, 0]) - heading_rad + np.pi) % (2 * np.pi) - np.pi
    return (np.abs(bearing) <= math.radians(CAMERA_FOV_DEG) / 2) & (
        np.hypot(d[:, 0], d[:, 1]) <= CAMERA_RANGE_M
    )


def _raised(reward: RewardFunction, exc: Exception, step: int) -> RewardError:
    """The :class:`RewardError` for an exception inside the user's function (the same message
    as :meth:`RewardFunction.__call__`: file, step, error, the user's traceback lines)."""
    frames = _user_traceback(exc, reward.path)
    text = str(exc)
    return RewardError(
        f"{reward.label}: reward_function raised at step {step}: "
        + (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
        + (f"\n{frames}" if frames else ""),
        kind="exception",
        step=step,
    )


def call_reward(reward: RewardFunction, params: dict[str, Any], step: int) -> float:
    """Call ``reward`` with a fresh ``params`` dict as the simulator would; the validated float or
    :class:`RewardError` (file, step, value)."""
    try:
        result = reward.func(params)
    except Exception as exc:
        raise _raised(reward, exc, step) from exc
    return check_reward(result, label=reward.label, step=step)
