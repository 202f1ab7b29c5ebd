"""Minari writing (imported laps), loading through minari itself, and the validator."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from apexrl.data import minari_io as mio
from apexrl.data.telemetry import clipped_samples, write_imported_dataset
from apexrl.data.validate import (
    DatasetValidationError,
    find_datasets,
    validate_dataset,
    validate_root,
)

DATASET_ID = "apexrl/imported-v0"


@pytest.fixture(scope="module")
def written(imported_racechrono, tmp_path_factory):
    """A pristine imported dataset; tests copy it before damaging it."""
    root = tmp_path_factory.mktemp("minari")
    folder = write_imported_dataset(imported_racechrono, root, DATASET_ID)
    return root, folder


@pytest.fixture
def copy(written, tmp_path):
    root, _ = written
    target = tmp_path / "root"
    shutil.copytree(root, target)
    return target, target / DATASET_ID


def test_minari_loads_the_dataset(written, imported_racechrono, monkeypatch):
    import minari

    root, folder = written
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    dataset = minari.load_dataset(DATASET_ID)
    assert dataset.total_episodes == len(imported_racechrono.laps) == 3
    laps = imported_racechrono.laps
    space = mio.observation_space()
    assert dataset.observation_space == space and dataset.action_space == mio.action_space()
    for lap, ep in zip(laps, dataset.iterate_episodes(), strict=True):
        assert ep.observations.shape == (lap.s_m.size, 8) and ep.observations.dtype == np.float32
        assert ep.actions.shape == (lap.s_m.size - 1, 3)
        # Clipped into the env's observation space, as the env clips its own observations.
        expected = np.clip(lap.channels.astype(np.float32), space.low, space.high)
        assert np.array_equal(ep.observations, expected)
        assert np.array_equal(ep.actions, np.tile(mio.NO_CUE_ACTION, (lap.s_m.size - 1, 1)))
        assert np.array_equal(ep.infos["s_m"], lap.s_m)
        # A completed lap ends truncated, as in MotoCoach; nothing in a log terminates.
        assert bool(ep.truncations[-1]) and not ep.terminations.any()
    meta = dataset.storage.metadata["apexrl"]
    # distance_to_apex exceeds the env's 500 m bound on the long straights.
    assert meta["clipped_to_space"]["distance_to_apex"] > 0
    assert meta["clipped_to_space"] == clipped_samples(imported_racechrono)
    assert meta["track"] == "apex_park" and meta["counts"]["laps_completed"] == 1
    assert meta["lap_time_s"]["min"] == pytest.approx(laps[1].lap_time_s, abs=1e-3)
    manifest = json.loads((folder / mio.CHECKSUMS_FILE).read_text())
    assert set(manifest["files"]) == {"data/main_data.hdf5", "data/metadata.json"}
    # The staging folder is gone and the namespace exists, as Minari expects.
    assert sorted(p.name for p in root.iterdir()) == ["apexrl"]
    assert (root / "apexrl" / "namespace_metadata.json").is_file()


def test_validate_accepts_pristine_data(written):
    root, folder = written
    report = validate_dataset(folder)
    assert report.ok and report.episodes == 3 and report.files == 2
    assert [r.dataset_id for r in validate_root(root)] == [DATASET_ID]
    assert find_datasets(root) == [folder]


def test_refuses_to_overwrite_without_force(written, imported_racechrono, copy):
    root, folder = copy
    before = (folder / "data" / "main_data.hdf5").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="apexrl/imported-v0 already exists.*--force"):
        write_imported_dataset(imported_racechrono, root, DATASET_ID)
    assert (folder / "data" / "main_data.hdf5").stat().st_mtime_ns == before
    write_imported_dataset(imported_racechrono, root, DATASET_ID, force=True, complete_only=True)
    assert validate_dataset(folder).episodes == 1


def _problems(folder):
    with pytest.raises(DatasetValidationError) as info:
        validate_dataset(folder)
    return info.value.problems


def test_truncated_file(copy):
    _, folder = copy
    data = folder / "data" / "main_data.hdf5"
    size = data.stat().st_size
    with open(data, "r+b") as fh:
        fh.truncate(size // 2)
    problems = _problems(folder)
    assert problems[0] == (
        f"truncated file data/main_data.hdf5: {size // 2} bytes, the manifest says {size}"
    )
    assert any(
        p.startswith("Minari cannot open the dataset") or p.startswith("cannot read")
        for p in problems
    )


def test_flipped_bytes(copy):
    _, folder = copy
    data = folder / "data" / "main_data.hdf5"
    raw = bytearray(data.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + 16] = bytes(b ^ 0xFF for b in raw[middle : middle + 16])
    data.write_bytes(bytes(raw))
    assert "corrupt file data/main_data.hdf5: sha256 differs from the manifest" in _problems(folder)


def test_deleted_file(copy):
    _, folder = copy
    (folder / "data" / "main_data.hdf5").unlink()
    problems = _problems(folder)
    assert problems[0] == "missing file data/main_data.hdf5 (listed in checksums.json)"


def test_edited_metadata_counts(copy):
    _, folder = copy
    meta_path = folder / "data" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    steps = meta["total_steps"]
    meta["total_steps"] = steps + 5
    meta["apexrl"]["counts"]["laps_completed"] = 2
    meta_path.write_text(json.dumps(meta))
    problems = _problems(folder)
    assert "corrupt file data/metadata.json: sha256 differs from the manifest" in problems or any(
        p.startswith("size mismatch data/metadata.json") for p in problems
    )
    assert f"metadata total_steps={steps + 5} but the episodes hold {steps} steps" in problems
    assert "metadata counts.laps_completed=2 but the data has 1" in problems


def test_missing_manifest_and_extra_file(copy):
    root, folder = copy
    (folder / "data" / "notes.txt").write_text("hello")
    assert "unexpected file data/notes.txt (not in checksums.json)" in _problems(folder)
    (folder / mio.CHECKSUMS_FILE).unlink()
    assert "missing checksums.json manifest" in _problems(folder)
    with pytest.raises(DatasetValidationError, match="missing checksums.json manifest"):
        validate_root(root)


def test_invariant_violations_are_reported(copy):
    """Rewrite an episode with h5py so the files are consistent with a fresh manifest but break
    Minari's invariants: the validator must still find it."""
    import h5py

    _, folder = copy
    with h5py.File(folder / "data" / "main_data.hdf5", "a") as fh:
        obs = fh["episode_1/observations"]
        values = obs[()]
        values[5, 0] = np.nan
        values[6, 4] = 7.0  # throttle outside [0, 1]
        obs[...] = values
        del fh["episode_2/rewards"]
        fh["episode_2/rewards"] = np.zeros(3)
    mio.write_checksums(folder, DATASET_ID)
    problems = _problems(folder)
    assert "episode 1: observations contain NaN or inf" in problems
    assert any(p.startswith("episode 2: rewards has 3 entries for") for p in problems)


def test_episode_invariants_enforced_when_building():
    obs = np.zeros((5, 8), dtype=np.float32)
    with pytest.raises(
        ValueError, match="observations = steps \\+ 1, got 5 observations for 5 steps"
    ):
        mio.Episode(obs, np.zeros((5, 3)), np.zeros(5), np.zeros(5, bool), np.zeros(5, bool))
    with pytest.raises(ValueError, match="rewards must have shape \\(4,\\)"):
        mio.Episode(obs, np.zeros((4, 3)), np.zeros(3), np.zeros(4, bool), np.zeros(4, bool))


@pytest.mark.parametrize("bad", ["moto-pro-v0", "apexrl/moto pro-v0", "apexrl/moto-pro", ""])
def test_dataset_ids_need_namespace_and_version(bad):
    with pytest.raises(ValueError, match="must look like 'namespace/name-vN'"):
        mio.check_dataset_id(bad)


def test_validate_errors_for_missing_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        validate_root(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no Minari dataset under"):
        validate_root(tmp_path)
