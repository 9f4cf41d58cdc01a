"""The ``Bound`` layer: a bound of ``tfmi.bounds.BOUNDS`` with its own settings, plus the
state that its record (``tfmi.bounds.RECORDS``) names: MINE's moving average, the
baseline of TUBA and the interpolated bound (layers of ``tfmi.bounds.state``)."""

import keras

from tfmi import bounds
from tfmi.bounds import Baseline
from tfmi.errors import InputError
from tfmi.models.base import as_dict

# Baseline (defined in tfmi.bounds.state) is re-exported for evaluation.bound_benchmark.
__all__ = ["Bound", "Baseline", "LOGGED_BOUNDS", "get"]

# Bounds with no state, evaluated on every score matrix for logging beside the
# trained one: they show how the same critic reads under each estimator.
LOGGED_BOUNDS = {name: bounds.get(name) for name in ("infonce", "nwj", "dv", "js")}


class Bound(keras.layers.Layer):
    """Turns scores [B, B] (and x, for a baseline) into the value of the bound ``bound``.

    ``bound`` names a function of ``tfmi.bounds.BOUNDS``; ``args`` are its own settings
    (``clip`` for "smile", ``alpha`` for "interpolated", ``margin`` for "triplet") and
    those of the state its record names, created only for a bound that has one:
    ``momentum`` of MINE's moving average (``tfmi.bounds.MineAverage``), ``baseline``
    and ``baseline_hidden`` of the baseline a(x) of "tuba" and "interpolated"
    (``tfmi.bounds.Baseline``). Defaults live in those signatures. For "kpair" and
    "triplet" the value is -loss, an objective to maximise, not an MI estimate.
    """

    def __init__(self, bound="infonce", name=None, dtype=None, trainable=True, **args):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.function = bounds.get(bound)
        accepted = bounds.settings(bound)
        unknown = sorted(set(args) - set(accepted))
        if unknown:
            raise InputError(
                f"model.bound: {bound!r} takes no setting {unknown}; its settings are "
                f"{sorted(accepted) or 'none'}. Remove the others from the bound block."
            )
        self.bound = bound
        self.args = dict(args)
        self.function_args, state_args = bounds.split_settings(bound, self.args)
        state = bounds.RECORDS[bound].state
        self.state = None if state is None else state(**state_args, name="state")

    @property
    def spec(self):
        """The config block that rebuilds this bound: {"name": bound, **settings}."""
        return {"name": self.bound, **self.args}

    def call(self, scores, x=None):
        state = {} if self.state is None else {self.state.argument: self.state(scores, x)}
        return self.function(scores, **state, **self.function_args)

    def get_config(self):
        return {**super().get_config(), "bound": self.bound, **self.args}


def get(spec):
    """A ``Bound`` from a config block {"name": ..., **settings}, a bound name, or a
    ``Bound`` (returned as it is)."""
    if isinstance(spec, Bound):
        return spec
    if isinstance(spec, str):
        return Bound(spec)
    spec = as_dict(spec)
    if "name" not in spec:
        raise InputError(f"model.bound needs a 'name', one of {list(bounds.BOUNDS)} (got the fields {sorted(spec)}).")
    return Bound(spec.pop("name"), **spec)
