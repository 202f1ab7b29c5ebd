"""Behaviour cloning: reproducible loss curves, the mix, the split, targets, early stopping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from apexrl.riders import haptics as hp
from apexrl.train import bc
from apexrl.train.model_io import load_policy, to_policy_action

FAST = {"epochs": 3, "batch_size": 512}


def test_same_seed_gives_the_same_loss_curve_and_weights(datasets_root):
    a = bc.train_bc(datasets_root, config=bc.BCConfig(**FAST), seed=11, progress=False)
    b = bc.train_bc(datasets_root, config=bc.BCConfig(**FAST), seed=11, progress=False)
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
    for key, value in a.policy.state_dict().items():
        assert torch.equal(value, b.policy.state_dict()[key]), key
    c = bc.train_bc(datasets_root, config=bc.BCConfig(**FAST), seed=12, progress=False)
    assert c.train_loss != a.train_loss


def test_the_saved_clone_records_its_provenance_and_exploration_std(bc_model):
    meta = load_policy(bc_model).metadata
    prov = meta["provenance"]
    assert prov["stage"] == "bc" and prov["seed"] == 3
    assert set(prov["datasets"]) == {"apexrl/moto-pro-v0", "apexrl/moto-amateur-v0"}
    assert meta["hyperparameters"]["bc"]["mix"] == {"pro": 0.7, "amateur": 0.3}
    # The exploration std PPO starts from is set after cloning.
    log_std = load_policy(bc_model).policy.log_std.detach().numpy()
    np.testing.assert_allclose(np.exp(log_std), 0.3, rtol=1e-6)


def test_loss_decreases(datasets_root):
    r = bc.train_bc(datasets_root, config=bc.BCConfig(epochs=4, batch_size=256), seed=5,
                    progress=False)  # fmt: skip
    assert r.val_loss[r.best_epoch - 1] < r.val_loss[0]
    assert r.train_loss[-1] < r.train_loss[0]


def test_targets_are_the_dataset_actions_in_policy_units(datasets_root):
    from apexrl.data.minari_io import load_dataset

    data = bc.load_bc_data(datasets_root, val_fraction=0.0, seed=0)
    ds = load_dataset(datasets_root, "apexrl/moto-amateur-v0")
    first = next(iter(ds.iterate_episodes()))
    # With no validation split the episodes keep their dataset order after a permutation; find
    # the first episode's rows by matching its observations.
    obs = np.asarray(first.observations[:-1], dtype=np.float32)
    rows = np.flatnonzero((data.train["amateur"].obs == obs[0]).all(axis=1))[0]
    got = data.train["amateur"].act[rows : rows + len(obs)]
    np.testing.assert_array_equal(
        got, to_policy_action(first.actions, ds.action_space.low, ds.action_space.high)
    )
    assert got.min() >= -1.0 and got.max() <= 1.0


def test_validation_holds_out_whole_episodes(datasets_root):
    data = bc.load_bc_data(datasets_root, val_fraction=0.34, seed=0)
    for rider in ("pro", "amateur"):
        info = data.provenance["datasets"][f"apexrl/moto-{rider}-v0"]
        assert (info["train_episodes"], info["val_episodes"]) == (2, 1)
        assert data.train[rider].size + data.val[rider].size == info["steps"]


def test_early_stopping_keeps_the_best_epoch(datasets_root):
    # A learning rate too small to change the loss by min_delta: no epoch after the first improves.
    cfg = bc.BCConfig(epochs=10, batch_size=512, learning_rate=1e-12, patience=2, min_delta=1e-3)
    r = bc.train_bc(datasets_root, config=cfg, seed=1, progress=False)
    assert (len(r.train_loss), r.best_epoch, r.stopped_early) == (3, 1, True)


def test_the_mix_splits_each_epoch_exactly():
    assert bc._split_counts(1000, {"pro": 0.7, "amateur": 0.3}) == {"pro": 700, "amateur": 300}
    assert bc._split_counts(10, {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}) == {"a": 4, "b": 3, "c": 3}
    assert bc.BCConfig(mix={"pro": 7, "amateur": 3}).weights == {"pro": 0.7, "amateur": 0.3}


def test_discounted_returns_match_the_closed_form():
    g, r, t = 0.9, 2.0, 5
    ended = bc.discounted_returns(np.full(t, r), terminated=True, gamma=g)
    assert ended[0] == pytest.approx(r * (1 - g**t) / (1 - g))
    assert ended[-1] == pytest.approx(r)
    cut = bc.discounted_returns(np.full(t, r), terminated=False, gamma=g)
    np.testing.assert_allclose(cut, r / (1 - g))  # riding on at the same pace forever


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mix": {}}, "mix must map rider presets"),
        ({"mix": {"pro": -1.0}}, "finite numbers >= 0"),
        ({"mix": {"pro": 0.0}}, "must not all be zero"),
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"loss": "huber"}, "loss must be one of cue, action"),
        ({"input_noise": -1.0}, "input_noise must be a finite number >= 0"),
        ({"input_noise": float("nan")}, "input_noise must be a finite number >= 0"),
        ({"int8_epochs": 0}, "int8_epochs must be a positive integer"),
        ({"int8_target": "pro"}, "int8_target must be one of clone, oracle"),
    ],
)
def test_bad_settings_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bc.BCConfig(**kwargs)


def test_missing_datasets_are_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no dataset 'apexrl/moto-pro-v0'"):
        bc.train_bc(tmp_path, progress=False)


def _space(hz: bool):
    from gymnasium import spaces

    high = [1.0, 1.0, hp.FREQ_MAX_HZ if hz else 1.0]
    low = [0.0, 0.0, hp.FREQ_MIN_HZ if hz else 0.0]
    return spaces.Box(np.array(low, np.float32), np.array(high, np.float32))


@pytest.mark.parametrize("hz", [False, True])
def test_the_cue_loss_is_the_mse_of_what_the_rider_reads(hz):
    space = _space(hz)
    rng = np.random.default_rng(3)
    pred = rng.uniform(-1.2, 1.2, (500, 3)).astype(np.float32)
    target = rng.uniform(-1, 1, (500, 3)).astype(np.float32)

    def read(policy_action):
        env = space.low + (np.clip(policy_action, -1, 1) + 1) / 2 * (space.high - space.low)
        if not hz:
            env[:, 2] = hp.frequency_from_unit(env[:, 2])
        return np.stack(hp.decode_cue(env), axis=1)

    expected = np.mean((read(pred) - read(target)) ** 2)
    loss = bc._loss_function("cue", space)(torch.from_numpy(pred), torch.from_numpy(target))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    plain = bc._loss_function("action", space)(torch.from_numpy(pred), torch.from_numpy(target))
    assert float(plain) == pytest.approx(np.mean((pred - target) ** 2), rel=1e-6)


def test_the_cue_loss_ignores_the_frequency_of_a_silent_cue():
    """Both motors off: 50 Hz ("throttle") and 300 Hz ("brake") read the same, no cue at all;
    the plain action MSE calls them maximally different."""
    space = _space(False)
    silent_low = torch.tensor([[-1.0, -1.0, -1.0]])
    silent_high = torch.tensor([[-1.0, -1.0, 1.0]])
    assert float(bc._loss_function("cue", space)(silent_low, silent_high)) == 0.0
    assert float(bc._loss_function("action", space)(silent_low, silent_high)) > 1.0


def test_input_noise_is_in_int8_steps_of_each_channel():
    from gymnasium import spaces

    space = spaces.Box(np.array([0.0, -10.0]), np.array([255.0, 10.0]), dtype=np.float64)
    np.testing.assert_allclose(bc._input_noise_std(space, 2.0).numpy(), [2.0, 40.0 / 255])
    assert bc._input_noise_std(space, 0.0) is None
    with pytest.raises(ValueError, match="finite bounds"):
        bc._input_noise_std(spaces.Box(-np.inf, np.inf, (2,)), 1.0)


def test_input_noise_makes_the_clone_smoother_at_int8_resolution(datasets_root):
    """The reason for the option: a one-step change of an int8 input moves the noisy clone's
    actions less on the data it learned from (same seed, same data; deterministic)."""
    data = bc.load_bc_data(datasets_root, val_fraction=0.0, seed=0)
    settings = {"epochs": 12, "batch_size": 128, "patience": 12, "learning_rate": 3e-3}
    clean = bc.train_bc(datasets_root, config=bc.BCConfig(**settings), seed=4, progress=False,
                        data=data)  # fmt: skip
    noisy_cfg = bc.BCConfig(**settings, input_noise=10.0)
    noisy = bc.train_bc(datasets_root, config=noisy_cfg, seed=4, progress=False, data=data)
    again = bc.train_bc(datasets_root, config=noisy_cfg, seed=4, progress=False, data=data)
    assert noisy.train_loss == again.train_loss  # the noise is seeded
    space = clean.observation_space
    step = (space.high - space.low) / 255.0
    obs = data.train["amateur"].obs
    rng = np.random.default_rng(0)
    shifted = (obs + rng.choice([-1.0, 1.0], size=obs.shape) * step).astype(np.float32)

    def moved(result) -> float:
        with torch.no_grad():
            a = bc._forward(result.policy, "ppo", torch.from_numpy(obs), False)[0]
            b = bc._forward(result.policy, "ppo", torch.from_numpy(shifted), False)[0]
        return float((a - b).abs().mean())

    assert moved(noisy) < 0.8 * moved(clean)
