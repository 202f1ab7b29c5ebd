"""DeepRacer race types: boxes for OBJECT_AVOIDANCE, bot cars for HEAD_TO_BOT, and collisions.

Placement follows the simulator (deepracer-simapp's obstacle and bot-car controllers):

- Distances are measured along the centre line in the driving direction from the start line.
  Without fixed positions, N objects start equally spaced on ``linspace(min_gap, L - 1 m, N)``;
  randomised placement visits them in a random order and moves each uniformly within
  ``[previous + min_gap, next - min_gap]`` (the first no earlier than ``min_gap``, the last no
  later than ``L - 1 m``). Lanes alternate inner, outer, ... or, randomised, are drawn per object.
  Objects are re-placed at every episode start.
- Lanes: the INNER lane runs halfway between the centre line and the inner border (the inside of
  the loop), the OUTER lane halfway to the outer border. ``DR_OA_OBJECT_POSITIONS`` lane ``1`` is
  the inner lane and ``-1`` the outer one -- so on a counter-clockwise track 1 is LEFT of the
  centre line and -1 right; on a clockwise track the other way round. On open tracks the inner
  lane is the left one. The lanes are geometric: they do not swap when driving in reverse.
- Bot cars drive their lane at ``bot_car_speed_mps``: at time t (s since the episode started)
  a bot is ``initial + speed * t`` along the route. With lane changes, each bot schedules its
  next change ``uniform(lower, upper)`` seconds after the previous one ended; a change moves it
  to the other lane over ``lane_change_distance_m`` (a smooth-step blend of the two lanes).
- Collision rectangles include the simulator's 0.1 m buffer: boxes 0.5 m along x 0.4 m across,
  bot cars 0.422 m x 0.296 m. The car crashes when one of its wheel centres lies inside one. A
  moving bot only counts when it is AHEAD of the car (the car ran into it from behind; the
  simulator compares track positions, which this does modulo the lap so the start line is no
  exception); boxes and static bot-car obstacles always count.

Reported object params follow the simulator too: ``objects_heading`` (radians) and
``objects_speed`` are the moving bots' yaw and speed, and 0 for static obstacles.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from apexrl.deepracer.episode import Route
from apexrl.sensors.objects import ObjectsState

RACE_TYPES = ("TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT")
BOX_SIZE_M = (0.5, 0.4)
"""Box collision rectangle, (along, across) the lane, including the simulator's 0.1 m buffer."""
BOT_CAR_SIZE_M = (0.422, 0.296)
"""Bot car collision rectangle, (length, width), including the 0.1 m buffer."""
END_CLEARANCE_M = 1.0
"""The last evenly spaced object stands this far before the end of the lap."""
START_CLEARANCE_M = 1.0
"""A car whose start is within this distance (along the route) of an object starts in the other
lane (the simulator's rule for training starts)."""
_HEADING_PROBE_M = 0.01
"""Bot headings come from their position 1 cm further along their path."""


