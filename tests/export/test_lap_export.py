"""Export of a coach that observes its lap position: calibration rollouts with the lap channels,
the C MLP header's lap defines, and the ESP32 inference computing the lap channels from the lap
distance (a 9th telemetry value) exactly as apexrl does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.export.conftest import OVAL, fast_calibration, make_coach

HOST = Path(__file__).resolve().parents[2] / "examples" / "esp32" / "host"
HARMONICS = 3


@pytest.fixture(scope="module")
def lap_coach(tmp_path_factory):
    return make_coach(tmp_path_factory.mktemp("lap-coach") / "model", lap_harmonics=HARMONICS)


@pytest.fixture(scope="module")
def lap_exported(lap_coach, tmp_path_factory):
    from apexrl.export import export_policy

    folder = tmp_path_factory.mktemp("lap-export") / "out"
    report = export_policy(lap_coach, folder, calibration=fast_calibration(), progress=False)
    return folder, report


def _telemetry(n: int, seed: int):
    """``(8 channels + lap distance (N, 9), model observations (N, 8 + 2K))`` from rollouts."""
    from apexrl.envs.vector import MotoCoachVectorEnv
    from apexrl.vehicles import motorcycle as moto

    env = MotoCoachVectorEnv(4, track=OVAL, lap_harmonics=HARMONICS)
    obs, _ = env.reset(seed=seed)
    rows, model_obs = [], []
    for _ in range(n // 4):
        s = env.core.sim.state[:, moto.S_M].copy()
        rows.append(np.concatenate([obs[:, :8], s[:, None]], axis=1))
        model_obs.append(obs)
        obs, *_ = env.step(env.oracle_action())
    return np.concatenate(rows), np.concatenate(model_obs)


def test_the_export_checks_a_lap_coach_on_its_own_observations(lap_exported):
    folder, report = lap_exported
    names = report["model"]["observation_names"] if "observation_names" in report.get(
        "model", {}) else None  # fmt: skip
    for name in ("policy.onnx", "policy_fp32.tflite", "policy_mlp.c"):
        assert report["artifacts"][name]["max_error_fraction_of_range"] < 1e-4, name
    header = (folder / "policy_mlp.h").read_text()
    assert f"#define APEXRL_MLP_OBS_DIM {8 + 2 * HARMONICS}" in header
    assert f"#define APEXRL_MLP_LAP_HARMONICS {HARMONICS}" in header
    assert "#define APEXRL_MLP_LAP_LENGTH_M" in header and "lap_cos_3" in header
    assert names is None or len(names) == 8 + 2 * HARMONICS


@pytest.mark.skipif(shutil.which("make") is None or shutil.which("cc") is None,
                    reason="needs make and cc")  # fmt: skip
def test_firmware_computes_the_lap_channels_from_the_lap_distance(lap_exported, lap_coach,
                                                                  tmp_path):  # fmt: skip
    from apexrl.train.model_io import load_policy

    folder, _ = lap_exported
    cmd = ["make", "-C", str(HOST), f"MODEL_DIR={folder}", f"BUILD_DIR={tmp_path}", "check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the self-test reads 9 values
    telemetry, obs = _telemetry(200, seed=21)
    lines = "\n".join(",".join(f"{v:.9g}" for v in row) for row in telemetry) + "\n"
    lines += "45,0,0,100,0.5,0,0,0.5\n"  # 8 values: the lap distance is missing
    out = subprocess.run([str(tmp_path / "test_inference")], input=lines, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split("\n")  # fmt: skip
    assert out[len(telemetry)] == "off"
    cues = np.array([[float(x) for x in line.split()] for line in out[: len(telemetry)]])
    env = load_policy(lap_coach).predict(obs.astype(np.float32)).astype(np.float64)
    # float32 lap distances (about 1e-4 m at 1 km) move the sin/cos inputs by ~1e-6.
    assert np.abs(cues[:, :2] - env[:, :2]).max() < 1e-4
