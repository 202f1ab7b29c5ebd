"""Lidar: ray layout, ranges against closed-form geometry, clipping, sector encodings, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.sensors import lidar as lid
from apexrl.sensors.lidar import Lidar, LidarConfig, ray_angles_rad
from apexrl.sensors.objects import ObjectsState

STEP_DEG = 300.0 / 63.0


def scene(objects_xy, *, length_m=0.3, width_m=0.3, yaw_rad=0.0) -> ObjectsState:
    """One environment holding rectangles at ``objects_xy`` (car-frame = world frame here)."""
    xy = np.asarray(objects_xy, dtype=np.float64).reshape(1, -1, 2)
    k = xy.shape[1]
    return ObjectsState(
        xy_m=xy,
        yaw_rad=np.broadcast_to(np.asarray(yaw_rad, float), (1, k)).copy(),
        length_m=np.broadcast_to(np.asarray(length_m, float), (k,)).copy(),
        width_m=np.broadcast_to(np.asarray(width_m, float), (k,)).copy(),
        is_bot=np.zeros(k, bool),
        valid=np.ones((1, k), bool),
    )


def scan_at_origin(objects, kind="LIDAR", config=None) -> np.ndarray:
    """Scan from a car at the origin heading +x; the scanner sits at (LIDAR_FORWARD_M, 0)."""
    z = np.zeros(1)
    return Lidar(kind, config).scan(z, z, z, objects)[0]


def test_ray_layout():
    a = np.degrees(ray_angles_rad())
    assert a.shape == (64,)
    assert a[0] == pytest.approx(30.0, abs=1e-3) and a[63] == pytest.approx(330.0, abs=1e-3)
    assert np.allclose(np.diff(a), STEP_DEG, atol=1e-6)  # counter-clockwise
    assert a[31] == pytest.approx(180.0 - STEP_DEG / 2, abs=1e-3)
    assert a[32] == pytest.approx(180.0 + STEP_DEG / 2, abs=1e-3)


def test_no_objects_reads_max_range():
    lidar = Lidar()
    z = np.zeros(3)
    for objects in (None, ObjectsState.empty(3)):
        r = lidar.scan(z, z, z, objects)
        assert r.shape == (3, 64) and r.dtype == np.float32
        assert (r == lid.MAX_RANGE_M).all()
    assert lidar.observation_shape == (64,)
    assert (lidar.low == 0.15).all() and (lidar.high == 12.0).all()


def test_box_behind_reads_its_near_face():
    d_m, half = 1.0, 0.15
    r = scan_at_origin(scene([[lid.LIDAR_FORWARD_M - d_m, 0.0]]))
    face = d_m - half
    for i in (31, 32):  # 2.38 deg either side of straight behind
        assert r[i] == pytest.approx(face / math.cos(math.radians(STEP_DEG / 2)), abs=1e-5)
    for i in (30, 33):  # 7.14 deg: still on the 0.3 m face
        assert r[i] == pytest.approx(face / math.cos(math.radians(1.5 * STEP_DEG)), abs=1e-5)
    hit = r < lid.MAX_RANGE_M
    assert np.flatnonzero(hit).tolist() == [30, 31, 32, 33]


@pytest.mark.parametrize("side", [1.0, -1.0])
def test_long_wall_beside_the_car(side):
    """A 6 m long, 0.2 m wide rectangle 1 m to the side: every ray that reaches its near face
    reads ``0.9 / |sin(angle)|``."""
    wall = scene([[lid.LIDAR_FORWARD_M, side * 1.0]], length_m=6.0, width_m=0.2)
    r = scan_at_origin(wall)
    a = ray_angles_rad()
    expected = 0.9 / np.abs(np.sin(a))
    x_hit = expected * np.cos(a)
    toward = np.sign(np.sin(a)) == side
    on_face = toward & (np.abs(x_hit) <= 3.0)
    assert on_face.sum() > 20
    assert np.allclose(r[on_face], expected[on_face], atol=1e-5)
    assert (r[~toward] == lid.MAX_RANGE_M).all()


def test_blind_cone_straight_ahead():
    """The scanner's 60 deg gap faces the nose: a 0.3 m box 1 m ahead is not seen; with its
    face 0.2 m ahead the rays at +-30 and +-34.8 deg reach it (0.2 tan 34.8 = 0.139 < 0.15 m)."""
    far = scan_at_origin(scene([[lid.LIDAR_FORWARD_M + 1.0, 0.0]]))
    assert (far == lid.MAX_RANGE_M).all()
    near = scan_at_origin(scene([[lid.LIDAR_FORWARD_M + 0.2 + 0.15, 0.0]]))
    for rays, angle_deg in (((0, 63), 30.0), ((1, 62), 30.0 + STEP_DEG)):
        expected = 0.2 / math.cos(math.radians(angle_deg))
        assert near[list(rays)] == pytest.approx([expected, expected], abs=1e-4)
    assert (near[2:62] == lid.MAX_RANGE_M).all()


def test_clipping_to_min_and_max_range():
    touching = scan_at_origin(scene([[lid.LIDAR_FORWARD_M - 0.2, 0.0]]))  # face 5 cm away
    assert touching[31] == lid.MIN_RANGE_M
    inside = scan_at_origin(scene([[lid.LIDAR_FORWARD_M, 0.0]]))  # the scanner in the box
    assert (inside == lid.MIN_RANGE_M).all()
    beyond = scan_at_origin(scene([[lid.LIDAR_FORWARD_M - 12.5, 0.0]]))
    assert (beyond == lid.MAX_RANGE_M).all()


def reference_ranges(sensor_xy, heading, objects: ObjectsState) -> np.ndarray:
    """Ray vs the four edges of each rectangle (segment intersection): a second method."""
    corners = objects.corners_m()[0]
    out = np.full(64, np.inf)
    for i, a in enumerate(ray_angles_rad() + heading):
        d = np.array([math.cos(a), math.sin(a)])
        for k in range(corners.shape[0]):
            for e in range(4):
                p, q = corners[k, e], corners[k, (e + 1) % 4]
                m = np.array([d, p - q]).T
                if abs(np.linalg.det(m)) < 1e-12:
                    continue
                t, u = np.linalg.solve(m, p - sensor_xy)
                if t >= 0 and 0 <= u <= 1:
                    out[i] = min(out[i], t)
    return np.clip(out, lid.MIN_RANGE_M, lid.MAX_RANGE_M)


def test_random_rotated_scenes_match_segment_intersection():
    rng = np.random.default_rng(7)
    lidar = Lidar()
    for _ in range(5):
        k = 4
        xy = rng.uniform(-3.0, 3.0, (1, k, 2))
        objects = ObjectsState(
            xy_m=xy,
            yaw_rad=rng.uniform(-math.pi, math.pi, (1, k)),
            length_m=rng.uniform(0.2, 0.6, k),
            width_m=rng.uniform(0.1, 0.4, k),
            is_bot=rng.random(k) < 0.5,
            valid=np.ones((1, k), bool),
        )
        x, y, yaw = rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-math.pi, math.pi)
        sensor = np.array([x, y]) + lid.LIDAR_FORWARD_M * np.array([math.cos(yaw), math.sin(yaw)])
        got = lidar.scan(np.array([x]), np.array([y]), np.array([yaw]), objects)[0]
        assert np.allclose(got, reference_ranges(sensor, yaw, objects), atol=1e-4)


def test_invalid_slots_ignored_and_batches_independent():
    xy = np.array([[[lid.LIDAR_FORWARD_M - 1.0, 0.0]], [[lid.LIDAR_FORWARD_M - 1.0, 0.0]]])
    objects = ObjectsState(
        xy_m=xy,
        yaw_rad=np.zeros((2, 1)),
        length_m=np.array([0.3]),
        width_m=np.array([0.3]),
        is_bot=np.array([False]),
        valid=np.array([[True], [False]]),
    )
    z = np.zeros(2)
    serial = Lidar(parallel=False).scan(z, z, z, objects)
    assert serial[0, 31] < 1.0 and (serial[1] == lid.MAX_RANGE_M).all()
    assert np.array_equal(serial, Lidar(parallel=True).scan(z, z, z, objects))


def test_sector_lidar_bits():
    lidar = Lidar("SECTOR_LIDAR")
    assert lidar.observation_shape == (8,)
    assert (lidar.low == 0.0).all() and (lidar.high == 1.0).all()
    # Straight left is ray 12/13 (87.1/91.9 deg): sector 1 (rays 8-15).
    near_left = scene([[lid.LIDAR_FORWARD_M, 0.45]], length_m=0.2, width_m=0.1)
    assert scan_at_origin(near_left, "SECTOR_LIDAR").tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    far_left = scene([[lid.LIDAR_FORWARD_M, 0.6]], length_m=0.2, width_m=0.1)  # face at 0.55 m
    assert scan_at_origin(far_left, "SECTOR_LIDAR").tolist() == [0] * 8
    # Straight right (ray 50/51, 268/273 deg) is sector 6.
    near_right = scene([[lid.LIDAR_FORWARD_M, -0.45]], length_m=0.2, width_m=0.1)
    assert scan_at_origin(near_right, "SECTOR_LIDAR").tolist() == [0, 0, 0, 0, 0, 0, 1, 0]


def test_discretized_sector_lidar_bands():
    config = {"num_sectors": 4, "num_values_per_sector": 4, "clipping_dist": 2.0}
    lidar = Lidar("DISCRETIZED_SECTOR_LIDAR", config)
    assert lidar.observation_shape == (16,)
    # Sector 1 = rays 16-31 (106 to 178 deg); a wall behind-left with its face 0.6 m away.
    wall = scene([[lid.LIDAR_FORWARD_M - 0.7, 0.0]], length_m=0.2, width_m=0.2)
    ranges = scan_at_origin(wall)
    r1 = ranges[16:32].min()
    assert r1 == pytest.approx(0.6 / math.cos(math.radians(STEP_DEG / 2)), abs=1e-4)
    obs = scan_at_origin(wall, "DISCRETIZED_SECTOR_LIDAR", config).reshape(4, 4)
    band = int(r1 * 4 / 2.0)  # 0.6 m in 0.5 m bands: band 1
    assert band == 1
    assert obs[1].tolist() == [0, 1, 0, 0] and obs[2].tolist() == [0, 1, 0, 0]
    assert obs[0].tolist() == [0, 0, 0, 0] and obs[3].tolist() == [0, 0, 0, 0]
    # Nearer than the first band edge -> band 0; beyond the clipping distance -> all zeros.
    close = scene([[lid.LIDAR_FORWARD_M - 0.4, 0.0]], length_m=0.2, width_m=0.2)
    assert scan_at_origin(close, "DISCRETIZED_SECTOR_LIDAR", config)[4:8].tolist() == [1, 0, 0, 0]
    far = scene([[lid.LIDAR_FORWARD_M - 2.2, 0.0]], length_m=0.2, width_m=0.2)
    assert (scan_at_origin(far, "DISCRETIZED_SECTOR_LIDAR", config) == 0).all()
    almost = scene([[lid.LIDAR_FORWARD_M - 2.05, 0.0]], length_m=0.2, width_m=0.2)  # ~1.95 m
    assert scan_at_origin(almost, "DISCRETIZED_SECTOR_LIDAR", config)[4:8].tolist() == [0, 0, 0, 1]


def test_discretized_defaults_are_the_simulators():
    lidar = Lidar("DISCRETIZED_SECTOR_LIDAR")
    assert lidar.config == LidarConfig(num_sectors=8, num_values_per_sector=8, clipping_dist=2.0)
    assert lidar.observation_shape == (64,)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"num_sectors": 3}, "num_sectors must divide 64"),
        ({"num_sectors": 0}, "num_sectors must divide 64"),
        ({"num_sectors": 8.0}, "num_sectors must be an integer"),
        ({"num_values_per_sector": 0}, "num_values_per_sector must be >= 1"),
        ({"num_values_per_sector": True}, "num_values_per_sector must be an integer"),
        ({"clipping_dist": 0.1}, r"clipping_dist must be in \[0.15, 12.0\] m"),
        ({"clipping_dist": 12.5}, r"clipping_dist must be in \[0.15, 12.0\] m"),
        ({"clipping_dist": "2"}, "clipping_dist must be a number"),
        ({"num_sector": 8}, "unknown key"),
        ([8, 8, 2.0], "must be a JSON object"),
    ],
)
def test_bad_lidar_config_raises(config, message):
    with pytest.raises(ValueError, match=message):
        Lidar("DISCRETIZED_SECTOR_LIDAR", config)


def test_bad_kind_and_shapes_raise():
    with pytest.raises(ValueError, match="lidar kind must be one of LIDAR"):
        Lidar("RADAR")
    with pytest.raises(ValueError, match="same length"):
        Lidar().scan(np.zeros(2), np.zeros(1), np.zeros(2), None)
    with pytest.raises(ValueError, match="objects are for 1 environments, the poses for 2"):
        Lidar().scan(np.zeros(2), np.zeros(2), np.zeros(2), scene([[1.0, 0.0]]))
