from __future__ import annotations

from apexrl.deepracer.worlds import (
    DEFAULT_WORLD,
    OFFICIAL_WORLDS,
    is_official_world,
    official_world_names,
    suggest_worlds,
    world_display_name,
)


def test_known_worlds_and_variants():
    assert DEFAULT_WORLD in OFFICIAL_WORLDS
    for name in ("reInvent2019_track", "reinvent_base", "Spain_track", "2022_summit_speedway"):
        assert is_official_world(name)
    assert is_official_world("reInvent2019_track_cw") and is_official_world("arctic_pro_ccw")
    assert not is_official_world("reinvent_base_cw")  # no direction variants for 2018's track
    assert not is_official_world("reinvent2019_track")  # names are case-sensitive
    names = official_world_names()
    assert len(names) == len(set(names)) > len(OFFICIAL_WORLDS)


def test_display_names_and_suggestions():
    assert world_display_name("Spain_track") == "Circuit de Barcelona-Catalunya"
    assert world_display_name("reInvent2019_wide_cw") == "A to Z Speedway (clockwise)"
    assert world_display_name("nowhere") is None
    assert suggest_worlds("reinvent2019_track")[0] == "reInvent2019_track"
    assert suggest_worlds("zzzzzz") == []
