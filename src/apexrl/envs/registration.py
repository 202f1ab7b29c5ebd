"""Gymnasium ids of apexrl's environments, registered with STRING entry points.

``import apexrl`` calls :func:`register_envs`; the environment modules themselves (and numba, the
simulator, the sensors) are imported only when ``gymnasium.make`` builds an environment.
"""

from __future__ import annotations

ENV_IDS: dict[str, str] = {
    "apexrl/MotoCoach-v0": "apexrl.envs.moto_coach:MotoCoachEnv",
    "apexrl/DeepRacer-v0": "apexrl.envs.deepracer:DeepRacerEnv",
}
"""Gymnasium id -> entry point."""
VECTOR_ENTRY_POINTS: dict[str, str] = {
    "apexrl/MotoCoach-v0": "apexrl.envs.vector:MotoCoachVectorEnv",
    "apexrl/DeepRacer-v0": "apexrl.envs.deepracer:DeepRacerVectorEnv",
}
"""Gymnasium id -> native batched vector env, used by
``gymnasium.make_vec(id, num_envs, vectorization_mode="vector_entry_point")``."""


def register_envs() -> None:
    """Register every apexrl id with Gymnasium (idempotent; a no-op without gymnasium)."""
    try:
        import gymnasium
    except ImportError:  # the core install without the envs has nothing to register
        return
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point=entry_point,
                vector_entry_point=VECTOR_ENTRY_POINTS[env_id],
                disable_env_checker=False,
            )
