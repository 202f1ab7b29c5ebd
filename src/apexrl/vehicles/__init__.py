"""Pure vehicle dynamics (motorcycle, DeepRacer car) and their parameters."""
