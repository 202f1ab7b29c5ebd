"""The ``params`` dict a DeepRacer reward function receives, built as the simulator builds it.

All geometry is measured on the polyline through the track's waypoints -- the same points the
reward function sees in ``params["waypoints"]`` (the simulator builds its centre line from them):

- ``x``/``y`` are ``front_offset_m`` (0.14 m) AHEAD of the car's origin along its heading.
- ``distance_from_center`` is from ``x``/``y`` to the nearest point of the polyline.
- ``projection_distance`` is that point's distance along the polyline from waypoint 0 in the
  driving direction; ``track_length`` is the polyline's length.
- ``closest_waypoints`` is ``[i, i + 1]`` for the segment holding the projection, indices into
  ``waypoints``. On a loop the list repeats waypoint 0 at the end (index K), so just before the
  start line it is ``[K - 1, K]`` and just after it ``[0, 1]``.
- Reversed episodes see the waypoint list reversed; distances and left/right follow the driving
  direction. ``track_width`` is the local width (left + right) at the projection.

Objects (boxes, bot cars) are :class:`TrackObject` or dicts with the same keys. ``closest_objects``
is ``[prev, next]``: ``next`` is the first object at a larger ``objects_distance`` than the car's
``projection_distance`` (wrapping to the nearest one after the start line), ``prev`` the one before
it in that order. ``object_in_camera`` is apexrl's model of the camera frustum: the next object is
within ``camera_fov_deg`` / 2 (120 deg lens) of the heading and within ``camera_range_m`` (3 m; a
box farther than that spans only a few pixels of the 160-pixel-wide frame).

``sim_time`` defaults to the time at the START of the step, ``(steps - 1) / 15`` s (step 1 starts at
t = 0). :func:`sample_params` makes plausible dicts for exercising reward functions.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from apexrl.deepracer.actions import ActionSpace, DiscreteActionSpace, action_space_preset
from apexrl.tracks.track import Track

PARAM_KEYS: tuple[str, ...] = (
    "all_wheels_on_track",
    "x",
    "y",
    "heading",
    "distance_from_center",
    "projection_distance",
    "progress",
    "steps",
    "speed",
    "steering_angle",
    "track_width",
    "track_length",
    "waypoints",
    "closest_waypoints",
    "is_left_of_center",
    "is_reversed",
    "is_offtrack",
    "is_crashed",
    "closest_objects",
    "objects_location",
    "objects_left_of_center",
    "objects_speed",
    "objects_heading",
    "objects_distance",
    "objects_distance_from_center",
    "object_in_camera",
    "sim_time",
)
"""The 27 keys of ``params``, in the order of the table in shared/specs/deepracer.md."""

STEP_S = 1.0 / 15.0
"""One step: the camera runs at 15 Hz."""
FRONT_OFFSET_M = 0.14
"""The reported x/y are this far ahead of the car's origin along its heading."""
CAMERA_FOV_DEG = 120.0
CAMERA_RANGE_M = 3.0
CAR_HALF_WIDTH_M = 0.1
"""Half the track width of the 1/18-scale car (wheel outer edges), for :func:`sample_params`."""
CRASH_DISTANCE_M = 0.3
"""Centre distance at which :func:`sample_params` calls car and object crashed."""
FIRST_STEP = 2
"""The current simulator never calls the reward function on step 1 (a prepare step)."""
LEGACY_FIRST_STEP = 1
"""Simulators before 2021 called it on step 1; some community functions rely on that."""


@dataclass(frozen=True)
class TrackObject:
    """A box or bot car on the track: position (m), heading (rad, CCW from +x), speed (m/s)."""

    x_m: float
    y_m: float
    heading_rad: float = 0.0
    speed_mps: float = 0.0


@dataclass(frozen=True, eq=False)
class _Route:
    """The waypoint polyline in one driving direction (K+1 points on loops, closing point last)."""

    points: np.ndarray  # (P, 2) driving order
    seg_start: np.ndarray  # (P-1, 2)
    seg_vec: np.ndarray  # (P-1, 2)
    seg_len2: np.ndarray  # (P-1,)
    cum_m: np.ndarray  # (P,) distance of each point from point 0
    tuples: tuple[tuple[float, float], ...]

    @property
    def length_m(self) -> float:
        return float(self.cum_m[-1])


