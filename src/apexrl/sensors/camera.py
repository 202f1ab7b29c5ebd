"""The DeepRacer cameras: batched grayscale renders of the track floor, boxes and bot cars.

Camera model (:class:`CameraModel`, defaults from the DeepRacer simulator's car description):
an ideal pinhole (no lens distortion, square pixels) looking forward and pitched 15 deg down,
horizontal field of view 1.13 rad (64.7 deg; vertical 50.8 deg at 4:3), its optical centre
0.227 m ahead of the rear axle and 0.130 m above the floor. The physical car's lens is a 120 deg
wide angle, but the simulator, where DeepRacer models are trained, renders 1.13 rad; pass
``CameraModel(hfov_rad=...)`` to change it. Image rows run top to bottom, columns left to right;
pixel ``(r, u)`` looks along ``F - a L - b U`` with ``a = (u + 0.5 - W/2) / f``,
``b = (r + 0.5 - H/2) / f``, ``f = (W/2) / tan(hfov/2)`` pixels, and ``F, L, U`` the camera's
forward, left and up axes. The horizon (a level ray) is 15 deg above the image centre, at row ~26
of 120; above it every pixel shows the sky/wall (``raster.GREY_SKY``).

Cameras (car frame: origin at the rear-axle centre on the floor, x forward, y left, z up):

======================  ==========================================  ======================
``cameras``             optical centres                             output per env
======================  ==========================================  ======================
FRONT_FACING_CAMERA     (0.227, 0, 0.130)                           ``(120, 160)`` uint8
LEFT_CAMERA             (0.227, +0.03, 0.130): the stereo pair's    ``(120, 160)`` uint8
                        left camera, as on the physical car
STEREO_CAMERAS          left (0.227, +0.03, 0.130) in channel 0,    ``(120, 160, 2)`` uint8
                        right (0.227, -0.03, 0.130) in channel 1
======================  ==========================================  ======================

All cameras point straight ahead (baseline 6 cm, parallel axes). The simulator renders
LEFT_CAMERA from the single centred camera; on the car it is the left stereo camera, 3 cm to the
left, which is what is drawn here.

Scene, as grey levels: the floor texture of :mod:`apexrl.sensors.raster` (off-track floor 45,
road 100, dashed centre line 175, white border lines 240), the sky/wall 190 above the horizon, and
the objects of :class:`~apexrl.sensors.objects.ObjectsState` as solid upright boxes standing on
the floor: boxes 0.30 m tall and light (base grey 240), bot cars 0.15 m tall and dark (base 40),
each with the rectangle (centre, yaw, length, width) it has there. A face's grey is its base times
``0.65 + 0.35 max(0, n . l)`` for the face normal ``n`` and a fixed world light direction ``l``
(azimuth 30 deg), so two visible faces of a box differ; the nearest surface along each pixel's
ray wins, so objects hide the floor and each other.

Anti-aliasing: a pixel averages a grid of sub-pixel floor samples, as many as it takes for them
to land at most :data:`AA_SPACING_M` apart (up to 4 x 2): one sample for the near floor, more
towards the horizon where a pixel covers decimetres of floor and the dashes would otherwise
shimmer (the simulator shrinks 640 x 480 renders by 4 for the same reason). Object edges and the
near floor are sampled once per pixel, so they show 1-pixel steps (and 1-texel steps up close;
``texel_m=0.005`` halves those for ~25% more time per frame).

Speed: the track is painted once into a 1 cm texture (constructor, ~0.05 s on DeepRacer
tracks). The camera only yaws with the car, so each sample's floor point in the car frame is
fixed: a frame is a rotation and a texture lookup per sample (~1.8 per pixel), plus a ray-box
test for the pixels inside each object's projected bounding rectangle. Batches of
:data:`PARALLEL_MIN_BATCH` or more frames are spread over threads (``numba.prange``). Renders are
deterministic and identical for any batch composition or thread count.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from apexrl.sensors.objects import ObjectsState, as_poses
from apexrl.sensors.raster import (
    BOT_HEIGHT_M,
    BOX_HEIGHT_M,
    DEFAULT_TEXEL_M,
    GREY_BOT,
    GREY_BOX,
    LIGHT_AZIMUTH_RAD,
    FloorTexture,
    rasterize_track,
    render_batch,
)
from apexrl.tracks.track import Track

CAMERA_KINDS = ("FRONT_FACING_CAMERA", "LEFT_CAMERA", "STEREO_CAMERAS")
"""The camera sensors of a DeepRacer ``model_metadata.json``."""

AA_SPACING_M = 0.02
"""Anti-aliasing: sub-pixel floor samples are added until neighbours land this close."""
AA_MAX_ROWS = 4
"""At most this many sub-pixel rows per pixel (the far floor), as in the simulator, whose
640 x 480 renders are shrunk 4x to 160 x 120."""
AA_MAX_COLS = 2
"""At most this many sub-pixel columns per pixel."""

PARALLEL_MIN_BATCH = 8
"""From this batch size frames are rendered on all threads: one frame takes 0.1-0.2 ms, far more
than waking the thread pool costs."""


@dataclass(frozen=True)
class CameraModel:
    """Pinhole camera geometry shared by all cameras of a rig (see the module docstring)."""

    hfov_rad: float = 1.13
    """Horizontal field of view; the DeepRacer simulator's camera uses 1.13 rad."""
    pitch_rad: float = 0.2618
    """Downward tilt of the optical axis (15 deg, as mounted on the car)."""
    height_m: float = 0.130
    """Optical centre above the floor."""
    forward_m: float = 0.227
    """Optical centre ahead of the rear axle (the car's origin)."""
    stereo_baseline_m: float = 0.06
    """Distance between the two stereo cameras (each 3 cm off the car's centre line)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.hfov_rad < math.pi:
            raise ValueError(f"hfov_rad must be in (0, pi), got {self.hfov_rad!r}")
        if not -math.pi / 2 < self.pitch_rad < math.pi / 2:
            raise ValueError(f"pitch_rad must be in (-pi/2, pi/2), got {self.pitch_rad!r}")
        if not self.height_m > 0.0:
            raise ValueError(f"height_m must be above the floor (> 0), got {self.height_m!r}")
        if not self.stereo_baseline_m >= 0.0:
            raise ValueError(f"stereo_baseline_m must be >= 0, got {self.stereo_baseline_m!r}")


class CameraRig:
    """Renders what one DeepRacer camera sensor sees, for B cars at once.

    Args:
        track: the track whose floor is painted (once, here).
        cameras: one of :data:`CAMERA_KINDS`, as a 1-tuple (the ``sensor`` list entry) or a str.
        height_px, width_px: image size; DeepRacer trains on 120 x 160.
        model: the camera geometry.
        texel_m: floor texture resolution.
        parallel: render on all threads; default: when the batch has at least
            :data:`PARALLEL_MIN_BATCH` frames. Results are identical either way.
    """

    def __init__(
        self,
        track: Track,
        cameras: tuple[str, ...] | str = ("FRONT_FACING_CAMERA",),
        *,
        height_px: int = 120,
        width_px: int = 160,
        model: CameraModel | None = None,
        texel_m: float = DEFAULT_TEXEL_M,
        parallel: bool | None = None,
    ) -> None:
        names = (cameras,) if isinstance(cameras, str) else tuple(cameras)
        if len(names) != 1 or names[0] not in CAMERA_KINDS:
            raise ValueError(
                f"cameras must be exactly one of {', '.join(CAMERA_KINDS)}, got {cameras!r}"
            )
        if int(height_px) != height_px or int(width_px) != width_px:
            raise ValueError(f"image size must be integers, got {height_px!r} x {width_px!r}")
        if not (height_px >= 1 and width_px >= 1):
            raise ValueError(f"image size must be positive, got {height_px} x {width_px}")
        self.kind = names[0]
        self.height_px = int(height_px)
        self.width_px = int(width_px)
        self.model = model if model is not None else CameraModel()
        self.parallel = parallel
        self.texture: FloorTexture = rasterize_track(track, texel_m=texel_m)
        half_base = 0.5 * self.model.stereo_baseline_m
        lateral = {
            "FRONT_FACING_CAMERA": (0.0,),
            "LEFT_CAMERA": (half_base,),
            "STEREO_CAMERAS": (half_base, -half_base),
        }[self.kind]
        self.camera_positions_m = np.array(
            [[self.model.forward_m, y, self.model.height_m] for y in lateral]
        )
        """``(C, 3)`` optical centres in the car frame, metres (C = 2 for stereo)."""
        self._rays = _pixel_rays(self.model, self.height_px, self.width_px)
        self._sample_start, samples_m = _floor_samples(
            self.model, self.height_px, self.width_px, self.camera_positions_m
        )
        self._samples = samples_m / self.texture.texel_m  # texel units: saves work per sample
        m = self.model
        f_px = 0.5 * self.width_px / math.tan(0.5 * m.hfov_rad)
        self._params = np.array(
            [
                self.texture.x0_m,
                self.texture.y0_m,
                1.0 / self.texture.texel_m,
                f_px,
                math.cos(m.pitch_rad),
                math.sin(m.pitch_rad),
                math.cos(LIGHT_AZIMUTH_RAD),
                math.sin(LIGHT_AZIMUTH_RAD),
            ]
        )

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """``(H, W)`` for one camera, ``(H, W, 2)`` for STEREO_CAMERAS."""
        hw = (self.height_px, self.width_px)
        return hw + (2,) if self.kind == "STEREO_CAMERAS" else hw

    def render(
        self,
        x_m: np.ndarray,
        y_m: np.ndarray,
        yaw_rad: np.ndarray,
        objects: ObjectsState | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Render one frame per car.

        Args:
            x_m, y_m: ``(B,)`` world position of each car's origin (rear-axle centre), metres.
            yaw_rad: ``(B,)`` car headings, radians counter-clockwise from +x.
            objects: boxes and bot cars per environment (``batch_size`` B), or None.
            out: optional C-contiguous uint8 array of shape ``(B,) + observation_shape`` to
                render into.

        Returns:
            ``(B, H, W)`` uint8 (``(B, H, W, 2)`` for STEREO_CAMERAS, left camera first).
        """
        x, y, yaw = as_poses(x_m, y_m, yaw_rad)
        b = x.shape[0]
        shape = (b,) + self.observation_shape
        if out is None:
            out = np.empty(shape, dtype=np.uint8)
        elif out.shape != shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
            raise ValueError(
                f"out must be a C-contiguous uint8 array of shape {shape}, got "
                f"{out.dtype} {out.shape}"
            )
        parallel = self.parallel if self.parallel is not None else b >= PARALLEL_MIN_BATCH
        scene = (
            self.texture.grey,
            self.texture.outside_grey,
            self._sample_start,
            self._samples,
            self._rays,
            self.camera_positions_m,
            self._params,
        )
        objs = _object_arrays(objects, b)
        render_batch(
            x, y, yaw, scene, objs, self.height_px, self.width_px, out.reshape(b, -1), parallel
        )
        return out


