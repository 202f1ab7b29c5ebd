"""``apexrl rewards test``: drive scripted laps and call a reward function exactly as the DeepRacer
simulator would, before paying for training.

:class:`ScriptedDriver` produces actions for a batch of cars (pure pursuit of the centre line or
the racing line, or seeded random actions); :func:`run_reward_test` drives episodes with it through
:class:`~apexrl.envs.deepracer_batch.DeepRacerBatch` (the same step, params and episode rules as the
environment) and collects every call's reward and error into a :class:`RewardTestReport`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from apexrl.deepracer.episode import STATUSES, Route, call_reward
from apexrl.deepracer.params import FIRST_STEP
from apexrl.deepracer.reward_runner import RewardError, RewardFunction
from apexrl.tracks.library import load_track
from apexrl.tracks.track import Track

POLICIES = ("centerline", "raceline", "random")
PURSUIT_LOOKAHEAD_M = 0.6
"""Pure-pursuit look-ahead of the scripted drivers (about two car lengths)."""


class ScriptedDriver:
    """Actions for the B cars of a :class:`~apexrl.envs.deepracer_batch.DeepRacerBatch`.

    ``"centerline"`` / ``"raceline"``: pure pursuit of the centre line / minimum-curvature racing
    line at ``speed_mps``, the command then snapped to the nearest discrete action (steering
    scaled by 30 deg, speed by 4 m/s) or mapped into a continuous space. ``"random"``: uniform
    random actions from ``rng``.
    """

    def __init__(
        self, batch: Any, policy: str, *, speed_mps: float, rng: np.random.Generator
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
        self.batch = batch
        self.policy = policy
        self.speed_mps = float(speed_mps)
        self.rng = rng
        self.line = batch.track
        if policy == "raceline":
            from apexrl.tracks.raceline import minimum_curvature_line

            self.line = minimum_curvature_line(batch.track).line

    def actions(self) -> np.ndarray:
        from apexrl.deepracer.actions import DiscreteActionSpace, unscale_action
        from apexrl.vehicles import car as carm

        space = self.batch.dr_action_space
        b = self.batch.batch_size
        discrete = isinstance(space, DiscreteActionSpace)
        if self.policy == "random":
            if discrete:
                return self.rng.integers(0, len(space), b)
            return self.rng.uniform(-1.0, 1.0, (b, 2))
        st = self.batch.sim.state
        x, y, yaw = st[:, carm.X_M], st[:, carm.Y_M], st[:, carm.YAW_RAD]
        s = self.line.project(np.stack([x, y], axis=1)).s_m
        ahead = -PURSUIT_LOOKAHEAD_M if self.batch.route.reverse else PURSUIT_LOOKAHEAD_M
        target = self.line.to_world(s + ahead)
        dx, dy = target[:, 0] - x, target[:, 1] - y
        alpha = np.arctan2(dy, dx) - yaw
        dist = np.hypot(dx, dy)
        wheelbase = self.batch.car.wheelbase_m
        steer = np.degrees(np.arctan2(2.0 * wheelbase * np.sin(alpha), dist))
        speed = np.full(b, self.speed_mps)
        if discrete:
            table = np.array([[a.steering_angle_deg, a.speed_mps] for a in space.actions])
            cost = ((steer[:, None] - table[:, 0]) / 30.0) ** 2 + (
                (speed[:, None] - table[:, 1]) / 4.0
            ) ** 2
            return np.argmin(cost, axis=1)
        return np.clip(unscale_action(space, steer, speed), -1.0, 1.0)


@dataclass
class RewardTestReport:
    """What :func:`run_reward_test` found."""

    source: str
    track: str
    race_type: str
    policy: str
    first_call_step: int
    episodes: list[dict[str, Any]]
    """Per episode: ``episode``, ``steps``, ``status``, ``progress``, ``calls``."""
    errors: list[dict[str, Any]]
    """Per failed call: ``episode``, ``step``, ``kind``, ``message``, ``params`` (the dict the
    function got, with ``waypoints`` summarised as text)."""
    calls: int
    """Reward function calls made."""
    error_count: int
    """Calls that failed (``errors`` keeps the first ``max_errors``)."""
    x_m: np.ndarray
    y_m: np.ndarray
    distance_m: np.ndarray
    rewards: np.ndarray
    """Where each successful call happened (params x, y, projection_distance) and its reward."""

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def to_dict(self) -> dict[str, Any]:
        r = self.rewards
        return {
            "file": self.source,
            "track": self.track,
            "race_type": self.race_type,
            "policy": self.policy,
            "first_call_step": self.first_call_step,
            "calls": self.calls,
            "error_count": self.error_count,
            "errors": self.errors,
            "reward_min": float(r.min()) if r.size else None,
            "reward_max": float(r.max()) if r.size else None,
            "reward_mean": float(r.mean()) if r.size else None,
            "episodes": self.episodes,
        }

    def plot(self, path: Any, track: Track) -> Any:
        """Rewards along the track (PNG etc.): the route coloured by reward, and reward against
        distance along the centre line."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        from apexrl.deepracer.simtrace import _draw_track
        from apexrl.io_utils import atomic_open

        fig = Figure(figsize=(13.0, 5.5), layout="constrained")
        canvas = FigureCanvasAgg(fig)
        fmt = str(path).rsplit(".", 1)[-1].lower()
        if fmt not in canvas.get_supported_filetypes():
            raise ValueError(f"cannot write a plot to {path}: unknown image type")
        ax = fig.add_subplot(1, 2, 1)
        _draw_track(ax, track)
        points = ax.scatter(self.x_m, self.y_m, c=self.rewards, s=6, cmap="plasma", zorder=3)
        fig.colorbar(points, ax=ax, label="reward", shrink=0.8)
        ax.set_aspect("equal")
        ax.set_title(f"{Path(self.source).name} on {self.track} ({self.policy})")
        ax2 = fig.add_subplot(1, 2, 2)
        ax2.plot(self.distance_m, self.rewards, ".", ms=2)
        ax2.set_xlabel("distance along the centre line (m)")
        ax2.set_ylabel("reward")
        ax2.set_title(f"{self.calls} calls, {self.error_count} error(s)")
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=fmt, dpi=110)
        return path


