"""apexrl: racing reinforcement learning from simulation to hardware."""

__version__ = "0.1.0"
