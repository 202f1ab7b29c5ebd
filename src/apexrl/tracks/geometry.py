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
def _unit_tangent(xy, i, closed):
    """Central-difference unit tangent at sample i (one-sided at the ends of an open line)."""
    m = xy.shape[0]
    if closed:
        a = (i - 1) % m
        b = (i + 1) % m
    else:
        a = max(i - 1, 0)
        b = min(i + 1, m - 1)
    tx = xy[b, 0] - xy[a, 0]
    ty = xy[b, 1] - xy[a, 1]
    norm = math.sqrt(tx * tx + ty * ty)
    return tx / norm, ty / norm


@nb.njit(**_NUMBA)
def _refine_on_segment(px, py, xy, i, closed, t_guess):
    """Unclamped t on segment i where p - foot(t) is normal to the interpolated tangent."""
    m = xy.shape[0]
    j = i + 1 if i + 1 < m else 0
    tax, tay = _unit_tangent(xy, i, closed)
    tbx, tby = _unit_tangent(xy, j, closed)
    dx = xy[j, 0] - xy[i, 0]
    dy = xy[j, 1] - xy[i, 1]
    qx = px - xy[i, 0]
    qy = py - xy[i, 1]
    dtx = tbx - tax
    dty = tby - tay
    a2 = -(dx * dtx + dy * dty)
    a1 = qx * dtx + qy * dty - (dx * tax + dy * tay)
    a0 = qx * tax + qy * tay
    if abs(a2) > 1e-12 * (abs(a1) + 1e-300):
        disc = a1 * a1 - 4.0 * a2 * a0
        if disc >= 0.0:
            r = math.sqrt(disc)
            t1 = (-a1 + r) / (2.0 * a2)
            t2 = (-a1 - r) / (2.0 * a2)
            return t1 if abs(t1 - t_guess) < abs(t2 - t_guess) else t2
        return t_guess
    if a1 != 0.0:
        return -a0 / a1
    return t_guess


@nb.njit(**_NUMBA)
def project_point(px, py, xy, closed, s_hint, window, ds_m, length_m):
    """Frenet projection of one world point onto the sampled line.

    Searches the ``window`` segments either side of the segment at ``s_hint`` (pass a negative hint
    to skip the local search). If the best local match lies on the edge of the window (the point may
    have jumped) a global search over every segment runs instead, so the seam of a closed track and
    teleports are handled. Returns ``(s_m, n_m, segment_index)``, ``n_m`` positive to the LEFT of
    the driving direction.
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
    # The chord foot is biased on curves (by ~n * ds / 2R). Refine t so that p - foot(t) is normal
    # to the tangent interpolated between the two samples (exact for arcs; a quadratic in t). When
    # the refined foot falls outside the segment, it belongs to the neighbour: step there.
    i = best_i
    t = best_t
    for _ in range(3):
        t_raw = _refine_on_segment(px, py, xy, i, closed, best_t)
        if t_raw < 0.0 and (closed or i > 0):
            i = (i - 1) % n_seg
            best_t = 1.0
        elif t_raw > 1.0 and (closed or i < n_seg - 1):
            i = (i + 1) % n_seg
            best_t = 0.0
        else:
            t = min(1.0, max(0.0, t_raw))
            break
        t = best_t  # the shared end point of the two segments, if the loop runs out
    j = i + 1 if i + 1 < m else 0
    tax, tay = _unit_tangent(xy, i, closed)
    tbx, tby = _unit_tangent(xy, j, closed)
    fx = xy[i, 0] + t * (xy[j, 0] - xy[i, 0])
    fy = xy[i, 1] + t * (xy[j, 1] - xy[i, 1])
    tx = tax + t * (tbx - tax)
    ty = tay + t * (tby - tay)
    tn = math.sqrt(tx * tx + ty * ty)
    s = (i + t) * ds_m
    if closed and s >= length_m:
        s -= length_m
    # Signed lateral offset: cross(tangent, p - foot); positive = left of the driving direction.
    n = (tx * (py - fy) - ty * (px - fx)) / tn
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
