"""Early stopping on a validation value, shared by the critic, flow and DEMI fitting loops."""

import math

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Keeps the weights of the best validation value seen and says when to stop.

    ``update(step, value, get_weights)`` after each evaluation: a better value ("max":
    higher, "min": lower) records ``step``, ``value`` and ``get_weights()``; ``patience``
    evaluations in a row without one, or a value that is not finite (a diverged fit),
    set ``stopped``. ``best_weights`` are then what the caller restores.
    """

    def __init__(self, patience, mode="max"):
        if mode not in ("max", "min"):
            raise ValueError(f"EarlyStopping: mode must be 'max' or 'min', got {mode!r}.")
        self.patience = int(patience)
        self.sign = 1.0 if mode == "max" else -1.0
        self.best_value, self.best_step, self.best_weights = None, 0, None
        self.waited, self.stopped = 0, False

    def update(self, step, value, get_weights):
        """Records one evaluation; returns ``not self.stopped``."""
        if not math.isfinite(value):
            self.stopped = True
        elif self.best_value is None or self.sign * (value - self.best_value) > 0:
            self.best_value, self.best_step, self.best_weights, self.waited = value, step, get_weights(), 0
        else:
            self.waited += 1
            self.stopped = self.waited >= self.patience
        return not self.stopped
