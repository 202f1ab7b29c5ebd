"""Lap metrics: exact numbers from known episodes; rollouts are reproducible per seed."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.evaluate.coaching import gap_closed_fraction
from apexrl.evaluate.metrics import (
    EpisodeRecord,
    lap_metrics,
    no_cue,
    oracle,
    policy_coach,
    run_episodes,
)
from apexrl.train.model_io import load_policy

from .conftest import OVAL, make_model


def _rec(lap, crashed=False, violations=0, reward=10.0):
    return EpisodeRecord(lap_time_s=lap, crashed=crashed, crash_cause=2 if crashed else 0,
                         safety_violations=violations, reward=reward, steps=100)  # fmt: skip


def test_lap_metrics_of_known_episodes():
    crash = _rec(None, crashed=True, violations=2, reward=3.0)
    records = [_rec(40.0, violations=1), _rec(44.0, reward=20.0), crash]
    m = lap_metrics(records)
    assert m["lap_time_mean_s"] == 42.0
    assert m["lap_time_std_s"] == 2.0  # population std of (40, 44)
    assert (m["lap_time_min_s"], m["lap_time_max_s"]) == (40.0, 44.0)
    assert m["reward_mean"] == pytest.approx(11.0)
    assert m["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert (m["safety_violations_total"], m["safety_violations_per_episode"]) == (3, 1.0)
    assert (m["episodes"], m["laps_completed"], m["crashes"]) == (3, 2, 1)
    none = lap_metrics([_rec(None, crashed=True)])
    assert none["lap_time_mean_s"] is None and none["success_rate"] == 0.0
    with pytest.raises(ValueError, match="no episodes"):
        lap_metrics([])


def test_gap_closed_fraction():
    assert gap_closed_fraction(120.0, 115.0, 110.0) == 0.5
    assert gap_closed_fraction(120.0, 121.0, 110.0) == -0.1
    assert gap_closed_fraction(120.0, 110.0, 110.0) == 1.0
    assert gap_closed_fraction(110.0, 105.0, 110.0) is None  # no gap to close
    assert gap_closed_fraction(None, 105.0, 100.0) is None


def test_rollouts_are_reproducible_and_one_per_env():
    a = run_episodes(no_cue, track=OVAL, episodes=3, seed=4, trace=True)
    b = run_episodes(no_cue, track=OVAL, episodes=3, seed=4)
    assert a.records == b.records and len(a.records) == 3
    assert a.trace is not None and len(a.trace.s_m) == a.records[0].steps
    assert a.trace.xy_m.shape == (a.records[0].steps, 2)
    assert (a.trace.cues[:, :2] == 0).all()
    c = run_episodes(no_cue, track=OVAL, episodes=3, seed=5)
    assert c.records != a.records


def test_a_coach_that_never_cues_rides_exactly_like_the_amateur_alone(tmp_path):
    silent = policy_coach(load_policy(make_model(tmp_path / "m", silent=True)))
    alone = run_episodes(no_cue, track=OVAL, episodes=2, seed=9)
    coached = run_episodes(silent, track=OVAL, episodes=2, seed=9)
    assert coached.records == alone.records  # same riders, noise and draws on the same seeds


def test_the_oracle_coach_changes_the_ride():
    alone = run_episodes(no_cue, track=OVAL, episodes=2, seed=9)
    coached = run_episodes(oracle, track=OVAL, episodes=2, seed=9)
    assert [r.steps for r in coached.records] != [r.steps for r in alone.records]
    assert np.isfinite([r.reward for r in coached.records]).all()


def test_bad_episode_count_is_an_error():
    with pytest.raises(ValueError, match="episodes must be a positive integer"):
        run_episodes(no_cue, track=OVAL, episodes=0)
