"""examples/esp32: the firmware's inference part built for the host with the system C compiler
against a freshly exported policy_mlp.c/.h; its motor commands must be the PyTorch policy's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

HOST = Path(__file__).resolve().parents[2] / "examples" / "esp32" / "host"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which("cc") is None, reason="needs make and cc"
)


@pytest.fixture(scope="module", params=["float", "int8_aware"])
def built(request, tmp_path_factory):
    """``(host test binary, coach folder)`` for a float coach (fp32 C forward pass) and an
    int8-aware one (integer C forward pass)."""
    if request.param == "float":
        folder, coach = request.getfixturevalue("exported")[0], request.getfixturevalue("coach_dir")
    else:
        coach, folder, _ = request.getfixturevalue("exported_int8_aware")
    build = tmp_path_factory.mktemp("esp32-host")
    cmd = ["make", "-C", str(HOST), f"MODEL_DIR={folder}", f"BUILD_DIR={build}", "check"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return build / "test_inference", coach


def test_motor_commands_match_pytorch(built):
    from apexrl.train.model_io import load_policy
    from tests.export.test_export import _held_out

    host_binary, coach_dir = built
    obs = _held_out(400, seed=11)
    lines = "\n".join(",".join(f"{v:.9g}" for v in row) for row in obs) + "\n"
    out = subprocess.run([str(host_binary)], input=lines, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split("\n")  # fmt: skip
    cues = np.array([[float(x) for x in line.split()] for line in out if line], dtype=np.float64)
    coach = load_policy(coach_dir)
    a = coach.policy_actions(obs.astype(np.float32)).astype(np.float64)
    env = coach.predict(obs.astype(np.float32)).astype(np.float64)  # [left, right, freq 0..1]
    assert cues.shape == (len(obs), 3)
    assert np.abs(cues[:, :2] - env[:, :2]).max() < 2e-6
    hz = 50.0 + 250.0 * (np.clip(a[:, 2], -1, 1) + 1.0) / 2.0
    assert np.abs(cues[:, 2] - hz).max() < 1e-3
    assert cues[:, :2].min() >= 0.0 and cues[:, :2].max() <= 1.0


def test_rejected_telemetry_switches_the_motors_off(built):
    host_binary, _ = built
    lines = "1,2,3\n45,0,0,100,0.5,0,0,0.5\nnan,0,0,100,0.5,0,0,0.5\n"
    out = subprocess.run([str(host_binary)], input=lines, capture_output=True, text=True,
                         timeout=60, check=True).stdout.split("\n")  # fmt: skip
    assert out[0] == "off" and out[2] == "off"
    assert len(out[1].split()) == 3
