"""Throughput of the batched simulator (agent-steps per second) against a Python-loop reference.

    python benchmarks/bench_sim.py [--json] [--quick] [--kernels]

For each vehicle and batch size B in 1, 64, 1024, 16384, one BatchSim steps B vehicles that
drive steady laps of a circle (DeepRacer-sized for the car, 50 m radius for the motorcycle), so
no vehicle crashes and freezes (a frozen vehicle costs nothing and would flatter the numbers; the
run fails if one does). Every configuration is compiled and warmed up first, then timed as the
best of several repeats: these machines are shared and noisy, and the minimum is the least
disturbed estimate.

The reference, measured in the same run, is the same per-vehicle step function
(``kernels.<vehicle>_vehicle_step``) executed by the Python interpreter (``.py_func``) in a Python
loop over vehicles; the physics functions it calls stay compiled, so the reference is faster than
pure Python and the ratios are conservative. ``--kernels`` also times the serial and the threaded
kernel at every batch size (to place ``PARALLEL_MIN_BATCH``).

Output: one row per configuration, ``{"vehicle", "batch", "kernel", "steps_per_s",
"ratio_vs_python"}``; ``--json`` prints them as a JSON list.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from apexrl.sim import BatchSim
from apexrl.tracks import Track
from apexrl.vehicles import motorcycle as moto
from apexrl.vehicles.params import CarParams, MotorcycleParams

BATCHES = (1, 64, 1024, 16384)
REFERENCE_VEHICLES = 16
BLOCKS = 20
G_MPS2 = 9.81


def circle_track(radius_m: float, half_width_m: float) -> Track:
    th = np.linspace(0.0, 2 * np.pi, 400, endpoint=False)
    xy = np.c_[radius_m * np.cos(th), radius_m * np.sin(th)]
    return Track.from_centerline(xy, half_width_m, half_width_m, name=f"circle{radius_m:g}")


def make_sim(vehicle: str, batch: int, parallel: bool | None) -> tuple[BatchSim, np.ndarray]:
    """A sim whose vehicles lap steadily, and the constant actions that keep them doing so."""
    if vehicle == "car":
        radius, speed = 3.0, 2.0
        track = circle_track(radius, 0.535)  # DeepRacer width 1.07 m
        sim = BatchSim(track, "car", batch_size=batch, parallel=parallel)
        sim.reset(s_m=np.linspace(0, track.length_m, batch, endpoint=False), speed_mps=speed)
        steer = math.atan(CarParams().wheelbase_m / radius)
        return sim, np.tile([steer, speed], (batch, 1))
    radius, speed = 50.0, 20.0
    track = circle_track(radius, 5.0)
    p = MotorcycleParams()
    sim = BatchSim(track, "motorcycle", params=p, batch_size=batch, parallel=parallel)
    sim.reset(s_m=np.linspace(0, track.length_m, batch, endpoint=False), speed_mps=speed)
    lean = math.atan(speed**2 / (G_MPS2 * radius))
    sim.state[:, moto.ROLL_RAD] = lean
    resist = p.drag_per_mass_1pm * speed**2 + p.rolling_resistance * G_MPS2
    drive_max = min(p.power_w / (p.mass_kg * speed), p.wheelie_ax_max_mps2, p.mu * G_MPS2)
    throttle = resist / drive_max  # holds the speed against drag and rolling resistance
    return sim, np.tile([throttle, 0.0, lean], (batch, 1))


def time_sim(sim: BatchSim, actions: np.ndarray, budget_s: float) -> tuple[float, float]:
    """(best, median) agent-steps/s over blocks of steps filling about ``budget_s``."""
    for _ in range(3):  # compile (first call of a kernel) and warm caches
        sim.step(actions)
    t0 = time.perf_counter()
    sim.step(actions)
    per_step = max(time.perf_counter() - t0, 1e-7)
    block = max(1, int(budget_s / BLOCKS / per_step))
    rates = []
    for _ in range(BLOCKS):
        t0 = time.perf_counter()
        for _ in range(block):
            sim.step(actions)
        rates.append(sim.batch_size * block / (time.perf_counter() - t0))
    if sim.telemetry.crashed.any():
        raise RuntimeError(f"{sim.vehicle}: a vehicle crashed during the benchmark")
    return max(rates), float(np.median(rates))


def time_python_reference(vehicle: str, steps: int) -> float:
    """Agent-steps/s of the same step run by the Python interpreter (numba JIT disabled).

    Runs in a child process because NUMBA_DISABLE_JIT must be set before apexrl is imported.
    """
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    cmd = [sys.executable, __file__, "--python-reference", vehicle, str(steps)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def _python_reference_child(vehicle: str, steps: int) -> None:
    sim, actions = make_sim(vehicle, REFERENCE_VEHICLES, parallel=False)
    sim.step(actions)
    t0 = time.perf_counter()
    for _ in range(steps):
        sim.step(actions)
    print(REFERENCE_VEHICLES * steps / (time.perf_counter() - t0))


def run(quick: bool, both_kernels: bool) -> list[dict]:
    budget_s = 0.1 if quick else 0.5
    rows = []
    for vehicle in ("motorcycle", "car"):
        ref = time_python_reference(vehicle, steps=5 if quick else 25)
        rows.append(
            {
                "vehicle": vehicle,
                "batch": REFERENCE_VEHICLES,
                "kernel": "python",
                "steps_per_s": round(ref),
                "median_steps_per_s": round(ref),
                "ratio_vs_python": 1.0,
            }
        )
        for batch in BATCHES:
            variants: list[bool | None] = [False, True] if both_kernels else [None]
            for parallel in variants:
                sim, actions = make_sim(vehicle, batch, parallel)
                best, median = time_sim(sim, actions, budget_s)
                rows.append(
                    {
                        "vehicle": vehicle,
                        "batch": batch,
                        "kernel": "parallel" if sim.parallel else "serial",
                        "steps_per_s": round(best),
                        "median_steps_per_s": round(median),
                        "ratio_vs_python": round(best / ref, 1),
                    }
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--quick", action="store_true", help="shorter timings (smoke test)")
    parser.add_argument(
        "--kernels", action="store_true", help="time both the serial and the threaded kernel"
    )
    parser.add_argument("--python-reference", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.python_reference:
        _python_reference_child(args.python_reference[0], int(args.python_reference[1]))
        return
    rows = run(args.quick, args.kernels)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(
        f"{'vehicle':<11} {'batch':>6} {'kernel':<9} {'agent-steps/s':>14} {'median':>12} "
        f"{'x python':>9}"
    )
    for r in rows:
        print(
            f"{r['vehicle']:<11} {r['batch']:>6} {r['kernel']:<9} {r['steps_per_s']:>14,} "
            f"{r['median_steps_per_s']:>12,} {r['ratio_vs_python']:>9,.1f}"
        )


if __name__ == "__main__":
    main()
