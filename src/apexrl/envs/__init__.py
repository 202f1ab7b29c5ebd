"""Gymnasium and PettingZoo environments over the batched simulator."""

from apexrl.envs.registration import ENV_IDS, register_envs

__all__ = ["ENV_IDS", "register_envs"]
