"""Numba geometry kernels shared by tracks, the simulator and the sensors.

Tracks are stored resampled at a UNIFORM arc-length spacing ``ds_m`` so that a distance along the
line maps to a segment index in O(1). All kernels take the track as plain arrays (numba cannot take
a Python object): ``xy (M, 2) float64 m`` sample points, ``ds_m`` spacing, ``closed`` flag, and
``length_m``. For a closed track segment ``M-1`` joins point ``M-1`` back to point 0.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_NUMBA = {"cache": True, "nogil": True, "fastmath": False}


@nb.njit(**_NUMBA)
def wrap_angle(angle_rad: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (angle_rad + math.pi) % (2.0 * math.pi) - math.pi


@nb.njit(**_NUMBA)
def _segment_distance2(px, py, ax, ay, bx, by):
    """Squared distance from P to segment AB, and the clamped fraction t along AB."""
    dx = bx - ax
    dy = by - ay
    den = dx * dx + dy * dy
    t = 0.0
    if den > 0.0:
        t = ((px - ax) * dx + (py - ay) * dy) / den
        t = min(1.0, max(0.0, t))
    qx = ax + t * dx - px
    qy = ay + t * dy - py
    return qx * qx + qy * qy, t


@nb.njit(**_NUMBA)
def project_point(px, py, xy, closed, s_hint, window, ds_m, length_m):
    """Frenet projection of one world point onto the sampled line.

    Searches the ``window`` segments either side of the segment at ``s_hint`` (pass a negative hint
    to skip the local search). If the best local match lies on the edge of the window (the point may
    have jumped) a global search over every segment runs instead, so the seam of a closed track and
    teleports are handled. Returns ``(s_m, n_m, segment_index)``, ``n_m`` positive to the LEFT of the
    driving direction.
    """
    m = xy.shape[0]
    n_seg = m if closed else m - 1
    best_d2 = np.inf
    best_i = 0
    best_t = 0.0
    local = s_hint >= 0.0
    if local:
        i0 = int(s_hint / ds_m)
        for k in range(-window, window + 1):
            i = i0 + k
            if closed:
                i = i % n_seg
            elif i < 0 or i >= n_seg:
                continue
            j = i + 1 if i + 1 < m else 0
            d2, t = _segment_distance2(px, py, xy[i, 0], xy[i, 1], xy[j, 0], xy[j, 1])
            if d2 < best_d2:
                best_d2 = d2
                best_i = i
                best_t = t
        edge = best_i == ((i0 - window) % n_seg if closed else max(i0 - window, 0))
        edge = edge or best_i == ((i0 + window) % n_seg if closed else min(i0 + window, n_seg - 1))
        local = not edge
    if not local:
        best_d2 = np.inf
        for i in range(n_seg):
            j = i + 1 if i + 1 < m else 0
            d2, t = _segment_distance2(px, py, xy[i, 0], xy[i, 1], xy[j, 0], xy[j, 1])
            if d2 < best_d2:
                best_d2 = d2
                best_i = i
                best_t = t
    i = best_i
    j = i + 1 if i + 1 < m else 0
    tx = xy[j, 0] - xy[i, 0]
    ty = xy[j, 1] - xy[i, 1]
    seg_len = math.sqrt(tx * tx + ty * ty)
    s = (i + best_t) * ds_m
    if closed and s >= length_m:
        s -= length_m
    # Signed lateral offset: cross(tangent, p - foot) / |tangent|; positive = left.
    fx = xy[i, 0] + best_t * tx
    fy = xy[i, 1] + best_t * ty
    n = (tx * (py - fy) - ty * (px - fx)) / seg_len
    return s, n, i


@nb.njit(**_NUMBA)
def project_batch(points, xy, closed, s_hint, window, ds_m, length_m, out_s, out_n, out_i):
    """Project B points: ``points (B, 2)``, ``s_hint (B,)`` (negative = global search)."""
    for b in range(points.shape[0]):
        s, n, i = project_point(
            points[b, 0], points[b, 1], xy, closed, s_hint[b], window, ds_m, length_m
        )
        out_s[b] = s
        out_n[b] = n
        out_i[b] = i


@nb.njit(**_NUMBA)
def interp_periodic(values, s_m, ds_m, closed):
    """Linear interpolation of a per-sample quantity at arc length ``s_m`` (uniform grid)."""
    m = values.shape[0]
    u = s_m / ds_m
    i = int(math.floor(u))
    f = u - i
    if closed:
        i = i % m
        j = (i + 1) % m
    else:
        if i < 0:
            return values[0]
        if i >= m - 1:
            return values[m - 1]
        j = i + 1
    return values[i] * (1.0 - f) + values[j] * f


@nb.njit(**_NUMBA)
def segments_intersect(xy, closed):
    """True if any two non-adjacent segments of the polyline cross (O(N^2) with bbox rejects)."""
    m = xy.shape[0]
    n_seg = m if closed else m - 1
    for i in range(n_seg):
        i2 = (i + 1) % m
        ax, ay, bx, by = xy[i, 0], xy[i, 1], xy[i2, 0], xy[i2, 1]
        minx, maxx = min(ax, bx), max(ax, bx)
        miny, maxy = min(ay, by), max(ay, by)
        for j in range(i + 2, n_seg):
            if closed and i == 0 and j == n_seg - 1:
                continue  # adjacent through the seam
            j2 = (j + 1) % m
            cx, cy, dx, dy = xy[j, 0], xy[j, 1], xy[j2, 0], xy[j2, 1]
            if max(cx, dx) < minx or min(cx, dx) > maxx or max(cy, dy) < miny or min(cy, dy) > maxy:
                continue
            d1 = (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
            d2 = (bx - ax) * (dy - ay) - (by - ay) * (dx - ax)
            d3 = (dx - cx) * (ay - cy) - (dy - cy) * (ax - cx)
            d4 = (dx - cx) * (by - cy) - (dy - cy) * (bx - cx)
            if d1 * d2 < 0.0 and d3 * d4 < 0.0:
                return True
    return False
