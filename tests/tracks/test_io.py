from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from apexrl.tracks.io import (
    load_csv,
    load_deepracer_npy,
    load_json,
    load_track_file,
    save_csv,
    save_deepracer_npy,
    save_json,
    save_track,
)
from apexrl.tracks.library import builtin_track, load_track
from apexrl.tracks.track import Track, TrackError


def _circle_xy(radius_m: float, n: int, clockwise: bool = False) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    if clockwise:
        t = -t
    return np.column_stack([radius_m * np.cos(t), radius_m * np.sin(t)])


def _route_rows(center: np.ndarray, inner_offset_m: float, outer_offset_m: float) -> np.ndarray:
    """DeepRacer rows for a loop around the origin: inner points toward the origin."""
    unit = center / np.linalg.norm(center, axis=1, keepdims=True)
    rows = np.hstack(
        [center, center - inner_offset_m * unit, center + outer_offset_m * unit]
    ).astype(np.float64)
    return np.vstack([rows, rows[:1]])


# ---------------------------------------------------------------------- DeepRacer .npy
@pytest.mark.parametrize("clockwise", [False, True])
def test_npy_inner_side_is_detected_from_the_driving_direction(tmp_path, clockwise):
    # Inner (toward the loop centre) 0.2 m, outer 0.6 m: inside is left on ccw, right on cw.
    path = tmp_path / "loop.npy"
    np.save(path, _route_rows(_circle_xy(3.0, 120, clockwise), 0.2, 0.6))
    track = load_deepracer_npy(path)
    assert track.closed
    assert track.orientation == ("cw" if clockwise else "ccw")
    inside, outside = (
        (track.w_right_m, track.w_left_m) if clockwise else (track.w_left_m, track.w_right_m)
    )
    np.testing.assert_allclose(inside, 0.2, rtol=1e-6)
    np.testing.assert_allclose(outside, 0.6, rtol=1e-6)
    assert track.name == "loop"
    assert track.source == str(path)


@pytest.mark.parametrize("clockwise", [False, True])
def test_npy_save_load_keeps_asymmetric_widths_and_direction(tmp_path, clockwise):
    original = Track.from_centerline(_circle_xy(5.0, 400, clockwise), 0.3, 0.7, name="asym")
    path = save_deepracer_npy(original, tmp_path / "asym.npy")
    rows = np.load(path, allow_pickle=False)
    assert rows.shape == (original.n_points + 1, 6) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows[0], rows[-1])
    loaded = load_deepracer_npy(path)
    assert loaded.orientation == original.orientation
    np.testing.assert_allclose(loaded.w_left_m, 0.3, rtol=1e-6)
    np.testing.assert_allclose(loaded.w_right_m, 0.7, rtol=1e-6)
    # Smoothing over one point spacing shrinks a loop by about spacing^2 / (2 R).
    assert loaded.length_m == pytest.approx(original.length_m, rel=1e-3)


def test_npy_builtin_round_trip_keeps_geometry(tmp_path):
    original = builtin_track("dr_hairpins")
    loaded = load_deepracer_npy(save_deepracer_npy(original, tmp_path / "hairpins.npy"))
    assert loaded.orientation == "cw"
    assert loaded.length_m == pytest.approx(original.length_m, rel=2e-3)
    np.testing.assert_allclose(loaded.width_m, 1.067, rtol=1e-6)
    # Smoothing over one point spacing must not flatten the 0.85 m hairpins noticeably.
    assert 1 / np.abs(loaded.curvature_1pm).max() == pytest.approx(0.85, rel=0.05)


def test_npy_duplicate_rows_are_dropped(tmp_path):
    rows = _route_rows(_circle_xy(3.0, 80), 0.5, 0.5)
    clean = tmp_path / "clean.npy"
    dup = tmp_path / "dup.npy"
    np.save(clean, rows)
    np.save(dup, np.insert(rows, 10, rows[10], axis=0))
    a, b = load_deepracer_npy(clean), load_deepracer_npy(dup)
    assert b.waypoints_xy_m.shape == a.waypoints_xy_m.shape == (80, 2)
    assert b.length_m == pytest.approx(a.length_m, rel=1e-12)


