"""The minimum-curvature racing line: inside its margins, and faster than the centre line."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.tracks import Track
from apexrl.tracks.lapsim import simulate_lap
from apexrl.tracks.library import builtin_tracks, load_track
from apexrl.tracks.raceline import minimum_curvature_line
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
