"""Datasets: Minari datasets of coached laps, logged-lap import, validation, lap comparison.

Modules (each imported on use; Minari and h5py load only when a dataset is read or written):

- :mod:`apexrl.data.minari_io`: the 8-channel schema, episode arrays, writing Minari datasets with
  a checksum manifest;
- :mod:`apexrl.data.generate`: pro and amateur datasets from the MotoCoach vector env with the
  oracle coach's cues;
- :mod:`apexrl.data.formats`: RaceChrono CSV v3 and AiM CSV parsing into SI channels;
- :mod:`apexrl.data.telemetry`: logged-lap import: alignment, map matching and lap splitting;
- :mod:`apexrl.data.validate`: checksum and Minari-invariant checks;
- :mod:`apexrl.data.compare`: corner-by-corner comparison with the optimal lap.
"""
