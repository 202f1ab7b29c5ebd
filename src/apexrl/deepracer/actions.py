"""AWS DeepRacer action spaces: discrete lists, continuous ranges, presets and policy scaling.

Formats (the ``action_space`` value of model_metadata.json):

- discrete: ``[{"steering_angle": deg, "speed": m/s, "index": i}, ...]`` -- "index" is optional;
  when present it must equal the action's position (the simulator indexes by position).
- continuous: ``{"steering_angle": {"low": deg, "high": deg}, "speed": {"low": m/s, "high": m/s}}``
  with low < high.

Limits: 0.1 <= speed <= 4.0 m/s (the simulator clamps commands into this range, so anything
outside is a mistake) and |steering| <= 30 deg, + = left. Continuous policies output values in
[-1, 1] in the order [steering, speed]; :func:`scale_action` maps them linearly onto the ranges.

Presets (apexrl's choices; every one respects the limits):

==================== ========== ===============================================================
preset               type       why
==================== ========== ===============================================================
centerline_following discrete   5 steering angles (-30..30) at 1.0 m/s: slow and easy to learn,
                                a first model that only has to stay on the line
time_trial           discrete   12 actions shaped like a friction circle: 4.0 m/s only straight,
                                +-10 deg up to 3.0 m/s, +-20 deg up to 2.0, +-30 deg at 1.2
speed_optimization   continuous steering -30..30 deg, speed 1.0..4.0 m/s: the policy finds the
                                speed profile itself (works with clipped_ppo and sac)
object_avoidance     discrete   7 steering angles x 0.8 / 1.6 m/s: fine steering to change lane
                                around boxes at speeds where the camera sees them in time
head_to_head         discrete   5 steering angles x 1.0 / 2.0 / 3.0 m/s: fast enough to pass bot
                                cars, with a slow gear to queue behind one
==================== ========== ===============================================================
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

MIN_SPEED_MPS = 0.1
MAX_SPEED_MPS = 4.0
MAX_STEERING_DEG = 30.0
STEERING_LEVELS = (3, 5, 7)
"""Steering granularities the AWS console offers."""
SPEED_LEVELS = (1, 2, 3)
"""Speed granularities the AWS console offers."""


class ActionSpaceError(ValueError):
    """An action space is invalid; the message names the action and the limit."""


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActionSpaceError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ActionSpaceError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _check_speed(speed_mps: float, what: str) -> None:
    if not MIN_SPEED_MPS <= speed_mps <= MAX_SPEED_MPS:
        raise ActionSpaceError(
            f"{what}: speed {speed_mps:g} m/s is outside {MIN_SPEED_MPS:g}-{MAX_SPEED_MPS:g} m/s "
            "(the simulator clamps commands to this range)"
        )


def _check_steering(steering_deg: float, what: str) -> None:
    if abs(steering_deg) > MAX_STEERING_DEG:
        raise ActionSpaceError(
            f"{what}: steering angle {steering_deg:g} deg is outside "
            f"-{MAX_STEERING_DEG:g}..{MAX_STEERING_DEG:g} deg"
        )


def _json_number(x: float) -> int | float:
    """30.0 -> 30 and 1.5 -> 1.5, so files read like the ones the console writes."""
    return int(x) if float(x).is_integer() else float(x)


@dataclass(frozen=True)
class DiscreteAction:
    """One action: commanded steering (deg, + = left) and speed (m/s)."""

    steering_angle_deg: float
    speed_mps: float


@dataclass(frozen=True)
class DiscreteActionSpace:
    """A list of actions; the policy outputs one index into it."""

    actions: tuple[DiscreteAction, ...]
    type: ClassVar[str] = "discrete"

    def __post_init__(self) -> None:
        if not self.actions:
            raise ActionSpaceError("a discrete action space needs at least one action")
        seen: dict[tuple[float, float], int] = {}
        for i, a in enumerate(self.actions):
            what = f"action {i}"
            _number(a.steering_angle_deg, f"{what} steering_angle")
            _number(a.speed_mps, f"{what} speed")
            _check_steering(a.steering_angle_deg, what)
            _check_speed(a.speed_mps, what)
            key = (a.steering_angle_deg, a.speed_mps)
            if key in seen:
                raise ActionSpaceError(
                    f"actions {seen[key]} and {i} are the same (steering {key[0]:g} deg, speed "
                    f"{key[1]:g} m/s); remove the duplicate"
                )
            seen[key] = i

    def __len__(self) -> int:
        return len(self.actions)

    def to_json(self) -> list[dict[str, int | float]]:
        return [
            {
                "steering_angle": _json_number(a.steering_angle_deg),
                "speed": _json_number(a.speed_mps),
                "index": i,
            }
            for i, a in enumerate(self.actions)
        ]

    def speed_range_mps(self) -> tuple[float, float]:
        speeds = [a.speed_mps for a in self.actions]
        return min(speeds), max(speeds)


@dataclass(frozen=True)
class ContinuousActionSpace:
    """Ranges for steering (deg) and speed (m/s); the policy outputs 2 values in [-1, 1]."""

    steering_low_deg: float = -MAX_STEERING_DEG
    steering_high_deg: float = MAX_STEERING_DEG
    speed_low_mps: float = 0.5
    speed_high_mps: float = MAX_SPEED_MPS
    type: ClassVar[str] = "continuous"

    def __post_init__(self) -> None:
        for name in ("steering_low_deg", "steering_high_deg", "speed_low_mps", "speed_high_mps"):
            _number(getattr(self, name), name)
        _check_steering(self.steering_low_deg, "steering_angle low")
        _check_steering(self.steering_high_deg, "steering_angle high")
        _check_speed(self.speed_low_mps, "speed low")
        _check_speed(self.speed_high_mps, "speed high")
        if not self.steering_low_deg < self.steering_high_deg:
            raise ActionSpaceError(
                f"steering_angle low ({self.steering_low_deg:g}) must be below high "
                f"({self.steering_high_deg:g})"
            )
        if not self.speed_low_mps < self.speed_high_mps:
            raise ActionSpaceError(
                f"speed low ({self.speed_low_mps:g}) must be below high ({self.speed_high_mps:g})"
            )

    def to_json(self) -> dict[str, dict[str, int | float]]:
        return {
            "steering_angle": {
                "low": _json_number(self.steering_low_deg),
                "high": _json_number(self.steering_high_deg),
            },
            "speed": {
                "low": _json_number(self.speed_low_mps),
                "high": _json_number(self.speed_high_mps),
            },
        }

    def speed_range_mps(self) -> tuple[float, float]:
        return self.speed_low_mps, self.speed_high_mps


ActionSpace = DiscreteActionSpace | ContinuousActionSpace


# ---------------------------------------------------------------------- continuous scaling
def scale_action(
    space: ContinuousActionSpace, output: np.ndarray | Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Map policy outputs ``(..., 2)`` in [-1, 1], order [steering, speed], to (deg, m/s).

    Outputs outside [-1, 1] are clipped first, so commands never leave the declared ranges.
    Returns ``(steering_deg, speed_mps)``, each of shape ``output.shape[:-1]``.
    """
    out = np.asarray(output, dtype=np.float64)
    if out.shape[-1:] != (2,):
        raise ActionSpaceError(f"policy output must have last dimension 2, got shape {out.shape}")
    u = np.clip(out, -1.0, 1.0)
    steer = space.steering_low_deg + (u[..., 0] + 1.0) * 0.5 * (
        space.steering_high_deg - space.steering_low_deg
    )
    speed = space.speed_low_mps + (u[..., 1] + 1.0) * 0.5 * (
        space.speed_high_mps - space.speed_low_mps
    )
    return steer, speed


