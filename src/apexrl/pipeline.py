"""The main job behind ``./run_pipeline.sh`` and ``apexrl pipeline``.

Steps, in order, each a function of this module that Python users can run alone:

1. ``optimal_lap``: minimum-curvature racing line and QSS optimal lap of the track (plot, CSV,
   ``optimal_lap.json``); its lap time is the "optimal" row of the evaluation.
2. :func:`generate_data`: the pro and amateur Minari datasets (oracle-coached laps) in
   ``datasets/`` (:func:`apexrl.data.generate.generate_datasets`).
3. :func:`train`: behaviour cloning (``bc/``) and PPO fine-tuning from it (``ppo/``), with
   TensorBoard logs in ``tensorboard/`` and checkpoints in ``ppo/checkpoints/``; then
   :func:`select_coach` picks the run's coach (PPO or its BC start) on validation riders and
   records it in ``coach.json``.
4. :func:`evaluate`: the chosen coach against the amateur alone, the oracle coach, the pro and
   the optimal lap: ``evaluation.json`` and PNGs.
5. :func:`export`: ONNX, TFLite and C artifacts of the chosen coach in ``export/``, each checked
   against PyTorch, with ``export/export_report.json`` (ESP32 budget verdict).

Every run writes into its own folder (default ``runs/<UTC timestamp>/``) and refuses a folder that
already has files in it, except with ``resume=True``, which continues an interrupted run in ITS
folder: finished steps are kept (their files are checked), PPO continues from its latest valid
checkpoint, and the run's own settings (``run.json``) are used. Files are written atomically;
``pipeline.log`` records each step; a failing step stops the run with its error, and
``summary.json`` is written last, only when every step succeeded.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from apexrl.config import runs_dir
from apexrl.io_utils import write_json_atomic, write_text_atomic

log = logging.getLogger("apexrl.pipeline")

DEFAULT_TRACK = "apex_park"
RUN_FILE = "run.json"
SUMMARY_FILE = "summary.json"
DATASETS_DIR = "datasets"
BC_DIR = "bc"
PPO_DIR = "ppo"
TENSORBOARD_DIR = "tensorboard"
DATA_FILE = "data.json"
BC_FILE = "bc.json"
TRAIN_FILE = "train.json"
COACH_FILE = "coach.json"
VALIDATION_EPISODES = 50
"""Lap attempts per condition when the trained coach is chosen (:func:`select_coach`)."""
STEPS = ("optimal_lap", "data", "bc", "ppo", "evaluate", "export")


DEFAULT_LAP_HARMONICS = 8
"""The coach observes its lap position: 8 harmonics (16 channels). Measured on apex_park (1,000
amateur laps): without it the clone causes 50 % more safety violations than the uncoached rider
(0.156 vs 0.104 per lap; README, "Coaching quality")."""
DEFAULT_ACTOR_LAYERS: tuple[int, ...] = (80, 64)
"""The coach's actor: 64-64 (SB3's default) under-fits the oracle in the corner complexes; 80-64 was
safe on every dataset seed measured and keeps the int8 model under 16 KB (README, "Coaching
quality")."""
DEFAULT_BC_MIX: dict[str, float] = {"amateur": 1.0}
"""Behaviour cloning on the amateur dataset only: the coach coaches amateurs, and the oracle's cues
for pros (who ride near the limit) pull its cues for amateurs toward "faster" (README)."""
DEFAULT_INT8_AWARE = True
"""The coach is trained int8-aware (:mod:`apexrl.train.quant`): the int8 model on the ESP32 is the
network that was trained and evaluated, not a post-training approximation of it (README)."""


@dataclass(frozen=True)
class PipelineSettings:
    """The settings of one run (``run.json``); a resumed run keeps them."""

    track: str = DEFAULT_TRACK
    """Track spec (built-in name, shape spec, file)."""
    laps: int = 100
    """Lap attempts per rider dataset."""
    timesteps: int = 100_000
    """PPO env steps."""
    eval_episodes: int = 10
    """Lap attempts per evaluation condition."""
    seed: int = 42
    """Seeds the datasets, BC, PPO and (derived) the evaluation riders."""
    vehicle: str = "motorcycle"
    """Vehicle of the optimal-lap step."""
    lap_harmonics: int = DEFAULT_LAP_HARMONICS
    """Lap-position harmonics the coach observes besides the 8 telemetry channels (0: none);
    README, "Coaching quality"."""
    actor_layers: tuple[int, ...] = DEFAULT_ACTOR_LAYERS
    """Hidden widths of the coach's actor network (BC and PPO; the critic stays 64-64)."""
    bc_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_BC_MIX))
    """Behaviour cloning's share of each rider dataset per epoch (:class:`BCConfig` ``mix``)."""
    int8_aware: bool = DEFAULT_INT8_AWARE
    """Train the coach with the int8 model's roundings (BC, then PPO from it)."""

    def __post_init__(self) -> None:
        from apexrl.data.generate import RIDERS
        from apexrl.envs.vector import check_lap_harmonics
        from apexrl.train.bc import BCConfig
        from apexrl.train.model_io import check_actor_layers

        check_lap_harmonics(self.lap_harmonics)
        if not isinstance(self.int8_aware, bool):
            raise ValueError(f"int8_aware must be true or false, got {self.int8_aware!r}")
        object.__setattr__(self, "actor_layers", check_actor_layers(self.actor_layers))
        unknown = sorted(set(self.bc_mix) - set(RIDERS)) if isinstance(self.bc_mix, dict) else []
        if unknown:
            raise ValueError(f"bc_mix names unknown riders {', '.join(map(repr, unknown))}; "
                             f"the datasets are {', '.join(RIDERS)}")  # fmt: skip
        BCConfig(mix=self.bc_mix)  # the same checks as behaviour cloning's own
        for name in ("laps", "timesteps", "eval_episodes"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")


def evaluation_seed(seed: int) -> int:
    """The first env seed of the evaluation riders: derived from ``seed`` so they are not the
    riders PPO trained on (its envs use ``seed + i``)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, 0xE7A1]).generate_state(1)[0] % 2**31)


def validation_seed(seed: int) -> int:
    """The first env seed of the validation riders that choose the coach (:func:`select_coach`):
    neither the evaluation riders (:func:`evaluation_seed`) nor PPO's (``seed + i``)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, 0x7A11D]).generate_state(1)[0] % 2**31)


def coach_model(output: str | Path) -> Path:
    """The run's coach: the model :func:`select_coach` chose (``coach.json``), else the PPO
    model."""
    folder = Path(output)
    record = folder / COACH_FILE
    if record.is_file():
        return folder / json.loads(record.read_text(encoding="utf-8"))["model"]
    return folder / PPO_DIR / "model"


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


def prepare_output(output: str | Path | None, *, resume: bool = False) -> Path:
    """Create the run folder; refuse a folder that already holds files (never overwrite a run),
    unless ``resume`` (then it must be an apexrl run folder)."""
    if output is None:
        if resume:
            raise ValueError("resume needs the folder of the run to continue (--output RUN)")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = runs_dir() / stamp
    else:
        folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output {str(folder)!r} exists and is not a folder")
    if resume:
        if not (folder / RUN_FILE).is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} is not an apexrl run folder (no {RUN_FILE}); nothing to resume"
            )
        return folder
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(
            f"output folder {str(folder)!r} already has files; apexrl never overwrites a run. "
            "Choose a new --output (the default is a fresh runs/<timestamp>/ folder), or pass "
            "--resume to continue an interrupted run in it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------------- steps
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


def generate_data(
    output: str | Path,
    *,
    track: str = DEFAULT_TRACK,
    laps: int = 100,
    seed: int = 42,
    progress: bool = True,
    resume: bool = False,
) -> dict[str, Any]:
    """Write the pro and amateur datasets into ``output/datasets`` (a Minari root) and
    ``output/datasets/data.json``; with ``resume``, datasets already complete there are kept."""
    from apexrl.data.generate import RIDERS, dataset_id, generate_datasets
    from apexrl.data.minari_io import dataset_path

    root = Path(output) / DATASETS_DIR
    done = [r for r in RIDERS if (dataset_path(root, dataset_id(r)) / "checksums.json").is_file()]
    if resume and len(done) == len(RIDERS) and (root / DATA_FILE).is_file():
        log.info("data: kept the datasets in %s", root)
        return json.loads((root / DATA_FILE).read_text(encoding="utf-8"))
    todo = [r for r in RIDERS if not resume or r not in done] or list(RIDERS)
    summary = generate_datasets(root, laps=laps, seed=seed, track=track, riders=todo,
                                progress=progress, force=resume)  # fmt: skip
    if resume and len(todo) < len(RIDERS) and (root / DATA_FILE).is_file():
        kept = json.loads((root / DATA_FILE).read_text(encoding="utf-8"))
        summary["datasets"] = [d for d in kept["datasets"] if d["rider"] not in todo] + summary[
            "datasets"
        ]
    for d in summary["datasets"]:
        log.info("data: %s: %s", d["dataset_id"], d["counts"])
    write_json_atomic(root / DATA_FILE, summary)
    return summary


def train(
    output: str | Path,
    *,
    track: str = DEFAULT_TRACK,
    timesteps: int = 100_000,
    seed: int = 42,
    datasets: str | Path | None = None,
    progress: bool = True,
    resume: bool = False,
    lap_harmonics: int = DEFAULT_LAP_HARMONICS,
    actor_layers: tuple[int, ...] = DEFAULT_ACTOR_LAYERS,
    bc_mix: dict[str, float] | None = None,
    int8_aware: bool = DEFAULT_INT8_AWARE,
) -> dict[str, Any]:
    """Behaviour cloning on the datasets (``output/bc``), then PPO from that policy
    (``output/ppo``); both observe ``lap_harmonics`` lap-position harmonics and have an actor
    with hidden layers ``actor_layers``; BC draws ``bc_mix`` (default :data:`DEFAULT_BC_MIX`)
    of each rider's data. ``datasets`` is
    the Minari root (default ``output/datasets``); without
    datasets there, PPO starts from a fresh policy (logged). With ``resume``, a finished BC model
    is kept and PPO continues from its latest valid checkpoint."""
    from apexrl.data.generate import RIDERS, dataset_id
    from apexrl.data.minari_io import dataset_path
    from apexrl.train.bc import BCConfig, train_bc
    from apexrl.train.model_io import actor_policy_kwargs
    from apexrl.train.rl import train_rl

    kwargs = actor_policy_kwargs("ppo", actor_layers)
    if int8_aware:
        kwargs["int8_aware"] = True
    out = Path(output)
    root = Path(datasets) if datasets is not None else out / DATASETS_DIR
    bc_dir = out / BC_DIR
    result: dict[str, Any] = {}
    have = all((dataset_path(root, dataset_id(r)) / "data").is_dir() for r in RIDERS)
    if resume and (bc_dir / "model.json").is_file() and (bc_dir / BC_FILE).is_file():
        result["bc"] = json.loads((bc_dir / BC_FILE).read_text(encoding="utf-8"))
        log.info("bc: kept the model in %s", bc_dir)
    elif have:
        # force on resume: a model saved just before the kill, without its bc.json, is redone.
        bc = train_bc(root, bc_dir, seed=seed, tensorboard_dir=out / TENSORBOARD_DIR / "bc",
                      progress=progress, force=resume, policy_kwargs=kwargs,
                      config=BCConfig(mix=dict(bc_mix or DEFAULT_BC_MIX),
                                      lap_harmonics=lap_harmonics))  # fmt: skip
        result["bc"] = bc.summary()
        write_json_atomic(bc_dir / BC_FILE, result["bc"])
        log.info("bc: %d epochs (best %d), validation loss %s, %.1f s", len(bc.train_loss),
                 bc.best_epoch, result["bc"]["best_val_loss"], bc.seconds)  # fmt: skip
    else:
        result["bc"] = {"skipped": f"no datasets in {root}: PPO starts from a fresh policy"}
        log.warning("bc: skipped: no datasets in %s; PPO starts from a fresh policy", root)
    init = bc_dir if (bc_dir / "model.json").is_file() else None
    rl = train_rl(out / PPO_DIR, timesteps=timesteps, track=track, seed=seed, init_policy=init,
                  resume=resume, tensorboard_dir=out / TENSORBOARD_DIR / "ppo",
                  progress=progress, provenance={"datasets_root": str(root)},
                  lap_harmonics=lap_harmonics, policy_kwargs=kwargs)  # fmt: skip
    result["ppo"] = rl.summary()
    log.info("ppo: %d steps (resumed from %s), %.0f env-steps/s", rl.timesteps, rl.resumed_from,
             rl.env_steps_per_s)  # fmt: skip
    write_json_atomic(out / PPO_DIR / TRAIN_FILE, result)
    candidates = {"ppo": Path(PPO_DIR) / "model"}
    if init is not None:
        candidates["bc"] = Path(BC_DIR)
    result["coach"] = select_coach(out, candidates, track=track, seed=seed)
    return result


def select_coach(
    output: str | Path,
    candidates: dict[str, Path],
    *,
    track: str = DEFAULT_TRACK,
    seed: int = 42,
    episodes: int = VALIDATION_EPISODES,
) -> dict[str, Any]:
    """Choose the run's coach among trained models on VALIDATION riders, like an early-stopping
    callback: each candidate (name -> model folder relative to ``output``, in order of
    preference on a tie) coaches ``episodes`` amateurs seeded by :func:`validation_seed`, never the
    evaluation riders. A candidate qualifies when it causes no more safety violations per episode
    than the uncoached amateurs; the qualifying one that closes the largest share of the
    amateur-to-pro gap is chosen (if none qualifies, the one with the fewest violations). Writes
    ``output/coach.json``; :func:`coach_model` reads it.

    Why: 100 k PPO steps (about 40 laps of experience) do not reliably improve the cloned coach;
    measured on 200 amateurs, the default run's PPO coach closed 46 % of the gap and its BC start
    51 %. The chosen model is reported, never hidden: ``coach.json`` has every candidate's
    validation numbers.
    """
    from apexrl.evaluate.coaching import gap_closed_fraction
    from apexrl.evaluate.metrics import lap_metrics, no_cue, policy_coach, run_episodes
    from apexrl.train.model_io import load_policy

    folder = Path(output)
    first = validation_seed(seed)

    def measure(coach, rider: str) -> dict[str, Any]:
        m = lap_metrics(run_episodes(coach, track=track, rider=rider, episodes=episodes,
                                     seed=first).records)  # fmt: skip
        return {k: m[k] for k in ("lap_time_mean_s", "success_rate",
                                  "safety_violations_per_episode")}  # fmt: skip

    amateur, pro = measure(no_cue, "amateur"), measure(no_cue, "pro")
    scored: dict[str, dict[str, Any]] = {}
    for name, rel in candidates.items():
        m = measure(policy_coach(load_policy(folder / rel)), "amateur")
        m["gap_closed_fraction"] = gap_closed_fraction(
            amateur["lap_time_mean_s"], m["lap_time_mean_s"], pro["lap_time_mean_s"]
        )
        m["qualifies"] = (
            m["safety_violations_per_episode"] <= amateur["safety_violations_per_episode"]
        )
        scored[name] = m

    def rank(name: str) -> tuple:
        m = scored[name]
        gap = m["gap_closed_fraction"] if m["gap_closed_fraction"] is not None else -1e9
        if m["qualifies"]:
            return (1, gap, 0.0)
        return (0, -m["safety_violations_per_episode"], gap)

    chosen = max(candidates, key=rank)  # max keeps the first of equals: the preference order
    record = {"chosen": chosen, "model": candidates[chosen].as_posix(), "track": str(track),
              "episodes": episodes, "seed": first, "amateur": amateur, "pro": pro,
              "candidates": scored}  # fmt: skip
    write_json_atomic(folder / COACH_FILE, record)
    log.info("coach: %s chosen on %d validation amateurs (gap closed %s)", chosen, episodes,
             ", ".join(f"{n} {m['gap_closed_fraction']}" for n, m in scored.items()))  # fmt: skip
    return record


def evaluate(
    output: str | Path,
    *,
    track: str = DEFAULT_TRACK,
    eval_episodes: int = 10,
    seed: int = 42,
    model: str | Path | None = None,
    optimal_lap_s: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Coaching efficacy of ``model`` (default :func:`coach_model`: the chosen coach) on
    ``track``: writes ``output/evaluation.json`` and its PNGs
    (:func:`apexrl.evaluate.coaching.evaluate_coach`), with the evaluation riders seeded by
    :func:`evaluation_seed`."""
    from apexrl.evaluate.coaching import evaluate_coach

    path = Path(model) if model is not None else coach_model(output)
    result = evaluate_coach(path, output, track=track, episodes=eval_episodes,
                            seed=evaluation_seed(seed), optimal_lap_s=optimal_lap_s,
                            progress=progress, overwrite=True)  # fmt: skip
    c = result["coaching"]
    log.info("evaluate: amateur %s s, coached %s s, oracle %s s, pro %s s, optimal %s s; gap "
             "closed %s; violations/episode amateur %s, coached %s", c["amateur_lap_time_s"],
             c["coached_lap_time_s"], c["oracle_lap_time_s"], c["pro_lap_time_s"],
             c["optimal_lap_time_s"], c["gap_closed_fraction"],
             c["amateur_violations_per_episode"], c["coached_violations_per_episode"])  # fmt: skip
    return result


EXPORT_DIR = "export"


FIRMWARE_ARTIFACTS = ("policy.onnx", "policy_fp32.tflite", "policy_mlp.c", "policy_mlp.h")
"""The artifacts the shipped firmware path uses (examples/esp32 runs the fp32 C MLP): if one of
them fails its check against PyTorch, the export step fails the pipeline."""


def export(
    output: str | Path,
    *,
    model: str | Path | None = None,
    seed: int = 42,
    progress: bool = True,
    resume: bool = False,
    track: str | None = None,
) -> dict[str, Any]:
    """The export step (calibration rollouts on ``track``, default: the model's own): ONNX,
    TFLite (fp32/fp16/dynamic/int8), the TFLM C array and the C MLP of
    ``model`` (default :func:`coach_model`: the run's chosen coach) into ``<output>/export/``,
    every artifact checked against PyTorch (:func:`apexrl.export.export_policy`, which is strict
    on its own).

    In the pipeline a failed check on one of :data:`FIRMWARE_ARTIFACTS` fails the step. A
    quantized variant (fp16, dynamic, int8, int8 ONNX) out of tolerance is REJECTED instead: the
    export moves it to ``export/rejected/``, the step lists it with its error under ``rejected``
    and the run's summary and the CLI say so; a model that quantizes badly must not cost the
    whole trained run.
    """
    from apexrl.export import ExportError
    from apexrl.export.report import CalibrationConfig, export_policy

    folder = Path(output)
    chosen = Path(model) if model is not None else coach_model(folder)
    if not ((chosen / "model.json").is_file() or chosen.suffix == ".zip"):
        raise FileNotFoundError(f"export: no model at {chosen}; train first or pass --model")
    report_path = folder / EXPORT_DIR / "export_report.json"
    try:
        report = export_policy(
            chosen,
            folder / EXPORT_DIR,
            calibration=CalibrationConfig(seed=seed, track=track),
            progress=progress,
            overwrite=resume,
        )
    except ExportError:
        if not report_path.is_file():
            raise
        report = json.loads(report_path.read_text())
        failed = [n for n, a in report["artifacts"].items() if not a.get("passed", False)]
        if not failed or any(name in FIRMWARE_ARTIFACTS for name in failed):
            raise
    rejected = {
        name: round(a["max_error_fraction_of_range"], 5)
        for name, a in report["artifacts"].items()
        if not a.get("passed", False)
    }
    if rejected:
        log.warning("export: rejected (out of tolerance, moved to %s/rejected): %s",
                    EXPORT_DIR, "; ".join(report.get("failures", [])))  # fmt: skip
    int8 = report["artifacts"]["policy_int8.tflite"]
    log.info("export: int8 %d B, max error %.2f %% of range, ESP32 ~%.3f ms, fits budget: %s",
             int8["bytes"], 100 * int8["max_error_fraction_of_range"],
             report["esp32_latency_estimate_ms"], report["fits_budget"])  # fmt: skip
    return {
        "export_dir": EXPORT_DIR,
        "report": f"{EXPORT_DIR}/export_report.json",
        "rejected": rejected,
        "int8_bytes": int8["bytes"],
        "int8_max_error_fraction_of_range": int8["max_error_fraction_of_range"],
        "tflm_arena_bytes": report["tflm_arena_bytes"],
        "tflm_matches_litert": report["tflm_matches_litert"],
        "esp32_latency_estimate_ms": report["esp32_latency_estimate_ms"],
        "fits_budget": report["fits_budget"],
    }


# ---------------------------------------------------------------------- the whole run
def run(
    *,
    track: str | None = None,
    output: str | Path | None = None,
    vehicle: str | None = None,
    laps: int | None = None,
    timesteps: int | None = None,
    eval_episodes: int | None = None,
    seed: int | None = None,
    lap_harmonics: int | None = None,
    actor_layers: tuple[int, ...] | None = None,
    bc_mix: dict[str, float] | None = None,
    int8_aware: bool | None = None,
    skip_data: bool = False,
    skip_train: bool = False,
    skip_export: bool = False,
    resume: bool = False,
    datasets: str | Path | None = None,
    model: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the pipeline into a fresh run folder (or continue one); return the summary dict.

    Settings left None take :class:`PipelineSettings`' defaults, or with ``resume=True`` the
    interrupted run's own (``run.json``; a different value is an error).

    Args:
        output: run folder; default ``runs/<UTC timestamp>/``.
        lap_harmonics: lap-position harmonics of the coach's observation (default
            :data:`DEFAULT_LAP_HARMONICS`; 0 = the 8 telemetry channels only).
        actor_layers: hidden widths of the coach's actor (default :data:`DEFAULT_ACTOR_LAYERS`).
        bc_mix: behaviour cloning's rider mix (default :data:`DEFAULT_BC_MIX`).
        int8_aware: train the coach int8-aware (default :data:`DEFAULT_INT8_AWARE`).
        skip_data: do not generate datasets; BC uses ``datasets`` (or the run's own, when
            resuming), and without any PPO starts from a fresh policy.
        skip_train: no BC, no PPO; the evaluation uses ``model`` (or the run's own), and is
            skipped when there is none.
        skip_export: do not run the export step.
        resume: continue the interrupted run in ``output``.
        datasets: Minari root with existing datasets (for ``skip_data``).
        model: an existing model folder to evaluate (for ``skip_train``).
        progress: rich progress bars and step headers on stderr.

    A failing step raises; ``summary.json`` is then absent and ``pipeline.log`` holds the error.
    """
    given = {"track": track, "vehicle": vehicle, "laps": laps, "timesteps": timesteps,
             "eval_episodes": eval_episodes, "seed": seed,
             "lap_harmonics": lap_harmonics,
             "actor_layers": None if actor_layers is None else tuple(actor_layers),
             "bc_mix": None if bc_mix is None else dict(bc_mix),
             "int8_aware": int8_aware}  # fmt: skip
    if not resume:  # bad settings fail before any folder is made
        PipelineSettings(**{k: v for k, v in given.items() if v is not None})
    if not (skip_data and skip_train):
        require_extra("train")
    if not skip_export:
        require_extra("edge")
    folder = prepare_output(output, resume=resume)
    settings = _settings(folder, given, resume)
    handler = logging.FileHandler(folder / "pipeline.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root_log = logging.getLogger("apexrl")
    root_log.addHandler(handler)
    previous_level, previous_propagate = root_log.level, root_log.propagate
    root_log.setLevel(logging.INFO)
    # The run's log goes to pipeline.log only: Python's last-resort handler would otherwise print
    # warnings and tracebacks on the terminal, where the CLI prints one clear line instead.
    root_log.propagate = False
    started = time.perf_counter()
    steps: dict[str, dict] = {}
    current = "setup"
    try:
        log.info("apexrl pipeline %s: %s -> %s", "resumed" if resume else "started",
                 json.dumps(_settings_json(settings)), folder)  # fmt: skip
        if not resume:
            created = datetime.now(UTC).isoformat(timespec="seconds")
            write_json_atomic(folder / RUN_FILE,
                              {**_settings_json(settings), "created_utc": created})  # fmt: skip
        s = settings
        header = _Header(progress)

        current = "optimal_lap"
        header(current)
        t0 = time.perf_counter()
        if resume and (folder / "optimal_lap.json").is_file():
            lap = json.loads((folder / "optimal_lap.json").read_text(encoding="utf-8"))
            steps[current] = {k: lap[k] for k in (
                "track", "vehicle", "length_m", "centerline_lap_time_s", "raceline_lap_time_s",
                "raceline_gain_percent", "raceline_csv", "plot_png")}  # fmt: skip
        else:
            steps[current] = optimal_lap(folder, track=s.track, vehicle=s.vehicle).to_dict()
        steps[current]["seconds"] = round(time.perf_counter() - t0, 3)

        current = "data"
        header(current)
        t0 = time.perf_counter()
        if skip_data:
            steps[current] = {"skipped": "--skip-data"}
            log.info("data: skipped (--skip-data)")
        else:
            data = generate_data(folder, track=s.track, laps=s.laps, seed=s.seed,
                                 progress=progress, resume=resume)  # fmt: skip
            steps[current] = {"datasets": [{k: d[k] for k in ("dataset_id", "counts",
                                                              "lap_time_s", "bytes")}
                                           for d in data["datasets"]]}  # fmt: skip
        steps[current]["seconds"] = round(time.perf_counter() - t0, 3)

        current = "train"
        header("bc + ppo")
        t0 = time.perf_counter()
        if skip_train:
            steps["bc"] = steps["ppo"] = {"skipped": "--skip-train"}
            log.info("bc, ppo: skipped (--skip-train)")
        else:
            if skip_data and datasets is None and not (folder / DATASETS_DIR).is_dir():
                log.warning("--skip-data without --datasets: there are no datasets to clone")
            trained = train(folder, track=s.track, timesteps=s.timesteps, seed=s.seed,
                            datasets=datasets, progress=progress, resume=resume,
                            lap_harmonics=s.lap_harmonics,
                            actor_layers=s.actor_layers, bc_mix=s.bc_mix,
                            int8_aware=s.int8_aware)  # fmt: skip
            steps["bc"] = trained["bc"]
            steps["ppo"] = trained["ppo"]
            steps["coach"] = {k: trained["coach"][k] for k in ("chosen", "model")}
            steps["coach"]["validation"] = trained["coach"]["candidates"]
            steps["ppo"]["seconds_with_bc"] = round(time.perf_counter() - t0, 3)

        current = "evaluate"
        header(current)
        t0 = time.perf_counter()
        chosen = Path(model) if model is not None else coach_model(folder)
        if (chosen / "model.json").is_file() or chosen.suffix == ".zip":
            result = evaluate(folder, track=s.track, eval_episodes=s.eval_episodes, seed=s.seed,
                              model=chosen,
                              optimal_lap_s=steps["optimal_lap"]["raceline_lap_time_s"],
                              progress=progress)  # fmt: skip
            steps[current] = {"evaluation_json": "evaluation.json", "coaching": result["coaching"],
                              "plots": result["plots"]}  # fmt: skip
        else:
            steps[current] = {"skipped": f"no model to evaluate at {chosen}"}
            log.warning("evaluate: skipped: no model at %s", chosen)
        steps[current]["seconds"] = round(time.perf_counter() - t0, 3)

        current = "export"
        if skip_export:
            steps[current] = {"skipped": "--skip-export"}
            log.info("export: skipped (--skip-export)")
        else:
            header(current)
            t0 = time.perf_counter()
            if (chosen / "model.json").is_file() or chosen.suffix == ".zip":
                steps[current] = export(folder, model=chosen, seed=s.seed, progress=progress,
                                        resume=resume, track=s.track)  # fmt: skip
            else:
                steps[current] = {"skipped": f"no model to export at {chosen}"}
                log.warning("export: skipped: no model at %s", chosen)
            steps[current]["seconds"] = round(time.perf_counter() - t0, 3)

        summary = {
            "output": str(folder),
            "track": s.track,
            "settings": _settings_json(s),
            "resumed": resume,
            "steps": steps,
            "seconds": round(time.perf_counter() - started, 3),
        }
        write_text_atomic(folder / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
        log.info("pipeline finished in %.1f s", summary["seconds"])
        return summary
    except BaseException as exc:
        log.exception("pipeline failed in step %s: %s", current, exc)
        raise
    finally:
        root_log.removeHandler(handler)
        root_log.setLevel(previous_level)
        root_log.propagate = previous_propagate
        handler.close()


class MissingExtraError(ValueError):
    """A step needs packages of an apexrl extra that is not installed."""


_EXTRA_USE = {
    "train": "the data, training and evaluation steps",
    "edge": "the export step",
}
_EXTRA_SKIP = {
    "train": "--skip-data --skip-train runs the optimal lap alone",
    "edge": "--skip-export leaves it out",
}


def require_extra(extra: str) -> None:
    """Raise :class:`MissingExtraError` unless apexrl's ``extra`` ("train", which includes
    "data", or "edge") is installed, naming what is missing and how to install it."""
    from importlib import metadata

    from apexrl.config import EXTRAS

    dists = EXTRAS["data"] + EXTRAS["train"] if extra == "train" else EXTRAS[extra]
    missing = []
    for dist in dists:
        try:
            metadata.version(dist)
        except metadata.PackageNotFoundError:
            missing.append(dist)
    if missing:
        raise MissingExtraError(
            f"{_EXTRA_USE[extra]} need apexrl's '{extra}' extra (missing: {', '.join(missing)}):"
            f" run scripts/bootstrap.sh train,edge, or pip install -e '.[{extra}]' -c"
            f" constraints.txt; {_EXTRA_SKIP[extra]}"
        )


def _settings_json(settings: PipelineSettings) -> dict[str, Any]:
    """``run.json``'s and the summary's form of the settings (lists, as JSON reads them back)."""
    return {**asdict(settings), "actor_layers": list(settings.actor_layers)}


def _settings(folder: Path, given: dict[str, Any], resume: bool) -> PipelineSettings:
    from apexrl.train.bc import BCConfig
    from apexrl.train.model_io import default_policy_kwargs

    if not resume:
        return PipelineSettings(**{k: v for k, v in given.items() if v is not None})
    saved = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    known = {f.name for f in fields(PipelineSettings)}
    # A run from before a setting existed keeps what it was built with then: no lap position,
    # SB3's default actor, behaviour cloning's default rider mix, a float coach.
    saved.setdefault("lap_harmonics", 0)
    saved.setdefault("actor_layers", default_policy_kwargs("ppo")["net_arch"]["pi"])
    saved["actor_layers"] = tuple(saved["actor_layers"])
    saved.setdefault("bc_mix", dict(BCConfig().mix))
    saved.setdefault("int8_aware", False)
    settings = PipelineSettings(**{k: v for k, v in saved.items() if k in known})
    clash = {k: (getattr(settings, k), v) for k, v in given.items()
             if v is not None and v != getattr(settings, k)}  # fmt: skip
    if clash:
        detail = ", ".join(f"{k}={was!r} (given {now!r})" for k, (was, now) in clash.items())
        raise ValueError(
            f"cannot resume {str(folder)!r} with other settings: the run has {detail}; leave "
            "them out to use the run's own"
        )
    return settings


class _Header:
    """Step headers on stderr while the pipeline runs with progress output."""

    def __init__(self, enabled: bool) -> None:
        self.console = None
        if enabled:
            from rich.console import Console

            self.console = Console(stderr=True, highlight=False)

    def __call__(self, step: str) -> None:
        if self.console is not None:
            self.console.print(f"[bold cyan]>>[/] {step}")
