"""Where tracks come from: built-in circuits, parametric shapes, seeded random tracks, files.

:func:`load_track` is what every command and function that takes a TRACK calls. It accepts, in
this order: a :class:`Track` (returned as is), a built-in name (:func:`builtin_tracks`), a shape
spec such as ``circle:radius=50,width=10`` or ``random:seed=3,scale=deepracer``, a path to a
``.npy``/``.csv``/``.json`` file, or the world name of a DeepRacer route already downloaded into the
cache (``apexrl tracks download NAME``).

The built-in circuits were designed for apexrl (no real-world layout is copied) as sequences of
straights and constant-radius turns joined by clothoids (curvature varying linearly with distance),
so curvature is continuous, as on a real road. Total turning is exactly +-360 deg and the loop is
closed exactly by solving for the lengths of two non-parallel straights.
"""

from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apexrl.tracks.track import Track, TrackError

DEEPRACER_WIDTH_M = 1.067
"""Road width of modern official DeepRacer tracks."""
MOTORCYCLE_WIDTH_M = 12.0
"""Typical width of a motorcycle road-racing circuit."""
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(24)
_RANDOM_MAX_ATTEMPTS = 500


# ---------------------------------------------------------------------- layout language
@dataclass(frozen=True)
class Straight:
    """A straight of ``length_m`` metres; ``None`` = solved so that the loop closes."""

    length_m: float | None


@dataclass(frozen=True)
class Turn:
    """A corner turning the heading by ``angle_deg`` (+ = left), ``None`` = whatever closes 360 deg.

    It is a clothoid of ``transition_m`` from straight to radius ``radius_m``, the arc, and a
    clothoid back. ``angle_deg`` includes the transitions, so ``|angle| * radius >= transition``.
    """

    radius_m: float
    angle_deg: float | None
    transition_m: float


def layout_centerline(
    elements: list[Straight | Turn], *, turning_deg: float, spacing_m: float
) -> np.ndarray:
    """Integrate a closed layout into centre-line points ``(N, 2)`` metres, ``spacing_m`` apart.

    Starts at the origin heading +x. Exactly one :class:`Turn` may have ``angle_deg=None`` (it gets
    ``turning_deg`` minus the other angles) and exactly two non-parallel straights must have
    ``length_m=None``: position is linear in straight lengths, so a 2x2 solve closes the loop.
    """
    free_turns = [e for e in elements if isinstance(e, Turn) and e.angle_deg is None]
    known_deg = sum(
        e.angle_deg for e in elements if isinstance(e, Turn) and e.angle_deg is not None
    )
    if len(free_turns) > 1:
        raise ValueError("at most one Turn may have angle_deg=None")
    pieces: list[list[float]] = []  # [length_m, curvature_start_1pm, curvature_end_1pm]
    unknown: list[int] = []
    for e in elements:
        if isinstance(e, Straight):
            if e.length_m is None:
                unknown.append(len(pieces))
            pieces.append([e.length_m or 0.0, 0.0, 0.0])
            continue
        angle = math.radians(turning_deg - known_deg if e.angle_deg is None else e.angle_deg)
        k = math.copysign(1.0 / e.radius_m, angle)
        arc_m = abs(angle) * e.radius_m - e.transition_m
        if arc_m < 0:
            raise ValueError(f"{e}: the turn is too short for its transitions")
        if e.transition_m > 0:
            pieces.append([e.transition_m, 0.0, k])
        pieces.append([arc_m, k, k])
        if e.transition_m > 0:
            pieces.append([e.transition_m, k, 0.0])
    if len(unknown) != 2:
        raise ValueError("exactly two straights must have length_m=None (they close the loop)")
    headings = np.concatenate([[0.0], np.cumsum([(k0 + k1) / 2 * n for n, k0, k1 in pieces])])
    if abs(headings[-1] - math.radians(turning_deg)) > 1e-9:
        raise ValueError(
            f"the turns add up to {math.degrees(headings[-1]):.6f} deg, not {turning_deg}"
        )
    gap = sum(_piece_offset(headings[i], *p, np.array([p[0]]))[0] for i, p in enumerate(pieces))
    directions = np.array([[math.cos(headings[i]), math.sin(headings[i])] for i in unknown]).T
    lengths = np.linalg.solve(directions, -gap)
    if (lengths <= 0).any():
        raise ValueError(f"closing straights would need lengths {lengths} m; adjust the layout")
    for i, length in zip(unknown, lengths, strict=True):
        pieces[i][0] = float(length)

    ends = np.concatenate([[0.0], np.cumsum([p[0] for p in pieces])])
    starts = np.zeros((len(pieces) + 1, 2))
    for i, p in enumerate(pieces):
        starts[i + 1] = starts[i] + _piece_offset(headings[i], *p, np.array([p[0]]))[0]
    n = max(int(round(ends[-1] / spacing_m)), 8)
    s = np.linspace(0.0, ends[-1], n, endpoint=False)
    which = np.searchsorted(ends, s, side="right") - 1
    xy = np.empty((n, 2))
    for i in np.unique(which):
        mask = which == i
        xy[mask] = starts[i] + _piece_offset(headings[i], *pieces[i], s[mask] - ends[i])
    return xy


