"""Edge export: how long ``export_policy`` takes and how fast each artifact runs on the host.

    python benchmarks/bench_export.py [--json] [--model DIR]

``--model``: an apexrl model folder (e.g. ``runs/<run>/ppo/model``). Without it, a coach is
behaviour-cloned in-run onto the oracle's cues (300 Adam steps on MotoCoach rollouts, a few
seconds): sharp like a trained coach, unlike a freshly initialised policy whose outputs sit near 0
and hide quantization error.

Rows per artifact: host latency of one observation (median, microseconds; LiteRT and onnxruntime
with 1 thread, TFLM's host build, the C forward pass at -O2) and its ratio to PyTorch eager
measured in the same run (``ratio_vs_pytorch`` < 1 is faster), plus the checked errors against
PyTorch. Also: export wall time (target < 30 s for the default coach, including every check),
int8 size (target <= 16 KB), TFLM arena (<= 8 KB), ESP32 estimate (< 1 ms).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np


def quick_coach(folder: Path, *, seed: int = 0) -> Path:
    """A PPO coach behaviour-cloned onto the oracle's cues from short rollouts, saved."""
    import torch
    from gymnasium import spaces

    from apexrl.envs.vector import OBSERVATION_HIGH, OBSERVATION_LOW, MotoCoachVectorEnv
    from apexrl.train.bc import observation_scaling
    from apexrl.train.model_io import (
        build_policy,
        default_policy_kwargs,
        save_policy,
        to_policy_action,
    )

    obs_space = spaces.Box(OBSERVATION_LOW, OBSERVATION_HIGH)
    mean, std = observation_scaling(obs_space)
    torch.manual_seed(seed)
    policy = build_policy("ppo", obs_space, 3, policy_kwargs=default_policy_kwargs("ppo"),
                          obs_mean=mean, obs_std=std)  # fmt: skip
    observations, actions = [], []
    for rider in ("amateur", "pro"):
        env = MotoCoachVectorEnv(8, rider=rider)
        obs, _ = env.reset(seed=seed)
        for _ in range(2200):
            cue = env.oracle_action()
            observations.append(obs)
            actions.append(cue)
            obs, *_ = env.step(cue)
    x = torch.as_tensor(np.concatenate(observations))
    y = torch.as_tensor(to_policy_action(np.concatenate(actions), np.zeros(3), np.ones(3)))
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(300):
        idx = torch.randint(0, len(x), (512,), generator=gen)
        latent, _ = policy.mlp_extractor(policy.extract_features(x[idx]))
        loss = ((policy.action_net(latent) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_policy(folder, policy, algo="ppo", policy_kwargs=default_policy_kwargs("ppo"),
                observation_space=obs_space, action_space=spaces.Box(0.0, 1.0, shape=(3,)),
                provenance={"track": "apex_park", "stage": "bench-bc", "seed": seed})  # fmt: skip
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--model", type=Path, help="apexrl model folder (default: quick BC coach)")
    args = parser.parse_args()

    from apexrl.export import export_policy

    with tempfile.TemporaryDirectory(prefix="apexrl-bench-export-") as tmp:
        model = args.model or quick_coach(Path(tmp) / "coach")
        start = time.perf_counter()
        report = export_policy(model, Path(tmp) / "export", progress=not args.json)
        wall = time.perf_counter() - start
    torch_us = report["reference"]["latency_us"]
    rows = {
        name: {
            "bytes": a["bytes"],
            "latency_us": a["latency_us"],
            "ratio_vs_pytorch": None if a["latency_us"] is None else a["latency_us"] / torch_us,
            "max_abs_error": a["max_abs_error"],
            "max_error_fraction_of_range": a["max_error_fraction_of_range"],
            "mean_error_fraction_of_range": a["mean_error_fraction_of_range"],
            "runtime": a["runtime"],
        }
        for name, a in report["artifacts"].items()
    }
    result = {
        "benchmark": "export",
        "model": str(args.model) if args.model else "quick BC coach (in-run)",
        "machine": {"python": platform.python_version(), "processor": platform.machine()},
        "export_seconds": report["export_seconds"],
        "wall_seconds_including_imports": wall,
        "reference": {"runtime": report["reference"]["runtime"], "latency_us": torch_us},
        "artifacts": rows,
        "macs": report["macs"],
        "tflm_arena_bytes": report["tflm_arena_bytes"],
        "tflm_comparison": report["tflm_comparison"],
        "esp32_latency_estimate_ms": report["esp32_latency_estimate_ms"],
        "targets": report["targets"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"export {report['export_seconds']:.1f} s (wall with imports {wall:.1f} s); PyTorch "
          f"eager {torch_us:.1f} us per observation")  # fmt: skip
    print(f"{'artifact':24s} {'bytes':>9s} {'us':>8s} {'x torch':>8s} {'max err %':>10s}")
    for name, r in rows.items():
        lat = "-" if r["latency_us"] is None else f"{r['latency_us']:.1f}"
        ratio = "-" if r["ratio_vs_pytorch"] is None else f"{r['ratio_vs_pytorch']:.3f}"
        print(f"{name:24s} {r['bytes']:9d} {lat:>8s} {ratio:>8s} "
              f"{100 * r['max_error_fraction_of_range']:10.4f}")  # fmt: skip
    for key, t in result["targets"].items():
        verdict = "met" if t["met"] else "NOT met"
        print(f"target {key}: {t['value']:.4g} (limit {t['limit']:g}) {verdict}")


if __name__ == "__main__":
    main()
