"""Checkpoints: exact round trips, atomic folders, corrupted ones skipped, RNG state restored."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from apexrl.train import checkpoints as ck


def _state(step: int) -> dict:
    return {
        "step": step,
        "weights": {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3) * step},
        "optim": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.ones(2)}},
                  "param_groups": [{"lr": 3e-4, "betas": [0.9, 0.999], "params": [0]}]},
        "buffer": np.arange(10, dtype=np.float32),
        "flags": [True, None, "text", 1.5],
    }  # fmt: skip


def test_round_trip_is_exact(tmp_path):
    path = ck.save_checkpoint(tmp_path, 128, _state(2))
    assert path.name == "step_0000000128"
    loaded = ck.load_checkpoint(path)
    assert loaded.step == 128
    s = loaded.state
    assert torch.equal(s["weights"]["w"], _state(2)["weights"]["w"])
    assert list(s["optim"]["state"]) == [0]  # integer keys stay integers
    assert torch.equal(s["optim"]["state"][0]["exp_avg"], torch.ones(2))
    assert s["optim"]["param_groups"][0]["betas"] == [0.9, 0.999]
    np.testing.assert_array_equal(s["buffer"], np.arange(10, dtype=np.float32))
    assert isinstance(s["buffer"], np.ndarray)
    assert s["flags"] == [True, None, "text", 1.5]


def test_a_corrupted_latest_checkpoint_falls_back_to_the_previous(tmp_path, caplog):
    for step in (100, 200, 300):
        ck.save_checkpoint(tmp_path, step, _state(step))
    newest = tmp_path / "step_0000000300"
    blob = (newest / ck.TENSORS_FILE).read_bytes()
    (newest / ck.TENSORS_FILE).write_bytes(blob[: len(blob) // 2])  # a torn write
    found = ck.latest_valid(tmp_path)
    assert found.step == 200
    assert torch.equal(found.state["weights"]["w"], _state(200)["weights"]["w"])
    assert "skipping checkpoint" in caplog.text
    (tmp_path / "step_0000000200" / ck.STATE_FILE).write_text("{not json")
    assert ck.latest_valid(tmp_path).step == 100


def test_only_the_newest_are_kept_and_stale_staging_is_removed(tmp_path):
    (tmp_path / ".tmp-interrupted").mkdir(parents=True)
    (tmp_path / ".tmp-interrupted" / ck.STATE_FILE).write_text("{}")
    for step in (1, 2, 3, 4):
        ck.save_checkpoint(tmp_path, step, _state(step), keep=2)
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["step_0000000003",
                                                                "step_0000000004"]  # fmt: skip
    assert not (tmp_path / ".tmp-interrupted").exists()
    assert ck.latest_valid(tmp_path / "nothing-here") is None


def test_state_json_records_the_hash_of_its_tensors(tmp_path):
    path = ck.save_checkpoint(tmp_path, 5, _state(5))
    doc = json.loads((path / ck.STATE_FILE).read_text())
    assert doc["format"] == ck.CHECKPOINT_FORMAT and doc["step"] == 5
    assert len(doc["tensors_sha256"]) == 64


def test_rng_state_round_trip_reproduces_the_draws(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)  # noqa: NPY002 (the global generator SB3 uses is what is checkpointed)
    random.seed(3)
    ck.save_checkpoint(tmp_path, 1, {"rng": ck.rng_state()})
    first = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    ck.set_rng_state(ck.latest_valid(tmp_path).state["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())  # noqa: NPY002
    assert torch.equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_unsupported_values_are_refused(tmp_path):
    with pytest.raises(TypeError, match="cannot checkpoint set"):
        ck.save_checkpoint(tmp_path, 1, {"bad": {1, 2}})
    assert ck.list_checkpoints(tmp_path) == []
