"""Downloads against a real HTTP server on 127.0.0.1; nothing here touches the internet."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import pickle
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from apexrl.tracks.download import (
    DEFAULT_ROUTES_URL,
    cached_route_path,
    cached_routes,
    download_route,
    load_cached_route,
    route_url,
)
from apexrl.tracks.io import save_deepracer_npy
from apexrl.tracks.library import builtin_track
from apexrl.tracks.track import Track, TrackError


class _Server:
    """A static file server in a thread; counts the GET requests it answers."""

    def __init__(self, folder):
        self.folder = folder
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/routes/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(tmp_path):
    routes = tmp_path / "www" / "routes"
    routes.mkdir(parents=True)
    save_deepracer_npy(builtin_track("dr_oval"), routes / "Test_Oval.npy")
    # A clockwise route with asymmetric sides, and one with a duplicated row like official files.
    t = np.linspace(0.0, -2 * np.pi, 300, endpoint=False)
    cw = Track.from_centerline(4.0 * np.column_stack([np.cos(t), np.sin(t)]), 0.4, 0.6)
    save_deepracer_npy(cw, routes / "Test_CW.npy")
    rows = np.load(routes / "Test_Oval.npy")
    np.save(routes / "Test_Dup.npy", np.insert(rows, 20, rows[20], axis=0))
    np.save(
        routes / "Test_Objects.npy", np.array([None, {"a": 1}], dtype=object), allow_pickle=True
    )
    (routes / "Test_Pickle.npy").write_bytes(pickle.dumps(rows.tolist()))
    srv = _Server(tmp_path / "www")
    yield srv
    srv.close()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_success_records_checksum(server, tmp_path):
    path = download_route("Test_Oval", base_url=server.url)
    assert path == Path(os.environ["APEXRL_CACHE_DIR"]) / "tracks" / "Test_Oval.npy"
    assert path == cached_route_path("Test_Oval")
    served = tmp_path / "www" / "routes" / "Test_Oval.npy"
    assert path.read_bytes() == served.read_bytes()
    assert path.with_suffix(".sha256").read_text() == f"{_sha(served)}  Test_Oval.npy\n"
    track = load_cached_route("Test_Oval")
    assert track.name == "Test_Oval" and track.orientation == "ccw"
    assert track.length_m == pytest.approx(builtin_track("dr_oval").length_m, rel=2e-3)
    assert cached_routes() == ["Test_Oval"]
    assert server.requests == ["/routes/Test_Oval.npy"]


def test_download_clockwise_and_duplicated_rows(server):
    download_route("Test_CW", base_url=server.url)
    cw = load_cached_route("Test_CW")
    assert cw.orientation == "cw"
    np.testing.assert_allclose(cw.w_left_m, 0.4, rtol=1e-6)
    np.testing.assert_allclose(cw.w_right_m, 0.6, rtol=1e-6)
    download_route("Test_Dup", base_url=server.url)
    dup = load_cached_route("Test_Dup")
    assert dup.length_m == pytest.approx(builtin_track("dr_oval").length_m, rel=2e-3)
    assert cached_routes() == ["Test_CW", "Test_Dup"]


def test_cached_route_is_reused_unless_forced(server):
    first = download_route("Test_Oval", base_url=server.url)
    assert download_route("Test_Oval", base_url=server.url) == first
    assert len(server.requests) == 1
    download_route("Test_Oval", base_url=server.url, force=True)
    assert len(server.requests) == 2


def test_expected_checksum(server, tmp_path):
    served = tmp_path / "www" / "routes" / "Test_Oval.npy"
    good = _sha(served)
    assert download_route("Test_Oval", base_url=server.url, sha256=good.upper()).is_file()
    with pytest.raises(ValueError, match=f"has SHA-256 {good}, not the expected {'0' * 64}"):
        download_route("Test_Oval", base_url=server.url, sha256="0" * 64)


def test_checksum_mismatch_stores_nothing(server):
    with pytest.raises(
        ValueError, match=f"checksum mismatch for .*Test_Oval.npy: expected SHA-256 {'a' * 64}"
    ):
        download_route("Test_Oval", base_url=server.url, sha256="a" * 64)
    folder = cached_route_path("Test_Oval").parent
    assert list(folder.iterdir()) == []


def test_bad_sha_argument(server):
    with pytest.raises(ValueError, match="--sha256 must be 64 hexadecimal characters"):
        download_route("Test_Oval", base_url=server.url, sha256="xyz")


def test_corrupted_cache_is_reported(server):
    path = download_route("Test_Oval", base_url=server.url)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    expected = (
        "cached route 'Test_Oval' .* is corrupted: .*'apexrl tracks download Test_Oval --force'"
    )
    with pytest.raises(TrackError, match=expected):
        load_cached_route("Test_Oval")
    with pytest.raises(TrackError, match=expected):
        download_route("Test_Oval", base_url=server.url)
    download_route("Test_Oval", base_url=server.url, force=True)
    assert load_cached_route("Test_Oval").orientation == "ccw"


def test_missing_checksum_record(server):
    path = download_route("Test_Oval", base_url=server.url)
    path.with_suffix(".sha256").unlink()
    with pytest.raises(
        TrackError, match="has no checksum record Test_Oval.sha256; download it again"
    ):
        load_cached_route("Test_Oval")


def test_not_cached():
    with pytest.raises(FileNotFoundError, match="'apexrl tracks download Nope'"):
        load_cached_route("Nope")


def test_http_404(server):
    with pytest.raises(
        ValueError,
        match=r"no official DeepRacer track named 'No_Such' at http://127\.0\.0\.1:\d+/routes/No_Such\.npy",
    ):
        download_route("No_Such", base_url=server.url)
    assert cached_routes() == []


def test_connection_refused():
    url = f"http://127.0.0.1:{_closed_port()}/routes/"
    with pytest.raises(
        ConnectionError,
        match=r"could not reach http://127\.0\.0\.1:\d+/routes/X\.npy .*are you offline\?",
    ):
        download_route("X", base_url=url, timeout_s=5)


@pytest.mark.parametrize(
    "name", ["../etc/passwd", "a/b", "", "x.npy", "has space", "..", "a\\b", "é"]
)
def test_bad_world_names(name):
    with pytest.raises(ValueError, match="invalid DeepRacer world name"):
        download_route(name, base_url="http://127.0.0.1:9/")


@pytest.mark.parametrize(
    ("name", "what"), [("Test_Objects", "pickled data"), ("Test_Pickle", "pickled data")]
)
def test_pickled_route_is_refused(server, name, what):
    with pytest.raises(
        TrackError, match=f"/routes/{name}.npy is not a valid DeepRacer route: contains {what}"
    ):
        download_route(name, base_url=server.url)
    assert list(cached_route_path(name).parent.iterdir()) == []


def test_routes_url_configuration(monkeypatch, server):
    monkeypatch.delenv("APEXRL_ROUTES_URL", raising=False)
    assert route_url("reInvent2019_track") == DEFAULT_ROUTES_URL + "reInvent2019_track.npy"
    assert DEFAULT_ROUTES_URL == (
        "https://raw.githubusercontent.com/aws-deepracer-community/deepracer-simapp/master/bundle/routes/"
    )
    monkeypatch.setenv("APEXRL_ROUTES_URL", server.url.rstrip("/"))
    assert route_url("A") == server.url + "A.npy"
    assert download_route("Test_Oval").is_file()
    assert route_url("A", "http://mirror.example/r") == "http://mirror.example/r/A.npy"
    with pytest.raises(ValueError, match="routes URL must start with https://"):
        route_url("A", "ftp://mirror.example/")


def test_custom_cache_folder(server, tmp_path):
    cache = tmp_path / "elsewhere"
    path = download_route("Test_Oval", base_url=server.url, cache=cache)
    assert path == cache / "tracks" / "Test_Oval.npy"
    assert cached_routes(cache) == ["Test_Oval"] and cached_routes() == []
    assert load_cached_route("Test_Oval", cache=cache).name == "Test_Oval"
