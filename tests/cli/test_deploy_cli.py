from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from apexrl.deepracer.drfc_env import parse_env_file
from apexrl.tracks.library import builtin_tracks
from tests.deepracer.conftest import FIXTURES

REWARD = str(FIXTURES / "lookahead_wrap.py")
SECRET = "apexrl-cli-secret-7c9e6679"


@pytest.fixture
def run():
    """``apexrl deploy ...``: the deploy group mounted the way cli/app.py mounts groups."""
    from apexrl.cli import deploy, rewards

    root = typer.Typer()
    root.add_typer(rewards.app, name="rewards")
    root.add_typer(deploy.app, name="deploy")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(root, ["deploy", *args], catch_exceptions=False)

    return invoke


def _deepracer(run, out, *extra: str):
    return run("deepracer", "m1", "--reward-function", REWARD, "--output", str(out), *extra)


def test_files_only_is_required(run, tmp_path):
    result = _deepracer(run, tmp_path / "m")
    assert result.exit_code == 2
    assert "training on AWS is not part of apexrl" in result.stderr
    assert "apexrl deploy upload" in result.stderr
    assert not (tmp_path / "m").exists()


def test_writes_the_files(run, tmp_path):
    out = tmp_path / "m"
    result = _deepracer(
        run,
        out,
        "--files-only",
        "--algorithm",
        "sac",
        "--sensors",
        "FRONT_FACING_CAMERA,LIDAR",
        "--race-type",
        "HEAD_TO_BOT",
        "--hyperparameters",
        '{"sac_alpha": 0.3, "lr": 0.0001}',
        "--env",
        "DR_LOCAL_S3_BUCKET=my-bucket",
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert sorted(p.split("/")[-1] for p in data["files"]) == sorted(p.name for p in out.iterdir())
    assert data["model_metadata"]["sensor"] == ["FRONT_FACING_CAMERA", "LIDAR"]
    assert data["model_metadata"]["action_space_type"] == "continuous"
    assert json.loads((out / "hyperparameters.json").read_text())["sac_alpha"] == 0.3
    assert parse_env_file(out / "system.env")["DR_LOCAL_S3_BUCKET"] == "my-bucket"
    assert parse_env_file(out / "run.env")["DR_RACE_TYPE"] == "HEAD_TO_BOT"
    again = _deepracer(run, out, "--files-only")
    assert again.exit_code == 1 and "is not empty" in again.stderr
    assert _deepracer(run, out, "--files-only", "--force").exit_code == 0


def test_multi_config_workers(run, tmp_path):
    out = tmp_path / "m"
    result = _deepracer(
        run,
        out,
        "--files-only",
        "--workers",
        "3",
        "--multi-config",
        "--track",
        "reInvent2019_track,Spain_track,Austin",
    )
    assert result.exit_code == 0, result.output
    assert parse_env_file(out / "worker-2.env")["DR_WORLD_NAME"] == "Spain_track"
    assert parse_env_file(out / "worker-3.env")["DR_WORLD_NAME"] == "Austin"
    assert "worker-3.env" in result.stdout and "apexrl deploy upload" in result.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--sensors", "LIDAR"], "have no camera"),
        (["--sensors", "FRONT_FACING_CAMERA,SECTOR_LIDR"], "did you mean 'SECTOR_LIDAR'"),
        (["--algorithm", "sac", "--action-space", "time_trial"], "sac needs a continuous"),
        (["--algorithm", "dqn"], "unknown training algorithm 'dqn'"),
        (["--action-space", "warp"], "neither a preset"),
        (["--race-type", "DRAG_RACE"], "unknown race type 'DRAG_RACE'"),
        (["--track", "reinvent2019_track"], "did you mean 'reInvent2019_track'"),
        (["--hyperparameters", '{"learning_rate": 0.001}'], "did you mean 'lr'"),
        (["--env", "DR_WORLD_NAME=Austin"], "DR_WORLD_NAME is set from the arguments"),
        (["--workers", "0"], "workers must be an integer 1-16"),
    ],
)
def test_invalid_input_exits_1_with_the_reason(run, tmp_path, args, fragment):
    result = _deepracer(run, tmp_path / "m", "--files-only", *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert not (tmp_path / "m").exists()


def test_speed_above_4_from_an_action_space_file(run, tmp_path):
    actions = tmp_path / "actions.json"
    actions.write_text(json.dumps([{"steering_angle": 0, "speed": 4.5}]))
    result = _deepracer(run, tmp_path / "m", "--files-only", "--action-space", str(actions))
    assert result.exit_code == 1
    assert "speed 4.5 m/s is outside 0.1-4 m/s" in result.stderr


def test_banned_reward_function_is_refused(run, tmp_path):
    result = run(
        "deepracer",
        "m1",
        "--reward-function",
        str(FIXTURES / "banned_open.py"),
        "--output",
        str(tmp_path / "m"),
        "--files-only",
    )
    assert result.exit_code == 1 and "call to banned builtin 'open'" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--hyperparameters", "{oops"], "neither a .json file nor valid JSON"),
        (["--env", "DR_LOCAL_S3_BUCKET"], "is not KEY=VALUE"),
    ],
)
def test_usage_errors_exit_2(run, tmp_path, args, fragment):
    result = _deepracer(run, tmp_path / "m", "--files-only", *args)
    assert result.exit_code == 2 and fragment in result.stderr


def test_unknown_world_with_any_world(run, tmp_path):
    result = _deepracer(run, tmp_path / "m", "--files-only", "--track", "2027_new", "--any-world")
    assert result.exit_code == 0, result.output


def test_list_tracks(run):
    result = run("list-tracks", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["builtin"] == builtin_tracks()
    assert data["downloaded"] == []
    worlds = {w["name"]: w["display_name"] for w in data["official_worlds"]}
    assert worlds["reInvent2019_track"].startswith("Smile Speedway")
    table = run("list-tracks")
    assert table.exit_code == 0 and "Spain_track" in table.stdout


def test_list_algorithms(run):
    data = json.loads(run("list-algorithms", "--json").stdout)
    assert [a["name"] for a in data] == ["clipped_ppo", "sac"]
    text = run("list-algorithms").stdout
    assert text.startswith("clipped_ppo") and "continuous action spaces only" in text


@pytest.fixture
def s3(monkeypatch, tmp_path):
    import boto3
    from moto.server import ThreadedMotoServer

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAPEXRLCLITEST000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="bucket")
    yield endpoint, client
    server.stop()


def test_upload(run, tmp_path, s3):
    endpoint, client = s3
    out = tmp_path / "m"
    assert _deepracer(run, out, "--files-only").exit_code == 0
    result = run("upload", str(out), "--bucket", "bucket", "--endpoint-url", endpoint, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [o["key"] for o in data["objects"]] == [
        "custom_files/reward_function.py",
        "custom_files/model_metadata.json",
        "custom_files/hyperparameters.json",
    ]
    body = client.get_object(Bucket="bucket", Key="custom_files/reward_function.py")["Body"]
    assert body.read() == (out / "reward_function.py").read_bytes()
    text = run("upload", str(out), "--bucket", "bucket", "--endpoint-url", endpoint)
    assert "s3://bucket/custom_files/model_metadata.json" in text.stdout
    missing = run("upload", str(out), "--bucket", "absent", "--endpoint-url", endpoint)
    assert missing.exit_code == 1 and "bucket 'absent'" in missing.stderr
    for res in (result, text, missing):
        assert SECRET not in res.output and "AKIAAPEXRLCLITEST000" not in res.output
