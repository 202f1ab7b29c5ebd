"""Throughput of the DeepRacer sensors (camera frames/s, lidar scans/s) against NumPy references.

    python benchmarks/bench_sensors.py [--json] [--quick] [--threads N]

Cameras: a FRONT_FACING_CAMERA and a STEREO_CAMERAS rig on ``dr_flow`` render B frames (B = 1,
64, 1024) of cars spread along the centre line, without objects and with six boxes a few metres
ahead of each car (object avoidance). The kernel is the rig's default for the batch size (serial
below ``camera.PARALLEL_MIN_BATCH``, threaded above). The lidar scans B = 1, 64, 1024, 16384 cars
with six boxes each.

References, measured in the same run because these machines are shared and noisy:
- camera: the same per-pixel floor lookup (rotate the precomputed floor samples by the car's yaw,
  index the texture, average the samples of each pixel) written in vectorised NumPy, one frame
  per call, floor only. The run fails if it does not reproduce the kernel's frame exactly.
- lidar: the same slab test in vectorised NumPy over (rays x objects) for one car per call.
``ratio`` = kernel throughput / reference throughput. Every configuration is warmed up (numba
compiles on first use), then timed as the best of several repeats.

Output: one row per configuration, ``{"sensor", "batch", "objects", "threads", "per_s",
"reference_per_s", "ratio"}``; ``--json`` prints them as a JSON list.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numba
import numpy as np

from apexrl.sensors import lidar as lid
from apexrl.sensors.camera import CameraRig
from apexrl.sensors.lidar import Lidar
from apexrl.sensors.objects import ObjectsState
from apexrl.sensors.raster import GREY_SKY
from apexrl.tracks.library import load_track

CAMERA_BATCHES = (1, 64, 1024)
LIDAR_BATCHES = (1, 64, 1024, 16384)
N_OBJECTS = 6
REPEATS = 5


def poses(track, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cars on the centre line, evenly spread, heading along the track; and their s."""
    s = np.linspace(0.0, track.length_m, batch, endpoint=False)
    xy = track.to_world(s)
    return xy[:, 0].copy(), xy[:, 1].copy(), track.heading_at(s), s


def boxes_ahead(track, s_m: np.ndarray) -> ObjectsState:
    """Six 0.3 m boxes per car, 1-6 m ahead, alternating lanes."""
    ahead = s_m[:, None] + np.arange(1, N_OBJECTS + 1)[None, :]
    lane = np.where(np.arange(N_OBJECTS) % 2 == 0, 0.25, -0.25)[None, :]
    xy = track.to_world(ahead.reshape(-1), np.broadcast_to(lane, ahead.shape).reshape(-1))
    b = s_m.shape[0]
    return ObjectsState(
        xy_m=xy.reshape(b, N_OBJECTS, 2),
        yaw_rad=track.heading_at(ahead.reshape(-1)).reshape(b, N_OBJECTS),
        length_m=np.full(N_OBJECTS, 0.3),
        width_m=np.full(N_OBJECTS, 0.3),
        is_bot=np.zeros(N_OBJECTS, bool),
        valid=np.ones((b, N_OBJECTS), bool),
    )


def best_rate(items: int, budget_s: float, fn, *args) -> float:
    """Best items/s of ``fn(*args)`` over REPEATS blocks of calls filling about ``budget_s``."""
    fn(*args)
    fn(*args)
    t0 = time.perf_counter()
    fn(*args)
    once = max(time.perf_counter() - t0, 1e-7)
    calls = max(1, int(budget_s / REPEATS / once))
    best = math.inf
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn(*args)
        best = min(best, (time.perf_counter() - t0) / calls)
    return items / best


