"""Writing and reading apexrl's Minari datasets: the telemetry schema, episode buffers, checksums.

Every dataset apexrl writes is a real Minari dataset (HDF5 storage) created with Minari's own
:func:`minari.create_dataset_from_buffers`, so ``minari.load_dataset(id)`` reads it with
``MINARI_DATASETS_PATH`` pointing at the root folder. Layout under a root ``DIR``::

    DIR/apexrl/namespace_metadata.json          Minari namespace
    DIR/apexrl/moto-pro-v0/data/metadata.json   Minari metadata (+ our "apexrl" block)
    DIR/apexrl/moto-pro-v0/data/main_data.hdf5  episodes
    DIR/apexrl/moto-pro-v0/checksums.json       our manifest: sha256 and size of every file

A dataset is built in a hidden staging root inside ``DIR`` and renamed into place only once it is
complete and its manifest is written, so a crash never leaves a half-written dataset under its id.

Minari reads its root from the ``MINARI_DATASETS_PATH`` environment variable; :func:`minari_root`
sets it for the duration of a call and restores it (process-wide, so not thread-safe).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.envs.vector import OBSERVATION_NAMES
from apexrl.io_utils import to_jsonable, write_json_atomic

CHANNELS: tuple[str, ...] = OBSERVATION_NAMES
"""The 8 telemetry channels, in the order of the MotoCoach observation."""
"""The 8 telemetry channels of an observation, in order: the layout of
``apexrl.envs.vector.OBSERVATION_NAMES`` (a test keeps them equal)."""
CHANNEL_UNITS: tuple[str, ...] = ("m/s", "deg", "g", "m", "0-1", "0-1", "m", "0-1")
"""Unit of each channel: roll + left, lateral_g + left, racing_line_deviation + left of the line;
throttle and brake are fractions of full travel; friction usage is grip demand / grip available."""
ACTION_FIELDS: tuple[str, ...] = (
    "haptic_left_intensity",
    "haptic_right_intensity",
    "haptic_frequency",
)
"""The 3 haptic action components (``apexrl.envs.vector.ACTION_NAMES``): intensities in [0, 1]
and the frequency normalised to [0, 1] (``f_hz = 50 + 250 a``), the env's default units."""
NO_CUE_ACTION = np.array([0.0, 0.0, 0.4], dtype=np.float32)
"""The action 'no cue': both motors off at the neutral 150 Hz (normalised 0.4), what the oracle
sends to a crashed rider."""

CHECKSUMS_FILE = "checksums.json"
CHECKSUMS_FORMAT = "apexrl-checksums-v1"
DATA_FORMAT = "hdf5"
"""Minari storage used for every apexrl dataset (needs h5py: ``pip install "minari[hdf5]"``)."""
_DATASET_ID = re.compile(r"^(?:[A-Za-z0-9_\-]+/)+[A-Za-z0-9_\-]+-v\d+$")
_HASH_CHUNK = 1 << 20


def observation_space():
    """The MotoCoach observation Box (float32, 8 channels with the env's bounds), so imported
    and generated datasets share one space and can be mixed."""
    import gymnasium as gym

    from apexrl.envs.vector import OBSERVATION_HIGH, OBSERVATION_LOW

    return gym.spaces.Box(OBSERVATION_LOW, OBSERVATION_HIGH, dtype=np.float32)


