"""Pixel work of the cameras: the track painted into a floor texture, and the frame kernels.

**Floor texture.** The floor is what a DeepRacer track looks like from above, as grey levels (the
simulator's training images are grayscale): the road surface, a solid white line along each
border and a dashed yellow line along the centre, on a dark floor. :func:`rasterize_track` paints
it at ``texel_m`` per texel over the track's bounding box plus a margin, once; a camera then only
needs nearest-texel lookups. Outside the texture everything is off-track floor.

Every texel is classified from its nearest point on the sampled centre line (the polyline of
``Track.xy_m``; on DeepRacer tracks its chords are within ~3 mm of the curve). With ``n`` the
signed offset from the centre line (left positive) and ``w_left``/``w_right`` the half-widths at
the foot point:

===========  =======================================================  =====================
class        where                                                    grey (uint8)
===========  =======================================================  =====================
border line  ``|n - w_left| <= 2.5 cm`` or ``|n + w_right| <= 2.5 cm``  :data:`GREY_BORDER`
centre dash  ``|n| <= 2.5 cm`` and in a dash (below)                   :data:`GREY_CENTRE`
road         ``-w_right < n < w_left``                                 :data:`GREY_ROAD`
off track    everything else                                          :data:`GREY_OFF_TRACK`
===========  =======================================================  =====================

Dashes are :data:`CENTRE_DASH_M` long with :data:`CENTRE_GAP_M` gaps, measured along ``s`` from
sample 0; on a closed track the period is stretched so that a whole number of dashes fits the lap
(no half dash at the seam).

**Frame kernels.** :func:`render_batch` draws B frames for the cameras of a rig from arrays that
:class:`apexrl.sensors.camera.CameraRig` precomputes (the camera geometry lives there): per pixel
the average grey of its floor samples (or :data:`GREY_SKY`), then the objects as upright boxes,
nearest surface first, shaded per face (:data:`GREY_BOX`, :data:`GREY_BOT`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba as nb
import numpy as np

from apexrl.tracks.track import Track

_NUMBA = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}

GREY_OFF_TRACK = 45
"""The floor around the track (dark)."""
GREY_ROAD = 100
"""The road surface (mid grey)."""
GREY_CENTRE = 175
"""The dashed centre line (yellow paint seen in grayscale)."""
GREY_BORDER = 240
"""The two solid border lines (white paint)."""
GREY_SKY = 190
"""Above the horizon: the sky or the walls of the simulator's world."""
GREY_BOX = 240
"""Base grey of a box obstacle (light faces)."""
GREY_BOT = 40
"""Base grey of a bot car (dark body; its faces, 26-40, stay darker than any floor but the
off-track floor)."""
BOX_HEIGHT_M = 0.30
"""Height of a box obstacle (a cube of about 30 cm)."""
BOT_HEIGHT_M = 0.15
"""Height of a bot car's body."""
LIGHT_AZIMUTH_RAD = math.radians(30.0)
"""Direction (world frame, from +x) the light comes from. A face's grey is its base times
``AMBIENT + DIFFUSE * max(0, cos(angle between its normal and the light))``; tops get the base."""
AMBIENT = 0.65
DIFFUSE = 0.35

BORDER_LINE_WIDTH_M = 0.05
"""Width of each white border line, centred on the road edge (~2 in, as on DeepRacer tracks)."""
CENTRE_LINE_WIDTH_M = 0.05
"""Width of the centre dashes."""
CENTRE_DASH_M = 0.20
"""Length of one centre dash."""
CENTRE_GAP_M = 0.20
"""Length of the gap between centre dashes."""
DEFAULT_TEXEL_M = 0.01
"""Texture resolution: 1 cm, finer than a camera pixel's footprint beyond ~0.4 m ahead (the
lowest image rows see 2-5 mm per pixel and show the texel steps)."""
DEFAULT_MARGIN_M = 1.0
"""Floor painted around the road's bounding box."""
MAX_TEXELS = 16_000_000
"""Texture size cap (16 MB of uint8): larger tracks get coarser texels."""