def _piece_offset(
    heading0_rad: float, length_m: float, k0_1pm: float, k1_1pm: float, u_m: np.ndarray
) -> np.ndarray:
    """Displacement ``(U, 2)`` after ``u_m (U,)`` metres of a piece with linear curvature.

    Heading is quadratic in distance, so 24-point Gauss-Legendre integrates it to rounding error
    for any turn under a full circle.
    """
    t = (u_m[:, None] / 2) * (_GL_NODES[None, :] + 1)
    slope = (k1_1pm - k0_1pm) / (2 * length_m) if length_m > 0 else 0.0
    heading = heading0_rad + k0_1pm * t + slope * t**2
    half = u_m / 2
    return np.stack(
        [half * (np.cos(heading) @ _GL_WEIGHTS), half * (np.sin(heading) @ _GL_WEIGHTS)], 1
    )


# ---------------------------------------------------------------------- built-in tracks
@dataclass(frozen=True)
class BuiltinTrack:
    """A built-in circuit: its layout and what it is for."""

    name: str
    kind: str
    """``"motorcycle"`` or ``"deepracer"``."""
    description: str
    elements: tuple[Straight | Turn, ...]
    turning_deg: float
    """+360 for counter-clockwise, -360 for clockwise."""
    width_m: float
    spacing_m: float
    """Spacing of the integrated centre-line points before the Track resamples them. These points
    become ``Track.waypoints_xy_m``, which DeepRacer reward functions index, so DeepRacer-scale
    tracks use the spacing of the official route files (about 0.1-0.3 m)."""


DEEPRACER_WAYPOINT_SPACING_M = 0.15

