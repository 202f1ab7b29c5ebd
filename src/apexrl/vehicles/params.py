"""Documented parameter sets for the vehicle models, with the g-g envelope each one implies.

Values are SI. Defaults describe a 600 cc supersport with rider and a 1/18-scale DeepRacer car.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from apexrl.tracks.lapsim import G_MPS2, GGEnvelope


@dataclass(frozen=True)
class MotorcycleParams:
    """A motorcycle as a point mass with roll (physics.md section 3); defaults: 600 cc sportbike."""

    mass_kg: float = 245.0
    """Bike (~180 kg wet) plus rider (~65 kg)."""
    power_w: float = 80_000.0
    """Peak power at the rear wheel (~107 hp)."""
    mu: float = 1.2
    """Tyre-road friction coefficient of race tyres on dry asphalt."""
    cda_m2: float = 0.32
    """Drag area Cd*A with the rider tucked."""
    air_density_kgpm3: float = 1.2
    """Air density."""
    rolling_resistance: float = 0.015
    """Rolling resistance coefficient."""
    wheelbase_m: float = 1.375
    """Distance between the tyre contact patches."""
    cog_height_m: float = 0.56
    """Height of the combined centre of gravity."""
    cog_to_rear_m: float = 0.70
    """Horizontal distance from the rear contact patch to the centre of gravity (b)."""
    lean_max_rad: float = math.radians(58.0)
    """Maximum lean angle before hard parts touch down (racing bikes: 55-64 deg)."""
    roll_rate_max_radps: float = 0.9
    """Roll-rate limit a rider can produce (0.7-0.9 rad/s reproduces club riders' lap times)."""
    roll_time_constant_s: float = 0.25
    """First-order response of roll to the lean command (below the roll-rate limit)."""
    brake_max_mps2: float = 11.0
    """Deceleration at full brake input before the grip and stoppie limits."""
    g_mps2: float = G_MPS2
    """Gravity."""
    min_turn_radius_m: float = 2.5
    """Tightest path radius the steering lock allows (full lock at walking pace). The simulator
    caps the path curvature g*tan(roll)/v^2, which diverges as v -> 0, at 1 / this radius."""

    def __post_init__(self) -> None:
        _check_positive(
            self, "mass_kg", "power_w", "mu", "wheelbase_m", "cog_height_m", "min_turn_radius_m"
        )
        if not 0 < self.cog_to_rear_m < self.wheelbase_m:
            raise ValueError("cog_to_rear_m must lie between the contact patches (0, wheelbase_m)")
        if not 0 < self.lean_max_rad < math.pi / 2:
            raise ValueError("lean_max_rad must be in (0, pi/2)")

    @property
    def wheelie_ax_max_mps2(self) -> float:
        return self.g_mps2 * self.cog_to_rear_m / self.cog_height_m

    @property
    def stoppie_ax_max_mps2(self) -> float:
        return self.g_mps2 * (self.wheelbase_m - self.cog_to_rear_m) / self.cog_height_m

    @property
    def drag_per_mass_1pm(self) -> float:
        return 0.5 * self.air_density_kgpm3 * self.cda_m2 / self.mass_kg

    def envelope(self, *, roll_rate_limit: bool = False) -> GGEnvelope:
        """The g-g envelope for QSS; ``roll_rate_limit`` adds the transient roll-rate ceiling."""
        return GGEnvelope(
            mu=self.mu,
            g_mps2=self.g_mps2,
            lean_max_rad=self.lean_max_rad,
            mass_kg=self.mass_kg,
            power_w=self.power_w,
            drag_per_mass_1pm=self.drag_per_mass_1pm,
            rolling_resistance=self.rolling_resistance,
            wheelie_ax_max_mps2=self.wheelie_ax_max_mps2,
            stoppie_ax_max_mps2=min(self.stoppie_ax_max_mps2, self.brake_max_mps2),
            roll_rate_max_radps=self.roll_rate_max_radps if roll_rate_limit else None,
        )


@dataclass(frozen=True)
class CarParams:
    """The 1/18-scale AWS DeepRacer car as a kinematic bicycle (physics.md section 3)."""

    wheelbase_m: float = 0.165
    """Front to rear axle."""
    track_width_m: float = 0.16
    """Left to right wheel contact, used for the four-wheel off-track rule."""
    length_m: float = 0.34
    """Body length (collisions with objects and bots)."""
    body_width_m: float = 0.20
    """Body width (collisions)."""
    origin_to_front_axle_m: float = 0.14
    """The reward ``params`` x/y are this far ahead of the car's origin (rear axle centre)."""
    speed_min_mps: float = 0.1
    """Lowest speed the simulator accepts as a command; commands are clamped to [min, max]."""
    speed_max_mps: float = 4.0
    """Highest commanded speed."""
    steering_max_rad: float = math.radians(30.0)
    """Steering lock."""
    speed_time_constant_s: float = 0.35
    """First-order response of the measured speed to the commanded speed."""
    steering_time_constant_s: float = 0.05
    """First-order response of the wheels to the steering command."""
    mu: float = 0.8
    """Lateral grip: beyond mu*g of lateral acceleration the car slides (understeers)."""
    g_mps2: float = G_MPS2
    """Gravity."""

    def __post_init__(self) -> None:
        _check_positive(
            self, "wheelbase_m", "track_width_m", "speed_max_mps", "speed_time_constant_s", "mu"
        )
        if not 0 < self.speed_min_mps < self.speed_max_mps:
            raise ValueError("speed_min_mps must be positive and below speed_max_mps")

    def envelope(self) -> GGEnvelope:
        return GGEnvelope(
            mu=self.mu,
            g_mps2=self.g_mps2,
            speed_max_mps=self.speed_max_mps,
            speed_response_s=self.speed_time_constant_s,
        )


def point_mass_envelope(mu: float = 1.0, g_mps2: float = G_MPS2) -> GGEnvelope:
    """A friction-ellipse point mass, no power limit, no drag (the closed-form test cases)."""
    if not mu > 0:
        raise ValueError(f"mu must be positive, got {mu}")
    return GGEnvelope(mu=mu, g_mps2=g_mps2)


def _check_positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ValueError(
                f"{type(obj).__name__}.{name} must be a positive number, got {value!r}"
            )
