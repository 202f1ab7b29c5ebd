"""The export run and its report: calibration data, every artifact checked against PyTorch, MAC
counts, the device budget and ``export_report.json``.

:func:`export_policy` is the pipeline's export step and ``apexrl export``. It never trusts a file
because it converted: each artifact runs on held-out observations next to the PyTorch
deterministic actor, the int8 model also runs in the real TFLM interpreter and must agree with
LiteRT, and the C forward pass is compiled and run. Anything outside :class:`Tolerances` moves
the failing files into ``rejected/``, writes the report and raises
:class:`~apexrl.export.ExportError` naming each failure.

Calibration (:class:`CalibrationConfig`) comes from real riding: MotoCoach rollouts of amateur and
pro riders coached by the oracle and by the policy itself (or the Minari datasets), never random
noise, which misses the real range of every channel (shared/specs/edge.md). Validation uses other
riders and seeds than calibration.

TFLM and LiteRT round int8 requantization differently (measured: 1-step differences after the
first layer in ~17 % of rows, amplified by tanh to up to ~10 steps at the output of a trained
coach), so "TFLM matches LiteRT" is a bound on their disagreement (:class:`Tolerances`), and TFLM's
own outputs must meet the int8 tolerances against PyTorch.

ESP32 latency is estimated from the MAC count with Espressif's published TFLM + ESP-NN figure
(:data:`ESP32`).
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from apexrl.export import ActorGraph, Conv2D, Dense, ExportError, LoadedActor, load_actor
from apexrl.io_utils import to_jsonable, write_bytes_atomic, write_json_atomic

REPORT_FILE = "export_report.json"
REPORT_FORMAT = "apexrl-export-report-v1"
REJECTED_DIR = "rejected"
ARTIFACTS = ("policy.onnx", "policy_fp32.tflite", "policy_fp16.tflite", "policy_dynamic.tflite",
             "policy_int8.tflite", "policy_int8.h", "policy_int8.cc", "policy_mlp.h",
             "policy_mlp.c", "policy_int8.onnx")  # fmt: skip
OBSERVATION_UNITS = ("m/s", "deg", "g", "m", "1", "1", "m", "1")
"""Units of the MotoCoach telemetry channels (apexrl.envs.vector.OBSERVATION_NAMES order)."""


# ---------------------------------------------------------------------- settings
def _positive(obj: Any, names: tuple[str, ...], *, zero_ok: bool = False) -> None:
    for name in names:
        v = getattr(obj, name)
        ok = not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)
        if not ok or v < 0 or (v == 0 and not zero_ok):
            kind = "a number >= 0" if zero_ok else "a positive number"
            raise ValueError(f"{type(obj).__name__}.{name} must be {kind}, got {v!r}")


@dataclass(frozen=True)
class DeviceBudget:
    """A target microcontroller and what the exported int8 model may use on it."""

    name: str = "esp32"
    """Device name, for the report."""
    latency_ms: float = 50.0
    """The estimated inference time must stay below this (20 Hz control: 50 ms per step)."""
    flash_bytes: int = 2 * 1024 * 1024
    """The int8 model must be smaller than this."""
    arena_bytes: int = 128 * 1024
    """SRAM granted to the TFLM tensor arena; the measured minimum must fit."""
    ms_per_million_macs: float = 53.0
    """Inference time per million multiply-accumulates on this device."""
    source: str = (
        "Espressif esp-tflite-micro with ESP-NN: person detection (7.16 M MACs) runs in 380 ms "
        "on an ESP32 at 240 MHz, about 53 ms per million MACs (570 ms without ESP-NN)"
    )
    """Where ``ms_per_million_macs`` comes from."""

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and self.name and isinstance(self.source, str)):
            raise ValueError("DeviceBudget.name and .source must be non-empty strings")
        _positive(self, ("latency_ms", "flash_bytes", "arena_bytes", "ms_per_million_macs"))


ESP32 = DeviceBudget()
ESP32_S3 = DeviceBudget(name="esp32s3", ms_per_million_macs=7.5,
                        source="Espressif esp-tflite-micro with ESP-NN: about 7.5 ms per million "
                        "MACs on an ESP32-S3 at 240 MHz (person detection benchmark)")  # fmt: skip
DEVICES = {"esp32": ESP32, "esp32s3": ESP32_S3}


def device_budget(name: str = "esp32", **overrides: Any) -> DeviceBudget:
    """A preset from :data:`DEVICES` with some fields replaced (None values are ignored)."""
    if name not in DEVICES:
        raise ValueError(f"unknown device {name!r}; known: {', '.join(sorted(DEVICES))}")
    known = {f.name for f in fields(DeviceBudget)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown budget field(s) {', '.join(unknown)}; known: {sorted(known)}")
    return replace(DEVICES[name], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Tolerances:
    """How far each artifact may be from the PyTorch actor, as fractions of each action's range
    (the worst channel), on held-out observations."""

    float32: float = 1e-5
    """ONNX, fp32 TFLite and the C forward pass (max error)."""
    float16: float = 5e-3
    """fp16-weight TFLite (max error)."""
    dynamic_range: float = 0.04
    """Dynamic-range TFLite: int8 weights, float activations (max error)."""
    int8: float = 0.08
    """Full-int8 TFLite (LiteRT and TFLM) and int8 ONNX (max error). The issue's goal is 0.02
    (reported under "targets"); trained coaches measure 0.04-0.05 because one 8-bit input step
    (5-8 cm of racing-line deviation) already moves their sharp cues."""
    int8_mean: float = 0.015
    """The same artifacts, mean error: a broken calibration shows here first."""
    tflm_max_lsb: int = 16
    """TFLM vs LiteRT int8 outputs: largest difference in int8 steps."""
    tflm_mean_lsb: float = 1.0
    """TFLM vs LiteRT int8 outputs: mean difference in int8 steps (measured: 0.1 for the MLP
    coach, 0.3-0.7 for a NatureCNN; a wrong scale or kernel gives several)."""

    def __post_init__(self) -> None:
        _positive(self, tuple(f.name for f in fields(self)), zero_ok=True)


@dataclass(frozen=True)
class CalibrationConfig:
    """Where calibration and validation observations come from (MotoCoach policies).

    ``rollouts``: every rider of ``riders`` rides ``steps`` steps in ``num_envs`` envs coached by
    each of ``actors``; validation repeats that with other seeds. ``datasets``: the Minari
    datasets under ``datasets_root``; every fifth episode validates.
    """

    source: Literal["rollouts", "datasets"] = "rollouts"
    """``"rollouts"`` or ``"datasets"``."""
    track: str | None = None
    """Track of the rollouts; None: the model's training track (model.json), else apex_park."""
    riders: tuple[str, ...] = ("amateur", "pro")
    """Rider presets (rollouts) or whose datasets are read."""
    actors: tuple[str, ...] = ("oracle", "policy")
    """Who gives the cues during rollouts: ``"oracle"`` and/or ``"policy"``."""
    num_envs: int = 8
    """Parallel envs per rollout."""
    steps: int = 2400
    """Steps per rollout (2400 x 0.05 s = 2 min: more than a lap of apex_park)."""
    seed: int = 0
    """Seeds the rollouts and the sampling; validation rollouts use ``seed + 100_000``."""
    datasets_root: str | None = None
    """Minari root for ``source="datasets"``."""
    calibration_samples: int = 1000
    """Observations given to the quantizers (plus each channel's extremes)."""
    validation_samples: int = 4000
    """Held-out observations every artifact is checked on."""
    camera_frames: int = 64
    """Camera policies: DeepRacer frames for calibration and again for validation (a CNN runs
    for milliseconds per frame in the host TFLM build)."""

    def __post_init__(self) -> None:
        if self.source not in ("rollouts", "datasets"):
            raise ValueError(f"calibration source must be 'rollouts' or 'datasets', got "
                             f"{self.source!r}")  # fmt: skip
        bad = sorted(set(self.actors) - {"oracle", "policy"})
        if bad or not self.actors or not self.riders:
            raise ValueError("calibration needs riders and actors from 'oracle', 'policy'; got "
                             f"riders={self.riders!r}, actors={self.actors!r}")  # fmt: skip
        for name in ("num_envs", "steps", "calibration_samples", "validation_samples",
                     "camera_frames"):  # fmt: skip
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CalibrationConfig.{name} must be a positive integer, got {v!r}")
        if self.source == "datasets" and not self.datasets_root:
            raise ValueError("calibration from datasets needs datasets_root")