@dataclass(frozen=True, eq=False)
class FloorTexture:
    """A top-down grey-level image of the floor.

    Fields:
        grey: ``(NY, NX)`` uint8; texel ``[iy, ix]`` covers world x in
            ``[x0 + ix * texel_m, x0 + (ix + 1) * texel_m)`` and likewise y (row 0 = smallest y).
        x0_m, y0_m: world position of the texture's lower-left corner, metres.
        texel_m: edge length of a texel, metres.
        outside_grey: grey level of the floor beyond the texture.
    """

    grey: np.ndarray
    x0_m: float
    y0_m: float
    texel_m: float
    outside_grey: int = GREY_OFF_TRACK

    def lookup(self, xy_m: np.ndarray) -> np.ndarray:
        """Nearest-texel grey levels ``(N,)`` uint8 of world points ``xy_m (N, 2)`` metres."""
        xy = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        ix = np.floor((xy[:, 0] - self.x0_m) / self.texel_m)
        iy = np.floor((xy[:, 1] - self.y0_m) / self.texel_m)
        ny, nx = self.grey.shape
        inside = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        out = np.full(xy.shape[0], self.outside_grey, dtype=np.uint8)
        out[inside] = self.grey[iy[inside].astype(np.int64), ix[inside].astype(np.int64)]
        return out


def rasterize_track(
    track: Track, *, texel_m: float = DEFAULT_TEXEL_M, margin_m: float = DEFAULT_MARGIN_M
) -> FloorTexture:
    """Paint ``track`` into a :class:`FloorTexture` (see the module docstring for what is painted).

    Args:
        track: any :class:`Track`; its widths may vary along the line.
        texel_m: requested texel size; raised if the texture would exceed :data:`MAX_TEXELS`.
        margin_m: floor painted beyond the outermost border line.
    """
    if not (math.isfinite(texel_m) and texel_m > 0):
        raise ValueError(f"texel_m must be a positive number of metres, got {texel_m!r}")
    if not (math.isfinite(margin_m) and margin_m >= 0):
        raise ValueError(f"margin_m must be a non-negative number of metres, got {margin_m!r}")
    reach = float(max(track.w_left_m.max(), track.w_right_m.max())) + BORDER_LINE_WIDTH_M
    lo = track.xy_m.min(axis=0) - reach - margin_m
    hi = track.xy_m.max(axis=0) + reach + margin_m
    extent = hi - lo
    texel = max(texel_m, math.sqrt(float(extent[0] * extent[1]) / MAX_TEXELS))
    nx = int(math.ceil(extent[0] / texel))
    ny = int(math.ceil(extent[1] / texel))

    period = CENTRE_DASH_M + CENTRE_GAP_M
    if track.closed:
        period = track.length_m / max(1, round(track.length_m / period))
    dash = period * CENTRE_DASH_M / (CENTRE_DASH_M + CENTRE_GAP_M)

    grey = np.full((ny, nx), GREY_OFF_TRACK, dtype=np.uint8)
    best_d2 = np.full((ny, nx), np.inf, dtype=np.float32)
    _paint(
        track.xy_m,
        track.s_m,
        track.w_left_m,
        track.w_right_m,
        track.closed,
        track.length_m,
        float(lo[0]),
        float(lo[1]),
        texel,
        dash,
        period,
        0.5 * BORDER_LINE_WIDTH_M,
        0.5 * CENTRE_LINE_WIDTH_M,
        best_d2,
        grey,
    )
    grey.setflags(write=False)
    return FloorTexture(grey=grey, x0_m=float(lo[0]), y0_m=float(lo[1]), texel_m=texel)


@nb.njit(**_NUMBA)
def _classify(n, s, wl, wr, dash_m, period_m, border_half_m, centre_half_m):
    if abs(n - wl) <= border_half_m or abs(n + wr) <= border_half_m:
        return GREY_BORDER
    if abs(n) <= centre_half_m and (s % period_m) < dash_m:
        return GREY_CENTRE
    if -wr < n < wl:
        return GREY_ROAD
    return GREY_OFF_TRACK


