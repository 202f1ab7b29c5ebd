"""Throughput of the coaching environments (env-steps per second) against same-run references.

    python benchmarks/bench_envs.py [--json] [--quick]

Rows (all on the built-in ``apex_park`` with amateur riders and one fixed cue, so episodes end and
autoreset as they would in training):

- ``vector``: :class:`apexrl.envs.vector.MotoCoachVectorEnv` at 1024 envs (target >= 200,000).
- ``sync_reference``: the SAME task as 1024 single ``MotoCoachEnv`` copies stepped by Gymnasium's
  ``SyncVectorEnv`` (what you get without the native batch).
- ``single``: one :class:`apexrl.envs.moto_coach.MotoCoachEnv` stepped in a Python loop
  (target >= 10,000), resetting when an episode ends.
- ``python_loop_reference``: the single env's reference, Gymnasium's ``SyncVectorEnv`` over ONE
  copy (its per-step bookkeeping on top of the same env).

Every configuration is warmed up (numba compilation, caches) and timed as the best of several
blocks: these machines are shared and noisy and the minimum time is the least disturbed estimate;
the medians are printed too. Ratios compare rows measured in this run.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from apexrl.envs.moto_coach import MotoCoachEnv
from apexrl.envs.vector import MotoCoachVectorEnv

TRACK = "apex_park"
NUM_ENVS = 1024
CUE = np.array([0.2, 0.1, 0.4], dtype=np.float32)
BLOCKS = 10


def time_steps(step: Callable[[], None], env_steps_per_call: int, budget_s: float) -> tuple:
    """(best, median) env-steps/s of ``step`` over BLOCKS blocks filling about ``budget_s``."""
    for _ in range(5):
        step()
    t0 = time.perf_counter()
    step()
    per_call = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(budget_s / BLOCKS / per_call))
    rates = []
    for _ in range(BLOCKS):
        t0 = time.perf_counter()
        for _ in range(calls):
            step()
        rates.append(env_steps_per_call * calls / (time.perf_counter() - t0))
    return max(rates), float(np.median(rates))


def bench_vector(budget_s: float) -> tuple:
    env = MotoCoachVectorEnv(NUM_ENVS, track=TRACK, seed=0)
    env.reset()
    actions = np.tile(CUE, (NUM_ENVS, 1))
    return time_steps(lambda: env.step(actions), NUM_ENVS, budget_s)


def bench_sync(num_envs: int, budget_s: float) -> tuple:
    env = gym.vector.SyncVectorEnv([lambda: MotoCoachEnv(TRACK) for _ in range(num_envs)])
    env.reset(seed=0)
    actions = np.tile(CUE, (num_envs, 1))
    return time_steps(lambda: env.step(actions), num_envs, budget_s)


def bench_single(budget_s: float) -> tuple:
    env = MotoCoachEnv(TRACK)
    env.reset(seed=0)

    def step() -> None:
        _, _, terminated, truncated, _ = env.step(CUE)
        if terminated or truncated:
            env.reset()

    return time_steps(step, 1, budget_s)


def run(quick: bool) -> list[dict]:
    budget = 0.5 if quick else 3.0
    vec = bench_vector(budget)
    sync = bench_sync(NUM_ENVS, budget)
    single = bench_single(budget)
    loop = bench_sync(1, budget)
    rows = [
        ("vector", NUM_ENVS, vec, vec[0] / sync[0], 200_000),
        ("sync_reference", NUM_ENVS, sync, 1.0, None),
        ("single", 1, single, single[0] / loop[0], 10_000),
        ("python_loop_reference", 1, loop, 1.0, None),
    ]
    return [
        {
            "env": name,
            "num_envs": n,
            "steps_per_s": round(best),
            "median_steps_per_s": round(median),
            "ratio_vs_reference": round(ratio, 2),
            "target_steps_per_s": target,
        }
        for name, n, (best, median), ratio, target in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--quick", action="store_true", help="shorter timings (smoke test)")
    args = parser.parse_args()
    rows = run(args.quick)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'env':<22} {'envs':>5} {'env-steps/s':>12} {'median':>12} {'x ref':>7} {'target':>9}")
    for r in rows:
        target = f"{r['target_steps_per_s']:,}" if r["target_steps_per_s"] else "-"
        print(
            f"{r['env']:<22} {r['num_envs']:>5} {r['steps_per_s']:>12,} "
            f"{r['median_steps_per_s']:>12,} {r['ratio_vs_reference']:>7.2f} {target:>9}"
        )


if __name__ == "__main__":
    main()
