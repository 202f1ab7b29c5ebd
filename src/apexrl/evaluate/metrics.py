"""Lap metrics of a coach: batched evaluation rollouts and the original pipeline's numbers.

:func:`run_episodes` runs ``episodes`` lap attempts at once in a
:class:`~apexrl.envs.vector.MotoCoachVectorEnv` (env ``i`` seeded ``seed + i``, so the same
seed gives every coach the same riders, noise and misread draws) and records each env's FIRST
episode; :func:`lap_metrics` turns the records into the original pipeline's metrics:

- ``lap_time_mean_s`` / ``lap_time_std_s`` / ``lap_time_min_s`` / ``lap_time_max_s``: over the
  completed laps (None when no lap was completed; std is the population std);
- ``reward_mean``: mean undiscounted episode return;
- ``success_rate``: fraction of episodes that completed the lap without a crash;
- ``safety_violations_total`` / ``safety_violations_per_episode``: unsafe steps (|lateral g| >=
  1.8, friction usage >= 0.95, or the crash step) summed over the episodes / per episode.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

Coach = Callable[[np.ndarray, Any], np.ndarray]
"""A coach: ``(observations (N, 8) float32, env) -> actions (N, 3)`` in the env's action units."""


@dataclass(frozen=True)
class EpisodeRecord:
    """One evaluated lap attempt."""

    lap_time_s: float | None
    """Lap time, s; None when the lap was not completed (crash or time limit)."""
    crashed: bool
    crash_cause: int
    """:class:`apexrl.sim.CrashCause` code (0 none, 1 lowside, 2 off track)."""
    safety_violations: int
    reward: float
    steps: int


@dataclass(frozen=True, eq=False)
class Trace:
    """What env 0 did during its first episode, per step (T rows): for the plots."""

    s_m: np.ndarray
    """(T,) distance along the centre line, m."""
    xy_m: np.ndarray
    """(T, 2) world position, m."""
    speed_mps: np.ndarray
    """(T,) speed, m/s."""
    cues: np.ndarray
    """(T, 3) the cue given at each step: [left 0..1, right 0..1, frequency Hz]."""
    lap_time_s: float | None


@dataclass(frozen=True, eq=False)
class Rollout:
    records: list[EpisodeRecord]
    trace: Trace | None = field(default=None)


def no_cue(observations: np.ndarray, env: Any) -> np.ndarray:
    """The uncoached rider: both motors off (intensity 0; the frequency then means nothing)."""
    return np.zeros((observations.shape[0], 3), dtype=np.float32)


def oracle(observations: np.ndarray, env: Any) -> np.ndarray:
    """The oracle coach of the env (:meth:`MotoCoachVectorEnv.oracle_action`)."""
    return env.oracle_action()


def policy_coach(policy: Any) -> Coach:
    """A coach from a :class:`apexrl.train.model_io.CoachPolicy` (deterministic actions). Its
    ``env_kwargs`` attribute says what the env must observe for it (:func:`run_episodes` uses
    it); a lap-position coach refuses a track of another length."""
    from apexrl.train.model_io import check_lap_track

    metadata = getattr(policy, "metadata", {})
    checked: list[Any] = []

    def act(observations: np.ndarray, env: Any) -> np.ndarray:
        if not checked:
            check_lap_track(metadata, env.core.track.length_m)
            checked.append(env)
        return policy.predict(observations, deterministic=True)

    act.env_kwargs = dict(getattr(policy, "env_kwargs", {}))  # type: ignore[attr-defined]
    return act


