"""Training a haptic coach: behaviour cloning and PPO/SAC fine-tuning with Stable-Baselines3.

- :mod:`apexrl.train.bc`: behaviour cloning of the oracle coach on the Minari datasets into the
  SB3 policy that PPO then fine-tunes (:func:`~apexrl.train.bc.train_bc`).
- :mod:`apexrl.train.rl`: PPO (or SAC) on the native batched env, TensorBoard logs, checkpoints,
  ``resume`` (:func:`~apexrl.train.rl.train_rl`).
- :mod:`apexrl.train.checkpoints`: atomic safetensors + JSON checkpoints, RNG state.
- :mod:`apexrl.train.model_io`: the model files (safetensors + JSON, SB3 zip) and
  :class:`~apexrl.train.model_io.CoachPolicy`.

torch and SB3 are imported inside the functions that need them.
"""