def unscale_action(
    space: ContinuousActionSpace, steering_deg: np.ndarray | float, speed_mps: np.ndarray | float
) -> np.ndarray:
    """Inverse of :func:`scale_action`: commands -> policy outputs ``(..., 2)`` in [-1, 1]."""
    steer = np.asarray(steering_deg, dtype=np.float64)
    speed = np.asarray(speed_mps, dtype=np.float64)
    u0 = 2.0 * (steer - space.steering_low_deg) / (space.steering_high_deg - space.steering_low_deg)
    u1 = 2.0 * (speed - space.speed_low_mps) / (space.speed_high_mps - space.speed_low_mps)
    return np.stack([u0 - 1.0, u1 - 1.0], axis=-1)


# ---------------------------------------------------------------------- generation and presets
def discrete_action_space(
    max_steering_deg: float = MAX_STEERING_DEG,
    steering_levels: int = 5,
    speed_levels: int = 2,
    min_speed_mps: float = 1.0,
    max_speed_mps: float = 2.0,
) -> DiscreteActionSpace:
    """A grid like the console's: ``steering_levels`` angles evenly over +-max_steering_deg times
    ``speed_levels`` speeds evenly over [min_speed_mps, max_speed_mps] (one level = max speed).

    Ordered by steering (right to left, as the console lists them), then speed (slow to fast).
    """
    if steering_levels not in STEERING_LEVELS:
        raise ActionSpaceError(
            f"steering_levels must be one of {STEERING_LEVELS} (the console's granularities), "
            f"got {steering_levels!r}"
        )
    if speed_levels not in SPEED_LEVELS:
        raise ActionSpaceError(
            f"speed_levels must be one of {SPEED_LEVELS} (the console's granularities), "
            f"got {speed_levels!r}"
        )
    max_steer = _number(max_steering_deg, "max_steering_deg")
    if not 0 < max_steer <= MAX_STEERING_DEG:
        raise ActionSpaceError(
            f"max_steering_deg must be in (0, {MAX_STEERING_DEG:g}], got {max_steer:g}"
        )
    lo = _number(min_speed_mps, "min_speed_mps")
    hi = _number(max_speed_mps, "max_speed_mps")
    _check_speed(lo, "min_speed_mps")
    _check_speed(hi, "max_speed_mps")
    if speed_levels > 1 and not lo < hi:
        raise ActionSpaceError(f"min_speed_mps ({lo:g}) must be below max_speed_mps ({hi:g})")
    steerings = np.linspace(-max_steer, max_steer, steering_levels)
    speeds = [hi] if speed_levels == 1 else np.linspace(lo, hi, speed_levels)
    return DiscreteActionSpace(
        tuple(
            DiscreteAction(round(float(s), 4) + 0.0, round(float(v), 4))
            for s in steerings
            for v in speeds
        )
    )