_BUILTINS: dict[str, BuiltinTrack] = {
    t.name: t
    for t in (
        BuiltinTrack(
            "apex_park",
            "motorcycle",
            "road circuit: 1.2 km main straight, hairpins of 18 and 22 m radius, a 25 m chicane, "
            "fast sweepers of 200-300 m radius",
            (
                Straight(None),  # main straight, start/finish
                Turn(45.0, 90.0, 15.0),
                Straight(None),
                Turn(250.0, -45.0, 40.0),
                Straight(220.0),
                Turn(18.0, 180.0, 12.0),  # hairpin
                Straight(160.0),
                Turn(60.0, -45.0, 15.0),
                Straight(240.0),
                Turn(25.0, -45.0, 8.0),  # chicane
                Straight(15.0),
                Turn(25.0, 45.0, 8.0),
                Straight(180.0),
                Turn(200.0, 50.0, 40.0),  # fast sweepers
                Straight(120.0),
                Turn(300.0, -20.0, 40.0),
                Straight(60.0),
                Turn(280.0, 25.0, 40.0),
                Straight(150.0),
                Turn(60.0, -50.0, 15.0),
                Straight(120.0),
                Turn(22.0, None, 12.0),  # hairpin onto the main straight
                Straight(100.0),
            ),
            360.0,
            MOTORCYCLE_WIDTH_M,
            0.5,
        ),
        BuiltinTrack(
            "dr_oval",
            "deepracer",
            "simple loop: two straights and four wide corners (R 1.4-1.9 m)",
            (
                Straight(None),
                Turn(1.4, 90.0, 0.3),
                Straight(None),
                Turn(1.4, 90.0, 0.3),
                Straight(2.4),
                Turn(1.9, 45.0, 0.4),
                Straight(0.8),
                Turn(1.5, None, 0.3),
                Straight(1.0),
            ),
            360.0,
            DEEPRACER_WIDTH_M,
            DEEPRACER_WAYPOINT_SPACING_M,
        ),
        BuiltinTrack(
            "dr_hairpins",
            "deepracer",
            "technical: a serpentine of three hairpins (R 0.85-0.9 m)",
            (
                Straight(None),
                Turn(0.85, -180.0, 0.25),
                Straight(4.0),
                Turn(0.9, 180.0, 0.25),
                Straight(3.0),
                Turn(0.85, -180.0, 0.25),
                Straight(6.0),
                Turn(1.2, -90.0, 0.3),
                Straight(None),
                Turn(1.2, None, 0.3),
                Straight(1.0),
            ),
            -360.0,
            DEEPRACER_WIDTH_M,
            DEEPRACER_WAYPOINT_SPACING_M,
        ),
        BuiltinTrack(
            "dr_flow",
            "deepracer",
            "fast and flowing: sweepers (R 2.2-6 m) and S-bends",
            (
                Straight(None),
                Turn(4.0, 60.0, 1.0),
                Straight(2.0),
                Turn(5.0, -30.0, 1.0),
                Straight(2.0),
                Turn(2.5, 150.0, 0.6),
                Straight(3.0),
                Turn(6.0, 25.0, 1.0),
                Straight(2.0),
                Turn(3.5, -50.0, 0.8),
                Straight(2.0),
                Turn(2.2, 115.0, 0.6),
                Straight(None),
                Turn(2.8, None, 0.7),
                Straight(2.0),
            ),
            360.0,
            DEEPRACER_WIDTH_M,
            DEEPRACER_WAYPOINT_SPACING_M,
        ),
    )
}


def builtin_tracks() -> list[str]:
    """Names of the built-in tracks, motorcycle circuits first."""
    return sorted(_BUILTINS, key=lambda n: (_BUILTINS[n].kind != "motorcycle", n))


def builtin_info(name: str) -> BuiltinTrack:
    """The description and layout of a built-in track."""
    try:
        return _BUILTINS[name]
    except KeyError:
        raise ValueError(
            f"no built-in track {name!r}; built-in tracks: {', '.join(builtin_tracks())}"
        ) from None


@functools.cache
def builtin_track(name: str) -> Track:
    """Build (once; tracks are immutable) the built-in track ``name``."""
    info = builtin_info(name)
    xy = layout_centerline(
        list(info.elements), turning_deg=info.turning_deg, spacing_m=info.spacing_m
    )
    half = info.width_m / 2
    return Track.from_centerline(xy, half, half, closed=True, name=name, source="apexrl built-in")


# ---------------------------------------------------------------------- parametric shapes
_SHAPE_KEYS: dict[str, tuple[str, ...]] = {
    "circle": ("radius", "width"),
    "stadium": ("straight", "radius", "width"),
    "oval": ("a", "b", "width"),
    "straight": ("length", "width"),
    "random": ("seed", "scale", "length", "width"),
}
_OPTIONAL_KEYS = {"random": ("scale", "length", "width")}
_SHAPE_HELP = {
    "circle": "circle:radius=R,width=W  (metres; counter-clockwise)",
    "stadium": "stadium:straight=L,radius=R,width=W  (two straights joined by semicircles)",
    "oval": "oval:a=A,b=B,width=W  (ellipse with semi-axes A along x and B along y)",
    "straight": "straight:length=L,width=W  (an open track)",
    "random": "random:seed=N[,scale=deepracer|motorcycle][,length=L][,width=W]  (random loop)",
}
_SCALES = ("deepracer", "motorcycle")


