"""The actor as layers: extraction from SB3 policies, the numpy forward pass, MAC counts and the
camera-input suggestions (no TensorFlow involved)."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.export import Clip, Conv2D, Dense, ExportError, Normalize, load_actor
from apexrl.export.report import DeviceBudget, device_budget, input_size_candidates
from tests.export.conftest import make_policy


def _obs(n: int = 256, seed: int = 0) -> np.ndarray:
    from apexrl.envs.vector import OBSERVATION_HIGH, OBSERVATION_LOW

    rng = np.random.default_rng(seed)
    return rng.uniform(OBSERVATION_LOW, OBSERVATION_HIGH, (n, 8)).astype(np.float32)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_actor_is_sb3_deterministic_predict_and_the_layers_match(algo):
    policy, _ = make_policy(algo, seed=1)
    actor = load_actor(policy)
    obs = _obs()
    ref = actor.reference(obs)
    sb3, _ = policy.predict(obs, deterministic=True)
    assert np.abs(ref - sb3).max() < 1e-6
    assert np.abs(actor.graph.forward(obs) - ref).max() < 1e-5
    if algo == "ppo":  # the wide head saturates: the clamp is exercised
        assert ref.min() == -1.0 and ref.max() == 1.0
    else:  # SAC squashes with tanh
        assert np.abs(ref).max() < 1.0 and np.ptp(ref) > 0.5


def test_ppo_coach_layers():
    graph = load_actor(make_policy("ppo")[0]).graph
    kinds = [type(layer) for layer in graph.layers]
    assert kinds == [Normalize, Dense, Dense, Dense, Clip]
    assert [layer.activation for layer in graph.layers[1:4]] == ["tanh", "tanh", "none"]
    assert graph.kind == "mlp" and graph.input_shape == (8,) and graph.output == "action"
    # 8 -> 64 -> 64 -> 3
    assert graph.costs() == {"macs": 4800, "weights": 4800, "biases": 131, "activation_bytes": 128}


def _cnn_policy(*, features_dim: int = 16, discrete: bool = False, seed: int = 0):
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    torch.manual_seed(seed)
    obs_space = spaces.Box(0, 255, (1, 120, 160), np.uint8)
    action = spaces.Discrete(5) if discrete else spaces.Box(-1.0, 1.0, (2,), np.float32)
    extractor = {"features_dim": features_dim}
    policy = ActorCriticCnnPolicy(obs_space, action, lambda _: 0.0,
                                  net_arch={"pi": [32], "vf": [32]},
                                  features_extractor_kwargs=extractor)  # fmt: skip
    with torch.no_grad():
        torch.nn.init.orthogonal_(policy.action_net.weight, gain=3.0)
    return policy


def _frames(n: int, seed: int = 0) -> np.ndarray:
    """Synthetic camera frames (H, W, 1) of whole pixel values: a bright band on a gradient."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:120, 0:160]
    out = []
    for _ in range(n):
        c, w = rng.uniform(20, 140), rng.uniform(5, 30)
        frame = 60 + 0.5 * y + 150 * np.exp(-(((x - c) / w) ** 2)) + rng.normal(0, 4, (120, 160))
        out.append(np.round(np.clip(frame, 0, 255))[..., None])
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("discrete", [False, True])
def test_nature_cnn_is_rebuilt_channel_last(discrete):
    """SB3 sees (C, H, W); the exported actor takes camera frames (H, W, C). The flatten order
    differs, so the first Linear's rows are permuted: the numpy graph must still match torch."""
    actor = load_actor(_cnn_policy(discrete=discrete))
    frames = _frames(6)
    assert actor.graph.input_shape == (120, 160, 1) and actor.graph.kind == "cnn"
    assert actor.graph.output == ("logits" if discrete else "action")
    ref = actor.reference(frames)
    assert np.abs(actor.graph.forward(frames) - ref).max() < 1e-4
    sb3, _ = actor.policy.predict(frames.transpose(0, 3, 1, 2).astype(np.uint8), deterministic=True)
    if discrete:
        assert np.array_equal(sb3, ref.argmax(axis=1))
    else:
        assert np.abs(sb3 - ref).max() < 1e-5


