"""The fitting loop of the trained candidates (critic, flow, conditional Gaussian
networks) and its early stopping on a validation value (DEMI's Keras ``fit`` uses the
same ``EarlyStopping`` through a callback).

    repeat: ``eval_every`` train steps, one validation value, ``stopper.update``
    until ``max_steps`` or the stopper stops; the caller restores the best weights.
"""

import math

__all__ = ["EarlyStopping", "EachStopping", "fit_loop"]


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


class EachStopping:
    """One ``EarlyStopping`` per network trained side by side (``get_weights[i]`` of each):
    ``update(step, values, _)`` updates those not yet stopped with their own value;
    ``stopped`` once all are."""

    def __init__(self, stoppers, get_weights):
        self.stoppers, self.get_weights = stoppers, get_weights

    @property
    def stopped(self):
        return all(stopper.stopped for stopper in self.stoppers)

    def update(self, step, values, _=None):
        for stopper, value, weights in zip(self.stoppers, values, self.get_weights):
            if not stopper.stopped:
                stopper.update(step, value, weights)
        return not self.stopped


def fit_loop(train_steps, validate, stopper, get_weights, *, max_steps, eval_every, whole_chunks=False,
             validate_first=False, log=None):
    """The history [(step, train value, validation value)] of fitting in chunks:
    ``train_steps(steps)`` runs that many steps and returns their train value (None when
    not computed), ``validate()`` the validation value after them, which
    ``stopper.update(step, value, get_weights)`` reads; a train value that is not finite
    (a diverged fit) passes NaN, which stops. Chunks of ``eval_every`` steps, the last
    cut at ``max_steps`` unless ``whole_chunks``; ``validate_first``: one validation at
    step 0 before training; ``log(step, train, valid)`` after each chunk."""
    history, step = [], 0
    if validate_first:
        value = validate()
        stopper.update(0, value, get_weights)
        history.append((0, None, value))
    while step < max_steps and not stopper.stopped:
        steps = eval_every if whole_chunks else min(eval_every, max_steps - step)
        train = train_steps(steps)
        step += steps
        value = validate()
        history.append((step, train, value))
        if log is not None:
            log(step, train, value)
        diverged = train is not None and not math.isfinite(train)
        stopper.update(step, float("nan") if diverged else value, get_weights)
    return history