DYNAMIC_SKIPPED = (
    "not made for an int8-aware coach: LiteRT's dynamic-range kernels re-quantize every layer's "
    "input to their own per-run int8 scale, which is not the grid the coach was trained on "
    "(measured: 9-10 % of the action range off the coach); policy_int8.tflite is the trained "
    "int8 network, and policy.onnx / policy_fp16.tflite its float network"
)
"""Why ``policy_dynamic.tflite`` is left out for int8-aware coaches (``skipped_artifacts``)."""
INT8_AWARE_REFERENCES = (
    "int8 artifacts and the C forward pass: the actor's own int8 forward (it was trained with the "
    "int8 model's roundings); policy.onnx, policy_fp32/fp16.tflite: the same network without them"
)


# ---------------------------------------------------------------------- observations
@dataclass(frozen=True, eq=False)
class Observations:
    """``calibration (N, *input_shape)`` for the quantizers, ``validation (M, ...)`` held out,
    ``pool``: every calibration observation."""

    calibration: np.ndarray
    validation: np.ndarray
    pool: np.ndarray
    provenance: dict[str, Any] = field(default_factory=dict)


def collect_observations(
    actor: LoadedActor, config: CalibrationConfig | np.ndarray | None = None
) -> Observations:
    """Calibration and validation observations for ``actor``: rollouts or datasets
    (``config``), or an array ``(N, *input_shape)`` of real observations (split 50/50, seeded)."""
    rng = np.random.default_rng(0)
    if isinstance(config, np.ndarray):
        data = np.asarray(config, dtype=np.float32)
        if data.shape[1:] != actor.graph.input_shape or len(data) < 4:
            shape = ", ".join(map(str, actor.graph.input_shape))
            raise ValueError(
                f"calibration observations must be (N >= 4, {shape}), got {data.shape}"
            )
        order = rng.permutation(len(data))
        pool, held = data[order[: len(data) // 2]], data[order[len(data) // 2 :]]
        cfg = CalibrationConfig(validation_samples=len(held))
        provenance: dict[str, Any] = {"source": "array", "observations": len(data)}
    else:
        cfg = config or CalibrationConfig()
        shape = actor.graph.input_shape
        if len(shape) == 3 and shape[:2] == (120, 160) and cfg.source == "rollouts":
            track = cfg.track or "dr_oval"
            pool = _camera_rollouts(actor, cfg, track, cfg.seed)
            held = _camera_rollouts(actor, cfg, track, cfg.seed + 100_000)
            cfg = replace(cfg, validation_samples=len(held))
            provenance = {"source": "deepracer camera rollouts", "track": track, "seed": cfg.seed}
        elif shape != (_telemetry_dim(actor),):
            raise ValueError(
                f"rollout calibration covers MotoCoach telemetry (8 channels, plus the model's "
                f"lap-position channels) and DeepRacer "
                f"camera (120, 160, C) policies; this policy takes {shape}: pass real "
                "observations as calibration=array (N, *input_shape)"
            )
        elif cfg.source == "rollouts":
            track = cfg.track or actor.metadata.get("provenance", {}).get("track") or "apex_park"
            pool = _rollouts(actor, cfg, track, cfg.seed)
            held = _rollouts(actor, cfg, track, cfg.seed + 100_000)
            provenance = {"source": "rollouts", "track": track, "riders": list(cfg.riders),
                          "actors": list(cfg.actors), "num_envs": cfg.num_envs,
                          "steps": cfg.steps, "seed": cfg.seed}  # fmt: skip
        else:
            pool, held = _dataset_observations(cfg, actor)
            provenance = {"source": "datasets", "datasets_root": cfg.datasets_root,
                          "riders": list(cfg.riders)}  # fmt: skip
    flat = pool.reshape(len(pool), -1)
    extremes = np.concatenate([flat.argmin(axis=0), flat.argmax(axis=0)])
    pick = rng.choice(len(pool), size=min(cfg.calibration_samples, len(pool)), replace=False)
    calibration = pool[np.union1d(pick, extremes)]
    if len(held) > cfg.validation_samples:
        held = held[rng.choice(len(held), size=cfg.validation_samples, replace=False)]
    provenance.update(calibration_observations=len(calibration), pool_observations=len(pool),
                      validation_observations=len(held))  # fmt: skip
    return Observations(calibration, held, pool, provenance)


def _rollouts(actor: LoadedActor, cfg: CalibrationConfig, track: str, seed: int) -> np.ndarray:
    from apexrl.envs.vector import MotoCoachVectorEnv
    from apexrl.train.model_io import check_lap_track, coach_env_kwargs, to_env_action

    high = actor.env_high
    units = "hz" if high is not None and len(high) == 3 and float(high[2]) > 1.5 else "normalized"
    observations = []
    for r, rider in enumerate(cfg.riders):
        for a, who in enumerate(cfg.actors):
            env = MotoCoachVectorEnv(cfg.num_envs, track=track, rider=rider, frequency_units=units,
                                     **coach_env_kwargs(actor.metadata))  # fmt: skip
            check_lap_track(actor.metadata, env.core.track.length_m)
            space = env.single_action_space
            obs, _ = env.reset(seed=seed + 1000 * (len(cfg.actors) * r + a))
            for _ in range(cfg.steps):
                observations.append(obs)
                if who == "oracle":
                    action = env.oracle_action()
                else:
                    action = actor.reference(obs)
                    if actor.env_low is not None:
                        action = to_env_action(action, actor.env_low, actor.env_high)
                    action = np.clip(action, space.low, space.high)
                obs, *_ = env.step(action)
    return np.concatenate(observations).astype(np.float32)


def _camera_rollouts(actor: LoadedActor, cfg: CalibrationConfig, track: str, seed: int):
    """DeepRacer camera frames ``(camera_frames, 120, 160, C)``; the policy drives when its
    logits match the action count, else actions are drawn at random (seeded)."""
    from apexrl.envs.deepracer import DeepRacerVectorEnv

    stack = actor.graph.input_shape[2]
    n = min(cfg.num_envs, cfg.camera_frames)
    env = DeepRacerVectorEnv(n, track=track, stack_size=stack, reward_function=None)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    drives = actor.graph.output == "logits" and getattr(env.single_action_space, "n", -1) == (
        actor.graph.output_dim
    )
    frames = []
    while sum(len(f) for f in frames) < cfg.camera_frames:
        frame = obs["FRONT_FACING_CAMERA"]
        frames.append(frame)
        action = actor.reference(frame).argmax(axis=1) if drives else env.action_space.sample()
        obs, *_ = env.step(action)
    env.close()
    return np.concatenate(frames)[: cfg.camera_frames].astype(np.float32)


def _dataset_observations(
    cfg: CalibrationConfig, actor: LoadedActor
) -> tuple[np.ndarray, np.ndarray]:
    from apexrl.data.generate import dataset_id
    from apexrl.data.minari_io import load_dataset
    from apexrl.envs.vector import episode_with_lap
    from apexrl.train.model_io import lap_position

    lap = lap_position(actor.metadata)
    pool, held = [], []
    for rider in cfg.riders:
        for k, ep in enumerate(
            load_dataset(cfg.datasets_root, dataset_id(rider)).iterate_episodes()
        ):
            obs = np.asarray(ep.observations, dtype=np.float32)
            if lap:
                obs = episode_with_lap(ep, obs, lap["track_length_m"], lap["harmonics"],
                                       f"the datasets in {cfg.datasets_root}")  # fmt: skip
            (held if k % 5 == 4 else pool).append(obs)
    if not pool or not held:
        raise ValueError(f"the datasets in {cfg.datasets_root} have too few episodes (need 5+)")
    return np.concatenate(pool), np.concatenate(held)


def int8_input_bounds(actor: LoadedActor, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel range the int8 input covers: the observation space's bounds where finite
    (the env clips observations into them, so nothing real falls outside), else the calibration
    range widened by 10 % on each side. Measured on a trained coach: validation rollouts reach
    channels (racing-line deviation -9.8 m) that calibration rollouts never did (-5.4 m), and a
    calibration-only range then clips them (max error 0.36)."""
    flat = pool.reshape(len(pool), -1).astype(np.float64)
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    margin = 0.1 * (hi - lo)
    space = actor.policy.observation_space
    box_lo = np.asarray(space.low, dtype=np.float64).reshape(-1)
    box_hi = np.asarray(space.high, dtype=np.float64).reshape(-1)
    low = np.where(np.isfinite(box_lo), box_lo, lo - margin)
    high = np.where(np.isfinite(box_hi), box_hi, hi + margin)
    return low, high


# ---------------------------------------------------------------------- cost and errors
def input_size_candidates(graph: ActorGraph, budget: DeviceBudget) -> list[dict[str, Any]]:
    """The same architecture at smaller camera inputs (same aspect ratio): MACs, estimated
    latency, int8 flash (1 byte per weight + 4 per bias + 4 KiB of flatbuffer) and activations.
    A Dense after the Flatten changes size with the input: smaller inputs mean RETRAINING."""
    h0, w0 = graph.input_shape[:2]
    rows = []
    for f in (1.0, 0.8, 2 / 3, 0.6, 0.5, 0.4, 1 / 3, 0.3, 0.25, 0.2, 1 / 6, 0.125):
        shape = (round(h0 * f), round(w0 * f), *graph.input_shape[2:])
        try:
            cost = graph.costs(shape)
        except ExportError:
            continue
        flash = cost["weights"] + 4 * cost["biases"] + 4096
        ms = cost["macs"] / 1e6 * budget.ms_per_million_macs
        fits = (ms < budget.latency_ms and flash < budget.flash_bytes
                and cost["activation_bytes"] <= budget.arena_bytes)  # fmt: skip
        rows.append({"input_hw": list(shape[:2]), "macs": cost["macs"],
                     "esp32_latency_estimate_ms": ms, "flash_bytes_estimate": flash,
                     "activation_bytes": cost["activation_bytes"],
                     "fits_budget": bool(fits)})  # fmt: skip
    return rows


def error_stats(outputs: np.ndarray, reference: np.ndarray, ranges: np.ndarray) -> dict[str, Any]:
    """Max/mean absolute error per channel and overall, also as fractions of each range."""
    err = np.abs(np.asarray(outputs, np.float64) - np.asarray(reference, np.float64))
    if err.shape != np.shape(reference) or not np.all(np.isfinite(err)):
        inf = math.inf
        return {"max_abs_error": inf, "mean_abs_error": inf, "max_error_fraction_of_range": inf,
                "mean_error_fraction_of_range": inf}  # fmt: skip
    max_c, mean_c = err.max(axis=0), err.mean(axis=0)
    return {
        "max_abs_error": float(max_c.max()),
        "mean_abs_error": float(mean_c.mean()),
        "max_error_fraction_of_range": float((max_c / ranges).max()),
        "mean_error_fraction_of_range": float((mean_c / ranges).max()),
        "per_channel": {"max_abs_error": max_c.tolist(), "mean_abs_error": mean_c.tolist()},
    }


def input_rounding_floor(
    graph: ActorGraph,
    tensors: np.ndarray,
    quantization: tuple[float, int],
    reference: np.ndarray,
    ranges: np.ndarray,
) -> dict[str, float]:
    """The error of the exact (float) int8 graph fed the int8-ROUNDED inputs, against PyTorch:
    what input quantization alone costs, with every weight and activation exact. An int8 model
    whose error is near this floor is limited by the actor's steepness at the input resolution
    (one int8 step of a telemetry channel is 1/255 of its range), not by the converter."""
    scale, zero = quantization
    dequantized = (tensors.astype(np.float64) - zero) * scale
    stats = error_stats(graph.forward(dequantized.astype(np.float32)), reference, ranges)
    return {k: stats[k] for k in ("max_error_fraction_of_range", "mean_error_fraction_of_range")}


def weight_rounding_floor(
    graph: ActorGraph, inputs: np.ndarray, reference: np.ndarray, ranges: np.ndarray
) -> dict[str, float]:
    """The error of the int8 graph with ONLY its weights rounded to int8 as the converter rounds
    them (symmetric, one scale per output channel: ``max |w| / 127``), fed the exact (float)
    ``inputs`` in its own input units, against PyTorch. With :func:`input_rounding_floor` it says
    where an int8 error comes from: an actor whose weight floor alone is over the tolerance cannot
    be fixed by any input range or activation precision, only by a smoother (or int8-trained)
    network."""
    layers = tuple(
        replace(layer, weight=_int8_rounded(layer.weight))
        if isinstance(layer, Dense | Conv2D) else layer
        for layer in graph.layers
    )  # fmt: skip
    stats = error_stats(replace(graph, layers=layers).forward(inputs), reference, ranges)
    return {k: stats[k] for k in ("max_error_fraction_of_range", "mean_error_fraction_of_range")}


def _int8_rounded(weight: np.ndarray) -> np.ndarray:
    """Weights (output channels on the last axis) rounded to int8, per output channel."""
    w = weight.astype(np.float64)
    peak = np.abs(w).reshape(-1, w.shape[-1]).max(axis=0)
    scale = np.where(peak > 0, peak / 127.0, 1.0)
    return (np.round(w / scale) * scale).astype(np.float32)


# ---------------------------------------------------------------------- the export run
class _Run:
    """Bookkeeping of one export: files written, artifact entries, failures."""

    def __init__(self, out: Path, ranges: np.ndarray, ref: np.ndarray, logits: bool) -> None:
        self.out, self.ranges, self.ref, self.logits = out, ranges, ref, logits
        self.artifacts: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []

    def save(self, name: str, data: bytes | str) -> None:
        write_bytes_atomic(self.out / name, data.encode("utf-8") if isinstance(data, str) else data)

    def record(self, name: str, size: int, outputs: np.ndarray | None, latency_us: float | None,
               runtime: str, max_fraction: float, mean_fraction: float | None = None,
               reference: np.ndarray | None = None, **extra: Any) -> dict[str, Any]:  # fmt: skip
        """An artifact's entry; its errors against PyTorch (``reference``, default the float
        actor's outputs) checked against the tolerances."""
        entry: dict[str, Any] = {"bytes": size}
        ref = self.ref if reference is None else reference
        if outputs is not None:
            entry.update(error_stats(outputs, ref, self.ranges))
            if self.logits:
                same = np.argmax(outputs, axis=1) == np.argmax(ref, axis=1)
                entry["argmax_agreement"] = float(same.mean())
        entry.update(latency_us=latency_us, runtime=runtime, **extra)
        if outputs is not None:
            worst = entry["max_error_fraction_of_range"]
            mean = entry["mean_error_fraction_of_range"]
            ok = worst <= max_fraction and (mean_fraction is None or mean <= mean_fraction)
            entry["tolerance"] = {"max_error_fraction_of_range": max_fraction,
                                  "mean_error_fraction_of_range": mean_fraction}  # fmt: skip
            entry["passed"] = bool(ok)
            if not ok:
                limit = f"{max_fraction:g}"
                if mean_fraction is not None:
                    limit += f" (mean {mean_fraction:g})"
                self.failures.append(f"{name}: max error {worst:.3g} (mean {mean:.3g}) of the "
                                     f"action range, tolerance {limit}")  # fmt: skip
        self.artifacts[name] = entry
        return entry


class _Steps:
    """A rich progress bar over the export's steps (stderr), or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.bar = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]export[/]"), BarColumn(),
                                TextColumn("{task.description}"), TimeElapsedColumn(),
                                console=Console(stderr=True), transient=True)  # fmt: skip
            self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> _Steps:
        if self.bar is not None:
            self.bar.start()
        return self

    def __call__(self, description: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=description, advance=1)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def export_policy(
    model: Any,
    output_dir: str | os.PathLike,
    *,
    calibration: CalibrationConfig | np.ndarray | None = None,
    budget: DeviceBudget | None = None,
    tolerances: Tolerances | None = None,
    progress: bool = True,
    allow_pickle: bool = False,
    overwrite: bool = False,
    c_check: bool = True,
) -> dict[str, Any]:
    """Export ``model`` into ``output_dir`` (see :mod:`apexrl.export`), check every artifact
    and return the report (also written to ``export_report.json``).

    Args:
        model: an apexrl model folder or its ``model.json``, an SB3 zip (with ``allow_pickle``),
            a :class:`~apexrl.train.model_io.CoachPolicy`, an SB3 policy or algorithm.
        output_dir: the export folder (created; refused when it already holds an export, unless
            ``overwrite``).
        calibration: :class:`CalibrationConfig` (default: rollouts) or real observations
            ``(N, *input_shape)`` (camera policies need these).
        budget: the target device (default :data:`ESP32`).
        tolerances: :class:`Tolerances` (defaults documented there).
        progress: show a progress bar on stderr.
        allow_pickle: allow unpickling an SB3 zip (only for files you trust).
        overwrite: replace an export already in ``output_dir``.
        c_check: compile and run the generated C/C++ files (needs gcc/g++ or $CC/$CXX).

    Raises:
        ExportError: a step failed or an artifact is out of tolerance (the report is still
            written and the failing files are moved into ``rejected/``).
    """
    from apexrl.export import micro, onnx_export, tflite

    started = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tflite.quiet_import("torch", "stable_baselines3", "tensorflow", "ai_edge_litert.interpreter",
                        "onnx", "onnxscript", "onnxruntime", "tflite_micro")  # fmt: skip
    budget = budget or ESP32
    tol = tolerances or Tolerances()
    out = Path(output_dir)
    existing = [n for n in (*ARTIFACTS, REPORT_FILE) if (out / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{out} already holds an export ({', '.join(existing[:3])}); "
                              "choose another folder or pass --force (overwrite=True)")  # fmt: skip
    if overwrite:  # no file of the previous export may survive next to the new ones
        for name in (*ARTIFACTS, REPORT_FILE):
            for stale in (out / name, out / REJECTED_DIR / name):
                stale.unlink(missing_ok=True)
    cc = cxx = None
    if c_check:
        cc, cxx = micro.find_compiler("c"), micro.find_compiler("c++")
        if cc is None or cxx is None:
            raise ExportError("no C/C++ compiler found (install gcc and g++ or set CC/CXX); the "
                              "C files are checked by compiling them. c_check=False "
                              "(--no-c-check) skips that check.")  # fmt: skip
    lite_rt = f"LiteRT {_version('ai-edge-litert')} (1 thread)"
    ort = f"onnxruntime {_version('onnxruntime')}"
    with _Steps(progress, 10) as step:
        step("loading the policy")
        actor = load_actor(model, allow_pickle=allow_pickle)
        graph = actor.graph
        step("calibration and validation observations")
        obs = collect_observations(actor, calibration)
        val = obs.validation
        ref = actor.reference(val)
        ref8 = actor.reference_int8(val)
        _self_check(actor, val, ref, ref8)
        # Logits: errors relative to the spread of all logits (what an argmax compares).
        spread = float(ref.max() - ref.min()) or 1.0
        ranges = (graph.action_high - graph.action_low if graph.output == "action"
                  else np.full(graph.output_dim, spread)).astype(np.float64)  # fmt: skip
        run = _Run(out, ranges, ref, graph.output == "logits")
        skipped: dict[str, str] = {}
        out.mkdir(parents=True, exist_ok=True)

        step("ONNX")
        onnx_bytes = onnx_export.export_onnx(actor)
        runner = onnx_export.OnnxRunner(onnx_bytes)
        run.save("policy.onnx", onnx_bytes)
        run.record("policy.onnx", len(onnx_bytes), runner.predict(val), runner.latency_us(val[0]),
                   ort, tol.float32, onnx_checker="passed (full_check)")  # fmt: skip

        models: dict[str, bytes] = {}
        for variant, limit in (("fp32", tol.float32), ("fp16", tol.float16),
                               ("dynamic", tol.dynamic_range)):  # fmt: skip
            step(f"TFLite {variant}")
            if variant == "dynamic" and graph.int8_aware:
                skipped["policy_dynamic.tflite"] = DYNAMIC_SKIPPED
                continue
            blob = models[f"policy_{variant}.tflite"] = tflite.convert(graph, variant)
            lite = tflite.LiteRTRunner(blob)
            run.save(f"policy_{variant}.tflite", blob)
            run.record(f"policy_{variant}.tflite", len(blob), lite.predict(val),
                       lite.latency_us(val[0]), lite_rt, limit)  # fmt: skip

        step("TFLite int8")
        g8, mapping = tflite.int8_graph(graph, *int8_input_bounds(actor, obs.pool))
        representative = obs.calibration
        if mapping is not None:
            representative = mapping.transform(obs.calibration)
            drift = float(np.abs(g8.forward(representative) - graph.forward(obs.calibration)).max())
            if drift > 1e-4:
                raise ExportError(
                    f"folding the int8 input mapping changed the actor by {drift:.2g}"
                )
            representative = tflite.pin_input_range(representative)
        int8 = models["policy_int8.tflite"] = tflite.convert(
            g8, "int8", representative=representative
        )
        lite8 = tflite.LiteRTRunner(int8, int8_input=mapping)
        in8 = lite8.input_tensor(val)
        lite_q = lite8.run_tensor(in8)
        run.save("policy_int8.tflite", int8)
        if graph.int8_aware:  # compared with the trained int8 network; no rounding floors
            floor = weights = {"max_error_fraction_of_range": 0.0}
            diagnostics: dict[str, Any] = {"compared_with": "the int8-aware actor's own forward"}
        else:
            floor = input_rounding_floor(g8, in8, lite8.input_quantization, run.ref, run.ranges)
            exact_in = mapping.transform(val) if mapping is not None else val
            weights = weight_rounding_floor(g8, exact_in, run.ref, run.ranges)
            diagnostics = {"input_rounding_floor": floor, "weight_rounding_floor": weights}
        entry = run.record("policy_int8.tflite", len(int8), lite8.dequantize(lite_q),
                           lite8.latency_us(val[0]), lite_rt, tol.int8, tol.int8_mean,
                           reference=ref8, input="int8: see input.int8",
                           output="int8: see output.int8", **diagnostics)  # fmt: skip
        if not entry["passed"] and floor["max_error_fraction_of_range"] > tol.int8:
            run.failures[-1] += (
                f"; rounding the observations to int8 alone, with every weight and activation "
                f"exact, already moves the actor's output by up to "
                f"{floor['max_error_fraction_of_range']:.3g} of the range: the actor is too "
                f"steep for int8 inputs (train it smoother, e.g. `apexrl train bc "
                f"--input-noise`, or ship the fp32 model)"
            )
        if not entry["passed"] and weights["max_error_fraction_of_range"] > tol.int8:
            run.failures[-1] += (
                f"; rounding only the weights to int8 moves it by up to "
                f"{weights['max_error_fraction_of_range']:.3g}: no input range or activation "
                f"precision can fix that"
            )

        step("TFLite Micro")
        for name, blob in models.items():
            loads, reason = micro.tflm_loads(blob)
            run.artifacts[name]["tflm_loads"] = loads
            if not loads:
                run.artifacts[name]["tflm_refusal"] = reason
        arena = micro.tflm_min_arena(int8, in8[:1])
        tflm = micro.TFLMRunner(int8, arena)
        tflm_q = tflm.run_tensor(in8)
        tflm_us = tflm.latency_us(in8[0])
        diff = np.abs(tflm_q.astype(np.int32) - lite_q.astype(np.int32))
        agreement = {"identical_fraction": float((diff == 0).mean()),
                     "max_difference_lsb": int(diff.max()),
                     "mean_difference_lsb": float(diff.mean()),
                     "tolerance": {"max_lsb": tol.tflm_max_lsb,
                                   "mean_lsb": tol.tflm_mean_lsb}}  # fmt: skip
        matches = diff.max() <= tol.tflm_max_lsb and diff.mean() <= tol.tflm_mean_lsb
        if not matches:
            run.failures.append(f"TFLM disagrees with LiteRT on policy_int8.tflite by up to "
                                f"{diff.max()} int8 steps (mean {diff.mean():.2f}); tolerance "
                                f"{tol.tflm_max_lsb} (mean {tol.tflm_mean_lsb})")  # fmt: skip

        step("C array")
        scaling, names = _scaling(actor), _observation_names(actor)
        header, source = micro.c_array_files(
            int8, stem="policy_int8", int8_input=lite8.int8_input,
            input_quantization=lite8.input_quantization,
            output_quantization=lite8.output_quantization, arena_bytes=arena,
            observation_names=names, scaling=scaling, ops=micro.tflite_ops(int8),
        )  # fmt: skip
        run.save("policy_int8.h", header)
        run.save("policy_int8.cc", source)
        checked = micro.check_c_array(out, "policy_int8", int8, cxx=cxx)
        tflm_runtime = f"TFLM host build (tflite-micro {_version('tflite-micro')})"
        for name, text in (("policy_int8.h", header), ("policy_int8.cc", source)):
            entry = run.record(name, len(text.encode("utf-8")), lite8.dequantize(tflm_q), tflm_us,
                               tflm_runtime, tol.int8, tol.int8_mean, reference=ref8,
                               c_array_bytes=len(int8),
                               identical_to="policy_int8.tflite", checked_by=checked)  # fmt: skip
            entry["passed"] = bool(entry["passed"] and matches)

        step("C forward pass")
        if micro.supports_c_mlp(graph):
            mlp_h, mlp_c = micro.c_mlp_files(graph, observation_names=names, scaling=scaling,
                                             lap=_lap_position(actor))  # fmt: skip
            run.save("policy_mlp.h", mlp_h)
            run.save("policy_mlp.c", mlp_c)
            c_out, us = micro.run_c_mlp(out, val, cc=cc) if cc else (None, None)
            c_runtime = f"{Path(cc).name} -O2 on the host" if cc else "not compiled (c_check off)"
            cost = graph.costs()
            per_weight = 1 if graph.int8_aware else 4  # int8 codes, else fp32
            for name, text in (("policy_mlp.h", mlp_h), ("policy_mlp.c", mlp_c)):
                run.record(
                    name,
                    len(text.encode("utf-8")),
                    c_out,
                    us,
                    c_runtime,
                    tol.float32,
                    reference=ref8,
                    weights_bytes=per_weight * cost["weights"] + 4 * cost["biases"],
                )

        step("ONNX int8")
        q_onnx = onnx_export.quantize_onnx(onnx_bytes, obs.calibration,
                                           int8_aware=graph.int8_aware)  # fmt: skip
        runner8 = onnx_export.OnnxRunner(q_onnx)
        run.save("policy_int8.onnx", q_onnx)
        run.record("policy_int8.onnx", len(q_onnx), runner8.predict(val),
                   runner8.latency_us(val[0]), ort, tol.int8, tol.int8_mean, reference=ref8,
                   quantization="QDQ int8, per-channel weights, " + (
                       "the trained grids (int8-aware)" if graph.int8_aware
                       else "MinMax calibration"))  # fmt: skip

    report: dict[str, Any] = {"format": REPORT_FORMAT, "artifacts": run.artifacts}
    if skipped:
        report["skipped_artifacts"] = skipped
    report["model"] = _model_section(actor)
    report["calibration"] = obs.provenance
    report["reference"] = {"runtime": f"PyTorch eager {_version('torch')}",
                           "latency_us": _torch_latency_us(actor, val[0])}  # fmt: skip
    report.update(_io_sections(graph, lite8, scaling, names))
    report.update(_cost_sections(graph, int8, arena, budget, micro.tflite_ops(int8),
                                 micro.TFLM_BUILTIN_OPS))  # fmt: skip
    report.update(tflm_arena_bytes=arena, tflm_matches_litert=bool(matches),
                  tflm_comparison=agreement, tflm_latency_us_host=tflm_us)  # fmt: skip
    if not micro.supports_c_mlp(graph):
        report["c_forward_pass"] = "not generated: the C forward pass covers MLP actors only"
    report["export_seconds"] = time.perf_counter() - started
    report["targets"] = _targets(report)
    report["tolerances"] = asdict(tol)
    report["versions"] = {p: _version(p) for p in ("apexrl", "torch", "stable-baselines3",
                          "tensorflow-cpu", "ai-edge-litert", "onnx", "onnxscript", "onnxruntime",
                          "tflite-micro")}  # fmt: skip
    report["passed"] = not run.failures
    report["failures"] = run.failures
    if run.failures:
        rejected = [n for n, a in run.artifacts.items() if a.get("passed") is False]
        (out / REJECTED_DIR).mkdir(exist_ok=True)
        for name in rejected:
            os.replace(out / name, out / REJECTED_DIR / name)
        report["rejected"] = [f"{REJECTED_DIR}/{n}" for n in rejected]
    report = to_jsonable(report)
    write_json_atomic(out / REPORT_FILE, report)
    if run.failures:
        raise ExportError(f"export failed its checks against PyTorch: {'; '.join(run.failures)}. "
                          f"Failing files moved to {out / REJECTED_DIR}; details in "
                          f"{out / REPORT_FILE}")  # fmt: skip
    return report


def _torch_latency_us(actor: LoadedActor, observation: np.ndarray) -> float:
    """The PyTorch actor on one observation, eager, no grad: the in-run latency reference."""
    import torch

    from apexrl.export.tflite import median_us

    x = torch.as_tensor(np.asarray(observation, dtype=np.float32)[None])
    with torch.no_grad():
        return median_us(lambda: actor.module(x), 300)


def _self_check(actor: LoadedActor, val: np.ndarray, ref: np.ndarray, ref8: np.ndarray) -> None:
    """The actor module must be SB3's deterministic predict (``ref8``: for an int8-aware actor
    its int8 forward), and the layer graph the module's float network (``ref``)."""
    from gymnasium import spaces

    from apexrl.train.quant import exact

    if isinstance(actor.policy.action_space, spaces.Box):
        with exact(actor.policy):
            sb3, _ = actor.policy.predict(val[:256], deterministic=True)
        gap = float(np.abs(np.asarray(sb3, np.float64) - ref8[:256]).max())
        if gap > 1e-5:
            raise ExportError(f"the exported actor differs from SB3's predict(deterministic=True) "
                              f"by {gap:.3g}: unsupported policy structure")  # fmt: skip
    gap = float(np.abs(actor.graph.forward(val[:256]) - ref[:256]).max())
    if gap > 1e-4 * max(1.0, float(np.abs(ref).max())):
        raise ExportError(f"the extracted layers differ from the PyTorch actor by {gap:.3g}")


def _model_section(actor: LoadedActor) -> dict[str, Any]:
    g = actor.graph
    layers = []
    for layer in g.layers:
        label = type(layer).__name__
        if isinstance(layer, Dense):
            label += f"({layer.weight.shape[0]}->{layer.weight.shape[1]}, {layer.activation})"
        elif isinstance(layer, Conv2D):
            kh, kw, cin, cout = layer.weight.shape
            label += f"({kh}x{kw}/{layer.stride[0]}, {cin}->{cout}, {layer.activation})"
        layers.append(label)
    return {"source": actor.source, "algo": actor.algo, "kind": g.kind,
            "input_shape": list(g.input_shape), "output": g.output, "output_dim": g.output_dim,
            "layers": layers, "policy_kwargs": actor.metadata.get("policy_kwargs"),
            "int8_aware": g.int8_aware, "references": INT8_AWARE_REFERENCES if g.int8_aware
            else "every artifact: the float actor"}  # fmt: skip


def _lap_position(actor: LoadedActor) -> dict[str, Any] | None:
    from apexrl.train.model_io import lap_position

    return lap_position(actor.metadata)


def _telemetry_dim(actor: LoadedActor) -> int:
    """Inputs of a MotoCoach coach: the 8 channels plus its lap-position channels."""
    return 8 + 2 * ((_lap_position(actor) or {}).get("harmonics", 0))


def _observation_names(actor: LoadedActor) -> list[str]:
    from apexrl.envs.vector import OBSERVATION_NAMES, lap_feature_names
    from apexrl.train.model_io import lap_position

    shape = actor.graph.input_shape
    lap = lap_position(actor.metadata)
    if lap and shape == (len(OBSERVATION_NAMES) + 2 * lap["harmonics"],):
        units = zip(OBSERVATION_NAMES, OBSERVATION_UNITS, strict=True)
        length = lap["track_length_m"]
        return [f"{n} [{u}]" for n, u in units] + [
            f"{n} [sin/cos of 2 pi k s / {length:.3f} m, s = lap distance]"
            for n in lap_feature_names(lap["harmonics"])
        ]
    if shape == (len(OBSERVATION_NAMES),):
        return [f"{n} [{u}]" for n, u in zip(OBSERVATION_NAMES, OBSERVATION_UNITS, strict=True)]
    if len(shape) == 3:
        return [f"camera frame {shape[0]}x{shape[1]}x{shape[2]} (H, W, C), pixels 0..255"]
    return [f"obs_{i}" for i in range(int(np.prod(shape)))]


def _scaling(actor: LoadedActor):
    from apexrl.envs.vector import ACTION_NAMES
    from apexrl.export.micro import OutputScaling
    from apexrl.riders.haptics import FREQ_MAX_HZ, FREQ_MIN_HZ

    if actor.env_low is None or actor.graph.output != "action":
        return None
    n = actor.graph.output_dim
    coach = n == len(ACTION_NAMES) and actor.graph.input_shape == (_telemetry_dim(actor),)
    names = tuple(ACTION_NAMES) if coach else tuple(f"action_{i}" for i in range(n))
    return OutputScaling(names, tuple(float(x) for x in actor.env_low),
                         tuple(float(x) for x in actor.env_high),
                         frequency_channel=2 if coach else None,
                         frequency_in_hz=coach and float(actor.env_high[2]) > 1.5,
                         freq_min_hz=FREQ_MIN_HZ, freq_max_hz=FREQ_MAX_HZ)  # fmt: skip


def _io_sections(graph: ActorGraph, lite8, scaling, names: list[str]) -> dict[str, Any]:
    scale, zero = lite8.output_quantization
    output: dict[str, Any] = {
        "units": "policy units" if graph.output == "action" else "logits (action = argmax)",
        "low": graph.action_low.tolist(),
        "high": graph.action_high.tolist(),
        "int8": {
            "scale": float(scale),
            "zero_point": int(zero),
            "formula": "value = (q - zero_point) * scale",
        },  # fmt: skip
    }
    if scaling is not None:
        output["action_names"] = list(scaling.action_names)
        output["to_env"] = {"formula": "env = low + (clip(a, -1, 1) + 1) / 2 * (high - low)",
                            "low": list(scaling.low), "high": list(scaling.high)}  # fmt: skip
        if scaling.frequency_channel is not None:
            lo, hi = scaling.freq_min_hz, scaling.freq_max_hz
            output["frequency_hz"] = {"channel": scaling.frequency_channel, "formula":
                                      "hz = env" if scaling.frequency_in_hz
                                      else f"hz = {lo:g} + {hi - lo:g} * env"}  # fmt: skip
    inp: dict[str, Any] = {"shape": list(graph.input_shape), "channels": names,
                           "float_models": "raw observations, float32"}  # fmt: skip
    if lite8.int8_input is not None:
        m = lite8.int8_input
        inp["int8"] = {"formula": "u = clip((obs - offset) / half_range, -1, 1); q = clip(round(u "
                       "/ scale) + zero_point, -128, 127)", "offset": m.offset.tolist(),
                       "half_range": m.half_range.tolist(), "scale": m.scale,
                       "zero_point": m.zero_point,
                       "step_per_channel": m.step_per_channel().tolist()}  # fmt: skip
    else:
        s, z = lite8.input_quantization
        inp["int8"] = {"formula": "q = clip(round(x / scale) + zero_point, -128, 127)",
                       "scale": s, "zero_point": z}  # fmt: skip
    return {"input": inp, "output": output}


def _cost_sections(graph: ActorGraph, int8: bytes, arena: int, budget: DeviceBudget,
                   ops: list[str], tflm_ops: frozenset[str]) -> dict[str, Any]:  # fmt: skip
    cost = graph.costs()
    op_rows = [{"op": op, "count": ops.count(op), "tflm_supported": op in tflm_ops}
               for op in dict.fromkeys(ops)]  # fmt: skip
    ms = cost["macs"] / 1e6 * budget.ms_per_million_macs
    checks = {
        "latency_ms": {"value": ms, "limit": budget.latency_ms, "ok": ms < budget.latency_ms},
        "flash_bytes": {"value": len(int8), "limit": budget.flash_bytes,
                        "ok": len(int8) < budget.flash_bytes},
        "arena_bytes": {"value": arena, "limit": budget.arena_bytes,
                        "ok": arena <= budget.arena_bytes},
        "tflm_ops": {"value": [r["op"] for r in op_rows if not r["tflm_supported"]],
                     "ok": all(r["tflm_supported"] for r in op_rows)},
    }  # fmt: skip
    section: dict[str, Any] = {
        "macs": cost["macs"],
        "params": cost["weights"] + cost["biases"],
        "ops": op_rows,
        "esp32_latency_estimate_ms": ms,
        "esp32_latency_source": budget.source,
        "budget": {**asdict(budget), "checks": checks},
        "fits_budget": all(c["ok"] for c in checks.values()),
    }
    if graph.kind == "cnn":
        rows = input_size_candidates(graph, budget)
        fitting = [r for r in rows if r["fits_budget"]]
        section["cnn"] = {
            "input_hw": list(graph.input_shape[:2]),
            "fits_budget": section["fits_budget"],
            "suggested_input_hw": fitting[0]["input_hw"] if fitting else None,
            "note": "sizes for the SAME architecture retrained on resized frames; "
            + ("the largest that fits is suggested" if fitting else "no input size fits: the "
               "architecture itself is too large for this device (use a smaller CNN)"),
            "candidates": rows,
        }  # fmt: skip
    return section


def _targets(report: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals for the default coach, reported (the gates are :class:`Tolerances`).
    The int8 error is ``policy_int8.tflite``'s in LiteRT; the same model in the TFLM host build
    (the ESP32's interpreter; its fully-connected kernel rounds some outputs one step
    differently: 0.3 % of a 24->80 layer's, measured) is the row after it."""
    int8 = report["artifacts"]["policy_int8.tflite"]
    tflm = report["artifacts"]["policy_int8.h"]
    rows = {
        "int8_bytes": (int8["bytes"], 16 * 1024),
        "tflm_arena_bytes": (report["tflm_arena_bytes"], 8 * 1024),
        "int8_max_error_fraction_of_range": (int8["max_error_fraction_of_range"], 0.02),
        "int8_tflm_max_error_fraction_of_range": (tflm["max_error_fraction_of_range"], 0.02),
        "esp32_latency_estimate_ms": (report["esp32_latency_estimate_ms"], 1.0),
        "export_seconds": (report["export_seconds"], 30.0),
    }
    return {k: {"value": v, "limit": lim, "met": bool(v <= lim)} for k, (v, lim) in rows.items()}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