@nb.njit(**_NUMBA)
def _paint(
    xy,
    s_m,
    w_left,
    w_right,
    closed,
    length_m,
    x0,
    y0,
    texel,
    dash_m,
    period_m,
    border_half_m,
    centre_half_m,
    best_d2,
    grey,
):
    """For every segment, visit the texels of its bounding box (grown by the widest half-width
    and a border half-line) and keep, per texel, the classification from the nearest segment."""
    m = xy.shape[0]
    ny, nx = grey.shape
    n_seg = m if closed else m - 1
    for i in range(n_seg):
        j = i + 1 if i + 1 < m else 0
        ax, ay = xy[i, 0], xy[i, 1]
        dx, dy = xy[j, 0] - ax, xy[j, 1] - ay
        seg2 = dx * dx + dy * dy  # > 0: a Track has no repeated samples
        s_end = s_m[j] if j > 0 else length_m
        reach = max(w_left[i], w_left[j], w_right[i], w_right[j]) + border_half_m + texel
        ix0 = max(int((min(ax, ax + dx) - reach - x0) / texel), 0)
        ix1 = min(int((max(ax, ax + dx) + reach - x0) / texel) + 1, nx)
        iy0 = max(int((min(ay, ay + dy) - reach - y0) / texel), 0)
        iy1 = min(int((max(ay, ay + dy) + reach - y0) / texel) + 1, ny)
        for iy in range(iy0, iy1):
            py = y0 + (iy + 0.5) * texel - ay
            for ix in range(ix0, ix1):
                px = x0 + (ix + 0.5) * texel - ax
                t = (px * dx + py * dy) / seg2
                if t < 0.0:
                    if not closed and i == 0:
                        continue  # before the start of an open track: no road
                    t = 0.0
                elif t > 1.0:
                    if not closed and i == n_seg - 1:
                        continue
                    t = 1.0
                qx = px - t * dx
                qy = py - t * dy
                d2 = qx * qx + qy * qy
                if d2 >= best_d2[iy, ix]:
                    continue
                best_d2[iy, ix] = d2
                # Signed distance, left of the driving direction positive.
                n = math.sqrt(d2)
                if dx * qy - dy * qx < 0.0:
                    n = -n
                wl = w_left[i] + t * (w_left[j] - w_left[i])
                wr = w_right[i] + t * (w_right[j] - w_right[i])
                s = s_m[i] + t * (s_end - s_m[i])
                grey[iy, ix] = _classify(
                    n, s, wl, wr, dash_m, period_m, border_half_m, centre_half_m
                )
    return grey


# ---------------------------------------------------------------------- frame kernels
def render_batch(x, y, yaw, scene, objs, h, w, out, parallel: bool) -> None:
    """Render B frames into ``out (B, H*W*C)`` uint8, pixel-major and camera-minor.

    Args:
        x, y, yaw: ``(B,)`` float64 car poses (rear-axle centre, metres; radians).
        scene: ``(tex, outside, start, samples, rays, cams, params)``: the texture ``(NY, NX)``
            uint8 and its outside grey; floor samples of pixel ``p`` = ``samples[c,
            start[p]:start[p+1]]`` ``(C, S, 2)`` car-frame floor points in TEXEL units, NaN for
            sky (a pixel without samples is all sky); ``rays (H*W, 3)`` car-frame pixel rays;
            ``cams (C, 3)`` optical centres, metres;
            ``params`` = [x0, y0, 1/texel, f_px, cos pitch, sin pitch, cos light, sin light].
        objs: ``(pose (B, K, 3) [x, y, yaw], size (K, 3) [half length, half width, height],
            base grey (K,), valid (B, K))``.
        h, w: image size in pixels.
        parallel: one thread per frame (``prange``) instead of a serial loop; same result.
    """
    kernel = _render_parallel if parallel else _render_serial
    kernel(x, y, yaw, scene, objs, h, w, out)


@nb.njit(parallel=False, **_NUMBA)
def _render_serial(x, y, yaw, scene, objs, h, w, out):
    for b in range(x.shape[0]):
        _render_frame(b, x[b], y[b], yaw[b], scene, objs, h, w, out[b])


@nb.njit(parallel=True, **_NUMBA)
def _render_parallel(x, y, yaw, scene, objs, h, w, out):
    for b in nb.prange(x.shape[0]):
        _render_frame(b, x[b], y[b], yaw[b], scene, objs, h, w, out[b])