def save_png(frame: np.ndarray, path: str | os.PathLike) -> None:
    """Write one ``(H, W)`` uint8 frame as an 8-bit grayscale PNG (a stereo ``(H, W, 2)`` frame
    is written as its two images side by side)."""
    from PIL import Image  # Pillow comes with matplotlib; imported here so sensors load fast

    from apexrl.io_utils import atomic_open

    img = np.asarray(frame)
    if img.dtype != np.uint8 or img.ndim not in (2, 3):
        raise ValueError(f"frame must be uint8 (H, W) or (H, W, 2), got {img.dtype} {img.shape}")
    if img.ndim == 3:
        img = np.concatenate([img[:, :, c] for c in range(img.shape[2])], axis=1)
    with atomic_open(path, "wb") as fh:
        Image.fromarray(np.ascontiguousarray(img)).save(fh, format="PNG")


# ---------------------------------------------------------------------- precomputation
def _pixel_rays(model: CameraModel, h: int, w: int) -> np.ndarray:
    """``(H*W, 3)`` car-frame ray directions of the pixels (row-major), not normalised."""
    f = 0.5 * w / math.tan(0.5 * model.hfov_rad)
    cp, sp = math.cos(model.pitch_rad), math.sin(model.pitch_rad)
    fwd = np.array([cp, 0.0, -sp])
    left = np.array([0.0, 1.0, 0.0])
    up = np.array([sp, 0.0, cp])
    a = (np.arange(w) + 0.5 - 0.5 * w) / f  # right of the axis
    bb = (np.arange(h) + 0.5 - 0.5 * h) / f  # below the axis
    rays = fwd - a[None, :, None] * left - bb[:, None, None] * up
    return np.ascontiguousarray(rays.reshape(h * w, 3))