def action_space():
    """The MotoCoach action Box in its default units: all three components in [0, 1]."""
    import gymnasium as gym

    return gym.spaces.Box(np.zeros(3, np.float32), np.ones(3, np.float32), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class Episode:
    """One episode as arrays (T steps): the Minari invariants hold by construction.

    ``observations (T+1, D)`` float32, ``actions (T, A)`` float32, ``rewards (T,)`` float64,
    ``terminations (T,)`` and ``truncations (T,)`` bool, ``infos``: name -> ``(T+1,)`` array (the
    reset info plus one per step, as Minari's DataCollector records them), ``metadata``: scalars
    stored as the episode's HDF5 attributes (``outcome``, ``lap_time_s``, ...).
    """

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    infos: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        steps = self.actions.shape[0]
        if self.observations.shape[0] != steps + 1:
            raise ValueError(
                f"an episode needs observations = steps + 1, got {self.observations.shape[0]} "
                f"observations for {steps} steps"
            )
        for name in ("rewards", "terminations", "truncations"):
            if getattr(self, name).shape != (steps,):
                raise ValueError(
                    f"{name} must have shape ({steps},), got {getattr(self, name).shape}"
                )
        for name, values in self.infos.items():
            if values.shape[0] != steps + 1:
                raise ValueError(f"info {name!r} must have steps + 1 = {steps + 1} entries")

    @property
    def steps(self) -> int:
        return int(self.actions.shape[0])

    def to_buffer(self, episode_id: int, seed: int | None = None):
        """The :class:`minari.data_collector.EpisodeBuffer` Minari writes."""
        from minari.data_collector import EpisodeBuffer

        return EpisodeBuffer(
            id=episode_id,
            seed=seed,
            observations=np.ascontiguousarray(self.observations, dtype=np.float32),
            actions=np.ascontiguousarray(self.actions, dtype=np.float32),
            rewards=np.asarray(self.rewards, dtype=np.float64),
            terminations=np.asarray(self.terminations, dtype=np.bool_),
            truncations=np.asarray(self.truncations, dtype=np.bool_),
            infos={k: np.asarray(v) for k, v in self.infos.items()} or None,
        )


def check_dataset_id(dataset_id: str) -> str:
    """Return ``dataset_id`` if it is ``namespace/name-vN``; raise ``ValueError`` otherwise."""
    if not isinstance(dataset_id, str) or not _DATASET_ID.match(dataset_id):
        raise ValueError(
            f"dataset id {dataset_id!r} must look like 'namespace/name-vN' "
            "(e.g. 'apexrl/moto-pro-v0', 'apexrl/imported-v0')"
        )
    return dataset_id


def dataset_path(root: str | os.PathLike, dataset_id: str) -> Path:
    """Folder of dataset ``dataset_id`` under the Minari root ``root``."""
    return Path(root) / check_dataset_id(dataset_id)


@contextlib.contextmanager
def minari_root(root: str | os.PathLike) -> Iterator[Path]:
    """Point Minari at ``root`` (``MINARI_DATASETS_PATH``) inside the block, then restore it."""
    path = Path(root).resolve()
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def require_absent(root: str | os.PathLike, dataset_ids: Sequence[str], force: bool) -> None:
    """Raise ``FileExistsError`` if any dataset already exists in ``root`` and ``force`` is off."""
    if force:
        return
    existing = [i for i in dataset_ids if dataset_path(root, i).exists()]
    if existing:
        raise FileExistsError(
            f"dataset {', '.join(existing)} already exists in {root}; pass --force (force=True) "
            "to replace it"
        )


def write_dataset(
    root: str | os.PathLike,
    dataset_id: str,
    episodes: Sequence[Episode],
    *,
    observation_space,
    action_space,
    metadata: Mapping[str, Any],
    description: str,
    algorithm_name: str,
    env_spec=None,
    seeds: Sequence[int | None] | None = None,
    force: bool = False,
) -> Path:
    """Write ``episodes`` as Minari dataset ``dataset_id`` under ``root``; returns its folder.

    ``metadata`` is stored under the key ``"apexrl"`` of the Minari metadata; each episode's
    ``metadata`` becomes its HDF5 attributes. A ``checksums.json`` manifest is written next to
    ``data/``. Refuses to replace an existing dataset unless ``force``.
    """
    check_dataset_id(dataset_id)
    if not episodes:
        raise ValueError(f"dataset {dataset_id!r} would have no episodes")
    root = Path(root)
    require_absent(root, [dataset_id], force)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".apexrl-staging-", dir=root))
    try:
        import minari

        seeds = list(seeds) if seeds is not None else [None] * len(episodes)
        buffers = [ep.to_buffer(i, seeds[i]) for i, ep in enumerate(episodes)]
        with minari_root(staging), warnings.catch_warnings():
            # Minari warns about optional provenance fields (code_permalink, author_email) that a
            # locally generated dataset does not have; everything loading needs is given.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"minari\..*")
            dataset = minari.create_dataset_from_buffers(
                dataset_id=dataset_id,
                buffer=buffers,
                env=env_spec,
                eval_env=env_spec,
                algorithm_name=algorithm_name,
                author="apexrl",
                action_space=action_space,
                observation_space=observation_space,
                description=description,
                data_format=DATA_FORMAT,
            )
            dataset.storage.update_metadata({"apexrl": to_jsonable(dict(metadata))})
            dataset.storage.update_episode_metadata(
                [_attrs(ep.metadata) for ep in episodes], range(len(episodes))
            )
        staged = staging / dataset_id
        write_checksums(staged, dataset_id)
        return _move_into_place(staging, root, dataset_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, root: Path, dataset_id: str) -> Path:
    """Rename the staged dataset (and any new namespace metadata) into ``root``."""
    target = root / dataset_id
    target.parent.mkdir(parents=True, exist_ok=True)
    parts = Path(dataset_id).parts
    for depth in range(1, len(parts)):
        namespace_file = Path(*parts[:depth]) / "namespace_metadata.json"
        if (staging / namespace_file).exists() and not (root / namespace_file).exists():
            os.replace(staging / namespace_file, root / namespace_file)
    trash = None
    if target.exists():
        trash = Path(tempfile.mkdtemp(prefix=".apexrl-replaced-", dir=root))
        os.replace(target, trash / "old")
    os.replace(staging / dataset_id, target)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return target


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def dataset_files(folder: Path) -> list[str]:
    """Every file of a dataset folder except the manifest, as sorted POSIX relative paths."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != CHECKSUMS_FILE
    )


def write_checksums(folder: Path, dataset_id: str) -> Path:
    """Write ``folder/checksums.json``: size and sha256 of every file of the dataset."""
    files = {
        rel: {"bytes": (folder / rel).stat().st_size, "sha256": file_digest(folder / rel)}
        for rel in dataset_files(folder)
    }
    manifest = {
        "format": CHECKSUMS_FORMAT,
        "algorithm": "sha256",
        "dataset_id": dataset_id,
        "files": files,
    }
    path = folder / CHECKSUMS_FILE
    write_json_atomic(path, manifest)
    return path


def load_dataset(root: str | os.PathLike, dataset_id: str):
    """``minari.load_dataset(dataset_id)`` with ``root`` as the Minari root."""
    import minari

    folder = dataset_path(root, dataset_id)
    if not (folder / "data").is_dir():
        raise FileNotFoundError(f"no dataset {dataset_id!r} in {root} (looked for {folder}/data)")
    with minari_root(root):
        return minari.load_dataset(dataset_id)


def _attrs(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Episode metadata as HDF5-attribute-safe scalars (None -> NaN for floats is the caller's)."""
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if isinstance(value, bool | np.bool_):
            out[key] = bool(value)
        elif isinstance(value, int | np.integer):
            out[key] = int(value)
        elif isinstance(value, float | np.floating):
            out[key] = float(value)
        elif isinstance(value, str):
            out[key] = value
        else:
            raise TypeError(
                f"episode metadata {key!r} must be a scalar, got {type(value).__name__}"
            )
    return out


def stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """count, mean, std, min, median, max of ``values`` (None when empty), rounded to 0.1 ms."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return {"count": 0, "mean": None, "std": None, "min": None, "median": None, "max": None}
    return {
        "count": int(arr.size),
        "mean": round(float(arr.mean()), 4),
        "std": round(float(arr.std()), 4),
        "min": round(float(arr.min()), 4),
        "median": round(float(np.median(arr)), 4),
        "max": round(float(arr.max()), 4),
    }