def test_npy_without_repeated_first_row_is_open(tmp_path):
    x = np.linspace(0.0, 20.0, 41)
    rows = np.column_stack([x, 0 * x, x, 0 * x + 0.5, x, 0 * x - 0.5])
    path = tmp_path / "straight.npy"
    np.save(path, rows)
    track = load_deepracer_npy(path)
    assert not track.closed and track.orientation == "open"
    assert track.length_m == pytest.approx(20.0, rel=1e-9)


def test_npy_open_track_round_trip(tmp_path):
    original = load_track("straight:length=200,width=10")
    loaded = load_deepracer_npy(save_deepracer_npy(original, tmp_path / "s.npy"))
    assert not loaded.closed
    assert loaded.length_m == pytest.approx(200.0, rel=1e-9)


def _write(path, array):
    np.save(path, array)
    return path


def test_npy_nan_is_rejected_with_the_file_name(tmp_path):
    rows = _route_rows(_circle_xy(3.0, 40), 0.5, 0.5)
    rows[7, 3] = np.nan
    path = _write(tmp_path / "nan.npy", rows)
    with pytest.raises(
        TrackError, match=r"nan\.npy: track data contains NaN or inf \(first bad row 7\)"
    ):
        load_deepracer_npy(path)


def test_npy_inf_is_rejected(tmp_path):
    rows = _route_rows(_circle_xy(3.0, 40), 0.5, 0.5)
    rows[3, 0] = np.inf
    with pytest.raises(TrackError, match=r"inf\.npy: track data contains NaN or inf"):
        load_deepracer_npy(_write(tmp_path / "inf.npy", rows))


def test_npy_too_few_points(tmp_path):
    rows = _route_rows(_circle_xy(3.0, 3), 0.5, 0.5)
    with pytest.raises(TrackError, match=r"few\.npy: a track needs at least 4 distinct"):
        load_deepracer_npy(_write(tmp_path / "few.npy", rows))


def test_npy_non_positive_width(tmp_path):
    rows = _route_rows(_circle_xy(3.0, 40), 0.5, 0.5)
    rows[5, 2:4] = rows[5, 0:2]  # inner point on the centre line: zero width
    with pytest.raises(TrackError, match=r"zero\.npy: track widths must be positive"):
        load_deepracer_npy(_write(tmp_path / "zero.npy", rows))


def test_npy_self_intersecting_centre_line(tmp_path):
    t = np.linspace(0.0, 2 * np.pi, 200, endpoint=False)
    center = np.column_stack([10 * np.sin(t), 10 * np.sin(t) * np.cos(t)])  # figure of eight
    rows = np.hstack([center, center + [0.0, 0.4], center - [0.0, 0.4]])
    with pytest.raises(TrackError, match=r"eight\.npy: .*centre line crosses itself"):
        load_deepracer_npy(_write(tmp_path / "eight.npy", np.vstack([rows, rows[:1]])))


@pytest.mark.parametrize("shape", [(50, 4), (50,), (5, 6, 2)])
def test_npy_wrong_shape(tmp_path, shape):
    with pytest.raises(TrackError, match=r"must have shape \(N, 6\)"):
        load_deepracer_npy(_write(tmp_path / "shape.npy", np.ones(shape)))


@pytest.mark.parametrize("array", [np.ones((10, 6), dtype=complex), np.full((10, 6), "a")])
def test_npy_wrong_dtype(tmp_path, array):
    with pytest.raises(TrackError, match="must hold real numbers, got dtype"):
        load_deepracer_npy(_write(tmp_path / "dtype.npy", array))


