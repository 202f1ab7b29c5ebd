"""Generate the pro and amateur coaching datasets: oracle-coached lap attempts as Minari datasets.

For each rider preset, a :class:`~apexrl.envs.vector.MotoCoachVectorEnv` runs ``num_envs`` riders
in parallel; every step's action is the oracle coach's cue (``env.oracle_action()``). One episode
is one lap attempt: it ends when the lap is completed or the rider crashes (terminated) or at the
env's time limit (truncated). Episodes are collected into buffers and written with Minari's own
:func:`minari.create_dataset_from_buffers` (:mod:`apexrl.data.minari_io`), so they are real
Minari datasets (observations = steps + 1 per episode) under ``output`` as Minari root.

Unbiased, reproducible episode choice: env ``i`` of ``E`` contributes exactly its first
``laps // E`` (+1 for the first ``laps % E`` envs) episodes and the dataset lists them by env,
then by order. Taking "the first ``laps`` episodes to finish" instead would over-represent short
episodes (crashes) and depend on timing. Seeds: rider preset ``k`` (its index in
:data:`RIDERS`) resets its env with ``SeedSequence([seed, k])``, so a dataset depends only on
``(seed, rider, track, laps, num_envs)`` and the same arguments give identical arrays.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.data.minari_io import (
    ACTION_FIELDS,
    CHANNEL_UNITS,
    CHANNELS,
    Episode,
    require_absent,
    stats,
    write_dataset,
)

RIDERS: tuple[str, ...] = ("pro", "amateur")
"""Rider presets with a dataset each, in seed order."""
MAX_NUM_ENVS = 100
ENV_ID = "apexrl/MotoCoach-v0"


def dataset_id(rider: str) -> str:
    """``apexrl/moto-<rider>-v0``."""
    return f"apexrl/moto-{rider}-v0"


def rider_seed(seed: int, rider: str) -> int:
    """The env seed of a rider's dataset: independent of which other riders are generated."""
    return int(np.random.SeedSequence([seed, RIDERS.index(rider)]).generate_state(1)[0])


@dataclass(frozen=True, eq=False)
class Collected:
    """Episodes of one rider and what the dataset metadata needs."""

    rider: str
    episodes: list[Episode]
    observation_space: Any
    action_space: Any
    dt_s: float
    seed: int
    num_envs: int
    autoreset_mode: str
    env_steps: int
    """Vector-env steps taken (each advances ``num_envs`` riders)."""


