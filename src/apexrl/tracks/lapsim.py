"""Quasi-steady-state (QSS) lap-time simulation on any line for a vehicle's g-g-v envelope.

Method (physics.md section 1): cornering ceiling v_max = sqrt(a_y,max / |kappa|), a forward
(acceleration) pass and a backward (braking) pass limited by the friction ellipse, power, drag and
the wheelie/stoppie limits, started at the slowest point of the ceiling. Transients are ignored
except an optional motorcycle roll-rate ceiling.

Discretisation (first order, exact for constant acceleration): on the segment from sample i to
i+1 the acceleration is constant, so v_{i+1}^2 = v_i^2 + 2 a_i ds and the segment takes
2 ds / (v_i + v_{i+1}). Accelerating, a_i is evaluated at the known entry state (v_i, kappa_i);
braking, the backward pass solves for the entry speed v_i with a_i evaluated at (v_i, kappa_i)
too. Both choices put the acceleration of segment i and the lateral demand v_i^2 kappa_i at the
same sample, so every sample of the result respects the friction ellipse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from apexrl.tracks.raceline import RacingLine
    from apexrl.tracks.track import Track

G_MPS2 = 9.81

# A closed lap is settled when one more lap of a pass no longer changes the speed where it started.
# Two laps are enough in practice (the second starts from the arrival speed of the first); the cap
# turns a logic error into an exception instead of a hang.
_MAX_WRAP_LAPS = 20
_BISECTION_STEPS = 60
KAPPA_STRAIGHT_1PM = 1e-12
"""|kappa| at or below this (radius beyond 1e12 m) counts as straight: no cornering ceiling."""
# Speeds beyond any vehicle; the roll-rate bisection never needs to look above it.
_V_ABSURD_MPS = 1e6


@dataclass(frozen=True)
class GGEnvelope:
    """What a vehicle can do at the tyre, as QSS needs it. Vehicles build one via ``.envelope()``.

    Every limit is optional so one type serves a point mass, a motorcycle and a DeepRacer car.
    """

    mu: float = 1.0
    """Tyre-road friction coefficient: the friction ellipse has semi-axes mu*g (both directions)."""
    g_mps2: float = G_MPS2
    """Gravity, m/s^2."""
    lean_max_rad: float | None = None
    """Motorcycle lean limit: a_y <= g * tan(lean_max)."""
    mass_kg: float = 1.0
    """Total moving mass (vehicle + rider), kg; used with ``power_w``."""
    power_w: float | None = None
    """Peak power at the wheel, W: a_x <= P / (m v)."""
    drag_per_mass_1pm: float = 0.0
    """0.5 * rho * CdA / m, 1/m: aerodynamic deceleration is this times v^2."""
    rolling_resistance: float = 0.0
    """Rolling resistance coefficient: a constant deceleration of c_rr * g."""
    wheelie_ax_max_mps2: float | None = None
    """Motorcycle wheelie limit g*b/h, m/s^2 (caps forward acceleration)."""
    stoppie_ax_max_mps2: float | None = None
    """Motorcycle stoppie limit g*(L-b)/h, m/s^2 (caps braking)."""
    speed_max_mps: float | None = None
    """Hard top speed (a DeepRacer car cannot be commanded above 4 m/s)."""
    speed_response_s: float | None = None
    """First-order speed response time constant tau, s: acceleration <= (v_max - v) / tau."""
    roll_rate_max_radps: float | None = None
    """Motorcycle roll-rate limit, rad/s; enables the transient ceiling described in lapsim."""

    def __post_init__(self) -> None:
        for name in ("mu", "g_mps2", "mass_kg"):
            _require(name, getattr(self, name), positive=True)
        for name in ("drag_per_mass_1pm", "rolling_resistance"):
            _require(name, getattr(self, name), positive=False)
        for name in (
            "power_w",
            "wheelie_ax_max_mps2",
            "stoppie_ax_max_mps2",
            "speed_max_mps",
            "speed_response_s",
            "roll_rate_max_radps",
        ):
            value = getattr(self, name)
            if value is not None:
                _require(name, value, positive=True)
        if self.lean_max_rad is not None and not 0 < self.lean_max_rad < math.pi / 2:
            raise ValueError(f"lean_max_rad must be in (0, pi/2), got {self.lean_max_rad!r}")
        if self.rolling_resistance >= self.mu:
            raise ValueError(
                f"rolling_resistance ({self.rolling_resistance}) must be below mu ({self.mu}): "
                "otherwise the tyres cannot move the vehicle from rest"
            )
        if self.speed_response_s is not None and self.speed_max_mps is None:
            raise ValueError("speed_response_s needs speed_max_mps (the speed it responds towards)")

    @property
    def ay_max_mps2(self) -> float:
        """Steady cornering limit: min(mu*g, g*tan(lean_max)), m/s^2."""
        ay = self.mu * self.g_mps2
        if self.lean_max_rad is not None:
            ay = min(ay, self.g_mps2 * math.tan(self.lean_max_rad))
        return ay


@dataclass(frozen=True, eq=False)
class LapResult:
    """A QSS lap on one line. Arrays have one entry per line sample (M samples, spacing ``ds``)."""

    lap_time_s: float
    """Time from sample 0 to the end of the line (closed lines: back to sample 0), s."""
    s_m: np.ndarray = field(repr=False)
    """``(M,)`` distance along the line, m."""
    v_mps: np.ndarray = field(repr=False)
    """``(M,)`` speed, m/s."""
    ax_mps2: np.ndarray = field(repr=False)
    """``(M,)`` longitudinal acceleration of the segment that starts at each sample (+ speeding
    up), m/s^2; includes drag and rolling resistance. On an open line the last sample repeats the
    last segment's value."""
    ay_mps2: np.ndarray = field(repr=False)
    """``(M,)`` lateral acceleration v^2 kappa, m/s^2 (positive turning left)."""
    t_s: np.ndarray = field(repr=False)
    """``(M,)`` time at each sample from the start, s."""
    sector_times_s: tuple[float, ...]
    """Times of equal-distance sectors; they sum to ``lap_time_s``."""
    xy_m: np.ndarray = field(repr=False)
    """``(M, 2)`` sample positions, m."""
    closed: bool
    """Whether the line is a closed lap (flying lap) or an open stage."""
    length_m: float = 0.0
    """Length of the line, m."""
    v_ceiling_mps: np.ndarray | None = field(default=None, repr=False)
    """``(M,)`` speed ceiling from cornering, roll rate and the top speed (inf where unlimited)."""
    name: str = ""
    """Name of the line the lap was driven on."""

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary (no per-sample arrays)."""
        return {
            "name": self.name,
            "lap_time_s": round(self.lap_time_s, 4),
            "length_m": round(self.length_m, 3),
            "closed": self.closed,
            "n_points": int(self.s_m.shape[0]),
            "sector_times_s": [round(t, 4) for t in self.sector_times_s],
            "v_max_mps": round(float(self.v_mps.max()), 4),
            "v_min_mps": round(float(self.v_mps.min()), 4),
            "v_mean_mps": round(self.length_m / self.lap_time_s, 4),
            "ax_max_mps2": round(float(self.ax_mps2.max()), 4),
            "ax_min_mps2": round(float(self.ax_mps2.min()), 4),
            "ay_abs_max_mps2": round(float(np.abs(self.ay_mps2).max()), 4),
        }


class _Limits(NamedTuple):
    """The envelope as plain floats for the scalar loops (math.inf where a limit is absent)."""

    mu_g: float
    wheelie: float
    stoppie: float
    power_per_mass: float
    drag: float
    rolling: float
    v_top: float
    tau: float


def simulate_lap(
    line: Track,
    envelope: GGEnvelope,
    *,
    sectors: int = 3,
    v_start_mps: float | None = None,
) -> LapResult:
    """Fastest QSS lap of ``envelope`` along ``line`` (driven exactly along its samples).

    Args:
        line: the path to drive (a centre line, or ``RacingLine.line``); its curvature is used as
            the path curvature.
        envelope: the vehicle's g-g-v envelope.
        sectors: number of equal-distance sectors for ``sector_times_s`` (>= 1).
        v_start_mps: OPEN lines only: speed at sample 0, m/s (default 0, a standing start); a value
            above the first sample's ceiling is lowered to it. The end of an open line is
            unconstrained. Closed lines are flying laps and take no start speed.

    Raises:
        ValueError: on a bad ``sectors`` or ``v_start_mps``.
    """
    if isinstance(sectors, bool) or not isinstance(sectors, int) or sectors < 1:
        raise ValueError(f"sectors must be a positive integer, got {sectors!r}")
    if line.closed and v_start_mps is not None:
        raise ValueError(
            "v_start_mps applies to open lines only; a closed line is simulated as a flying lap"
        )
    if v_start_mps is not None and not (math.isfinite(v_start_mps) and v_start_mps >= 0):
        raise ValueError(f"v_start_mps must be a finite speed >= 0 m/s, got {v_start_mps!r}")

    kappa = np.asarray(line.curvature_1pm, dtype=np.float64)
    ds = float(line.ds_m)
    ceiling = speed_ceiling_mps(line, envelope)
    lim = _limits(envelope)
    kappa_list = kappa.tolist()
    ceiling_list = ceiling.tolist()
    if line.closed:
        start = int(np.argmin(ceiling))
        if not math.isfinite(ceiling_list[start]):
            raise ValueError(
                f"line {line.name!r} is closed but has no finite speed ceiling anywhere (no "
                "curvature and no top speed): a flying lap has no steady solution"
            )
        v_fwd = _forward_closed(ceiling_list, kappa_list, ds, lim, start)
        v_list = _backward_closed(v_fwd, kappa_list, ds, lim, start)
    else:
        v0 = min(0.0 if v_start_mps is None else float(v_start_mps), ceiling_list[0])
        v_fwd = _forward_open(ceiling_list, kappa_list, ds, lim, v0)
        v_list = _backward_open(v_fwd, kappa_list, ds, lim)
    v = np.asarray(v_list, dtype=np.float64)

    v_next = np.roll(v, -1) if line.closed else v[1:]
    v_here = v if line.closed else v[:-1]
    seg_speed_sum = v_here + v_next
    if not np.all(seg_speed_sum > 0):
        raise ValueError(f"the vehicle comes to a standstill on line {line.name!r}")
    seg_time = 2.0 * ds / seg_speed_sum
    seg_ax = (v_next**2 - v_here**2) / (2.0 * ds)
    ax = seg_ax if line.closed else np.append(seg_ax, seg_ax[-1])
    t_cum = np.concatenate([[0.0], np.cumsum(seg_time)])
    lap_time = float(t_cum[-1])
    t_s = t_cum[:-1] if line.closed else t_cum

    # Time at the sector boundaries by linear interpolation in distance.
    s_grid = np.append(line.s_m, line.length_m) if line.closed else np.asarray(line.s_m)
    boundaries = np.linspace(0.0, line.length_m, sectors + 1)
    t_bound = np.interp(boundaries, s_grid, t_cum)
    t_bound[0], t_bound[-1] = 0.0, lap_time
    sector_times = tuple(float(x) for x in np.diff(t_bound))

    return LapResult(
        lap_time_s=lap_time,
        s_m=np.asarray(line.s_m, dtype=np.float64).copy(),
        v_mps=v,
        ax_mps2=ax,
        ay_mps2=v**2 * kappa,
        t_s=t_s,
        sector_times_s=sector_times,
        xy_m=np.asarray(line.xy_m, dtype=np.float64).copy(),
        closed=line.closed,
        length_m=float(line.length_m),
        v_ceiling_mps=ceiling,
        name=line.name,
    )


def speed_ceiling_mps(line: Track, envelope: GGEnvelope) -> np.ndarray:
    """Per-sample speed ceiling ``(M,)`` m/s: cornering, top speed and (if set) roll rate.

    Cornering: v <= sqrt(a_y,max / |kappa|) with a_y,max = min(mu g, g tan(lean_max)).

    Roll rate (``envelope.roll_rate_max_radps``): the steady lean is phi = atan(v^2 kappa / g), so
    riding through changing curvature demands a roll rate d(phi)/dt = v d(phi)/ds. Neglecting the
    dv/ds term (QSS has no state for it), v d(phi)/ds = (v^3 / g) |d kappa/ds| / (1 + (v^2 kappa /
    g)^2), which must stay below omega_max. The left side grows monotonically with v while
    (v^2 kappa / g)^2 < 3, which covers every speed below the cornering ceiling of a vehicle with
    a_y,max < sqrt(3) g; the cap is the root found by bisection on that increasing branch.
    d kappa / ds comes from central differences of the sampled curvature, so a line with curvature
    steps (no transition curves) gets a low cap at each step, as a real rider would.
    """
    kappa = np.abs(np.asarray(line.curvature_1pm, dtype=np.float64))
    ay_max = envelope.ay_max_mps2
    ceiling = np.full_like(kappa, np.inf)
    curved = kappa > KAPPA_STRAIGHT_1PM
    ceiling[curved] = np.sqrt(ay_max / kappa[curved])
    if envelope.speed_max_mps is not None:
        ceiling = np.minimum(ceiling, envelope.speed_max_mps)
    if envelope.roll_rate_max_radps is not None:
        ceiling = np.minimum(ceiling, _roll_rate_cap_mps(line, envelope, ceiling))
    if not np.all(ceiling > 0):
        raise ValueError(f"line {line.name!r} has a zero speed ceiling; check its curvature")
    return ceiling


def optimal_lap(
    track: Track,
    envelope: GGEnvelope,
    *,
    line: Literal["raceline", "centerline"] = "raceline",
    margin_m: float | None = None,
    sectors: int = 3,
) -> tuple[LapResult, RacingLine | None]:
    """QSS lap of ``envelope`` on the track's minimum-curvature racing line or its centre line.

    Returns the lap and the racing line (``None`` for ``line="centerline"``). ``margin_m`` is passed
    to :func:`apexrl.tracks.raceline.minimum_curvature_line`.
    """
    if line == "centerline":
        if margin_m is not None:
            raise ValueError("margin_m only applies to line='raceline'")
        return simulate_lap(track, envelope, sectors=sectors), None
    if line == "raceline":
        from apexrl.tracks.raceline import minimum_curvature_line

        racing = minimum_curvature_line(track, margin_m=margin_m)
        return simulate_lap(racing.line, envelope, sectors=sectors), racing
    raise ValueError(f"line must be 'raceline' or 'centerline', got {line!r}")


# ---------------------------------------------------------------------- passes
def _limits(env: GGEnvelope) -> _Limits:
    inf = math.inf
    return _Limits(
        mu_g=env.mu * env.g_mps2,
        wheelie=inf if env.wheelie_ax_max_mps2 is None else env.wheelie_ax_max_mps2,
        stoppie=inf if env.stoppie_ax_max_mps2 is None else env.stoppie_ax_max_mps2,
        power_per_mass=inf if env.power_w is None else env.power_w / env.mass_kg,
        drag=env.drag_per_mass_1pm,
        rolling=env.rolling_resistance * env.g_mps2,
        v_top=inf if env.speed_max_mps is None else env.speed_max_mps,
        tau=inf if env.speed_response_s is None else env.speed_response_s,
    )


def _accel_mps2(u: float, kappa: float, lim: _Limits) -> float:
    """Largest net forward acceleration at speed^2 ``u`` on curvature ``kappa`` (may be < 0)."""
    v = math.sqrt(u)
    ratio = u * abs(kappa) / lim.mu_g
    tyre = lim.mu_g * math.sqrt(1.0 - ratio * ratio) if ratio < 1.0 else 0.0
    tyre = min(tyre, lim.wheelie)
    if v > 0.0:
        tyre = min(tyre, lim.power_per_mass / v)
    net = tyre - lim.drag * u - lim.rolling
    if lim.tau != math.inf:
        # The commanded-speed response of a servo-driven car, not a tyre limit: it caps the net
        # acceleration directly.
        net = min(net, (lim.v_top - v) / lim.tau)
    return net


def _decel_mps2(u: float, kappa: float, lim: _Limits) -> float:
    """Largest braking deceleration (> 0) at speed^2 ``u``: tyre (ellipse, stoppie) plus drag."""
    ratio = u * abs(kappa) / lim.mu_g
    tyre = lim.mu_g * math.sqrt(1.0 - ratio * ratio) if ratio < 1.0 else 0.0
    return min(tyre, lim.stoppie) + lim.drag * u + lim.rolling


def _step_forward(u: float, kappa: float, ds: float, lim: _Limits) -> float:
    return max(u + 2.0 * ds * _accel_mps2(u, kappa, lim), 0.0)


def _brake_entry_u(u_exit: float, u_cap: float, kappa: float, ds: float, lim: _Limits) -> float:
    """Highest entry speed^2 (<= ``u_cap``) from which the segment can brake to ``u_exit``.

    Solves u = u_exit + 2 ds a(u) with the deceleration evaluated at the entry state. The residual
    u - u_exit - 2 ds a(u) increases with u (a falls as the lateral demand grows, and the drag term
    adds only 2 ds * drag << 1), so the root is unique and bisection on [u_exit, u_cap] finds it.
    """
    if u_cap - u_exit - 2.0 * ds * _decel_mps2(u_cap, kappa, lim) <= 0.0:
        return u_cap
    lo, hi = u_exit, u_cap
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if mid - u_exit - 2.0 * ds * _decel_mps2(mid, kappa, lim) > 0.0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-13 * hi:
            break
    return lo


def _forward_open(
    ceiling: list[float], kappa: list[float], ds: float, lim: _Limits, v0: float
) -> list[float]:
    m = len(ceiling)
    u = [0.0] * m
    u[0] = v0 * v0
    for i in range(m - 1):
        u[i + 1] = min(ceiling[i + 1] ** 2, _step_forward(u[i], kappa[i], ds, lim))
    return u


def _backward_open(u_fwd: list[float], kappa: list[float], ds: float, lim: _Limits) -> list[float]:
    m = len(u_fwd)
    u = list(u_fwd)
    for i in range(m - 2, -1, -1):
        u[i] = _brake_entry_u(u[i + 1], u_fwd[i], kappa[i], ds, lim)
    return [math.sqrt(x) for x in u]


def _forward_closed(
    ceiling: list[float], kappa: list[float], ds: float, lim: _Limits, start: int
) -> list[float]:
    """Forward pass round a closed line from ``start`` (the slowest ceiling), as speed^2."""
    m = len(ceiling)
    cap = [c * c for c in ceiling]
    u = list(cap)
    for lap in range(_MAX_WRAP_LAPS):
        for j in range(m):
            i = (start + j) % m
            nxt = i + 1 if i + 1 < m else 0
            new = min(cap[nxt], _step_forward(u[i], kappa[i], ds, lim))
            if lap > 0 and _settled(new, u[nxt]):
                # From here on this lap repeats the previous one exactly.
                return u
            u[nxt] = new
        if lap == 0 and _settled(u[start], cap[start]):
            # Arrived back at the slowest ceiling point at its ceiling: the lap is periodic.
            return u
    raise RuntimeError("QSS forward pass did not settle; please report this line")


def _backward_closed(
    u_fwd: list[float], kappa: list[float], ds: float, lim: _Limits, start: int
) -> list[float]:
    """Backward (braking) pass round a closed line from ``start``; returns speeds, m/s."""
    m = len(u_fwd)
    u = list(u_fwd)
    for lap in range(_MAX_WRAP_LAPS):
        changed_at_start = False
        for j in range(m):
            nxt = (start - j) % m
            i = nxt - 1 if nxt > 0 else m - 1
            new = _brake_entry_u(u[nxt], u_fwd[i], kappa[i], ds, lim)
            if lap > 0 and _settled(new, u[i]):
                return [math.sqrt(x) for x in u]
            if i == start and not _settled(new, u[i]):
                changed_at_start = True
            u[i] = new
        if not changed_at_start:
            return [math.sqrt(x) for x in u]
    raise RuntimeError("QSS backward pass did not settle; please report this line")


def _settled(new: float, old: float) -> bool:
    """Whether a speed^2 stopped changing between laps (relative 1e-12: rounding, not physics)."""
    return abs(new - old) <= 1e-12 * max(new, old)


def _roll_rate_cap_mps(line: Track, envelope: GGEnvelope, ceiling: np.ndarray) -> np.ndarray:
    """Per-sample speed cap ``(M,)`` m/s from the roll-rate limit (see ``speed_ceiling_mps``)."""
    assert envelope.roll_rate_max_radps is not None
    g = envelope.g_mps2
    omega = envelope.roll_rate_max_radps
    kappa = np.asarray(line.curvature_1pm, dtype=np.float64)
    if line.closed:
        dkappa = (np.roll(kappa, -1) - np.roll(kappa, 1)) / (2.0 * line.ds_m)
    else:
        dkappa = np.gradient(kappa, line.ds_m)
    dkappa = np.abs(dkappa)

    def demand(v: np.ndarray) -> np.ndarray:
        lateral = v * v * kappa / g
        return v**3 / g * dkappa / (1.0 + lateral * lateral)

    # Bracket [0, hi] on the increasing branch. hi = min(ceiling, v_peak, 2 v_straight): v_peak is
    # where the branch ends ((v^2 kappa / g)^2 = 3); v_straight solves v^3 |kappa'| / g = omega, and
    # since the denominator is at most 4 on the branch, demand(2 v_straight) >= 2 omega, so a root
    # always lies below 2 v_straight (this also bounds points with kappa = 0 and no top speed).
    abs_kappa = np.abs(kappa)
    v_peak = np.full_like(kappa, np.inf)
    curved = abs_kappa > KAPPA_STRAIGHT_1PM
    v_peak[curved] = np.sqrt(math.sqrt(3.0) * g / abs_kappa[curved])
    v_straight = np.full_like(kappa, np.inf)
    varying = dkappa > KAPPA_STRAIGHT_1PM * 1e-3
    v_straight[varying] = np.cbrt(omega * g / dkappa[varying])
    hi = np.minimum(np.minimum(ceiling, v_peak), 2.0 * v_straight)
    hi = np.minimum(hi, _V_ABSURD_MPS)
    binds = demand(hi) > omega
    lo = np.zeros_like(hi)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        over = demand(mid) > omega
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    return np.where(binds, lo, np.inf)


def _require(name: str, value: object, *, positive: bool) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and positive:
        ok = value > 0
    elif ok:
        ok = value >= 0
    if not ok:
        kind = "a positive number" if positive else "a number >= 0"
        raise ValueError(f"GGEnvelope.{name} must be {kind}, got {value!r}")
