"""AWS DeepRacer as Gymnasium environments: :class:`DeepRacerEnv` (one car, registered as
``apexrl/DeepRacer-v0``) and :class:`DeepRacerVectorEnv` (B cars stepped together natively).

Both are views over :class:`~apexrl.envs.deepracer_batch.DeepRacerBatch`
(:mod:`apexrl.envs.deepracer_batch`), which runs B DeepRacer episodes on the batched car simulator
with the DeepRacer simulator's semantics (:mod:`apexrl.deepracer.episode`,
:mod:`apexrl.deepracer.race`). :class:`DeepRacerEnv`'s docstring is the manual.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from apexrl.deepracer.actions import ActionSpace, DiscreteActionSpace
from apexrl.deepracer.episode import STATUSES

# The engine moved to apexrl.envs.deepracer_batch; the names marked F401 are re-exported so that
# imports from this module keep working.
from apexrl.envs.deepracer_batch import (
    CAMERA_SHAPE,  # noqa: F401
    LIDAR_RANGE_M,  # noqa: F401
    LOOKAHEAD_M,  # noqa: F401
    OFFSET_MARGIN_M,  # noqa: F401
    START_MODES,  # noqa: F401
    TELEMETRY_FIELDS,  # noqa: F401
    DeepRacerBatch,
    RewardSource,  # noqa: F401
)


class DeepRacerEnv(gym.Env):
    """AWS DeepRacer: drive a 1/18-scale car around a track, rewarded by your
    ``reward_function(params)``, with the DeepRacer simulator's semantics.

    ## Description
    The car is a kinematic bicycle with a grip limit (:mod:`apexrl.vehicles.car`) stepped at
    15 Hz, the DeepRacer camera rate. Each step follows the simulator (deepracer-simapp):
    the action is applied, ``params`` are built from the car's pose at the START of the step
    with the action's COMMANDED speed and steering, the episode rules are checked on that pose,
    the reward function is called, and (unless the episode ended) physics runs to the next
    frame, which the returned observation shows. Your reward function is called exactly as the
    simulator calls it: same 27 keys (:data:`apexrl.deepracer.params.PARAM_KEYS`), a fresh dict
    per call, ``float()`` applied, NaN/inf/|r| > 1e5/exceptions raised as
    :class:`~apexrl.deepracer.reward_runner.RewardError` naming the file, step and value.

    ## Action Space
    A DeepRacer action space (``action_space``):

    - discrete (a list of actions): ``Discrete(n)``, the index into the list;
    - continuous: ``Box(-1, 1, (2,), float32)``, ``[steering, speed]`` mapped linearly onto the
      space's steering (deg, + left) and speed (m/s) ranges (values outside are clipped).

    Default: the ``time_trial`` preset (12 discrete actions). The simulator clamps commanded
    speeds to 0.1-4 m/s; params report the commanded values unclamped.

    ## Observation Space
    A ``Dict`` keyed by sensor name, exactly the sensors requested:

    | key | shape, dtype | values |
    |---|---|---|
    | FRONT_FACING_CAMERA, LEFT_CAMERA | (120, 160, stack_size) uint8 | gray, oldest frame first |
    | STEREO_CAMERAS | (120, 160, 2 * stack_size) uint8 | (left, right) per frame, oldest 1st |
    | LIDAR | (64,) float32 | ranges 0.15-12 m |
    | SECTOR_LIDAR | (8,) float32 | 0/1 per sector |
    | DISCRETIZED_SECTOR_LIDAR | (num_sectors * num_values_per_sector,) float32 | 0..1 |

    Sensor lists are validated as the simulator does: exactly one camera plus at most one lidar
    (a lidar alone is invalid). The lidar is not stacked. For fast local iteration
    ``sensors=[]`` gives a telemetry-only observation, ``{"TELEMETRY": Box((11,), float32)}``
    (not a DeepRacer sensor; no model trained on it can run on the car):

    | i | field | unit | range |
    |---|---|---|---|
    | 0 | measured speed | m/s | 0..4 |
    | 1 | front wheel angle, + left | rad | +-0.524 |
    | 2 | offset of the origin (rear axle) from the centre line, + left | m | +-(half-width + 1) |
    | 3 | heading error to the driving direction | rad | -pi..pi |

    "Left" and "ahead" refer to the driving direction; offsets beyond the range are clipped
    (half-width: the widest on the track).
    | 4, 5 | road half-width to the left / right border | m | 0..widest half-width |
    | 6-9 | turn of the centre line 0.5, 1, 2, 4 m ahead (heading change, + left) | rad | -pi..pi |
    | 10 | progress as params reported it at the last step, / 100 | 1 | 0..1 |

    ## Rewards
    ``reward_function(params)``: a path to a ``reward_function.py`` (imported once per car, so
    module globals and class instances persist across steps and episodes) or a Python
    callable (shared by all cars of a vector env). Default: :func:`centerline_reward` (AWS's
    centre-line example). ``None`` disables rewards (0 every step; params are not built). The
    current simulator's step 1 is a PREPARE step: the car is held at its start pose, the
    reward function is not called and the reward is 0, so the first call sees ``steps == 2``;
    ``first_call_step=1`` emulates simulators before 2021 (called from step 1, no prepare step).
    The reward function is also called on the step that ends an episode, with ``is_offtrack`` /
    ``is_crashed`` set as the simulator does.

    Params semantics (spec section 2): ``x``/``y`` 0.14 m ahead of the origin; ``progress``
    relative to where this episode started, capped at 100; ``waypoints`` in driving order as
    (x, y) tuples (reversed when ``reverse``); ``closest_waypoints`` along the centre line;
    ``track_width`` local; objects in driving order from the start line with
    ``closest_objects`` by distance along the centre line and ``objects_heading`` in radians.

    ## Starting State
    The car's origin on the centre line (or, next to an object, in the other lane), pointing
    along the driving direction, at rest. Where: ``start="random"`` (uniform along the track,
    default), ``"round_robin"`` (DeepRacer training: each episode of an environment starts
    ``round_robin_advance`` of a lap further) or ``"start_line"``. Open tracks always start at
    the start line. Objects are re-placed every episode (:mod:`apexrl.deepracer.race`).

    ## Episode End
    Terminated (``info["episode_status"]``): ``off_track`` (all four wheels off the road),
    ``crashed`` (a wheel inside a box or a bot car ahead), ``immobilized`` (15 consecutive steps
    moving <= 0.3 mm), ``reversed`` (progress decreasing 15 steps in a row), ``lap_complete``
    (progress reaches 100). Truncated: ``time_up`` when simulated time reaches
    ``time_limit_s`` (no limit by default, as in DeepRacer training). When several rules fire on
    one step the simulator's priority applies: time_up, lap_complete, crashed, off_track,
    immobilized, reversed.

    ## Info
    ``episode_status`` (str, the sim-trace status of the step), ``progress`` (params' progress,
    %), ``steps`` (the step counter), ``sim_time_s`` (simulated time at the END of the step).
    :meth:`DeepRacerEnv.last_params` returns the last step's params dict.

    ## Arguments
    - ``track``: built-in name, shape spec, track file or downloaded DeepRacer world, or a Track.
    - ``reward_function``: path, callable or None (above).
    - ``action_space``: preset name, ``.json`` file, ActionSpace, or its model_metadata value.
    - ``sensors``: DeepRacer sensor names (default ``["FRONT_FACING_CAMERA"]``), or ``[]``.
    - ``race_type``: ``"TIME_TRIAL"``, ``"OBJECT_AVOIDANCE"`` or ``"HEAD_TO_BOT"``; ``race``:
      a :class:`~apexrl.deepracer.race.RaceConfig` or a dict of its fields (boxes, positions
      ``"progress_fraction,lane;..."``, bot count, speed, lane changes; DRfC's defaults).
    - ``reverse``: drive the track backwards (``params["is_reversed"]``).
    - ``first_call_step``: 2 (current simulator) or 1 (pre-2021).
    - ``stack_size``: camera frames per observation (hyperparameters.json ``stack_size``).
    - ``start``, ``round_robin_advance``: start positions (above).
    - ``time_limit_s``: truncation time, or None.
    - ``lidar_config``: model_metadata ``lidar_config`` for the sector lidars.
    - ``simtrace_path``: write a sim-trace CSV for this run (a new file; see
      :mod:`apexrl.deepracer.simtrace`).
    - ``car_params``: the car's :class:`~apexrl.vehicles.params.CarParams`.

    ## Version History
    - v0: initial version.
    """

    metadata = {"render_modes": [], "render_fps": 15}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"DeepRacerEnv has no render modes, got render_mode={render_mode!r}")
        self.render_mode = None
        self.batch = DeepRacerBatch(1, **kwargs)
        self.observation_space = self.batch.observation_space
        self.action_space = _gym_action_space(self.batch.dr_action_space)
        self._needs_reset = True

    @property
    def dr_action_space(self) -> ActionSpace:
        return self.batch.dr_action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        if options:
            raise ValueError(f"DeepRacerEnv.reset takes no options, got {sorted(options)}")
        self.batch.reset(np.array([0]), [self.np_random])
        self._needs_reset = False
        return self._obs(), self._info()

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode ends)")
        if isinstance(self.dr_action_space, DiscreteActionSpace):
            a = np.array([int(action)])
        else:
            a = np.asarray(action, dtype=np.float64).reshape(1, 2)
        reward, terminated, truncated = self.batch.step(a)
        self._needs_reset = bool(terminated[0] or truncated[0])
        return (
            self._obs(),
            float(reward[0]),
            bool(terminated[0]),
            bool(truncated[0]),
            self._info(),
        )

    def last_params(self) -> dict[str, Any]:
        """The params dict the reward function got (or would have got) at the last step."""
        if self.batch.last_params is None:
            raise RuntimeError("no params yet: step the environment with a reward function")
        return self.batch.last_params.params(0)

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v[0].copy() for k, v in self.batch.obs.items()}

    def _info(self) -> dict[str, Any]:
        b = self.batch
        return {
            "episode_status": STATUSES[int(b.status[0])],
            "progress": float(np.clip(b.rules.progress[0], 0.0, 100.0)),
            "steps": int(b.rules.steps[0]),
            "sim_time_s": float(b.rules.steps[0] * b.rules.dt_s),
        }

    def close(self) -> None:
        self.batch.close()


def _gym_action_space(space: ActionSpace) -> spaces.Space:
    if isinstance(space, DiscreteActionSpace):
        return spaces.Discrete(len(space))
    return spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)


class DeepRacerVectorEnv(VectorEnv):
    """``num_envs`` DeepRacer cars stepped together in one process (same-step autoreset).

    Every argument of :class:`DeepRacerEnv` applies to all cars. ``reset(seed=s)`` seeds car i
    with ``s + i``: car i then drives exactly as ``DeepRacerEnv`` reset with seed ``s + i`` and
    given the same actions. A car whose episode ends is reset in the same step: the returned
    observation is the new episode's first, the last one is in ``infos["final_obs"]`` and its
    info in ``infos["final_info"]`` (masks ``infos["_final_obs"]``).

    The sim-trace (``simtrace_path``) holds all cars' rows in one file, car order within each
    step, with episodes numbered in the order they started.
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = num_envs
        self.batch = DeepRacerBatch(num_envs, **kwargs)
        self.single_observation_space = self.batch.observation_space
        self.single_action_space = _gym_action_space(self.batch.dr_action_space)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self._rngs: list[np.random.Generator] | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        if options:
            raise ValueError(f"DeepRacerVectorEnv.reset takes no options, got {sorted(options)}")
        if seed is not None:
            self._rngs = [seeding.np_random(seed + i)[0] for i in range(self.num_envs)]
        elif self._rngs is None:
            self._rngs = [
                np.random.default_rng(s) for s in np.random.SeedSequence().spawn(self.num_envs)
            ]
        self.batch.reset(np.arange(self.num_envs), self._rngs)
        return self._obs(), self._infos()

    def step(
        self, actions: Any
    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._rngs is None:
            raise RuntimeError("call reset() before step()")
        reward, terminated, truncated = self.batch.step(actions)
        infos = self._infos()
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            mask = np.zeros(self.num_envs, dtype=bool)
            mask[done] = True
            final_obs = np.empty(self.num_envs, dtype=object)
            final_info = np.empty(self.num_envs, dtype=object)
            for b in done.tolist():
                final_obs[b] = {k: v[b].copy() for k, v in self.batch.obs.items()}
                final_info[b] = {
                    k: (v[b].item() if isinstance(v, np.ndarray) else v)
                    for k, v in infos.items()
                    if not k.startswith("_")
                }
            infos.update(
                final_obs=final_obs, _final_obs=mask, final_info=final_info, _final_info=mask
            )
            self.batch.reset(done, [self._rngs[b] for b in done.tolist()])
        return self._obs(), reward, terminated.copy(), truncated.copy(), infos

    def _obs(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self.batch.obs.items()}

    def _infos(self) -> dict[str, Any]:
        b = self.batch
        every = np.ones(self.num_envs, dtype=bool)
        return {
            "episode_status": np.array([STATUSES[s] for s in b.status.tolist()]),
            "_episode_status": every,
            "progress": np.clip(b.rules.progress, 0.0, 100.0),
            "_progress": every.copy(),
            "steps": b.rules.steps.copy(),
            "_steps": every.copy(),
            "sim_time_s": b.rules.steps * b.rules.dt_s,
            "_sim_time_s": every.copy(),
        }

    def close_extras(self, **kwargs: Any) -> None:
        self.batch.close()
