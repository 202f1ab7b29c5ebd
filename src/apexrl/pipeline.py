"""The main job behind ``./run_pipeline.sh`` and ``apexrl pipeline``.

Today the pipeline runs the foundation end to end: track -> minimum-curvature racing line ->
QSS optimal lap on the centre line and on the racing line -> plot and files. The coaching steps
(data -> BC -> PPO -> evaluate -> export) join here as they land; each step is a function of this
module with the same parameters as :func:`run`, so Python users can run any one of them alone.

Every run writes into its own folder (default ``runs/<UTC timestamp>/``) and refuses to write into
a folder that already has files in it. Files are written atomically; ``pipeline.log`` records
each step and ``summary.json`` is written last, only when every step succeeded.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from apexrl.config import runs_dir
from apexrl.io_utils import write_json_atomic, write_text_atomic

log = logging.getLogger("apexrl.pipeline")

DEFAULT_TRACK = "apex_park"


@dataclass(frozen=True)
class OptimalLapSummary:
    """What the optimal-lap step produced (paths are inside the run folder)."""

    track: str
    vehicle: str
    length_m: float
    centerline_lap_time_s: float
    raceline_lap_time_s: float
    raceline_gain_percent: float
    raceline_csv: Path
    plot_png: Path

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["raceline_csv"] = self.raceline_csv.name
        data["plot_png"] = self.plot_png.name
        return data


def prepare_output(output: str | Path | None) -> Path:
    """Create the run folder; refuse a folder that already holds files (never overwrite a run)."""
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = runs_dir() / stamp
    else:
        folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output {str(folder)!r} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(
            f"output folder {str(folder)!r} already has files; apexrl never overwrites a run. "
            "Choose a new --output (the default is a fresh runs/<timestamp>/ folder)."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def optimal_lap(
    output: Path, *, track: str = DEFAULT_TRACK, vehicle: str = "motorcycle"
) -> OptimalLapSummary:
    """Racing line and QSS optimal lap of ``track``: ``raceline.csv``, ``optimal_lap.json``, PNG."""
    from apexrl.evaluate.track_plots import plot_track
    from apexrl.tracks.io import save_csv
    from apexrl.tracks.lapsim import simulate_lap
    from apexrl.tracks.library import load_track
    from apexrl.tracks.raceline import minimum_curvature_line
    from apexrl.vehicles.params import CarParams, MotorcycleParams

    trk = load_track(track)
    envelope = {
        "motorcycle": lambda: MotorcycleParams().envelope(),
        "car": lambda: CarParams().envelope(),
    }
    if vehicle not in envelope:
        raise ValueError(f"vehicle must be one of {', '.join(envelope)}, got {vehicle!r}")
    env = envelope[vehicle]()
    log.info("track %s: %.1f m, %s", trk.name, trk.length_m, trk.orientation)
    t0 = time.perf_counter()
    line = minimum_curvature_line(trk)
    log.info("racing line solved in %.2f s", time.perf_counter() - t0)
    centre = simulate_lap(trk, env)
    best = simulate_lap(line.line, env)
    log.info(
        "optimal lap: centre line %.3f s, racing line %.3f s", centre.lap_time_s, best.lap_time_s
    )

    csv_path = output / "raceline.csv"
    save_csv(line.line, csv_path)
    png = plot_track(
        trk,
        output / "optimal_lap.png",
        racing_line=line,
        lap=best,
        title=f"{trk.name}: optimal lap {best.lap_time_s:.2f} s ({vehicle})",
    )
    summary = OptimalLapSummary(
        track=trk.name,
        vehicle=vehicle,
        length_m=round(trk.length_m, 3),
        centerline_lap_time_s=round(centre.lap_time_s, 4),
        raceline_lap_time_s=round(best.lap_time_s, 4),
        raceline_gain_percent=round(100 * (1 - best.lap_time_s / centre.lap_time_s), 3),
        raceline_csv=csv_path,
        plot_png=png,
    )
    write_json_atomic(
        output / "optimal_lap.json",
        {**summary.to_dict(), "centerline": centre.to_dict(), "raceline": best.to_dict()},
    )
    return summary


def run(
    *,
    track: str = DEFAULT_TRACK,
    output: str | Path | None = None,
    vehicle: str = "motorcycle",
) -> dict:
    """Run every available step into a fresh run folder; return the summary dict.

    A failing step raises; ``summary.json`` is then absent and ``pipeline.log`` holds the error.
    """
    folder = prepare_output(output)
    handler = logging.FileHandler(folder / "pipeline.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    try:
        log.info("apexrl pipeline: track=%s vehicle=%s output=%s", track, vehicle, folder)
        steps: dict[str, dict] = {}
        step_t0 = time.perf_counter()
        steps["optimal_lap"] = optimal_lap(folder, track=track, vehicle=vehicle).to_dict()
        steps["optimal_lap"]["seconds"] = round(time.perf_counter() - step_t0, 3)
        summary = {
            "output": str(folder),
            "track": track,
            "steps": steps,
            "not_yet_available": ["data", "bc", "ppo", "evaluate", "export"],
            "seconds": round(time.perf_counter() - started, 3),
        }
        write_text_atomic(folder / "summary.json", json.dumps(summary, indent=2) + "\n")
        log.info("pipeline finished in %.1f s", summary["seconds"])
        return summary
    except Exception:
        log.exception("pipeline failed")
        raise
    finally:
        log.removeHandler(handler)
        handler.close()
