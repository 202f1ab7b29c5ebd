"""Datasets: Minari datasets of coached laps, logged-lap import, validation, lap comparison.

Modules (each imported on use; Minari and h5py load only when a dataset is read or written):

- :mod:`apexrl.data.minari_io`: the 8-channel schema, episode arrays, writing Minari datasets with
  a checksum manifest;
- :mod:`apexrl.data.generate`: pro and amateur datasets from the MotoCoach vector env with the
  oracle coach's cues;
- :mod:`apexrl.data.telemetry`: RaceChrono CSV v3 and AiM CSV import, alignment and map matching;
- :mod:`apexrl.data.validate`: checksum and Minari-invariant checks;
- :mod:`apexrl.data.compare`: corner-by-corner comparison with the optimal lap.
"""
