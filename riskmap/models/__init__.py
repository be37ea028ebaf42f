"""Models on top of the scored grid: calibration, evaluation, metrics, AHP, power."""
