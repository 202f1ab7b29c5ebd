"""Check a DeepRacer reward function before it costs a training run: lint, then sample calls.

1. Lint (static, on the syntax tree), the rules of the AWS console's validator: imports only from
   math, random, numpy, scipy and shapely (and their submodules); no open / eval / exec / compile /
   input / ``__import__`` (calls or bare references; ``__builtins__`` too, the usual way around
   that rule); a module-level ``def reward_function`` that can be called with one argument.
2. Sample calls: the function runs on :func:`~apexrl.deepracer.params.sample_params` dicts in a
   SEPARATE PROCESS, one call at a time, each with a time limit (5 s like the console). The first
   failures are reported with their step and offending value.

THIS IS LINTING, NOT A SANDBOX. The sample calls run the user's code with your privileges; the
separate process only protects this one from hangs and crashes. Check code you did not write
before validating it.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from apexrl.deepracer.reward_runner import FUNCTION_NAME

if TYPE_CHECKING:
    from apexrl.tracks.track import Track

ALLOWED_MODULES = ("math", "random", "numpy", "scipy", "shapely")
BANNED_NAMES = ("open", "eval", "exec", "compile", "input", "__import__", "__builtins__")
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_CALLS = 100
DEFAULT_TRACK = "dr_oval"
_LOAD_TIMEOUT_S = 30.0
"""Starting the worker and importing numpy/scipy/shapely can take seconds on a cold cache."""


class RewardCheckError(ValueError):
    """A reward function fails lint where it must pass (e.g. before it is packaged)."""


@dataclass(frozen=True)
class LintIssue:
    """One lint finding at ``line``:``col`` (1-based line, 0-based column)."""

    line: int
    col: int
    code: str
    """``syntax``, ``import``, ``builtin`` or ``definition``."""
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def lint_source(source: str, filename: str = "reward_function.py") -> list[LintIssue]:
    """Lint reward-function source code; an empty list means it passes."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        text = (exc.text or "").strip()
        return [
            LintIssue(
                exc.lineno or 0,
                max((exc.offset or 1) - 1, 0),
                "syntax",
                f"syntax error: {exc.msg}" + (f": {text}" if text else ""),
            )
        ]
    issues: list[LintIssue] = []
    allowed = ", ".join(ALLOWED_MODULES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in ALLOWED_MODULES:
                    issues.append(
                        _issue(node, "import", f"import of {alias.name!r} (allowed: {allowed})")
                    )
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] not in ALLOWED_MODULES:
                shown = "." * node.level + module
                issues.append(_issue(node, "import", f"import from {shown!r} (allowed: {allowed})"))
        elif isinstance(node, ast.Name) and node.id in BANNED_NAMES:
            use = "call to" if _is_called(node, tree) else "use of"
            issues.append(_issue(node, "builtin", f"{use} banned builtin {node.id!r}"))
        elif isinstance(node, ast.Attribute) and node.attr in ("__import__", "__builtins__"):
            issues.append(_issue(node, "builtin", f"use of banned builtin {node.attr!r}"))
    issues.extend(_check_definition(tree))
    return sorted(issues, key=lambda i: (i.line, i.col))


def _issue(node: ast.AST, code: str, message: str) -> LintIssue:
    return LintIssue(getattr(node, "lineno", 0), getattr(node, "col_offset", 0), code, message)


def _is_called(name: ast.Name, tree: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) and n.func is name for n in ast.walk(tree))


def _check_definition(tree: ast.Module) -> list[LintIssue]:
    defs = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == FUNCTION_NAME
    ]
    if not defs:
        return [
            LintIssue(
                1,
                0,
                "definition",
                f"no module-level 'def {FUNCTION_NAME}(params)'; the simulator calls that name",
            )
        ]
    func = defs[-1]  # the last definition wins at import time
    if isinstance(func, ast.AsyncFunctionDef):
        return [_issue(func, "definition", f"{FUNCTION_NAME} must be a plain def, not async def")]
    args = func.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    required_kwonly = [
        a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None
    ]
    if required > 1 or (not positional and args.vararg is None) or required_kwonly:
        return [
            _issue(
                func,
                "definition",
                f"{FUNCTION_NAME} must take exactly one argument (params); it is defined as "
                f"{FUNCTION_NAME}({ast.unparse(args)})",
            )
        ]
    return []


