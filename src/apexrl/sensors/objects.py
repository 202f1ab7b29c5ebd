"""Objects on the track (DeepRacer boxes and bot cars) as batched arrays, and footprint collisions.

Every object is an oriented rectangle in the world frame: its CENTRE ``xy_m``, its yaw
(counter-clockwise from +x, the direction its length runs along), and its length and width.
The cameras and the lidar draw these rectangles. Collisions follow the DeepRacer simulator: a car
hits an object when one of its wheel centres (:func:`wheel_points`) lies inside the object's
rectangle, which is why the simulator's object sizes include a 0.1 m buffer.

Shapes: B environments, K object slots per environment. The slot layout (sizes, bot or box) is
shared by all environments; ``valid`` switches slots off per environment (an env with fewer
objects, or K = 0 for a time trial: see :meth:`ObjectsState.empty`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class ObjectsState:
    """Per-environment object poses; the arrays are updated in place as bot cars move.

    Fields:
        xy_m: ``(B, K, 2)`` float64 m, world position of each object's centre.
        yaw_rad: ``(B, K)`` float64 rad, heading of each object (its length axis).
        length_m: ``(K,)`` float64 m, extent along the heading.
        width_m: ``(K,)`` float64 m, extent across the heading.
        is_bot: ``(K,)`` bool, True for a bot car, False for a static box.
        valid: ``(B, K)`` bool, whether the slot holds an object in that environment.
    """

    xy_m: np.ndarray
    yaw_rad: np.ndarray
    length_m: np.ndarray
    width_m: np.ndarray
    is_bot: np.ndarray
    valid: np.ndarray

    def __post_init__(self) -> None:
        if self.xy_m.ndim != 3 or self.xy_m.shape[2] != 2:
            raise ValueError(f"xy_m must have shape (B, K, 2), got {self.xy_m.shape}")
        b, k = self.xy_m.shape[:2]
        expected = {
            "yaw_rad": (b, k),
            "length_m": (k,),
            "width_m": (k,),
            "is_bot": (k,),
            "valid": (b, k),
        }
        for name, shape in expected.items():
            got = getattr(self, name).shape
            if got != shape:
                raise ValueError(f"{name} must have shape {shape} to match xy_m, got {got}")
        if (self.length_m <= 0).any() or (self.width_m <= 0).any():
            raise ValueError("object lengths and widths must be positive")

    @classmethod
    def empty(cls, batch_size: int) -> ObjectsState:
        """B environments without objects (K = 0)."""
        return cls(
            xy_m=np.zeros((batch_size, 0, 2)),
            yaw_rad=np.zeros((batch_size, 0)),
            length_m=np.zeros(0),
            width_m=np.zeros(0),
            is_bot=np.zeros(0, dtype=bool),
            valid=np.zeros((batch_size, 0), dtype=bool),
        )

    def rows(self, idx: np.ndarray) -> ObjectsState:
        """A copy holding only environments ``idx`` (e.g. those being reset)."""
        return ObjectsState(
            xy_m=self.xy_m[idx],
            yaw_rad=self.yaw_rad[idx],
            length_m=self.length_m,
            width_m=self.width_m,
            is_bot=self.is_bot,
            valid=self.valid[idx],
        )

    @property
    def batch_size(self) -> int:
        return int(self.xy_m.shape[0])

    @property
    def num_slots(self) -> int:
        """K, the number of object slots per environment."""
        return int(self.xy_m.shape[1])

    def corners_m(self) -> np.ndarray:
        """``(B, K, 4, 2)`` float64 world corners of every rectangle, counter-clockwise from the
        front-left (front = along the yaw). Invalid slots are included; mask with ``valid``."""
        return rectangle_corners(self.xy_m, self.yaw_rad, 0.5 * self.length_m, 0.5 * self.width_m)

    def contains_any(self, points_xy_m: np.ndarray) -> np.ndarray:
        """Which objects contain at least one of each environment's points.

        Args:
            points_xy_m: ``(B, P, 2)`` world points per environment, metres (e.g. the car's wheel
                centres from :func:`wheel_points`: the simulator's collision test).

        Returns:
            ``(B, K)`` bool: a point lies inside (or on the edge of) the object's rectangle and
            the slot is valid.
        """
        rel = points_xy_m[:, None, :, :] - self.xy_m[:, :, None, :]  # (B, K, P, 2)
        c = np.cos(self.yaw_rad)[:, :, None]
        s = np.sin(self.yaw_rad)[:, :, None]
        along = rel[..., 0] * c + rel[..., 1] * s
        across = -rel[..., 0] * s + rel[..., 1] * c
        inside = (np.abs(along) <= 0.5 * self.length_m[None, :, None]) & (
            np.abs(across) <= 0.5 * self.width_m[None, :, None]
        )
        return inside.any(axis=2) & self.valid


def wheel_points(
    x_m: np.ndarray, y_m: np.ndarray, yaw_rad: np.ndarray, wheelbase_m: float, track_width_m: float
) -> np.ndarray:
    """World centres ``(B, 4, 2)`` of a car's wheels: rear-left, rear-right, front-left,
    front-right, for cars whose origin (rear axle centre) is at ``x_m, y_m (B,)``."""
    along = np.array([0.0, 0.0, wheelbase_m, wheelbase_m])
    side = 0.5 * track_width_m * np.array([1.0, -1.0, 1.0, -1.0])
    c = np.cos(yaw_rad)[:, None]
    s = np.sin(yaw_rad)[:, None]
    x = x_m[:, None] + along * c - side * s
    y = y_m[:, None] + along * s + side * c
    return np.stack([x, y], axis=-1)


def rectangle_corners(
    center_xy_m: np.ndarray, yaw_rad: np.ndarray, half_length_m, half_width_m
) -> np.ndarray:
    """Corners ``(..., 4, 2)`` of rectangles with centres ``(..., 2)`` and yaws ``(...)``;
    the half-sizes broadcast against the yaws."""
    c = np.cos(yaw_rad)[..., None]
    s = np.sin(yaw_rad)[..., None]
    hl = np.broadcast_to(half_length_m, np.shape(yaw_rad))[..., None]
    hw = np.broadcast_to(half_width_m, np.shape(yaw_rad))[..., None]
    along = hl * np.array([1.0, -1.0, -1.0, 1.0])
    across = hw * np.array([1.0, 1.0, -1.0, -1.0])
    x = center_xy_m[..., 0:1] + along * c - across * s
    y = center_xy_m[..., 1:2] + along * s + across * c
    return np.stack([x, y], axis=-1)


def as_poses(x_m, y_m, yaw_rad) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Car poses as three contiguous float64 ``(B,)`` arrays; unequal lengths are a ValueError."""
    x = np.ascontiguousarray(x_m, dtype=np.float64).reshape(-1)
    y = np.ascontiguousarray(y_m, dtype=np.float64).reshape(-1)
    yaw = np.ascontiguousarray(yaw_rad, dtype=np.float64).reshape(-1)
    if y.shape[0] != x.shape[0] or yaw.shape[0] != x.shape[0]:
        raise ValueError(
            f"x_m, y_m and yaw_rad must have the same length, got {x.shape[0]}, "
            f"{y.shape[0]}, {yaw.shape[0]}"
        )
    return x, y, yaw
