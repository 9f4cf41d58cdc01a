"""The state a bound keeps across batches, as Keras layers (so checkpoints save it).

A state layer named by a bound's record (``tfmi.bounds.RECORDS``) has the class
attribute ``argument``, the name of the bound function's argument it supplies, and
returns that argument's value when called on ``(scores, x)``: the model layer
(``tfmi.models.Bound``) and the estimator (``tfmi.estimation.neural``) both build it
from the record. Re-exported by ``tfmi.bounds``.
"""

import keras
import tensorflow as tf

from tfmi.bounds.classic import MineMovingAverage
from tfmi.layers import mlp

__all__ = ["Baseline", "MineAverage"]

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


class MineAverage(MineMovingAverage):
    """MINE's state: log A, the moving average of E_p(x)p(y)[e^f] that each call updates
    and returns (``MineMovingAverage``, whose ``momentum`` it takes)."""

    argument = "log_moving_average"

    def call(self, scores, x=None):
        return self.update(scores)
