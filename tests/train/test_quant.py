"""Int8-aware coaches: the roundings of the int8 model in the PyTorch forward, folding a float
policy into one, weights on their int8 grid, saving and loading, and int8-aware cloning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from apexrl.train import bc, quant
from apexrl.train.model_io import (
    actor_policy_kwargs,
    build_policy,
    default_policy_kwargs,
    load_policy,
    save_policy,
)


def test_fake_quant_rounds_onto_the_int8_grid_with_a_straight_through_gradient():
    s = 0.25
    x = torch.tensor([0.1, 0.13, -0.37, 31.0, 40.0, -33.0, -50.0], requires_grad=True)
    y = quant.fake_quant(x, s)
    np.testing.assert_allclose(y.detach().numpy(), [0.0, 0.25, -0.25, 31.0, 31.75, -32.0, -32.0])
    y.sum().backward()
    # Inside the int8 range the gradient passes unchanged; a clamped value gets none.
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1, 1, 1, 0, 0, 0])


def test_quant_tanh_rounds_its_input_and_output_and_float_mode_turns_that_off():
    act = quant.quant_tanh_class()()
    x = torch.linspace(-4, 4, 101)
    y = act(x)
    codes = y / quant.TANH_SCALE
    np.testing.assert_allclose(codes, torch.round(codes), atol=1e-4)
    pre = torch.clamp(torch.round(x / quant.PRE_SCALE), -128, 127) * quant.PRE_SCALE
    expected = torch.round(torch.tanh(pre) * 128).clamp(-128, 127) / 128
    np.testing.assert_allclose(y, expected, atol=1e-7)
    holder = torch.nn.Sequential(act)
    with quant.float_mode(holder):
        np.testing.assert_allclose(holder(x), torch.tanh(x))
    assert act.quantize  # restored


def test_float_mode_restores_the_roundings_after_an_error():
    holder = torch.nn.Sequential(quant.quant_tanh_class()())
    with pytest.raises(RuntimeError), quant.float_mode(holder):
        raise RuntimeError("boom")
    assert holder[0].quantize


def test_the_input_mapping_keeps_each_channel_inside_the_normaliser_clip():
    offset, half = quant.int8_input_mapping(
        low=np.array([0.0, -100.0, 5.0]), high=np.array([10.0, 100.0, 5.0]),
        mean=np.array([5.0, 0.0, 5.0]), std=np.array([5.0, 2.0, 3.0]), clip=10.0,
    )  # fmt: skip
    np.testing.assert_allclose(offset, [5.0, 0.0, 5.0])
    np.testing.assert_allclose(half, [5.0, 20.0, 3.0])  # clip 10 std; a flat channel keeps std
    with pytest.raises(ValueError, match="finite"):
        quant.int8_input_mapping(np.array([2.0]), np.array([1.0]), np.zeros(1), np.ones(1), 10)


def _space():
    return spaces.Box(np.array([0, -2, 0], np.float32), np.array([100, 2, 1], np.float32))


def _policies(seed: int = 0):
    """A float PPO policy with a normalisation unlike the int8 mapping, and the int8-aware
    policy of the same architecture."""
    space = _space()
    mean, std = np.array([40.0, 0.5, 0.2]), np.array([30.0, 1.0, 0.1])
    kwargs = actor_policy_kwargs("ppo", (16, 8))
    torch.manual_seed(seed)
    float_policy = build_policy("ppo", space, 3, policy_kwargs=kwargs, obs_mean=mean, obs_std=std)
    with torch.no_grad():  # SB3's head gain 0.01 would keep every action near 0
        torch.nn.init.orthogonal_(float_policy.action_net.weight, gain=3.0)
    int8 = build_policy("ppo", space, 3, policy_kwargs={**kwargs, "int8_aware": True},
                        obs_mean=mean, obs_std=std)  # fmt: skip
    return space, mean, std, float_policy, int8


def test_folding_a_float_policy_keeps_its_float_network():
    space, mean, std, float_policy, int8 = _policies()
    norm = int8.features_extractor
    offset, half = quant.int8_input_mapping(space.low, space.high, mean, std, norm.clip)
    int8.load_state_dict(quant.int8_state_dict(float_policy.state_dict(), offset, half, mean, std))
    rng = np.random.default_rng(0)
    obs = torch.as_tensor(rng.uniform(space.low, space.high, (500, 3)).astype(np.float32))
    with torch.no_grad(), quant.float_mode(int8):
        a, _, _ = float_policy(obs, deterministic=True)
        b, _, _ = int8(obs, deterministic=True)
        v_a, v_b = float_policy.predict_values(obs), int8.predict_values(obs)
    np.testing.assert_allclose(b, a, atol=1e-5)
    np.testing.assert_allclose(v_b, v_a, atol=1e-5)
    with torch.no_grad():  # the roundings change the actions
        c, _, _ = int8(obs, deterministic=True)
    assert float(torch.abs(c - a).max()) > 1e-3


def test_the_int8_input_is_on_the_grid_of_every_channel():
    space, _, _, _, int8 = _policies()
    obs = torch.as_tensor(np.array([[0.0, -2.0, 0.0], [100.0, 2.0, 1.0], [37.3, 0.11, 0.5]],
                                   np.float32))  # fmt: skip
    u = int8.features_extractor(obs)
    codes = (u / quant.INPUT_SCALE).numpy()
    np.testing.assert_allclose(codes, np.round(codes), atol=1e-4)
    assert codes.min() >= -128 and codes.max() <= 127
    # The bounds map to u = -+1, codes -+127 (INPUT_SCALE is float32(2/255), a hair above 2/255).
    np.testing.assert_allclose(codes[:2], [[-127] * 3, [127] * 3])


def test_projected_weights_are_on_their_per_row_int8_grid():
    _, _, _, _, policy = _policies(seed=3)
    change = quant.project_weights(policy)
    assert 0 < change < 0.05
    for linear in quant.actor_linears(policy):
        w = linear.weight.detach().numpy().astype(np.float64)
        step = np.abs(w).max(axis=1, keepdims=True) / 127.0
        np.testing.assert_allclose(w / step, np.round(w / step), atol=1e-4)
    assert quant.project_weights(policy) < 1e-6  # idempotent


def test_int8_aware_coaches_save_and_load_with_their_roundings(tmp_path):
    space, _, _, _, policy = _policies(seed=1)
    kwargs = {**actor_policy_kwargs("ppo", (16, 8)), "int8_aware": True}
    save_policy(tmp_path / "m", policy, algo="ppo", policy_kwargs=kwargs, observation_space=space,
                action_space=spaces.Box(0.0, 1.0, (3,)))  # fmt: skip
    loaded = load_policy(tmp_path / "m")
    assert quant.is_int8_aware(loaded.policy)
    obs = np.random.default_rng(1).uniform(space.low, space.high, (200, 3)).astype(np.float32)
    with quant.exact(policy):
        expected, _ = policy.predict(obs, deterministic=True)
    assert next(policy.parameters()).dtype == torch.float32  # back to float32 after
    np.testing.assert_array_equal(loaded.policy_actions(obs), expected.astype(np.float32))


@pytest.mark.parametrize(
    ("algo", "kwargs", "message"),
    [
        ("ppo", {"activation_fn": "relu", "int8_aware": True}, "needs activation_fn 'tanh'"),
        ("ppo", {"int8_aware": "yes"}, "int8_aware must be true or false"),
        ("sac", {"int8_aware": True}, "unknown sac policy option"),
    ],
)
def test_bad_int8_settings_are_clear_errors(algo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_policy(algo, _space(), 3, policy_kwargs={**default_policy_kwargs(algo), **kwargs},
                     obs_mean=np.zeros(3), obs_std=np.ones(3))  # fmt: skip


def test_int8_aware_cloning_saves_the_int8_network(datasets_root, tmp_path):
    out = tmp_path / "bc8"
    kwargs = {**actor_policy_kwargs("ppo", (24, 12)), "int8_aware": True}
    cfg = bc.BCConfig(epochs=2, int8_epochs=2, batch_size=512)
    result = bc.train_bc(datasets_root, out, config=cfg, seed=3, policy_kwargs=kwargs,
                         progress=False)  # fmt: skip
    meta = json.loads((out / "model.json").read_text())
    assert meta["policy_kwargs"]["int8_aware"] is True
    phase = meta["provenance"]["int8_aware"]
    assert phase["float_epochs"] == 2 and phase["int8_epochs"] == len(result.train_loss) == 2
    policy = load_policy(out).policy
    assert quant.is_int8_aware(policy)
    for linear in quant.actor_linears(policy):
        w = linear.weight.detach().numpy().astype(np.float64)
        step = np.abs(w).max(axis=1, keepdims=True) / 127.0
        np.testing.assert_allclose(w / step, np.round(w / step), atol=1e-4)
    again = bc.train_bc(datasets_root, config=cfg, seed=3, policy_kwargs=kwargs, progress=False)
    for key, value in result.policy.state_dict().items():  # reproducible
        assert torch.equal(value, again.policy.state_dict()[key]), key


def test_int8_aware_training_reproduces_the_float_clone_by_default(datasets_root):
    kwargs = {**actor_policy_kwargs("ppo", (24, 12)), "int8_aware": True}
    data = bc.load_bc_data(datasets_root, seed=3)
    runs = {}
    for target in ("clone", "oracle"):
        cfg = bc.BCConfig(epochs=2, int8_epochs=1, batch_size=512, int8_target=target)
        runs[target] = bc.train_bc(datasets_root, config=cfg, seed=3, policy_kwargs=kwargs,
                                   progress=False, data=data)  # fmt: skip
    # The same float clone, then different targets: a different int8 phase.
    assert runs["clone"].train_loss != runs["oracle"].train_loss
    relabelled = bc._relabelled(data, runs["oracle"].policy, "ppo")
    assert relabelled.train["pro"].obs is data.train["pro"].obs
    assert not np.array_equal(relabelled.train["pro"].act, data.train["pro"].act)
    assert np.abs(relabelled.train["pro"].act).max() <= 1.0