def test_npy_object_array_is_never_unpickled(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"x": 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(
        TrackError, match=r"objects\.npy: contains pickled data; apexrl never unpickles track files"
    ):
        load_deepracer_npy(path)


def test_npy_pickle_file_is_never_unpickled(tmp_path):
    path = tmp_path / "pickled.npy"
    path.write_bytes(pickle.dumps([[0.0] * 6] * 10))
    with pytest.raises(
        TrackError, match="pickled\\.npy: contains pickled data; apexrl never unpickles"
    ):
        load_deepracer_npy(path)


def test_npy_empty_file(tmp_path):
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    with pytest.raises(TrackError, match=r"empty\.npy: the file is empty"):
        load_deepracer_npy(path)


def test_npy_not_numpy(tmp_path):
    path = tmp_path / "text.npy"
    path.write_text("hello")
    with pytest.raises(TrackError, match="not a NumPy .npy file"):
        load_deepracer_npy(path)


def test_npy_truncated(tmp_path):
    path = _write(tmp_path / "cut.npy", _route_rows(_circle_xy(3.0, 40), 0.5, 0.5))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TrackError, match=r"cut\.npy: truncated or corrupt \.npy file"):
        load_deepracer_npy(path)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.npy"
    with pytest.raises(FileNotFoundError, match=f"track file not found: {path}"):
        load_deepracer_npy(path)
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        load_track_file(tmp_path / "nowhere.csv")


# ---------------------------------------------------------------------- CSV
def _csv_text(header: str, xy: np.ndarray, w_right: float, w_left: float) -> str:
    lines = [header] + [f"{x:.6f},{y:.6f},{w_right},{w_left}" for x, y in xy]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "header",
    [
        "# x_m,y_m,w_tr_right_m,w_tr_left_m",
        "x_m,y_m,w_right_m,w_left_m",
        "#x_m, y_m, w_right_m, w_left_m",
    ],
)
def test_csv_database_convention(tmp_path, header):
    path = tmp_path / "circuit.csv"
    path.write_text(_csv_text(header, _circle_xy(100.0, 300), 4.0, 6.0))
    track = load_csv(path)
    assert track.closed and track.orientation == "ccw"
    assert track.name == "circuit"
    np.testing.assert_allclose(track.w_right_m, 4.0)
    np.testing.assert_allclose(track.w_left_m, 6.0)
    assert track.length_m == pytest.approx(2 * np.pi * 100.0, rel=1e-4)


def test_csv_columns_in_any_order(tmp_path):
    xy = _circle_xy(50.0, 200)
    path = tmp_path / "swapped.csv"
    path.write_text("w_left_m,w_right_m,y_m,x_m\n" + "".join(f"3,5,{y},{x}\n" for x, y in xy))
    track = load_csv(path)
    np.testing.assert_allclose(track.w_left_m, 3.0)
    np.testing.assert_allclose(track.w_right_m, 5.0)
    assert track.orientation == "ccw"


def test_csv_open(tmp_path):
    path = tmp_path / "line.csv"
    x = np.linspace(0, 100, 51)
    path.write_text(_csv_text("x_m,y_m,w_right_m,w_left_m", np.column_stack([x, 0 * x]), 5, 5))
    assert load_csv(path, closed=False).length_m == pytest.approx(100.0, rel=1e-9)


def test_csv_round_trip(tmp_path):
    original = builtin_track("dr_flow")
    loaded = load_csv(save_csv(original, tmp_path / "flow.csv"))
    assert loaded.length_m == pytest.approx(original.length_m, rel=1e-6)
    assert loaded.orientation == original.orientation
    np.testing.assert_allclose(loaded.w_left_m, original.w_left_m, atol=1e-6)