def _actions(*pairs: tuple[float, float]) -> DiscreteActionSpace:
    return DiscreteActionSpace(tuple(DiscreteAction(float(s), float(v)) for s, v in pairs))


PRESETS: dict[str, ActionSpace] = {
    "centerline_following": discrete_action_space(30.0, 5, 1, 1.0, 1.0),
    "time_trial": _actions(
        (-30, 1.2),
        (-20, 1.5),
        (-20, 2.0),
        (-10, 2.2),
        (-10, 3.0),
        (0, 3.0),
        (0, 4.0),
        (10, 2.2),
        (10, 3.0),
        (20, 1.5),
        (20, 2.0),
        (30, 1.2),
    ),
    "speed_optimization": ContinuousActionSpace(-30.0, 30.0, 1.0, 4.0),
    "object_avoidance": discrete_action_space(30.0, 7, 2, 0.8, 1.6),
    "head_to_head": discrete_action_space(30.0, 5, 3, 1.0, 3.0),
}
"""The scenario presets documented in the module docstring."""


def action_space_preset(name: str) -> ActionSpace:
    try:
        return PRESETS[name]
    except KeyError:
        raise ActionSpaceError(
            f"no action-space preset {name!r}; presets: {', '.join(PRESETS)}"
        ) from None


# ---------------------------------------------------------------------- reading
def action_space_from_json(
    data: Any, *, action_space_type: str | None = None, source: str = "action_space"
) -> ActionSpace:
    """Parse and validate a model_metadata ``action_space`` value (list = discrete, object =
    continuous). ``action_space_type``, when given, must agree with the shape of ``data``."""
    if action_space_type is not None and action_space_type not in ("discrete", "continuous"):
        raise ActionSpaceError(
            f"{source}: action_space_type must be 'discrete' or 'continuous', "
            f"got {action_space_type!r}"
        )
    if isinstance(data, list):
        kind = "discrete"
    elif isinstance(data, Mapping):
        kind = "continuous"
    else:
        raise ActionSpaceError(
            f"{source}: action_space must be a list of actions (discrete) or an object with "
            f"steering_angle/speed ranges (continuous), got {type(data).__name__}"
        )
    if action_space_type is not None and action_space_type != kind:
        raise ActionSpaceError(
            f"{source}: action_space_type is {action_space_type!r} but action_space is a "
            f"{kind} space ({'a list' if kind == 'discrete' else 'an object'})"
        )
    try:
        if kind == "discrete":
            return _discrete_from_json(data)
        return _continuous_from_json(data)
    except ActionSpaceError as exc:
        raise ActionSpaceError(f"{source}: {exc}") from None


