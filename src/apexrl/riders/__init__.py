"""Simulated riders, the per-track profiles they ride by, their response to haptic cues, and the
oracle coach."""

from apexrl.riders.oracle import OracleCoach
from apexrl.riders.profile import TrackProfile, track_profile
from apexrl.riders.rider import (
    PRESET_RANGES,
    RIDER_PRESETS,
    RiderBatch,
    RiderParams,
    nominal_rider,
    sample_rider,
)

__all__ = [
    "PRESET_RANGES",
    "RIDER_PRESETS",
    "OracleCoach",
    "RiderBatch",
    "RiderParams",
    "TrackProfile",
    "nominal_rider",
    "sample_rider",
    "track_profile",
]
