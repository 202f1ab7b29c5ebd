"""Camera rig: floor texture classes, the pinhole geometry, objects and occlusion, stereo."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.sensors import raster
from apexrl.sensors.camera import CameraModel, CameraRig, save_png
from apexrl.sensors.objects import ObjectsState
from apexrl.tracks import Track
from apexrl.tracks.library import load_track

HALF_WIDTH_M = 0.5335  # DeepRacer road: 1.067 m
X_CAR_M = 5.0  # on the straight below, heading +x: road ahead to x = 20 m
ON_ROAD = (raster.GREY_ROAD, raster.GREY_CENTRE)


@pytest.fixture(scope="module")
def straight() -> Track:
    xy = np.c_[np.linspace(0.0, 20.0, 41), np.zeros(41)]
    return Track.from_centerline(xy, HALF_WIDTH_M, HALF_WIDTH_M, closed=False, name="straight")


@pytest.fixture(scope="module")
def front(straight) -> CameraRig:
    return CameraRig(straight, ("FRONT_FACING_CAMERA",))


@pytest.fixture(scope="module")
def stereo(straight) -> CameraRig:
    return CameraRig(straight, ("STEREO_CAMERAS",))


def render_one(rig, x=X_CAR_M, y=0.0, yaw=0.0, objects=None) -> np.ndarray:
    return rig.render(np.array([x]), np.array([y]), np.array([yaw]), objects)[0]


def boxes(xy_m, *, is_bot=None, yaw_rad=None, length_m=0.3, width_m=0.3) -> ObjectsState:
    """One environment holding the given objects."""
    xy = np.asarray(xy_m, dtype=np.float64).reshape(1, -1, 2)
    k = xy.shape[1]
    return ObjectsState(
        xy_m=xy,
        yaw_rad=np.zeros((1, k)) if yaw_rad is None else np.asarray(yaw_rad, float).reshape(1, k),
        length_m=np.broadcast_to(np.asarray(length_m, float), (k,)).copy(),
        width_m=np.broadcast_to(np.asarray(width_m, float), (k,)).copy(),
        is_bot=np.zeros(k, bool) if is_bot is None else np.asarray(is_bot, bool),
        valid=np.ones((1, k), bool),
    )


def floor_row_column(
    model: CameraModel, ahead_m: float, left_m: float, up_m: float = 0.0, h=120, w=160
):
    """Image (row, column), continuous pixel units, of the point ``ahead_m`` in front of,
    ``left_m`` to the left of the camera and ``up_m`` above the floor: the pinhole model
    written out independently."""
    f = 0.5 * w / math.tan(0.5 * model.hfov_rad)
    cp, sp = math.cos(model.pitch_rad), math.sin(model.pitch_rad)
    v = np.array([ahead_m, left_m, up_m - model.height_m])  # camera -> point, car frame
    depth = v @ np.array([cp, 0.0, -sp])
    up = v @ np.array([sp, 0.0, cp])
    return 0.5 * h - 0.5 - f * up / depth, 0.5 * w - 0.5 - f * left_m / depth


# ---------------------------------------------------------------------- floor texture
def test_texture_classes_by_lateral_offset(straight):
    tex = raster.rasterize_track(straight)
    x = np.full(7, 10.0)
    y = np.array([0.3, -0.3, HALF_WIDTH_M, -HALF_WIDTH_M, HALF_WIDTH_M + 0.1, -0.7, 3.0])
    expected = [raster.GREY_ROAD] * 2 + [raster.GREY_BORDER] * 2 + [raster.GREY_OFF_TRACK] * 3
    assert tex.lookup(np.c_[x, y]).tolist() == expected
    # Beyond the texture: off-track floor too.
    assert tex.lookup(np.array([[500.0, 500.0]])).tolist() == [raster.GREY_OFF_TRACK]


def test_centre_dashes_alternate_with_gaps(straight):
    tex = raster.rasterize_track(straight)
    period = raster.CENTRE_DASH_M + raster.CENTRE_GAP_M
    s = 4 * period + np.array([0.05, 0.15, 0.25, 0.35])  # in, in, gap, gap
    centre = tex.lookup(np.c_[s, np.zeros(4)])
    assert centre.tolist() == [raster.GREY_CENTRE] * 2 + [raster.GREY_ROAD] * 2


def test_closed_track_fits_a_whole_number_of_dashes():
    track = load_track("dr_oval")
    tex = raster.rasterize_track(track)
    s = np.linspace(0.0, track.length_m, 20000, endpoint=False)
    on_dash = tex.lookup(track.to_world(s)) == raster.GREY_CENTRE
    starts = np.count_nonzero(on_dash & ~np.roll(on_dash, 1))
    assert starts == round(track.length_m / (raster.CENTRE_DASH_M + raster.CENTRE_GAP_M))


# ---------------------------------------------------------------------- geometry
def test_shapes_and_dtypes(straight, front, stereo):
    assert front.observation_shape == (120, 160)
    assert stereo.observation_shape == (120, 160, 2)
    xy = np.zeros(3)
    assert front.render(xy + X_CAR_M, xy, xy).shape == (3, 120, 160)
    img = stereo.render(xy + X_CAR_M, xy, xy)
    assert img.shape == (3, 120, 160, 2) and img.dtype == np.uint8
    small = CameraRig(straight, "LEFT_CAMERA", height_px=30, width_px=40)
    assert small.render(xy + X_CAR_M, xy, xy).shape == (3, 30, 40)


def test_sky_above_the_horizon_and_road_below(front):
    img = render_one(front)
    horizon_row, _ = floor_row_column(front.model, 1e6, 0.0)
    assert (img[: int(horizon_row) - 1] == raster.GREY_SKY).all()
    # Lower middle: road, except the centre dash band.
    lower = img[90:, :]
    assert np.isin(lower[:, 20:70], ON_ROAD).all() and np.isin(lower[:, 90:140], ON_ROAD).all()


def test_borders_appear_where_the_pinhole_model_puts_them(front):
    """On a straight, each white line crosses a row at the column the camera model predicts,
    symmetrically about the image centre."""
    img = render_one(front)
    for ahead in (1.0, 1.5):
        row_f, col_left = floor_row_column(front.model, ahead, HALF_WIDTH_M)
        _, col_right = floor_row_column(front.model, ahead, -HALF_WIDTH_M)
        row = img[int(round(row_f))]
        white = np.flatnonzero(row >= 200)
        left = white[white < 80].mean()
        right = white[white >= 80].mean()
        assert abs(left - col_left) <= 1.5 and abs(right - col_right) <= 1.5
        assert abs(0.5 * (left + right) - 79.5) <= 1.0


def floor_ahead_m(model: CameraModel, row: int, h=120, w=160) -> float:
    """Distance ahead of the camera of the floor seen at the centre of image row ``row``."""
    f = 0.5 * w / math.tan(0.5 * model.hfov_rad)
    below = (row + 0.5 - 0.5 * h) / f
    cp, sp = math.cos(model.pitch_rad), math.sin(model.pitch_rad)
    return model.height_m * (cp - below * sp) / (sp + below * cp)


def test_centre_dash_in_the_middle_column_band(front):
    img = render_one(front)
    half_line = 0.5 * raster.CENTRE_LINE_WIDTH_M
    rows_with_dash = 0
    for r in range(60, 120):  # near rows: one sample per pixel, exact greys
        cols = np.flatnonzero(img[r] == raster.GREY_CENTRE)
        if cols.size == 0:
            continue
        rows_with_dash += 1
        ahead = floor_ahead_m(front.model, r)
        _, lo = floor_row_column(front.model, ahead, half_line)
        _, hi = floor_row_column(front.model, ahead, -half_line)
        assert lo - 1.0 <= cols.min() and cols.max() <= hi + 1.0
        assert abs(0.5 * (cols.min() + cols.max()) - 79.5) <= 1.0
    assert rows_with_dash >= 10


def test_near_floor_pixels_show_the_texture_where_their_rays_land():
    """Rows below the image centre (one floor sample per pixel) against the pinhole model written
    out here, on a curvy track, at arbitrary poses and headings."""
    track = load_track("dr_hairpins")
    rig = CameraRig(track)
    m = rig.model
    rng = np.random.default_rng(3)
    s = rng.uniform(0.0, track.length_m, 4)
    xy = track.to_world(s, rng.uniform(-0.3, 0.3, 4))
    yaw = track.heading_at(s) + rng.uniform(-0.5, 0.5, 4)
    img = rig.render(xy[:, 0], xy[:, 1], yaw)
    rows, cols = np.mgrid[70:120, 0:160]
    f = 80.0 / math.tan(0.5 * m.hfov_rad)
    a = (cols + 0.5 - 80.0) / f
    b = (rows + 0.5 - 60.0) / f
    cp, sp = math.cos(m.pitch_rad), math.sin(m.pitch_rad)
    t = m.height_m / (sp + b * cp)  # ray F - a L - b U down to the floor
    ahead = m.forward_m + t * (cp - b * sp)
    left = -t * a
    for i in range(4):
        c, sn = math.cos(yaw[i]), math.sin(yaw[i])
        world = np.c_[
            (xy[i, 0] + c * ahead - sn * left).ravel(), (xy[i, 1] + sn * ahead + c * left).ravel()
        ]
        expected = rig.texture.lookup(world).reshape(rows.shape)
        # Rounding may put a point on the other side of a texel edge: allow a few pixels.
        assert (img[i, 70:] != expected).mean() < 0.002


def test_yawing_left_moves_the_road_right(front):
    def road_centroid(img):  # 1-3 m ahead, where both borders are in view
        rows, cols = np.nonzero(np.isin(img[30:45], ON_ROAD))
        return cols.mean()

    straight_on = road_centroid(render_one(front))
    assert abs(straight_on - 79.5) < 1.0
    assert road_centroid(render_one(front, yaw=0.25)) > straight_on + 10
    assert road_centroid(render_one(front, yaw=-0.25)) < straight_on - 10


def test_off_track_pose_sees_floor_only(front, straight):
    x0, y0 = front.texture.x0_m, front.texture.y0_m
    img = render_one(front, x=x0 + 0.5, y=y0 + 0.5, yaw=math.radians(-135.0))  # facing out
    horizon_row, _ = floor_row_column(front.model, 1e6, 0.0)
    floor = img[int(horizon_row) + 2 :]  # below the row that blends floor and sky
    assert floor.size > 0.7 * img.size
    assert (floor == raster.GREY_OFF_TRACK).all()


# ---------------------------------------------------------------------- objects
def test_box_ahead_appears_and_hides_the_floor(front):
    cam_x = X_CAR_M + front.model.forward_m
    near_face_m = 1.0
    box = boxes([[cam_x + near_face_m + 0.15, 0.0]])
    plain = render_one(front)
    img = render_one(front, objects=box)
    changed = img != plain
    rows, cols = np.nonzero(changed)
    bottom_row, _ = floor_row_column(front.model, near_face_m, 0.0)
    _, col_left = floor_row_column(front.model, near_face_m, 0.15)
    _, col_right = floor_row_column(front.model, near_face_m, -0.15)
    assert abs(rows.max() - bottom_row) <= 1.0
    bottom_cols = np.flatnonzero(changed[rows.max()])  # where the near face meets the floor
    assert abs(bottom_cols.min() - col_left) <= 1.0 and abs(bottom_cols.max() - col_right) <= 1.0
    # The box is taller than the camera: it covers the horizon; its top edge is where the
    # model puts it.
    top_row, _ = floor_row_column(front.model, near_face_m, 0.0, raster.BOX_HEIGHT_M)
    assert abs(rows.min() - top_row) <= 1.0
    # Every covered pixel shows a lit box face; behind it were both road and sky.
    assert (img[changed] >= int(raster.GREY_BOX * raster.AMBIENT)).all()
    assert (plain[changed] == raster.GREY_SKY).any() and np.isin(plain[changed], ON_ROAD).any()
    column = img[int(top_row) + 1 : int(bottom_row), 80]
    assert np.array_equal(column, np.full_like(column, column[0]))  # one face, top to bottom


def test_objects_are_drawn_relative_to_the_car():
    """Rotating the whole scene (track, car, objects) about the origin leaves the object pixels
    unchanged (compared over the road, whose grey no object face can have; face shades change
    with the world light); a box turned 45 deg shows more width than an aligned one."""
    base = np.c_[np.linspace(0.0, 20.0, 41), np.zeros(41)]
    masks, road = [], []
    for angle in (0.0, 1.1, -2.4):
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        track = Track.from_centerline(base @ rot.T, HALF_WIDTH_M, HALF_WIDTH_M, closed=False)
        rig = CameraRig(track)
        car = rot @ np.array([X_CAR_M, 0.0])
        objs = boxes(
            [rot @ np.array([X_CAR_M + 1.5, 0.2]), rot @ np.array([X_CAR_M + 2.2, -0.25])],
            is_bot=[False, True],
            yaw_rad=[angle + 0.4, angle - 0.2],
            length_m=[0.3, 0.34],
            width_m=[0.3, 0.2],
        )
        img = render_one(rig, x=car[0], y=car[1], yaw=angle, objects=objs)
        plain = render_one(rig, x=car[0], y=car[1], yaw=angle)
        masks.append(img != plain)
        road.append(plain == raster.GREY_ROAD)
    both_road = np.logical_and.reduce(road)
    assert (masks[0] & both_road).sum() > 300
    for other in masks[1:]:
        assert (masks[0] != other)[both_road].mean() < 0.001

    straight_rig = CameraRig(Track.from_centerline(base, HALF_WIDTH_M, HALF_WIDTH_M, closed=False))
    plain = render_one(straight_rig)
    widths = []
    for yaw in (0.0, math.pi / 4):
        img = render_one(straight_rig, objects=boxes([[X_CAR_M + 2.0, 0.0]], yaw_rad=[yaw]))
        cols = np.flatnonzero((img != plain).any(axis=0))
        widths.append(cols.max() - cols.min() + 1)
    assert widths[1] > 1.25 * widths[0]  # diagonal 0.42 m against a 0.3 m face


def test_nearer_object_hides_the_one_behind(front):
    cam_x = X_CAR_M + front.model.forward_m
    box = [cam_x + 1.15, 0.0]
    bot = [cam_x + 2.5, 0.0]
    both = boxes([box, bot], is_bot=[False, True], length_m=[0.3, 0.34], width_m=[0.3, 0.2])
    only_box = boxes([box])
    only_bot = boxes([bot], is_bot=[True], length_m=0.34, width_m=0.2)
    assert np.array_equal(render_one(front, objects=both), render_one(front, objects=only_box))
    alone = render_one(front, objects=only_bot)
    assert (alone != render_one(front)).sum() > 50  # the bot car is visible on its own
    assert alone.min() < raster.GREY_OFF_TRACK + 30  # and dark


def test_invalid_slots_and_objects_behind_are_not_drawn(front):
    behind = boxes([[X_CAR_M - 1.0, 0.0]])
    assert np.array_equal(render_one(front, objects=behind), render_one(front))
    hidden = boxes([[X_CAR_M + 1.5, 0.0]])
    hidden.valid[:] = False
    assert np.array_equal(render_one(front, objects=hidden), render_one(front))


def test_stereo_disparity_matches_the_baseline(stereo, straight):
    cam_x = X_CAR_M + stereo.model.forward_m
    depth_m = 1.5
    box = boxes([[cam_x + depth_m + 0.15, 0.0]])
    img = render_one(stereo, objects=box)
    plain = render_one(stereo)
    left_cols = np.nonzero(img[..., 0] != plain[..., 0])[1]
    right_cols = np.nonzero(img[..., 1] != plain[..., 1])[1]
    f = 80.0 / math.tan(0.5 * stereo.model.hfov_rad)
    expected = f * stereo.model.stereo_baseline_m / depth_m  # ~5 px
    for edge in (np.min, np.max):
        assert abs((edge(left_cols) - edge(right_cols)) - expected) <= 1.0
    # The left camera of the pair is the LEFT_CAMERA sensor.
    left_rig = CameraRig(straight, ("LEFT_CAMERA",))
    assert np.array_equal(render_one(left_rig, objects=box), img[..., 0])


# ---------------------------------------------------------------------- determinism, API
def test_batch_serial_parallel_and_single_renders_agree():
    track = load_track("dr_hairpins")
    rig = CameraRig(track)
    s = np.linspace(0.0, track.length_m, 12, endpoint=False)
    xy = track.to_world(s, 0.1)
    yaw = track.heading_at(s)
    objs = ObjectsState(
        xy_m=track.to_world(s + 1.0, -0.2)[:, None, :],
        yaw_rad=track.heading_at(s + 1.0)[:, None],
        length_m=np.array([0.34]),
        width_m=np.array([0.2]),
        is_bot=np.array([True]),
        valid=np.ones((12, 1), bool),
    )
    rig.parallel = False
    serial = rig.render(xy[:, 0], xy[:, 1], yaw, objs)
    rig.parallel = True
    parallel = rig.render(xy[:, 0], xy[:, 1], yaw, objs)
    assert np.array_equal(serial, parallel)
    assert np.array_equal(serial, rig.render(xy[:, 0], xy[:, 1], yaw, objs))
    one = ObjectsState(
        objs.xy_m[3:4], objs.yaw_rad[3:4], objs.length_m, objs.width_m, objs.is_bot, objs.valid[3:4]
    )
    assert np.array_equal(rig.render(xy[3:4, 0], xy[3:4, 1], yaw[3:4], one)[0], serial[3])
    out = np.zeros_like(serial)
    assert rig.render(xy[:, 0], xy[:, 1], yaw, objs, out=out) is out
    assert np.array_equal(out, serial)


def test_png_example_is_a_valid_png(tmp_path):
    from PIL import Image

    track = load_track("dr_oval")
    rig = CameraRig(track)
    xy = track.to_world(np.array([0.0]))
    frame = rig.render(xy[:, 0], xy[:, 1], track.heading_at(np.array([0.0])))[0]
    path = tmp_path / "frame.png"
    save_png(frame, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        assert im.mode == "L" and im.size == (160, 120)
        assert np.array_equal(np.asarray(im), frame)


def test_bad_arguments_raise(front, straight):
    with pytest.raises(ValueError, match="exactly one of FRONT_FACING_CAMERA"):
        CameraRig(straight, ("FRONT_FACING_CAMERA", "LEFT_CAMERA"))
    with pytest.raises(ValueError, match="exactly one of"):
        CameraRig(straight, ("REAR_CAMERA",))
    with pytest.raises(ValueError, match="hfov_rad"):
        CameraModel(hfov_rad=4.0)
    with pytest.raises(ValueError, match="same length"):
        front.render(np.zeros(2), np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="objects are for 1 environments, the poses for 2"):
        front.render(np.zeros(2), np.zeros(2), np.zeros(2), boxes([[1.0, 0.0]]))
    with pytest.raises(ValueError, match="out must be a C-contiguous uint8 array"):
        front.render(np.zeros(1), np.zeros(1), np.zeros(1), out=np.zeros((1, 120, 160)))
    with pytest.raises(ValueError, match="frame must be uint8"):
        save_png(np.zeros((4, 4)), "unused.png")
