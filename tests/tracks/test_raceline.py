"""The minimum-curvature racing line: inside its margins, and faster than the centre line."""

from __future__ import annotations

import io

import numpy as np
import pytest
from scipy.optimize import lsq_linear

from apexrl.tracks import Track
from apexrl.tracks.lapsim import simulate_lap
from apexrl.tracks.library import builtin_tracks, load_track
from apexrl.tracks.raceline import (
    DEFAULT_MARGIN_FRACTION,
    curvature_affine,
    minimum_curvature_line,
)
from apexrl.vehicles.params import CarParams, MotorcycleParams


def envelope_for(track: Track):
    return MotorcycleParams().envelope() if track.length_m > 200 else CarParams().envelope()


@pytest.mark.parametrize("name", builtin_tracks())
def test_racing_line_is_faster_and_inside_the_margins_on_every_builtin(name):
    track = load_track(name)
    line = minimum_curvature_line(track)
    assert np.all(line.offsets_m <= track.w_left_m - line.margin_m + 1e-9)
    assert np.all(line.offsets_m >= -track.w_right_m + line.margin_m - 1e-9)
    env = envelope_for(track)
    centre = simulate_lap(track, env).lap_time_s
    racing = simulate_lap(line.line, env).lap_time_s
    assert racing < centre
    # The line as a track is the same closed loop, with widths measured to the same borders.
    assert line.line.closed
    np.testing.assert_allclose(line.w_left_m + line.w_right_m, track.width_m)


def test_racing_line_reduces_curvature_on_a_stadium():
    track = load_track("stadium:straight=400,radius=40,width=10")
    line = minimum_curvature_line(track)
    k_centre = np.sum(track.curvature_1pm**2) * track.ds_m
    k_line = np.sum(line.line.curvature_1pm**2) * line.line.ds_m
    assert k_line < 0.85 * k_centre
    # Wide-narrow-wide: the line uses the full allowed width on the bends.
    assert line.offsets_m.max() == pytest.approx(5.0 - line.margin_m.max(), abs=1e-3)


def test_explicit_margin_too_large_is_an_error():
    track = load_track("dr_oval")
    with pytest.raises(ValueError, match="more than half the narrowest width"):
        minimum_curvature_line(track, margin_m=0.6)
    with pytest.raises(ValueError, match="positive"):
        minimum_curvature_line(track, margin_m=-0.1)
    with pytest.raises(ValueError, match="iterations"):
        minimum_curvature_line(track, iterations=0)


def test_solver_output_never_reaches_stdout(capfd):
    minimum_curvature_line(load_track("straight:length=200,width=10"))
    out, _ = capfd.readouterr()
    assert out == ""


def ellipse_track(a_m: float, b_m: float, width_m: float, ds_m: float) -> Track:
    t = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)
    xy = np.c_[a_m * np.cos(t), b_m * np.sin(t)]
    return Track.from_centerline(xy, width_m / 2, width_m / 2, ds_m=ds_m, name="ellipse")


def test_one_qp_matches_an_independent_bounded_least_squares_solver():
    # One solve from the centre line is min ||A alpha + b||^2 inside the box; scipy's trust-region
    # reflective bounded least squares (nothing shared with OSQP's ADMM) must find the same optimum.
    track = ellipse_track(6.0, 3.0, 1.0, ds_m=0.25)
    line = minimum_curvature_line(track, iterations=1)
    assert line.qp_points == track.n_points  # solved on the track's own samples
    a, b, _ = curvature_affine(track.xy_m, track.normal_left, np.zeros(track.n_points), True)
    lower = -track.w_right_m + line.margin_m
    upper = track.w_left_m - line.margin_m
    ref = lsq_linear(
        a.toarray(), -b, bounds=(lower, upper), method="trf", lsq_solver="exact", tol=1e-14
    )
    assert ref.status > 0
    cost = float(np.sum((a @ line.offsets_m + b) ** 2))
    best = float(np.sum((a @ ref.x + b) ** 2))
    assert cost == pytest.approx(best, rel=1e-7)
    np.testing.assert_allclose(line.offsets_m, ref.x, atol=1e-5)
    on_margin = (ref.x < lower + 1e-6) | (ref.x > upper - 1e-6)
    assert (
        0 < on_margin.sum() < track.n_points
    )  # the margins bind (at the apexes) but not everywhere


def test_frozen_derivatives_lean_to_the_inside_of_a_circle():
    # The documented behaviour of the linearisation (module docstring): on a circle every
    # re-linearisation rewards a smaller radius, so the line ends on the inner margin.
    track = load_track("circle:radius=50,width=10")
    line = minimum_curvature_line(track)
    np.testing.assert_allclose(line.offsets_m, 5.0 - line.margin_m, atol=1e-6)


def test_default_margin_scales_with_the_width():
    for name in ("dr_oval", "apex_park"):
        track = load_track(name)
        line = minimum_curvature_line(track)
        np.testing.assert_allclose(line.margin_m, DEFAULT_MARGIN_FRACTION * track.width_m)
    assert np.all(minimum_curvature_line(track, margin_m=2.0).margin_m == 2.0)


def test_open_track_line_stays_inside_and_straightens_an_s_bend():
    s = np.linspace(0.0, 200.0, 801)
    xy = np.c_[s, 6.0 * np.sin(2 * np.pi * s / 100.0)]
    track = Track.from_centerline(xy, 5.0, 5.0, closed=False, name="s-bend")
    line = minimum_curvature_line(track)
    assert not line.line.closed
    assert np.all(np.abs(line.offsets_m) <= 5.0 - line.margin_m + 1e-9)
    inner = slice(20, -20)  # away from the free ends
    k_centre = np.sum(track.curvature_1pm[inner] ** 2)
    k_line = np.sum(line.line.curvature_1pm[inner] ** 2)
    assert k_line < 0.5 * k_centre
    env = MotorcycleParams().envelope()
    assert simulate_lap(line.line, env).lap_time_s < simulate_lap(track, env).lap_time_s


def test_csv_text_holds_the_line_and_its_widths():
    track = load_track("dr_flow")
    line = minimum_curvature_line(track)
    text = line.to_csv_text()
    assert text.splitlines()[0] == "x_m,y_m,w_right_m,w_left_m"
    table = np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1)
    assert table.shape == (track.n_points, 4)
    np.testing.assert_allclose(table[:, :2], line.xy_m, atol=5e-5)
    np.testing.assert_allclose(table[:, 2], track.w_right_m + line.offsets_m, atol=5e-5)
    np.testing.assert_allclose(table[:, 3], track.w_left_m - line.offsets_m, atol=5e-5)