@functools.lru_cache(maxsize=32)
def _routes(track: Track) -> tuple[_Route, _Route]:
    """(forward, reversed) polylines of ``track.waypoints_xy_m``; cached per track object."""
    pts = np.asarray(track.waypoints_xy_m, dtype=np.float64)
    if track.closed:
        pts = np.vstack([pts, pts[:1]])
    return _route(pts), _route(pts[::-1].copy())


def _route(points: np.ndarray) -> _Route:
    vec = np.diff(points, axis=0)
    length = np.hypot(vec[:, 0], vec[:, 1])
    return _Route(
        points=points,
        seg_start=points[:-1],
        seg_vec=vec,
        seg_len2=length**2,
        cum_m=np.concatenate([[0.0], np.cumsum(length)]),
        tuples=tuple((float(x), float(y)) for x, y in points),
    )


@dataclass(frozen=True)
class _Projection:
    distance_m: float  # along the route from point 0
    offset_m: float  # >= 0, to the nearest point
    left: bool  # left of the route's direction
    segment: int


def _project(route: _Route, x: float, y: float) -> _Projection:
    rel = np.array([x, y]) - route.seg_start
    # Waypoints are de-duplicated by Track, so no segment has zero length.
    t = np.clip((rel * route.seg_vec).sum(axis=1) / route.seg_len2, 0.0, 1.0)
    near = route.seg_start + t[:, None] * route.seg_vec
    d2 = ((np.array([x, y]) - near) ** 2).sum(axis=1)
    i = int(np.argmin(d2))
    v = route.seg_vec[i]
    off = np.array([x, y]) - near[i]
    cross = v[0] * off[1] - v[1] * off[0]
    along = float(route.cum_m[i] + t[i] * math.sqrt(route.seg_len2[i]))
    return _Projection(along, math.sqrt(float(d2[i])), bool(cross > 0), i)


def _as_object(obj: TrackObject | Mapping[str, Any], i: int) -> TrackObject:
    if isinstance(obj, TrackObject):
        return obj
    if not isinstance(obj, Mapping):
        raise TypeError(f"object {i} must be a TrackObject or a dict, got {type(obj).__name__}")
    valid = {f.name for f in fields(TrackObject)}
    unknown = set(obj) - valid
    if unknown or not {"x_m", "y_m"} <= set(obj):
        raise ValueError(
            f"object {i}: keys must be x_m, y_m and optionally heading_rad, speed_mps; got "
            f"{', '.join(sorted(map(str, obj)))}"
        )
    return TrackObject(**{k: float(v) for k, v in obj.items()})


def _finite(name: str, value: float) -> float:
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