def test_nature_cnn_macs_closed_form():
    graph = load_actor(_cnn_policy(features_dim=16)).graph
    convs = [layer for layer in graph.layers if isinstance(layer, Conv2D)]
    assert [c.weight.shape for c in convs] == [(8, 8, 1, 32), (4, 4, 32, 64), (3, 3, 64, 64)]
    # 120x160 -> 29x39x32 -> 13x18x64 -> 11x16x64 (11264) -> 16 -> 32 -> 2
    macs = (29 * 39 * 32 * 8 * 8 + 13 * 18 * 64 * 4 * 4 * 32 + 11 * 16 * 64 * 3 * 3 * 64
            + 11264 * 16 + 16 * 32 + 32 * 2)  # fmt: skip
    assert graph.costs()["macs"] == macs


def test_camera_input_suggestion():
    """16.7 M MACs at 120x160 is ~880 ms on an ESP32; the largest 4:3-ish input under 50 ms for
    the same architecture is 40x53 (about 0.83 M MACs), and NatureCNN needs at least 36 rows."""
    graph = load_actor(_cnn_policy(features_dim=16)).graph
    rows = input_size_candidates(graph, DeviceBudget())
    assert rows[0]["input_hw"] == [120, 160] and not rows[0]["fits_budget"]
    assert rows[0]["esp32_latency_estimate_ms"] == pytest.approx(graph.costs()["macs"] * 53e-6)
    fitting = [r["input_hw"] for r in rows if r["fits_budget"]]
    assert fitting[0] == [40, 53]
    assert min(r["input_hw"][0] for r in rows) >= 36
    assert all(a["macs"] > b["macs"] for a, b in zip(rows, rows[1:], strict=False))
    # The full NatureCNN (512 features) has a 5.8 M-weight linear layer: no input fits 2 MB.
    big = load_actor(_cnn_policy(features_dim=512)).graph
    assert big.costs()["weights"] > 5_700_000
    assert not input_size_candidates(big, DeviceBudget())[0]["fits_budget"]


def test_esp32_s3_budget_preset_and_overrides():
    s3 = device_budget("esp32s3", latency_ms=20.0)
    assert s3.ms_per_million_macs == 7.5 and s3.latency_ms == 20.0
    with pytest.raises(ValueError, match="unknown device 'esp8266'; known: esp32, esp32s3"):
        device_budget("esp8266")
    with pytest.raises(ValueError, match="DeviceBudget.latency_ms must be a positive number"):
        DeviceBudget(latency_ms=0)


def test_unsupported_extractor_is_a_clear_error():
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

    class Odd(BaseFeaturesExtractor):
        def __init__(self, space) -> None:
            super().__init__(space, features_dim=4)
            self.net = torch.nn.Linear(8, 4)

        def forward(self, obs):
            return self.net(obs)

    policy = ActorCriticPolicy(spaces.Box(-1, 1, (8,)), spaces.Box(-1, 1, (3,)), lambda _: 0.0,
                               features_extractor_class=Odd)  # fmt: skip
    with pytest.raises(ExportError, match="features extractor Odd is not supported"):
        load_actor(policy)


def test_sb3_zip_needs_allow_pickle(tmp_path):
    from apexrl.train.model_io import PickleNotAllowedError

    (tmp_path / "m.zip").write_bytes(b"PK")
    with pytest.raises(PickleNotAllowedError, match="allow-pickle"):
        load_actor(tmp_path / "m.zip")


def test_sb3_zip_of_a_camera_policy_loads_with_allow_pickle(tmp_path):
    """A third-party SB3 zip (CnnPolicy, 120x160 gray frames, steering/speed) is read by SB3 itself;
    the zip's JSON says it is no coach, so apexrl's coach loader is not used."""
    import gymnasium as gym
    from gymnasium import spaces
    from stable_baselines3 import PPO

    class Camera(gym.Env):
        observation_space = spaces.Box(0, 255, (120, 160, 1), np.uint8)
        action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

        def reset(self, seed=None, options=None):
            return np.zeros((120, 160, 1), np.uint8), {}

        def step(self, action):
            return np.zeros((120, 160, 1), np.uint8), 0.0, False, False, {}

    model = PPO("CnnPolicy", Camera(), n_steps=8, batch_size=8, device="cpu", seed=0,
                policy_kwargs={"features_extractor_kwargs": {"features_dim": 16}})  # fmt: skip
    model.save(tmp_path / "camera.zip")
    actor = load_actor(tmp_path / "camera.zip", allow_pickle=True)
    assert actor.graph.kind == "cnn" and actor.graph.input_shape == (120, 160, 1)
    assert actor.env_low is None  # policy units are the env's own [-1, 1]
    frames = _frames(3)
    assert np.abs(actor.graph.forward(frames) - actor.reference(frames)).max() < 1e-4
