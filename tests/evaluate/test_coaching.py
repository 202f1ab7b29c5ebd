"""Coaching efficacy: evaluation.json has every number the pipeline promises, plus PNGs."""

from __future__ import annotations

import json

import pytest

from apexrl.evaluate.coaching import EVALUATION_FILE, TOP_LEVEL_KEYS, evaluate_coach

from .conftest import OVAL

COACHING_KEYS = {
    "amateur_lap_time_s", "coached_lap_time_s", "oracle_lap_time_s", "pro_lap_time_s",
    "optimal_lap_time_s", "gap_closed_fraction", "amateur_violations_per_episode",
    "coached_violations_per_episode",
}  # fmt: skip
PNG = b"\x89PNG\r\n\x1a\n"


def test_evaluation_json_plots_and_table(tmp_path, fresh_model):
    from rich.console import Console

    from apexrl.evaluate.coaching import evaluation_table

    result = evaluate_coach(fresh_model, tmp_path, track=OVAL, episodes=2, seed=3,
                            optimal_lap_s=30.0, progress=False)  # fmt: skip
    saved = json.loads((tmp_path / EVALUATION_FILE).read_text())
    assert set(TOP_LEVEL_KEYS) <= set(saved)
    assert COACHING_KEYS <= set(saved["coaching"])
    assert saved["coaching"]["optimal_lap_time_s"] == 30.0
    assert saved["conditions"]["coached"]["lap_time_mean_s"] == saved["lap_time_mean_s"]
    c = saved["coaching"]
    assert c["pro_lap_time_s"] < c["amateur_lap_time_s"]  # the pro is faster on the oval
    expected = (c["amateur_lap_time_s"] - c["coached_lap_time_s"]) / (
        c["amateur_lap_time_s"] - c["pro_lap_time_s"]
    )
    assert c["gap_closed_fraction"] == pytest.approx(expected, abs=1e-4)
    assert sorted(saved["plots"]) == ["haptic_cues.png", "lap_times.png", "speed_map.png"]
    for name in saved["plots"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert result["coaching"] == saved["coaching"]
    console = Console(record=True, width=140)
    console.print(evaluation_table(saved))
    text = console.export_text()
    assert "+ learned coach" in text and "optimal (QSS)" in text


def test_same_seed_same_evaluation(fresh_model):
    a = evaluate_coach(fresh_model, track=OVAL, episodes=2, seed=3, optimal_lap_s=30.0,
                       progress=False)  # fmt: skip
    b = evaluate_coach(fresh_model, track=OVAL, episodes=2, seed=3, optimal_lap_s=30.0,
                       progress=False)  # fmt: skip
    assert a["conditions"] == b["conditions"]


def test_an_existing_evaluation_is_not_overwritten(tmp_path, fresh_model):
    (tmp_path / EVALUATION_FILE).write_text("{}")
    with pytest.raises(FileExistsError, match="--force"):
        evaluate_coach(fresh_model, tmp_path, track=OVAL, episodes=1, optimal_lap_s=30.0,
                       progress=False)  # fmt: skip
    assert (tmp_path / EVALUATION_FILE).read_text() == "{}"
