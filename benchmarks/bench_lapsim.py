"""Benchmark: QSS lap time and the minimum-curvature QP on a road circuit.

Targets (issue "Foundation"): ``apexrl lapsim`` on a 5 km circuit in under a second, the racing-line
QP in under 2 s. The machine's speed is calibrated in the same run with a fixed NumPy workload
(a dense 600x600 solve, repeated) so rows can be compared across machines as ratios.

    python benchmarks/bench_lapsim.py [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from apexrl.tracks.lapsim import simulate_lap
from apexrl.tracks.library import load_track, random_track
from apexrl.tracks.raceline import minimum_curvature_line
from apexrl.vehicles.params import MotorcycleParams


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def reference_s(repeats: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 600)) + 600 * np.eye(600)
    b = rng.normal(size=600)
    return best_of(repeats, lambda: [np.linalg.solve(a, b) for _ in range(10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON rows only")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    envelope = MotorcycleParams().envelope()
    tracks = {
        "apex_park": load_track("apex_park"),
        "random_5km": random_track(11, scale="motorcycle", length_m=5000.0, width_m=12.0),
    }
    ref = reference_s(args.repeats)
    rows = []
    for name, track in tracks.items():
        minimum_curvature_line(track)  # warm caches and imports
        qp = best_of(args.repeats, lambda t=track: minimum_curvature_line(t))
        line = minimum_curvature_line(track).line
        lap = best_of(args.repeats, lambda ln=line: simulate_lap(ln, envelope))
        for task, seconds, target in (("raceline_qp", qp, 2.0), ("lapsim", lap, 1.0)):
            rows.append(
                {
                    "task": task,
                    "track": name,
                    "length_m": round(track.length_m, 1),
                    "seconds": round(seconds, 4),
                    "target_s": target,
                    "meets_target": seconds < target,
                    "ratio_vs_reference": round(seconds / ref, 2),
                }
            )
    if args.json:
        print(json.dumps({"reference_s": round(ref, 4), "rows": rows}, indent=2))
        return
    print(f"reference workload: {ref * 1e3:.1f} ms")
    for r in rows:
        print(
            f"{r['task']:12s} {r['track']:11s} {r['length_m']:7.0f} m  {r['seconds'] * 1e3:8.1f} ms"
            f"  (target < {r['target_s']:.0f} s: {'ok' if r['meets_target'] else 'MISSED'})"
        )


if __name__ == "__main__":
    main()
