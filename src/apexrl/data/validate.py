"""Check apexrl Minari datasets: the checksum manifest and the Minari invariants.

:func:`validate_dataset` checks one dataset folder, :func:`validate_root` every dataset under a
Minari root. Problems are collected (not stopped at the first) and raised together as a
:class:`DatasetValidationError` whose message lists them, so one run says everything wrong:

- manifest (``checksums.json``): present and readable; every listed file present, of the listed
  size (smaller = "truncated") and sha256 ("corrupt"); no unlisted files;
- readable by Minari (HDF5 storage opens, every episode decodes);
- invariants per episode: observations = steps + 1; rewards, terminations and truncations have
  ``steps`` entries; observations and actions inside their spaces and finite; rewards finite; the
  episode ends (terminated or truncated) at its last step and not before; infos have steps + 1
  entries;
- counts: Minari's ``total_episodes``/``total_steps`` and apexrl's ``counts`` block (episodes,
  steps, and laps/crashes/time limits from the episodes' outcomes) match the data.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.data.minari_io import CHECKSUMS_FILE, CHECKSUMS_FORMAT, dataset_files, file_digest

_SPACE_TOLERANCE = 1e-6


class DatasetValidationError(ValueError):
    """A dataset failed validation; ``problems`` lists every finding."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        self.folder = folder
        self.problems = list(problems)
        super().__init__(f"dataset {folder} is invalid: " + "; ".join(self.problems))


@dataclass
class DatasetReport:
    """What :func:`validate_dataset` checked in one dataset."""

    folder: Path
    dataset_id: str
    episodes: int = 0
    steps: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "path": str(self.folder),
            "ok": self.ok,
            "episodes": self.episodes,
            "steps": self.steps,
            "files": self.files,
            "bytes": self.bytes,
            "problems": list(self.problems),
        }


def find_datasets(root: str | os.PathLike) -> list[Path]:
    """Dataset folders (those holding ``data/``) under ``root``, sorted; ``root`` itself counts."""
    base = Path(root)
    if not base.exists():
        raise FileNotFoundError(f"no such folder {base}")
    if not base.is_dir():
        raise NotADirectoryError(f"{base} is not a folder")
    if (base / "data").is_dir():
        return [base]
    found = sorted(
        p.parent
        for p in base.rglob("data")
        if p.is_dir() and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )
    return found


def validate_root(root: str | os.PathLike, *, raise_on_error: bool = True) -> list[DatasetReport]:
    """Validate every dataset under ``root`` (a Minari root or one dataset folder)."""
    folders = find_datasets(root)
    if not folders:
        raise FileNotFoundError(f"no Minari dataset under {root} (no '<id>/data' folder found)")
    reports = [validate_dataset(f, raise_on_error=False) for f in folders]
    bad = [r for r in reports if not r.ok]
    if bad and raise_on_error:
        if len(bad) == 1:
            raise DatasetValidationError(bad[0].folder, bad[0].problems)
        problems = [f"{r.dataset_id}: {p}" for r in bad for p in r.problems]
        raise DatasetValidationError(Path(root), problems)
    return reports


def validate_dataset(folder: str | os.PathLike, *, raise_on_error: bool = True) -> DatasetReport:
    """Validate one dataset folder (the one holding ``data/`` and ``checksums.json``)."""
    path = Path(folder)
    report = DatasetReport(path, _dataset_id(path))
    if not (path / "data").is_dir():
        report.problems.append("no data/ folder")
    else:
        _check_manifest(path, report)
        _check_contents(path, report)
    if report.problems and raise_on_error:
        raise DatasetValidationError(path, report.problems)
    return report


