"""Official AWS DeepRacer world names (facts, not code): what ``DR_WORLD_NAME`` may be set to.

A world name is the file name, without ``.npy``, of a route in ``bundle/routes/`` of the
deepracer-simapp repository. This list was collected from the published route list and the AWS
DeepRacer track catalogue (console name in the value); the simulator gains tracks over time, so a
name missing here is not necessarily wrong -- callers offer an explicit override for that case.
Most newer tracks also ship ``<name>_cw`` and ``<name>_ccw`` variants with a fixed direction.
"""

from __future__ import annotations

import difflib

OFFICIAL_WORLDS: dict[str, str] = {
    "2022_april_open": "Ace Speedway",
    "2022_april_pro": "Ace Super Speedway",
    "2022_august_open": "Jochem Turnpike",
    "2022_august_pro": "Jochem Highway",
    "2022_july_open": "DBro Raceway",
    "2022_july_pro": "DBro Super Raceway",
    "2022_june_open": "BreadCentric Loop",
    "2022_june_pro": "BreadCentric Speedway",
    "2022_march_open": "Rogue Circuit",
    "2022_march_pro": "Rogue Raceway",
    "2022_may_open": "Ross Raceway",
    "2022_may_pro": "Ross Super Speedway",
    "2022_october_open": "Jennens Family Speedway",
    "2022_october_pro": "Jennens Super Speedway",
    "2022_reinvent_champ": "re:Invent 2022 Championship",
    "2022_september_open": "Roger Ring",
    "2022_september_pro": "Roger Super Raceway",
    "2022_summit_speedway": "RL Speedway",
    "2024_reinvent_champ": "Forever Raceway",
    "Albert": "Yun Speedway",
    "AmericasGeneratedInclStart": "Baadal Track",
    "Aragon": "Stratus Loop",
    "Austin": "American Hills Speedway",
    "Belille": "Cumulo Turnpike",
    "Bowtie_track": "Bowtie Track",
    "Canada_Training": "Toronto Turnpike Training",
    "China_track": "Shanghai Sudu Training",
    "FS_June2020": "Fumiaki Loop",
    "July_2020": "Roger Raceway",
    "LGSWide": "Sola Speedway",
    "Mexico_track": "Cumulo Carrera Training",
    "Monaco": "European Seaside Circuit",
    "Monaco_building": "European Seaside Circuit (buildings)",
    "New_York_Track": "Empire City Training",
    "Oval_track": "Oval Track",
    "Singapore": "Asia Pacific Bay Loop",
    "Singapore_building": "Asia Pacific Bay Loop (buildings)",
    "Spain_track": "Circuit de Barcelona-Catalunya",
    "Tokyo_Training_track": "Kumo Torakku Training",
    "Vegas_track": "AWS Summit Raceway",
    "Virtual_May19_Train_track": "London Loop Training",
    "arctic_open": "Hot Rod Speedway",
    "arctic_pro": "Hot Rod Super Speedway",
    "caecer_gp": "Vivalas Speedway",
    "caecer_loop": "Vivalas Loop",
    "dubai_open": "Baja Turnpike",
    "dubai_pro": "Baja Highway",
    "hamption_open": "Kuei Raceway",
    "hamption_pro": "Kuei Super Raceway",
    "jyllandsringen_open": "Cosmic Loop",
    "jyllandsringen_pro": "Cosmic Circuit",
    "morgan_open": "Playa Raceway",
    "morgan_pro": "Playa Super Raceway",
    "penbay_open": "Po-Chun Speedway",
    "penbay_pro": "Po-Chun Super Speedway",
    "reInvent2019_track": "Smile Speedway (re:Invent 2019)",
    "reInvent2019_wide": "A to Z Speedway",
    "red_star_open": "Expedition Loop",
    "red_star_pro": "Expedition Super Loop",
    "reinvent_base": "re:Invent 2018",
    "thunder_hill_open": "Lars Loop",
    "thunder_hill_pro": "Lars Circuit",
}
"""World name -> the track's name in the AWS DeepRacer console."""

DIRECTIONAL_WORLDS: tuple[str, ...] = (
    "2022_april_open",
    "2022_april_pro",
    "2022_august_open",
    "2022_august_pro",
    "2022_july_pro",
    "2022_june_open",
    "2022_june_pro",
    "2022_march_open",
    "2022_march_pro",
    "2022_may_open",
    "2022_may_pro",
    "2022_october_open",
    "2022_october_pro",
    "2022_reinvent_champ",
    "2022_september_open",
    "2022_september_pro",
    "2022_summit_speedway",
    "arctic_open",
    "arctic_pro",
    "dubai_open",
    "jyllandsringen_open",
    "jyllandsringen_pro",
    "penbay_open",
    "penbay_pro",
    "reInvent2019_track",
    "reInvent2019_wide",
    "red_star_pro",
    "thunder_hill_pro",
)
"""Worlds that also exist as ``<name>_cw`` (clockwise) and ``<name>_ccw`` (counter-clockwise)."""

DEFAULT_WORLD = "reInvent2019_track"


def official_world_names() -> list[str]:
    """Every known world name, direction variants included, sorted case-insensitively."""
    names = set(OFFICIAL_WORLDS)
    names.update(f"{base}_{suffix}" for base in DIRECTIONAL_WORLDS for suffix in ("cw", "ccw"))
    return sorted(names, key=str.lower)


def is_official_world(name: str) -> bool:
    return name in OFFICIAL_WORLDS or any(
        name in (f"{base}_cw", f"{base}_ccw") for base in DIRECTIONAL_WORLDS
    )


def world_display_name(name: str) -> str | None:
    """The console name of a world (variants get " (clockwise)" etc.), or None if unknown."""
    if name in OFFICIAL_WORLDS:
        return OFFICIAL_WORLDS[name]
    base, _, suffix = name.rpartition("_")
    if base in DIRECTIONAL_WORLDS and suffix in ("cw", "ccw"):
        direction = "clockwise" if suffix == "cw" else "counter-clockwise"
        return f"{OFFICIAL_WORLDS[base]} ({direction})"
    return None


def suggest_worlds(name: str, n: int = 3) -> list[str]:
    """Known world names closest to ``name`` (case-insensitive), best first."""
    by_lower = {w.lower(): w for w in official_world_names()}
    return [by_lower[m] for m in difflib.get_close_matches(name.lower(), by_lower, n=n)]
