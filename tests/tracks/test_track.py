"""Facts about the Track model: geometry against closed forms, projection, validation."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.tracks import Track, TrackError


def circle(radius_m: float = 50.0, n: int = 200, cw: bool = False) -> np.ndarray:
    th = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    xy = np.c_[radius_m * np.cos(th), radius_m * np.sin(th)]
    return xy[::-1] if cw else xy


def test_circle_length_and_curvature_match_closed_form():
    track = Track.from_centerline(circle(50.0), 5.0, 5.0)
    assert track.length_m == pytest.approx(2 * np.pi * 50.0, rel=1e-6)
    np.testing.assert_allclose(track.curvature_1pm, 1 / 50.0, rtol=1e-4)
    assert track.orientation == "ccw"
    assert np.allclose(np.diff(track.s_m), track.ds_m)


def test_clockwise_circle_has_negative_curvature():
    track = Track.from_centerline(circle(30.0, cw=True), 2.0, 3.0)
    assert track.orientation == "cw"
    np.testing.assert_allclose(track.curvature_1pm, -1 / 30.0, rtol=1e-4)


def test_repeated_closing_point_and_duplicate_rows_are_dropped():
    xy = circle(20.0, 100)
    messy = np.vstack([xy[:10], xy[9:10], xy[10:], xy[:1]])  # duplicate row + closing point
    clean = Track.from_centerline(xy, 1.0, 1.0)
    track = Track.from_centerline(messy, 1.0, 1.0)
    assert track.waypoints_xy_m.shape == (100, 2)
    assert track.length_m == pytest.approx(clean.length_m, rel=1e-9)


def test_project_round_trips_frenet_coordinates():
    track = Track.from_centerline(circle(50.0), 5.0, 5.0)
    rng = np.random.default_rng(0)
    s = rng.uniform(0, track.length_m, 500)
    n = rng.uniform(-4.5, 4.5, 500)
    fp = track.project(track.to_world(s, n))
    ds = (fp.s_m - s + track.length_m / 2) % track.length_m - track.length_m / 2
    # The polyline chord sits inside the arc by at most R(1-cos(ds/2R)) ~ 1e-4 m here.
    np.testing.assert_allclose(ds, 0.0, atol=2e-3)
    np.testing.assert_allclose(fp.n_m, n, atol=2e-3)
    np.testing.assert_allclose(fp.w_left_m, 5.0)


def test_projection_local_search_is_robust_at_the_seam():
    track = Track.from_centerline(circle(50.0), 5.0, 5.0)
    pts = track.to_world(np.array([0.3, track.length_m - 0.3]), np.array([1.0, -1.0]))
    hints = np.array([track.length_m - 0.2, 0.1])  # last step was on the other side of the line
    fp = track.project(pts, s_hint_m=hints)
    np.testing.assert_allclose(fp.s_m, [0.3, track.length_m - 0.3], atol=0.01)
    # A stale hint far away falls back to the global search.
    far = track.project(pts, s_hint_m=np.array([150.0, 150.0]))
    np.testing.assert_allclose(far.s_m, fp.s_m, atol=1e-9)


def test_heading_error_is_wrapped_relative_to_track():
    track = Track.from_centerline(circle(50.0), 5.0, 5.0)
    pts = track.to_world(np.array([0.0]), 0.0)  # at angle 0 the track heads +y (pi/2)
    fp = track.project(pts, heading_rad=np.array([np.pi / 2 + 0.1]))
    assert fp.heading_error_rad[0] == pytest.approx(0.1, abs=1e-3)
    fp = track.project(pts, heading_rad=np.array([-np.pi / 2]))
    assert abs(fp.heading_error_rad[0]) == pytest.approx(np.pi, abs=1e-3)


def test_open_track_is_open():
    xy = np.c_[np.linspace(0, 100, 51), np.zeros(51)]
    track = Track.from_centerline(xy, 2.0, 2.0, closed=False)
    assert track.orientation == "open"
    assert track.length_m == pytest.approx(100.0)
    assert track.s_m[-1] == pytest.approx(100.0)
    np.testing.assert_allclose(track.curvature_1pm, 0.0, atol=1e-12)


def test_smoothing_removes_curvature_spikes_from_point_noise():
    rng = np.random.default_rng(1)
    noisy = circle(50.0, 300) + rng.normal(0.0, 0.01, (300, 2))
    raw = Track.from_centerline(noisy, 5, 5)
    smooth = Track.from_centerline(noisy, 5, 5, smoothing_m=2 * 2 * np.pi * 50 / 300)
    raw_err = np.abs(raw.curvature_1pm - 0.02).max()
    smooth_err = np.abs(smooth.curvature_1pm - 0.02).max()
    assert smooth_err < 0.25 * raw_err
    assert smooth_err < 0.004


def test_varying_widths_are_interpolated():
    xy = circle(50.0, 200)
    wl = np.linspace(2.0, 6.0, 200)
    track = Track.from_centerline(xy, wl, 3.0)
    assert track.w_left_m.min() >= 2.0 - 1e-9
    assert track.w_left_m.max() <= 6.0 + 1e-9
    assert track.summary()["width_min_m"] == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize(
    ("xy", "wl", "message"),
    [
        (np.array([[0.0, 0.0], [1.0, np.nan], [2, 0], [3, 1], [0, 2]]), 1.0, "NaN or inf"),
        (np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 1.0]]), 1.0, "at least 4 distinct"),
        (circle(10.0, 50), 0.0, "widths must be positive"),
        (circle(10.0, 50), -1.0, "widths must be positive"),
        (np.zeros((10, 3)), 1.0, "shape (N, 2)"),
        (np.array([["a", "b"]] * 5), 1.0, "must be numeric"),
    ],
)
def test_invalid_centerlines_are_rejected_with_a_reason(xy, wl, message):
    with pytest.raises(TrackError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Track.from_centerline(xy, wl, 1.0)


def test_self_intersecting_centerline_is_rejected():
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    figure_eight = np.c_[50 * np.sin(t), 25 * np.sin(2 * t)]
    with pytest.raises(TrackError, match="crosses itself"):
        Track.from_centerline(figure_eight, 2.0, 2.0)


def test_track_arrays_are_read_only():
    track = Track.from_centerline(circle(), 5, 5)
    with pytest.raises(ValueError):
        track.curvature_1pm[0] = 1.0


def test_smoothing_keeps_an_open_straight_exact():
    rng = np.random.default_rng(2)
    xy = np.c_[np.linspace(0, 20, 41), rng.normal(0, 0.005, 41)]
    track = Track.from_centerline(xy, 1.0, 1.0, closed=False, smoothing_m=0.5)
    assert track.length_m == pytest.approx(20.0, abs=0.01)
    assert track.xy_m[0, 0] == pytest.approx(0.0, abs=0.01)
    assert track.xy_m[-1, 0] == pytest.approx(20.0, abs=0.01)
