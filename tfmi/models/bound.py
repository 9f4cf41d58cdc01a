"""The ``Bound`` layer: a bound of ``tfmi.bounds.BOUNDS`` with its own settings, plus the
state that MINE, TUBA and the interpolated bound carry (made only for those bounds)."""

import inspect

import keras
import tensorflow as tf

from tfmi import bounds
from tfmi.errors import InputError
from tfmi.layers import mlp
from tfmi.models.base import as_dict

__all__ = ["Bound", "Baseline", "MineAverage", "LOGGED_BOUNDS", "get"]

# Bounds with no state, evaluated on every score matrix for logging beside the
# trained one: they show how the same critic reads under each estimator.
LOGGED_BOUNDS = {name: bounds.get(name) for name in ("infonce", "nwj", "dv", "js")}

BASELINES = ("mlp", "constant", "none")


class Baseline(keras.layers.Layer):
    """log a(x_i) of TUBA and the interpolated bound, one per row: [B].

    baseline: "mlp" (a learned MLP of x with hidden widths ``baseline_hidden``, as in
    Poole et al. 2019), "constant" (one learned scalar) or "none" (a = 1).
    """

    argument = "log_baseline"

    def __init__(self, baseline="mlp", baseline_hidden=(128,), **kwargs):
        super().__init__(**kwargs)
        if baseline not in BASELINES:
            raise ValueError(f"Unknown baseline {baseline!r}; choose one of {list(BASELINES)}.")
        self.baseline = baseline
        self.baseline_hidden = tuple(baseline_hidden)
        if baseline == "mlp":
            self.baseline_net = mlp(self.baseline_hidden, 1, name="baseline_net")
        elif baseline == "constant":
            self.log_baseline_constant = self.add_weight(shape=(), initializer="zeros", name="log_baseline")

    def build(self, scores_shape, x_shape=None):
        if self.baseline == "mlp":
            if x_shape is None:
                raise ValueError("an mlp baseline needs x: call the bound with (scores, x).")
            self.baseline_net.build(x_shape)

    def call(self, scores, x=None):
        if self.baseline == "mlp":
            return tf.squeeze(self.baseline_net(x), axis=-1)
        if self.baseline == "constant":
            return tf.fill(tf.shape(scores)[:1], tf.convert_to_tensor(self.log_baseline_constant))
        return tf.zeros(tf.shape(scores)[:1], scores.dtype)


class MineAverage(bounds.MineMovingAverage):
    """MINE's state: log A, the moving average of E_p(x)p(y)[e^f] that each call updates
    and returns (``tfmi.bounds.MineMovingAverage``, whose ``momentum`` it takes)."""

    argument = "log_moving_average"

    def call(self, scores, x=None):
        return self.update(scores)


# The state a bound carries, created only for the bounds listed here: the layer that
# computes the bound's state argument (its class attribute ``argument``).
STATES = {"mine": MineAverage, "tuba": Baseline, "interpolated": Baseline}


def settings(name):
    """{setting: default} that a config block of bound ``name`` may give: the bound
    function's own arguments and those of the state layer it carries."""
    own = bounds.arguments(name)
    if name in STATES:
        parameters = list(inspect.signature(STATES[name].__init__).parameters.values())[1:]
        own.update({p.name: p.default for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD})
    return own


class Bound(keras.layers.Layer):
    """Turns scores [B, B] (and x, for a baseline) into the value of the bound ``bound``.

    ``bound`` names a function of ``tfmi.bounds.BOUNDS``; ``args`` are its own settings
    (``clip`` for "smile", ``alpha`` for "interpolated", ``margin`` for "triplet") and
    those of the state it carries, created only for the bounds of ``STATES``:
    ``momentum`` of MINE's moving average (``MineAverage``), ``baseline`` and
    ``baseline_hidden`` of the baseline a(x) of "tuba" and "interpolated"
    (``Baseline``). Defaults live in those signatures. For "kpair" and "triplet" the
    value is -loss, an objective to maximise, not an MI estimate.
    """

    def __init__(self, bound="infonce", name=None, dtype=None, trainable=True, **args):
        super().__init__(name=name, dtype=dtype, trainable=trainable)
        self.function = bounds.get(bound)
        accepted = settings(bound)
        unknown = sorted(set(args) - set(accepted))
        if unknown:
            raise InputError(
                f"model.bound: {bound!r} takes no setting {unknown}; its settings are "
                f"{sorted(accepted) or 'none'}. Remove the others from the bound block."
            )
        self.bound = bound
        self.args = dict(args)
        own = bounds.arguments(bound)
        self.function_args = {key: value for key, value in self.args.items() if key in own}
        state_args = {key: value for key, value in self.args.items() if key not in own}
        self.state = STATES[bound](**state_args, name="state") if bound in STATES else None

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