def collect_episodes(
    rider: str,
    laps: int,
    *,
    seed: int,
    track: str = "apex_park",
    num_envs: int | None = None,
    on_episode: Callable[[], None] | None = None,
) -> Collected:
    """Run the vector env with the oracle's cues until every env has its quota of episodes."""
    from gymnasium.vector import AutoresetMode

    from apexrl.envs.vector import MotoCoachVectorEnv

    _check_laps(laps)
    envs = min(laps, MAX_NUM_ENVS) if num_envs is None else num_envs
    if isinstance(envs, bool) or not isinstance(envs, int) or envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    envs = min(envs, laps)
    quota = np.array([laps // envs + (i < laps % envs) for i in range(envs)])
    env = MotoCoachVectorEnv(envs, track=track, rider=rider, seed=seed)
    try:
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
        if mode not in (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP):
            raise ValueError(f"unsupported autoreset mode {mode!r} of {type(env).__name__}")
        recorder = _Recorder(envs, quota, mode == AutoresetMode.SAME_STEP, on_episode)
        obs, info = env.reset(seed=seed)
        recorder.start(obs, info)
        steps = 0
        while not recorder.done:
            actions = env.oracle_action()
            obs, rewards, terms, truncs, info = env.step(actions)
            recorder.step(actions, obs, rewards, terms, truncs, info)
            steps += 1
        return Collected(
            rider=rider,
            episodes=recorder.episodes(),
            observation_space=env.single_observation_space,
            action_space=env.single_action_space,
            dt_s=float(getattr(env, "dt_s", 0.0)),
            seed=seed,
            num_envs=envs,
            autoreset_mode=str(mode.value),
            env_steps=steps,
        )
    finally:
        env.close()


class _Recorder:
    """Per-env episode buffers fed by batched steps (Gymnasium autoreset semantics)."""

    def __init__(self, envs: int, quota: np.ndarray, same_step: bool, on_episode) -> None:
        self.envs = envs
        self.quota = quota
        self.same_step = same_step
        self.on_episode = on_episode
        self.finished: list[list[Episode]] = [[] for _ in range(envs)]
        self.current: list[dict[str, list]] = [self._empty() for _ in range(envs)]
        self.resetting = np.zeros(envs, dtype=bool)

    @staticmethod
    def _empty() -> dict[str, list]:
        return {"obs": [], "act": [], "rew": [], "term": [], "trunc": [], "info": []}

    @property
    def done(self) -> bool:
        return all(len(f) >= q for f, q in zip(self.finished, self.quota, strict=True))

    def start(self, obs: np.ndarray, info: dict) -> None:
        facts = _facts(info, self.envs)
        for i in range(self.envs):
            self.current[i]["obs"].append(obs[i].copy())
            self.current[i]["info"].append(facts[i])

    def step(self, actions, obs, rewards, terms, truncs, info) -> None:
        facts = _facts(info, self.envs)
        final_obs = info.get("final_obs") if self.same_step else None
        for i in range(self.envs):
            cur = self.current[i]
            if self.resetting[i]:  # NEXT_STEP: this step only reset env i
                self.resetting[i] = False
                cur["obs"].append(obs[i].copy())
                cur["info"].append(facts[i])
                continue
            ended = bool(terms[i] or truncs[i])
            cur["act"].append(np.asarray(actions[i], dtype=np.float32).copy())
            cur["rew"].append(float(rewards[i]))
            cur["term"].append(bool(terms[i]))
            cur["trunc"].append(bool(truncs[i]))
            if ended and self.same_step:
                cur["obs"].append(np.asarray(final_obs[i]).copy())
                cur["info"].append(_facts_one(info.get("final_info"), i) or facts[i])
            else:
                cur["obs"].append(obs[i].copy())
                cur["info"].append(facts[i])
            if not ended:
                continue
            if len(self.finished[i]) < self.quota[i]:
                self.finished[i].append(_episode(cur))
                if self.on_episode is not None:
                    self.on_episode()
            self.current[i] = self._empty()
            if self.same_step:
                self.current[i]["obs"].append(obs[i].copy())
                self.current[i]["info"].append(facts[i])
            else:
                self.resetting[i] = True

    def episodes(self) -> list[Episode]:
        return [ep for per_env in self.finished for ep in per_env]


def _facts(info: dict, envs: int) -> list[dict[str, float]]:
    return [_facts_one(info, i) for i in range(envs)]


def _facts_one(info: dict | None, i: int) -> dict[str, float]:
    """The per-step facts a dataset keeps from the env's batched info."""
    if not info:
        return {}
    out = {}
    for key in ("s_m", "t_s", "lap_completed", "crashed"):
        if key in info:
            out[key] = float(np.asarray(info[key])[i])
    return out


def _episode(cur: dict[str, list]) -> Episode:
    infos = {
        key: np.array([f.get(key, np.nan) for f in cur["info"]])
        for key in ("s_m", "t_s")
        if all(key in f for f in cur["info"])
    }
    last = cur["info"][-1]
    terminated = cur["term"][-1]
    if not terminated:
        outcome = "time limit"
    elif last.get("crashed", 0.0) > 0:
        outcome = "crash"
    else:
        outcome = "lap"
    lap_time = float(last.get("t_s", np.nan)) if outcome == "lap" else float("nan")
    return Episode(
        observations=np.stack(cur["obs"]).astype(np.float32),
        actions=np.stack(cur["act"]).astype(np.float32),
        rewards=np.asarray(cur["rew"], dtype=np.float64),
        terminations=np.asarray(cur["term"], dtype=bool),
        truncations=np.asarray(cur["trunc"], dtype=bool),
        infos=infos,
        metadata={"outcome": outcome, "lap_time_s": lap_time},
    )


def generate_datasets(
    output: str | os.PathLike,
    *,
    laps: int = 100,
    seed: int = 42,
    track: str = "apex_park",
    riders: Sequence[str] = RIDERS,
    progress: bool = True,
    force: bool = False,
    num_envs: int | None = None,
) -> dict[str, Any]:
    """Write one Minari dataset per rider preset under the Minari root ``output``.

    Returns a JSON-ready summary: per dataset its id, path, counts (episodes, steps, laps
    completed, crashes, time limits), lap-time statistics and size on disk.
    """
    _check_laps(laps)
    riders = tuple(riders)
    unknown = [r for r in riders if r not in RIDERS]
    if not riders or unknown or len(set(riders)) != len(riders):
        raise ValueError(
            f"riders must be distinct presets from: {', '.join(RIDERS)}; got {', '.join(riders)}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    root = Path(output)
    ids = [dataset_id(r) for r in riders]
    require_absent(root, ids, force)
    started = time.perf_counter()
    summaries = []
    with _progress(progress, laps * len(riders)) as advance:
        for rider in riders:
            collected = collect_episodes(
                rider,
                laps,
                seed=rider_seed(seed, rider),
                track=track,
                num_envs=num_envs,
                on_episode=advance,
            )
            summaries.append(_write(root, collected, track, seed, force))
    return {
        "output": str(root),
        "track": track,
        "seed": seed,
        "laps_per_rider": laps,
        "seconds": round(time.perf_counter() - started, 3),
        "datasets": summaries,
    }


def _write(root: Path, c: Collected, track: str, seed: int, force: bool) -> dict[str, Any]:
    from apexrl import __version__

    outcomes = [ep.metadata["outcome"] for ep in c.episodes]
    lap_times = [ep.metadata["lap_time_s"] for ep in c.episodes if ep.metadata["outcome"] == "lap"]
    counts = {
        "episodes": len(c.episodes),
        "steps": int(sum(ep.steps for ep in c.episodes)),
        "laps_completed": outcomes.count("lap"),
        "crashes": outcomes.count("crash"),
        "time_limits": outcomes.count("time limit"),
    }
    metadata = {
        "kind": "generated",
        "track": track,
        "rider": c.rider,
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "seed": seed,
        "env_seed": c.seed,
        "num_envs": c.num_envs,
        "dt_s": c.dt_s,
        "counts": counts,
        "lap_time_s": stats(lap_times),
        "channels": list(CHANNELS),
        "channel_units": list(CHANNEL_UNITS),
        "action_fields": list(ACTION_FIELDS),
        "actions": "oracle coach cue (MotoCoachVectorEnv.oracle_action)",
        "apexrl_version": __version__,
    }
    folder = write_dataset(
        root,
        dataset_id(c.rider),
        c.episodes,
        observation_space=c.observation_space,
        action_space=c.action_space,
        metadata=metadata,
        description=(
            f"{c.rider} riders on {track}: one episode per lap attempt (completed lap, crash or "
            "time limit), 8 telemetry channels, oracle-coach haptic cues as actions."
        ),
        algorithm_name="apexrl oracle coach",
        env_spec=_env_spec(track, c.rider),
        force=force,
    )
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {
        "dataset_id": dataset_id(c.rider),
        "path": str(folder),
        "rider": c.rider,
        "counts": counts,
        "lap_time_s": metadata["lap_time_s"],
        "bytes": size,
        "env_steps": c.env_steps,
    }


def _env_spec(track: str, rider: str):
    """The single env's spec with this dataset's arguments (``dataset.recover_environment()``)."""
    import dataclasses

    import gymnasium as gym

    import apexrl  # noqa: F401  (registers the ids)

    spec = gym.spec(ENV_ID)
    return dataclasses.replace(spec, kwargs={**spec.kwargs, "track": track, "rider": rider})


def _check_laps(laps: int) -> None:
    if isinstance(laps, bool) or not isinstance(laps, int) or laps < 1:
        raise ValueError(f"laps must be a positive integer, got {laps!r}")


class _progress:
    """A rich progress bar over episodes (stderr), or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.total = total
        self._bar = None

    def __enter__(self) -> Callable[[], None]:
        if not self.enabled:
            return lambda: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._bar.__enter__()
        task = self._bar.add_task("lap attempts", total=self.total)
        return lambda: self._bar.advance(task)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
