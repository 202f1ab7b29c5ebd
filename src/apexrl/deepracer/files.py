"""The files deepracer-for-cloud (DRfC) trains from: write them correctly, read them back strictly.

One folder per model::

    reward_function.py     the user's reward (must pass reward_check's lint)
    model_metadata.json    action space, sensors, network, algorithm, version
    hyperparameters.json   ONLY the keys the simulator reads; the simulator silently ignores any
                           other key, so an unknown key is an error here (with a did-you-mean)
    system.env, run.env    DRfC configuration (DR_* keys, local MinIO defaults)
    worker-N.env           N >= 2, only for multi-config training with more than one worker

The three custom files go to S3 under ``DR_LOCAL_S3_CUSTOM_FILES_PREFIX`` (``apexrl deploy
upload``); the .env files configure the DRfC host and stay local.

The .env files are built, formatted and read back by :mod:`apexrl.deepracer.drfc_env` (whose
docstring says why every line is a bare ``KEY=VALUE``); this module checks the overrides of their
settings and writes the whole folder.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from apexrl.deepracer.actions import (
    ActionSpace,
    ActionSpaceError,
    ContinuousActionSpace,
    action_space_from_json,
    action_space_preset,
)

# The .env files moved to apexrl.deepracer.drfc_env; the names marked F401 are re-exported so that
# imports from this module keep working.
from apexrl.deepracer.drfc_env import (
    CAR_COLORS,  # noqa: F401
    CUSTOM_FILES_PREFIX,  # noqa: F401
    DEFAULT_SIMAPP_SOURCE,  # noqa: F401
    DEFAULT_SIMAPP_VERSION,  # noqa: F401
    DeepRacerConfigError,
    format_env,
    parse_env_file,
    run_env,
    system_env,
    worker_env,
)
from apexrl.deepracer.worlds import DEFAULT_WORLD, is_official_world, suggest_worlds
from apexrl.io_utils import write_bytes_atomic, write_json_atomic, write_text_atomic

ALGORITHMS: dict[str, str] = {
    "clipped_ppo": "Proximal Policy Optimization with a clipped objective: on-policy, stable, "
    "works with discrete and continuous action spaces (the console default)",
    "sac": "Soft Actor-Critic: off-policy and sample-efficient with entropy-regularised "
    "exploration; continuous action spaces only",
}
CAMERAS = ("FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS")
LIDARS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
NEURAL_NETWORKS = (
    "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
    "DEEP_CONVOLUTIONAL_NETWORK",
    "DEEP_CONVOLUTIONAL_NETWORK_DEEP",
)
RACE_TYPES = ("TIME_TRIAL", "OBJECT_AVOIDANCE", "HEAD_TO_BOT")
METADATA_VERSION = {"clipped_ppo": "5", "sac": "4"}
"""model_metadata ``version`` DRfC uses for each algorithm."""
CUSTOM_FILES = ("reward_function.py", "model_metadata.json", "hyperparameters.json")
LIDAR_SECTOR_DIVISOR = 64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

_ALIASES = {
    "learning_rate": "lr",
    "gamma": "discount_factor",
    "discount": "discount_factor",
    "epochs": "num_epochs",
    "entropy": "beta_entropy",
    "alpha": "sac_alpha",
    "ppo": "clipped_ppo",
}
"""Names people use for keys the simulator spells differently."""


def _did_you_mean(key: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    if key in _ALIASES and _ALIASES[key] in valid:
        close = [_ALIASES[key]]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _reject_unknown(data: Mapping[str, Any], valid: Sequence[str], source: str, why: str) -> None:
    for key in data:
        if key not in valid:
            raise DeepRacerConfigError(
                f"{source}: unknown key {key!r}{_did_you_mean(str(key), valid)}; {why}. Valid "
                f"keys: {', '.join(valid)}"
            )


def _pydantic_message(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        parts.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
    return f"{source}: " + "; ".join(parts)


# ---------------------------------------------------------------------- model_metadata.json
def validate_sensors(sensors: Sequence[str]) -> tuple[str, ...]:
    """Exactly one camera plus at most one lidar, each named once, camera first."""
    names = tuple(s.strip() for s in sensors if s.strip())
    known = CAMERAS + LIDARS
    for s in names:
        if s not in known:
            raise DeepRacerConfigError(
                f"unknown sensor {s!r}{_did_you_mean(s, known)}; sensors: {', '.join(known)}"
            )
    cameras = [s for s in names if s in CAMERAS]
    lidars = [s for s in names if s in LIDARS]
    if not cameras:
        raise DeepRacerConfigError(
            f"sensors {list(names)} have no camera; the simulator needs exactly one of "
            f"{', '.join(CAMERAS)} (a lidar alone is invalid)"
        )
    if len(cameras) > 1:
        raise DeepRacerConfigError(
            f"sensors {list(names)} have {len(cameras)} cameras; use exactly one of "
            f"{', '.join(CAMERAS)}"
        )
    if len(lidars) > 1:
        raise DeepRacerConfigError(
            f"sensors {list(names)} have {len(lidars)} lidars; use at most one of "
            f"{', '.join(LIDARS)}"
        )
    return (cameras[0], *lidars)


@dataclass(frozen=True)
class LidarConfig:
    """Optional ``lidar_config`` of model_metadata.json."""

    num_sectors: int
    """Sectors the 64 lidar rays are grouped into; must divide 64."""
    num_values_per_sector: int
    """Distance values per sector (>= 1)."""
    clipping_dist_m: float
    """Ranges beyond this are clipped, 0.15-12 m (the sensor's range)."""

    def __post_init__(self) -> None:
        for name in ("num_sectors", "num_values_per_sector"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DeepRacerConfigError(
                    f"lidar_config {name} must be an integer >= 1, got {value!r}"
                )
        if LIDAR_SECTOR_DIVISOR % self.num_sectors:
            raise DeepRacerConfigError(
                f"lidar_config num_sectors must divide {LIDAR_SECTOR_DIVISOR}, got "
                f"{self.num_sectors}"
            )
        dist = self.clipping_dist_m
        if isinstance(dist, bool) or not isinstance(dist, int | float) or not 0.15 <= dist <= 12:
            raise DeepRacerConfigError(
                f"lidar_config clipping_dist must be 0.15-12 m, got {self.clipping_dist_m!r}"
            )

    def to_json(self) -> dict[str, int | float]:
        return {
            "num_sectors": self.num_sectors,
            "num_values_per_sector": self.num_values_per_sector,
            "clipping_dist": self.clipping_dist_m,
        }


def model_metadata(
    action_space: ActionSpace,
    *,
    algorithm: str = "clipped_ppo",
    sensors: Sequence[str] = ("FRONT_FACING_CAMERA",),
    neural_network: str = NEURAL_NETWORKS[0],
    lidar_config: LidarConfig | None = None,
) -> dict[str, Any]:
    """The model_metadata.json content, validated (key order as DRfC's defaults)."""
    if algorithm not in ALGORITHMS:
        raise DeepRacerConfigError(
            f"unknown training algorithm {algorithm!r}{_did_you_mean(algorithm, list(ALGORITHMS))}"
            f"; algorithms: {', '.join(ALGORITHMS)}"
        )
    if algorithm == "sac" and not isinstance(action_space, ContinuousActionSpace):
        raise DeepRacerConfigError(
            "sac needs a continuous action space, got a discrete one; use clipped_ppo or a "
            "continuous space (e.g. the speed_optimization preset)"
        )
    if neural_network not in NEURAL_NETWORKS:
        raise DeepRacerConfigError(
            f"unknown neural_network {neural_network!r}; networks: {', '.join(NEURAL_NETWORKS)}"
        )
    names = validate_sensors(sensors)
    if lidar_config is not None and not any(s in LIDARS for s in names):
        raise DeepRacerConfigError(
            f"lidar_config is set but the sensors {list(names)} have no lidar; add one of "
            f"{', '.join(LIDARS)} or drop lidar_config"
        )
    data: dict[str, Any] = {
        "action_space": action_space.to_json(),
        "sensor": list(names),
        "neural_network": neural_network,
        "training_algorithm": algorithm,
        "action_space_type": action_space.type,
        "version": METADATA_VERSION[algorithm],
    }
    if lidar_config is not None:
        data["lidar_config"] = lidar_config.to_json()
    return data


class _LidarConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    num_sectors: int
    num_values_per_sector: int
    clipping_dist: float


class ModelMetadataFile(BaseModel):
    """A user-supplied model_metadata.json (every key required, nothing extra)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    action_space: list[Any] | dict[str, Any]
    sensor: list[str]
    neural_network: Literal[
        "DEEP_CONVOLUTIONAL_NETWORK_SHALLOW",
        "DEEP_CONVOLUTIONAL_NETWORK",
        "DEEP_CONVOLUTIONAL_NETWORK_DEEP",
    ]
    training_algorithm: Literal["clipped_ppo", "sac"]
    action_space_type: Literal["discrete", "continuous"]
    version: str = Field(pattern=r"^\d+$")
    lidar_config: _LidarConfigFile | None = None


def validate_model_metadata(data: Any, *, source: str = "model_metadata.json") -> dict[str, Any]:
    """Validate a model_metadata dict (types, sensors, action space, algorithm rules)."""
    if not isinstance(data, Mapping):
        raise DeepRacerConfigError(f"{source}: must be a JSON object, got {type(data).__name__}")
    _reject_unknown(data, list(ModelMetadataFile.model_fields), source, "the simulator reads only")
    try:
        meta = ModelMetadataFile.model_validate(dict(data))
    except ValidationError as exc:
        raise DeepRacerConfigError(_pydantic_message(exc, source)) from None
    try:
        space = action_space_from_json(
            meta.action_space, action_space_type=meta.action_space_type, source=source
        )
    except ActionSpaceError as exc:
        raise DeepRacerConfigError(str(exc)) from None
    lidar = None
    if meta.lidar_config is not None:
        c = meta.lidar_config
        lidar = LidarConfig(c.num_sectors, c.num_values_per_sector, c.clipping_dist)
    try:
        expected = model_metadata(
            space,
            algorithm=meta.training_algorithm,
            sensors=meta.sensor,
            neural_network=meta.neural_network,
            lidar_config=lidar,
        )
    except ValueError as exc:
        raise DeepRacerConfigError(f"{source}: {exc}") from None
    expected["version"] = meta.version
    return expected


def read_model_metadata(path: str | os.PathLike) -> dict[str, Any]:
    return validate_model_metadata(read_json(path), source=str(path))


# ---------------------------------------------------------------------- hyperparameters.json
HYPERPARAMETER_DEFAULTS: dict[str, Any] = {
    "batch_size": 64,
    "beta_entropy": 0.01,
    "discount_factor": 0.999,
    "e_greedy_value": 0.05,
    "epsilon_steps": 10000,
    "exploration_type": "categorical",
    "loss_type": "mean squared error",
    "lr": 0.0003,
    "num_episodes_between_training": 20,
    "num_epochs": 10,
    "sac_alpha": 0.2,
    "stack_size": 1,
    "term_cond_avg_score": 100000.0,
    "term_cond_max_episodes": 100000,
}
"""Every key the simulator reads, with the value it uses when the key is absent (SAC setups use
``exploration_type`` "additive_noise", which is what apexrl writes for sac)."""
PPO_ONLY = ("beta_entropy", "num_epochs")
SAC_ONLY = ("sac_alpha",)
BATCH_SIZES = (32, 64, 128, 256, 512)


class HyperparametersFile(BaseModel):
    """A user-supplied hyperparameters.json: known keys only, JSON numbers, console ranges."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)
    batch_size: int | None = None
    beta_entropy: float | None = Field(None, ge=0.0, le=1.0)
    discount_factor: float | None = Field(None, ge=0.0, le=1.0)
    e_greedy_value: float | None = Field(None, ge=0.0, le=1.0)
    epsilon_steps: int | None = Field(None, ge=1)
    exploration_type: Literal["categorical", "e-greedy", "additive_noise"] | None = None
    loss_type: Literal["mean squared error", "huber"] | None = None
    lr: float | None = Field(None, ge=1e-8, le=1e-3)
    num_episodes_between_training: int | None = Field(None, ge=1, le=100)
    num_epochs: int | None = Field(None, ge=3, le=10)
    sac_alpha: float | None = Field(None, gt=0.0)
    stack_size: int | None = Field(None, ge=1)
    term_cond_avg_score: float | None = Field(None, gt=0.0)
    term_cond_max_episodes: int | None = Field(None, ge=1)

    @field_validator("batch_size")
    @classmethod
    def _batch_size(cls, value: int | None) -> int | None:
        if value is not None and value not in BATCH_SIZES:
            raise ValueError(f"must be one of {', '.join(map(str, BATCH_SIZES))}")
        return value


def hyperparameters(
    algorithm: str = "clipped_ppo",
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "hyperparameters",
) -> dict[str, Any]:
    """The full hyperparameters.json content for ``algorithm``: defaults plus validated overrides.

    Only the keys the simulator reads for that algorithm are written, sorted by name.
    """
    if algorithm not in ALGORITHMS:
        raise DeepRacerConfigError(
            f"unknown training algorithm {algorithm!r}; algorithms: {', '.join(ALGORITHMS)}"
        )
    data = dict(overrides or {})
    valid = list(HYPERPARAMETER_DEFAULTS)
    _reject_unknown(data, valid, source, "the simulator silently ignores unknown keys")
    wrong = SAC_ONLY if algorithm == "clipped_ppo" else PPO_ONLY
    for key in wrong:
        if key in data:
            other = "sac" if algorithm == "clipped_ppo" else "clipped_ppo"
            raise DeepRacerConfigError(
                f"{source}: {key!r} applies only to {other}; the simulator ignores it for "
                f"{algorithm}, so remove it"
            )
    try:
        checked = HyperparametersFile.model_validate(data)
    except ValidationError as exc:
        raise DeepRacerConfigError(_pydantic_message(exc, source)) from None
    exploration = checked.exploration_type
    if algorithm == "clipped_ppo" and exploration == "additive_noise":
        raise DeepRacerConfigError(
            f"{source}: exploration_type 'additive_noise' stops clipped_ppo training (the "
            "simulator accepts only 'categorical' or 'e-greedy' for it)"
        )
    out = {}
    for key, default in HYPERPARAMETER_DEFAULTS.items():
        if key in wrong:
            continue
        value = getattr(checked, key)
        if value is None:
            value = "additive_noise" if (key, algorithm) == ("exploration_type", "sac") else default
        out[key] = value
    return out


def read_hyperparameters(path: str | os.PathLike, algorithm: str = "clipped_ppo") -> dict[str, Any]:
    """Validate a user's hyperparameters.json for ``algorithm``; return it with defaults filled."""
    data = read_json(path)
    if not isinstance(data, Mapping):
        raise DeepRacerConfigError(f"{path}: must be a JSON object, got {type(data).__name__}")
    return hyperparameters(algorithm, data, source=str(path))


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file strictly (no NaN/Infinity), with errors naming the file and line."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"file not found: {file}")
    try:
        # parse_constant rejects NaN/Infinity, which Python's json accepts but JSON does not.
        return json.loads(file.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DeepRacerConfigError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None


def _no_constant(name: str) -> Any:
    raise DeepRacerConfigError(f"{name} is not a JSON number")


# ---------------------------------------------------------------------- .env overrides
MANAGED_ENV_KEYS = (
    "DR_WORKERS",
    "DR_WORLD_NAME",
    "DR_RACE_TYPE",
    "DR_TRAIN_MULTI_CONFIG",
    "DR_LOCAL_S3_CUSTOM_FILES_PREFIX",
    "DR_LOCAL_S3_MODEL_METADATA_KEY",
    "DR_LOCAL_S3_HYPERPARAMETERS_KEY",
    "DR_LOCAL_S3_REWARD_KEY",
)
"""Keys set from write_deepracer_files' arguments; an override must use the argument instead."""


def _check_object_positions(value: str) -> None:
    if not value:
        return
    for item in value.split(";"):
        fraction, _, lane = item.partition(",")
        try:
            ok = 0.0 < float(fraction) < 1.0 and lane in ("-1", "1")
        except ValueError:
            ok = False
        if not ok:
            raise DeepRacerConfigError(
                f"DR_OA_OBJECT_POSITIONS item {item!r}: expected progress_fraction,lane with the "
                "fraction in (0, 1) and lane -1 or 1, e.g. 0.25,-1;0.5,1"
            )


# ---------------------------------------------------------------------- the whole folder
@dataclass(frozen=True)
class DeepRacerFiles:
    """What :func:`write_deepracer_files` wrote."""

    output_dir: Path
    paths: tuple[Path, ...]
    model_metadata: dict[str, Any]
    hyperparameters: dict[str, Any]


def write_deepracer_files(
    output_dir: str | os.PathLike,
    *,
    name: str,
    reward_function_path: str | os.PathLike,
    algorithm: str = "clipped_ppo",
    sensors: Sequence[str] = ("FRONT_FACING_CAMERA",),
    action_space: ActionSpace | None = None,
    neural_network: str = NEURAL_NETWORKS[0],
    lidar_config: LidarConfig | None = None,
    world_name: str = DEFAULT_WORLD,
    worker_world_names: Sequence[str] = (),
    allow_unknown_world: bool = False,
    race_type: str = "TIME_TRIAL",
    workers: int = 1,
    multi_config: bool = False,
    hyperparameter_overrides: Mapping[str, Any] | None = None,
    env_overrides: Mapping[str, str] | None = None,
    force: bool = False,
) -> DeepRacerFiles:
    """Validate everything, then write the DRfC files into ``output_dir`` (new or empty).

    Args:
        name: model name (letters, digits, _ and -; up to 64): DR_LOCAL_S3_MODEL_PREFIX, car name.
        action_space: default the ``time_trial`` preset for clipped_ppo and the continuous
            ``speed_optimization`` preset for sac.
        worker_world_names: worlds for workers 2..N in multi-config mode (cycled); default
            ``world_name`` for all.
        allow_unknown_world: accept a world name missing from :mod:`apexrl.deepracer.worlds`.
        env_overrides: other DR_* values for system.env / run.env (workers inherit run.env's).
        force: write into a non-empty folder, replacing these files and stale worker-N.env.
    """
    if not _NAME.fullmatch(name):
        raise DeepRacerConfigError(
            f"model name {name!r} must be 1-64 letters, digits, '_' or '-', starting with a "
            "letter or digit"
        )
    if race_type not in RACE_TYPES:
        raise DeepRacerConfigError(
            f"unknown race type {race_type!r}{_did_you_mean(race_type, RACE_TYPES)}; race types: "
            f"{', '.join(RACE_TYPES)}"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 16:
        raise DeepRacerConfigError(f"workers must be an integer 1-16, got {workers!r}")
    if worker_world_names and not (multi_config and workers > 1):
        raise DeepRacerConfigError(
            "per-worker worlds need multi-config training with more than one worker"
        )
    for world in (world_name, *worker_world_names):
        _check_world(world, allow_unknown_world)
    if action_space is None:
        action_space = action_space_preset(
            "speed_optimization" if algorithm == "sac" else "time_trial"
        )
    meta = model_metadata(
        action_space,
        algorithm=algorithm,
        sensors=sensors,
        neural_network=neural_network,
        lidar_config=lidar_config,
    )
    hyper = hyperparameters(algorithm, hyperparameter_overrides)
    reward = Path(reward_function_path).expanduser()
    from apexrl.deepracer.reward_check import require_lint_clean

    require_lint_clean(reward)

    system = system_env(workers=workers)
    run = run_env(name=name, world_name=world_name, race_type=race_type, multi_config=multi_config)
    for key, value in (env_overrides or {}).items():
        if key in MANAGED_ENV_KEYS:
            raise DeepRacerConfigError(
                f"{key} is set from the arguments (world, race type, workers, multi-config); "
                "change those instead of overriding it"
            )
        if key in system or key == "DR_REMOTE_MINIO_URL":
            system[key] = str(value)
        elif key in run:
            run[key] = str(value)
        else:
            valid = sorted({*system, *run, "DR_REMOTE_MINIO_URL"} - set(MANAGED_ENV_KEYS))
            raise DeepRacerConfigError(
                f"unknown DRfC setting {key!r}{_did_you_mean(key, valid)} (race type "
                f"{race_type}); settings: {', '.join(valid)}"
            )
    if system["DR_CLOUD"] == "remote" and not system.get("DR_REMOTE_MINIO_URL"):
        raise DeepRacerConfigError("DR_CLOUD=remote needs DR_REMOTE_MINIO_URL (the MinIO URL)")
    _check_object_positions(run.get("DR_OA_OBJECT_POSITIONS", ""))

    texts = {
        "system.env": format_env(system, "deepracer-for-cloud system.env written by apexrl"),
        "run.env": format_env(run, f"deepracer-for-cloud run.env for {name}, written by apexrl"),
    }
    if multi_config and workers > 1:
        worlds = list(worker_world_names) or [world_name]
        for n in range(2, workers + 1):
            env = worker_env(run, worker=n, world_name=worlds[(n - 2) % len(worlds)])
            texts[f"worker-{n}.env"] = format_env(env, f"worker {n} of {name}, written by apexrl")

    out = Path(output_dir).expanduser()
    _prepare_folder(out, force)
    write_bytes_atomic(out / "reward_function.py", reward.read_bytes())
    write_json_atomic(out / "model_metadata.json", meta)
    write_json_atomic(out / "hyperparameters.json", hyper)
    for file_name, text in texts.items():
        write_text_atomic(out / file_name, text)
    # Read back what was written: the files on disk are what DRfC will see.
    read_model_metadata(out / "model_metadata.json")
    read_hyperparameters(out / "hyperparameters.json", algorithm)
    for file_name in texts:
        parse_env_file(out / file_name)
    written = (*CUSTOM_FILES, *texts)
    return DeepRacerFiles(out, tuple(out / f for f in written), meta, hyper)


def _check_world(world: str, allow_unknown: bool) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", world):
        raise DeepRacerConfigError(
            f"world name {world!r} may only hold letters, digits, '_' and '-'"
        )
    if allow_unknown or is_official_world(world):
        return
    hint = suggest_worlds(world)
    raise DeepRacerConfigError(
        f"unknown DeepRacer world {world!r}"
        + (f" (did you mean {', '.join(repr(h) for h in hint)}?)" if hint else "")
        + "; see 'apexrl deploy list-tracks' (a newer official world: allow_unknown_world / "
        "--any-world)"
    )


def _prepare_folder(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise FileExistsError(
                f"{out} is not empty; choose a new folder or pass force (--force) to replace the "
                "DeepRacer files in it"
            )
        for stale in out.glob("worker-*.env"):
            if re.fullmatch(r"worker-\d+\.env", stale.name):
                stale.unlink()
    out.mkdir(parents=True, exist_ok=True)