def _dataset_id(path: Path) -> str:
    meta = path / "data" / "metadata.json"
    try:
        return str(json.loads(meta.read_text(encoding="utf-8"))["dataset_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return path.name


def _check_manifest(path: Path, report: DatasetReport) -> None:
    manifest_path = path / CHECKSUMS_FILE
    if not manifest_path.is_file():
        report.problems.append(f"missing {CHECKSUMS_FILE} manifest")
        return
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        listed = manifest["files"]
        if manifest.get("format") != CHECKSUMS_FORMAT or not isinstance(listed, dict):
            raise ValueError("unknown manifest format")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"unreadable {CHECKSUMS_FILE}: {exc}")
        return
    present = set(dataset_files(path))
    for rel in sorted(listed):
        entry = listed[rel]
        file = path / rel
        if rel not in present:
            report.problems.append(f"missing file {rel} (listed in {CHECKSUMS_FILE})")
            continue
        size = file.stat().st_size
        report.files += 1
        report.bytes += size
        expected = int(entry.get("bytes", -1))
        if size < expected:
            report.problems.append(
                f"truncated file {rel}: {size} bytes, the manifest says {expected}"
            )
        elif size != expected:
            report.problems.append(
                f"size mismatch {rel}: {size} bytes, the manifest says {expected}"
            )
        elif file_digest(file) != entry.get("sha256"):
            report.problems.append(f"corrupt file {rel}: sha256 differs from the manifest")
    for rel in sorted(present - set(listed)):
        report.problems.append(f"unexpected file {rel} (not in {CHECKSUMS_FILE})")


def _check_contents(path: Path, report: DatasetReport) -> None:
    from minari import MinariDataset

    try:
        dataset = MinariDataset(path / "data")
        metadata = dataset.storage.metadata
        total = int(metadata["total_episodes"])
        obs_space, act_space = dataset.observation_space, dataset.action_space
    except Exception as exc:  # h5py/json raise many types for damaged files
        report.problems.append(f"Minari cannot open the dataset: {_short(exc)}")
        return
    steps = 0
    outcomes: dict[str, int] = {}
    try:
        episodes = dataset.storage.get_episodes(range(total))
        attrs = dataset.storage.get_episode_metadata(range(total))
        for i, (ep, meta) in enumerate(zip(episodes, attrs, strict=True)):
            steps += _check_episode(i, ep, obs_space, act_space, report)
            outcome = str(meta.get("outcome", ""))
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    except Exception as exc:
        report.problems.append(f"cannot read the episodes: {_short(exc)}")
        return
    report.episodes = total
    report.steps = steps
    recorded = metadata.get("total_steps")
    if recorded != steps:
        report.problems.append(
            f"metadata total_steps={recorded} but the episodes hold {steps} steps"
        )
    counts = (metadata.get("apexrl") or {}).get("counts")
    if counts is None:
        report.problems.append("metadata has no apexrl counts block")
        return
    expected = {
        "episodes": total,
        "steps": steps,
        "laps_completed": outcomes.get("lap", 0),
        "crashes": outcomes.get("crash", 0),
        "time_limits": outcomes.get("time limit", 0),
    }
    for key, actual in expected.items():
        if key in counts and counts[key] != actual:
            report.problems.append(f"metadata counts.{key}={counts[key]} but the data has {actual}")


def _check_episode(i: int, ep: dict, obs_space, act_space, report: DatasetReport) -> int:
    obs = np.asarray(ep["observations"])
    act = np.asarray(ep["actions"])
    steps = act.shape[0]
    where = f"episode {i}"
    if obs.shape[0] != steps + 1:
        report.problems.append(
            f"{where}: {obs.shape[0]} observations for {steps} steps (needs steps + 1)"
        )
    for key in ("rewards", "terminations", "truncations"):
        if np.asarray(ep[key]).shape != (steps,):
            report.problems.append(f"{where}: {key} has {len(ep[key])} entries for {steps} steps")
    for name, values, space in (("observations", obs, obs_space), ("actions", act, act_space)):
        if not np.isfinite(values).all():
            report.problems.append(f"{where}: {name} contain NaN or inf")
        elif not _inside(values, space):
            report.problems.append(f"{where}: {name} outside the {name[:-1]} space")
    if not np.isfinite(np.asarray(ep["rewards"], dtype=np.float64)).all():
        report.problems.append(f"{where}: rewards contain NaN or inf")
    done = np.asarray(ep["terminations"], dtype=bool) | np.asarray(ep["truncations"], dtype=bool)
    if steps and done.shape == (steps,):
        if not done[-1]:
            report.problems.append(f"{where}: neither terminated nor truncated at its last step")
        if done[:-1].any():
            report.problems.append(f"{where}: ends before its last step")
    for key, values in (ep.get("infos") or {}).items():
        if np.asarray(values).shape[:1] != (steps + 1,):
            report.problems.append(f"{where}: info {key!r} does not have steps + 1 entries")
    return steps


def _inside(values: np.ndarray, space) -> bool:
    low = np.asarray(space.low, dtype=np.float64)
    high = np.asarray(space.high, dtype=np.float64)
    v = values.astype(np.float64)
    if v.shape[1:] != tuple(space.shape):
        return False
    return bool(((v >= low - _SPACE_TOLERANCE) & (v <= high + _SPACE_TOLERANCE)).all())


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
