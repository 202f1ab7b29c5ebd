"""Reward-function templates: YAML defaults + Jinja2 -> a self-contained ``reward_function.py``.

Each template is ``templates/<name>.py.j2`` with ``templates/<name>.yaml`` holding its title,
description, formula, reward range and parameters (default, min, max, help). Rendered files import
only ``math``, pass :mod:`~apexrl.deepracer.reward_check`'s lint and, with the default parameters,
return rewards in [1e-3, 2] per step, so their scales are comparable:

- ``centerline_following``: closeness to the centre line, steering penalty; [0.001, 1].
- ``speed_optimization``: speed scaled by heading alignment + centre + heading; [0.001, 2].
- ``time_trial``: progress per step against a target lap time + centre + heading; [0.001, 2].
- ``object_avoidance``: hold the free lane near an obstacle, centre otherwise; [0.001, 2].
- ``head_to_head``: speed + lane + do not follow a bot in its lane; [0.001, 2].
- ``racing_line``: closeness to apexrl's minimum-curvature line for the track (embedded as
  points) times (1 + speed); needs a track; [0.001, 2].
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from apexrl.tracks.track import Track

_PACKAGE = "apexrl.deepracer"
_FOLDER = "templates"
_YAML_KEYS = {"title", "description", "formula", "reward_range", "params", "needs_track"}
_PARAM_KEYS = {"default", "min", "max", "help"}


class TemplateError(ValueError):
    """Unknown template, bad parameter, or a template that needs a track got none."""


@dataclass(frozen=True)
class TemplateParam:
    name: str
    default: bool | int | float | str
    help: str
    min: float | None = None
    max: float | None = None

    @property
    def constant(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class RewardTemplate:
    name: str
    title: str
    description: str
    formula: str
    reward_range: str
    params: tuple[TemplateParam, ...]
    needs_track: bool = False

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def _folder() -> Traversable:
    return resources.files(_PACKAGE) / _FOLDER


def list_templates() -> list[RewardTemplate]:
    """Every template, sorted by name."""
    names = sorted(
        entry.name[: -len(".yaml")]
        for entry in _folder().iterdir()
        if entry.name.endswith(".yaml") and not entry.name.startswith("_")
    )
    return [get_template(n) for n in names]


def get_template(name: str) -> RewardTemplate:
    import yaml

    spec = _folder() / f"{name}.yaml"
    if not name.isidentifier() or not spec.is_file():
        known = ", ".join(t.name for t in list_templates()) if name != "" else ""
        raise TemplateError(f"no reward template {name!r}; templates: {known}")
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    # Package data, but a malformed file must fail loudly rather than render nonsense.
    if not isinstance(data, dict) or set(data) - _YAML_KEYS:
        raise RuntimeError(f"template {name}.yaml: keys must be within {sorted(_YAML_KEYS)}")
    params = []
    for key, p in (data.get("params") or {}).items():
        if not isinstance(p, dict) or set(p) - _PARAM_KEYS or "default" not in p:
            raise RuntimeError(f"template {name}.yaml: parameter {key!r} is malformed")
        params.append(
            TemplateParam(key, p["default"], p.get("help", ""), p.get("min"), p.get("max"))
        )
    return RewardTemplate(
        name=name,
        title=data["title"],
        description=data["description"],
        formula=data["formula"],
        reward_range=data["reward_range"],
        params=tuple(params),
        needs_track=bool(data.get("needs_track", False)),
    )


def _checked(param: TemplateParam, value: Any, template: str) -> Any:
    where = f"template {template!r} parameter {param.name!r}"
    kind = type(param.default)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok:
            value = float(value)
            if not math.isfinite(value):
                raise TemplateError(f"{where} must be a finite number, got {value}")
    else:
        ok = isinstance(value, str)
    if not ok:
        raise TemplateError(f"{where} must be {kind.__name__}, got {value!r}")
    if param.min is not None and value < param.min:
        raise TemplateError(f"{where} must be >= {param.min:g}, got {value!r}")
    if param.max is not None and value > param.max:
        raise TemplateError(f"{where} must be <= {param.max:g}, got {value!r}")
    return value


def _py_literal(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bool | int | str):
        return repr(value)
    raise TypeError(f"cannot write {value!r} as a Python literal")


def render_template(
    name: str, params: dict[str, Any] | None = None, track: Track | str | None = None
) -> str:
    """Render template ``name`` with ``params`` overriding its defaults; return the source code.

    ``track`` (a :class:`Track` or anything ``load_track`` accepts) is required by templates that
    embed track geometry (``racing_line``) and refused by the others.
    """
    import jinja2

    template = get_template(name)
    given = dict(params or {})
    valid = {p.name: p for p in template.params}
    unknown = sorted(set(given) - set(valid))
    if unknown:
        raise TemplateError(
            f"template {name!r} has no parameter(s) {', '.join(map(repr, unknown))}; valid: "
            + ", ".join(f"{p.name} (default {p.default!r})" for p in template.params)
        )
    values = {p.name: _checked(p, given.get(p.name, p.default), name) for p in template.params}
    if "min_speed_mps" in values and "max_speed_mps" in values:
        if not values["min_speed_mps"] < values["max_speed_mps"]:
            raise TemplateError(
                f"template {name!r}: min_speed_mps ({values['min_speed_mps']:g}) must be below "
                f"max_speed_mps ({values['max_speed_mps']:g})"
            )
    context: dict[str, Any] = {
        "name": name,
        "title": template.title,
        "description": template.description,
        "formula": template.formula,
        "reward_range": template.reward_range,
        "params": [
            {"constant": p.constant, "value": values[p.name], "help": p.help}
            for p in template.params
        ],
        "track_name": None,
    }
    if template.needs_track:
        if track is None:
            raise TemplateError(
                f"template {name!r} embeds track geometry; give the track the model trains on "
                "(--track NAME)"
            )
        loaded = _load(track)
        context["track_name"] = loaded.name
        context["racing_line"] = _racing_line_points(loaded, values["points"])
        context["line_closed"] = loaded.closed
    elif track is not None:
        raise TemplateError(f"template {name!r} does not use a track; drop the track argument")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_source),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=False,
        autoescape=False,
    )
    env.filters["py"] = _py_literal
    return env.get_template(f"{name}.py.j2").render(**context)


def _load_source(template_name: str) -> str | None:
    entry = _folder() / template_name
    return entry.read_text(encoding="utf-8") if entry.is_file() else None


def _load(track: Track | str) -> Track:
    from apexrl.tracks.library import load_track

    return load_track(track)


def _racing_line_points(track: Track, n_points: int) -> list[tuple[float, float]]:
    """``n_points`` points of the minimum-curvature line, evenly spaced along the track."""
    import numpy as np

    from apexrl.tracks.raceline import minimum_curvature_line

    xy = minimum_curvature_line(track).xy_m
    m = xy.shape[0]
    count = min(n_points, m)
    if track.closed:
        index = np.round(np.arange(count) * m / count).astype(int)
    else:
        index = np.round(np.linspace(0, m - 1, count)).astype(int)
    return [(float(xy[i, 0]), float(xy[i, 1])) for i in index]


def write_template(
    name: str,
    path: str | os.PathLike,
    params: dict[str, Any] | None = None,
    track: Track | str | None = None,
    *,
    force: bool = False,
) -> str:
    """Render and write atomically to ``path`` (refusing to overwrite unless ``force``)."""
    from apexrl.deepracer.reward_check import lint_source
    from apexrl.io_utils import write_text_atomic

    target = Path(path).expanduser()
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file path such as reward.py")
    if target.exists() and not force:
        raise FileExistsError(f"{target} already exists; pass --force to overwrite it")
    source = render_template(name, params, track)
    issues = lint_source(source, str(target))
    if issues:  # a template bug, never the user's fault
        raise RuntimeError(f"template {name!r} rendered code that fails lint: {issues}")
    write_text_atomic(target, source)
    return source
