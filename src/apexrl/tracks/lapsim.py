"""Quasi-steady-state (QSS) lap-time simulation on any line for a vehicle's g-g-v envelope.

Method (see docs/physics.md): cornering ceiling v_max = sqrt(a_y,max / |kappa|), a forward
(acceleration) pass and a backward (braking) pass limited by the friction ellipse, power, drag and
the wheelie/stoppie limits, started at the slowest point of the ceiling so a closed lap needs one
pass each way. Transients are ignored except an optional motorcycle roll-rate ceiling.
"""

from __future__ import annotations

from dataclasses import dataclass

G_MPS2 = 9.81


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
