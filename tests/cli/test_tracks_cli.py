from __future__ import annotations

import json
import socket

import numpy as np
import pytest

from apexrl.tracks.io import save_deepracer_npy, save_json
from apexrl.tracks.library import builtin_track, builtin_tracks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def routes(tmp_path):
    """A local folder of DeepRacer routes, served through a file:// URL."""
    folder = tmp_path / "routes"
    save_deepracer_npy(builtin_track("dr_hairpins"), folder / "Local_Hairpins.npy")
    return folder.as_uri() + "/"


def test_list_json(cli, routes):
    result = cli("tracks", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [t["name"] for t in data["builtin"]] == builtin_tracks()
    moto = next(t for t in data["builtin"] if t["name"] == "apex_park")
    assert moto["kind"] == "motorcycle" and 3000 < moto["length_m"] < 5000
    assert set(data["shapes"]) == {"circle", "stadium", "oval", "straight", "random"}
    assert data["downloaded"] == []
    assert cli("tracks", "download", "Local_Hairpins", "--base-url", routes).exit_code == 0
    data = json.loads(cli("tracks", "list", "--json").stdout)
    assert [d["name"] for d in data["downloaded"]] == ["Local_Hairpins"]


def test_list_table(cli):
    result = cli("tracks", "list")
    assert result.exit_code == 0
    for name in builtin_tracks():
        assert name in result.stdout
    assert "circle:radius=R,width=W" in result.stdout
    assert "apexrl tracks download NAME" in result.stdout


@pytest.mark.parametrize(
    ("spec", "orientation", "closed"),
    [
        ("dr_hairpins", "cw", True),
        ("dr_oval", "ccw", True),
        ("straight:length=200,width=10", "open", False),
    ],
)
def test_show_json(cli, spec, orientation, closed):
    result = cli("tracks", "show", spec, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["orientation"] == orientation and data["closed"] is closed
    for key in ("name", "length_m", "n_points", "width_min_m", "width_max_m"):
        assert key in data


def test_show_file_and_table(cli, tmp_path):
    path = save_json(builtin_track("dr_flow"), tmp_path / "flow.json")
    result = cli("tracks", "show", str(path))
    assert result.exit_code == 0
    assert "dr_flow" in result.stdout and "ccw" in result.stdout and "56.83 m" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "track 'nope' not found; built-in tracks: apex_park"),
        (("missing.npy",), "track file not found: missing.npy"),
        (("circle:radius=50",), "missing width; valid keys for circle: radius, width"),
        (("hexagon:side=1",), "unknown track shape 'hexagon'"),
    ],
)
def test_show_errors_are_one_line(cli, args, message):
    result = cli("tracks", "show", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.output


def test_show_pickled_file(cli, tmp_path):
    path = tmp_path / "evil.npy"
    np.save(path, np.array([None], dtype=object), allow_pickle=True)
    result = cli("tracks", "show", str(path))
    assert result.exit_code == 1
    assert "apexrl never unpickles track files" in " ".join(result.stderr.split())


def test_plot_writes_png_and_refuses_to_overwrite(cli, tmp_path):
    out = tmp_path / "plots" / "oval.png"
    result = cli("tracks", "plot", "dr_oval", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert "optimal lap" in result.stdout and "(car)" in result.stdout
    before = out.stat().st_mtime_ns
    again = cli("tracks", "plot", "dr_oval", "--output", str(out))
    assert again.exit_code == 1
    assert "already exists; pass --force" in " ".join(again.stderr.split())
    assert out.stat().st_mtime_ns == before
    assert cli("tracks", "plot", "dr_oval", "-o", str(out), "--force").exit_code == 0


def test_plot_default_output_and_vehicle(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = cli("tracks", "plot", "stadium:straight=150,radius=40,width=10", "--no-raceline")
    assert result.exit_code == 0, result.output
    # Longer than 200 m: the motorcycle by default.
    assert "(motorcycle)" in result.stdout and "centre line" in result.stdout
    assert (
        (tmp_path / "stadium_straight150_radius40_width10.png").read_bytes().startswith(PNG_MAGIC)
    )
    result = cli("tracks", "plot", "dr_hairpins", "--vehicle", "pointmass")
    assert result.exit_code == 0, result.output
    assert "(pointmass)" in result.stdout and "racing line" in result.stdout
    assert (tmp_path / "dr_hairpins.png").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dr_hairpins.png",
        "stadium_straight150_radius40_width10.png",
    ]


def test_plot_usage_errors(cli):
    assert cli("tracks", "plot", "dr_oval", "--vehicle", "bicycle").exit_code == 2
    assert cli("tracks", "plot").exit_code == 2
    assert cli("tracks", "frobnicate").exit_code == 2


def test_plot_unknown_image_type(cli, tmp_path):
    result = cli("tracks", "plot", "dr_oval", "-o", str(tmp_path / "x.docx"), "--no-raceline")
    assert result.exit_code == 1
    assert "unknown image type '.docx'" in " ".join(result.stderr.split())


def test_download_then_use_by_name(cli, routes):
    result = cli("tracks", "download", "Local_Hairpins", "--base-url", routes)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "Local_Hairpins.npy" in text and "Local_Hairpins: 35." in text and "cw" in text
    shown = json.loads(cli("tracks", "show", "Local_Hairpins", "--json").stdout)
    assert shown["name"] == "Local_Hairpins" and shown["orientation"] == "cw"


def test_download_json(cli, routes):
    result = cli("tracks", "download", "Local_Hairpins", "--base-url", routes, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["orientation"] == "cw" and data["closed"] is True
    assert data["path"].endswith("tracks/Local_Hairpins.npy") and len(data["sha256"]) == 64
    forced = cli("tracks", "download", "Local_Hairpins", "--base-url", routes, "--force", "--json")
    assert json.loads(forced.stdout)["sha256"] == data["sha256"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("No_Such_World",), "no official DeepRacer track named 'No_Such_World'"),
        (("../secrets",), "invalid DeepRacer world name '../secrets'"),
        (("Local_Hairpins", "--sha256", "beef"), "--sha256 must be 64 hexadecimal characters"),
        (("Local_Hairpins", "--sha256", "0" * 64), "checksum mismatch"),
    ],
)
def test_download_errors(cli, routes, args, message):
    result = cli("tracks", "download", *args, "--base-url", routes)
    assert result.exit_code == 1
    assert message in " ".join(result.stderr.split())


def test_download_offline(cli):
    url = f"http://127.0.0.1:{_closed_port()}/"
    result = cli("tracks", "download", "Anything", "--base-url", url)
    assert result.exit_code == 1
    assert "could not reach" in result.stderr and "are you offline?" in result.stderr


def test_plot_track_without_line_or_lap(tmp_path):
    from apexrl.evaluate.track_plots import plot_track
    from apexrl.tracks.raceline import minimum_curvature_line

    track = builtin_track("dr_flow")
    bare = plot_track(track, tmp_path / "bare.png", title="just the track")
    assert bare.read_bytes().startswith(PNG_MAGIC)
    line = minimum_curvature_line(track)
    svg = plot_track(track, tmp_path / "line.svg", racing_line=line)
    assert svg.read_text().lstrip().startswith("<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare.png", "line.svg"]
