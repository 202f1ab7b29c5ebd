"""The DeepRacer lidar: 64 ranges around the car, raw or as the simulator's sector encodings.

Geometry (the DeepRacer simulator's car description): a planar scanner 0.111 m ahead of the rear
axle, mounted facing backwards, sweeping +-150 deg about its own axis in 64 evenly spaced rays
(end rays included). In the car frame (angles counter-clockwise from straight ahead) ray ``i``
points at

    ``alpha_i = 30 deg + i * 300 deg / 63``,  ``i = 0 .. 63``

so ray 0 looks 30 deg to the LEFT of ahead, the angle grows counter-clockwise (left, then round
the back: rays 31 and 32 straddle straight behind at 177.6 and 182.4 deg) and ray 63 looks 30 deg
to the RIGHT of ahead. The 60 deg cone straight ahead is blind: the scanner's gap faces the car's
nose. A box dead ahead is therefore only seen once it is close enough to cut the +-30 deg rays.

Ranges are metres from the scanner to the first object surface along each ray, clipped to
[0.15, 12] m; 12 m means nothing was hit (DeepRacer tracks have no walls). Objects are the
rectangles of :class:`~apexrl.sensors.objects.ObjectsState`, treated as tall enough to cross the
scan plane. The simulator adds Gaussian noise of 1 cm to each range; this scan is exact (add noise
with the environment's generator if wanted).

Observations per ``kind`` (all float32):

==========================  ===============================  ===================================
kind                        shape                            values
==========================  ===============================  ===================================
LIDAR                       ``(64,)``                        ranges in [0.15, 12] m
SECTOR_LIDAR                ``(8,)``                         sector ``j`` (rays ``8j .. 8j+7``) is
                                                             1.0 if any of its rays reads less
                                                             than 0.5 m, else 0.0
DISCRETIZED_SECTOR_LIDAR    ``(num_sectors * values,)``      one-hot distance bins per sector
==========================  ===============================  ===================================

Discretisation (DISCRETIZED_SECTOR_LIDAR, :class:`LidarConfig`): the 64 rays are split into
``num_sectors`` groups of ``64 / num_sectors`` consecutive rays; ``d`` is a sector's smallest
range. If ``d >= clipping_dist`` the sector's ``num_values_per_sector`` entries are all 0 (nothing
near); otherwise entry ``floor(d * num_values_per_sector / clipping_dist)`` is 1 (entry 0 = the
nearest band) and the others 0. Sectors follow the ray order, so sector 0 starts 30 deg left of
ahead. This is the simulator's encoding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from apexrl.sensors.objects import ObjectsState, as_poses

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

LIDAR_KINDS = ("LIDAR", "SECTOR_LIDAR", "DISCRETIZED_SECTOR_LIDAR")
"""The lidar sensors of a DeepRacer ``model_metadata.json``."""
NUM_RAYS = 64
"""Rays per scan."""
MIN_RANGE_M = 0.15
"""Shortest range reported; nearer hits read this."""
MAX_RANGE_M = 12.0
"""Longest range; rays that hit nothing read this."""
SCAN_HALF_SPAN_RAD = 2.61799
"""The scanner sweeps +-150 deg about its own axis (the simulator's setting)."""
LIDAR_FORWARD_M = 0.111
"""Scanner position ahead of the rear axle (the car's origin)."""
SECTOR_LIDAR_SECTORS = 8
"""SECTOR_LIDAR: number of sectors."""
SECTOR_LIDAR_CLIPPING_DIST_M = 0.5
"""SECTOR_LIDAR: a sector reads 1 when an object is nearer than this."""

PARALLEL_MIN_BATCH = 4096
"""From this batch size scans run on all threads (one scan costs about a microsecond)."""


def ray_angles_rad() -> np.ndarray:
    """``(64,)`` car-frame ray directions, radians counter-clockwise from straight ahead, in
    [0, 2 pi): 30 deg for ray 0 rising to 330 deg for ray 63."""
    laser = np.linspace(-SCAN_HALF_SPAN_RAD, SCAN_HALF_SPAN_RAD, NUM_RAYS)
    return np.mod(laser + math.pi, 2.0 * math.pi)  # the scanner is mounted facing backwards


@dataclass(frozen=True)
class LidarConfig:
    """``lidar_config`` of ``model_metadata.json`` (DISCRETIZED_SECTOR_LIDAR); defaults are the
    simulator's."""

    num_sectors: int = 8
    """Number of sectors; must divide 64."""
    num_values_per_sector: int = 8
    """Distance bins per sector, >= 1."""
    clipping_dist: float = 2.0
    """Metres, 0.15-12: objects at or beyond it leave a sector all zeros."""

    def __post_init__(self) -> None:
        for name in ("num_sectors", "num_values_per_sector"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"lidar_config {name} must be an integer, got {value!r}")
        if self.num_sectors < 1 or NUM_RAYS % self.num_sectors:
            raise ValueError(
                f"lidar_config num_sectors must divide {NUM_RAYS} (1, 2, 4, 8, 16, 32 or 64), "
                f"got {self.num_sectors}"
            )
        if self.num_values_per_sector < 1:
            raise ValueError(
                f"lidar_config num_values_per_sector must be >= 1, got {self.num_values_per_sector}"
            )
        dist = self.clipping_dist
        if isinstance(dist, bool) or not isinstance(dist, int | float | np.integer | np.floating):
            raise ValueError(f"lidar_config clipping_dist must be a number, got {dist!r}")
        if not MIN_RANGE_M <= dist <= MAX_RANGE_M:
            raise ValueError(
                f"lidar_config clipping_dist must be in [{MIN_RANGE_M}, {MAX_RANGE_M}] m, "
                f"got {dist}"
            )

    @classmethod
    def from_dict(cls, data: dict | None) -> LidarConfig:
        """Validate a ``lidar_config`` mapping; missing keys take the defaults, unknown keys are
        an error."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"lidar_config must be a JSON object, got {type(data).__name__}")
        known = {"num_sectors", "num_values_per_sector", "clipping_dist"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"lidar_config has unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        return cls(**data)


class Lidar:
    """Scans B cars at once and encodes the ranges as the DeepRacer ``kind`` asks.

    Args:
        kind: one of :data:`LIDAR_KINDS`.
        lidar_config: the ``model_metadata.json`` ``lidar_config`` (used by
            DISCRETIZED_SECTOR_LIDAR, validated whatever the kind); None = defaults.
        parallel: scan on all threads; default: batches of :data:`PARALLEL_MIN_BATCH` or more.
    """

    def __init__(
        self, kind: str = "LIDAR", lidar_config: dict | None = None, *, parallel: bool | None = None
    ) -> None:
        if kind not in LIDAR_KINDS:
            raise ValueError(f"lidar kind must be one of {', '.join(LIDAR_KINDS)}, got {kind!r}")
        self.kind = kind
        self.config = LidarConfig.from_dict(lidar_config)
        self.parallel = parallel
        self.ray_angles_rad = ray_angles_rad()
        """``(64,)`` car-frame ray directions (see :func:`ray_angles_rad`)."""
        self._ray_dirs = np.stack([np.cos(self.ray_angles_rad), np.sin(self.ray_angles_rad)], 1)
        if kind == "LIDAR":
            shape, low, high = (NUM_RAYS,), MIN_RANGE_M, MAX_RANGE_M
        elif kind == "SECTOR_LIDAR":
            shape, low, high = (SECTOR_LIDAR_SECTORS,), 0.0, 1.0
        else:
            n = self.config.num_sectors * self.config.num_values_per_sector
            shape, low, high = (n,), 0.0, 1.0
        self._shape = shape
        self.low = np.full(shape, low, dtype=np.float32)
        """Lower bound of every observation entry, float32 of ``observation_shape``."""
        self.high = np.full(shape, high, dtype=np.float32)
        """Upper bound of every observation entry."""
        self.low.setflags(write=False)
        self.high.setflags(write=False)

    @property
    def observation_shape(self) -> tuple[int]:
        return self._shape

    def ranges(
        self,
        x_m: np.ndarray,
        y_m: np.ndarray,
        yaw_rad: np.ndarray,
        objects: ObjectsState | None,
    ) -> np.ndarray:
        """Raw ranges ``(B, 64)`` float32 metres in [0.15, 12] for cars at ``x_m, y_m (B,)``
        (rear-axle centre, metres) heading ``yaw_rad (B,)``."""
        x, y, yaw = as_poses(x_m, y_m, yaw_rad)
        b = x.shape[0]
        out = np.empty((b, NUM_RAYS), dtype=np.float32)
        if objects is None or objects.num_slots == 0:
            out.fill(MAX_RANGE_M)
            return out
        if objects.batch_size != b:
            raise ValueError(
                f"objects are for {objects.batch_size} environments, the poses for {b}"
            )
        half = np.stack(
            [0.5 * np.asarray(objects.length_m, float), 0.5 * np.asarray(objects.width_m, float)],
            axis=1,
        )
        parallel = self.parallel if self.parallel is not None else b >= PARALLEL_MIN_BATCH
        kernel = _scan_parallel if parallel else _scan_serial
        kernel(
            x,
            y,
            yaw,
            self._ray_dirs,
            np.ascontiguousarray(objects.xy_m, dtype=np.float64),
            np.ascontiguousarray(objects.yaw_rad, dtype=np.float64),
            half,
            np.ascontiguousarray(objects.valid, dtype=bool),
            out,
        )
        return out

    def scan(
        self,
        x_m: np.ndarray,
        y_m: np.ndarray,
        yaw_rad: np.ndarray,
        objects: ObjectsState | None,
    ) -> np.ndarray:
        """The observation ``(B,) + observation_shape`` float32 for cars at ``x_m, y_m (B,)``
        (rear-axle centre, metres) heading ``yaw_rad (B,)``, seeing ``objects`` (or None)."""
        r = self.ranges(x_m, y_m, yaw_rad, objects)
        if self.kind == "LIDAR":
            return r
        b = r.shape[0]
        if self.kind == "SECTOR_LIDAR":
            nearest = r.reshape(b, SECTOR_LIDAR_SECTORS, -1).min(axis=2)
            return (nearest < SECTOR_LIDAR_CLIPPING_DIST_M).astype(np.float32)
        cfg = self.config
        nearest = r.reshape(b, cfg.num_sectors, -1).min(axis=2).astype(np.float64)
        n = cfg.num_values_per_sector
        band = np.minimum(np.floor(nearest * n / cfg.clipping_dist), n - 1).astype(np.int64)
        onehot = (band[:, :, None] == np.arange(n)) & (nearest < cfg.clipping_dist)[:, :, None]
        return onehot.reshape(b, -1).astype(np.float32)


@nb.njit(**_NUMBA)
def _scan_one(b, x, y, yaw, ray_dirs, obj_xy, obj_yaw, half, valid, out):
    cs, sn = math.cos(yaw[b]), math.sin(yaw[b])
    sx = x[b] + LIDAR_FORWARD_M * cs
    sy = y[b] + LIDAR_FORWARD_M * sn
    n_rays = ray_dirs.shape[0]
    best = np.full(n_rays, MAX_RANGE_M)
    for k in range(obj_xy.shape[1]):
        if not valid[b, k]:
            continue
        hl, hw = half[k, 0], half[k, 1]
        px = sx - obj_xy[b, k, 0]
        py = sy - obj_xy[b, k, 1]
        if math.sqrt(px * px + py * py) - math.sqrt(hl * hl + hw * hw) >= MAX_RANGE_M:
            continue  # out of range whichever way it faces
        co, so = math.cos(obj_yaw[b, k]), math.sin(obj_yaw[b, k])
        ox = co * px + so * py  # the scanner in the object's frame
        oy = -so * px + co * py
        rel = yaw[b] - obj_yaw[b, k]
        cr, sr = math.cos(rel), math.sin(rel)
        for i in range(n_rays):
            dx = cr * ray_dirs[i, 0] - sr * ray_dirs[i, 1]
            dy = sr * ray_dirs[i, 0] + cr * ray_dirs[i, 1]
            t0 = -np.inf
            t1 = np.inf
            if dx != 0.0:
                ta = (-hl - ox) / dx
                tb = (hl - ox) / dx
                t0 = max(t0, min(ta, tb))
                t1 = min(t1, max(ta, tb))
            elif abs(ox) > hl:
                continue
            if dy != 0.0:
                ta = (-hw - oy) / dy
                tb = (hw - oy) / dy
                t0 = max(t0, min(ta, tb))
                t1 = min(t1, max(ta, tb))
            elif abs(oy) > hw:
                continue
            if t1 >= t0 and t1 >= 0.0:
                t = max(t0, 0.0)  # 0 when the scanner is inside the rectangle
                if t < best[i]:
                    best[i] = t
    for i in range(n_rays):
        out[b, i] = min(max(best[i], MIN_RANGE_M), MAX_RANGE_M)


@nb.njit(parallel=False, **_NUMBA)
def _scan_serial(x, y, yaw, ray_dirs, obj_xy, obj_yaw, half, valid, out):
    for b in range(x.shape[0]):
        _scan_one(b, x, y, yaw, ray_dirs, obj_xy, obj_yaw, half, valid, out)


@nb.njit(parallel=True, **_NUMBA)
def _scan_parallel(x, y, yaw, ray_dirs, obj_xy, obj_yaw, half, valid, out):
    for b in nb.prange(x.shape[0]):
        _scan_one(b, x, y, yaw, ray_dirs, obj_xy, obj_yaw, half, valid, out)
