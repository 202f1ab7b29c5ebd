"""Two agents around one simulated rider: a trajectory planner proposes, a haptic coach cues.

PettingZoo ``ParallelEnv``; create it with :func:`apexrl.envs.coaching_parallel_v0.parallel_env`.
"""

from __future__ import annotations

import math
import os

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from apexrl.envs.vector import (
    OBSERVATION_HIGH,
    OBSERVATION_LOW,
    REWARD_TERMS,
    CoachBatch,
    RewardWeights,
    RiderSpec,
)
from apexrl.riders.profile import distance_to_next_apex
from apexrl.tracks.track import Track
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import MotorcycleParams

TRAJECTORY, COACH = "trajectory", "coach"
PREVIEW_M = (0.0, 25.0, 50.0, 100.0, 200.0)
"""Distances ahead at which the trajectory agent sees the centre line's curvature, m."""
MAX_SPEED_MPS = 90.0
"""Highest target speed the trajectory agent can propose, m/s."""
TRACKING_LATERAL_SCALE_M = 2.0
TRACKING_SPEED_SCALE_MPS = 5.0
TEAM_TERMS = ("progress", "lap_time", "safety", "crash")
"""The reward terms both agents share."""


class CoachingParallelEnv(ParallelEnv):
    """A trajectory agent and a coach agent share one simulated rider (PettingZoo Parallel API).

    ## Description

    The rider, bike, track, cues and episode are those of ``apexrl/MotoCoach-v0``
    (:class:`apexrl.envs.moto_coach.MotoCoachEnv`, same implementation). Every 50 ms:

    - ``trajectory`` proposes a line for the rider: a target lateral offset and a target speed for
      the next ``segment_m`` metres. It does not touch the rider; the coach sees the proposal.
    - ``coach`` drives the haptic device (as in MotoCoach-v0); its observation is the 8 telemetry
      channels plus the latest proposal, and it is paid for keeping the rider on the proposal.

    ## Action spaces

    - ``trajectory``: ``Box(2,)`` float32: target lateral offset in [-w, w] m (+ left of the centre
      line; w = the track's largest half-width; clipped to the local road less 1 m by the tracking
      term), target speed in [0, 90] m/s.
    - ``coach``: ``Box(3,)`` float32, MotoCoach-v0's: left and right intensity in [0, 1], frequency
      normalised in [0, 1] (50-300 Hz).

    ## Observation spaces (float32, clipped into range)

    - ``trajectory`` ``Box(14,)``: speed [0, 100] m/s, lateral offset [-w-2, w+2] m, heading
      error [-pi, pi] rad, centre-line curvature 0/25/50/100/200 m ahead [-1, 1] 1/m, racing-line
      offset at the segment end [-w, w] m, optimal speed at the segment end [0, 100] m/s, left and
      right half-widths at the segment end [0, w] m, distance to the next apex [0, 500] m, lap
      fraction [0, 1].
    - ``coach`` ``Box(10,)``: MotoCoach-v0's 8 channels, then the proposal: target offset
      [-w, w] m and target speed [0, 90] m/s.

    ## Rewards

    Both agents get the team terms of MotoCoach-v0: ``progress + lap_time + safety + crash``. The
    coach also gets MotoCoach-v0's ``action`` term and ``tracking = -tracking_weight *
    (|n - n_target| / 2 m + |v - v_target| / 5 m/s)``, its distance from the proposal.
    ``infos[agent]["reward_terms"]`` names each agent's terms; they sum to its reward.

    ## Starting state, episode end

    As MotoCoach-v0; the first proposal is the racing line's offset and optimal speed one segment
    ahead. Both agents terminate when the rider crashes and truncate at the lap end or the time
    limit; ``agents`` is then empty.

    ## Arguments

    ``track``, ``rider``, ``max_episode_s``, ``laps``, ``bike``, ``reward_weights`` as for
    MotoCoach-v0; ``segment_m`` (default 40 m) the segment a proposal is for;
    ``tracking_weight`` (default 0.05).

    ## Version History

    - v0: initial version.
    """

    metadata = {"name": "apexrl_coaching_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(
        self,
        track: str | os.PathLike | Track = "apex_park",
        rider: RiderSpec = "amateur",
        *,
        segment_m: float = 40.0,
        tracking_weight: float = 0.05,
        max_episode_s: float | None = None,
        laps: int = 1,
        bike: MotorcycleParams | None = None,
        reward_weights: RewardWeights | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"this env has no render modes, got render_mode={render_mode!r}")
        for name, value in (("segment_m", segment_m), ("tracking_weight", tracking_weight)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if segment_m <= 0:
            raise ValueError(f"segment_m must be positive, got {segment_m!r}")
        self.core = CoachBatch(
            1,
            track=track,
            rider=rider,
            bike=bike,
            max_episode_s=max_episode_s,
            laps=laps,
            reward_weights=reward_weights,
        )
        self.segment_m = float(segment_m)
        self.tracking_weight = float(tracking_weight)
        self.render_mode = None
        self.possible_agents = [TRAJECTORY, COACH]
        self.agents: list[str] = []
        track_ = self.core.track
        w = float(max(track_.w_left_m.max(), track_.w_right_m.max()))
        self.half_width_m = w
        f32 = np.float32
        self._action_spaces = {
            TRAJECTORY: spaces.Box(np.array([-w, 0.0], f32), np.array([w, MAX_SPEED_MPS], f32)),
            COACH: self.core.action_space,
        }
        traj_lo = [0.0, -w - 2.0, -math.pi, *[-1.0] * len(PREVIEW_M), -w, 0.0, 0.0, 0.0, 0.0, 0.0]
        traj_hi = [100.0, w + 2.0, math.pi, *[1.0] * len(PREVIEW_M), w, 100.0, w, w, 500.0, 1.0]
        self._observation_spaces = {
            TRAJECTORY: spaces.Box(np.array(traj_lo, f32), np.array(traj_hi, f32)),
            COACH: spaces.Box(
                np.concatenate([OBSERVATION_LOW, np.array([-w, 0.0], f32)]),
                np.concatenate([OBSERVATION_HIGH, np.array([w, MAX_SPEED_MPS], f32)]),
            ),
        }
        self._proposal = np.zeros(2)
        self._rows = np.zeros(1, dtype=np.int64)
        self._np_random: np.random.Generator | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
        if seed is not None or self._np_random is None:
            self._np_random, _ = seeding.np_random(seed)
        self.core.reset(self._rows, [self._np_random])
        self.agents = list(self.possible_agents)
        s = float(self.core.sim.state[0, moto.S_M])
        x = s + self.segment_m
        self._proposal[:] = (
            self._at(self.core.profile.line_offset_m, x),
            self._at(self.core.profile.line_speed_mps, x),
        )
        zero_team = dict.fromkeys(TEAM_TERMS, 0.0)
        infos = {
            TRAJECTORY: {"reward_terms": zero_team},
            COACH: {
                **self.core.info(0),
                "reward_terms": {**zero_team, "action": 0.0, "tracking": 0.0},
            },
        }
        return self._observations(), infos

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise RuntimeError("the episode is over; call reset()")
        proposal = np.asarray(actions[TRAJECTORY], dtype=np.float64)
        if proposal.shape != (2,) or not np.isfinite(proposal).all():
            raise ValueError(f"the trajectory action must be 2 finite numbers, got {proposal!r}")
        lo, hi = self._action_spaces[TRAJECTORY].low, self._action_spaces[TRAJECTORY].high
        self._proposal[:] = np.clip(proposal, lo, hi)
        core = self.core
        core.step(np.asarray(actions[COACH], dtype=np.float64).reshape(1, -1))

        state = core.sim.state[0]
        n_target = self._target_offset(float(state[moto.S_M]))
        tracking = -self.tracking_weight * (
            abs(state[moto.N_M] - n_target) / TRACKING_LATERAL_SCALE_M
            + abs(state[moto.SPEED_MPS] - self._proposal[1]) / TRACKING_SPEED_SCALE_MPS
        )
        terms = dict(zip(REWARD_TERMS, (float(t) for t in core.terms[0]), strict=True))
        team = {name: terms[name] for name in TEAM_TERMS}
        coach_terms = {**team, "action": terms["action"], "tracking": float(tracking)}
        rewards = {TRAJECTORY: sum(team.values()), COACH: sum(coach_terms.values())}
        term, trunc = bool(core.terminated[0]), bool(core.truncated[0])
        infos = {
            TRAJECTORY: {"reward_terms": team},
            COACH: {**core.info(0), "reward_terms": coach_terms},
        }
        observations = self._observations()
        terminations = dict.fromkeys(self.agents, term)
        truncations = dict.fromkeys(self.agents, trunc)
        if term or trunc:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def close(self) -> None:
        pass

    # ------------------------------------------------------------------ helpers
    def _at(self, values: np.ndarray, s_m: float) -> float:
        track = self.core.track
        grid = np.append(track.s_m, track.length_m)
        return float(np.interp(s_m % track.length_m, grid, np.append(values, values[0])))

    def _target_offset(self, s_m: float) -> float:
        """The proposed offset, kept 1 m inside the road at ``s_m``."""
        track = self.core.track
        w_left, w_right = (self._at(track.w_left_m, s_m), self._at(track.w_right_m, s_m))
        return float(np.clip(self._proposal[0], 1.0 - w_right, w_left - 1.0))

    def _observations(self) -> dict[str, np.ndarray]:
        core = self.core
        state = core.sim.state[0]
        track, profile = core.track, core.profile
        s = float(state[moto.S_M])
        x = s + self.segment_m
        traj = np.array(
            [
                state[moto.SPEED_MPS],
                state[moto.N_M],
                state[moto.HEADING_ERROR_RAD],
                *(self._at(track.curvature_1pm, s + d) for d in PREVIEW_M),
                self._at(profile.line_offset_m, x),
                self._at(profile.line_speed_mps, x),
                self._at(track.w_left_m, x),
                self._at(track.w_right_m, x),
                min(
                    distance_to_next_apex(s % track.length_m, profile.apex_s_m, track.length_m),
                    500.0,
                ),
                (s % track.length_m) / track.length_m,
            ]
        )
        coach = np.concatenate([core.obs[0], self._proposal])
        out = {}
        for agent, values in ((TRAJECTORY, traj), (COACH, coach)):
            space = self._observation_spaces[agent]
            out[agent] = np.clip(values, space.low, space.high).astype(np.float32)
        return {a: out[a] for a in self.agents}
