"""The batched simulator: B vehicles on one Track, one numba call per step for all of them."""

from apexrl.sim.batch import (
    DEFAULT_DT_S,
    DEFAULT_SUBSTEPS,
    PARALLEL_MIN_BATCH,
    BatchSim,
    CrashCause,
    Telemetry,
)

__all__ = [
    "DEFAULT_DT_S",
    "DEFAULT_SUBSTEPS",
    "PARALLEL_MIN_BATCH",
    "BatchSim",
    "CrashCause",
    "Telemetry",
]
