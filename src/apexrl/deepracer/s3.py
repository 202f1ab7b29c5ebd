"""Upload a model's custom files to S3 (AWS, or the MinIO of a local deepracer-for-cloud).

deepracer-for-cloud reads ``reward_function.py``, ``model_metadata.json`` and
``hyperparameters.json`` from ``s3://<DR_LOCAL_S3_BUCKET>/<DR_LOCAL_S3_CUSTOM_FILES_PREFIX>/``
(default prefix ``custom_files``); that is where :func:`upload_custom_files` puts them. The .env
files are NOT uploaded: DRfC reads them from its own folder on the host (``dr-update`` /
``activate.sh``), never from S3, so they stay local.

The files are validated before anything is sent (lint, model_metadata, hyperparameters for the
model's algorithm). Credentials come from boto3's usual chain (environment, ``--profile``, ...) and
are never printed: error messages name the bucket, the endpoint (without any user:password part)
and the S3 error code only.
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from apexrl.deepracer.drfc_env import CUSTOM_FILES_PREFIX, parse_env_file
from apexrl.deepracer.files import CUSTOM_FILES, read_hyperparameters, read_model_metadata

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CONTENT_TYPES = {".py": "text/x-python", ".json": "application/json"}


class S3UploadError(ValueError):
    """The upload cannot be done as asked (bad bucket, prefix, profile or credentials)."""


@dataclass(frozen=True)
class UploadedObject:
    key: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class UploadResult:
    bucket: str
    prefix: str
    endpoint_url: str | None
    """Endpoint without credentials (``None`` = AWS)."""
    objects: tuple[UploadedObject, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint_url": self.endpoint_url,
            "objects": [o.__dict__ for o in self.objects],
        }


def redact_url(url: str | None) -> str | None:
    """``http://user:secret@host:9000/x`` -> ``http://host:9000/x``."""
    if not url:
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def default_prefix(folder: str | os.PathLike) -> str:
    """``DR_LOCAL_S3_CUSTOM_FILES_PREFIX`` from ``folder/run.env`` if present, else custom_files."""
    run = Path(folder) / "run.env"
    if run.is_file():
        return parse_env_file(run).get("DR_LOCAL_S3_CUSTOM_FILES_PREFIX") or CUSTOM_FILES_PREFIX
    return CUSTOM_FILES_PREFIX


def check_custom_files(folder: str | os.PathLike) -> dict[str, Path]:
    """The three custom files of ``folder``, validated; raises naming the first problem."""
    from apexrl.deepracer.reward_check import require_lint_clean

    base = Path(folder).expanduser()
    if not base.is_dir():
        raise NotADirectoryError(
            f"{base} is not a folder (expected 'apexrl deploy deepracer' output)"
        )
    paths = {name: base / name for name in CUSTOM_FILES}
    missing = [n for n, p in paths.items() if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{base} lacks {', '.join(missing)}; create the folder with 'apexrl deploy deepracer'"
        )
    require_lint_clean(paths["reward_function.py"])
    meta = read_model_metadata(paths["model_metadata.json"])
    read_hyperparameters(paths["hyperparameters.json"], meta["training_algorithm"])
    return paths


def upload_custom_files(
    folder: str | os.PathLike,
    *,
    bucket: str,
    prefix: str | None = None,
    endpoint_url: str | None = None,
    profile: str | None = None,
    region: str | None = None,
    max_attempts: int = 3,
) -> UploadResult:
    """Validate and upload ``folder``'s custom files to ``s3://bucket/<prefix>/``.

    ``prefix`` defaults to :func:`default_prefix`. ``endpoint_url`` selects an S3-compatible
    server (MinIO: ``http://localhost:9000``); ``profile`` and ``region`` go to boto3;
    ``max_attempts`` counts tries per request (botocore's standard retry mode).
    """
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise S3UploadError(
            f"{bucket!r} is not a valid S3 bucket name (3-63 lower-case letters, digits, '.' "
            "and '-')"
        )
    key_prefix = (prefix if prefix is not None else default_prefix(folder)).strip("/")
    if not key_prefix or any(part in ("", ".", "..") for part in key_prefix.split("/")):
        raise S3UploadError(f"S3 prefix {prefix!r} must be a path like custom_files (no '..')")
    paths = check_custom_files(folder)
    shown_endpoint = redact_url(endpoint_url)
    client = _client(endpoint_url, profile, region, max_attempts)
    where = f"bucket {bucket!r}" + (f" at {shown_endpoint}" if shown_endpoint else "")
    _call(lambda: client.head_bucket(Bucket=bucket), where, shown_endpoint)
    objects = []
    for name, path in paths.items():
        body = path.read_bytes()
        key = f"{key_prefix}/{name}"
        _call(
            lambda key=key, body=body, path=path: client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=_CONTENT_TYPES[path.suffix]
            ),
            where,
            shown_endpoint,
        )
        objects.append(UploadedObject(key, len(body), hashlib.sha256(body).hexdigest()))
    return UploadResult(bucket, key_prefix, shown_endpoint, tuple(objects))


def _client(
    endpoint_url: str | None, profile: str | None, region: str | None, max_attempts: int
) -> Any:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile)
    except ProfileNotFound:
        raise S3UploadError(
            f"AWS profile {profile!r} not found in ~/.aws/config or ~/.aws/credentials "
            "(deepracer-for-cloud's MinIO profile is usually 'minio')"
        ) from None
    config = Config(
        connect_timeout=5,
        read_timeout=30,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    try:
        return session.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or session.region_name or "us-east-1",
            config=config,
        )
    except ValueError:
        raise S3UploadError(
            f"invalid S3 endpoint URL {redact_url(endpoint_url)!r}; expected e.g. "
            "http://localhost:9000"
        ) from None


def _call(action: Any, where: str, endpoint: str | None) -> Any:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    try:
        return action()
    except (NoCredentialsError, PartialCredentialsError):
        raise S3UploadError(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or pass "
            "--profile (for deepracer-for-cloud's MinIO usually 'minio')"
        ) from None
    except (EndpointConnectionError, ConnectTimeoutError):
        target = endpoint or "AWS S3"
        raise ConnectionError(
            f"cannot connect to {target} for {where}: is the server (MinIO) running and the "
            "--endpoint-url right?"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "unknown"))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise FileNotFoundError(
                f"{where} does not exist; create it first (deepracer-for-cloud's init creates "
                "the bucket named in DR_LOCAL_S3_BUCKET)"
            ) from None
        if status == 403 or code in (
            "403",
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "Forbidden",
        ):
            raise PermissionError(
                f"access to {where} denied ({code}); check the credentials or profile (not "
                "shown here) and the bucket policy"
            ) from None
        raise S3UploadError(f"S3 request for {where} failed with {code}") from None