def shape_specs() -> dict[str, str]:
    """Shape kind -> the spec syntax, for help texts."""
    return dict(_SHAPE_HELP)


def track_from_spec(spec: str) -> Track:
    """Build a track from a shape spec ``kind:key=value,...`` (see :func:`shape_specs`)."""
    kind, _, body = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in _SHAPE_KEYS:
        raise ValueError(
            f"unknown track shape {kind!r} in {spec!r}; shapes: {'; '.join(_SHAPE_HELP.values())}"
        )
    valid = _SHAPE_KEYS[kind]
    usage = f"valid keys for {kind}: {', '.join(valid)} (e.g. {_SHAPE_HELP[kind].split()[0]})"
    params: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not value:
            raise ValueError(f"{spec!r}: {item!r} is not key=value; {usage}")
        if key not in valid:
            raise ValueError(f"{spec!r}: unknown key {key!r}; {usage}")
        if key in params:
            raise ValueError(f"{spec!r}: key {key!r} is given twice")
        params[key] = value
    missing = [k for k in valid if k not in params and k not in _OPTIONAL_KEYS.get(kind, ())]
    if missing:
        raise ValueError(f"{spec!r}: missing {', '.join(missing)}; {usage}")
    if kind == "random":
        scale = params.get("scale", "deepracer").lower()
        if scale not in _SCALES:
            raise ValueError(f"{spec!r}: scale must be one of {', '.join(_SCALES)}, got {scale!r}")
        seed = params["seed"]
        if not seed.isdigit():
            raise ValueError(f"{spec!r}: seed must be a non-negative integer, got {seed!r}")
        length = _positive(spec, "length", params["length"]) if "length" in params else None
        width = _positive(spec, "width", params["width"]) if "width" in params else None
        return random_track(int(seed), scale=scale, length_m=length, width_m=width)
    values = tuple(_positive(spec, k, params[k]) for k in valid)
    return _shape_track(kind, values)