def test_csv_wrong_header(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("x,y,wr,wl\n0,0,1,1\n")
    with pytest.raises(
        TrackError, match=r"bad\.csv, line 1: expected the header x_m,y_m,w_right_m,w_left_m"
    ):
        load_csv(path)


def test_csv_wrong_column_count(tmp_path):
    path = tmp_path / "count.csv"
    path.write_text("x_m,y_m,w_right_m,w_left_m\n0,0,1,1\n1,0,1\n")
    with pytest.raises(TrackError, match=r"count\.csv, line 3: expected 4 values, got 3"):
        load_csv(path)


def test_csv_non_numeric(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("x_m,y_m,w_right_m,w_left_m\n0,0,1,1\n\n1,zero,1,1\n")
    with pytest.raises(TrackError, match=r"text\.csv, line 4: not a number in '1,zero,1,1'"):
        load_csv(path)


def test_csv_empty(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("\n")
    with pytest.raises(TrackError, match=r"empty\.csv: the file is empty"):
        load_csv(path)


def test_csv_negative_width_names_the_file(tmp_path):
    path = tmp_path / "neg.csv"
    path.write_text(_csv_text("x_m,y_m,w_right_m,w_left_m", _circle_xy(50.0, 100), -1.0, 5.0))
    with pytest.raises(TrackError, match=r"neg\.csv: track widths must be positive"):
        load_csv(path)


# ---------------------------------------------------------------------- apexrl JSON
@pytest.mark.parametrize(
    "spec", ["apex_park", "dr_hairpins", "straight:length=200,width=10", "random:seed=5"]
)
def test_json_round_trip_is_exact(tmp_path, spec):
    original = load_track(spec)
    loaded = load_json(save_json(original, tmp_path / "t.json"))
    assert loaded.length_m == pytest.approx(original.length_m, rel=1e-6)
    assert loaded.orientation == original.orientation
    assert loaded.closed == original.closed
    assert loaded.name == original.name
    assert loaded.n_points == original.n_points
    np.testing.assert_allclose(loaded.xy_m, original.xy_m, atol=1e-6 * original.length_m)
    np.testing.assert_allclose(loaded.w_left_m, original.w_left_m, rtol=1e-9)
    np.testing.assert_allclose(loaded.w_right_m, original.w_right_m, rtol=1e-9)


def test_json_document_layout(tmp_path):
    doc = json.loads(save_json(builtin_track("dr_oval"), tmp_path / "o.json").read_text())
    assert doc["format"] == "apexrl-track" and doc["version"] == 1
    assert doc["name"] == "dr_oval" and doc["closed"] is True
    assert len(doc["x_m"]) == len(doc["y_m"]) == len(doc["w_left_m"]) == len(doc["w_right_m"])


def _json_doc(**changes):
    doc = {
        "format": "apexrl-track",
        "version": 1,
        "name": "sq",
        "closed": True,
        "x_m": [0.0, 10.0, 10.0, 0.0],
        "y_m": [0.0, 0.0, 10.0, 10.0],
        "w_left_m": [1.0] * 4,
        "w_right_m": [1.0] * 4,
    }
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format": "other"}, 'not an apexrl track \\(expected "format": "apexrl-track"\\)'),
        ({"version": 9}, "format version 9 is not supported"),
        ({"colour": "red"}, "invalid apexrl track: colour: Extra inputs are not permitted"),
        ({"x_m": [0.0, 1.0]}, "must have the same length"),
        ({"closed": "yes"}, "invalid apexrl track: closed"),
    ],
)
def test_json_invalid_documents(tmp_path, changes, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_json_doc(**changes)))
    with pytest.raises(TrackError, match=message):
        load_json(path)


def test_json_not_json(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(TrackError, match=r"broken\.json: not valid JSON"):
        load_json(path)


# ---------------------------------------------------------------------- dispatch
@pytest.mark.parametrize("suffix", [".npy", ".csv", ".json", ".JSON"])
def test_save_and_load_dispatch_on_suffix(tmp_path, suffix):
    original = builtin_track("dr_oval")
    loaded = load_track_file(save_track(original, tmp_path / f"oval{suffix}"))
    assert loaded.length_m == pytest.approx(original.length_m, rel=2e-3)
    assert loaded.closed and loaded.orientation == "ccw"


def test_unknown_suffix_lists_the_supported_ones(tmp_path):
    path = tmp_path / "track.txt"
    path.write_text("x")
    with pytest.raises(
        ValueError, match=r"unknown track file type '\.txt'; supported: \.npy .*\.csv .*\.json"
    ):
        load_track_file(path)
    with pytest.raises(ValueError, match="supported: .npy"):
        save_track(builtin_track("dr_oval"), tmp_path / "track.gpx")


def test_saving_is_atomic_and_leaves_no_temp_files(tmp_path):
    track = builtin_track("dr_oval")
    for suffix in (".npy", ".csv", ".json"):
        save_track(track, tmp_path / f"t{suffix}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.json", "t.npy"]