def lint_file(path: str | os.PathLike) -> list[LintIssue]:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"reward function file not found: {file}")
    try:
        source = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return [LintIssue(0, 0, "syntax", f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
    return lint_source(source, str(file))


def require_lint_clean(path: str | os.PathLike) -> None:
    """Raise :class:`RewardCheckError` listing every lint issue of ``path``."""
    issues = lint_file(path)
    if issues:
        raise RewardCheckError(
            f"{path} fails the reward-function lint: " + "; ".join(str(i) for i in issues)
        )


# ---------------------------------------------------------------------- sample calls
@dataclass(frozen=True)
class CallFailure:
    """A sample call that failed: ``kind`` is load / exception / value / timeout / crash."""

    call: int
    """0-based index of the sample call (-1 when loading the module failed)."""
    step: int | None
    kind: str
    message: str
    value: str | None = None


@dataclass(frozen=True)
class ValidationReport:
    path: str
    track: str
    lint: tuple[LintIssue, ...]
    calls_requested: int
    calls_made: int
    failures: tuple[CallFailure, ...]
    reward_min: float | None = None
    reward_max: float | None = None
    reward_mean: float | None = None
    seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.lint and not self.failures

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["lint"] = [asdict(i) for i in self.lint]
        data["failures"] = [asdict(f) for f in self.failures]
        data["notes"] = list(self.notes)
        return data


def validate_reward_file(
    path: str | os.PathLike,
    track: Track | str | os.PathLike | None = None,
    *,
    calls: int = DEFAULT_CALLS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    seed: int = 0,
    n_objects: int = 0,
    first_step: int = 2,
    max_failures: int = 5,
) -> ValidationReport:
    """Lint ``path``; if clean, call it ``calls`` times on sample params in a worker process.

    ``track`` is anything :func:`apexrl.tracks.library.load_track` accepts (default
    :data:`DEFAULT_TRACK`). Stops after ``max_failures`` failures or the first time-out.
    """
    from apexrl.deepracer.params import sample_params
    from apexrl.tracks.library import load_track

    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout_s}")
    file = Path(path).expanduser()
    lint = tuple(lint_file(file))
    loaded = load_track(track if track is not None else DEFAULT_TRACK)
    if lint:
        return ValidationReport(
            str(file), loaded.name, lint, calls, 0, (), notes=("sample calls skipped: lint failed",)
        )
    samples = sample_params(
        loaded, calls, np.random.default_rng(seed), n_objects=n_objects, first_step=first_step
    )
    t0 = time.perf_counter()
    failures, rewards, sent = _run_in_worker(file.resolve(), samples, timeout_s, max_failures)
    arr = np.asarray(rewards, dtype=np.float64)
    return ValidationReport(
        str(file),
        loaded.name,
        (),
        calls,
        sent,
        tuple(failures),
        float(arr.min()) if arr.size else None,
        float(arr.max()) if arr.size else None,
        float(arr.mean()) if arr.size else None,
        time.perf_counter() - t0,
    )


def _run_in_worker(
    path: Path, samples: list[dict[str, Any]], timeout_s: float, max_failures: int
) -> tuple[list[CallFailure], list[float], int]:
    """Send the samples one by one to a worker process; return (failures, rewards, calls sent).

    The worker is a fresh interpreter running :func:`apexrl.deepracer.reward_runner.serve` (not a
    multiprocessing fork or spawn, which would re-run the caller's ``__main__``). It loads
    reward_runner.py by path, which needs only the standard library, so the worker does not import
    the apexrl package (gymnasium, numba, ...) and starts in a fraction of a second.
    """
    from apexrl.deepracer import reward_runner

    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER_COMMAND, reward_runner.__file__, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    replies: queue.Queue[Any] = queue.Queue()
    reader = threading.Thread(target=_read_replies, args=(proc.stdout, replies), daemon=True)
    reader.start()
    failures: list[CallFailure] = []
    rewards: list[float] = []
    sent = 0
    try:
        status = _receive(replies, _LOAD_TIMEOUT_S)
        if status[0] != "loaded":
            kind, msg = _no_reply(proc, status, _LOAD_TIMEOUT_S, "importing the module")
            return [CallFailure(-1, None, kind, msg)], rewards, 0
        for i, params in enumerate(samples):
            step = params.get("steps")
            try:
                pickle.dump(params, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                proc.stdin.flush()
            except OSError:  # BrokenPipeError: the worker is gone
                failures.append(CallFailure(i, step, *_no_reply(proc, _EOF, timeout_s, "")))
                break
            sent += 1
            reply = _receive(replies, timeout_s)
            if reply[0] == "ok":
                rewards.append(reply[1])
                continue
            if reply[0] != "error":
                kind, msg = _no_reply(proc, reply, timeout_s, "the call")
                failures.append(CallFailure(i, step, kind, msg))
                break
            _, kind, message, value = reply
            failures.append(CallFailure(i, step, kind, message, value))
            if len(failures) >= max_failures:
                break
        return failures, rewards, sent
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=2.0)


_WORKER_COMMAND = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('apexrl_reward_worker', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "sys.modules[spec.name] = module\n"
    "spec.loader.exec_module(module)\n"
    "module.serve(sys.argv[2])\n"
)
_EOF = ("eof",)
_TIMEOUT = ("timeout",)


def _read_replies(stream: Any, replies: queue.Queue[Any]) -> None:
    while True:
        try:
            replies.put(pickle.load(stream))
        except Exception:  # EOF or a torn message: the worker is gone
            replies.put(_EOF)
            return


def _receive(replies: queue.Queue[Any], timeout_s: float) -> tuple[Any, ...]:
    """The next reply, :data:`_EOF` once the worker has gone, :data:`_TIMEOUT` after timeout_s."""
    try:
        reply = replies.get(timeout=timeout_s)
    except queue.Empty:
        return _TIMEOUT
    if reply == _EOF:
        replies.put(_EOF)  # every later read sees the end too
    return reply


def _no_reply(
    proc: subprocess.Popen, reply: tuple[Any, ...], timeout_s: float, what: str
) -> tuple[str, str]:
    """(kind, message) when ``reply`` is not an answer: a load error, a crash or a time-out."""
    if reply[0] == "load_error":
        return "load", reply[1]
    if reply == _TIMEOUT and proc.poll() is None:
        proc.kill()
        return "timeout", f"{what} did not finish within {timeout_s:g} s"
    try:
        code = proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        code = None
    return "crash", f"the worker process died (exit code {code})"
