from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from apexrl.tracks.download import download_route
from apexrl.tracks.io import save_deepracer_npy, save_json
from apexrl.tracks.library import (
    DEEPRACER_WIDTH_M,
    Straight,
    Turn,
    borders_fold,
    builtin_info,
    builtin_track,
    builtin_tracks,
    layout_centerline,
    load_track,
    random_track,
    road_overlaps,
    track_from_spec,
)
from apexrl.tracks.track import Track, TrackError


def _arc_lengths_where(track: Track, mask: np.ndarray) -> list[float]:
    """Lengths (m) of the runs of consecutive samples where ``mask`` holds (cyclic)."""
    if mask.all():
        return [track.length_m]
    start = int(np.argmin(mask))
    runs, count = [], 0
    for value in np.roll(mask, -start):
        if value:
            count += 1
        elif count:
            runs.append(count * track.ds_m)
            count = 0
    if count:
        runs.append(count * track.ds_m)
    return runs


# ---------------------------------------------------------------------- built-in tracks
def test_builtin_catalogue():
    names = builtin_tracks()
    kinds = [builtin_info(n).kind for n in names]
    assert kinds.count("motorcycle") >= 1 and kinds.count("deepracer") >= 3
    assert all(builtin_info(n).description for n in names)
    with pytest.raises(ValueError, match="no built-in track 'nope'; built-in tracks: apex_park"):
        builtin_info("nope")


@pytest.mark.parametrize("name", builtin_tracks())
def test_builtin_tracks_are_valid_roads(name):
    track = builtin_track(name)
    info = builtin_info(name)
    assert track.closed and track.name == name
    np.testing.assert_allclose(track.width_m, info.width_m)
    assert not borders_fold(track)
    assert not road_overlaps(track)
    min_radius_m = 1 / np.abs(track.curvature_1pm).max()
    assert min_radius_m > 1.5 * info.width_m / 2
    # The start is on a straight, heading +x, and the loop closes smoothly through the seam.
    assert abs(track.curvature_1pm[0]) < 1e-4  # radius > 10 km: a straight
    assert track.heading_rad[0] == pytest.approx(0.0, abs=1e-6)
    seam_step = np.hypot(*(track.xy_m[0] - track.xy_m[-1]))
    assert seam_step == pytest.approx(track.ds_m, rel=1e-3)
    assert track.orientation == ("ccw" if info.turning_deg > 0 else "cw")


def test_motorcycle_circuit_character():
    track = builtin_track("apex_park")
    assert 3000 <= track.length_m <= 5000
    assert builtin_info("apex_park").width_m == 12.0
    radius = 1 / np.maximum(np.abs(track.curvature_1pm), 1e-12)
    # Slow hairpins of 15-25 m radius ...
    assert 15.0 <= radius.min() <= 25.0
    hairpin_runs = _arc_lengths_where(track, radius < 26.0)
    assert len([r for r in hairpin_runs if r > 20.0]) >= 2
    # ... fast sweepers of 150-300 m radius, each held for a while ...
    sweepers = _arc_lengths_where(track, (radius > 150.0) & (radius < 310.0))
    assert len([r for r in sweepers if r > 30.0]) >= 2
    # ... and a chicane: a right and a left turn tighter than 40 m within 60 m of each other.
    tight_left = np.flatnonzero(track.curvature_1pm > 1 / 40.0) * track.ds_m
    tight_right = np.flatnonzero(track.curvature_1pm < -1 / 40.0) * track.ds_m
    gaps = np.abs(tight_left[:, None] - tight_right[None, :])
    assert gaps.min() < 60.0
    # A long main straight to brake into the first corner from.
    straights = _arc_lengths_where(track, np.abs(track.curvature_1pm) < 1e-5)
    assert max(straights) > 800.0