def numpy_floor_frame(rig: CameraRig, x: float, y: float, yaw: float) -> np.ndarray:
    """The rig's floor render of one car in vectorised NumPy (``(H, W)`` or ``(H, W, C)``)."""
    tex = rig.texture
    start = rig._sample_start  # the kernel's own precomputed samples (texel units)
    counts = np.diff(start)
    c, s = math.cos(yaw), math.sin(yaw)
    frames = []
    for pts in rig._samples:
        fx, fy = pts[:, 0], pts[:, 1]
        sky = np.isnan(fx)
        u = (x - tex.x0_m) / tex.texel_m + c * fx - s * fy
        v = (y - tex.y0_m) / tex.texel_m + s * fx + c * fy
        ny, nx = tex.grey.shape
        inside = ~sky & (u >= 0) & (v >= 0) & (u < nx) & (v < ny)
        grey = np.full(u.shape, tex.outside_grey, dtype=np.int64)
        grey[sky] = GREY_SKY
        grey[inside] = tex.grey[v[inside].astype(np.int64), u[inside].astype(np.int64)]
        acc = np.add.reduceat(grey, start[:-1])  # pixels without samples: all sky
        mean = np.where(counts > 0, (acc + counts // 2) // np.maximum(counts, 1), GREY_SKY)
        frames.append(mean.astype(np.uint8))
    img = np.stack(frames, axis=1).reshape((rig.height_px, rig.width_px, len(frames)))
    return img[:, :, 0] if len(frames) == 1 else img


def numpy_scan(x: float, y: float, yaw: float, objects: ObjectsState, env: int) -> np.ndarray:
    """One car's raw ranges by the slab test in vectorised NumPy over (rays, objects)."""
    sx = x + lid.LIDAR_FORWARD_M * math.cos(yaw)
    sy = y + lid.LIDAR_FORWARD_M * math.sin(yaw)
    a = lid.ray_angles_rad()[:, None] + yaw - objects.yaw_rad[env][None, :]
    co, so = np.cos(objects.yaw_rad[env]), np.sin(objects.yaw_rad[env])
    px, py = sx - objects.xy_m[env, :, 0], sy - objects.xy_m[env, :, 1]
    ox, oy = co * px + so * py, -so * px + co * py
    dx, dy = np.cos(a), np.sin(a)
    hl, hw = 0.5 * objects.length_m, 0.5 * objects.width_m
    with np.errstate(divide="ignore", invalid="ignore"):
        tx = np.stack([(-hl - ox) / dx, (hl - ox) / dx])
        ty = np.stack([(-hw - oy) / dy, (hw - oy) / dy])
    t0 = np.maximum(tx.min(0), ty.min(0))
    t1 = np.minimum(tx.max(0), ty.max(0))
    hit = (t1 >= t0) & (t1 >= 0) & objects.valid[env][None, :]
    t = np.where(hit, np.maximum(t0, 0.0), np.inf).min(axis=1)
    return np.clip(t, lid.MIN_RANGE_M, lid.MAX_RANGE_M).astype(np.float32)


def bench_cameras(track, budget_s: float) -> list[dict]:
    rows = []
    for kind in ("FRONT_FACING_CAMERA", "STEREO_CAMERAS"):
        rig = CameraRig(track, (kind,))
        x, y, yaw, _ = poses(track, 1)
        kernel_frame = rig.render(x, y, yaw)[0]
        if not np.array_equal(numpy_floor_frame(rig, x[0], y[0], yaw[0]), kernel_frame):
            raise SystemExit(f"{kind}: the NumPy reference does not reproduce the kernel's frame")
        ref = best_rate(1, budget_s, numpy_floor_frame, rig, x[0], y[0], yaw[0])
        for batch in CAMERA_BATCHES:
            x, y, yaw, s = poses(track, batch)
            out = np.empty((batch,) + rig.observation_shape, dtype=np.uint8)
            for objects in (None, boxes_ahead(track, s)):
                rate = best_rate(batch, budget_s, rig.render, x, y, yaw, objects, out)
                rows.append(
                    {
                        "sensor": kind,
                        "batch": batch,
                        "objects": 0 if objects is None else N_OBJECTS,
                        "threads": numba.get_num_threads() if batch >= 8 else 1,
                        "per_s": round(rate, 1),
                        "reference_per_s": round(ref, 1),
                        "ratio": round(rate / ref, 2),
                    }
                )
    return rows


def bench_lidar(track, budget_s: float, batches) -> list[dict]:
    rows = []
    scanner = Lidar("LIDAR")
    x, y, yaw, s = poses(track, 1)
    objects = boxes_ahead(track, s)
    if not np.allclose(
        numpy_scan(x[0], y[0], yaw[0], objects, 0), scanner.scan(x, y, yaw, objects)[0]
    ):
        raise SystemExit("lidar: the NumPy reference does not reproduce the kernel's scan")
    ref = best_rate(1, budget_s, numpy_scan, x[0], y[0], yaw[0], objects, 0)
    for batch in batches:
        x, y, yaw, s = poses(track, batch)
        objects = boxes_ahead(track, s)
        rate = best_rate(batch, budget_s, scanner.scan, x, y, yaw, objects)
        rows.append(
            {
                "sensor": "LIDAR",
                "batch": batch,
                "objects": N_OBJECTS,
                "threads": numba.get_num_threads() if batch >= lid.PARALLEL_MIN_BATCH else 1,
                "per_s": round(rate, 1),
                "reference_per_s": round(ref, 1),
                "ratio": round(rate / ref, 2),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    parser.add_argument("--quick", action="store_true", help="shorter timing blocks")
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    args = parser.parse_args()
    if args.threads is not None:
        numba.set_num_threads(args.threads)
    budget = 0.3 if args.quick else 1.5
    track = load_track("dr_flow")
    rows = bench_cameras(track, budget) + bench_lidar(track, budget, LIDAR_BATCHES)
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    for row in rows:
        print(
            f"{row['sensor']:<20} B={row['batch']:<6} objects={row['objects']} "
            f"threads={row['threads']}  {row['per_s']:>12,.0f}/s  "
            f"ref {row['reference_per_s']:>9,.0f}/s  x{row['ratio']}"
        )


if __name__ == "__main__":
    main()
