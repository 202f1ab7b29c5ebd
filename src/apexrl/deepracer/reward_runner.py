"""Run a user's DeepRacer ``reward_function.py`` the way the simulator does.

The module is imported ONCE (from its path, under a unique module name), so module globals and
class instances persist across calls and episodes. Every call gets a deep copy of ``params`` and
its result goes through ``float()``. Returning NaN, +-inf, a value with |r| > 1e5, or something
that is not a number raises :class:`RewardError` naming the file, the step and the value; an
exception inside the user's code raises :class:`RewardError` carrying the traceback lines of the
user's file only. Strings are refused even though ``float("1.5")`` would succeed: returning text
is a bug, not a reward.

This runs the user's code in this process with this process's privileges; it is not a sandbox.
The module imports only the standard library: :func:`serve`, the worker side of
:mod:`~apexrl.deepracer.reward_check`'s sample calls, loads it by path in a bare interpreter.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import math
import os
import pickle
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_ABS_REWARD = 1e5
"""The simulator rejects rewards larger than this in magnitude."""
FUNCTION_NAME = "reward_function"
_counter = itertools.count()


class RewardError(ValueError):
    """A reward function could not be loaded, raised, or returned an invalid value.

    ``kind`` is ``"load"``, ``"exception"`` or ``"value"``; ``step`` and ``value`` (the repr of the
    offending return value) are set when known.
    """

    def __init__(
        self, message: str, *, kind: str, step: int | None = None, value: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.step = step
        self.value = value


def user_traceback(exc: BaseException, path: str | os.PathLike | None) -> str:
    """The ``File ..., line ...`` lines of ``exc``'s traceback that lie in ``path``.

    With no path (a callable defined elsewhere), the innermost frame is kept.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        target = os.path.realpath(path)
        frames = [f for f in frames if os.path.realpath(f.filename) == target]
    elif frames:
        frames = frames[-1:]
    return "".join(traceback.format_list(frames)).rstrip()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class RewardFunction:
    """A loaded reward function. Build it with :meth:`load`; call it like the simulator does."""

    def __init__(
        self,
        func: Callable[[dict[str, Any]], Any],
        *,
        path: Path | None = None,
        module: ModuleType | None = None,
    ) -> None:
        self.func = func
        self.path = path
        self.module = module

    @property
    def label(self) -> str:
        if self.path is not None:
            return str(self.path)
        return getattr(self.func, "__qualname__", repr(self.func))

    @classmethod
    def load(cls, source: str | os.PathLike | Callable[..., Any]) -> RewardFunction:
        """Import ``reward_function`` from a file path, or wrap a callable."""
        if callable(source) and not isinstance(source, str | os.PathLike):
            code = getattr(source, "__code__", None)
            path = Path(code.co_filename) if code is not None else None
            if path is not None and not path.is_file():
                path = None
            return cls(source, path=path)
        path = Path(source).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"reward function file not found: {path}")
        if not path.is_file():
            raise IsADirectoryError(f"{path} is a folder; expected a reward_function.py file")
        path = path.resolve()
        module = _import_file(path)
        func = getattr(module, FUNCTION_NAME, None)
        if func is None:
            raise RewardError(
                f"{path} does not define {FUNCTION_NAME}(params); the simulator calls exactly "
                "that name",
                kind="load",
            )
        if not callable(func):
            raise RewardError(
                f"{path}: {FUNCTION_NAME} is a {type(func).__name__}, not a function", kind="load"
            )
        return cls(func, path=path, module=module)

    def __call__(self, params: Mapping[str, Any], *, step: int | None = None) -> float:
        """Call with a deep copy of ``params``; return the validated float reward."""
        if step is None:
            raw_step = params.get("steps")
            step = raw_step if isinstance(raw_step, int) else None
        at = f" at step {step}" if step is not None else ""
        try:
            result = self.func(copy.deepcopy(dict(params)))
        except Exception as exc:
            frames = user_traceback(exc, self.path)
            raise RewardError(
                f"{self.label}: {FUNCTION_NAME} raised{at}: {_describe(exc)}"
                + (f"\n{frames}" if frames else ""),
                kind="exception",
                step=step,
            ) from exc
        return check_reward(result, label=self.label, step=step)


def check_reward(result: Any, *, label: str = FUNCTION_NAME, step: int | None = None) -> float:
    """``float(result)`` if the simulator would accept it, else :class:`RewardError`."""
    at = f" at step {step}" if step is not None else ""
    shown = _short_repr(result)
    if isinstance(result, str | bytes):
        raise RewardError(
            f"{label}: returned text {shown}{at}; return a number (float(...))",
            kind="value",
            step=step,
            value=shown,
        )
    try:
        value = float(result)
    except (TypeError, ValueError) as exc:
        raise RewardError(
            f"{label}: returned {shown} ({type(result).__name__}){at}, which is not a number "
            f"({exc})",
            kind="value",
            step=step,
            value=shown,
        ) from None
    if not math.isfinite(value):
        raise RewardError(
            f"{label}: returned {value}{at}; rewards must be finite numbers",
            kind="value",
            step=step,
            value=shown,
        )
    if abs(value) > MAX_ABS_REWARD:
        raise RewardError(
            f"{label}: returned {value:g}{at}; the simulator rejects |reward| > {MAX_ABS_REWARD:g}",
            kind="value",
            step=step,
            value=shown,
        )
    return value


def _short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _import_file(path: Path) -> ModuleType:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"apexrl_reward_{next(_counter)}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RewardError(f"{path}: cannot be imported as a Python module", kind="load")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs so dataclasses and pickling inside the user's module work.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        line = (exc.text or "").strip()
        raise RewardError(
            f"{path} line {exc.lineno}: syntax error: {exc.msg}" + (f": {line}" if line else ""),
            kind="load",
        ) from None
    except Exception as exc:
        sys.modules.pop(name, None)
        frames = user_traceback(exc, path)
        raise RewardError(
            f"{path}: importing the module failed: {_describe(exc)}"
            + (f"\n{frames}" if frames else ""),
            kind="load",
        ) from exc
    return module


def serve(path: str) -> None:
    """Worker process main: load ``path``, then answer pickled params dicts read from stdin.

    Replies (pickled tuples) go to the ORIGINAL stdout: ``("loaded", None)`` or
    ``("load_error", message)`` once, then ``("ok", reward)`` or ``("error", kind, message,
    value)`` per request. Everything else written to fd 1 -- the user's prints, C libraries -- is
    redirected to stderr so it cannot corrupt the stream (or a parent's ``--json`` output).
    """
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = sys.stdin.buffer

    def reply(message: tuple[Any, ...]) -> None:
        pickle.dump(message, out, protocol=pickle.HIGHEST_PROTOCOL)
        out.flush()

    try:
        func = RewardFunction.load(path)
    except (RewardError, OSError) as exc:
        reply(("load_error", str(exc)))
        return
    reply(("loaded", None))
    while True:
        try:
            params = pickle.load(requests)
        except EOFError:
            return
        try:
            reply(("ok", func(params)))
        except RewardError as exc:
            reply(("error", exc.kind, str(exc), exc.value))