def test_deepracer_tracks_have_different_characters():
    tracks = {n: builtin_track(n) for n in builtin_tracks() if builtin_info(n).kind == "deepracer"}
    for track in tracks.values():
        assert 15.0 <= track.length_m <= 60.0
        np.testing.assert_allclose(track.width_m, DEEPRACER_WIDTH_M)
    lengths = sorted(t.length_m for t in tracks.values())
    assert lengths[0] < 25.0 and lengths[-1] > 45.0
    min_radii = {n: 1 / np.abs(t.curvature_1pm).max() for n, t in tracks.items()}
    assert min(min_radii.values()) < 1.0  # a hairpin track
    assert max(min_radii.values()) > 2.0  # a fast, flowing one
    assert {t.orientation for t in tracks.values()} == {"ccw", "cw"}


def test_builtin_tracks_are_built_once():
    assert builtin_track("dr_oval") is builtin_track("dr_oval")
    assert load_track("dr_oval") is builtin_track("dr_oval")


# ---------------------------------------------------------------------- layout language
def test_layout_closes_exactly_with_clothoids():
    elements = [
        Straight(None),
        Turn(10.0, 90.0, 4.0),
        Straight(None),
        Turn(10.0, 90.0, 4.0),
        Straight(30.0),
        Turn(10.0, 90.0, 4.0),
        Straight(20.0),
        Turn(10.0, None, 4.0),
    ]
    xy = layout_centerline(elements, turning_deg=360.0, spacing_m=0.1)
    step = np.hypot(*np.diff(np.vstack([xy, xy[:1]]), axis=0).T)
    # Uniform in arc length; the seam closes to rounding error (chords of curved pieces are
    # marginally shorter than the arc step).
    assert step.max() == pytest.approx(step.min(), rel=2e-4)
    # A symmetric layout is a rounded rectangle. Each 90 deg corner with clothoids of length L
    # reaches (R + L^2/(24 R)) + L/2 - L^3/(240 R^2) along its entry direction (tangent length).
    radius, clothoid = 10.0, 4.0
    tangent = radius + clothoid**2 / (24 * radius) + clothoid / 2 - clothoid**3 / (240 * radius**2)
    assert np.ptp(xy[:, 0]) == pytest.approx(30.0 + 2 * tangent, rel=1e-4)
    assert np.ptp(xy[:, 1]) == pytest.approx(20.0 + 2 * tangent, rel=1e-4)
    track = Track.from_centerline(xy, 2.0, 2.0)
    assert track.length_m == pytest.approx(2 * 30 + 2 * 20 + 2 * math.pi * 10 + 4 * 4.0, rel=1e-3)
    assert 1 / np.abs(track.curvature_1pm).max() == pytest.approx(10.0, rel=1e-3)


def test_layout_rejects_impossible_layouts():
    with pytest.raises(ValueError, match="closing straights would need lengths"):
        layout_centerline(
            [Straight(None), Turn(5.0, 180.0, 1.0), Straight(None), Turn(20.0, None, 1.0)],
            turning_deg=360.0,
            spacing_m=0.5,
        )
    with pytest.raises(ValueError, match="exactly two straights"):
        layout_centerline([Straight(None), Turn(5.0, None, 1.0)], turning_deg=360.0, spacing_m=1.0)
    with pytest.raises(ValueError, match="too short for its transitions"):
        layout_centerline([Turn(1.0, 10.0, 5.0)], turning_deg=360.0, spacing_m=1.0)


# ---------------------------------------------------------------------- shapes
def test_circle_curvature_is_exact():
    track = load_track("circle:radius=50,width=10")
    np.testing.assert_allclose(track.curvature_1pm, 1 / 50.0, rtol=1e-5)
    assert track.length_m == pytest.approx(2 * math.pi * 50.0, rel=1e-6)
    assert track.orientation == "ccw"
    np.testing.assert_allclose(track.w_left_m, 5.0)
    np.testing.assert_allclose(track.w_right_m, 5.0)
    np.testing.assert_allclose(np.hypot(*track.xy_m.T), 50.0, rtol=1e-9)


@pytest.mark.parametrize("radius_m", [0.8, 3.0, 400.0])
def test_circle_curvature_at_every_scale(radius_m):
    track = track_from_spec(f"circle:radius={radius_m},width={radius_m / 2}")
    np.testing.assert_allclose(track.curvature_1pm * radius_m, 1.0, rtol=1e-5)


