"""Atomic training checkpoints: safetensors tensors + a JSON state, never pickle.

A checkpoint is a folder ``<root>/step_<NNNNNNNNNN>/`` with

- ``tensors.safetensors``: every tensor of the training state (policy weights, optimizer
  moments, RNG states, replay buffer rows ...), flattened to ``a.b.c`` keys;
- ``state.json``: the rest of the state as JSON, with ``{"__tensor__": key}`` where a tensor
  was, the step, and the sha256 of the tensor file.

It is staged in a hidden temp folder next to the others, every file fsynced, and renamed into
place in one ``os.replace``, so a kill -9 leaves either the whole checkpoint or none (plus a
stale ``.tmp-*`` folder that the next save removes). :func:`latest_valid` walks the checkpoints
newest first and skips any whose JSON does not parse or whose tensors do not match their hash, so
a corrupted latest checkpoint falls back to the previous valid one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.io_utils import write_bytes_atomic, write_json_atomic

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "apexrl-checkpoint-v1"
TENSORS_FILE = "tensors.safetensors"
STATE_FILE = "state.json"
_NAME = re.compile(r"^step_(\d{10})$")


@dataclass(frozen=True, eq=False)
class Checkpoint:
    """A loaded checkpoint: ``state`` is the nested state with tensors put back in place."""

    path: Path
    step: int
    state: dict[str, Any]


def checkpoint_name(step: int) -> str:
    return f"step_{int(step):010d}"


def save_checkpoint(root: str | os.PathLike, step: int, state: Mapping[str, Any], *,
                    keep: int = 3) -> Path:  # fmt: skip
    """Write ``state`` (nested dicts/lists of JSON values, torch tensors and numpy arrays) as the
    checkpoint of ``step`` under ``root``; keep the newest ``keep`` checkpoints. Returns its path.
    """
    from safetensors.torch import save as st_save

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tensors: dict[str, Any] = {}
    tree = _flatten(dict(state), "", tensors)
    blob = st_save(tensors, metadata={"format": CHECKPOINT_FORMAT, "step": str(int(step))})
    doc = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "tensors_sha256": hashlib.sha256(blob).hexdigest(),
        "state": tree,
    }
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        write_bytes_atomic(staging / TENSORS_FILE, blob)
        write_json_atomic(staging / STATE_FILE, doc)
        _fsync_dir(staging)
        final = root / checkpoint_name(step)
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
        _fsync_dir(root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(root: str | os.PathLike) -> list[Path]:
    """Checkpoint folders under ``root``, oldest first (by step)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and verify one checkpoint; ``ValueError`` when it is incomplete or corrupt."""
    from safetensors.torch import load as st_load

    path = Path(path)
    try:
        doc = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        blob = (path / TENSORS_FILE).read_bytes()
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"checkpoint {path} is incomplete or unreadable: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} is not an {CHECKPOINT_FORMAT} checkpoint")
    if hashlib.sha256(blob).hexdigest() != doc.get("tensors_sha256"):
        raise ValueError(f"checkpoint {path}: {TENSORS_FILE} does not match its sha256")
    try:
        tensors = st_load(blob)
    except Exception as exc:  # safetensors raises its own error types for a malformed header
        raise ValueError(f"checkpoint {path}: unreadable tensors ({exc})") from None
    return Checkpoint(path=path, step=int(doc["step"]), state=_unflatten(doc["state"], tensors))


def latest_valid(root: str | os.PathLike) -> Checkpoint | None:
    """The newest checkpoint under ``root`` that loads and verifies; None when there is none.

    Invalid ones (an interrupted or corrupted write) are skipped with a warning in the log.
    """
    for path in reversed(list_checkpoints(root)):
        try:
            return load_checkpoint(path)
        except ValueError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None


def _flatten(value: Any, key: str, tensors: dict[str, Any]) -> Any:
    import torch as th

    if isinstance(value, th.Tensor | np.ndarray):
        if key in tensors:
            raise ValueError(f"checkpoint state has two tensors named {key!r}")
        if isinstance(value, th.Tensor):
            tensors[key] = value.detach().cpu().clone().contiguous()
            return {"__tensor__": key}
        tensors[key] = th.from_numpy(np.ascontiguousarray(value).copy())
        return {"__tensor__": key, "numpy": True}
    if isinstance(value, Mapping):
        keys = list(value)
        if keys and all(isinstance(k, int) for k in keys):
            return {"__intkeys__": {str(k): _flatten(v, f"{key}.{k}".lstrip("."), tensors)
                                    for k, v in value.items()}}  # fmt: skip
        if not all(isinstance(k, str) for k in keys):
            raise TypeError(f"checkpoint state at {key!r} mixes key types")
        return {k: _flatten(v, f"{key}.{k}".lstrip("."), tensors) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_flatten(v, f"{key}.{i}".lstrip("."), tensors) for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot checkpoint {type(value).__name__} at {key!r}")


def _unflatten(tree: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            t = tensors[tree["__tensor__"]]
            return t.numpy() if tree.get("numpy") else t
        if "__intkeys__" in tree:
            return {int(k): _unflatten(v, tensors) for k, v in tree["__intkeys__"].items()}
        return {k: _unflatten(v, tensors) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_unflatten(v, tensors) for v in tree]
    return tree


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- RNG state
def rng_state() -> dict[str, Any]:
    """The global RNG states a training run draws from (torch, numpy's legacy global, random),
    in checkpointable form (tensors and JSON values)."""
    import random

    import torch as th

    # SB3 draws its minibatch permutations from numpy's legacy global generator.
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    py_version, py_state, py_gauss = random.getstate()
    return {
        "torch": th.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": np.asarray(keys, dtype=np.int64),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },  # fmt: skip
        "python": {
            "version": py_version,
            "state": np.asarray(py_state, dtype=np.int64),
            "gauss": py_gauss,
        },  # fmt: skip
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    import random

    import torch as th

    th.set_rng_state(state["torch"])
    n = state["numpy"]
    legacy = (n["kind"], np.asarray(n["keys"], dtype=np.uint32), n["pos"], n["has_gauss"],
              n["cached_gaussian"])  # fmt: skip
    np.random.set_state(legacy)  # noqa: NPY002
    p = state["python"]
    random.setstate((p["version"], tuple(int(x) for x in p["state"]), p["gauss"]))


class seeded_torch:
    """Context manager for reproducible CPU training: seeds torch, numpy's global generator and
    ``random``; turns on ``torch.use_deterministic_algorithms``; sets torch to ``threads``
    intra-op threads (1 by default: the networks are small, and on a shared 2-core machine a
    second thread made SB3's PPO update ~10x slower, measured); restores the previous settings
    on exit."""

    def __init__(self, seed: int | None, threads: int = 1) -> None:
        self.seed = seed
        self.threads = int(threads)

    def __enter__(self) -> seeded_torch:
        import random

        import torch as th

        self._threads = th.get_num_threads()
        self._deterministic = th.are_deterministic_algorithms_enabled()
        self._validate = th.distributions.Distribution._validate_args
        th.set_num_threads(self.threads)
        th.use_deterministic_algorithms(True)
        # Argument validation of torch.distributions costs ~40 % of an SB3 PPO minibatch update
        # (measured) and changes no value; the inputs are our own tensors.
        th.distributions.Distribution.set_default_validate_args(False)
        if self.seed is not None:
            th.manual_seed(self.seed)
            np.random.seed(self.seed % 2**32)  # noqa: NPY002 (SB3 uses the global)
            random.seed(self.seed)
        return self

    def __exit__(self, *exc: object) -> None:
        import torch as th

        th.set_num_threads(self._threads)
        th.use_deterministic_algorithms(self._deterministic)
        th.distributions.Distribution.set_default_validate_args(bool(self._validate))
