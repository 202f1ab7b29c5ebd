"""Time ``apexrl data generate``: 100 lap attempts per rider (target: under 60 s for both riders).

    python benchmarks/bench_data.py [--json] [--laps N] [--seed S] [--track T]

Measured in one run:

- ``generate``: :func:`apexrl.data.generate.generate_datasets` writing the pro and amateur datasets
  (N lap attempts each) into a temporary Minari root, end to end: env construction, rollouts with
  the oracle's cues, Minari writing, checksums. Reported: wall time, rider-steps per second, the
  dataset sizes and lap-time statistics. The track profile (racing line and QSS laps) is built
  once before timing, as every later run in a process reuses it.
- ``reference``: steps per second of a plain single-env loop, ``gym.make("apexrl/MotoCoach-v0")``
  stepped with the 'no cue' action for ``REFERENCE_STEPS`` steps (resetting when an episode
  ends), the way a user without the vector env would collect data.

``speedup`` = generation rider-steps/s over the reference steps/s: the machine-independent figure
(these machines are shared and noisy; absolute seconds move with the load).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np

REFERENCE_STEPS = 3000
TARGET_S = 60.0


def reference_steps_per_s(track: str, seed: int) -> float:
    import gymnasium as gym

    import apexrl  # noqa: F401  (registers the env ids)
    from apexrl.data.minari_io import NO_CUE_ACTION

    env = gym.make("apexrl/MotoCoach-v0", track=track, rider="pro")
    env.reset(seed=seed)
    for _ in range(50):  # compile and warm up
        env.step(NO_CUE_ACTION)
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(REFERENCE_STEPS):
        _, _, terminated, truncated, _ = env.step(NO_CUE_ACTION)
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return REFERENCE_STEPS / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--laps", type=int, default=100, help="lap attempts per rider")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--track", default="apex_park")
    args = parser.parse_args(argv)

    from apexrl.data.generate import generate_datasets
    from apexrl.riders.profile import track_profile
    from apexrl.tracks.library import load_track

    track_profile(load_track(args.track))
    reference = reference_steps_per_s(args.track, args.seed)
    with tempfile.TemporaryDirectory(prefix="apexrl-bench-data-") as tmp:
        start = time.perf_counter()
        summary = generate_datasets(
            tmp, laps=args.laps, seed=args.seed, track=args.track, progress=False
        )
        seconds = time.perf_counter() - start
    steps = sum(d["counts"]["steps"] for d in summary["datasets"])
    rate = steps / seconds
    result = {
        "laps_per_rider": args.laps,
        "track": args.track,
        "generate_s": round(seconds, 3),
        "target_s": TARGET_S,
        "within_target": seconds < TARGET_S,
        "rider_steps": steps,
        "rider_steps_per_s": round(rate, 1),
        "reference_single_env_steps_per_s": round(reference, 1),
        "speedup": round(rate / reference, 2),
        "datasets": [
            {
                "dataset_id": d["dataset_id"],
                "megabytes": round(d["bytes"] / 1e6, 2),
                "counts": d["counts"],
                "lap_time_s": d["lap_time_s"],
            }
            for d in summary["datasets"]
        ],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"generate {args.laps} laps x {len(result['datasets'])} riders: {seconds:.1f} s "
            f"(target {TARGET_S:.0f} s), {rate:,.0f} rider-steps/s = "
            f"{result['speedup']:.1f}x a single-env loop ({reference:,.0f} steps/s)"
        )
        for d in result["datasets"]:
            lt = d["lap_time_s"]
            laps = "-" if lt["mean"] is None else f"{lt['mean']:.2f} s mean, {lt['min']:.2f} best"
            print(f"  {d['dataset_id']}: {d['megabytes']} MB, {d['counts']}, lap time {laps}")
    return 0 if np.isfinite(rate) else 1


if __name__ == "__main__":
    sys.exit(main())