def test_stadium_geometry():
    track = load_track("stadium:straight=400,radius=40,width=10")
    assert track.length_m == pytest.approx(800 + 2 * math.pi * 40, rel=1e-6)
    assert np.ptp(track.xy_m[:, 0]) == pytest.approx(480.0, rel=1e-5)
    assert np.ptp(track.xy_m[:, 1]) == pytest.approx(80.0, rel=1e-5)
    # Away from the four curvature jumps the spline gives the exact values.
    s = track.s_m
    on_straight = np.abs(s - 100.0) < 90.0
    mid_arc = np.abs(s - (200.0 + 20 * math.pi)) < 40.0
    np.testing.assert_allclose(track.curvature_1pm[on_straight], 0.0, atol=1e-6)
    np.testing.assert_allclose(track.curvature_1pm[mid_arc], 1 / 40.0, rtol=1e-4)


def test_oval_geometry():
    track = load_track("oval:a=60,b=30,width=10")
    h = ((60 - 30) / (60 + 30)) ** 2
    ramanujan = math.pi * (60 + 30) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))
    assert track.length_m == pytest.approx(ramanujan, rel=1e-6)
    k = np.abs(track.curvature_1pm)
    assert 1 / k.max() == pytest.approx(30.0**2 / 60.0, rel=1e-4)
    assert 1 / k.min() == pytest.approx(60.0**2 / 30.0, rel=1e-4)


def test_straight_is_open():
    track = load_track("straight:length=200,width=10")
    assert not track.closed and track.orientation == "open"
    assert track.length_m == pytest.approx(200.0, rel=1e-12)
    np.testing.assert_allclose(track.curvature_1pm, 0.0, atol=1e-12)


