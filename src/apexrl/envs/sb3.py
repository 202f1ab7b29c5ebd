"""Stable-Baselines3 ``VecEnv`` over a batched Gymnasium ``VectorEnv``, with no env objects.

SB3's algorithms talk to a ``VecEnv``: ``reset() -> obs``, ``step(actions) -> (obs, rewards,
dones, infos)`` with one info dict per env, and SAME-STEP autoreset: when an env is done, the
returned observation is already the first one of its next episode and the last one is in
``infos[i]["terminal_observation"]`` (``infos[i]["TimeLimit.truncated"]`` tells a truncation from
a termination, for bootstrapping). :class:`SB3VecEnvAdapter` provides that on top of any
Gymnasium 1.x ``VectorEnv`` running in ``AutoresetMode.SAME_STEP`` (e.g.
``MotoCoachVectorEnv(..., autoreset_mode=AutoresetMode.SAME_STEP)``), reading the final
observations from ``info["final_obs"]``; it never loops over Python environment objects. Wrap it
in SB3's ``VecMonitor`` for episode statistics::

    from gymnasium.vector import AutoresetMode
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    venv = MotoCoachVectorEnv(64, rider="amateur", autoreset_mode=AutoresetMode.SAME_STEP)
    model = PPO("MlpPolicy", VecMonitor(SB3VecEnvAdapter(venv)), n_steps=256)
    model.learn(100_000)

Per-step infos carry only what SB3 needs (empty dicts for envs that are not done); a finished
env's dict also holds its final info (``lap_time_s``, ``crash_cause``, ``safety_violations``,
``reward_terms``, ...), unbatched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices


class SB3VecEnvAdapter(VecEnv):
    """An SB3 ``VecEnv`` view of a Gymnasium ``VectorEnv`` in ``SAME_STEP`` autoreset mode.

    Args:
        vec_env: the batched env; ``vec_env.metadata["autoreset_mode"]`` must be
            ``AutoresetMode.SAME_STEP``.

    ``get_attr``/``set_attr``/``env_method`` go through the vector env's ``get_attr``/``set_attr``/
    ``call`` (per-env tuples); ``env_is_wrapped`` is False for every env (there are no per-env
    wrappers). ``seed(s)`` seeds env i with ``s + i`` at the next reset.
    """

    def __init__(self, vec_env: VectorEnv) -> None:
        mode = vec_env.metadata.get("autoreset_mode")
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(
                "SB3 needs same-step autoreset; create the vector env with "
                f"autoreset_mode=AutoresetMode.SAME_STEP (got {mode})"
            )
        self.venv = vec_env
        self._actions: np.ndarray | None = None
        super().__init__(
            vec_env.num_envs, vec_env.single_observation_space, vec_env.single_action_space
        )

    # ------------------------------------------------------------------ VecEnv API
    def reset(self) -> np.ndarray:
        seeds = None if all(s is None for s in self._seeds) else list(self._seeds)
        options = _one_options(self._options)
        obs, _ = self.venv.reset(seed=seeds, options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        if self._actions is None:
            raise RuntimeError("call step_async() before step_wait()")
        obs, rewards, terminated, truncated, info = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones):  # only the finished envs get anything
            final = _unbatch(info.get("final_info", {}), int(i))
            final["terminal_observation"] = info["final_obs"][i]
            final["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            infos[i] = final
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds for the next reset: ``seed + i`` for env i; None lets every env draw fresh
        entropy (no global random state is used)."""
        self._seeds = [None if seed is None else seed + i for i in range(self.num_envs)]
        return self._seeds

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        values = self._per_env().get_attr(attr_name)
        return [values[i] for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        target = self._per_env()
        values = list(target.get_attr(attr_name))
        for i in self._get_indices(indices):
            values[i] = value
        target.set_attr(attr_name, values)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs
    ) -> list[Any]:
        results = self._per_env().call(method_name, *method_args, **method_kwargs)
        return [results[i] for i in self._get_indices(indices)]

    def _per_env(self) -> VectorEnv:
        """The env that answers per-env ``get_attr``/``set_attr``/``call``: the vector env itself,
        or, under Gymnasium vector wrappers (which do not forward them), the unwrapped one."""
        return self.venv if hasattr(self.venv, "get_attr") else self.venv.unwrapped

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        raise NotImplementedError(f"{type(self.venv).__name__} does not render")


def _one_options(options: list[dict[str, Any]]) -> dict[str, Any] | None:
    """SB3 keeps reset options per env; a Gymnasium vector env takes one dict for the batch."""
    if all(not o for o in options):
        return None
    if any(o != options[0] for o in options[1:]):
        raise ValueError("a batched vector env takes the same reset options for every env")
    return dict(options[0])


def _unbatch(info: dict[str, Any], i: int) -> dict[str, Any]:
    """Env ``i``'s entries of a batched Gymnasium info dict (keys whose ``_key`` mask is set)."""
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        mask = info.get(f"_{key}")
        if mask is not None and not mask[i]:
            continue
        if isinstance(value, dict):
            out[key] = _unbatch(value, i)
        else:
            item = value[i]
            out[key] = item.item() if isinstance(item, np.generic) else item
    return out
