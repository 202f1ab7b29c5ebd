"""deepracer-for-cloud (DRfC) .env files: system.env, run.env and worker-N.env, written and read.

:func:`system_env` (a local DRfC install with MinIO), :func:`run_env` (this model's world, race
type, car, evaluation, training and S3 keys, with the ``DR_OA_*`` / ``DR_H2B_*`` keys of its race
type) and :func:`worker_env` (the per-worker keys of multi-config training) return the settings as
``{key: value}`` strings; :func:`format_env` turns them into file text and :func:`parse_env_file`
reads a file back. :func:`apexrl.deepracer.files.write_deepracer_files` writes them next to the
model's custom files.

DRfC reads .env files with shell word splitting and ``cut -d=`` (worker files with a Python
``split('=')`` that breaks on blank lines), so every line here is ``KEY=VALUE`` with no spaces, no
``=`` in the value and no blank lines; values are checked against a safe character set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from apexrl.deepracer.worlds import DEFAULT_WORLD

CUSTOM_FILES_PREFIX = "custom_files"
DEFAULT_SIMAPP_SOURCE = "awsdeepracercommunity/deepracer-simapp"
DEFAULT_SIMAPP_VERSION = "5.3.3-cpu"
CAR_COLORS = ("Red", "Blue", "Black", "Grey", "Orange", "White", "Purple")
_ENV_VALUE = re.compile(r"[A-Za-z0-9_.,:;/+-]*")


class DeepRacerConfigError(ValueError):
    """A DeepRacer file or setting is invalid; the message names it and says how to fix it."""


_B = {True: "True", False: "False"}
_OA_KEYS = {
    "DR_OA_NUMBER_OF_OBSTACLES": "6",
    "DR_OA_MIN_DISTANCE_BETWEEN_OBSTACLES": "2.0",
    "DR_OA_RANDOMIZE_OBSTACLE_LOCATIONS": "False",
    "DR_OA_IS_OBSTACLE_BOT_CAR": "False",
    "DR_OA_OBSTACLE_TYPE": "box_obstacle",
    "DR_OA_OBJECT_POSITIONS": "",
}
_H2B_KEYS = {
    "DR_H2B_IS_LANE_CHANGE": "False",
    "DR_H2B_LOWER_LANE_CHANGE_TIME": "3.0",
    "DR_H2B_UPPER_LANE_CHANGE_TIME": "5.0",
    "DR_H2B_LANE_CHANGE_DISTANCE": "1.0",
    "DR_H2B_NUMBER_OF_BOT_CARS": "3",
    "DR_H2B_MIN_DISTANCE_BETWEEN_BOT_CARS": "2.0",
    "DR_H2B_RANDOMIZE_BOT_CAR_LOCATIONS": "False",
    "DR_H2B_BOT_CAR_SPEED": "0.2",
    "DR_H2B_BOT_CAR_PENALTY": "5.0",
}
_WORKER_KEYS = (
    "DR_WORLD_NAME",
    "DR_RACE_TYPE",
    "DR_CAR_COLOR",
    "DR_ENABLE_DOMAIN_RANDOMIZATION",
    "DR_TRAIN_CHANGE_START_POSITION",
    "DR_TRAIN_ALTERNATE_DRIVING_DIRECTION",
    "DR_TRAIN_ROUND_ROBIN_ADVANCE_DIST",
    "DR_TRAIN_START_POSITION_OFFSET",
)


def system_env(*, workers: int = 1) -> dict[str, str]:
    """system.env for a local DRfC install with MinIO (every value a string)."""
    return {
        "DR_CLOUD": "local",
        "DR_AWS_APP_REGION": "us-east-1",
        "DR_UPLOAD_S3_PROFILE": "default",
        "DR_UPLOAD_S3_BUCKET": "not-defined",
        "DR_LOCAL_S3_BUCKET": "bucket",
        "DR_LOCAL_S3_PROFILE": "minio",
        "DR_GUI_ENABLE": "False",
        "DR_KINESIS_STREAM_NAME": "",
        "DR_CAMERA_MAIN_ENABLE": "True",
        "DR_CAMERA_SUB_ENABLE": "False",
        "DR_CAMERA_KVS_ENABLE": "False",
        "DR_ENABLE_EXTRA_KVS_OVERLAY": "False",
        "DR_SIMAPP_SOURCE": DEFAULT_SIMAPP_SOURCE,
        "DR_SIMAPP_VERSION": DEFAULT_SIMAPP_VERSION,
        "DR_MINIO_IMAGE": "latest",
        "DR_ANALYSIS_IMAGE": "cpu",
        "DR_WORKERS": str(workers),
        "DR_ROBOMAKER_MOUNT_LOGS": "False",
        "DR_CLOUD_WATCH_ENABLE": "False",
        "DR_CLOUD_WATCH_LOG_STREAM_PREFIX": "",
        "DR_DOCKER_STYLE": "swarm",
        "DR_HOST_X": "False",
        "DR_WEBVIEWER_PORT": "8100",
        "DR_QUIET_ACTIVATE": "False",
    }


def run_env(
    *,
    name: str,
    world_name: str = DEFAULT_WORLD,
    race_type: str = "TIME_TRIAL",
    multi_config: bool = False,
    custom_files_prefix: str = CUSTOM_FILES_PREFIX,
) -> dict[str, str]:
    """run.env: this model's world, race type, car, evaluation, training and S3 keys."""
    env = {
        "DR_RUN_ID": "0",
        "DR_WORLD_NAME": world_name,
        "DR_RACE_TYPE": race_type,
        "DR_CAR_NAME": name,
        "DR_CAR_BODY_SHELL_TYPE": "deepracer",
        "DR_CAR_COLOR": CAR_COLORS[0],
        "DR_DISPLAY_NAME": name,
        "DR_RACER_NAME": name,
        "DR_ENABLE_DOMAIN_RANDOMIZATION": "False",
        "DR_EVAL_NUMBER_OF_TRIALS": "3",
        "DR_EVAL_IS_CONTINUOUS": "True",
        "DR_EVAL_MAX_RESETS": "100",
        "DR_EVAL_OFF_TRACK_PENALTY": "5.0",
        "DR_EVAL_COLLISION_PENALTY": "5.0",
        "DR_EVAL_SAVE_MP4": "False",
        "DR_EVAL_CHECKPOINT": "last",
        "DR_EVAL_OPP_S3_MODEL_PREFIX": "rl-deepracer-sagemaker",
        "DR_EVAL_OPP_CAR_BODY_SHELL_TYPE": "deepracer",
        "DR_EVAL_OPP_CAR_NAME": "FasterCar",
        "DR_EVAL_OPP_DISPLAY_NAME": "FasterCar",
        "DR_EVAL_OPP_RACER_NAME": "FasterCar",
        "DR_EVAL_DEBUG_REWARD": "False",
        "DR_EVAL_RESET_BEHIND_DIST": "1.0",
        "DR_EVAL_REVERSE_DIRECTION": "False",
        "DR_TRAIN_CHANGE_START_POSITION": "True",
        "DR_TRAIN_REVERSE_DIRECTION": "False",
        "DR_TRAIN_ALTERNATE_DRIVING_DIRECTION": "False",
        "DR_TRAIN_START_POSITION_OFFSET": "0.0",
        "DR_TRAIN_ROUND_ROBIN_ADVANCE_DIST": "0.05",
        "DR_TRAIN_MULTI_CONFIG": _B[multi_config],
        "DR_TRAIN_MIN_EVAL_TRIALS": "5",
        "DR_TRAIN_BEST_MODEL_METRIC": "progress",
        "DR_LOCAL_S3_MODEL_PREFIX": name,
        "DR_LOCAL_S3_PRETRAINED": "False",
        "DR_LOCAL_S3_PRETRAINED_PREFIX": "rl-sagemaker-pretrained",
        "DR_LOCAL_S3_PRETRAINED_CHECKPOINT": "last",
        "DR_LOCAL_S3_CUSTOM_FILES_PREFIX": custom_files_prefix,
        "DR_LOCAL_S3_TRAINING_PARAMS_FILE": "training_params.yaml",
        "DR_LOCAL_S3_EVAL_PARAMS_FILE": "evaluation_params.yaml",
        "DR_LOCAL_S3_MODEL_METADATA_KEY": f"{custom_files_prefix}/model_metadata.json",
        "DR_LOCAL_S3_HYPERPARAMETERS_KEY": f"{custom_files_prefix}/hyperparameters.json",
        "DR_LOCAL_S3_REWARD_KEY": f"{custom_files_prefix}/reward_function.py",
        "DR_LOCAL_S3_METRICS_PREFIX": f"{name}/metrics",
        "DR_UPLOAD_S3_PREFIX": name,
    }
    if race_type == "OBJECT_AVOIDANCE":
        env.update(_OA_KEYS)
    elif race_type == "HEAD_TO_BOT":
        env.update(_H2B_KEYS)
    return env


