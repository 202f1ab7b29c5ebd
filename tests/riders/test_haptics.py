"""The haptic mapping: cue -> (lateral command, urgency) and its inverse."""

from __future__ import annotations

import numpy as np
import pytest

from apexrl.riders import haptics as hp


@pytest.mark.parametrize(
    ("cue", "lateral", "urgency"),
    [
        ((1.0, 0.0, 150.0), 1.0, 0.0),  # full left, neutral band: lateral only
        ((0.0, 0.5, 150.0), -0.5, 0.0),  # half right
        ((1.0, 1.0, 300.0), 0.0, -1.0),  # both sides at the top frequency: brake, no direction
        ((1.0, 1.0, 50.0), 0.0, 1.0),  # both sides at the bottom: full throttle
        ((0.6, 0.2, 100.0), 0.4, 0.6 * 25.0 / 75.0),  # urgency scaled by the intensity
        ((0.8, 0.0, 237.5), 0.8, -0.8 * 0.5),  # halfway up the brake band
        ((0.5, 0.5, 125.0), 0.0, 0.0),  # band edges are neutral
        ((0.5, 0.5, 175.0), 0.0, 0.0),
        ((2.0, -1.0, 1000.0), 1.0, -1.0),  # out of range values are clipped first
    ],
)
def test_decode_known_cues(cue, lateral, urgency):
    lat, urg = hp.decode_cue(np.array([cue]))
    assert lat[0] == pytest.approx(lateral, abs=1e-12)
    assert urg[0] == pytest.approx(urgency, abs=1e-12)
    assert hp.decode_one(*cue) == pytest.approx((lateral, urgency), abs=1e-12)


def test_encode_is_the_weakest_cue_that_decodes_back():
    grid = np.linspace(-1.0, 1.0, 21)
    lat, urg = (a.ravel() for a in np.meshgrid(grid, grid))
    cues = hp.encode_cue(lat, urg)
    back_lat, back_urg = hp.decode_cue(cues)
    np.testing.assert_allclose(back_lat, lat, atol=1e-12)
    np.testing.assert_allclose(back_urg, urg, atol=1e-12)
    # The weakest such cue: its intensity is the larger of the two demands, no more.
    np.testing.assert_allclose(cues[:, :2].max(axis=1), np.maximum(abs(lat), abs(urg)), atol=1e-12)
    assert (cues[:, 2] >= hp.FREQ_MIN_HZ).all() and (cues[:, 2] <= hp.FREQ_MAX_HZ).all()


def test_no_demand_is_no_vibration():
    np.testing.assert_array_equal(hp.encode_cue(np.zeros(1), np.zeros(1)), [[0.0, 0.0, 150.0]])


def test_frequency_unit_mapping_round_trips():
    unit = np.array([0.0, 0.3, 1.0])
    np.testing.assert_allclose(hp.frequency_from_unit(unit), [50.0, 125.0, 300.0])
    np.testing.assert_allclose(hp.frequency_to_unit(hp.frequency_from_unit(unit)), unit)


def test_decode_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"shape \(B, 3\)"):
        hp.decode_cue(np.zeros((4, 2)))
