"""Sensors of the simulated cars: cameras (:mod:`.camera`), lidars (:mod:`.lidar`) and the
objects they see (:mod:`.objects`). Import the sensor modules directly; nothing heavy loads here."""

from apexrl.sensors.objects import ObjectsState

__all__ = ["ObjectsState"]