def run_reward_test(
    reward_function: str | os.PathLike | Callable[[dict[str, Any]], Any],
    track: str | os.PathLike | Track = "dr_oval",
    *,
    race_type: str = "TIME_TRIAL",
    race: Any = None,
    episodes: int = 3,
    policy: str = "centerline",
    first_call_step: int = FIRST_STEP,
    speed_mps: float = 1.5,
    action_space: Any = "time_trial",
    reverse: bool = False,
    seed: int = 0,
    max_errors: int = 20,
) -> RewardTestReport:
    """Drive ``episodes`` episodes one after another with a scripted policy, calling the reward
    function exactly as the simulator would (one car; module state persists across episodes).

    Episode k starts k / episodes of a lap from the start line, so the car crosses the start
    line (where look-ahead code that does not wrap its waypoint index fails). A failing call is
    recorded (up to ``max_errors`` with their params), rewarded 0, and the drive goes on. Each
    episode may last two laps' worth of time at ``speed_mps``.
    """
    from apexrl.envs.deepracer_batch import DeepRacerBatch

    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not (math.isfinite(speed_mps) and 0.1 <= speed_mps <= 4.0):
        raise ValueError(f"speed_mps must be in 0.1..4 m/s, got {speed_mps}")
    user = RewardFunction.load(reward_function)
    errors: list[dict[str, Any]] = []
    records: list[tuple[float, float, float, float]] = []
    state = {"episode": 0, "calls": 0, "errors": 0}
    holder: dict[str, Any] = {}

    def recorder(params: dict[str, Any]) -> float:
        step = params["steps"]
        where = (params["x"], params["y"], params["projection_distance"])
        state["calls"] += 1
        try:
            value = call_reward(user, params, step)
        except RewardError as exc:
            state["errors"] += 1
            if len(errors) < max_errors:
                shown = holder["batch"].last_params.params(0)
                shown["waypoints"] = f"({len(shown['waypoints'])} (x, y) tuples)"
                errors.append(
                    {
                        "episode": state["episode"],
                        "step": step,
                        "kind": exc.kind,
                        "message": str(exc),
                        "params": shown,
                    }
                )
            return 0.0
        records.append((*where, value))
        return value

    loaded = load_track(track)
    lap_s = Route.of(loaded, reverse=reverse).length_m / speed_mps
    batch = DeepRacerBatch(
        1,
        track=loaded,
        reward_function=recorder,
        action_space=action_space,
        sensors=(),
        race_type=race_type,
        race=race,
        reverse=reverse,
        first_call_step=first_call_step,
        start="round_robin",
        round_robin_advance=(1.0 / episodes) % 1.0,
        time_limit_s=2.0 * lap_s + 5.0,
    )
    holder["batch"] = batch
    rng = np.random.default_rng(seed)
    driver = ScriptedDriver(batch, policy, speed_mps=speed_mps, rng=rng)
    summary = []
    for episode in range(episodes):
        state.update(episode=episode, calls=0, errors=0)
        batch.reset(np.array([0]), [rng])
        while True:
            _, terminated, truncated = batch.step(driver.actions())
            if terminated[0] or truncated[0]:
                break
        summary.append(
            {
                "episode": episode,
                "steps": int(batch.rules.steps[0]),
                "status": STATUSES[int(batch.status[0])],
                "progress": round(float(np.clip(batch.rules.progress[0], 0, 100)), 3),
                "calls": state["calls"],
                "errors": state["errors"],
            }
        )
    batch.close()
    arr = np.array(records, dtype=np.float64).reshape(-1, 4)
    return RewardTestReport(
        source=user.label,
        track=loaded.name,
        race_type=race_type,
        policy=policy,
        first_call_step=first_call_step,
        episodes=summary,
        errors=errors,
        calls=sum(e["calls"] for e in summary),
        error_count=sum(e["errors"] for e in summary),
        x_m=arr[:, 0],
        y_m=arr[:, 1],
        distance_m=arr[:, 2],
        rewards=arr[:, 3],
    )
