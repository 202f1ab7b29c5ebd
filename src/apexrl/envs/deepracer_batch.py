"""The engine of the DeepRacer environments: :class:`DeepRacerBatch` runs B AWS DeepRacer
episodes on one track, stepped together on the batched car simulator with the DeepRacer
simulator's semantics (:mod:`apexrl.deepracer.episode`, :mod:`apexrl.deepracer.race`).

:class:`~apexrl.envs.deepracer.DeepRacerEnv` (one car) and
:class:`~apexrl.envs.deepracer.DeepRacerVectorEnv` (B cars) are thin Gymnasium views over it, and
``apexrl rewards test`` (:mod:`apexrl.deepracer.reward_test`) drives it directly. Its arguments
and observations are documented in :class:`~apexrl.envs.deepracer.DeepRacerEnv`'s docstring.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numba as nb
import numpy as np
from gymnasium import spaces

from apexrl.deepracer.actions import (
    ActionSpace,
    ContinuousActionSpace,
    DiscreteActionSpace,
    action_space_from_json,
    resolve_action_space,
    scale_action,
)
from apexrl.deepracer.episode import (
    PREPARE,
    STATUSES,
    TERMINAL,
    TIME_UP,
    EpisodeRules,
    Route,
    StepParams,
    centerline_reward,
    closest_objects,
    object_in_camera,
)
from apexrl.deepracer.files import LidarConfig, validate_sensors
from apexrl.deepracer.race import RaceConfig, RaceObjects
from apexrl.deepracer.reward_runner import RewardFunction
from apexrl.deepracer.simtrace import SimTraceWriter, format_action
from apexrl.sensors.objects import wheel_points
from apexrl.sim.batch import BatchSim
from apexrl.tracks.geometry import interp_periodic
from apexrl.tracks.library import load_track
from apexrl.tracks.track import Track
from apexrl.vehicles import car as carm
from apexrl.vehicles.params import CarParams

TELEMETRY_FIELDS = (
    "speed_mps",
    "steering_rad",
    "offset_m",
    "heading_error_rad",
    "left_width_m",
    "right_width_m",
    "turn_0.5m_rad",
    "turn_1m_rad",
    "turn_2m_rad",
    "turn_4m_rad",
    "progress",
)
"""Layout of the ``TELEMETRY`` observation (see :class:`DeepRacerEnv`)."""
LOOKAHEAD_M = (0.5, 1.0, 2.0, 4.0)
OFFSET_MARGIN_M = 1.0
START_MODES = ("random", "round_robin", "start_line")
CAMERA_SHAPE = (120, 160)
LIDAR_RANGE_M = (0.15, 12.0)

RewardSource = str | os.PathLike | Callable[[dict[str, Any]], Any] | None


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


class DeepRacerBatch:
    """B DeepRacer episodes on one track, stepped together (the engine of both environments).

    Arguments are those of :class:`DeepRacerEnv`. ``reset(idx, rngs)`` starts episodes,
    ``step(actions)`` advances all B; both fill :attr:`obs` (one ``(B, ...)`` array per
    observation key) in place. Per-episode randomness comes only from each environment's own
    generator, passed to ``reset``.
    """

    def __init__(
        self,
        batch_size: int,
        *,
        track: str | os.PathLike | Track = "dr_oval",
        reward_function: RewardSource = centerline_reward,
        action_space: str | ActionSpace | Sequence[Any] | Mapping[str, Any] = "time_trial",
        sensors: Sequence[str] = ("FRONT_FACING_CAMERA",),
        race_type: str = "TIME_TRIAL",
        race: RaceConfig | Mapping[str, Any] | None = None,
        reverse: bool = False,
        first_call_step: int = 2,
        stack_size: int = 1,
        start: str = "random",
        round_robin_advance: float = 0.05,
        time_limit_s: float | None = None,
        lidar_config: LidarConfig | Mapping[str, Any] | None = None,
        simtrace_path: str | os.PathLike | None = None,
        car_params: CarParams | None = None,
    ) -> None:
        self.track = load_track(track)
        self.batch_size = b = int(batch_size)
        self.route = Route.of(self.track, reverse=bool(reverse))
        self.car = car_params if car_params is not None else CarParams()
        self.sim = BatchSim(self.track, "car", params=self.car, batch_size=b)
        self.rules = EpisodeRules(
            b,
            self.route,
            dt_s=self.sim.dt_s,
            first_call_step=first_call_step,
            time_limit_s=time_limit_s,
        )
        self.race_config = self._race_config(race_type, race)
        self.race = RaceObjects(self.race_config, self.route, b)
        self.dr_action_space = self._action_space(action_space)
        if isinstance(self.dr_action_space, DiscreteActionSpace):
            acts = self.dr_action_space.actions
            self._steer_table = np.array([a.steering_angle_deg for a in acts])
            self._speed_table = np.array([a.speed_mps for a in acts])
            self._last_index = np.zeros(batch_size, dtype=np.int64)
        if start not in START_MODES:
            raise ValueError(f"start must be one of {', '.join(START_MODES)}, got {start!r}")
        if not 0.0 <= round_robin_advance < 1.0:
            raise ValueError(f"round_robin_advance must be in [0, 1), got {round_robin_advance}")
        self.start_mode = start
        self.round_robin_advance = float(round_robin_advance)
        if isinstance(stack_size, bool) or not isinstance(stack_size, int) or stack_size < 1:
            raise ValueError(f"stack_size must be an integer >= 1, got {stack_size!r}")
        self.stack_size = stack_size
        self._setup_sensors(sensors, lidar_config)
        self._rewards = self._load_rewards(reward_function, b)
        self.writer = SimTraceWriter(simtrace_path) if simtrace_path is not None else None

        self.status = np.full(b, PREPARE, dtype=np.int64)
        self.reward = np.zeros(b)
        self.episode_id = np.zeros(b, dtype=np.int64)
        self.episodes_started = np.zeros(b, dtype=np.int64)
        self._next_episode = 0
        self.last_params: StepParams | None = None
        """The params of every car at the last step (None before the first, or without a reward
        function); ``last_params.params(b)`` builds car b's dict."""
        self._car_p = carm.params_array(self.car)

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _race_config(race_type: str, race: RaceConfig | Mapping[str, Any] | None) -> RaceConfig:
        if isinstance(race, RaceConfig):
            if race.race_type != race_type:
                raise ValueError(
                    f"race_type {race_type!r} disagrees with race.race_type {race.race_type!r}"
                )
            return race
        return RaceConfig.from_mapping(race_type, race)

    @staticmethod
    def _action_space(spec: Any) -> ActionSpace:
        if isinstance(spec, DiscreteActionSpace | ContinuousActionSpace):
            return spec
        if isinstance(spec, str | os.PathLike):
            return resolve_action_space(os.fspath(spec))
        if isinstance(spec, Sequence | Mapping):
            return action_space_from_json(list(spec) if isinstance(spec, Sequence) else spec)
        raise TypeError(
            "action_space must be a preset name, a .json path, an ActionSpace or its JSON value, "
            f"got {type(spec).__name__}"
        )

    def _setup_sensors(
        self, sensors: Sequence[str], lidar_config: LidarConfig | Mapping[str, Any] | None
    ) -> None:
        if isinstance(sensors, str):
            raise TypeError(f"sensors must be a list of sensor names, got the string {sensors!r}")
        names = tuple(sensors)
        self.camera = self.lidar = None
        self.camera_name = self.lidar_name = None
        b = self.batch_size
        obs_spaces: dict[str, spaces.Space] = {}
        if not names:
            if self.stack_size != 1:
                raise ValueError("stack_size stacks camera frames; TELEMETRY is not stacked")
            if lidar_config is not None:
                raise ValueError("lidar_config needs a lidar in sensors")
            low, high = self._telemetry_bounds()
            obs_spaces["TELEMETRY"] = spaces.Box(low, high, dtype=np.float32)
        else:
            checked = validate_sensors(names)
            from apexrl.sensors.camera import CameraRig

            self.camera_name = checked[0]
            self.camera = CameraRig(self.track, (self.camera_name,))
            channels = 2 if self.camera_name == "STEREO_CAMERAS" else 1
            self._channels = channels
            obs_spaces[self.camera_name] = spaces.Box(
                0, 255, (*CAMERA_SHAPE, channels * self.stack_size), dtype=np.uint8
            )
            if len(checked) > 1:
                from apexrl.sensors.lidar import Lidar

                self.lidar_name = checked[1]
                cfg = lidar_config
                if isinstance(cfg, LidarConfig):
                    cfg = cfg.to_json()
                self.lidar = Lidar(kind=self.lidar_name, lidar_config=cfg)
                probe = self.lidar.scan(np.zeros(1), np.zeros(1), np.zeros(1), None)
                width = probe.shape[1]
                if self.lidar_name == "LIDAR":
                    lo, hi = LIDAR_RANGE_M
                else:
                    lo, hi = 0.0, 1.0
                obs_spaces[self.lidar_name] = spaces.Box(lo, hi, (width,), dtype=np.float32)
            elif lidar_config is not None:
                raise ValueError("lidar_config needs a lidar in sensors")
        self.observation_space = spaces.Dict(obs_spaces)
        self.obs = {k: np.zeros((b, *s.shape), dtype=s.dtype) for k, s in obs_spaces.items()}

    def _telemetry_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        t = self.track
        half = float(max(t.w_left_m.max(), t.w_right_m.max()))
        off = half + OFFSET_MARGIN_M
        pi = np.pi
        low = [0.0, -self.car.steering_max_rad, -off, -pi, 0.0, 0.0, -pi, -pi, -pi, -pi, 0.0]
        high = [self.car.speed_max_mps, self.car.steering_max_rad, off, pi, half, half]
        high += [pi, pi, pi, pi, 1.0]
        return np.array(low, dtype=np.float32), np.array(high, dtype=np.float32)

    @staticmethod
    def _load_rewards(source: RewardSource, b: int) -> list[RewardFunction] | None:
        if source is None:
            return None
        if callable(source) and not isinstance(source, str | os.PathLike):
            # One callable object is shared by every car.
            return [RewardFunction.load(source)] * b
        # A file is imported once per car: module state is per car, as with one simulator
        # worker per car (a shared module would see the calls of all cars interleaved).
        return [RewardFunction.load(source) for _ in range(b)]

    # ------------------------------------------------------------------ episodes
    def reset(self, idx: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Start new episodes in environments ``idx``; ``rngs[j]`` is environment ``idx[j]``'s
        generator (objects, then the start position, draw from it in that order)."""
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size == 0:
            return
        self.race.reset(idx, rngs)
        length = self.route.length_m
        start = np.zeros(idx.size)
        if self.track.closed:
            if self.start_mode == "random":
                start = np.array([rng.uniform(0.0, length) for rng in rngs])
            elif self.start_mode == "round_robin":
                count = self.episodes_started[idx]
                start = (count * self.round_robin_advance % 1.0) * length
        n = self.race.start_lane_offset(start, idx)
        self.sim.reset(
            idx,
            s_m=self.route.track_s(start),
            n_m=n,
            speed_mps=0.0,
            heading_error_rad=np.pi if self.route.reverse else 0.0,
        )
        front = self._front_xy()[idx]
        dist = self.route.project(front[:, 0], front[:, 1])[0]
        self.rules.reset(idx, dist, front)
        self.status[idx] = PREPARE
        self.reward[idx] = 0.0
        self.episodes_started[idx] += 1
        self.episode_id[idx] = self._next_episode + np.arange(idx.size)
        self._next_episode += idx.size
        self._observe(idx, first=True)

    def _front_xy(self) -> np.ndarray:
        st = self.sim.state
        yaw = st[:, carm.YAW_RAD]
        off = self.car.origin_to_front_axle_m
        return np.stack(
            [st[:, carm.X_M] + off * np.cos(yaw), st[:, carm.Y_M] + off * np.sin(yaw)], axis=1
        )

    def commands(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy actions ``(B,)`` indices or ``(B, 2)`` in [-1, 1] -> commanded steering (deg)
        and speed (m/s), ``(B,)`` each."""
        space = self.dr_action_space
        a = np.asarray(actions)
        b = self.batch_size
        if isinstance(space, DiscreteActionSpace):
            if a.shape != (b,) or a.dtype.kind not in "iu":
                raise ValueError(f"actions must be {b} integer indices, got {a.dtype} {a.shape}")
            if ((a < 0) | (a >= len(space))).any():
                raise ValueError(f"action indices must be in [0, {len(space)}), got {a}")
            self._last_index = a
            return self._steer_table[a], self._speed_table[a]
        if a.shape != (b, 2) or not np.isfinite(a).all():
            raise ValueError(f"actions must be finite with shape ({b}, 2), got {a.shape}")
        return scale_action(space, a)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every episode one step; returns ``(reward, terminated, truncated)`` ``(B,)``
        arrays and updates :attr:`status` and :attr:`obs`. Finished episodes must be reset
        before their next step."""
        steer_deg, speed_cmd = self.commands(actions)
        st = self.sim.state
        x, y, yaw = st[:, carm.X_M].copy(), st[:, carm.Y_M].copy(), st[:, carm.YAW_RAD].copy()
        front = self._front_xy()
        dist, off, left, seg = self.route.project(front[:, 0], front[:, 1])
        inside = self.wheels_on_road()
        all_on = inside.all(axis=1)
        off_track = ~inside.any(axis=1)
        wheels = wheel_points(x, y, yaw, self.car.wheelbase_m, self.car.track_width_m)
        crashed = self.race.crashed(wheels, dist)
        status = self.rules.update(dist, front, off_track, crashed)
        self.status[:] = status
        terminated = TERMINAL[status]
        truncated = status == TIME_UP
        run = status != PREPARE

        reward = self.reward
        reward[:] = 0.0
        if self._rewards is not None:
            sp = self._step_params(
                front, yaw, dist, off, left, seg, all_on, off_track, crashed, steer_deg, speed_cmd
            )
            self.last_params = sp
            cars = np.flatnonzero(run)
            if cars.size:
                reward[cars] = sp.call(self._rewards, cars.tolist())
        if self.writer is not None:
            self._write_trace(front, yaw, seg, steer_deg, speed_cmd, all_on, terminated | truncated)

        held = ~run | terminated | truncated
        saved = st[held].copy()
        self.sim.step(np.stack([np.radians(steer_deg), speed_cmd], axis=1))
        st[held] = saved
        self.race.update(self.rules.steps * self.rules.dt_s)
        self._observe(np.arange(self.batch_size), first=False)
        return reward.copy(), terminated, truncated

    def wheels_on_road(self) -> np.ndarray:
        """``(B, 4)`` bool: each wheel (rear-left, rear-right, front-left, front-right) is on the
        road -- the per-wheel test of the simulator's off-track flag (``car_off_track``)."""
        out = np.empty((self.batch_size, 4), dtype=np.bool_)
        t = self.track
        _wheels_inside(self.sim.state, self._car_p, t.w_left_m, t.w_right_m, t.ds_m, t.closed, out)
        return out

    def _step_params(
        self, front, yaw, dist, off, left, seg, all_on, off_track, crashed, steer_deg, speed_cmd
    ) -> StepParams:
        b = self.batch_size
        k = self.race.num_slots
        if k:
            objs = self.race.objects
            oxy = objs.xy_m
            o_dist, o_off, o_left, _ = self.route.project(oxy[..., 0], oxy[..., 1])
            o_dist, o_off, o_left = (a.reshape(b, k) for a in (o_dist, o_off, o_left))
            closest = closest_objects(o_dist, dist)
            nxt = oxy[np.arange(b), closest[:, 1]]
            in_cam = object_in_camera(front, yaw, nxt).tolist()
            heading = objs.yaw_rad if self.race.moving else np.zeros((b, k))
            obj = (
                closest.tolist(),
                oxy.tolist(),
                o_left.tolist(),
                [[self.race.speed_mps] * k] * b,
                heading.tolist(),
                o_dist.tolist(),
                o_off.tolist(),
            )
        else:
            in_cam = [False] * b
            obj = ([[0, 0]] * b, *([[]] * b for _ in range(6)))
        return StepParams(
            self.route,
            all_on.tolist(),
            front[:, 0].tolist(),
            front[:, 1].tolist(),
            np.degrees(_wrap(yaw)).tolist(),
            off.tolist(),
            dist.tolist(),
            np.clip(self.rules.progress, 0.0, 100.0).tolist(),
            self.rules.steps.tolist(),
            np.asarray(speed_cmd, dtype=np.float64).tolist(),
            np.asarray(steer_deg, dtype=np.float64).tolist(),
            self.route.track_width(dist).tolist(),
            seg.tolist(),
            left.tolist(),
            off_track.tolist(),
            crashed.tolist(),
            *obj,
            in_cam,
            self.rules.sim_time_s().tolist(),
        )

    def _write_trace(self, front, yaw, seg, steer_deg, speed_cmd, all_on, done) -> None:
        pts = self.route.points
        near_next = np.hypot(*(front - pts[seg + 1]).T) < np.hypot(*(front - pts[seg]).T)
        if isinstance(self.dr_action_space, DiscreteActionSpace):
            action = [format_action(i) for i in self._last_index.tolist()]
        else:
            pairs = zip(np.asarray(steer_deg).tolist(), np.asarray(speed_cmd).tolist(), strict=True)
            action = [format_action(p) for p in pairs]
        self.writer.write_rows(
            episode=self.episode_id,
            steps=self.rules.steps,
            x_m=front[:, 0],
            y_m=front[:, 1],
            yaw_deg=np.degrees(_wrap(yaw)),
            steer_deg=np.asarray(steer_deg, dtype=np.float64),
            throttle_mps=np.asarray(speed_cmd, dtype=np.float64),
            action=action,
            reward=self.reward,
            done=done,
            all_wheels_on_track=all_on,
            progress=np.clip(self.rules.progress, 0.0, 100.0),
            closest_waypoint=np.where(near_next, seg + 1, seg),
            track_len_m=self.route.length_m,
            tstamp_s=self.rules.sim_time_s(),
            episode_status=[STATUSES[s] for s in self.status.tolist()],
        )

    # ------------------------------------------------------------------ observations
    def _observe(self, idx: np.ndarray, *, first: bool) -> None:
        """Observe environments ``idx``: all of them after a step (``first=False``: the camera
        stack shifts by one frame), or those just reset (the stack filled with the first frame)."""
        if "TELEMETRY" in self.obs:
            self.obs["TELEMETRY"][idx] = self._telemetry(idx)
        if self.camera is None:
            return
        st = self.sim.state[idx]
        x, y, yaw = st[:, carm.X_M], st[:, carm.Y_M], st[:, carm.YAW_RAD]
        objects = None
        if self.race.num_slots:
            objects = self.race.objects.rows(idx) if first else self.race.objects
        if self.lidar is not None:
            self.obs[self.lidar_name][idx] = self.lidar.scan(x, y, yaw, objects)
        frame = self.camera.render(x, y, yaw, objects)
        if frame.ndim == 3:
            frame = frame[..., None]
        stack = self.obs[self.camera_name]
        if first:
            stack[idx] = np.tile(frame, (1, 1, 1, self.stack_size))
        else:
            c = self._channels
            stack[:, :, :, :-c] = stack[:, :, :, c:]
            stack[:, :, :, -c:] = frame

    def _telemetry(self, idx: np.ndarray) -> np.ndarray:
        t = self.track
        out = np.empty((idx.size, len(TELEMETRY_FIELDS)))
        _telemetry_rows(
            self.sim.state, idx, t.heading_rad, t.w_left_m, t.w_right_m, t.ds_m, t.closed,
            self.route.reverse, np.array(LOOKAHEAD_M), self.rules.progress, out,
        )  # fmt: skip
        space = self.observation_space["TELEMETRY"]
        return np.clip(out, space.low, space.high).astype(np.float32)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@nb.njit(cache=True, nogil=True)
def _wheels_inside(state, p, w_left, w_right, ds_m, closed, out):  # pragma: no cover - numba
    half = 0.5 * p[carm.P_TRACK_WIDTH_M]
    wheelbase = p[carm.P_WHEELBASE_M]
    for b in range(state.shape[0]):
        x = state[b]
        sin_e = math.sin(x[carm.HEADING_ERROR_RAD])
        cos_e = math.cos(x[carm.HEADING_ERROR_RAD])
        for k in range(4):
            along = wheelbase if k >= 2 else 0.0
            side = half if k % 2 == 0 else -half
            n_w = x[carm.N_M] + along * sin_e + side * cos_e
            s_w = x[carm.S_M] + along * cos_e - side * sin_e
            out[b, k] = n_w <= interp_periodic(w_left, s_w, ds_m, closed) and (
                -n_w <= interp_periodic(w_right, s_w, ds_m, closed)
            )


@nb.njit(cache=True, nogil=True)
def _telemetry_rows(
    state, idx, heading, w_left, w_right, ds_m, closed, reverse, lookahead, progress, out
):  # pragma: no cover - numba
    for r in range(idx.shape[0]):
        x = state[idx[r]]
        s = x[carm.S_M]
        n = x[carm.N_M]
        err = x[carm.HEADING_ERROR_RAD]
        wl = interp_periodic(w_left, s, ds_m, closed)
        wr = interp_periodic(w_right, s, ds_m, closed)
        sign = 1.0
        if reverse:
            n, err, wl, wr, sign = -n, carm.wrap_near(err + math.pi), wr, wl, -1.0
        h0 = carm.heading_at(heading, s, ds_m, closed)
        out[r, 0] = x[carm.SPEED_MPS]
        out[r, 1] = x[carm.STEERING_RAD]
        out[r, 2] = n
        out[r, 3] = err
        out[r, 4] = wl
        out[r, 5] = wr
        for j in range(lookahead.shape[0]):
            h = carm.heading_at(heading, s + sign * lookahead[j], ds_m, closed)
            out[r, 6 + j] = carm.wrap_near(h - h0)
        out[r, 10] = min(max(progress[idx[r]] / 100.0, 0.0), 1.0)
