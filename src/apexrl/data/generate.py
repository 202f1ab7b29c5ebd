"""Generate the pro and amateur coaching datasets: oracle-coached lap attempts as Minari datasets.

For each rider preset, a :class:`~apexrl.envs.vector.MotoCoachVectorEnv` runs ``num_envs`` riders
in parallel; every step's action is the oracle coach's cue (``env.oracle_action()``). One episode
is one lap attempt from a rolling start on the line: it ends when the rider crashes (terminated),
completes the lap or reaches the env's time limit (both truncated, as MotoCoach defines them);
each episode's metadata says which (``outcome``: ``lap``, ``crash``, ``time limit``) and holds
the lap time. Episodes are collected into buffers and written with Minari's own
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
import math
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
    track_name: str
    episodes: list[Episode]
    observation_space: Any
    action_space: Any
    dt_s: float
    seed: int
    num_envs: int
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
    """Run the vector env with the oracle's cues until every env has its quota of episodes.

    The env autoresets in Gymnasium's ``NEXT_STEP`` mode: a step that ends an episode returns its
    final observation, and the next step only resets that env (its action is ignored). Besides
    the Gymnasium outputs, every step records the distance driven since the episode started
    (centre line, ``progress * track length``) and the episode time from the env's simulator
    telemetry; they become the infos ``s_m`` and ``t_s`` (what ``apexrl data compare`` needs).
    """
    from gymnasium.vector import AutoresetMode

    from apexrl.envs.vector import MotoCoachVectorEnv

    _check_laps(laps)
    envs = min(laps, MAX_NUM_ENVS) if num_envs is None else num_envs
    if isinstance(envs, bool) or not isinstance(envs, int) or envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    envs = min(envs, laps)
    quota = np.array([laps // envs + (i < laps % envs) for i in range(envs)])
    env = MotoCoachVectorEnv(
        envs, track=track, rider=rider, seed=seed, autoreset_mode=AutoresetMode.NEXT_STEP
    )
    try:
        telemetry = env.core.sim.telemetry
        length = env.core.track.length_m
        obs, _ = env.reset(seed=seed)
        rows = _Rows()
        rows.add(obs, telemetry.progress * length, telemetry.t_s)
        finished = np.zeros(envs, dtype=np.int64)
        # One episode cannot outlast the env's time limit, so this bounds a correct run.
        limit = (int(quota.max()) + 1) * (env.core.max_steps + 1)
        while (finished < quota).any():
            if len(rows.obs) > limit:
                raise RuntimeError(f"episodes did not end within {limit} steps; please report")
            actions = env.oracle_action()
            obs, rewards, terms, truncs, infos = env.step(actions)
            rows.add(obs, telemetry.progress * length, telemetry.t_s, actions, rewards, terms,
                     truncs, infos["lap_time_s"])  # fmt: skip
            for i in np.flatnonzero(terms | truncs):
                finished[i] += 1
                if finished[i] <= quota[i] and on_episode is not None:
                    on_episode()
        return Collected(
            rider=rider,
            track_name=env.core.track.name,
            episodes=rows.episodes(quota),
            observation_space=env.single_observation_space,
            action_space=env.single_action_space,
            dt_s=float(env.core.dt_s),
            seed=seed,
            num_envs=envs,
            env_steps=len(rows.obs) - 1,
        )
    finally:
        env.close()


class _Rows:
    """Time-major record of a vector env's steps; row 0 is the reset (no action)."""

    def __init__(self) -> None:
        self.obs: list[np.ndarray] = []
        self.s: list[np.ndarray] = []
        self.t: list[np.ndarray] = []
        self.act: list[np.ndarray] = []
        self.rew: list[np.ndarray] = []
        self.term: list[np.ndarray] = []
        self.trunc: list[np.ndarray] = []
        self.lap: list[np.ndarray] = []

    def add(self, obs, s, t, actions=None, rewards=None, terms=None, truncs=None, lap=None):
        self.obs.append(obs.copy())
        self.s.append(np.array(s, dtype=np.float64))
        self.t.append(np.array(t, dtype=np.float64))
        if actions is None:  # the reset row: pad so that index k holds step k
            blank = np.zeros(obs.shape[0])
            actions = np.zeros((obs.shape[0], 3), dtype=np.float32)
            rewards, terms, truncs, lap = blank, blank > 0, blank > 0, blank
        self.act.append(np.array(actions, dtype=np.float32))
        self.rew.append(np.array(rewards, dtype=np.float64))
        self.term.append(np.array(terms, dtype=bool))
        self.trunc.append(np.array(truncs, dtype=bool))
        self.lap.append(np.array(lap, dtype=np.float64))

    def episodes(self, quota: np.ndarray) -> list[Episode]:
        """Env by env, its first ``quota[i]`` episodes (NEXT_STEP layout, module docs)."""
        obs, s, t = np.stack(self.obs), np.stack(self.s), np.stack(self.t)
        act, rew, lap = np.stack(self.act), np.stack(self.rew), np.stack(self.lap)
        term, trunc = np.stack(self.term), np.stack(self.trunc)
        out = []
        for i, wanted in enumerate(quota):
            ends = np.flatnonzero(term[:, i] | trunc[:, i])[:wanted]
            start = 0
            for end in ends:
                steps = slice(start + 1, end + 1)
                span = slice(start, end + 1)
                if term[end, i]:
                    outcome = "crash"
                elif lap[end, i] > 0:
                    outcome = "lap"
                else:
                    outcome = "time limit"
                out.append(
                    Episode(
                        observations=obs[span, i],
                        actions=act[steps, i],
                        rewards=rew[steps, i],
                        terminations=term[steps, i],
                        truncations=trunc[steps, i],
                        infos={"s_m": s[span, i], "t_s": t[span, i]},
                        metadata={
                            "outcome": outcome,
                            "lap_time_s": float(lap[end, i]) if outcome == "lap" else math.nan,
                            "env_index": i,
                        },
                    )
                )
                start = end + 1  # NEXT_STEP: the following row is that env's reset
        return out


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
    from apexrl.tracks.library import load_track

    load_track(track)  # a bad track spec fails here, before any work starts
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
        "track": str(track),
        "seed": seed,
        "laps_per_rider": laps,
        "seconds": round(time.perf_counter() - started, 3),
        "datasets": summaries,
    }


def _write(root: Path, c: Collected, track: str, seed: int, force: bool) -> dict[str, Any]:
    from apexrl import __version__
    from apexrl.riders.rider import PRESET_RANGES

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
        "track": c.track_name,
        "track_spec": str(track),
        "rider": c.rider,
        "rider_profile": {k: list(v) for k, v in PRESET_RANGES[c.rider].items()},
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
            f"{c.rider} riders on {c.track_name}: one episode per lap attempt (completed lap, "
            "crash or time limit), 8 telemetry channels, oracle-coach haptic cues as actions."
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
