"""Download official AWS DeepRacer routes into the local cache, and load them back verified.

The official routes are Apache-2.0 files in ``bundle/routes/`` of the deepracer-simapp repository;
apexrl cannot ship them, so ``apexrl tracks download NAME`` fetches ``<NAME>.npy`` once into
``<cache>/tracks/<NAME>.npy`` and records its SHA-256 in ``<cache>/tracks/<NAME>.sha256``. Every
later load re-checks that checksum, so a damaged cache file is reported, never silently used.
A file is only moved into the cache after it has loaded as a valid route (``allow_pickle=False``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from apexrl.config import cache_dir
from apexrl.io_utils import write_text_atomic
from apexrl.tracks.io import load_deepracer_npy
from apexrl.tracks.track import Track, TrackError

DEFAULT_ROUTES_URL = "https://raw.githubusercontent.com/aws-deepracer-community/deepracer-simapp/master/bundle/routes/"
ROUTES_URL_ENV = "APEXRL_ROUTES_URL"
MAX_ROUTE_BYTES = 64 * 1024 * 1024
"""Official routes are a few kilobytes; anything this large is not a route."""
_WORLD_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_CHUNK_BYTES = 1 << 16


def is_valid_world_name(name: str) -> bool:
    """World names are letters, digits, ``_`` and ``-`` (no dots, slashes or path tricks)."""
    return bool(_WORLD_NAME.fullmatch(name))


def routes_folder(cache: str | os.PathLike | None = None) -> Path:
    """``<cache>/tracks``; ``cache`` defaults to :func:`apexrl.config.cache_dir`."""
    return Path(cache if cache is not None else cache_dir()).expanduser() / "tracks"


def cached_route_path(world_name: str, cache: str | os.PathLike | None = None) -> Path:
    """Where the route ``world_name`` is (or would be) cached."""
    _check_name(world_name)
    return routes_folder(cache) / f"{world_name}.npy"


def cached_routes(cache: str | os.PathLike | None = None) -> list[str]:
    """World names of the routes in the cache, sorted."""
    folder = routes_folder(cache)
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.npy") if is_valid_world_name(p.stem))


def load_cached_route(world_name: str, cache: str | os.PathLike | None = None) -> Track:
    """Load a downloaded route after checking it against its recorded SHA-256."""
    path = cached_route_path(world_name, cache)
    if not path.is_file():
        raise FileNotFoundError(
            f"DeepRacer route {world_name!r} is not in the cache ({path}); "
            f"download it with 'apexrl tracks download {world_name}'"
        )
    _verify_cached(world_name, path)
    return load_deepracer_npy(path, name=world_name)


def download_route(
    world_name: str,
    *,
    base_url: str | None = None,
    cache: str | os.PathLike | None = None,
    sha256: str | None = None,
    timeout_s: float = 30.0,
    force: bool = False,
) -> Path:
    """Fetch ``<base_url><world_name>.npy`` into the cache and return the cached path.

    Args:
        world_name: the DeepRacer world name, e.g. ``reInvent2019_track``.
        base_url: folder URL; default ``$APEXRL_ROUTES_URL``, else the deepracer-simapp routes on
            GitHub (:data:`DEFAULT_ROUTES_URL`).
        cache: cache root; default :func:`apexrl.config.cache_dir`.
        sha256: expected SHA-256 (hex) of the file; checked before anything is stored.
        timeout_s: network timeout per operation, seconds.
        force: download again even if the route is cached.

    Raises:
        ValueError: bad name, no such route on the server (HTTP 404), checksum mismatch, or the
            file is not a valid route (TrackError).
        ConnectionError: the server cannot be reached or answers with an error.
    """
    _check_name(world_name)
    expected = _normalise_sha(sha256)
    target = cached_route_path(world_name, cache)
    if target.is_file() and not force:
        actual = _verify_cached(world_name, target)
        if expected is not None and actual != expected:
            raise ValueError(
                f"cached route {world_name!r} has SHA-256 {actual}, not the expected {expected}; "
                f"download it again with 'apexrl tracks download {world_name} --force'"
            )
        return target

    url = route_url(world_name, base_url)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{world_name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            digest = _fetch(url, world_name, fh, timeout_s)
            fh.flush()
            os.fsync(fh.fileno())
        if expected is not None and digest != expected:
            raise ValueError(
                f"checksum mismatch for {url}: expected SHA-256 {expected}, got {digest}; "
                "the file was not saved"
            )
        try:
            load_deepracer_npy(tmp, name=world_name)
        except TrackError as exc:
            message = str(exc).removeprefix(f"{tmp}: ")
            raise TrackError(
                f"{url} is not a valid DeepRacer route: {message}; the file was not saved"
            ) from None
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    write_text_atomic(_sha_path(target), f"{digest}  {target.name}\n")
    return target


def route_url(world_name: str, base_url: str | None = None) -> str:
    """The URL of ``<world_name>.npy`` under ``base_url`` (or the configured default)."""
    _check_name(world_name)
    base = base_url or os.environ.get(ROUTES_URL_ENV) or DEFAULT_ROUTES_URL
    scheme = urllib.parse.urlsplit(base).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"routes URL must start with https://, http:// or file://, got {base!r}")
    return base.rstrip("/") + "/" + urllib.parse.quote(world_name) + ".npy"


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------- helpers
def _fetch(url: str, world_name: str, fh: BinaryIO, timeout_s: float) -> str:
    """Stream ``url`` into ``fh``; return the hex SHA-256 of what was written."""
    digest = hashlib.sha256()
    total = 0
    request = urllib.request.Request(url, headers={"User-Agent": "apexrl"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            while chunk := response.read(_CHUNK_BYTES):
                total += len(chunk)
                if total > MAX_ROUTE_BYTES:
                    raise ValueError(
                        f"{url} is larger than {MAX_ROUTE_BYTES // (1 << 20)} MiB; "
                        "that is not a DeepRacer route"
                    )
                digest.update(chunk)
                fh.write(chunk)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise ValueError(
                f"no official DeepRacer track named {world_name!r} at {url} (HTTP 404); check the "
                "spelling (world names are case-sensitive, e.g. reInvent2019_track)"
            ) from None
        raise ConnectionError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):
            raise ValueError(f"no official DeepRacer track named {world_name!r} at {url}") from None
        raise ConnectionError(_unreachable(url, exc.reason)) from None
    except TimeoutError as exc:
        raise ConnectionError(_unreachable(url, str(exc) or "timed out")) from None
    except ConnectionError as exc:
        raise ConnectionError(_unreachable(url, exc)) from None
    return digest.hexdigest()


def _unreachable(url: str, reason: object) -> str:
    return (
        f"could not reach {url} ({reason}); are you offline? Retry when connected, point "
        f"--base-url or ${ROUTES_URL_ENV} at a mirror, or pass the path of a .npy route file"
    )


def _verify_cached(world_name: str, path: Path) -> str:
    """Check a cached route against its ``.sha256`` record; return the checksum."""
    sha_file = _sha_path(path)
    redo = f"download it again with 'apexrl tracks download {world_name} --force'"
    try:
        recorded = sha_file.read_text(encoding="utf-8").split()[0].lower()
    except (FileNotFoundError, IndexError):
        raise TrackError(
            f"cached route {world_name!r} ({path}) has no checksum record {sha_file.name}; {redo}"
        ) from None
    actual = file_sha256(path)
    if actual != recorded:
        raise TrackError(
            f"cached route {world_name!r} ({path}) is corrupted: its SHA-256 {actual} does not "
            f"match the recorded {recorded}; {redo}"
        )
    return actual


def _sha_path(route_path: Path) -> Path:
    return route_path.with_suffix(".sha256")


def _check_name(world_name: str) -> None:
    if not isinstance(world_name, str) or not is_valid_world_name(world_name):
        raise ValueError(
            f"invalid DeepRacer world name {world_name!r}: use letters, digits, '_' and '-' only "
            "(e.g. reInvent2019_track)"
        )


def _normalise_sha(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError(f"--sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return value