def _discrete_from_json(items: list[Any]) -> DiscreteActionSpace:
    actions = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ActionSpaceError(f"action {i} must be an object, got {item!r}")
        unknown = set(item) - {"steering_angle", "speed", "index"}
        if unknown:
            raise ActionSpaceError(
                f"action {i}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; "
                "an action has steering_angle, speed and optionally index"
            )
        missing = [k for k in ("steering_angle", "speed") if k not in item]
        if missing:
            raise ActionSpaceError(f"action {i}: missing {', '.join(missing)}")
        if "index" in item and (isinstance(item["index"], bool) or item["index"] != i):
            raise ActionSpaceError(
                f"action {i} has index {item['index']!r}; indices must equal the position in the "
                "list (0, 1, 2, ...), which is what the simulator uses"
            )
        actions.append(
            DiscreteAction(
                _number(item["steering_angle"], f"action {i} steering_angle"),
                _number(item["speed"], f"action {i} speed"),
            )
        )
    return DiscreteActionSpace(tuple(actions))


def _continuous_from_json(data: Mapping[str, Any]) -> ContinuousActionSpace:
    if set(data) != {"steering_angle", "speed"}:
        raise ActionSpaceError(
            "a continuous action space has exactly the keys steering_angle and speed, got "
            f"{', '.join(sorted(map(str, data))) or 'none'}"
        )
    bounds: dict[str, tuple[float, float]] = {}
    for key in ("steering_angle", "speed"):
        rng = data[key]
        if not isinstance(rng, Mapping) or set(rng) != {"low", "high"}:
            raise ActionSpaceError(
                f"{key} must be an object with exactly low and high, got {rng!r}"
            )
        bounds[key] = (_number(rng["low"], f"{key} low"), _number(rng["high"], f"{key} high"))
    return ContinuousActionSpace(*bounds["steering_angle"], *bounds["speed"])


def load_action_space(path: str | os.PathLike) -> ActionSpace:
    """Read an action space from JSON: the bare ``action_space`` value, or an object holding
    ``action_space`` (and optionally ``action_space_type``), e.g. a model_metadata.json."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"action-space file not found: {file}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ActionSpaceError(
            f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if isinstance(data, Mapping) and "action_space" in data:
        return action_space_from_json(
            data["action_space"], action_space_type=data.get("action_space_type"), source=str(file)
        )
    return action_space_from_json(data, source=str(file))


def resolve_action_space(spec: str) -> ActionSpace:
    """A preset name (see :data:`PRESETS`) or a path to a JSON file."""
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec).expanduser()
    if path.suffix.lower() == ".json" or path.exists():
        return load_action_space(path)
    raise ActionSpaceError(
        f"action space {spec!r} is neither a preset ({', '.join(PRESETS)}) nor a .json file"
    )
