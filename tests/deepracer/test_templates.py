from __future__ import annotations

import math

import numpy as np
import pytest

from apexrl.deepracer.params import FRONT_OFFSET_M, TrackObject, reward_params, sample_params
from apexrl.deepracer.reward_check import lint_source
from apexrl.deepracer.reward_runner import RewardFunction
from apexrl.deepracer.templates import (
    TemplateError,
    list_templates,
    render_template,
    write_template,
)
from apexrl.tracks.library import load_track

NAMES = [
    "centerline_following",
    "head_to_head",
    "object_avoidance",
    "racing_line",
    "speed_optimization",
    "time_trial",
]
TRACKS = ("dr_oval", "dr_hairpins")  # counter-clockwise and clockwise


def _load(tmp_path, source: str, name: str = "reward_function") -> RewardFunction:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return RewardFunction.load(path)


def test_list_templates():
    templates = list_templates()
    assert [t.name for t in templates] == NAMES
    assert [t.name for t in templates if t.needs_track] == ["racing_line"]
    assert all(t.params and t.reward_range.startswith("[0.001, ") for t in templates)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("track_name", TRACKS)
def test_every_template_lints_and_runs_on_sample_params(tmp_path, name, track_name):
    track = load_track(track_name)
    source = render_template(name, track=track if name == "racing_line" else None)
    assert lint_source(source) == []
    imports = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import math"]
    rf = _load(tmp_path, source)
    for n_objects in (0, 3):
        samples = sample_params(track, 80, np.random.default_rng(7), n_objects=n_objects)
        rewards = [rf(p) for p in samples]
        assert min(rewards) >= 1e-3 and max(rewards) <= 2.0 + 1e-12
        assert max(rewards) > 0.5  # on-track samples earn real reward


def test_rendering_is_deterministic_and_parameters_are_embedded():
    a = render_template("speed_optimization", {"max_speed_mps": 3.5, "lookahead_m": 1})
    assert a == render_template("speed_optimization", {"max_speed_mps": 3.5, "lookahead_m": 1})
    assert "MAX_SPEED_MPS = 3.5  #" in a and "LOOKAHEAD_M = 1.0  #" in a
    assert "MIN_SPEED_MPS = 1.0  #" in a


@pytest.mark.parametrize(
    ("name", "params", "fragment"),
    [
        (
            "speed_optimization",
            {"max_speed": 3},
            "has no parameter(s) 'max_speed'; valid: min_speed_mps",
        ),
        ("speed_optimization", {"max_speed_mps": "fast"}, "must be float, got 'fast'"),
        ("speed_optimization", {"max_speed_mps": True}, "must be float, got True"),
        ("speed_optimization", {"max_speed_mps": 5.0}, "must be <= 4, got 5.0"),
        ("speed_optimization", {"min_speed_mps": 3.0, "max_speed_mps": 2.0}, "must be below"),
        ("time_trial", {"target_lap_time_s": float("inf")}, "must be a finite number"),
        ("racing_line", {"points": 20.5}, "must be int, got 20.5"),
    ],
)
def test_bad_parameters(name, params, fragment):
    with pytest.raises(TemplateError) as info:
        render_template(name, params, track="dr_oval" if name == "racing_line" else None)
    assert fragment in str(info.value)


def test_track_rules_and_unknown_template():
    with pytest.raises(TemplateError, match="embeds track geometry; give the track"):
        render_template("racing_line")
    with pytest.raises(TemplateError, match="does not use a track"):
        render_template("time_trial", track="dr_oval")
    with pytest.raises(TemplateError, match="no reward template 'fastest'; templates: centerline"):
        render_template("fastest")
    with pytest.raises(TemplateError, match="no reward template '../x'"):
        render_template("../x")


def _on_line_params(x: float, y: float, speed: float) -> dict:
    return {"is_offtrack": False, "all_wheels_on_track": True, "x": x, "y": y, "speed": speed}


def test_racing_line_embeds_the_line_and_rewards_it(tmp_path):
    track = load_track("dr_oval")
    rf = _load(tmp_path, render_template("racing_line", {"points": 50}, track=track))
    line = rf.module.RACING_LINE
    assert len(line) == 50 and rf.module.RACING_LINE_CLOSED is True
    from apexrl.tracks.raceline import minimum_curvature_line

    xy = minimum_curvature_line(track).xy_m
    assert line[0] == pytest.approx(tuple(xy[0]), abs=1e-4)
    x, y = line[10]
    assert rf(_on_line_params(x, y, 4.0)) == pytest.approx(2.0)
    assert rf(_on_line_params(x, y, 1.0)) == pytest.approx(1.0)
    assert rf(_on_line_params(x + 0.15, y, 4.0)) < 2.0
    assert rf(_on_line_params(x + 1.0, y, 4.0)) == 1e-3


def test_centerline_following_values(tmp_path):
    rf = _load(tmp_path, render_template("centerline_following"))
    base = {
        "is_offtrack": False,
        "all_wheels_on_track": True,
        "track_width": 1.0,
        "distance_from_center": 0.0,
        "steering_angle": 0.0,
    }
    assert rf(base) == 1.0
    assert rf({**base, "distance_from_center": 0.25}) == pytest.approx(0.75)
    assert rf({**base, "steering_angle": -20.0}) == pytest.approx(0.8)
    assert rf({**base, "all_wheels_on_track": False}) == 1e-3


def test_time_trial_pays_pace_and_lap_completion(tmp_path):
    rf = _load(tmp_path, render_template("time_trial", {"target_lap_time_s": 10.0}))
    track = load_track("circle:radius=3,width=1.067")
    on_line = dict(
        x_m=3.0 - FRONT_OFFSET_M,
        y_m=0.0,
        heading_rad=math.pi / 2,
        speed_cmd_mps=2.0,
        steering_cmd_deg=0.0,
        all_wheels_on_track=True,
        is_offtrack=False,
        is_crashed=False,
    )
    slow = rf(reward_params(track, steps=101, progress_pct=20.0, **on_line))
    fast = rf(reward_params(track, steps=101, progress_pct=60.0, **on_line))
    assert fast > slow
    assert rf(reward_params(track, steps=140, progress_pct=100.0, **on_line)) == 2.0


def test_object_avoidance_prefers_the_free_lane(tmp_path):
    rf = _load(tmp_path, render_template("object_avoidance"))
    track = load_track("circle:radius=3,width=1.067")
    box_angle = math.radians(215)
    box = TrackObject(2.75 * math.cos(box_angle), 2.75 * math.sin(box_angle))  # inside = left

    def at(radius: float) -> float:
        a = math.radians(200)
        heading = a + math.pi / 2
        return rf(
            reward_params(
                track,
                x_m=radius * math.cos(a),
                y_m=radius * math.sin(a),
                heading_rad=heading,
                speed_cmd_mps=1.0,
                steering_cmd_deg=0.0,
                steps=10,
                progress_pct=10.0,
                all_wheels_on_track=True,
                is_offtrack=False,
                is_crashed=False,
                objects=[box],
            )
        )

    same_lane, free_lane = at(2.75), at(3.25)
    assert free_lane > same_lane
    assert free_lane == pytest.approx(2.0, abs=0.1)


def test_write_template_refuses_to_overwrite(tmp_path):
    target = tmp_path / "reward.py"
    write_template("time_trial", target)
    first = target.read_text()
    with pytest.raises(FileExistsError, match="pass --force to overwrite"):
        write_template("centerline_following", target)
    assert target.read_text() == first
    write_template("centerline_following", target, force=True)
    assert "centerline_following" in target.read_text()
