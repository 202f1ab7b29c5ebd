"""The haptic-coaching environment, batched: B riders in one simulator, one numba call per stage.

:class:`CoachBatch` is THE implementation of the motorcycle coaching task (observation, cue
decoding, rider, physics, reward, episode end); :class:`MotoCoachVectorEnv` (a native Gymnasium
``VectorEnv``), :class:`apexrl.envs.moto_coach.MotoCoachEnv` (a batch of one) and the PettingZoo
env :mod:`apexrl.envs.coaching_parallel` are views over it. The task itself is documented in
:class:`~apexrl.envs.moto_coach.MotoCoachEnv`.

A step of the batch: actions ``(B, 3)`` -> cues in Hz -> :class:`~apexrl.riders.RiderBatch` (one
numba kernel) -> :class:`~apexrl.sim.BatchSim` step (one numba kernel) -> observation, reward
terms and episode flags (one numba kernel). No Python loop runs over environments, except to
restart the (few) environments whose episode ended, because each restart draws a new rider from
that environment's own generator.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

import numba as nb
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from apexrl.riders import haptics as hp
from apexrl.riders.oracle import OracleCoach
from apexrl.riders.profile import TrackProfile, distance_to_next_apex
from apexrl.riders.profile import track_profile as _track_profile
from apexrl.riders.rider import RiderBatch, RiderParams, sample_rider
from apexrl.sim import BatchSim
from apexrl.tracks.geometry import interp_periodic
from apexrl.tracks.library import load_track
from apexrl.tracks.track import Track
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import MotorcycleParams

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

OBSERVATION_NAMES = (
    "velocity",
    "roll_angle",
    "lateral_g",
    "distance_to_apex",
    "throttle_position",
    "brake_pressure",
    "racing_line_deviation",
    "tire_friction_usage",
)
"""The 8 telemetry channels, in observation order (units: m/s, deg, g, m, 1, 1, m, 1)."""
OBSERVATION_LOW = np.array([0.0, -60.0, -2.0, 0.0, 0.0, 0.0, -10.0, 0.0], dtype=np.float32)
OBSERVATION_HIGH = np.array([100.0, 60.0, 2.0, 500.0, 1.0, 1.0, 10.0, 1.0], dtype=np.float32)
MAX_LAP_HARMONICS = 32
"""Most lap-position harmonics an env accepts (``lap_harmonics``)."""


def lap_feature_names(harmonics: int) -> tuple[str, ...]:
    """Names of the lap-position channels appended after the 8 telemetry channels:
    ``lap_sin_1 .. lap_sin_K, lap_cos_1 .. lap_cos_K``."""
    k = range(1, int(harmonics) + 1)
    return tuple(f"lap_sin_{i}" for i in k) + tuple(f"lap_cos_{i}" for i in k)


def lap_features(s_m: np.ndarray, length_m: float, harmonics: int) -> np.ndarray:
    """Lap-position channels ``(N, 2K)`` float32 of arc lengths ``s_m (N,)``:
    ``sin(2 pi k s / L)`` for k = 1..K, then ``cos(2 pi k s / L)``. What a GPS lap timer's lap
    distance gives a coach: WHICH corner comes next, which the 8 telemetry channels cannot tell
    (distance to the next apex is the same number before every corner)."""
    s = np.mod(np.asarray(s_m, dtype=np.float64).reshape(-1), float(length_m))
    phase = (2.0 * np.pi / float(length_m)) * s[:, None] * np.arange(1, int(harmonics) + 1)
    return np.concatenate([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)


def episode_with_lap(episode: Any, observations: np.ndarray, length_m: float, harmonics: int,
                     source: str) -> np.ndarray:  # fmt: skip
    """``observations (T, 8)`` of a recorded ``episode`` with its lap-position channels appended,
    from the episode's lap distance ``infos["s_m"]`` (its first T entries); a ``ValueError``
    naming ``source`` when the episode has none."""
    s = (getattr(episode, "infos", None) or {}).get("s_m")
    if s is None or len(s) < len(observations):
        raise ValueError(f"{source} has an episode without lap distance (infos['s_m']), which "
                         "a lap-position coach needs")  # fmt: skip
    feats = lap_features(np.asarray(s)[: len(observations)], length_m, harmonics)
    return np.concatenate([observations, feats], axis=1)


def check_lap_harmonics(harmonics: Any) -> int:
    """``harmonics`` as an int in [0, MAX_LAP_HARMONICS], else a ``ValueError``."""
    if (
        isinstance(harmonics, bool)
        or not isinstance(harmonics, int | np.integer)
        or not 0 <= harmonics <= MAX_LAP_HARMONICS
    ):
        raise ValueError(
            f"lap_harmonics must be an integer from 0 (the 8 telemetry channels only) to "
            f"{MAX_LAP_HARMONICS}, got {harmonics!r}"
        )
    return int(harmonics)


def observation_box(harmonics: int = 0) -> spaces.Box:
    """The coaching observation space: the 8 telemetry channels, then ``2 * harmonics``
    lap-position channels in [-1, 1] (:func:`lap_features`)."""
    k = check_lap_harmonics(harmonics)
    ones = np.ones(2 * k, dtype=np.float32)
    return spaces.Box(np.concatenate([OBSERVATION_LOW, -ones]),
                      np.concatenate([OBSERVATION_HIGH, ones]), dtype=np.float32)  # fmt: skip


ACTION_NAMES = ("haptic_left_intensity", "haptic_right_intensity", "haptic_frequency")
REWARD_TERMS = ("progress", "lap_time", "safety", "crash", "action")
"""Names of the reward terms, in the order they are summed."""
SAFE_LATERAL_G = 1.8
"""A step is safe while |lateral_g| stays below this ..."""
SAFE_FRICTION_USAGE = 0.95
"""... and the tyre friction usage below this (and the rider did not crash)."""
FrequencyUnits = Literal["normalized", "hz"]


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (:data:`REWARD_TERMS`); the task doc gives the formulas."""

    progress: float = 1.0
    """Per step: laps gained x (optimal lap time / dt): 1.0 at the optimal lap's average pace."""
    lap_time: float = 10.0
    """On completing a lap: optimal lap time / lap time (1.0 for an optimal lap)."""
    safety: float = 0.1
    """Per safe step (|lateral_g| < 1.8, friction usage < 0.95, no crash)."""
    crash: float = 10.0
    """Subtracted on the step the rider crashes (lowside or off the track)."""
    action: float = 0.05
    """Cue regularisation: subtracted times (left^2 + right^2) / 2."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"RewardWeights.{f.name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"RewardWeights.{f.name} must be finite and >= 0, got {value!r}")

    def as_array(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in REWARD_TERMS], dtype=np.float64)


RiderSpec = str | RiderParams
"""A rider preset name (a new rider is drawn every episode) or fixed :class:`RiderParams`."""


# ---------------------------------------------------------------------- kernels
@nb.njit(**_NUMBA)
def _cues_kernel(actions: np.ndarray, in_hz: bool, out: np.ndarray) -> bool:
    """Actions ``(B, 3)`` -> cues ``out (B, 3)`` [left, right, Hz], clipped; False if any action
    is not finite (``out`` is then unspecified)."""
    span = hp.FREQ_MAX_HZ - hp.FREQ_MIN_HZ
    for b in range(actions.shape[0]):
        for k in range(3):
            if not math.isfinite(actions[b, k]):
                return False
        out[b, 0] = min(max(actions[b, 0], 0.0), 1.0)
        out[b, 1] = min(max(actions[b, 1], 0.0), 1.0)
        f = actions[b, 2] if in_hz else hp.FREQ_MIN_HZ + span * actions[b, 2]
        out[b, 2] = min(max(f, hp.FREQ_MIN_HZ), hp.FREQ_MAX_HZ)
    return True


@nb.njit(**_NUMBA)
def _observe_row(
    b: int,
    state: np.ndarray,
    throttle: np.ndarray,
    brake: np.ndarray,
    off_line: np.ndarray,
    apex_s: np.ndarray,
    ds: float,
    length: float,
    g: float,
    lo: np.ndarray,
    hi: np.ndarray,
    obs: np.ndarray,
) -> None:
    s = state[b, moto.S_M]
    values = (
        state[b, moto.SPEED_MPS],
        math.degrees(state[b, moto.ROLL_RAD]),
        state[b, moto.AY_MPS2] / g,
        distance_to_next_apex(s, apex_s, length),
        throttle[b],
        brake[b],
        state[b, moto.N_M] - interp_periodic(off_line, s, ds, True),
        state[b, moto.FRICTION_USAGE],
    )
    for k in range(8):
        obs[b, k] = min(max(values[k], lo[k]), hi[k])


@nb.njit(**_NUMBA)
def _observe_kernel(
    rows: np.ndarray,
    state: np.ndarray,
    throttle: np.ndarray,
    brake: np.ndarray,
    off_line: np.ndarray,
    apex_s: np.ndarray,
    ds: float,
    length: float,
    g: float,
    lo: np.ndarray,
    hi: np.ndarray,
    obs: np.ndarray,
) -> None:
    for b in rows:
        _observe_row(b, state, throttle, brake, off_line, apex_s, ds, length, g, lo, hi, obs)


@nb.njit(**_NUMBA)
def _post_step_kernel(
    active: np.ndarray,
    state: np.ndarray,
    throttle: np.ndarray,
    brake: np.ndarray,
    progress: np.ndarray,
    lap_count: np.ndarray,
    last_lap_s: np.ndarray,
    lap_done: np.ndarray,
    crashed: np.ndarray,
    cues: np.ndarray,
    prev_progress: np.ndarray,
    prev_crashed: np.ndarray,
    steps: np.ndarray,
    violations: np.ndarray,
    off_line: np.ndarray,
    apex_s: np.ndarray,
    ds: float,
    length: float,
    g: float,
    lo: np.ndarray,
    hi: np.ndarray,
    t_opt: float,
    dt: float,
    laps: int,
    max_steps: int,
    w: np.ndarray,
    obs: np.ndarray,
    reward: np.ndarray,
    terms: np.ndarray,
    terminated: np.ndarray,
    truncated: np.ndarray,
    lap_time: np.ndarray,
) -> None:
    """Observation, reward terms (order of REWARD_TERMS) and episode flags of every active row."""
    for b in range(state.shape[0]):
        if not active[b]:
            continue
        _observe_row(b, state, throttle, brake, off_line, apex_s, ds, length, g, lo, hi, obs)
        steps[b] += 1
        crash = crashed[b]  # a lowside or off the track (tracks are closed: no track end)
        crash_now = crash and not prev_crashed[b]
        prev_crashed[b] = crashed[b]
        t_progress = w[0] * (progress[b] - prev_progress[b]) * t_opt / dt
        prev_progress[b] = progress[b]
        t_lap = 0.0
        lap_time[b] = 0.0
        if lap_done[b] and last_lap_s[b] > 0.0:
            lap_time[b] = last_lap_s[b]
            t_lap = w[1] * t_opt / last_lap_s[b]
        safe = (
            abs(state[b, moto.AY_MPS2] / g) < SAFE_LATERAL_G
            and state[b, moto.FRICTION_USAGE] < SAFE_FRICTION_USAGE
            and not crash_now
        )
        if not safe:
            violations[b] += 1
        t_safety = w[2] if safe else 0.0
        t_crash = -w[3] if crash_now else 0.0
        left = min(max(cues[b, 0], 0.0), 1.0)
        right = min(max(cues[b, 1], 0.0), 1.0)
        t_action = -w[4] * 0.5 * (left * left + right * right)
        terms[b, 0] = t_progress
        terms[b, 1] = t_lap
        terms[b, 2] = t_safety
        terms[b, 3] = t_crash
        terms[b, 4] = t_action
        reward[b] = t_progress + t_lap + t_safety + t_crash + t_action
        terminated[b] = crash
        truncated[b] = not crash and (lap_count[b] >= laps or steps[b] >= max_steps)


# ---------------------------------------------------------------------- the batched task
class CoachBatch:
    """B independent haptic-coaching episodes on one track (see the module docstring).

    Args:
        num_envs: batch size B.
        track: a track spec for :func:`apexrl.tracks.library.load_track` or a Track (closed).
        rider: one :data:`RiderSpec` for every env, or a sequence of B of them.
        bike: the motorcycle; default ``MotorcycleParams()``.
        max_episode_s: time limit per episode, s; None = 3 x laps x the QSS optimal lap time.
        laps: laps per episode (the episode is truncated when the last one completes).
        reward_weights: default :class:`RewardWeights`.
        frequency_units: ``"normalized"`` (action 3 in [0, 1], mapped linearly onto 50-300 Hz) or
            ``"hz"`` (action 3 in [50, 300] Hz).
        lap_harmonics: K > 0 appends ``2K`` lap-position channels to the observation
            (:func:`lap_features`); 0 (default) = the 8 telemetry channels.
    """

    def __init__(
        self,
        num_envs: int,
        *,
        track: str | os.PathLike | Track = "apex_park",
        rider: RiderSpec | Sequence[RiderSpec] = "amateur",
        bike: MotorcycleParams | None = None,
        max_episode_s: float | None = None,
        laps: int = 1,
        reward_weights: RewardWeights | None = None,
        frequency_units: FrequencyUnits = "normalized",
        lap_harmonics: int = 0,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        if isinstance(laps, bool) or not isinstance(laps, int | np.integer) or laps < 1:
            raise ValueError(f"laps must be a positive integer, got {laps!r}")
        if frequency_units not in ("normalized", "hz"):
            raise ValueError(
                f"frequency_units must be 'normalized' or 'hz', got {frequency_units!r}"
            )
        self.num_envs = b = int(num_envs)
        self.riders_spec = _rider_specs(rider, b)
        self.track = load_track(track)
        self.bike = MotorcycleParams() if bike is None else bike
        self.profile = _track_profile(self.track, self.bike)
        self.sim = BatchSim(self.track, "motorcycle", params=self.bike, batch_size=b)
        self.riders = RiderBatch(self.sim, self.profile)
        self.oracle = OracleCoach(self.profile)
        self.dt_s = self.sim.dt_s
        self.laps = int(laps)
        if max_episode_s is None:
            max_episode_s = 3.0 * self.laps * self.profile.optimal_lap_time_s
        if not (
            isinstance(max_episode_s, int | float)
            and math.isfinite(max_episode_s)
            and max_episode_s > 0
        ):
            raise ValueError(f"max_episode_s must be a positive number, got {max_episode_s!r}")
        self.max_episode_s = float(max_episode_s)
        self.max_steps = max(int(math.ceil(self.max_episode_s / self.dt_s - 1e-9)), 1)
        self.reward_weights = RewardWeights() if reward_weights is None else reward_weights
        self.frequency_units = frequency_units

        self.lap_harmonics = check_lap_harmonics(lap_harmonics)
        self.observation_space = observation_box(self.lap_harmonics)
        f_lo, f_hi = (
            (0.0, 1.0) if frequency_units == "normalized" else (hp.FREQ_MIN_HZ, hp.FREQ_MAX_HZ)
        )
        self.action_space = spaces.Box(
            np.array([0.0, 0.0, f_lo], dtype=np.float32),
            np.array([1.0, 1.0, f_hi], dtype=np.float32),
            dtype=np.float32,
        )
        self.obs = np.zeros((b, 8 + 2 * self.lap_harmonics), dtype=np.float32)
        self.reward = np.zeros(b)
        self.terms = np.zeros((b, len(REWARD_TERMS)))
        self.terminated = np.zeros(b, dtype=np.bool_)
        self.truncated = np.zeros(b, dtype=np.bool_)
        self.lap_time_s = np.zeros(b)
        self.steps = np.zeros(b, dtype=np.int64)
        self.violations = np.zeros(b, dtype=np.int64)
        self._prev_progress = np.zeros(b)
        self._prev_crashed = np.zeros(b, dtype=np.bool_)
        self._cues = np.zeros((b, 3))
        self._cues[:, 2] = hp.NEUTRAL_HZ
        self._all = np.ones(b, dtype=np.bool_)
        p = self.profile
        self._geo = (
            p.line_offset_m,
            p.apex_s_m,
            self.track.ds_m,
            self.track.length_m,
            self.bike.g_mps2,
            OBSERVATION_LOW.astype(np.float64),
            OBSERVATION_HIGH.astype(np.float64),
        )
        self._post_args = (
            p.optimal_lap_time_s,
            self.dt_s,
            self.laps,
            self.max_steps,
            self.reward_weights.as_array(),
        )

    @property
    def rider_params(self) -> tuple[RiderParams | None, ...]:
        """The current episode's rider of every env (None before its first reset)."""
        return tuple(self.riders.params)

    def reset(self, indices: np.ndarray, rngs: Sequence[np.random.Generator]) -> None:
        """Start new episodes for envs ``indices (K,)``, drawing from their generators ``rngs``."""
        idx = np.asarray(indices, dtype=np.int64)
        params = [_draw_rider(self.riders_spec[i], rng) for i, rng in zip(idx, rngs, strict=True)]
        self.riders.start(idx, params, list(rngs))
        self.steps[idx] = 0
        self.violations[idx] = 0
        self._prev_progress[idx] = 0.0
        self._prev_crashed[idx] = False
        self.reward[idx] = 0.0
        self.terms[idx] = 0.0
        self.terminated[idx] = False
        self.truncated[idx] = False
        self.lap_time_s[idx] = 0.0
        tel = self.sim.telemetry
        _observe_kernel(idx, self.sim.state, tel.throttle, tel.brake, *self._geo, self.obs)
        self._observe_lap(idx)

    def _observe_lap(self, rows: np.ndarray) -> None:
        if self.lap_harmonics:
            s = self.sim.state[rows, moto.S_M]
            self.obs[rows, 8:] = lap_features(s, self.track.length_m, self.lap_harmonics)

    def step(self, actions: np.ndarray, active: np.ndarray | None = None) -> None:
        """Advance every env (or those with ``active[b]``) by one control step; results are in
        ``obs``, ``reward``, ``terms``, ``terminated``, ``truncated``, ``lap_time_s``."""
        active = self._all if active is None else active
        cues = self.cues_hz(actions)
        self.sim.step(self.riders.act(cues, active))
        tel = self.sim.telemetry
        _post_step_kernel(
            active,
            self.sim.state,
            tel.throttle,
            tel.brake,
            tel.progress,
            tel.lap_count,
            tel.last_lap_time_s,
            tel.lap_completed,
            tel.crashed,
            cues,
            self._prev_progress,
            self._prev_crashed,
            self.steps,
            self.violations,
            *self._geo,
            *self._post_args,
            self.obs,
            self.reward,
            self.terms,
            self.terminated,
            self.truncated,
            self.lap_time_s,
        )
        if self.lap_harmonics:
            self._observe_lap(np.flatnonzero(active))

    def cues_hz(self, actions: np.ndarray) -> np.ndarray:
        """Actions ``(B, 3)`` in the action space's units -> cues ``(B, 3)`` [left, right, Hz]
        (clipped into range); a wrong shape or a non-finite value is a ``ValueError``."""
        a = np.asarray(actions)
        if a.shape != (self.num_envs, 3) or a.dtype.kind not in "fiu":
            raise ValueError(
                f"actions must be a numeric array of shape ({self.num_envs}, 3) = "
                f"[{', '.join(ACTION_NAMES)}], got {a.dtype} {a.shape}"
            )
        if not _cues_kernel(
            a.astype(np.float64, copy=False), self.frequency_units == "hz", self._cues
        ):
            raise ValueError("actions must be finite")
        return self._cues

    def oracle_action(self) -> np.ndarray:
        """The oracle coach's cue for every env's current state, ``(B, 3)`` float32 in the
        action space's units (each rider's latency, line bias and grip are known to the oracle)."""
        r = self.riders
        cues = self.oracle.act(
            self.sim.telemetry,
            r.haptic_latency_s + hp.RESPONSE_TAU_S,
            line_bias=r.line_bias,
            grip_fraction=r.grip_fraction,
        )
        if self.frequency_units == "normalized":
            cues[:, 2] = hp.frequency_to_unit(cues[:, 2])
        out = cues.astype(np.float32)
        return np.clip(out, self.action_space.low, self.action_space.high)

    def infos(self, mask: np.ndarray | None = None) -> dict[str, Any]:
        """Batched Gymnasium info (arrays + ``_key`` masks) of the rows in ``mask`` (default all);
        rows outside the mask hold zeros, as ``VectorEnv._add_info`` leaves them."""
        m = self._all.copy() if mask is None else np.asarray(mask, dtype=np.bool_).copy()

        def pick(values: np.ndarray) -> np.ndarray:
            return np.where(m, values, np.zeros((), dtype=values.dtype))

        terms: dict[str, Any] = {}
        for k, name in enumerate(REWARD_TERMS):
            terms[name] = pick(self.terms[:, k])
            terms[f"_{name}"] = m.copy()
        return {
            "reward_terms": terms,
            "_reward_terms": m.copy(),
            "safety_violations": pick(self.violations),
            "_safety_violations": m.copy(),
            "crash_cause": pick(self.sim.telemetry.crash_cause.astype(np.int64)),
            "_crash_cause": m.copy(),
            "lap_completed": pick(self.lap_time_s > 0.0),
            "_lap_completed": m.copy(),
            "lap_time_s": pick(self.lap_time_s),
            "_lap_time_s": m,
        }

    def info(self, b: int) -> dict[str, Any]:
        """The info dict of env ``b`` with Python scalars (what a single env returns)."""
        return {
            "reward_terms": {name: float(self.terms[b, k]) for k, name in enumerate(REWARD_TERMS)},
            "safety_violations": int(self.violations[b]),
            "crash_cause": int(self.sim.telemetry.crash_cause[b]),
            "lap_completed": bool(self.lap_time_s[b] > 0.0),
            "lap_time_s": float(self.lap_time_s[b]),
        }