def run_episodes(
    coach: Coach,
    *,
    track: Any = "apex_park",
    rider: str = "amateur",
    episodes: int = 10,
    seed: int = 42,
    trace: bool = False,
    env_kwargs: dict[str, Any] | None = None,
) -> Rollout:
    """Run one lap attempt in each of ``episodes`` envs with ``coach`` (module docstring)."""
    from apexrl.envs.vector import MotoCoachVectorEnv
    from apexrl.riders.haptics import frequency_from_unit

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    kwargs = {**getattr(coach, "env_kwargs", {}), **(env_kwargs or {})}
    env = MotoCoachVectorEnv(episodes, track=track, rider=rider, seed=seed, **kwargs)
    try:
        normalized = env.core.frequency_units == "normalized"
        obs, _ = env.reset(seed=seed)
        done = np.zeros(episodes, dtype=bool)
        reward = np.zeros(episodes)
        steps = np.zeros(episodes, dtype=np.int64)
        records: list[EpisodeRecord | None] = [None] * episodes
        rows: dict[str, list] = {"s": [], "xy": [], "v": [], "cue": []}
        tel = env.core.sim.telemetry
        while not done.all():
            actions = np.asarray(coach(obs, env), dtype=np.float32)
            obs, rewards, terminated, truncated, info = env.step(actions)
            live = ~done
            reward[live] += rewards[live]
            steps[live] += 1
            if trace and not done[0]:
                cue = np.clip(actions[0].astype(np.float64), env.single_action_space.low,
                              env.single_action_space.high)  # fmt: skip
                if normalized:
                    cue[2] = float(frequency_from_unit(cue[2]))
                rows["s"].append(float(tel.s_m[0]))
                rows["xy"].append(env.core.sim.world_xy()[0])
                rows["v"].append(float(tel.speed_mps[0]))
                rows["cue"].append(cue)
            for i in np.flatnonzero((terminated | truncated) & live):
                lap = float(info["lap_time_s"][i])
                records[i] = EpisodeRecord(
                    lap_time_s=lap if lap > 0 else None,
                    crashed=bool(terminated[i]),
                    crash_cause=int(info["crash_cause"][i]),
                    safety_violations=int(info["safety_violations"][i]),
                    reward=float(reward[i]),
                    steps=int(steps[i]),
                )
                done[i] = True
    finally:
        env.close()
    tr = None
    if trace:
        tr = Trace(
            s_m=np.asarray(rows["s"]), xy_m=np.asarray(rows["xy"]).reshape(-1, 2),
            speed_mps=np.asarray(rows["v"]), cues=np.asarray(rows["cue"]).reshape(-1, 3),
            lap_time_s=records[0].lap_time_s,
        )  # fmt: skip
    return Rollout(records=[r for r in records if r is not None], trace=tr)


def lap_metrics(records: Sequence[EpisodeRecord]) -> dict[str, Any]:
    """The original pipeline's metrics of some episodes (module docstring), JSON-ready."""
    if not records:
        raise ValueError("no episodes to compute metrics from")
    laps = np.array([r.lap_time_s for r in records if r.lap_time_s is not None], dtype=np.float64)
    success = [r.lap_time_s is not None and not r.crashed for r in records]
    violations = np.array([r.safety_violations for r in records], dtype=np.int64)

    def stat(fn) -> float | None:
        return round(float(fn(laps)), 4) if laps.size else None

    return {
        "episodes": len(records),
        "laps_completed": int(laps.size),
        "crashes": int(sum(r.crashed for r in records)),
        "lap_time_mean_s": stat(np.mean),
        "lap_time_std_s": stat(np.std),
        "lap_time_min_s": stat(np.min),
        "lap_time_max_s": stat(np.max),
        "reward_mean": round(float(np.mean([r.reward for r in records])), 4),
        "success_rate": round(float(np.mean(success)), 4),
        "safety_violations_total": int(violations.sum()),
        "safety_violations_per_episode": round(float(violations.mean()), 4),
    }


def records_to_json(records: Sequence[EpisodeRecord]) -> list[dict[str, Any]]:
    """Per-episode records as JSON (NaN-free)."""
    out = []
    for r in records:
        d = asdict(r)
        if d["lap_time_s"] is not None and not math.isfinite(d["lap_time_s"]):
            d["lap_time_s"] = None
        out.append(d)
    return out