@dataclass(frozen=True)
class RaceConfig:
    """A race type and its DRfC settings (``DR_RACE_TYPE``, ``DR_OA_*``, ``DR_H2B_*``)."""

    race_type: str = "TIME_TRIAL"
    """TIME_TRIAL, OBJECT_AVOIDANCE or HEAD_TO_BOT."""
    number_of_obstacles: int = 3
    """DR_OA_NUMBER_OF_OBSTACLES (ignored when object_positions are given)."""
    min_distance_between_obstacles_m: float = 2.0
    """DR_OA_MIN_DISTANCE_BETWEEN_OBSTACLES."""
    randomize_obstacle_locations: bool = False
    """DR_OA_RANDOMIZE_OBSTACLE_LOCATIONS."""
    is_obstacle_bot_car: bool = False
    """DR_OA_IS_OBSTACLE_BOT_CAR: static bot cars instead of boxes."""
    object_positions: tuple[tuple[float, int], ...] | str = ()
    """DR_OA_OBJECT_POSITIONS: ``((progress_fraction, lane), ...)`` or the DRfC text
    ``"0.25,1;0.5,-1"``; lane 1 = inner, -1 = outer. Overrides the number of obstacles."""
    number_of_bot_cars: int = 3
    """DR_H2B_NUMBER_OF_BOT_CARS."""
    min_distance_between_bot_cars_m: float = 2.0
    """DR_H2B_MIN_DISTANCE_BETWEEN_BOT_CARS."""
    randomize_bot_car_locations: bool = False
    """DR_H2B_RANDOMIZE_BOT_CAR_LOCATIONS."""
    bot_car_speed_mps: float = 0.2
    """DR_H2B_BOT_CAR_SPEED."""
    is_lane_change: bool = False
    """DR_H2B_IS_LANE_CHANGE."""
    lower_lane_change_time_s: float = 3.0
    """DR_H2B_LOWER_LANE_CHANGE_TIME."""
    upper_lane_change_time_s: float = 5.0
    """DR_H2B_UPPER_LANE_CHANGE_TIME."""
    lane_change_distance_m: float = 1.0
    """DR_H2B_LANE_CHANGE_DISTANCE: route distance a lane change takes."""

    def __post_init__(self) -> None:
        if self.race_type not in RACE_TYPES:
            raise ValueError(
                f"race_type must be one of {', '.join(RACE_TYPES)}, got {self.race_type!r}"
            )
        positions = self.object_positions
        if isinstance(positions, str):
            positions = parse_object_positions(positions)
        else:
            positions = tuple((float(f), int(lane)) for f, lane in positions)
            for f, lane in positions:
                _check_position(f, lane, f"{f},{lane}")
        object.__setattr__(self, "object_positions", positions)
        for name in ("number_of_obstacles", "number_of_bot_cars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        for name in (
            "min_distance_between_obstacles_m",
            "min_distance_between_bot_cars_m",
            "lower_lane_change_time_s",
        ):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {getattr(self, name)!r}")
        for name in ("bot_car_speed_mps", "lane_change_distance_m"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number, got {getattr(self, name)!r}")
        if not self.lower_lane_change_time_s <= self.upper_lane_change_time_s < math.inf:
            raise ValueError(
                f"lane change times must satisfy lower <= upper < inf, got "
                f"{self.lower_lane_change_time_s} and {self.upper_lane_change_time_s}"
            )

    @property
    def num_objects(self) -> int:
        """K: boxes (or static bot cars), moving bot cars, or 0 for a time trial."""
        if self.race_type == "OBJECT_AVOIDANCE":
            return len(self.object_positions) or self.number_of_obstacles
        if self.race_type == "HEAD_TO_BOT":
            return self.number_of_bot_cars
        return 0

    @classmethod
    def from_mapping(cls, race_type: str, values: Mapping[str, object] | None) -> RaceConfig:
        """``RaceConfig(race_type=..., **values)`` with unknown keys named in a ValueError."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)} - {"race_type"}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown race setting(s) {', '.join(unknown)}; "
                f"settings: {', '.join(sorted(known))}"
            )
        return cls(race_type=race_type, **values)  # type: ignore[arg-type]

    @classmethod
    def from_drfc_env(cls, env: Mapping[str, str]) -> RaceConfig:
        """Read ``DR_RACE_TYPE`` and the ``DR_OA_*`` / ``DR_H2B_*`` keys of a DRfC run.env
        (as returned by :func:`apexrl.deepracer.drfc_env.parse_env_file`); absent keys keep their
        defaults, other keys are ignored."""
        keys = {
            "DR_OA_NUMBER_OF_OBSTACLES": ("number_of_obstacles", int),
            "DR_OA_MIN_DISTANCE_BETWEEN_OBSTACLES": ("min_distance_between_obstacles_m", float),
            "DR_OA_RANDOMIZE_OBSTACLE_LOCATIONS": ("randomize_obstacle_locations", _bool),
            "DR_OA_IS_OBSTACLE_BOT_CAR": ("is_obstacle_bot_car", _bool),
            "DR_OA_OBJECT_POSITIONS": ("object_positions", str),
            "DR_H2B_NUMBER_OF_BOT_CARS": ("number_of_bot_cars", int),
            "DR_H2B_MIN_DISTANCE_BETWEEN_BOT_CARS": ("min_distance_between_bot_cars_m", float),
            "DR_H2B_RANDOMIZE_BOT_CAR_LOCATIONS": ("randomize_bot_car_locations", _bool),
            "DR_H2B_BOT_CAR_SPEED": ("bot_car_speed_mps", float),
            "DR_H2B_IS_LANE_CHANGE": ("is_lane_change", _bool),
            "DR_H2B_LOWER_LANE_CHANGE_TIME": ("lower_lane_change_time_s", float),
            "DR_H2B_UPPER_LANE_CHANGE_TIME": ("upper_lane_change_time_s", float),
            "DR_H2B_LANE_CHANGE_DISTANCE": ("lane_change_distance_m", float),
        }
        values: dict[str, object] = {}
        for key, (name, parse) in keys.items():
            if key in env:
                try:
                    values[name] = parse(env[key])
                except ValueError:
                    raise ValueError(f"{key}={env[key]!r} is not a valid value") from None
        return cls(race_type=env.get("DR_RACE_TYPE", "TIME_TRIAL"), **values)  # type: ignore[arg-type]


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "1", "yes"):
        return True
    if low in ("false", "0", "no", ""):
        return False
    raise ValueError(text)


def _check_position(fraction: float, lane: int, item: str) -> None:
    if not (0.0 < fraction < 1.0 and lane in (-1, 1)):
        raise ValueError(
            f"object position {item!r}: expected progress_fraction,lane with the fraction in "
            "(0, 1) and lane 1 (inner) or -1 (outer), e.g. '0.25,1;0.5,-1'"
        )


def parse_object_positions(text: str) -> tuple[tuple[float, int], ...]:
    """Parse DRfC's ``DR_OA_OBJECT_POSITIONS`` (``"0.25,1;0.5,-1"``; empty = none)."""
    out = []
    for item in (t.strip() for t in text.split(";")):
        if not item:
            continue
        fraction, _, lane = item.partition(",")
        try:
            value = (float(fraction), int(lane))
        except ValueError:
            value = (math.nan, 0)
        _check_position(*value, item)
        out.append(value)
    return tuple(out)


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


class RaceObjects:
    """The objects of B environments: placement at episode start, bot motion, collisions.

    ``objects`` (an :class:`ObjectsState`) is updated in place; slots keep their order within an
    episode. Placement numbers them in driving order from the start line (fixed
    ``object_positions`` keep the order they are given in, as in the simulator).
    """

    def __init__(self, config: RaceConfig, route: Route, batch_size: int) -> None:
        self.config = config
        self.route = route
        k = config.num_objects
        self.moving = config.race_type == "HEAD_TO_BOT"
        bot_shaped = self.moving or config.is_obstacle_bot_car
        size = BOT_CAR_SIZE_M if bot_shaped else BOX_SIZE_M
        b = batch_size
        self.objects = ObjectsState(
            xy_m=np.zeros((b, k, 2)),
            yaw_rad=np.zeros((b, k)),
            length_m=np.full(k, size[0]),
            width_m=np.full(k, size[1]),
            is_bot=np.full(k, bot_shaped),
            valid=np.ones((b, k), dtype=bool),
        )
        self.start_m = np.zeros((b, k))
        """Route distance of each object at t = 0."""
        self.lane = np.ones((b, k), dtype=np.int64)
        """Current lane (1 inner, -1 outer); during a change, the lane it leaves."""
        self.change_start_s = np.full((b, k), np.inf)
        self.change_end_s = np.full((b, k), np.inf)
        self.distance_m = np.zeros((b, k))
        """Route distance of each object now."""
        track = route.track
        self._inner_side = 1.0 if track.orientation in ("ccw", "open") else -1.0
        self._rngs: list[np.random.Generator] = [np.random.default_rng(0)] * b

    @property
    def num_slots(self) -> int:
        return self.objects.num_slots

    @property
    def speed_mps(self) -> float:
        """Speed reported for every object (the bots' speed, 0 for static obstacles)."""
        return self.config.bot_car_speed_mps if self.moving else 0.0

    # ------------------------------------------------------------------ placement
    def reset(self, idx: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Place the objects of environments ``idx`` for a new episode at t = 0; ``rngs[j]`` is
        env ``idx[j]``'s generator (kept for its lane-change draws)."""
        k = self.num_slots
        if k == 0:
            return
        cfg = self.config
        for j, b in enumerate(idx):
            self._rngs[b] = rngs[j]
            start, lanes = self._initial(rngs[j])
            self.start_m[b] = start
            self.lane[b] = lanes
        self.change_start_s[idx] = np.inf
        self.change_end_s[idx] = np.inf
        if self.moving and cfg.is_lane_change:
            self.change_end_s[idx] = 0.0  # schedule the first change at t = 0, as the simulator
        self.update(np.zeros(len(idx)), idx)

    def _initial(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        length = self.route.length_m
        if cfg.race_type == "OBJECT_AVOIDANCE" and cfg.object_positions:
            frac = np.array([f for f, _ in cfg.object_positions])
            lanes = np.array([lane for _, lane in cfg.object_positions], dtype=np.int64)
            return frac * length, lanes
        n = self.num_slots
        if self.moving:
            gap, randomize = cfg.min_distance_between_bot_cars_m, cfg.randomize_bot_car_locations
        else:
            gap, randomize = (
                cfg.min_distance_between_obstacles_m,
                cfg.randomize_obstacle_locations,
            )
        lo_end, hi_end = gap, length - END_CLEARANCE_M
        dist = np.linspace(lo_end, hi_end, n)
        if not randomize:
            return dist, np.where(np.arange(n) % 2 == 0, 1, -1)
        for i in rng.permutation(n):
            lo = lo_end if i == 0 else dist[i - 1] + gap
            hi = hi_end if i == n - 1 else dist[i + 1] - gap
            if lo < hi:
                dist[i] = rng.uniform(lo, hi)
        return dist, np.where(rng.integers(0, 2, n) == 0, 1, -1)

    # ------------------------------------------------------------------ motion
    def _lane_offset(self, distance_m: np.ndarray, lane: np.ndarray) -> np.ndarray:
        """Signed offset ``n`` (left of the TRACK's direction) of lane 1 (inner) / -1 (outer)."""
        w_left, w_right = self.route.track.widths_at(self.route.track_s(distance_m))
        side = self._inner_side * lane
        return np.where(side > 0, 0.5 * w_left, -0.5 * w_right)

    def _pose_terms(self, t_s: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Route distance and lateral offset ``(K_rows, K)`` of each object at times t_s."""
        length = self.route.length_m
        lane = self.lane[rows]
        d = self.start_m[rows]
        if self.moving:
            d = d + self.config.bot_car_speed_mps * t_s[:, None]
            if self.route.closed:
                d = d % length
        n_from = self._lane_offset(d, lane)
        n = n_from
        if self.moving and self.config.is_lane_change:
            start, end = self.change_start_s[rows], self.change_end_s[rows]
            u = np.where(np.isfinite(end), (t_s[:, None] - start) / (end - start), 0.0)
            n = n_from + (self._lane_offset(d, -lane) - n_from) * _smoothstep(u)
        return d, n

    def update(self, t_s: np.ndarray, rows: np.ndarray | None = None) -> None:
        """Move the objects of environments ``rows`` (default all) to their poses at episode
        times ``t_s`` (one per row)."""
        if self.num_slots == 0:
            return
        rows = np.arange(self.objects.batch_size) if rows is None else np.asarray(rows)
        t = np.asarray(t_s, dtype=np.float64)
        if self.moving and self.config.is_lane_change:
            self._schedule_lane_changes(t, rows)
        d, n = self._pose_terms(t, rows)
        xy = self._world(d, n)
        if self.moving:
            d2, n2 = self._pose_terms(t + _HEADING_PROBE_M / self.config.bot_car_speed_mps, rows)
            ahead = self._world(d2, n2)
            yaw = np.arctan2(ahead[..., 1] - xy[..., 1], ahead[..., 0] - xy[..., 0])
        else:
            h = self.route.track.heading_at(self.route.track_s(d))
            yaw = (h + (np.pi if self.route.reverse else 0.0) + np.pi) % (2 * np.pi) - np.pi
        self.objects.xy_m[rows] = xy
        self.objects.yaw_rad[rows] = yaw
        self.distance_m[rows] = d

    def _world(self, d: np.ndarray, n: np.ndarray) -> np.ndarray:
        s = self.route.track_s(d).reshape(-1)
        return self.route.track.to_world(s, n.reshape(-1)).reshape(*d.shape, 2)

    def _schedule_lane_changes(self, t: np.ndarray, rows: np.ndarray) -> None:
        cfg = self.config
        duration = cfg.lane_change_distance_m / cfg.bot_car_speed_mps
        end = self.change_end_s[rows]
        due = t[:, None] >= end
        if not due.any():
            return
        # A change that has finished leaves the bot in the other lane (none at the t = 0 start).
        finished = due & (end > 0.0)
        lane = self.lane[rows]
        self.lane[rows] = np.where(finished, -lane, lane)
        # Draws happen per environment, in slot order, from that environment's own generator:
        # a vector env and single envs with the same seeds see the same bots.
        for r, k in zip(*np.nonzero(due), strict=True):
            b = rows[r]
            wait = self._rngs[b].uniform(cfg.lower_lane_change_time_s, cfg.upper_lane_change_time_s)
            self.change_end_s[b, k] = t[r] + wait + duration
            self.change_start_s[b, k] = t[r] + wait

    # ------------------------------------------------------------------ collisions
    def crashed(self, wheels_xy_m: np.ndarray, car_distance_m: np.ndarray) -> np.ndarray:
        """``(B,)`` bool: a wheel centre ``wheels_xy_m (B, 4, 2)`` lies in an object's rectangle
        (for moving bots: only one ahead of the car, at route distance ``car_distance_m (B,)``)."""
        if self.num_slots == 0:
            return np.zeros(wheels_xy_m.shape[0], dtype=bool)
        hit = self.objects.contains_any(wheels_xy_m)
        if self.moving:
            length = self.route.length_m
            gap = self.distance_m - car_distance_m[:, None]
            if self.route.closed:
                gap = (gap + 0.5 * length) % length - 0.5 * length
            hit &= gap > 0.0
        return hit.any(axis=1)

    def start_lane_offset(self, start_m: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Lateral start offset ``n`` (left of the track's direction) for cars starting at route
        distances ``start_m`` in environments ``rows``: 0 (centre line), or the lane opposite an
        object within :data:`START_CLEARANCE_M` along the route."""
        out = np.zeros(len(rows))
        if self.num_slots == 0:
            return out
        length = self.route.length_m
        gap = self.distance_m[rows] - start_m[:, None]
        if self.route.closed:
            gap = (gap + 0.5 * length) % length - 0.5 * length
        near = np.abs(gap) <= START_CLEARANCE_M
        has = near.any(axis=1)
        if has.any():
            nearest = np.argmin(np.where(near, np.abs(gap), np.inf), axis=1)
            lane = self.lane[rows, nearest]
            other = self._lane_offset(start_m, -lane)
            out = np.where(has, other, 0.0)
        return out