def worker_env(run: Mapping[str, str], *, worker: int, world_name: str) -> dict[str, str]:
    """worker-N.env (N >= 2): the per-worker keys, taken from run.env except world and colour."""
    env = {k: run[k] for k in _WORKER_KEYS}
    env["DR_WORLD_NAME"] = world_name
    env["DR_CAR_COLOR"] = CAR_COLORS[(worker - 1) % len(CAR_COLORS)]
    env.update({k: v for k, v in run.items() if k.startswith(("DR_OA_", "DR_H2B_"))})
    return env


def format_env(env: Mapping[str, str], header: str) -> str:
    lines = [f"# {header}"]
    for key, value in env.items():
        if not re.fullmatch(r"DR_[A-Z0-9_]+", key):
            raise DeepRacerConfigError(f"{key!r} is not a DRfC variable name (DR_ + capitals)")
        if not _ENV_VALUE.fullmatch(value):
            raise DeepRacerConfigError(
                f"{key}={value!r}: DRfC reads .env files with shell word splitting, so values may "
                "only hold letters, digits and _ . , : ; / + - (no spaces, quotes or '=')"
            )
        lines.append(f'{key}="{value}"' if ";" in value else f"{key}={value}")
    return "\n".join(lines) + "\n"


def parse_env_file(path: str | os.PathLike) -> dict[str, str]:
    """Read a DRfC .env file: ``KEY=VALUE`` lines, ``#`` comments, optional double quotes."""
    out: dict[str, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key, sep, value = text.partition("=")
        if not sep:
            raise DeepRacerConfigError(f"{path} line {number}: expected KEY=VALUE, got {text!r}")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out[key] = value
    return out
