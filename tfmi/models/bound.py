"""The ``Bound`` layer: a named MI bound plus the state some bounds carry."""

import keras
import tensorflow as tf

from tfmi import bounds
from tfmi.critics import mlp

__all__ = ["Bound", "LOGGED_BOUNDS"]

# Bounds with no state, evaluated on every score matrix for logging beside the
# trained one: they show how the same critic reads under each estimator.
LOGGED_BOUNDS = {
    "infonce": bounds.infonce,
    "nwj": bounds.nwj,
    "dv": bounds.dv,
    "js": bounds.js,
}

BASELINES = ("mlp", "constant", "none")


# Every name a Bound accepts: the MI bounds, then the metric-learning losses.
NAMES = bounds.UNCONDITIONAL_BOUNDS + bounds.METRIC_LOSSES


class Bound(keras.layers.Layer):
    """Turns scores [B, B] into the MI estimate of the bound called ``bound``.

    For a metric-learning loss of ``tfmi.bounds.METRIC_LOSSES`` ("kpair": the multi-class
    K-pair loss, "triplet": the hinge triplet loss; Tschannen et al. 2020, Sec. 4) the
    value is -loss, the objective to maximise: not an MI estimate (for "kpair",
    log B + value is I_NCE of the same scores).

    Args:
      bound: one of ``tfmi.bounds.UNCONDITIONAL_BOUNDS`` or ``tfmi.bounds.METRIC_LOSSES``.
      alpha: interpolation weight of ``interpolated`` (1 = InfoNCE-like, 0 = TUBA).
      clip: SMILE's clipping threshold tau (None: no clipping).
      momentum: MINE's moving-average momentum.
      baseline: log a(x) for ``tuba`` and ``interpolated``: "mlp" (learned MLP of x,
        as in Poole et al. 2019), "constant" (one learned scalar) or "none" (a = 1).
      baseline_hidden: hidden widths of the "mlp" baseline.
      margin: the triplet loss's margin.
    """

    def __init__(
        self,
        bound="infonce",
        alpha=0.5,
        clip=5.0,
        momentum=0.9,
        baseline="mlp",
        baseline_hidden=(128,),
        margin=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if bound not in NAMES:
            raise ValueError(f"Unknown bound {bound!r}; choose one of {list(NAMES)}.")
        if baseline not in BASELINES:
            raise ValueError(f"Unknown baseline {baseline!r}; choose one of {list(BASELINES)}.")
        if not margin >= 0:
            raise ValueError(f"Bound: the triplet margin must be >= 0, got {margin}.")
        self.bound = bound
        self.alpha = alpha
        self.clip = clip
        self.momentum = momentum
        self.baseline = baseline
        self.baseline_hidden = tuple(baseline_hidden)
        self.margin = margin
        self.uses_baseline = bound in ("tuba", "interpolated") and baseline != "none"
        if bound == "mine":
            self.mine_average = bounds.MineMovingAverage(momentum, name="mine_average")
        if self.uses_baseline and baseline == "mlp":
            self.baseline_net = mlp(self.baseline_hidden, 1, name="baseline_net")
        elif self.uses_baseline:
            self.log_baseline_constant = self.add_weight(
                shape=(), initializer="zeros", name="log_baseline"
            )

    def build(self, scores_shape, x_shape=None):
        if self.uses_baseline and self.baseline == "mlp":
            if x_shape is None:
                raise ValueError(f"bound {self.bound!r} with an mlp baseline needs x.")
            self.baseline_net.build(x_shape)

    def log_baseline(self, scores, x):
        """log a(x_i) for each row of ``scores``: shape [B]."""
        if not self.uses_baseline:
            return tf.zeros(tf.shape(scores)[:1], scores.dtype)
        if self.baseline == "mlp":
            return tf.squeeze(self.baseline_net(x), axis=-1)
        return tf.fill(tf.shape(scores)[:1], tf.convert_to_tensor(self.log_baseline_constant))

    def call(self, scores, x=None):
        name = self.bound
        if name == "mine":
            return self.mine_average(scores)
        if name == "smile":
            return bounds.smile(scores, self.clip)
        if name == "tuba":
            return bounds.tuba(scores, self.log_baseline(scores, x))
        if name == "interpolated":
            return bounds.interpolated(scores, self.log_baseline(scores, x), self.alpha)
        if name == "kpair":
            return -bounds.kpair_loss(scores)
        if name == "triplet":
            return -bounds.triplet_loss(scores, self.margin)
        return getattr(bounds, name)(scores)

    def get_config(self):
        return {
            **super().get_config(),
            "bound": self.bound,
            "alpha": self.alpha,
            "clip": self.clip,
            "momentum": self.momentum,
            "baseline": self.baseline,
            "baseline_hidden": self.baseline_hidden,
            "margin": self.margin,
        }
