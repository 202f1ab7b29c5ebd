"""Shared CLI plumbing: turn library errors into one red line, print rich or JSON output.

Only the standard library and typer/rich are imported here so ``apexrl --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

F = TypeVar("F", bound=Callable[..., Any])

TrackArg = Annotated[
    str,
    typer.Argument(
        help="Built-in name, shape spec (circle:radius=50,width=10), .npy/.csv/.json file, or a "
        "downloaded DeepRacer world name.",
        show_default=False,
    ),
]
"""The TRACK argument every track-taking command shares."""

# Errors that mean "the user's input or environment is wrong": one red line, exit 1. Anything else
# is a bug in apexrl and keeps its traceback. APEXRL_DEBUG=1 shows tracebacks for everything.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    FileExistsError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    ConnectionError,
    TimeoutError,
)


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` in red on stderr and return the Exit to raise."""
    console(stderr=True).print(f"[bold red]error:[/] {message}", markup=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Decorator for CLI commands: user errors become one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except USER_ERRORS as exc:
            if os.environ.get("APEXRL_DEBUG"):
                raise
            raise fail(_escape(str(exc) or type(exc).__name__)) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    """Machine output: one JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "__fspath__"):
        return os.fspath(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def parse_layers(text: str, option: str = "--actor-layers") -> tuple[int, ...]:
    """``"64,64"`` -> ``(64, 64)``; anything else is a usage error naming ``option``."""
    from apexrl.train.model_io import check_actor_layers

    try:
        return check_actor_layers([int(part) for part in text.split(",")])
    except ValueError as exc:
        detail = str(exc) if "actor layers" in str(exc) else "widths must be whole numbers"
        raise typer.BadParameter(f"{option} wants comma-separated widths such as 64,64: "
                                 f"{detail} (got {text!r})") from None  # fmt: skip


def parse_mix(text: str, option: str = "--mix") -> dict[str, float]:
    """``"pro=0.7,amateur=0.3"`` -> ``{"pro": 0.7, "amateur": 0.3}``; else a usage error."""
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, sep, weight = part.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = None
        if not sep or not name.strip() or value is None:
            raise typer.BadParameter(f"{option} wants RIDER=WEIGHT,... (e.g. pro=0.7,amateur=0.3), "
                                     f"got {text!r}")  # fmt: skip
        mix[name.strip()] = value
    return mix
