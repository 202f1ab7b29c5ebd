from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from apexrl.tracks.track import Track

FIXTURES = Path(__file__).parent / "fixtures"
RADIUS_M = 3.0
N_WAYPOINTS = 120


def circle_track(w_left_m: float = 0.5335, w_right_m: float = 0.5335) -> Track:
    """A counter-clockwise 3 m circle starting at (3, 0), 120 waypoints, width 1.067 m."""
    theta = 2 * math.pi * np.arange(N_WAYPOINTS) / N_WAYPOINTS
    xy = RADIUS_M * np.column_stack([np.cos(theta), np.sin(theta)])
    return Track.from_centerline(xy, w_left_m, w_right_m, closed=True, name="circle3")


@pytest.fixture(scope="session")
def circle() -> Track:
    return circle_track()


@pytest.fixture
def fixture_path():
    def path(name: str) -> Path:
        return FIXTURES / f"{name}.py"

    return path
