"""AWS DeepRacer tooling: reward params and runner, validation, templates, files, S3 upload."""

from apexrl.deepracer.actions import (
    ActionSpace,
    ActionSpaceError,
    ContinuousActionSpace,
    DiscreteAction,
    DiscreteActionSpace,
    action_space_preset,
    discrete_action_space,
    load_action_space,
    scale_action,
)
from apexrl.deepracer.files import (
    DeepRacerConfigError,
    LidarConfig,
    hyperparameters,
    model_metadata,
    read_hyperparameters,
    read_model_metadata,
    write_deepracer_files,
)
from apexrl.deepracer.params import PARAM_KEYS, TrackObject, reward_params, sample_params
from apexrl.deepracer.reward_check import ValidationReport, lint_source, validate_reward_file
from apexrl.deepracer.reward_runner import RewardError, RewardFunction
from apexrl.deepracer.s3 import upload_custom_files
from apexrl.deepracer.templates import list_templates, render_template

__all__ = [
    "PARAM_KEYS",
    "ActionSpace",
    "ActionSpaceError",
    "ContinuousActionSpace",
    "DeepRacerConfigError",
    "DiscreteAction",
    "DiscreteActionSpace",
    "LidarConfig",
    "RewardError",
    "RewardFunction",
    "TrackObject",
    "ValidationReport",
    "action_space_preset",
    "discrete_action_space",
    "hyperparameters",
    "lint_source",
    "list_templates",
    "load_action_space",
    "model_metadata",
    "read_hyperparameters",
    "read_model_metadata",
    "render_template",
    "reward_params",
    "sample_params",
    "scale_action",
    "upload_custom_files",
    "validate_reward_file",
    "write_deepracer_files",
]
