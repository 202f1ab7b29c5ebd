"""AWS DeepRacer tooling: reward params and runner, validation, templates, files, S3 upload."""

from __future__ import annotations

import importlib
from typing import Any

# Exported lazily (PEP 562) so the reward-validation worker process, which imports only
# apexrl.deepracer.reward_runner, starts without loading tracks, numba or pydantic.
_EXPORTS = {
    "actions": (
        "ActionSpace",
        "ActionSpaceError",
        "ContinuousActionSpace",
        "DiscreteAction",
        "DiscreteActionSpace",
        "action_space_preset",
        "discrete_action_space",
        "load_action_space",
        "scale_action",
    ),
    "drfc_env": ("DeepRacerConfigError",),
    "files": (
        "LidarConfig",
        "hyperparameters",
        "model_metadata",
        "read_hyperparameters",
        "read_model_metadata",
        "write_deepracer_files",
    ),
    "params": ("PARAM_KEYS", "TrackObject", "reward_params", "sample_params"),
    "reward_check": ("ValidationReport", "lint_source", "validate_reward_file"),
    "reward_runner": ("RewardError", "RewardFunction"),
    "s3": ("upload_custom_files",),
    "templates": ("list_templates", "render_template"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'apexrl.deepracer' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"apexrl.deepracer.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
