"""Throughput of the DeepRacer environments: batched steps/s and camera frames/s.

    python benchmarks/bench_deepracer.py [--json] [--quick] [--batch B] [--camera-batch B]

Rows (each timed as the best and the median of several blocks of steps, after a warm-up that
compiles every kernel; these machines are shared and noisy, and the best block is the least
disturbed estimate):

- ``telemetry+reward``: :class:`DeepRacerVectorEnv` with ``sensors=[]`` and a trivial Python
  reward function (``lambda params: 1.0``): the simulator's params dict is built and the function
  called for every car on every step. Target: >= 100,000 steps/s.
- ``telemetry``: the same with the reward function disabled (``reward_function=None``).
- ``camera+reward``: ``FRONT_FACING_CAMERA`` (one 120 x 160 frame per step). Target: >= 5,000
  frames/s.
- ``gym-single``: one ``gymnasium.make("apexrl/DeepRacer-v0", sensors=[])`` car with the
  gymnasium wrappers, for scale.

Cars act randomly from the time_trial preset, so episodes are short and the same-step autoresets
are part of the measured cost (``mean_episode_steps`` says how short).

References measured in the same run, for ratios: ``BatchSim`` (the car physics alone, same batch)
for the telemetry rows, ``CameraRig.render`` alone (same batch) for the camera row. Every row
also gives ``x_realtime``: the rate over the real simulator's 15 steps/s per worker.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

BLOCKS = 12
REALTIME_STEPS_PER_S = 15.0


def _time(step, batch: int, budget_s: float) -> tuple[float, float]:
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    step()
    per = max(time.perf_counter() - t0, 1e-7)
    block = max(1, int(budget_s / BLOCKS / per))
    rates = []
    for _ in range(BLOCKS):
        t0 = time.perf_counter()
        for _ in range(block):
            step()
        rates.append(batch * block / (time.perf_counter() - t0))
    return max(rates), float(np.median(rates))


def _vector_row(name, batch, budget_s, reference, **kwargs) -> dict:
    from apexrl.envs.deepracer import DeepRacerVectorEnv

    env = DeepRacerVectorEnv(batch, track="dr_flow", **kwargs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 12, (64, batch))
    counter = {"i": 0, "ends": 0, "steps": 0}

    def step():
        i = counter["i"] = (counter["i"] + 1) % 64
        _, _, term, trunc, _ = env.step(actions[i])
        counter["ends"] += int((term | trunc).sum())
        counter["steps"] += batch

    best, median = _time(step, batch, budget_s)
    env.close()
    return {
        "config": name,
        "batch": batch,
        "steps_per_s": round(best),
        "median_steps_per_s": round(median),
        "reference": reference[0],
        "ratio_vs_reference": round(best / reference[1], 3),
        "x_realtime": round(best / REALTIME_STEPS_PER_S),
        "mean_episode_steps": round(counter["steps"] / max(counter["ends"], 1), 1),
    }


def _sim_reference(batch: int, budget_s: float) -> float:
    from apexrl.sim import BatchSim
    from apexrl.tracks.library import load_track

    track = load_track("dr_flow")
    sim = BatchSim(track, "car", batch_size=batch)
    sim.reset(s_m=np.linspace(0, track.length_m, batch, endpoint=False))
    actions = np.tile([0.0, 1.0], (batch, 1))
    return _time(lambda: sim.step(actions), batch, budget_s)[0]


def _camera_reference(batch: int, budget_s: float) -> float:
    from apexrl.sensors.camera import CameraRig
    from apexrl.tracks.library import load_track

    track = load_track("dr_flow")
    rig = CameraRig(track, ("FRONT_FACING_CAMERA",))
    xy = track.to_world(np.linspace(0, track.length_m, batch, endpoint=False))
    yaw = track.heading_at(np.linspace(0, track.length_m, batch, endpoint=False))
    out = np.empty((batch, 120, 160), dtype=np.uint8)
    return _time(lambda: rig.render(xy[:, 0], xy[:, 1], yaw, None, out=out), batch, budget_s)[0]


def _gym_single(budget_s: float) -> dict:
    import gymnasium as gym

    import apexrl  # noqa: F401

    env = gym.make("apexrl/DeepRacer-v0", sensors=[], track="dr_flow")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step():
        *_, term, trunc, _ = env.step(int(rng.integers(0, 12)))
        if term or trunc:
            env.reset()

    best, median = _time(step, 1, budget_s)
    return {
        "config": "gym-single",
        "batch": 1,
        "steps_per_s": round(best),
        "median_steps_per_s": round(median),
        "x_realtime": round(best / REALTIME_STEPS_PER_S),
    }


def run(quick: bool, batch: int, camera_batch: int) -> list[dict]:
    budget = 0.5 if quick else 3.0
    sim_ref = ("BatchSim", _sim_reference(batch, budget))
    rows = [
        _vector_row(
            "telemetry+reward", batch, budget, sim_ref, sensors=[], reward_function=_trivial
        ),
        _vector_row("telemetry", batch, budget, sim_ref, sensors=[], reward_function=None),
    ]
    cam_ref = ("CameraRig.render", _camera_reference(camera_batch, budget))
    row = _vector_row(
        "camera+reward",
        camera_batch,
        budget,
        cam_ref,
        sensors=["FRONT_FACING_CAMERA"],
        reward_function=_trivial,
    )
    row["frames_per_s"] = row["steps_per_s"]
    rows.append(row)
    rows.append(_gym_single(budget / 2))
    for r in rows[:2]:
        r["reference_steps_per_s"] = round(sim_ref[1])
    rows[2]["reference_frames_per_s"] = round(cam_ref[1])
    return rows


def _trivial(params: dict) -> float:
    return 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    parser.add_argument("--quick", action="store_true", help="shorter timings (smoke test)")
    parser.add_argument("--batch", type=int, default=4096, help="cars for the telemetry rows")
    parser.add_argument("--camera-batch", type=int, default=512, help="cars for the camera row")
    args = parser.parse_args()
    rows = run(args.quick, args.batch, args.camera_batch)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'config':<18} {'batch':>6} {'steps/s':>12} {'median':>12} {'x ref':>7} {'x 15Hz':>8}")
    for r in rows:
        ratio = f"{r['ratio_vs_reference']:.3f}" if "ratio_vs_reference" in r else "-"
        print(
            f"{r['config']:<18} {r['batch']:>6} {r['steps_per_s']:>12,} "
            f"{r['median_steps_per_s']:>12,} {ratio:>7} {r['x_realtime']:>8,}"
        )


if __name__ == "__main__":
    main()
