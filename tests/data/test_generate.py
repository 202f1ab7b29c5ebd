"""Dataset generation with the MotoCoach vector env and the oracle coach."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.data import generate as gen
from apexrl.data.minari_io import load_dataset
from apexrl.data.validate import validate_root

ARGS = {"laps": 6, "seed": 7, "num_envs": 3, "progress": False}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    return root, gen.generate_datasets(root, **ARGS)


def _episodes(root, dataset_id):
    dataset = load_dataset(root, dataset_id)
    return dataset, list(dataset.iterate_episodes())


def test_minari_load_dataset(generated, monkeypatch):
    import minari

    root, summary = generated
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    assert [d["dataset_id"] for d in summary["datasets"]] == [
        "apexrl/moto-pro-v0",
        "apexrl/moto-amateur-v0",
    ]
    for d in summary["datasets"]:
        dataset = minari.load_dataset(d["dataset_id"])
        assert dataset.total_episodes == 6
        assert dataset.total_steps == d["counts"]["steps"]
        spec = dataset.spec.env_spec
        assert spec.id == "apexrl/MotoCoach-v0" and spec.kwargs["rider"] == d["rider"]


def test_invariants_on_generated_data(generated):
    root, summary = generated
    for d in summary["datasets"]:
        dataset, episodes = _episodes(root, d["dataset_id"])
        obs_space, act_space = dataset.observation_space, dataset.action_space
        for ep in episodes:
            steps = len(ep)
            assert ep.observations.shape == (steps + 1, 8)
            assert ep.actions.shape == (steps, 3)
            assert all(obs_space.contains(o) for o in ep.observations)
            assert all(act_space.contains(a) for a in ep.actions)
            assert np.isfinite(ep.observations).all() and np.isfinite(ep.rewards).all()
            done = ep.terminations | ep.truncations
            assert done[-1] and not done[:-1].any()
            assert ep.infos["s_m"].shape == (steps + 1,) and ep.infos["s_m"][0] == 0.0
            assert np.all(np.diff(ep.infos["t_s"]) == pytest.approx(0.05))
        assert validate_root(root)[0].ok


def test_metadata_and_counts(generated):
    root, summary = generated
    for d in summary["datasets"]:
        dataset, episodes = _episodes(root, d["dataset_id"])
        meta = dataset.storage.metadata["apexrl"]
        assert meta["track"] == "apex_park" and meta["rider"] == d["rider"]
        assert meta["seed"] == 7 and meta["env_seed"] == gen.rider_seed(7, d["rider"])
        assert meta["created_utc"].endswith("+00:00")
        assert meta["rider_profile"]["speed_fraction"][0] > 0.7
        outcomes = [m["outcome"] for m in dataset.storage.get_episode_metadata(range(6))]
        counts = meta["counts"]
        assert counts["laps_completed"] == outcomes.count("lap") == d["counts"]["laps_completed"]
        assert counts["crashes"] == outcomes.count("crash")
        assert counts["episodes"] == 6 and counts["steps"] == sum(len(e) for e in episodes)
        for ep, outcome in zip(episodes, outcomes, strict=True):
            assert bool(ep.terminations[-1]) is (outcome == "crash")
            if outcome == "lap":
                assert ep.infos["s_m"][-1] >= 3902.0  # crossed the line of the 3.9 km track


def test_pro_laps_are_faster_than_amateur_laps(generated):
    _, summary = generated
    pro, amateur = (d["lap_time_s"] for d in summary["datasets"])
    assert pro["count"] >= 5 and amateur["count"] >= 3
    assert pro["median"] < amateur["median"] and pro["mean"] < amateur["mean"]


def test_same_seed_gives_identical_datasets(generated, tmp_path):
    root, _ = generated
    again = gen.generate_datasets(tmp_path, **{**ARGS, "riders": ("amateur",)})
    assert again["datasets"][0]["counts"] == next(
        d["counts"] for d in generated[1]["datasets"] if d["rider"] == "amateur"
    )
    _, first = _episodes(root, "apexrl/moto-amateur-v0")
    _, second = _episodes(tmp_path, "apexrl/moto-amateur-v0")
    for a, b in zip(first, second, strict=True):
        for key in ("observations", "actions", "rewards", "terminations", "truncations"):
            assert np.array_equal(getattr(a, key), getattr(b, key))
        assert np.array_equal(a.infos["s_m"], b.infos["s_m"])


def test_other_seed_gives_other_data(generated, tmp_path):
    root, _ = generated
    gen.generate_datasets(tmp_path, **{**ARGS, "seed": 8, "laps": 1, "riders": ("pro",)})
    _, first = _episodes(root, "apexrl/moto-pro-v0")
    _, other = _episodes(tmp_path, "apexrl/moto-pro-v0")
    assert not np.array_equal(first[0].observations[:100], other[0].observations[:100])


def test_actions_are_the_oracles_and_replay_exactly(generated):
    """Env 0's first episode replays bit for bit in a single MotoCoachEnv seeded like it."""
    import gymnasium as gym

    root, _ = generated
    _, episodes = _episodes(root, "apexrl/moto-pro-v0")
    ep = episodes[0]
    env = gym.make("apexrl/MotoCoach-v0", track="apex_park", rider="pro").unwrapped
    obs, _ = env.reset(seed=gen.rider_seed(7, "pro"))
    assert np.array_equal(obs, ep.observations[0])
    for k in range(200):
        assert np.array_equal(env.oracle_action(), ep.actions[k])
        obs, reward, *_ = env.step(ep.actions[k])
        assert np.array_equal(obs, ep.observations[k + 1]) and reward == ep.rewards[k]


def test_refuses_to_overwrite(generated):
    root, _ = generated
    with pytest.raises(FileExistsError, match="apexrl/moto-pro-v0, apexrl/moto-amateur-v0"):
        gen.generate_datasets(root, **ARGS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"laps": 0}, "laps must be a positive integer"),
        ({"riders": ("expert",)}, "riders must be distinct presets from: pro, amateur"),
        ({"riders": ("pro", "pro")}, "riders must be distinct presets"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"num_envs": 0}, "num_envs must be a positive integer"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gen.generate_datasets(tmp_path, **{**ARGS, "laps": 1, **kwargs})
    assert not any(tmp_path.iterdir())


def test_compare_a_generated_lap(generated):
    from apexrl.data.compare import compare_dataset_episode

    root, _ = generated
    dataset = load_dataset(root, "apexrl/moto-pro-v0")
    metas = list(dataset.storage.get_episode_metadata(range(dataset.total_episodes)))
    laps = [i for i, m in enumerate(metas) if m["outcome"] == "lap"]
    assert laps, "no completed pro lap in the fixture dataset"
    episode, meta = laps[0], metas[laps[0]]
    result = compare_dataset_episode(root, "apexrl/moto-pro-v0", episode)
    assert result.lap_time_s == pytest.approx(meta["lap_time_s"], abs=1e-6)
    assert result.time_lost_s > 0 and len(result.corners) == 11