def reward_params(
    track: Track,
    *,
    x_m: float,
    y_m: float,
    heading_rad: float,
    speed_cmd_mps: float,
    steering_cmd_deg: float,
    steps: int,
    progress_pct: float,
    all_wheels_on_track: bool,
    is_offtrack: bool,
    is_crashed: bool,
    is_reversed: bool = False,
    objects: Sequence[TrackObject | Mapping[str, Any]] | None = None,
    sim_time_s: float | None = None,
    front_offset_m: float = FRONT_OFFSET_M,
    camera_fov_deg: float = CAMERA_FOV_DEG,
    camera_range_m: float = CAMERA_RANGE_M,
) -> dict[str, Any]:
    """Build the 27-key ``params`` dict for a car whose ORIGIN is at (x_m, y_m).

    Args:
        heading_rad: yaw of the car, CCW from +x (any angle; reported wrapped, in degrees).
        speed_cmd_mps, steering_cmd_deg: the COMMANDED action, reported unclamped.
        steps: the episode's step counter (>= 1).
        progress_pct: progress since this episode's start, reported clipped to [0, 100].
        is_reversed: the episode drives the track backwards (waypoints are reversed).
        objects: boxes / bot cars; ``None`` or empty for time trials.
        sim_time_s: simulated time; default ``(steps - 1) / 15``.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    x0, y0 = _finite("x_m", x_m), _finite("y_m", y_m)
    heading = _finite("heading_rad", heading_rad)
    route = _routes(track)[1 if is_reversed else 0]
    length = route.length_m
    px = x0 + front_offset_m * math.cos(heading)
    py = y0 + front_offset_m * math.sin(heading)
    car = _project(route, px, py)
    # The Track's own arc length (spline) is slightly longer than the polyline's; scale to it.
    s_forward = (length - car.distance_m) if is_reversed else car.distance_m
    w_left, w_right = track.widths_at(s_forward * track.length_m / length)
    i = min(car.segment, len(route.points) - 2)

    objs = [_as_object(o, k) for k, o in enumerate(objects or ())]
    obj_proj = [_project(route, o.x_m, o.y_m) for o in objs]
    obj_dist = [p.distance_m for p in obj_proj]
    closest = _closest_objects(obj_dist, car.distance_m)
    in_camera = False
    if objs:
        nxt = objs[closest[1]]
        dx, dy = nxt.x_m - px, nxt.y_m - py
        bearing = math.atan2(dy, dx) - heading
        bearing = (bearing + math.pi) % (2 * math.pi) - math.pi
        in_camera = bool(
            abs(bearing) <= math.radians(camera_fov_deg) / 2
            and math.hypot(dx, dy) <= camera_range_m
        )
    return {
        "all_wheels_on_track": bool(all_wheels_on_track),
        "x": float(px),
        "y": float(py),
        "heading": math.degrees((heading + math.pi) % (2 * math.pi) - math.pi),
        "distance_from_center": float(car.offset_m),
        "projection_distance": float(car.distance_m),
        "progress": float(min(max(_finite("progress_pct", progress_pct), 0.0), 100.0)),
        "steps": int(steps),
        "speed": _finite("speed_cmd_mps", speed_cmd_mps),
        "steering_angle": _finite("steering_cmd_deg", steering_cmd_deg),
        "track_width": float(w_left + w_right),
        "track_length": float(length),
        "waypoints": list(route.tuples),
        "closest_waypoints": [i, i + 1],
        "is_left_of_center": car.left,
        "is_reversed": bool(is_reversed),
        "is_offtrack": bool(is_offtrack),
        "is_crashed": bool(is_crashed),
        "closest_objects": closest,
        "objects_location": [[float(o.x_m), float(o.y_m)] for o in objs],
        "objects_left_of_center": [p.left for p in obj_proj],
        "objects_speed": [float(o.speed_mps) for o in objs],
        "objects_heading": [float(o.heading_rad) for o in objs],
        "objects_distance": [float(d) for d in obj_dist],
        "objects_distance_from_center": [float(p.offset_m) for p in obj_proj],
        "object_in_camera": in_camera,
        "sim_time": float((steps - 1) * STEP_S if sim_time_s is None else sim_time_s),
    }


def _closest_objects(obj_dist: list[float], car_dist: float) -> list[int]:
    if not obj_dist:
        return [0, 0]
    order = sorted(range(len(obj_dist)), key=lambda k: obj_dist[k])
    ahead = [k for k in order if obj_dist[k] > car_dist]
    nxt = ahead[0] if ahead else order[0]
    prev = order[order.index(nxt) - 1]  # index -1 wraps to the last one
    return [prev, nxt]


# ---------------------------------------------------------------------- sample dicts
SEAM_PROBES = 8
"""Even episodes start on the last waypoint segments, so look-ahead code that indexes past the
end of ``waypoints`` (instead of wrapping) fails during validation instead of during training."""


def sample_params(
    track: Track,
    n: int,
    rng: np.random.Generator,
    *,
    action_space: ActionSpace | None = None,
    n_objects: int = 0,
    first_step: int = FIRST_STEP,
    episode_steps: int = 40,
) -> list[dict[str, Any]]:
    """``n`` plausible ``params`` dicts: short episodes of consecutive steps along the track.

    Each episode starts at ``steps == first_step`` (2 like the current simulator; pass
    :data:`LEGACY_FIRST_STEP` for pre-2021 behaviour) and advances by the commanded speed each
    1/15 s with the car wandering around the centre line; a full episode ends off the track.
    Even episodes start on the last waypoint segments (:data:`SEAM_PROBES`); every third episode
    is reversed.
    Actions come from ``action_space`` (default: the ``time_trial`` preset). ``n_objects`` boxes
    are spread over each episode's lap on alternating sides.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if first_step not in (FIRST_STEP, LEGACY_FIRST_STEP):
        raise ValueError(
            f"first_step must be 1 (legacy) or 2 (current simulator), got {first_step}"
        )
    if episode_steps < 1:
        raise ValueError(f"episode_steps must be >= 1, got {episode_steps}")
    if n_objects < 0:
        raise ValueError(f"n_objects must be >= 0, got {n_objects}")
    space = action_space if action_space is not None else action_space_preset("time_trial")
    out: list[dict[str, Any]] = []
    episode = 0
    while len(out) < n:
        count = min(episode_steps, n - len(out))
        out.extend(
            _episode(track, rng, space, episode, count, episode_steps, n_objects, first_step)
        )
        episode += 1
    return out


