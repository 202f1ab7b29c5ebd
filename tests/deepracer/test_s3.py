from __future__ import annotations

import json
import socket

import pytest

from apexrl.deepracer.files import write_deepracer_files
from apexrl.deepracer.s3 import S3UploadError, redact_url, upload_custom_files
from tests.deepracer.conftest import FIXTURES

SECRET = "apexrl-test-secret-d41d8cd98f00"
KEY_ID = "AKIAAPEXRLTESTKEY000"


@pytest.fixture(scope="module")
def s3_server():
    """A real S3 API (moto) on a free localhost port for the whole module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def bucket(s3_server, aws_env, request):
    import boto3

    name = "apexrl-" + request.node.name.replace("_", "-")[:40].lower().strip("-")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return client, name


@pytest.fixture
def model_dir(tmp_path):
    out = tmp_path / "model"
    write_deepracer_files(out, name="s3-model", reward_function_path=FIXTURES / "lookahead_wrap.py")
    return out


def test_upload_puts_the_three_custom_files_byte_for_byte(s3_server, bucket, model_dir):
    client, name = bucket
    result = upload_custom_files(model_dir, bucket=name, endpoint_url=s3_server)
    keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"])
    assert keys == [
        "custom_files/hyperparameters.json",
        "custom_files/model_metadata.json",
        "custom_files/reward_function.py",
    ]  # the .env files stay local
    for key in keys:
        body = client.get_object(Bucket=name, Key=key)["Body"].read()
        assert body == (model_dir / key.split("/")[1]).read_bytes()
    assert result.prefix == "custom_files" and len(result.objects) == 3
    data = result.to_dict()
    assert data["endpoint_url"] == s3_server
    assert SECRET not in json.dumps(data) and KEY_ID not in json.dumps(data)


def test_prefix_from_run_env_and_explicit(s3_server, bucket, model_dir):
    client, name = bucket
    run = model_dir / "run.env"
    run.write_text(
        run.read_text().replace("CUSTOM_FILES_PREFIX=custom_files", "CUSTOM_FILES_PREFIX=my_files")
    )
    upload_custom_files(model_dir, bucket=name, endpoint_url=s3_server)
    upload_custom_files(model_dir, bucket=name, endpoint_url=s3_server, prefix="/other/files/")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]}
    assert "my_files/reward_function.py" in keys and "other/files/model_metadata.json" in keys
    with pytest.raises(S3UploadError, match="must be a path like custom_files"):
        upload_custom_files(model_dir, bucket=name, endpoint_url=s3_server, prefix="a/../b")


def test_missing_bucket(s3_server, aws_env, model_dir):
    with pytest.raises(FileNotFoundError) as info:
        upload_custom_files(model_dir, bucket="no-such-bucket", endpoint_url=s3_server)
    assert f"bucket 'no-such-bucket' at {s3_server} does not exist" in str(info.value)


def test_connection_refused(aws_env, model_dir):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError) as info:
        upload_custom_files(
            model_dir, bucket="bucket", endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1
        )
    assert f"cannot connect to http://127.0.0.1:{port}" in str(info.value)


def test_missing_credentials(s3_server, aws_env, monkeypatch, model_dir):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(S3UploadError, match="no AWS credentials found"):
        upload_custom_files(model_dir, bucket="bucket", endpoint_url=s3_server)
    with pytest.raises(S3UploadError, match="AWS profile 'minio' not found"):
        upload_custom_files(model_dir, bucket="bucket", endpoint_url=s3_server, profile="minio")


def test_credentials_in_the_endpoint_are_never_shown(aws_env, model_dir):
    assert redact_url("http://user:pw@host:9000/x") == "http://host:9000/x"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionError) as info:
        upload_custom_files(
            model_dir,
            bucket="bucket",
            endpoint_url=f"http://{KEY_ID}:{SECRET}@127.0.0.1:{port}",
            max_attempts=1,
        )
    assert SECRET not in str(info.value) and KEY_ID not in str(info.value)


def test_validation_before_upload(aws_env, tmp_path, model_dir):
    with pytest.raises(S3UploadError, match="'My_Bucket' is not a valid S3 bucket name"):
        upload_custom_files(model_dir, bucket="My_Bucket")
    (model_dir / "hyperparameters.json").unlink()
    with pytest.raises(FileNotFoundError, match="lacks hyperparameters.json"):
        upload_custom_files(model_dir, bucket="bucket")
    with pytest.raises(NotADirectoryError):
        upload_custom_files(tmp_path / "nowhere", bucket="bucket")