def _rider_specs(rider: RiderSpec | Sequence[RiderSpec], n: int) -> list[RiderSpec]:
    specs = [rider] * n if isinstance(rider, str | RiderParams) else list(rider)
    if len(specs) != n:
        raise ValueError(f"give one rider or {n} riders (one per env), got {len(specs)}")
    for spec in specs:
        if isinstance(spec, str):
            _draw_rider(spec, np.random.default_rng(0))  # validates the preset name
        elif not isinstance(spec, RiderParams):
            raise TypeError(f"a rider is a preset name or RiderParams, got {type(spec).__name__}")
    return specs


def _draw_rider(spec: RiderSpec, rng: np.random.Generator) -> RiderParams:
    return sample_rider(spec, rng) if isinstance(spec, str) else spec


# ---------------------------------------------------------------------- Gymnasium vector env
class MotoCoachVectorEnv(VectorEnv):
    """``num_envs`` copies of ``apexrl/MotoCoach-v0`` stepped together (one simulator, one rider
    batch, no per-env Python objects). The task, spaces and reward are documented in
    :class:`apexrl.envs.moto_coach.MotoCoachEnv`; env ``i`` here behaves exactly like a
    ``MotoCoachEnv`` reset with the i-th seed (bit for bit).

    Gymnasium 1.x semantics: ``single_observation_space`` ``Box(8,)``, ``observation_space``
    ``Box(num_envs, 8)``, likewise for actions; ``reset(seed=int)`` seeds env i with ``seed + i``
    (a list gives one seed per env); ``options={"reset_mask": mask}`` resets only some envs.
    Autoreset (``metadata["autoreset_mode"]``): ``NEXT_STEP`` (default) returns the final
    observation at the end of an episode and resets on the next ``step``, ignoring that env's action
    and returning reward 0, not terminated, not truncated and the reset info; ``SAME_STEP`` resets
    immediately, returns the reset observation and puts the final one in ``info["final_obs"]`` (and
    the final info in ``info["final_info"]``), as Gymnasium's ``SyncVectorEnv`` does.

    Infos are batched (arrays plus ``_key`` masks): ``reward_terms`` (a dict of the named terms),
    ``safety_violations``, ``crash_cause`` (:class:`apexrl.sim.CrashCause` code), ``lap_completed``
    and ``lap_time_s`` (0.0 unless a lap completed in that step).

    Args:
        num_envs: number of environments.
        track, rider, bike, max_episode_s, laps, reward_weights, frequency_units,
            lap_harmonics: as for :class:`~apexrl.envs.moto_coach.MotoCoachEnv`; ``rider`` may
            also be a sequence with one :data:`RiderSpec` per env.
        seed: seeds the first reset that gets no seed (env i: ``seed + i``).
        autoreset_mode: ``AutoresetMode.NEXT_STEP`` or ``AutoresetMode.SAME_STEP``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        *,
        track: str | os.PathLike | Track = "apex_park",
        rider: RiderSpec | Sequence[RiderSpec] = "amateur",
        seed: int | None = None,
        max_episode_s: float | None = None,
        laps: int = 1,
        bike: MotorcycleParams | None = None,
        reward_weights: RewardWeights | None = None,
        frequency_units: FrequencyUnits = "normalized",
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        lap_harmonics: int = 0,
    ) -> None:
        mode = AutoresetMode(autoreset_mode)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {mode}")
        self.core = CoachBatch(
            num_envs,
            track=track,
            rider=rider,
            bike=bike,
            max_episode_s=max_episode_s,
            laps=laps,
            reward_weights=reward_weights,
            frequency_units=frequency_units,
            lap_harmonics=lap_harmonics,
        )
        self.num_envs = self.core.num_envs
        self.metadata = {"render_modes": [], "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = None
        self.single_observation_space = self.core.observation_space
        self.single_action_space = self.core.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._initial_seeds = None if seed is None else [seed + i for i in range(self.num_envs)]
        self._autoreset = np.zeros(self.num_envs, dtype=np.bool_)
        self._needs_reset = True

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = self._initial_seeds or [None] * n
            self._initial_seeds = None
        elif isinstance(seed, int | np.integer):
            seeds = [int(seed) + i for i in range(n)]
            self._np_random, self._np_random_seed = seeding.np_random(int(seed))
        else:
            seeds = list(seed)
            if len(seeds) != n:
                raise ValueError(f"give one seed per env ({n}), got {len(seeds)}")
        mask = np.ones(n, dtype=np.bool_)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (n,) or not mask.any():
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({n},) with a True"
                )
        idx = np.flatnonzero(mask)
        for i in idx:
            if seeds[i] is not None or self._rngs[i] is None:
                self._rngs[i] = seeding.np_random(seeds[i])[0]
        self.core.reset(idx, [self._rngs[i] for i in idx])
        self._autoreset[idx] = False
        self._needs_reset = False
        return self.core.obs.copy(), self.core.infos(mask)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        core = self.core
        if self.autoreset_mode == AutoresetMode.NEXT_STEP:
            restart = self._autoreset
            if restart.any():
                core.step(actions, ~restart)
                self._restart(np.flatnonzero(restart))
            else:
                core.step(actions)
            infos = core.infos()
            self._autoreset = core.terminated | core.truncated
            return (
                core.obs.copy(),
                core.reward.copy(),
                core.terminated.copy(),
                core.truncated.copy(),
                infos,
            )
        core.step(actions)
        done = core.terminated | core.truncated
        obs, reward = core.obs.copy(), core.reward.copy()
        terminated, truncated = core.terminated.copy(), core.truncated.copy()
        if not done.any():
            return obs, reward, terminated, truncated, core.infos()
        final_obs = np.full(self.num_envs, None, dtype=object)
        for i in np.flatnonzero(done):
            final_obs[i] = obs[i].copy()
        final_info = core.infos(done)
        self._restart(np.flatnonzero(done))
        obs = core.obs.copy()
        infos = core.infos()
        infos.update(
            final_obs=final_obs,
            _final_obs=done.copy(),
            final_info=final_info,
            _final_info=done.copy(),
        )
        return obs, reward, terminated, truncated, infos

    def _restart(self, idx: np.ndarray) -> None:
        self.core.reset(idx, [self._rngs[i] for i in idx])

    # ------------------------------------------------------------------ apexrl extras
    def oracle_action(self) -> np.ndarray:
        """The oracle coach's cue for the CURRENT state of every env, ``(num_envs, 3)`` float32 in
        the action space's units (:class:`apexrl.riders.OracleCoach`)."""
        return self.core.oracle_action()

    @property
    def rider_params(self) -> tuple[RiderParams | None, ...]:
        """The rider of every env's current episode (:class:`RiderParams`)."""
        return self.core.rider_params

    @property
    def profile(self) -> TrackProfile:
        """The track's :class:`apexrl.riders.TrackProfile` (racing line, optimal lap, apexes)."""
        return self.core.profile

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """``name`` for every env: per-env values for ``rider_params``, else the shared value."""
        if name == "rider_params":
            return self.rider_params
        return (getattr(self, name),) * self.num_envs

    def set_attr(self, name: str, values: Any) -> None:
        """Set a shared attribute; per-env values must all be equal (the envs share one object)."""
        if isinstance(values, list | tuple):
            if len(values) != self.num_envs:
                raise ValueError(f"give one value per env ({self.num_envs}), got {len(values)}")
            if any(v != values[0] for v in values[1:]):
                raise ValueError(f"{name!r} is shared by all envs; the values must be equal")
            values = values[0]
        setattr(self, name, values)

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call (or read) ``name`` once for the batch; a result with one row per env is split per
        env, anything else is shared by every env."""
        attr = getattr(self, name)
        result = attr(*args, **kwargs) if callable(attr) else attr
        if isinstance(result, np.ndarray | list | tuple) and len(result) == self.num_envs:
            return tuple(result)
        return (result,) * self.num_envs
