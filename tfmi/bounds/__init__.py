"""Variational lower bounds on mutual information, as pure functions of critic scores.

Five modules, one import: ``classic`` (the unconditional bounds), ``conditional``
(DEMI's conditional bounds), ``losses`` (training losses that are not bounds),
``state`` (the layers that keep a bound's state) and ``registry`` (one record per
bound); ``tfmi.bounds.NAME`` reaches every public name.

Every bound takes a score matrix ``scores`` of shape ``[B, B]`` with
``scores[i, j] = f(x_i, y_j)``: the diagonal holds the B positive pairs drawn from
p(x, y), the off-diagonal entries are the B (B - 1) pairs from p(x) p(y). Each returns
a scalar ``tf.Tensor`` in nats that is differentiable and works in eager mode and
inside ``tf.function``. To train, maximise the bound (minimise its negative).

The conditional bounds of DEMI (``cnce``, ``var``, ``importance_sampled``, ``boosted``)
take the scores of each row's positive [B] and of its own negatives [B, K - 1] instead;
``split_scores`` converts a [B, B] matrix, ``demi`` adds the unconditional InfoNCE term.

``kpair_loss`` and ``triplet_loss`` are the metric-learning losses that Tschannen et al.
(2020, Sec. 4) relate to InfoNCE: losses to minimise on the same score matrix, not bounds.

``RECORDS`` (``registry``) holds one ``BoundRecord`` per bound: its function, kind, state
and held-out form. Derived from it, ``BOUNDS`` maps every name a model or config accepts
to its function, each taking the scores and only its own arguments; ``get(name)`` looks
one up.

References: Poole et al. 2019 "On variational bounds of mutual information" (InfoNCE,
NWJ, TUBA, interpolated), Belghazi et al. 2018 (DV / MINE), Song & Ermon 2020 (SMILE),
Nowozin et al. 2016 (f-GAN JS), Sordoni et al. 2021 (DEMI: CNCE, VAR, IS, BO),
Sohn 2016 and Schroff et al. 2015 (K-pair and triplet losses).
"""

from tfmi.bounds.classic import (
    MineMovingAverage,
    dv,
    infonce,
    interpolated,
    js,
    log_mean_exp_off_diagonal,
    mine,
    nwj,
    smile,
    tuba,
)
from tfmi.bounds.conditional import (
    boosted,
    cnce,
    demi,
    importance_sampled,
    split_scores,
    var,
)
from tfmi.bounds.losses import (
    contrastive_cross_entropy,
    demi_listing1_loss,
    kpair_loss,
    triplet_loss,
)
from tfmi.bounds.registry import (
    BOUNDS,
    CONDITIONAL_BOUNDS,
    METRIC_LOSSES,
    RECORDS,
    STATE_ARGUMENTS,
    UNCONDITIONAL_BOUNDS,
    BoundRecord,
    arguments,
    get,
    kpair,
    settings,
    split_settings,
    triplet,
)
from tfmi.bounds.state import Baseline, MineAverage

__all__ = [
    "RECORDS",
    "BoundRecord",
    "BOUNDS",
    "STATE_ARGUMENTS",
    "get",
    "arguments",
    "settings",
    "split_settings",
    "Baseline",
    "MineAverage",
    "kpair",
    "triplet",
    "infonce",
    "log_mean_exp_off_diagonal",
    "nwj",
    "tuba",
    "dv",
    "js",
    "smile",
    "interpolated",
    "mine",
    "MineMovingAverage",
    "UNCONDITIONAL_BOUNDS",
    "kpair_loss",
    "triplet_loss",
    "METRIC_LOSSES",
    "split_scores",
    "cnce",
    "var",
    "importance_sampled",
    "boosted",
    "demi",
    "CONDITIONAL_BOUNDS",
    "contrastive_cross_entropy",
    "demi_listing1_loss",
]