def _positive(spec: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{spec!r}: {key}={text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{spec!r}: {key} must be a positive number of metres, got {text}")
    return value


@functools.lru_cache(maxsize=64)
def _shape_track(kind: str, values: tuple[float, ...]) -> Track:
    params = dict(zip(_SHAPE_KEYS[kind], values, strict=True))
    name = kind + "".join(f"_{k}{v:g}" for k, v in params.items())
    source = f"{kind}:" + ",".join(f"{k}={v:g}" for k, v in params.items())
    width = params["width"]
    if kind == "straight":
        n = max(int(math.ceil(params["length"] / 0.5)) + 1, 50)
        xy = np.column_stack([np.linspace(0.0, params["length"], n), np.zeros(n)])
        return Track.from_centerline(
            xy, width / 2, width / 2, closed=False, name=name, source=source
        )
    if kind == "circle":
        min_radius = params["radius"]
        xy = _ellipse(params["radius"], params["radius"])
    elif kind == "oval":
        a, b = params["a"], params["b"]
        min_radius = min(a, b) ** 2 / max(a, b)
        xy = _ellipse(a, b)
    else:
        min_radius = params["radius"]
        xy = _stadium(params["straight"], params["radius"])
    if width / 2 >= min_radius:
        raise TrackError(
            f"{source}: width {width:g} m is too wide for the tightest radius {min_radius:g} m "
            "(the inner border would fold); use a width below twice the radius"
        )
    return Track.from_centerline(xy, width / 2, width / 2, closed=True, name=name, source=source)


def _ellipse(a_m: float, b_m: float) -> np.ndarray:
    """Counter-clockwise ellipse ``(N, 2)`` starting at the bottom heading +x.

    Curvature comes from a spline through these points; its error scales with the angle between
    samples squared, so 2048 points give 1/R to about 1e-6 whatever the size.
    """
    perimeter = math.pi * (3 * (a_m + b_m) - math.sqrt((3 * a_m + b_m) * (a_m + 3 * b_m)))
    n = int(np.clip(math.ceil(perimeter / 0.5), 2048, 20000))
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False) - math.pi / 2
    return np.column_stack([a_m * np.cos(t), b_m * np.sin(t)])


def _stadium(straight_m: float, radius_m: float) -> np.ndarray:
    """Counter-clockwise stadium ``(N, 2)``: start mid bottom straight heading +x."""
    length = 2 * straight_m + 2 * math.pi * radius_m
    step = min(0.5, length / 2048)
    s = np.arange(int(math.ceil(length / step))) * (length / math.ceil(length / step))
    half = straight_m / 2
    bounds = np.cumsum([half, math.pi * radius_m, straight_m, math.pi * radius_m])
    xy = np.empty((s.size, 2))
    seg = np.searchsorted(bounds, s, side="right")
    u = s - np.concatenate([[0.0], bounds])[seg]
    phi = u / radius_m
    m = seg == 0
    xy[m] = np.column_stack([u[m], np.full(m.sum(), -radius_m)])
    m = seg == 1
    xy[m] = np.column_stack([half + radius_m * np.sin(phi[m]), -radius_m * np.cos(phi[m])])
    m = seg == 2
    xy[m] = np.column_stack([half - u[m], np.full(m.sum(), radius_m)])
    m = seg == 3
    xy[m] = np.column_stack([-half - radius_m * np.sin(phi[m]), radius_m * np.cos(phi[m])])
    m = seg == 4
    xy[m] = np.column_stack([-half + u[m], np.full(m.sum(), -radius_m)])
    return xy


# ---------------------------------------------------------------------- random tracks
@functools.lru_cache(maxsize=64)
def random_track(
    seed: int,
    *,
    scale: str = "deepracer",
    length_m: float | None = None,
    width_m: float | None = None,
) -> Track:
    """A random closed track; the same arguments always give the identical track.

    A star-shaped polar curve ``r(theta) = R0 * (1 + sum_k a_k cos(k theta + phi_k))``, k = 1..8,
    with every draw from ``numpy.random.default_rng(seed)``, rescaled to ``length_m`` and re-drawn
    until its tightest radius exceeds 1.5 half-widths and no two parts of the road overlap. Half
    of the seeds run clockwise. The start is put on the straightest point.

    Args:
        seed: non-negative integer.
        scale: ``"deepracer"`` (default length drawn in 20-50 m, width 1.067 m) or
            ``"motorcycle"`` (length drawn in 2500-5000 m, width 12 m).
        length_m: centre-line length, metres; overrides the drawn one.
        width_m: road width, metres.
    """
    if scale not in _SCALES:
        raise ValueError(f"scale must be one of {', '.join(_SCALES)}, got {scale!r}")
    if not (isinstance(seed, int | np.integer) and seed >= 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    lo, hi, default_width = (
        (20.0, 50.0, DEEPRACER_WIDTH_M)
        if scale == "deepracer"
        else (
            2500.0,
            5000.0,
            MOTORCYCLE_WIDTH_M,
        )
    )
    drawn_length = rng.uniform(lo, hi)
    length = drawn_length if length_m is None else float(length_m)
    width = default_width if width_m is None else float(width_m)
    if not (math.isfinite(length) and length > 0 and math.isfinite(width) and width > 0):
        raise ValueError(f"length_m and width_m must be positive, got {length_m!r}, {width_m!r}")
    name = f"random_{scale}_seed{seed}" + (f"_length{length:g}" if length_m is not None else "")
    name += f"_width{width:g}" if width_m is not None else ""
    k = np.arange(1, 9)
    theta = np.linspace(0.0, 2 * math.pi, 2048, endpoint=False)
    for _ in range(_RANDOM_MAX_ATTEMPTS):
        amp = rng.uniform(0.0, 1.0, k.size) / k
        amp *= rng.uniform(0.3, 0.65) / amp.sum()  # sum < 1 keeps r > 0: a simple closed curve
        phase = rng.uniform(0.0, 2 * math.pi, k.size)
        clockwise = bool(rng.random() < 0.5)
        arg = k[:, None] * theta + phase[:, None]
        r = 1.0 + amp @ np.cos(arg)
        dr = -(amp * k) @ np.sin(arg)
        ddr = -(amp * k**2) @ np.cos(arg)
        speed = np.hypot(r, dr)
        r0 = length / (speed.mean() * 2 * math.pi)
        curvature = (r * r + 2 * dr * dr - r * ddr) / speed**3 / r0
        if 1.0 / np.abs(curvature).max() < 0.75 * width:
            continue
        xy = r0 * np.column_stack([r * np.cos(theta), r * np.sin(theta)])
        xy = np.roll(xy, -int(np.argmin(np.abs(curvature))), axis=0)
        if clockwise:
            xy = xy[::-1]
        track = Track.from_centerline(
            xy, width / 2, width / 2, closed=True, name=name, source=f"random seed {seed}"
        )
        if not road_overlaps(track):
            return track
    raise TrackError(
        f"no valid random track of length {length:g} m and width {width:g} m after "
        f"{_RANDOM_MAX_ATTEMPTS} draws; use a longer track or a narrower road"
    )


# ---------------------------------------------------------------------- checks
def road_overlaps(track: Track) -> bool:
    """True if two parts of the road that are far apart along the track touch each other.

    Pairs of samples closer than their mean width but more than two widths apart along the line
    mean overlapping tarmac (a hairpin whose radius exceeds half the width never gives such a pair).
    """
    from scipy.spatial import cKDTree

    width = track.width_m
    pairs = cKDTree(track.xy_m).query_pairs(float(width.max()), output_type="ndarray")
    if pairs.size == 0:
        return False
    i, j = pairs[:, 0], pairs[:, 1]
    along = np.abs(track.s_m[i] - track.s_m[j])
    if track.closed:
        along = np.minimum(along, track.length_m - along)
    dist = np.hypot(*(track.xy_m[i] - track.xy_m[j]).T)
    mean_width = (width[i] + width[j]) / 2
    return bool(np.any((dist < mean_width) & (along > 2 * mean_width)))


def borders_fold(track: Track) -> bool:
    """True where a border would fold over itself: a turn tighter than that side's half-width."""
    k = track.curvature_1pm
    return bool(np.any(k * track.w_left_m >= 1.0) or np.any(-k * track.w_right_m >= 1.0))


# ---------------------------------------------------------------------- the one entry point
def load_track(spec: str | os.PathLike | Track) -> Track:
    """Resolve anything that names a track (see the module docstring for the order)."""
    from apexrl.tracks import download
    from apexrl.tracks.io import SUPPORTED_SUFFIXES, load_track_file

    if isinstance(spec, Track):
        return spec
    if isinstance(spec, os.PathLike):
        return load_track_file(spec)
    if not isinstance(spec, str):
        raise TypeError(f"a track is a name, spec, path or Track, got {type(spec).__name__}")
    text = spec.strip()
    if text in _BUILTINS:
        return builtin_track(text)
    kind = text.partition(":")[0].strip().lower() if ":" in text else ""
    if kind in _SHAPE_KEYS:
        return track_from_spec(text)
    path = Path(text).expanduser()
    if text and path.is_file():
        return load_track_file(path)
    if text and path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; expected a track file or a track name")
    if download.is_valid_world_name(text) and download.cached_route_path(text).exists():
        return download.load_cached_route(text)
    if len(kind) > 1 and re.fullmatch(r"[a-z_]+", kind):
        raise ValueError(
            f"unknown track shape {kind!r} in {text!r}; shapes: {'; '.join(_SHAPE_HELP.values())}"
        )
    if text and (path.suffix.lower() in SUPPORTED_SUFFIXES or os.sep in text):
        raise FileNotFoundError(f"track file not found: {path}")
    raise ValueError(
        f"track {text!r} not found; built-in tracks: {', '.join(builtin_tracks())}; shapes: "
        f"{', '.join(h.split()[0] for h in _SHAPE_HELP.values())}; or a path to a "
        ".npy/.csv/.json file; download official DeepRacer tracks with "
        "'apexrl tracks download NAME'"
    )