def _sample_action(space: ActionSpace, rng: np.random.Generator) -> tuple[float, float]:
    if isinstance(space, DiscreteActionSpace):
        a = space.actions[int(rng.integers(len(space)))]
        return a.steering_angle_deg, a.speed_mps
    return (
        float(rng.uniform(space.steering_low_deg, space.steering_high_deg)),
        float(rng.uniform(space.speed_low_mps, space.speed_high_mps)),
    )


def _episode(
    track: Track,
    rng: np.random.Generator,
    space: ActionSpace,
    episode: int,
    count: int,
    episode_steps: int,
    n_objects: int,
    first_step: int,
) -> list[dict[str, Any]]:
    reverse = episode % 3 == 2
    route = _routes(track)[1 if reverse else 0]
    length = route.length_m
    scale = track.length_m / length  # polyline distance -> Track arc length
    probes = SEAM_PROBES if episode % 2 == 0 else 0
    n_seg = len(route.cum_m) - 1
    # Probes put the reported x/y (FRONT_OFFSET_M ahead of the origin) on the segment midpoints.
    probe_d = [
        0.5 * (route.cum_m[k] + route.cum_m[k + 1]) - FRONT_OFFSET_M
        for k in range(max(n_seg - probes, 0), n_seg)
    ]
    if not track.closed:
        probe_d = [max(p, 0.0) for p in probe_d]
    start_d = (
        probe_d[0] if probe_d else float(rng.uniform(0.0, length if track.closed else 0.9 * length))
    )

    objects: list[TrackObject] = []
    for k in range(n_objects):
        d = (start_d + (k + 1) * length / (n_objects + 1)) % length
        s_fwd = (length - d if reverse else d) * scale
        w_l, w_r = track.widths_at(s_fwd)
        lane = (w_l if k % 2 == 0 else -w_r) * 0.5
        xy = track.to_world(s_fwd, lane)[0]
        h = float(track.heading_at(s_fwd)) + (math.pi if reverse else 0.0)
        objects.append(TrackObject(float(xy[0]), float(xy[1]), h, 0.0))

    d, n_lat = start_d, float(rng.normal(0.0, 0.1))
    out = []
    for j in range(count):
        if j < len(probe_d):
            d = probe_d[j]
        steer, speed = _sample_action(space, rng)
        d_fwd = (length - d) if reverse else d
        s_fwd = (d_fwd % length if track.closed else min(max(d_fwd, 0.0), length)) * scale
        w_l, w_r = (float(w) for w in track.widths_at(s_fwd))
        # n_lat is measured left of the TRACK's forward direction (reward_params reports the side
        # relative to the driving direction, so it flips for reversed episodes by itself).
        n_lat = float(np.clip(n_lat + rng.normal(0.0, 0.06), -w_r - 0.3, w_l + 0.3))
        if j == episode_steps - 1:  # episodes end, as most do in training, off the track
            n_lat = w_l + 0.25 if n_lat >= 0 else -w_r - 0.25
        xy = track.to_world(s_fwd, n_lat)[0]
        heading = (
            float(track.heading_at(s_fwd))
            + (math.pi if reverse else 0.0)
            + float(rng.normal(0.0, math.radians(8.0)))
        )
        beyond_m = max(n_lat - w_l, -w_r - n_lat)  # > 0: the origin is past a border
        crashed = any(math.hypot(o.x_m - xy[0], o.y_m - xy[1]) < CRASH_DISTANCE_M for o in objects)
        driven = d - start_d if d >= start_d else d + length - start_d
        out.append(
            reward_params(
                track,
                x_m=float(xy[0]),
                y_m=float(xy[1]),
                heading_rad=heading,
                speed_cmd_mps=speed,
                steering_cmd_deg=steer,
                steps=first_step + j,
                progress_pct=100.0 * driven / length,
                all_wheels_on_track=beyond_m <= -CAR_HALF_WIDTH_M,
                is_offtrack=beyond_m > CAR_HALF_WIDTH_M,
                is_crashed=crashed,
                is_reversed=reverse,
                objects=objects,
            )
        )
        d = d + speed * STEP_S
        if track.closed:
            d %= length
        else:
            d = min(d, length)
    return out
