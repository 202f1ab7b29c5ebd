"""Shared fixtures for the data tests: the telemetry fixture files and their ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
RACECHRONO = FIXTURES / "racechrono_v3.csv"
AIM = FIXTURES / "aim.csv"
# Ground truth of the fixtures (tests/data/make_fixtures.py).
ORIGIN = "46.20316,6.14571,30"
OFFSET_AMPLITUDE_M = 2.5
OFFSET_WAVELENGTH_M = 600.0


def true_offset_m(s_m: np.ndarray) -> np.ndarray:
    return OFFSET_AMPLITUDE_M * np.sin(2 * np.pi * np.asarray(s_m) / OFFSET_WAVELENGTH_M)


@pytest.fixture(scope="session")
def imported_racechrono():
    """The RaceChrono fixture imported on apex_park with its exact origin (shared: ~1 s)."""
    from apexrl.data.telemetry import import_log

    return import_log(RACECHRONO, "apex_park", origin=ORIGIN)


@pytest.fixture(scope="session")
def imported_aim():
    """The AiM fixture imported on apex_park with a FITTED alignment."""
    from apexrl.data.telemetry import import_log

    return import_log(AIM, "apex_park", format="aim")
