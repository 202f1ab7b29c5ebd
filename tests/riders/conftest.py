"""Small closed tracks whose rider profiles build in about a second."""

from __future__ import annotations

import pytest

from apexrl.riders import track_profile
from apexrl.tracks.library import load_track

OVAL = "oval:a=300,b=150,width=12"
CIRCLE = "circle:radius=50,width=12"


@pytest.fixture(scope="session")
def oval_profile():
    return track_profile(load_track(OVAL))


@pytest.fixture(scope="session")
def circle_profile():
    return track_profile(load_track(CIRCLE))
