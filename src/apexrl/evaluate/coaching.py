"""Coaching efficacy: does the learned coach make an amateur faster, and at what risk?

On the same seeds and track (so every condition meets the same riders, noise and misread draws;
:func:`apexrl.evaluate.metrics.run_episodes`), five conditions:

| condition | rider   | cues                                   |
|-----------|---------|----------------------------------------|
| amateur   | amateur | none (both motors off)                 |
| coached   | amateur | the learned coach (deterministic)      |
| oracle    | amateur | the oracle coach                       |
| pro       | pro     | none                                   |
| optimal   | -       | the QSS optimal lap on the racing line |

and the number that matters, ``gap_closed_fraction = (amateur - coached) / (amateur - pro)`` on
mean lap times (1.0: the coached amateur is as fast as the pro; 0: no better than alone;
negative: slower). Violations per episode are compared alongside: a coach that buys lap time
with risk is not a good coach.

:func:`evaluate_coach` writes ``evaluation.json`` (the learned coach's lap metrics at the top
level, the comparison under ``coaching``, every condition under ``conditions``) and the PNGs of
:mod:`apexrl.evaluate.plots`.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

from apexrl.evaluate.metrics import (
    lap_metrics,
    no_cue,
    oracle,
    policy_coach,
    records_to_json,
    run_episodes,
)
from apexrl.io_utils import write_json_atomic

EVALUATION_FILE = "evaluation.json"
CONDITIONS = ("amateur", "coached", "oracle", "pro")
LABELS = {"amateur": "amateur alone", "coached": "+ learned coach", "oracle": "+ oracle coach",
          "pro": "pro"}  # fmt: skip
"""Row labels of :func:`evaluation_table`."""
TOP_LEVEL_KEYS = (
    "lap_time_mean_s", "lap_time_std_s", "lap_time_min_s", "lap_time_max_s", "reward_mean",
    "success_rate", "safety_violations_total", "safety_violations_per_episode",
)  # fmt: skip


def optimal_lap_time_s(track: Any) -> float:
    """QSS lap time of the motorcycle on the minimum-curvature racing line of ``track`` (what the
    pipeline's optimal-lap step computes)."""
    from apexrl.tracks.lapsim import simulate_lap
    from apexrl.tracks.library import load_track
    from apexrl.tracks.raceline import minimum_curvature_line
    from apexrl.vehicles.params import MotorcycleParams

    trk = load_track(track)
    return float(simulate_lap(minimum_curvature_line(trk).line,
                              MotorcycleParams().envelope()).lap_time_s)  # fmt: skip


def gap_closed_fraction(amateur_s: float | None, coached_s: float | None,
                        pro_s: float | None) -> float | None:  # fmt: skip
    """``(amateur - coached) / (amateur - pro)``; None when a lap time is missing or the
    amateur is not slower than the pro (there is no gap to close)."""
    if amateur_s is None or coached_s is None or pro_s is None or not amateur_s > pro_s:
        return None
    return round((amateur_s - coached_s) / (amateur_s - pro_s), 4)


def evaluate_coach(
    model: Any,
    output: str | os.PathLike | None = None,
    *,
    track: str = "apex_park",
    episodes: int = 10,
    seed: int = 42,
    optimal_lap_s: float | None = None,
    allow_pickle: bool = False,
    plots: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate a coach against the baselines (module docstring); returns the evaluation dict.

    Args:
        model: a model folder / SB3 zip path, or a loaded
            :class:`~apexrl.train.model_io.CoachPolicy`.
        output: folder for ``evaluation.json`` and the PNGs (None: nothing written).
        track: the evaluation track.
        episodes: lap attempts per condition (one env each, seeds ``seed .. seed+episodes-1``).
        seed: the first env seed.
        optimal_lap_s: the QSS optimal lap time if already known (else it is computed).
        allow_pickle: allow loading an SB3 zip (pickle inside).
        plots: write the PNGs.
        progress: rich progress bar on stderr.
        overwrite: replace an ``evaluation.json`` already in ``output`` (else FileExistsError).
    """
    from apexrl.train.checkpoints import seeded_torch
    from apexrl.train.model_io import load_policy

    if output is not None and not overwrite and (Path(output) / EVALUATION_FILE).exists():
        raise FileExistsError(
            f"{Path(output) / EVALUATION_FILE} exists; choose another --output or pass --force"
        )
    policy = model if hasattr(model, "predict") else load_policy(model, allow_pickle=allow_pickle)
    started = time.perf_counter()
    coaches = {"amateur": (no_cue, "amateur"), "coached": (policy_coach(policy), "amateur"),
               "oracle": (oracle, "amateur"), "pro": (no_cue, "pro")}  # fmt: skip
    rollouts = {}
    # One torch thread: a 64-unit MLP gains nothing from more, and extra threads only compete
    # with the simulator (and anything else) on a small machine.
    with (
        seeded_torch(None, threads=1),
        _progress(progress, len(coaches) + (optimal_lap_s is None)) as advance,
    ):
        for name, (coach, rider) in coaches.items():
            traced = name in ("amateur", "coached")
            rollouts[name] = run_episodes(coach, track=track, rider=rider, episodes=episodes,
                                          seed=seed, trace=traced)  # fmt: skip
            advance(name)
        if optimal_lap_s is None:
            optimal_lap_s = optimal_lap_time_s(track)
            advance("optimal lap")
    conditions = {name: lap_metrics(r.records) for name, r in rollouts.items()}
    c = conditions
    coaching = {
        "amateur_lap_time_s": c["amateur"]["lap_time_mean_s"],
        "coached_lap_time_s": c["coached"]["lap_time_mean_s"],
        "oracle_lap_time_s": c["oracle"]["lap_time_mean_s"],
        "pro_lap_time_s": c["pro"]["lap_time_mean_s"],
        "optimal_lap_time_s": round(float(optimal_lap_s), 4),
        "gap_closed_fraction": gap_closed_fraction(
            c["amateur"]["lap_time_mean_s"],
            c["coached"]["lap_time_mean_s"],
            c["pro"]["lap_time_mean_s"],
        ),  # fmt: skip
        "oracle_gap_closed_fraction": gap_closed_fraction(
            c["amateur"]["lap_time_mean_s"],
            c["oracle"]["lap_time_mean_s"],
            c["pro"]["lap_time_mean_s"],
        ),  # fmt: skip
        "amateur_violations_per_episode": c["amateur"]["safety_violations_per_episode"],
        "coached_violations_per_episode": c["coached"]["safety_violations_per_episode"],
        "oracle_violations_per_episode": c["oracle"]["safety_violations_per_episode"],
        "pro_violations_per_episode": c["pro"]["safety_violations_per_episode"],
    }
    result: dict[str, Any] = {
        **{k: c["coached"][k] for k in TOP_LEVEL_KEYS},
        "episodes": episodes,
        "laps_completed": c["coached"]["laps_completed"],
        "crashes": c["coached"]["crashes"],
        "track": str(track),
        "seed": seed,
        "model": {
            "algo": policy.algo,
            "path": None if hasattr(model, "predict") else str(model),
            "provenance": policy.metadata.get("provenance", {}),
        },  # fmt: skip
        "coaching": coaching,
        "conditions": conditions,
        "episodes_by_condition": {n: records_to_json(r.records) for n, r in rollouts.items()},
        "plots": [],
    }
    if output is not None:
        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        if plots:
            from apexrl.evaluate import plots as pl
            from apexrl.tracks.library import load_track

            trk = load_track(track)
            result["plots"] = [
                pl.plot_lap_times(conditions, optimal_lap_s, out / "lap_times.png").name,
                pl.plot_speed_maps(
                    trk,
                    {
                        "amateur alone": rollouts["amateur"].trace,
                        "amateur + learned coach": rollouts["coached"].trace,
                    },
                    out / "speed_map.png",
                ).name,  # fmt: skip
                pl.plot_cues(
                    rollouts["coached"].trace, out / "haptic_cues.png", track_length_m=trk.length_m
                ).name,  # fmt: skip
            ]
        result["seconds"] = round(time.perf_counter() - started, 3)
        write_json_atomic(out / EVALUATION_FILE, result)
    else:
        result["seconds"] = round(time.perf_counter() - started, 3)
    return result


def evaluation_table(evaluation: dict[str, Any]):
    """A rich Table of the conditions: lap time, spread, success, violations, gap closed."""
    from rich import box
    from rich.table import Table

    def fmt(x: float | None, spec: str = ".2f") -> str:
        return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    co = evaluation["coaching"]
    gaps = {"coached": co["gap_closed_fraction"], "oracle": co["oracle_gap_closed_fraction"],
            "amateur": 0.0 if co["amateur_lap_time_s"] is not None else None,
            "pro": 1.0 if co["pro_lap_time_s"] is not None else None}  # fmt: skip
    title = (f"coaching efficacy on {evaluation['track']} ({evaluation['episodes']} episodes, "
             f"seed {evaluation['seed']})")  # fmt: skip
    table = Table(title=title, box=box.SIMPLE_HEAD)
    table.add_column("condition", no_wrap=True)
    for col in ("lap s", "std", "min-max s", "success", "viol/ep", "gap"):
        table.add_column(col, justify="right", no_wrap=True)
    for name in CONDITIONS:
        m = evaluation["conditions"][name]
        spread = (f"{fmt(m['lap_time_min_s'])}-{fmt(m['lap_time_max_s'])}"
                  if m["lap_time_min_s"] is not None else "-")  # fmt: skip
        table.add_row(
            LABELS[name], fmt(m["lap_time_mean_s"]), fmt(m["lap_time_std_s"]), spread,
            fmt(m["success_rate"], ".0%"), fmt(m["safety_violations_per_episode"], ".1f"),
            fmt(gaps[name], ".0%"),
        )  # fmt: skip
    table.add_row("optimal (QSS)", fmt(co["optimal_lap_time_s"]), "", "", "", "", "")
    return table


class _progress:
    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar = None

    def __enter__(self):
        if not self.enabled:
            return lambda _name: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self._bar = Progress("[progress.description]{task.description}", BarColumn(),
                             MofNCompleteColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)  # fmt: skip
        self._bar.__enter__()
        task = self._bar.add_task("evaluating", total=self.total)
        return lambda name: self._bar.update(task, advance=1, description=f"evaluated {name}")

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
