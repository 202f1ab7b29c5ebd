"""``coaching_parallel_v0``: the trajectory + coach PettingZoo env (versioned module, PettingZoo
style): ``from apexrl.envs.coaching_parallel_v0 import parallel_env``."""

from __future__ import annotations

from typing import Any

from apexrl.envs.coaching_parallel import CoachingParallelEnv


def parallel_env(**kwargs: Any) -> CoachingParallelEnv:
    """A :class:`~apexrl.envs.coaching_parallel.CoachingParallelEnv`; keyword arguments as its."""
    return CoachingParallelEnv(**kwargs)


__all__ = ["CoachingParallelEnv", "parallel_env"]