def test_shape_specs_are_cached_and_tolerate_spaces():
    a = load_track("circle:radius=50,width=10")
    assert load_track(" circle: radius = 50.0 , width=10 ") is a
    assert a.name == "circle_radius50_width10"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hexagon:side=3", "unknown track shape 'hexagon'.*shapes: circle:radius=R,width=W"),
        ("circle:radius=50,widht=10", "unknown key 'widht'; valid keys for circle: radius, width"),
        ("circle:radius=50", "missing width; valid keys for circle: radius, width"),
        ("stadium:straight=100,width=10", "missing radius; valid keys for stadium"),
        ("circle:radius=fifty,width=10", "radius='fifty' is not a number"),
        ("circle:radius=-5,width=10", "radius must be a positive number of metres, got -5"),
        ("oval:a=60,b=0,width=10", "b must be a positive number of metres"),
        ("straight:length=nan,width=10", "length must be a positive number"),
        ("circle:radius=50,radius=60,width=1", "key 'radius' is given twice"),
        ("circle:radius,width=1", "'radius' is not key=value"),
        ("circle:radius=4,width=10", "width 10 m is too wide for the tightest radius 4 m"),
        ("oval:a=60,b=10,width=5", r"too wide for the tightest radius 1\.66667 m"),
        (
            "random:scale=deepracer",
            "missing seed; valid keys for random: seed, scale, length, width",
        ),
        ("random:seed=-1", "seed must be a non-negative integer"),
        ("random:seed=1,scale=truck", "scale must be one of deepracer, motorcycle"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        load_track(spec)


# ---------------------------------------------------------------------- random tracks
def test_random_same_seed_same_track():
    a = random_track.__wrapped__(3)
    b = random_track.__wrapped__(3)
    assert a is not b
    np.testing.assert_array_equal(a.xy_m, b.xy_m)
    np.testing.assert_array_equal(a.curvature_1pm, b.curvature_1pm)
    assert a.name == b.name == "random_deepracer_seed3"
    c = random_track(4)
    assert c.length_m != a.length_m


def test_random_spec_matches_function():
    a = load_track("random:seed=7,scale=motorcycle,length=4000,width=12")
    b = random_track(7, scale="motorcycle", length_m=4000.0, width_m=12.0)
    np.testing.assert_array_equal(a.xy_m, b.xy_m)
    assert a.length_m == pytest.approx(4000.0, rel=1e-4)
    np.testing.assert_allclose(a.width_m, 12.0)


@pytest.mark.parametrize("scale", ["deepracer", "motorcycle"])
def test_random_tracks_are_valid(scale):
    orientations = set()
    for seed in range(12):
        track = random_track(seed, scale=scale)
        lo, hi, width = (20, 50, DEEPRACER_WIDTH_M) if scale == "deepracer" else (2500, 5000, 12)
        assert lo - 0.1 <= track.length_m <= hi + 0.1
        np.testing.assert_allclose(track.width_m, width)
        assert 1 / np.abs(track.curvature_1pm).max() > 1.5 * width / 2 * 0.98
        assert not road_overlaps(track) and not borders_fold(track)
        orientations.add(track.orientation)
    assert orientations == {"ccw", "cw"}


def test_random_does_not_touch_the_global_rng():
    np.random.seed(1234)  # noqa: NPY002 - the legacy global state is what must stay untouched
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    random_track.__wrapped__(11)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_random_impossible_request_is_reported():
    with pytest.raises(TrackError, match="no valid random track of length 5 m and width 3 m"):
        random_track(0, length_m=5.0, width_m=3.0)


# ---------------------------------------------------------------------- road checks
def test_road_overlaps_detects_touching_tarmac():
    # An open 350 deg arc: its ends pass 1.7 m apart, a 4 m wide road overlaps itself there.
    t = np.radians(np.linspace(0.0, 350.0, 700))
    xy = 10.0 * np.column_stack([np.cos(t), np.sin(t)])
    assert road_overlaps(Track.from_centerline(xy, 2.0, 2.0, closed=False))
    assert not road_overlaps(Track.from_centerline(xy, 0.5, 0.5, closed=False))


def test_borders_fold_detects_tight_corners():
    t = np.linspace(0.0, 2 * np.pi, 500, endpoint=False)
    xy = 4.0 * np.column_stack([np.cos(t), np.sin(t)])
    assert borders_fold(Track.from_centerline(xy, 5.0, 1.0))  # left = inside on a ccw circle
    assert not borders_fold(Track.from_centerline(xy, 1.0, 5.0))


# ---------------------------------------------------------------------- load_track
def test_load_track_resolution_order(tmp_path, monkeypatch):
    track = builtin_track("dr_flow")
    assert load_track(track) is track
    path = save_json(track, tmp_path / "mine.json")
    for spec in (str(path), path):
        loaded = load_track(spec)
        assert loaded.name == "dr_flow" and loaded.source == str(path)
    monkeypatch.chdir(tmp_path)
    assert load_track("mine.json").length_m == pytest.approx(track.length_m, rel=1e-6)


def test_load_track_finds_downloaded_routes(tmp_path):
    routes = tmp_path / "routes"
    save_deepracer_npy(builtin_track("dr_hairpins"), routes / "Test_World-2.npy")
    download_route("Test_World-2", base_url=routes.as_uri() + "/")
    track = load_track("Test_World-2")
    assert track.name == "Test_World-2" and track.orientation == "cw"
    assert Path(track.source).parent.name == "tracks"


def test_load_track_not_found_message():
    with pytest.raises(ValueError) as info:
        load_track("foo")
    message = str(info.value)
    assert message.startswith("track 'foo' not found; built-in tracks: apex_park, ")
    assert "shapes: circle:radius=R,width=W, stadium:" in message
    assert "or a path to a .npy/.csv/.json file" in message
    assert "download official DeepRacer tracks with 'apexrl tracks download NAME'" in message


def test_load_track_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="track file not found: .*missing.npy"):
        load_track(str(tmp_path / "missing.npy"))
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        load_track(tmp_path / "missing.csv")


def test_load_track_folder(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder; expected a track file"):
        load_track(str(tmp_path))


def test_load_track_rejects_other_types():
    with pytest.raises(TypeError, match="got int"):
        load_track(3)  # type: ignore[arg-type]
