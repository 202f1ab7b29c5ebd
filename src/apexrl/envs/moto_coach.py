"""``apexrl/MotoCoach-v0``: coach a simulated motorcycle rider through a haptic device."""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from apexrl.envs.vector import (
    CoachBatch,
    FrequencyUnits,
    RewardWeights,
    RiderSpec,
)
from apexrl.riders.profile import TrackProfile
from apexrl.riders.rider import RiderParams
from apexrl.tracks.track import Track
from apexrl.vehicles.params import MotorcycleParams


class MotoCoachEnv(gym.Env):
    """Coach a simulated motorcycle rider around a circuit with a two-motor haptic device.

    ## Description

    A rider model (:mod:`apexrl.riders`) rides a 600 cc sportbike
    (:mod:`apexrl.vehicles.motorcycle`: point mass with roll, friction ellipse, power, drag,
    wheelie/stoppie, lean and roll-rate limits) around a track. The agent is the coach: every 50 ms
    (20 Hz, the simulator's motorcycle period, 5 physics sub-steps) it reads 8 telemetry channels
    and drives the haptic device: a left and a right vibration motor and their shared frequency. The
    rider feels the cue after its haptic latency and rides differently
    (:mod:`apexrl.riders.haptics`): the side that vibrates moves its intended line and its lean
    toward that side; a low frequency (< 125 Hz) asks for more speed, a high one (> 175 Hz) to
    brake, both scaled by the intensity. Good cues bring the rider toward the racing line and a safe
    speed profile and make it faster; strong or wrong cues push it off its line or past the grip
    limit.

    Riders are drawn per episode from a preset (``"amateur"``: centre-biased line, early braking
    with occasional overshoot, 75-85 % of the optimal cornering speed, jerky, ~300 ms; ``"pro"``:
    close to the racing line, 95-98 %, smooth, ~150 ms; ranges in
    :data:`apexrl.riders.PRESET_RANGES`), or fixed with :class:`apexrl.riders.RiderParams`.
    :meth:`oracle_action` gives the cue of the oracle coach (:class:`apexrl.riders.OracleCoach`),
    the baseline a learned coach should match or beat.

    ## Action Space

    ``Box(3,)`` float32:

    | Num | Action                 | Min | Max | Unit                                          |
    |-----|------------------------|-----|-----|-----------------------------------------------|
    | 0   | haptic_left_intensity  | 0   | 1   | fraction of full vibration                    |
    | 1   | haptic_right_intensity | 0   | 1   | fraction of full vibration                    |
    | 2   | haptic_frequency       | 0   | 1   | normalised: ``f_hz = 50 + 250 * a`` (50-300 Hz) |

    With ``frequency_units="hz"`` action 2 is the frequency itself, in [50, 300] Hz. (The default
    is normalised because Gymnasium's checker and SB3 expect a Box within [-1, 1].) Values out of
    range are clipped; non-finite values raise ``ValueError``.

    ## Observation Space

    ``Box(8,)`` float32, every channel clipped into its range:

    | Num | Observation           | Min | Max | Unit | Meaning                                  |
    |-----|-----------------------|-----|-----|------|------------------------------------------|
    | 0   | velocity              | 0   | 100 | m/s  | speed                                    |
    | 1   | roll_angle            | -60 | 60  | deg  | lean, + to the left                      |
    | 2   | lateral_g             | -2  | 2   | g    | lateral acceleration, + to the left      |
    | 3   | distance_to_apex      | 0   | 500 | m    | along the track to the next apex (a)     |
    | 4   | throttle_position     | 0   | 1   | 1    | throttle applied in the last step        |
    | 5   | brake_pressure        | 0   | 1   | 1    | brake applied in the last step           |
    | 6   | racing_line_deviation | -10 | 10  | m    | offset from the racing line, + left      |
    | 7   | tire_friction_usage   | 0   | 1   | 1    | grip demand / grip available             |

    (a) Apexes are the minimum-speed points of the optimal (QSS) lap; 500 on a track without any.

    With ``lap_harmonics=K > 0`` the observation is ``Box(8 + 2K,)``: the 8 channels above, then
    the lap position (the lap distance a GPS lap timer gives) as ``sin(2 pi k s / L)`` for
    k = 1..K, then ``cos(2 pi k s / L)``, each in [-1, 1]
    (:func:`apexrl.envs.vector.lap_features`). The 8 channels cannot tell which corner comes next;
    a coach that knows it is much safer (README, "Coaching quality").

    ## Rewards

    A weighted sum of named terms (:class:`apexrl.envs.vector.RewardWeights`, defaults in
    brackets), each reported in ``info["reward_terms"]``; they add up to the reward exactly:

    - ``progress`` [1.0]: laps gained this step x ``T_opt / dt`` (1.0 per step at the average pace
      of the QSS optimal lap ``T_opt``, the lap time of :class:`apexrl.riders.TrackProfile`);
    - ``lap_time`` [10.0]: when a lap completes, ``T_opt / lap_time`` (1.0 for an optimal lap);
    - ``safety`` [0.1]: every step with ``|lateral_g| < 1.8``, friction usage < 0.95 and no crash;
    - ``crash`` [10.0]: subtracted on the step the rider crashes;
    - ``action`` [0.05]: subtracted times ``(left^2 + right^2) / 2`` (cue regularisation).

    ## Starting State

    A rolling start on the start line (``s = 0``) at the rider's target speed, on its intended line
    and heading along it, at the steady lean of that line; no cue has been felt yet. The rider's
    parameters (within the preset's ranges), its input-noise frequencies and phases and its misread
    draws come from ``self.np_random``: the same seed gives the identical episode.

    ## Episode End

    - Termination: the rider crashes: a lowside (friction usage > 1) or leaving the track
      (``info["crash_cause"]``: 1 lowside, 2 off track, :class:`apexrl.sim.CrashCause`).
    - Truncation: ``laps`` laps are completed, or the time limit ``max_episode_s`` is reached.

    ``info`` always has: ``reward_terms`` (dict), ``safety_violations`` (unsafe steps so far in
    this episode), ``crash_cause`` (int, 0 = none), ``lap_completed`` (bool) and ``lap_time_s``
    (the lap completed in this step, s; 0.0 otherwise). Reset returns the same keys.

    ## Arguments

    ```python
    gymnasium.make("apexrl/MotoCoach-v0", track="apex_park", rider="amateur", laps=1)
    ```

    - ``track``: track spec (built-in name, shape spec, file) or a :class:`~apexrl.tracks.Track`;
      a closed circuit. Default ``"apex_park"`` (3.9 km).
    - ``rider``: ``"amateur"`` (default), ``"pro"`` or fixed :class:`~apexrl.riders.RiderParams`.
    - ``max_episode_s``: time limit, s (default 3 x laps x the QSS optimal lap time).
    - ``laps``: laps per episode (default 1).
    - ``bike``: :class:`~apexrl.vehicles.params.MotorcycleParams` (default: 600 cc sportbike).
    - ``reward_weights``: :class:`~apexrl.envs.vector.RewardWeights`.
    - ``frequency_units``: ``"normalized"`` (default) or ``"hz"`` for action 2.
    - ``lap_harmonics``: lap-position harmonics K appended to the observation (default 0: none).

    The batched version is :class:`apexrl.envs.vector.MotoCoachVectorEnv`; this class is a view
    over a batch of one of the same implementation (:class:`apexrl.envs.vector.CoachBatch`).

    ## Version History

    - v0: initial version.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        track: str | os.PathLike | Track = "apex_park",
        rider: RiderSpec = "amateur",
        *,
        max_episode_s: float | None = None,
        laps: int = 1,
        bike: MotorcycleParams | None = None,
        reward_weights: RewardWeights | None = None,
        frequency_units: FrequencyUnits = "normalized",
        render_mode: str | None = None,
        lap_harmonics: int = 0,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"MotoCoachEnv has no render modes, got render_mode={render_mode!r}")
        if not isinstance(rider, str | RiderParams):
            raise TypeError(
                f"rider must be a preset name or RiderParams, got {type(rider).__name__}"
            )
        self.core = CoachBatch(
            1,
            track=track,
            rider=rider,
            bike=bike,
            max_episode_s=max_episode_s,
            laps=laps,
            reward_weights=reward_weights,
            frequency_units=frequency_units,
            lap_harmonics=lap_harmonics,
        )
        self.observation_space = self.core.observation_space
        self.action_space = self.core.action_space
        self.render_mode = None
        self._rows = np.zeros(1, dtype=np.int64)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.core.reset(self._rows, [self.np_random])
        return self.core.obs[0].copy(), self.core.info(0)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        core = self.core
        core.step(np.asarray(action, dtype=np.float64).reshape(1, -1))
        return (
            core.obs[0].copy(),
            float(core.reward[0]),
            bool(core.terminated[0]),
            bool(core.truncated[0]),
            core.info(0),
        )

    def oracle_action(self) -> np.ndarray:
        """The oracle coach's cue for the current state, ``(3,)`` float32 in action units."""
        return self.core.oracle_action()[0]

    @property
    def rider_params(self) -> RiderParams | None:
        """This episode's rider (None before the first reset)."""
        return self.core.rider_params[0]

    @property
    def profile(self) -> TrackProfile:
        """The track's :class:`apexrl.riders.TrackProfile`."""
        return self.core.profile