@nb.njit(**_NUMBA)
def _render_frame(b, xb, yb, yaw, scene, objs, h, w, out_b):
    """Render env ``b`` for every camera into ``out_b (H*W*C,)``."""
    tex, outside, start, samples, rays, cams, params = scene
    valid = objs[3]
    x0, y0, inv_texel = params[0], params[1], params[2]
    ny, nx = tex.shape
    n_cam = cams.shape[0]
    cs, sn = math.cos(yaw), math.sin(yaw)
    ub = (xb - x0) * inv_texel  # the car's origin in texel coordinates
    vb = (yb - y0) * inv_texel
    any_obj = False
    for k in range(valid.shape[1]):
        any_obj = any_obj or valid[b, k]
    texels = tex.reshape(-1)
    grey = np.empty(samples.shape[1], dtype=np.int32)
    for ci in range(n_cam):
        pts = samples[ci]
        # Two passes: every floor sample's grey (branch-free: 1.4x faster than averaging
        # inside a per-pixel loop), then each pixel's average.
        for q in range(pts.shape[0]):
            fx = pts[q, 0]
            fy = pts[q, 1]
            u = ub + cs * fx - sn * fy
            v = vb + sn * fx + cs * fy
            inside = (u >= 0.0) & (v >= 0.0) & (u < nx) & (v < ny)  # False for NaN (sky)
            g = texels[int(v) * nx + int(u) if inside else 0]
            g = g if inside else outside
            grey[q] = g if fx == fx else GREY_SKY
        for p in range(h * w):
            q0 = start[p]
            n = start[p + 1] - q0
            if n == 1:
                out_b[p * n_cam + ci] = grey[q0]
            elif n == 0:
                out_b[p * n_cam + ci] = GREY_SKY
            else:
                acc = 0
                for q in range(q0, q0 + n):
                    acc += grey[q]
                out_b[p * n_cam + ci] = (acc + n // 2) // n
        if any_obj:
            _draw_objects(b, xb, yb, yaw, cams[ci], rays, params, objs, h, w, out_b, ci, n_cam)


@nb.njit(**_NUMBA)
def _draw_objects(b, xb, yb, yaw, cam, rays, params, objs, h, w, out_b, ci, n_cam):
    """Draw env ``b``'s valid objects, as seen by the camera at ``cam``, over its floor.

    Each object's 8 corners are projected to bound the pixels it can cover (the whole image if
    it straddles the camera plane); only those pixels run the ray-box test, and a depth buffer
    keeps the nearest surface. Objects stand on the floor, so they always hide it.
    """
    pose, size, base_grey, valid = objs
    k_all = pose.shape[1]
    f_px = params[3]
    cp, sp = params[4], params[5]
    lx, ly = params[6], params[7]
    cx, cy, cz = cam[0], cam[1], cam[2]
    cs, sn = math.cos(yaw), math.sin(yaw)
    rel = np.empty((k_all, 4))  # object centre x, y and yaw in the car frame
    rects = np.zeros((k_all, 4), dtype=np.int64)  # rows [r0, r1), columns [c0, c1)
    zbuf = np.empty(h * w)
    n_rect = 0
    for k in range(k_all):
        if not valid[b, k]:
            continue
        wx = pose[b, k, 0] - xb
        wy = pose[b, k, 1] - yb
        rx = cs * wx + sn * wy
        ry = -sn * wx + cs * wy
        co, so = math.cos(pose[b, k, 2] - yaw), math.sin(pose[b, k, 2] - yaw)
        rel[k, 0], rel[k, 1], rel[k, 2], rel[k, 3] = rx, ry, co, so
        hl, hw, hh = size[k, 0], size[k, 1], size[k, 2]
        r0, r1, c0, c1 = h, -1, w, -1
        behind = 0
        for corner in range(8):
            ex = hl if corner & 1 else -hl
            ey = hw if corner & 2 else -hw
            vx = rx + co * ex - so * ey - cx
            vy = ry + so * ex + co * ey - cy
            vz = (hh if corner & 4 else 0.0) - cz
            depth = vx * cp - vz * sp  # along the optical axis
            if depth < 1e-3:
                behind += 1
                continue
            col = 0.5 * w - 0.5 - f_px * vy / depth
            row = 0.5 * h - 0.5 - f_px * (vx * sp + vz * cp) / depth
            r0 = min(r0, int(math.floor(row)))
            r1 = max(r1, int(math.ceil(row)))
            c0 = min(c0, int(math.floor(col)))
            c1 = max(c1, int(math.ceil(col)))
        if behind == 8:
            continue
        if behind > 0:
            r0, r1, c0, c1 = 0, h - 1, 0, w - 1
        r0, r1 = max(r0, 0), min(r1, h - 1)
        c0, c1 = max(c0, 0), min(c1, w - 1)
        if r0 > r1 or c0 > c1:
            continue
        rects[k, 0], rects[k, 1], rects[k, 2], rects[k, 3] = r0, r1 + 1, c0, c1 + 1
        n_rect += 1
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                zbuf[r * w + c] = np.inf
    if n_rect == 0:
        return
    greys = np.empty(6, dtype=np.uint8)
    for k in range(k_all):
        if rects[k, 1] == 0:
            continue
        rx, ry, co, so = rel[k, 0], rel[k, 1], rel[k, 2], rel[k, 3]
        hl, hw, hh = size[k, 0], size[k, 1], size[k, 2]
        ox = co * (cx - rx) + so * (cy - ry)  # the camera in the object's frame
        oy = -so * (cx - rx) + co * (cy - ry)
        # Face greys: +x, -x, +y, -y sides (world normals from the object's yaw), top, inside.
        base = base_grey[k]
        nxw, nyw = math.cos(pose[b, k, 2]), math.sin(pose[b, k, 2])
        greys[0] = _shade(base, nxw * lx + nyw * ly)
        greys[1] = _shade(base, -(nxw * lx + nyw * ly))
        greys[2] = _shade(base, -nyw * lx + nxw * ly)
        greys[3] = _shade(base, nyw * lx - nxw * ly)
        greys[4] = np.uint8(base)
        greys[5] = np.uint8(AMBIENT * base)
        for r in range(rects[k, 0], rects[k, 1]):
            for c in range(rects[k, 2], rects[k, 3]):
                p = r * w + c
                dx = co * rays[p, 0] + so * rays[p, 1]
                dy = -so * rays[p, 0] + co * rays[p, 1]
                t, face = _ray_box(ox, oy, cz, dx, dy, rays[p, 2], hl, hw, hh)
                if t < zbuf[p]:
                    zbuf[p] = t
                    out_b[p * n_cam + ci] = greys[face]


@nb.njit(**_NUMBA)
def _shade(base, cos_light):
    return np.uint8(base * (AMBIENT + DIFFUSE * max(0.0, cos_light)))


@nb.njit(**_NUMBA)
def _ray_box(ox, oy, oz, dx, dy, dz, hl, hw, h):
    """Entry of the ray ``o + t d`` into the box ``|x| <= hl, |y| <= hw, 0 <= z <= h`` (its own
    frame). Returns ``(t, face)``: face 0/1 = +x/-x side, 2/3 = +y/-y side, 4 = top, 5 = the
    origin is inside (t = 0); ``t = inf`` when the ray misses or the box is behind."""
    t0 = -np.inf
    t1 = np.inf
    face = 5
    if dx != 0.0:
        ta = (-hl - ox) / dx
        tb = (hl - ox) / dx
        enter, leave, f = (ta, tb, 1) if dx > 0.0 else (tb, ta, 0)
        if enter > t0:
            t0, face = enter, f
        t1 = min(t1, leave)
    elif abs(ox) > hl:
        return np.inf, 5
    if dy != 0.0:
        ta = (-hw - oy) / dy
        tb = (hw - oy) / dy
        enter, leave, f = (ta, tb, 3) if dy > 0.0 else (tb, ta, 2)
        if enter > t0:
            t0, face = enter, f
        t1 = min(t1, leave)
    elif abs(oy) > hw:
        return np.inf, 5
    if dz != 0.0:
        ta = -oz / dz
        tb = (h - oz) / dz
        # Entering from below would need a camera under the floor: label it "inside".
        enter, leave, f = (ta, tb, 5) if dz > 0.0 else (tb, ta, 4)
        if enter > t0:
            t0, face = enter, f
        t1 = min(t1, leave)
    elif oz < 0.0 or oz > h:
        return np.inf, 5
    if t1 < t0 or t1 <= 0.0:
        return np.inf, 5
    if t0 <= 0.0:
        return 0.0, 5
    return t0, face
