"""A track painted once into a top-down grey-level texture, the floor the cameras look at.

The floor is what a DeepRacer track looks like from above, as grey levels (the simulator's
training images are grayscale): the road surface, a solid white line along each border and a
dashed yellow line along the centre, on a dark floor. :func:`rasterize_track` paints it at
``texel_m`` per texel over the track's bounding box plus a margin; the camera then only needs a
nearest-texel lookup per pixel. Outside the texture everything is off-track floor.

Painting: every texel is classified from its nearest point on the sampled centre line (the
polyline of ``Track.xy_m``; on DeepRacer tracks its chords are within ~3 mm of the curve). With
``n`` the signed offset from the centre line (left positive) and ``w_left``/``w_right`` the
half-widths at the foot point:

===========  ======================================================  ======================
class        where                                                   grey (uint8)
===========  ======================================================  ======================
border line  ``|n - w_left| <= 2.5 cm`` or ``|n + w_right| <= 2.5 cm``  :data:`GREY_BORDER`
centre dash  ``|n| <= 2.5 cm`` and in a dash (below)                  :data:`GREY_CENTRE`
road         ``-w_right < n < w_left``                                :data:`GREY_ROAD`
off track    everything else                                          :data:`GREY_OFF_TRACK`
===========  ======================================================  ======================

Dashes are :data:`CENTRE_DASH_M` long with :data:`CENTRE_GAP_M` gaps, measured along ``s`` from
sample 0; on a closed track the period is stretched so that a whole number of dashes fits the lap
(no half dash at the seam).
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

BORDER_LINE_WIDTH_M = 0.05
"""Width of each white border line, centred on the road edge (about 2 in, as on DeepRacer tracks)."""
CENTRE_LINE_WIDTH_M = 0.05
"""Width of the centre dashes."""
CENTRE_DASH_M = 0.20
"""Length of one centre dash."""
CENTRE_GAP_M = 0.20
"""Length of the gap between centre dashes."""
DEFAULT_TEXEL_M = 0.01
"""Texture resolution: 1 cm, finer than a camera pixel's footprint anywhere on the floor."""
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
