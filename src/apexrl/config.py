"""Where apexrl keeps things, and what is installed.

- cache: ``$APEXRL_CACHE_DIR``, else ``$XDG_CACHE_HOME/apexrl``, else ``~/.cache/apexrl``
  (downloaded DeepRacer routes live in ``<cache>/tracks``).
- runs: ``$APEXRL_RUNS_DIR``, else ``./runs``.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from apexrl import __version__

# Which distributions make an extra usable; checked without importing them.
EXTRAS: dict[str, tuple[str, ...]] = {
    "data": ("minari",),
    "train": ("torch", "stable-baselines3", "safetensors", "tensorboard"),
    "edge": ("onnx", "onnxruntime", "tensorflow-cpu", "ai-edge-litert", "tflite-micro"),
    "deepracer": ("boto3", "jinja2", "shapely"),
    "distributed": ("ray", "optuna"),
}
CORE = (
    "numpy",
    "scipy",
    "numba",
    "osqp",
    "matplotlib",
    "typer",
    "rich",
    "pydantic",
    "gymnasium",
    "pettingzoo",
)


def cache_dir() -> Path:
    if env := os.environ.get("APEXRL_CACHE_DIR"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "apexrl"


def runs_dir() -> Path:
    return Path(os.environ.get("APEXRL_RUNS_DIR", "runs")).expanduser()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment_info() -> dict:
    """Versions and folders, as ``apexrl info`` prints them."""
    extras = {name: all(_version(d) for d in dists) for name, dists in EXTRAS.items()}
    packages = {d: _version(d) for d in CORE + tuple(d for ds in EXTRAS.values() for d in ds)}
    return {
        "apexrl": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cache_dir": str(cache_dir()),
        "runs_dir": str(runs_dir().resolve()),
        "extras": extras,
        "packages": packages,
    }