def _floor_samples(model: CameraModel, h: int, w: int, cams_m: np.ndarray):
    """Anti-aliasing samples of the floor: ``(start (H*W + 1,) int64, points (C, S, 2))``.

    Pixel ``p`` averages the samples ``start[p]:start[p + 1]`` (none: entirely sky): a regular
    grid of sub-pixel rays,
    as many per pixel as it takes for neighbouring samples to land at most
    :data:`AA_SPACING_M` apart on the floor (the footprint grows with distance, mostly along
    the view direction), at most ``AA_MAX_ROWS x AA_MAX_COLS``. ``points`` are their car-frame
    floor points per camera; NaN for a sub-ray at or above the horizon (it sees the sky).
    """
    f = 0.5 * w / math.tan(0.5 * model.hfov_rad)
    cp, sp = math.cos(model.pitch_rad), math.sin(model.pitch_rad)
    hcam = model.height_m

    def floor_xy(row, col):
        """Car-frame floor point (relative to the camera) of image position (row, col)."""
        a = (col - 0.5 * w) / f
        bb = (row - 0.5 * h) / f
        # The ray F - a L - b U (module docstring) in the car frame.
        dx, dy, down = cp - bb * sp, -a, sp + bb * cp
        t = np.where(down > 1e-9, hcam / np.where(down > 1e-9, down, 1.0), np.inf)
        return t * dx, t * dy

    rows, cols = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    with np.errstate(invalid="ignore", over="ignore"):
        x_lo, y_lo = floor_xy(rows + 0.5, cols)
        x_hi, y_hi = floor_xy(rows - 0.5, cols)
        x_l, y_l = floor_xy(rows, cols - 0.5)
        x_r, y_r = floor_xy(rows, cols + 0.5)
        along = np.nan_to_num(np.hypot(x_hi - x_lo, y_hi - y_lo), nan=np.inf)
        across = np.nan_to_num(np.hypot(x_r - x_l, y_r - y_l), nan=np.inf)
        n_rows = np.clip(np.ceil(along / AA_SPACING_M), 1, AA_MAX_ROWS)
        n_cols = np.clip(np.ceil(across / AA_SPACING_M), 1, AA_MAX_COLS)
    all_sky = ~np.isfinite(x_lo)  # even the pixel's lower edge is above the horizon
    n_rows[all_sky] = 0  # no samples: the kernel paints the sky
    n_cols[all_sky] = 0
    n_rows = n_rows.astype(np.int64).reshape(-1)
    n_cols = n_cols.astype(np.int64).reshape(-1)
    counts = n_rows * n_cols
    start = np.zeros(h * w + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    pix = np.repeat(np.arange(h * w), counts)
    k = np.arange(start[-1]) - start[pix]
    sub_row = (k // n_cols[pix] + 0.5) / n_rows[pix]
    sub_col = (k % n_cols[pix] + 0.5) / n_cols[pix]
    with np.errstate(invalid="ignore"):
        fx, fy = floor_xy(pix // w + sub_row, pix % w + sub_col)
    sky = ~np.isfinite(fx)
    points = np.empty((cams_m.shape[0], pix.shape[0], 2))
    for c, cam in enumerate(cams_m):
        points[c, :, 0] = np.where(sky, np.nan, cam[0] + np.where(sky, 0.0, fx))
        points[c, :, 1] = np.where(sky, np.nan, cam[1] + np.where(sky, 0.0, fy))
    return start, points


def _object_arrays(objects: ObjectsState | None, b: int):
    """Pack objects for the kernel: pose ``(B, K, 3)`` [x, y, yaw], size ``(K, 3)`` [half
    length, half width, height], base grey ``(K,)``, valid ``(B, K)``."""
    if objects is None or objects.num_slots == 0:
        return np.zeros((b, 0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros((b, 0), dtype=bool)
    if objects.batch_size != b:
        raise ValueError(f"objects are for {objects.batch_size} environments, the poses for {b}")
    pose = np.empty((b, objects.num_slots, 3))
    pose[:, :, :2] = objects.xy_m
    pose[:, :, 2] = objects.yaw_rad
    is_bot = np.asarray(objects.is_bot, dtype=bool)
    size = np.stack(
        [
            0.5 * np.asarray(objects.length_m, dtype=np.float64),
            0.5 * np.asarray(objects.width_m, dtype=np.float64),
            np.where(is_bot, BOT_HEIGHT_M, BOX_HEIGHT_M),
        ],
        axis=1,
    )
    grey = np.where(is_bot, float(GREY_BOT), float(GREY_BOX))
    return pose, size, grey, np.ascontiguousarray(objects.valid, dtype=bool)
