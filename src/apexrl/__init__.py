"""apexrl: racing reinforcement learning from simulation to hardware."""

__version__ = "0.1.0"

from apexrl.envs.registration import register_envs as _register_envs  # noqa: E402

_register_envs()
