"""Variational lower bounds on mutual information, as pure functions of critic scores.

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

References: Poole et al. 2019 "On variational bounds of mutual information" (InfoNCE,
NWJ, TUBA, interpolated), Belghazi et al. 2018 (DV / MINE), Song & Ermon 2020 (SMILE),
Nowozin et al. 2016 (f-GAN JS), Sordoni et al. 2021 (DEMI: CNCE, VAR, IS, BO),
Sohn 2016 and Schroff et al. 2015 (K-pair and triplet losses).
"""

import math

import keras
import tensorflow as tf

__all__ = [
    "infonce",
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


def _check_scores(scores, name):
    """Converts to float tensor and checks the [B, B] shape with B >= 2."""
    scores = tf.convert_to_tensor(scores)
    if not scores.dtype.is_floating:
        scores = tf.cast(scores, tf.float32)
    shape = scores.shape
    if shape.rank is not None and shape.rank != 2:
        raise ValueError(
            f"{name}: scores must be a [B, B] matrix with scores[i, j] = f(x_i, y_j), "
            f"got rank {shape.rank} (shape {shape})."
        )
    if shape.rank == 2 and shape[0] is not None and shape[1] is not None:
        if shape[0] != shape[1]:
            raise ValueError(
                f"{name}: scores must be square [B, B] (positives on the diagonal), "
                f"got shape {shape}."
            )
        if shape[0] < 2:
            raise ValueError(f"{name}: needs a batch of at least 2 pairs, got {shape[0]}.")
    return scores


def _batch_size(scores):
    return tf.cast(tf.shape(scores)[0], scores.dtype)


def _off_diagonal_mask(scores):
    return tf.logical_not(tf.cast(tf.eye(tf.shape(scores)[0]), tf.bool))


def log_mean_exp_off_diagonal(scores):
    """log( 1/(B(B-1)) sum_{i != j} exp(scores[i, j]) ), computed stably."""
    batch = _batch_size(scores)
    masked = tf.where(_off_diagonal_mask(scores), scores, tf.cast(-math.inf, scores.dtype))
    return tf.reduce_logsumexp(masked) - tf.math.log(batch * (batch - 1.0))


def infonce(scores):
    """InfoNCE (van den Oord et al. 2018; Poole et al. 2019, Eq. 12).

    I_NCE = 1/B sum_i log( e^{f(x_i, y_i)} / (1/B sum_j e^{f(x_i, y_j)}) )
          = mean_i [f_ii - logsumexp_j f_ij] + log B.

    Upper limit: log B (the bound can never exceed the log of the batch size).
    Optimal critic: f*(x, y) = log p(y|x) + c(x).
    """
    scores = _check_scores(scores, "infonce")
    diag = tf.linalg.diag_part(scores)
    return tf.reduce_mean(diag - tf.reduce_logsumexp(scores, axis=1)) + tf.math.log(
        _batch_size(scores)
    )


def tuba(scores, log_baseline=None):
    """Tractable unnormalised Barber-Agakov bound (Poole et al. 2019, Eq. 9).

    I_TUBA = 1 + E_p(x,y)[f(x, y) - log a(x)] - E_p(x)p(y)[e^{f(x, y) - log a(x)}]

    with a learned baseline ``log_baseline`` = log a(x_i), shape [B] (one per row)
    or a scalar; ``None`` means a(x) = 1. The marginal term averages the B(B-1)
    off-diagonal pairs. No upper limit; optimal critic f* = 1 + log p(y|x) - log p(y)
    + log a(x) - 1 makes it tight.
    """
    scores = _check_scores(scores, "tuba")
    if log_baseline is not None:
        log_baseline = tf.cast(tf.convert_to_tensor(log_baseline), scores.dtype)
        if log_baseline.shape.rank == 1:
            if (
                log_baseline.shape[0] is not None
                and scores.shape[0] is not None
                and log_baseline.shape[0] != scores.shape[0]
            ):
                raise ValueError(
                    f"tuba: log_baseline must have one entry per row of scores "
                    f"({scores.shape[0]}), got shape {log_baseline.shape}."
                )
            log_baseline = log_baseline[:, None]
        elif log_baseline.shape.rank not in (0, None):
            raise ValueError(
                f"tuba: log_baseline must be a scalar or a [B] vector, got shape "
                f"{log_baseline.shape}."
            )
        scores = scores - log_baseline
    joint = tf.reduce_mean(tf.linalg.diag_part(scores))
    marginal = tf.exp(log_mean_exp_off_diagonal(scores))
    return 1.0 + joint - marginal


def nwj(scores):
    """NWJ / f-divergence bound (Nguyen, Wainwright & Jordan 2010; Poole et al. Eq. 11).

    I_NWJ = E_p(x,y)[f(x, y)] - e^{-1} E_p(x)p(y)[e^{f(x, y)}]  (TUBA with a(x) = e).

    No upper limit; optimal critic f* = 1 + log p(y|x) - log p(y).
    """
    scores = _check_scores(scores, "nwj")
    return tuba(scores - 1.0)


def dv(scores):
    """Donsker-Varadhan bound (Donsker & Varadhan 1983; MINE without the moving average).

    I_DV = E_p(x,y)[f(x, y)] - log E_p(x)p(y)[e^{f(x, y)}].

    The mini-batch estimate of the log-partition is biased; see ``mine`` for the
    corrected gradient. Optimal critic f* = log p(y|x) - log p(y) + c.
    """
    scores = _check_scores(scores, "dv")
    return tf.reduce_mean(tf.linalg.diag_part(scores)) - log_mean_exp_off_diagonal(scores)


def _js_fgan(scores):
    """f-GAN Jensen-Shannon objective: E_p[-softplus(-f)] - E_pxpy[softplus(f)]."""
    diag = tf.linalg.diag_part(scores)
    batch = _batch_size(scores)
    first = -tf.reduce_mean(tf.nn.softplus(-diag))
    off_sum = tf.reduce_sum(tf.nn.softplus(scores)) - tf.reduce_sum(tf.nn.softplus(diag))
    second = off_sum / (batch * (batch - 1.0))
    return first - second


def _value_with_gradient_of(value, surrogate):
    """Returns ``value`` in the forward pass and the gradient of ``surrogate``.

    stop_gradient(value) + (surrogate - stop_gradient(surrogate)): the bracket is
    exactly 0 in floating point, so the value is ``value`` to the last bit (the form
    surrogate + stop_gradient(value - surrogate) rounds twice).
    """
    return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))


def js(scores):
    """JS-trained estimator (Poole et al. 2019, Sec. 2.3; Hjelm et al. 2019).

    The critic is trained by the f-GAN Jensen-Shannon objective
    E_p[-softplus(-f)] - E_p(x)p(y)[softplus(f)], whose optimum is
    f* = log p(x, y) / (p(x) p(y)); the returned value is the NWJ bound at f + 1,
    which is tight at that optimum. Value: I_NWJ(f + 1); gradient: that of I_JS.
    """
    scores = _check_scores(scores, "js")
    return _value_with_gradient_of(nwj(scores + 1.0), _js_fgan(scores))


def smile(scores, clip=5.0):
    """SMILE (Song & Ermon 2020): DV with a clipped partition, JS gradients.

    I_SMILE = E_p(x,y)[f] - log E_p(x)p(y)[e^{clip(f, -tau, tau)}], tau = ``clip``
    (``None`` for no clipping, which reduces the value to DV). The value is returned
    with the gradient of the JS objective, as in the reference implementation.
    """
    scores = _check_scores(scores, "smile")
    if clip is not None:
        if clip <= 0:
            raise ValueError(f"smile: clip must be positive or None, got {clip}.")
        clipped = tf.clip_by_value(scores, -clip, clip)
    else:
        clipped = scores
    value = tf.reduce_mean(tf.linalg.diag_part(scores)) - log_mean_exp_off_diagonal(clipped)
    return _value_with_gradient_of(value, _js_fgan(scores))


def _log_leave_one_out_mean(scores):
    """log( 1/(B-1) sum_{k != j} e^{scores[i, k]} ) for every row i and left-out j: [B, B].

    Subtracting the left-out term from the full sum cancels catastrophically when that
    term dominates its row, which only the row maximum can do: its sum is taken over
    the masked row instead. Every other entry has e^{s_ij - lse_i} <= 1/2, so
    log1p(-e^{s_ij - lse_i}) is well conditioned.
    """
    neg_inf = tf.cast(-math.inf, scores.dtype)
    lse = tf.reduce_logsumexp(scores, axis=1, keepdims=True)
    is_max = tf.cast(tf.one_hot(tf.argmax(scores, axis=1), tf.shape(scores)[1]), tf.bool)
    lse_without_max = tf.reduce_logsumexp(
        tf.where(is_max, neg_inf, scores), axis=1, keepdims=True
    )
    # A finite dummy on the max entries: a -inf in the unused branch of tf.where would
    # still turn the gradient into NaN.
    ratio = tf.where(is_max, tf.cast(-1.0, scores.dtype), scores - lse)
    log_rest = tf.where(is_max, lse_without_max, lse + tf.math.log1p(-tf.exp(ratio)))
    return log_rest - tf.math.log(_batch_size(scores) - 1.0)


def interpolated(scores, log_baseline, alpha):
    """Interpolated bound I_alpha between NWJ-style and InfoNCE (Poole et al. Eq. 13).

    The baseline of TUBA for row i with y_j left out is
    a_i(-j) = alpha m_i(-j) + (1 - alpha) q(x_i), with m_i(-j) = 1/(B-1) sum_{k != j}
    e^{f(x_i, y_k)} and q = exp(log_baseline) a learned baseline (scalar or [B]).
    As in Poole et al.'s reference code, the positive is scored against the baselines
    that contain it (leave out each negative in turn) and a negative against the mean
    over the negatives of its row:

    I_alpha = 1 + 1/(B(B-1)) sum_{i != j} [f(x_i, y_i) - log a_i(-j)]
                - 1/(B(B-1)) sum_{i != j} e^{f(x_i, y_j)} / a_i(-i).

    alpha = 0 recovers TUBA. alpha = 1 gives a leave-one-out InfoNCE whose marginal
    term is exactly 1: upper limit log(B - 1). For 0 < alpha < 1 each positive term is
    at most log((B - 1) / alpha), so I_alpha <= 1 + log((B - 1) / alpha).
    """
    scores = _check_scores(scores, "interpolated")
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"interpolated: alpha must lie in [0, 1], got {alpha}.")
    log_baseline = tf.cast(tf.convert_to_tensor(log_baseline), scores.dtype)
    if log_baseline.shape.rank == 0:
        log_baseline = tf.fill(tf.shape(scores)[:1], log_baseline)
    elif log_baseline.shape.rank != 1 or (
        log_baseline.shape[0] is not None
        and scores.shape[0] is not None
        and log_baseline.shape[0] != scores.shape[0]
    ):
        raise ValueError(
            f"interpolated: log_baseline must be a scalar or a [B] vector with B = "
            f"{scores.shape[0]}, got shape {log_baseline.shape}."
        )
    # log a_i(-j) = log(alpha * m_i(-j) + (1 - alpha) * q_i); alpha in {0, 1} gives
    # -inf weights.
    log_q = tf.broadcast_to(log_baseline[:, None], tf.shape(scores))
    log_a = tf.reduce_logsumexp(
        tf.stack(
            [
                _log_leave_one_out_mean(scores) + _safe_log(alpha),
                log_q + _safe_log(1.0 - alpha),
            ]
        ),
        axis=0,
    )
    batch = _batch_size(scores)
    critic_joint = tf.linalg.diag_part(scores)[:, None] - log_a
    joint = tf.reduce_sum(
        tf.where(_off_diagonal_mask(scores), critic_joint, tf.zeros_like(critic_joint))
    ) / (batch * (batch - 1.0))
    critic_marginal = scores - tf.linalg.diag_part(log_a)[:, None]
    marginal = tf.exp(log_mean_exp_off_diagonal(critic_marginal))
    return 1.0 + joint - marginal


def _safe_log(p):
    return math.log(p) if p > 0 else -math.inf


def mine(scores, log_moving_average):
    """MINE (Belghazi et al. 2018): DV value with a bias-corrected gradient.

    Value: I_DV = E_p[f] - log E_pxpy[e^f], exactly. The gradient of the log-partition,
    E[grad e^f] / E[e^f], uses a moving average A of E[e^f] in the denominator instead
    of the mini-batch mean, which removes most of its bias: the gradient is that of
    E_p[f] - E_pxpy[e^f] / A. ``log_moving_average`` is log A, a scalar (see
    ``MineMovingAverage``). Everything stays in log space: the surrogate is
    -(Z / A) (log Z - stop_gradient(log Z)) with Z the mini-batch partition, whose
    gradient is -grad Z / A and whose value is 0, so no e^f is ever formed.
    """
    scores = _check_scores(scores, "mine")
    joint = tf.reduce_mean(tf.linalg.diag_part(scores))
    log_partition = log_mean_exp_off_diagonal(scores)
    log_moving_average = tf.stop_gradient(tf.cast(log_moving_average, scores.dtype))
    ratio = tf.stop_gradient(tf.exp(log_partition - log_moving_average))
    surrogate = joint - ratio * (log_partition - tf.stop_gradient(log_partition))
    return _value_with_gradient_of(joint - log_partition, surrogate)


class MineMovingAverage(keras.layers.Layer):
    """The stateful part of MINE: an exponential moving average of E_p(x)p(y)[e^f],
    kept as its logarithm so that it cannot overflow.

    log A <- log(momentum A + (1 - momentum) Z), computed by logsumexp; it starts from
    the first batch's log Z. ``mine_bound = MineMovingAverage(momentum=0.99)``;
    ``estimate = mine_bound(scores)`` returns the MINE estimate (see ``mine``) and
    updates the average. Since A >= (1 - momentum) Z after the update, the gradient's
    scale Z / A is at most 1 / (1 - momentum). A Keras layer, so the average is saved
    in checkpoints.
    """

    def __init__(self, momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"MineMovingAverage: momentum must lie in [0, 1), got {momentum}.")
        self.momentum = momentum
        self.log_average = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(-math.inf),
            trainable=False,
            name="log_average",
            aggregation="only_first_replica",
        )

    def call(self, scores):
        scores = _check_scores(scores, "mine")
        log_partition = tf.stop_gradient(log_mean_exp_off_diagonal(scores))
        previous = tf.cast(tf.convert_to_tensor(self.log_average), scores.dtype)
        blended = tf.reduce_logsumexp(
            tf.stack([previous + _safe_log(self.momentum), log_partition + _safe_log(1.0 - self.momentum)])
        )
        updated = tf.where(tf.math.is_finite(previous), blended, log_partition)
        self.log_average.assign(tf.cast(updated, self.log_average.dtype))
        return mine(scores, updated)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


# The names models, configs and estimate_mi accept (tfmi.models.Bound dispatches them).
UNCONDITIONAL_BOUNDS = ("infonce", "nwj", "tuba", "dv", "js", "smile", "interpolated", "mine")


# --- Metric-learning losses (Tschannen et al. 2020, Sec. 4 and App. C) -----------------
#
# Losses to minimise on the same [B, B] score matrix, read as similarities: anchor x_i,
# positive y_i, negatives y_j (j != i). They are not bounds on MI; tfmi.models.Bound
# trains them under the names of METRIC_LOSSES (its value is then -loss).


def kpair_loss(scores):
    """Multi-class K-pair loss (Sohn 2016, Eq. 7; Tschannen et al. 2020, Eq. 5), K = B.

    L = 1/K sum_i log( 1 + sum_{j != i} e^{f(x_i, y_j) - f(x_i, y_i)} )   (>= 0).

    Tschannen et al. (App. C) show that it is InfoNCE up to a constant and a sign:

        I_NCE = log K - L,

    so maximising I_NCE with a symmetric separable critic f(x, y) = phi(x)^T phi(y) and
    one encoder shared by both views is metric learning with this loss. For K = 2 it is
    the soft-margin triplet loss log(1 + e^{f(x, y_neg) - f(x, y_pos)}).
    """
    scores = _check_scores(scores, "kpair_loss")
    diag = tf.linalg.diag_part(scores)
    differences = scores - diag[:, None]
    masked = tf.where(
        _off_diagonal_mask(scores), differences, tf.cast(-math.inf, scores.dtype)
    )
    # log(1 + sum_j e^{d_ij}) = softplus(logsumexp_j d_ij): stable for any score range.
    return tf.reduce_mean(tf.nn.softplus(tf.reduce_logsumexp(masked, axis=1)))


def triplet_loss(scores, margin=1.0):
    """Triplet (hinge) loss over all in-batch triplets (x_i, y_i, y_j), j != i.

    L = 1/(K (K - 1)) sum_{i != j} max(0, margin - f(x_i, y_i) + f(x_i, y_j))   (>= 0).

    With f(x, y) = -||g(x) - g(y)||^2 this is the triplet loss of Schroff et al. (2015)
    over every negative of the batch; the K-pair loss (``kpair_loss``) replaces the sum
    of hinges of a row by log(1 + sum_j e^{f_ij - f_ii}), its smooth K-way version.
    L = 0 once every positive outscores every negative of its row by ``margin``.
    """
    scores = _check_scores(scores, "triplet_loss")
    if not margin >= 0:
        raise ValueError(f"triplet_loss: margin must be >= 0, got {margin}.")
    diag = tf.linalg.diag_part(scores)
    hinge = tf.nn.relu(tf.cast(margin, scores.dtype) - diag[:, None] + scores)
    batch = _batch_size(scores)
    off_diagonal = tf.where(_off_diagonal_mask(scores), hinge, tf.zeros_like(hinge))
    return tf.reduce_sum(off_diagonal) / (batch * (batch - 1.0))


# The losses tfmi.models.Bound also trains (maximising -loss): not MI estimates.
METRIC_LOSSES = ("kpair", "triplet")


# --- Conditional bounds of DEMI (Sordoni et al. 2021) ----------------------------------
#
# They take the critic's score of the positive y_1 for each row, ``positive`` [B], and
# its scores of the row's own negatives y_2..y_K, ``negatives`` [B, K - 1]: K candidates
# per row as in the paper's notation. ``split_scores`` turns a [B, B] matrix with
# in-batch negatives into this form.


def split_scores(scores):
    """[B, B] scores with positives on the diagonal -> (positive [B], negatives [B, B-1]).

    Row i of ``negatives`` holds scores[i, j] for j != i, in column order.
    """
    scores = _check_scores(scores, "split_scores")
    batch = tf.shape(scores)[0]
    positive = tf.linalg.diag_part(scores)
    negatives = tf.reshape(tf.boolean_mask(scores, _off_diagonal_mask(scores)), [batch, batch - 1])
    return positive, negatives


def _check_candidates(positive, negatives, name):
    positive = tf.convert_to_tensor(positive)
    if not positive.dtype.is_floating:
        positive = tf.cast(positive, tf.float32)
    negatives = tf.cast(tf.convert_to_tensor(negatives), positive.dtype)
    if positive.shape.rank is not None and positive.shape.rank != 1:
        raise ValueError(f"{name}: positive must be the [B] scores of the positives, got shape {positive.shape}.")
    if negatives.shape.rank is not None and negatives.shape.rank != 2:
        raise ValueError(
            f"{name}: negatives must be [B, K - 1] scores of each row's negatives, got shape {negatives.shape}."
        )
    rows, neg_rows = positive.shape[0], negatives.shape[0]
    if rows is not None and neg_rows is not None and rows != neg_rows:
        raise ValueError(
            f"{name}: positive has {rows} rows but negatives has {neg_rows}; they must pair up."
        )
    if negatives.shape[1] == 0:
        raise ValueError(f"{name}: needs at least one negative per row.")
    return positive, negatives


def _num_candidates(negatives):
    return tf.cast(tf.shape(negatives)[1] + 1, negatives.dtype)


def cnce(positive, negatives):
    """Conditional InfoNCE I_CNCE (Sordoni et al. 2021, Eq. 6, Proposition 1).

    I_CNCE(x; y | x') = E[ log e^{phi(x', x, y_1)} / (1/K sum_{k=1}^K e^{phi(x', x, y_k)}) ]

    with the negatives y_{2:K} drawn from p(y | x'). ``positive`` [B] holds
    phi(x', x, y_1), ``negatives`` [B, K - 1] the scores of y_{2:K}. Lower bound on
    I(x; y | x'); upper limit log K; optimal critic log p(y|x', x) / p(y|x') + c(x, x').
    """
    positive, negatives = _check_candidates(positive, negatives, "cnce")
    candidates = tf.concat([positive[:, None], negatives], axis=1)
    return tf.reduce_mean(positive - tf.reduce_logsumexp(candidates, axis=1)) + tf.math.log(
        _num_candidates(negatives)
    )


def var(positive, negatives, kl):
    """Variational I_CNCE, I_VAR (Sordoni et al. 2021, Eq. 7, Proposition 2).

    I_VAR = E[ log e^{phi_1} / (1/K sum_k e^{phi_k}) ] - E_{p(x')}[ KL(p(y|x') || q(y|x')) ]

    with the negatives y_{2:K} drawn from a learned q(y | x') instead of p(y | x').
    ``kl`` is an estimate of the KL term, a scalar or one value per row; since
    KL = E_p(y|x')[log p(y|x')] - E_p(y|x')[log q(y|x')], q is trained by maximum
    likelihood on the observed (x', y) pairs (the paper detaches the contrastive term
    from q). Lower bound on I(x; y | x'); equals I_CNCE when q = p.
    """
    positive, negatives = _check_candidates(positive, negatives, "var")
    kl = tf.cast(tf.convert_to_tensor(kl), positive.dtype)
    # A [B, K - 1] (per-negative) or wrong-length kl would otherwise be averaged silently.
    rows, kl_rows = positive.shape[0], (kl.shape[0] if kl.shape.rank == 1 else None)
    if (kl.shape.rank is not None and kl.shape.rank > 1) or (
        None not in (rows, kl_rows) and rows != kl_rows
    ):
        raise ValueError(
            f"var: kl must be a scalar or one value per row [{positive.shape[0]}], got shape {kl.shape}."
        )
    return cnce(positive, negatives) - tf.reduce_mean(kl)


def importance_sampled(positive, negatives, log_weights):
    """Importance-sampled I_CNCE, I_IS (Sordoni et al. 2021, Eq. 9, Proposition 3).

    I_IS = E[ log e^{phi_1} / (1/K (e^{phi_1} + (K - 1) sum_{k=2}^K w_k e^{phi_k})) ]

    with negatives y_{2:K} from the marginal p(y) and self-normalised weights
    w_k = e^{psi*(x', y_k)} / sum_m e^{psi*(x', y_m)}, where psi* is the (optimal)
    unconditional critic of I_NCE(x'; y): ``log_weights`` [B, K - 1] holds
    psi*(x', y_k) (any per-row shift cancels). Converges to I(x; y | x') as K grows;
    for finite K it is an approximation, not a bound; at most log K.
    """
    positive, negatives = _check_candidates(positive, negatives, "importance_sampled")
    log_weights = tf.cast(tf.convert_to_tensor(log_weights), positive.dtype)
    if log_weights.shape.rank is not None and log_weights.shape != negatives.shape:
        if None not in log_weights.shape and None not in negatives.shape:
            raise ValueError(
                f"importance_sampled: log_weights must match negatives {negatives.shape}, "
                f"got {log_weights.shape}."
            )
    num_negatives = _num_candidates(negatives) - 1.0
    weighted = tf.nn.log_softmax(log_weights, axis=1) + negatives + tf.math.log(num_negatives)
    candidates = tf.concat([positive[:, None], weighted], axis=1)
    return tf.reduce_mean(positive - tf.reduce_logsumexp(candidates, axis=1)) + tf.math.log(
        _num_candidates(negatives)
    )


def boosted(positive, negatives, base_positive, base_negatives):
    """Boosted-critic estimator I_BO (Sordoni et al. 2021, Eq. 10, Proposition 4).

    I_BO = E[ log e^{psi*(x', y_1) + phi(x', x, y_1)} / (1/K sum_k e^{psi*(x', y_k) + phi(x', x, y_k)}) ]

    with negatives from the marginal p(y). ``positive``/``negatives`` are the scores of
    the conditional critic phi, ``base_positive``/``base_negatives`` those of the
    unconditional critic psi* of I_NCE(x'; y); pass them through ``tf.stop_gradient``
    to train phi alone, as the paper's Listing 1 does. I_BO is a lower bound on the
    total I(x, x'; y) (not on the conditional MI), at most log K, and its optimal phi is
    the conditional log-ratio log p(y|x', x) / p(y|x') + c(x, x') for any K.
    """
    positive, negatives = _check_candidates(positive, negatives, "boosted")
    base_positive, base_negatives = _check_candidates(base_positive, base_negatives, "boosted")
    # The sums below would broadcast a [1] or [B, 1] base silently into a wrong value.
    for name, a, b in (("positive", positive, base_positive), ("negatives", negatives, base_negatives)):
        if a.shape.is_fully_defined() and b.shape.is_fully_defined() and a.shape != b.shape:
            raise ValueError(
                f"boosted: base_{name} must have the shape of {name} {a.shape} (psi* scored on "
                f"the same candidates as phi), got {b.shape}."
            )
    return cnce(positive + base_positive, negatives + base_negatives)


def demi(unconditional_scores, conditional_positive, conditional_negatives):
    """DEMI = I_NCE(x'; y) + I_CNCE(x; y | x') (Sordoni et al. 2021, Eq. 5).

    ``unconditional_scores`` [B, B]: psi(x'_i, y_j) with in-batch negatives from p(y);
    ``conditional_positive`` [B] and ``conditional_negatives`` [B, K - 1]: phi scores of
    the positive and of negatives from p(y | x'). With B = K candidates in each term
    the sum is at most 2 log K, against log(2K) for InfoNCE with the same 2K candidates.
    """
    # Checked here so that bad input names demi, the function the caller used.
    unconditional_scores = _check_scores(unconditional_scores, "demi")
    _check_candidates(conditional_positive, conditional_negatives, "demi")
    return infonce(unconditional_scores) + cnce(conditional_positive, conditional_negatives)


CONDITIONAL_BOUNDS = ("cnce", "var", "importance_sampled", "boosted")


def contrastive_cross_entropy(scores, labels=None):
    """mean_i -log softmax(scores_i)[labels_i] of a [B, C] matrix of B anchors scored
    against C candidates (labels None: the positive in column 0, the MoCo layout).

    The InfoNCE loss in nats on any candidate layout: I_NCE = log C - this value.
    """
    scores = tf.cast(tf.convert_to_tensor(scores), tf.float32)
    if labels is None:
        labels = tf.zeros([tf.shape(scores)[0]], tf.int32)
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=scores)
    )


def demi_listing1_loss(s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y, labels=None):
    """The four-term DEMI loss of Sordoni et al. (2021), Listing 1, on score matrices.

    Each argument is a [B, C] matrix of scores of B anchors against C candidates y_c
    (the positive of row i in column ``labels[i]``; ``labels`` None = column 0, the
    MoCo layout of Listing 1 where column 0 is k_y and the rest the memory queue):

        s_x_y      psi(x, y)     NCE head on the view x        (q_x  . k_y)
        s_xp_y     psi(x', y)    NCE head on the subview x'    (q_xp . k_y)
        s_bo_x_y   phi(x, y)     BO head on x                  (q_bo_x  . k_y)
        s_bo_xp_y  phi(x', y)    BO head on x'                 (q_bo_xp . k_y)

    With CE(s) = mean_i -log_softmax(s_i)[labels_i] (a cross-entropy in nats):

        nce_x_y  = CE(s_x_y)                         -> I_NCE(x; y)   = log C - nce_x_y
        nce_xp_y = CE(s_xp_y)                        -> I_NCE(x'; y)  = log C - nce_xp_y
        bo_x_xp  = CE(stop_gradient(s_xp_y) + s_bo_x_y)   -> I_BO(x; y | x')
        bo_xp_x  = CE(stop_gradient(s_x_y) + s_bo_xp_y)   -> I_BO(x'; y | x)
        loss     = nce_x_y + nce_xp_y + bo_x_xp + bo_xp_x

    i.e. maximising both decompositions I(x'; y) + I(x; y | x') and
    I(x; y) + I(x'; y | x) of I(x, x'; y). The BO terms reuse the unconditional logits
    detached (Eq. 10: psi* is fixed while phi learns the residual). Masked candidates
    (e.g. an anchor's own view among in-batch candidates) may hold a large negative
    score (-1e9); they then drop out of every softmax. Returns a dict of scalar float32
    tensors: "loss" and the four terms (losses to minimise, each >= 0).
    """
    names = ("s_x_y", "s_xp_y", "s_bo_x_y", "s_bo_xp_y")
    scores = [tf.cast(tf.convert_to_tensor(s), tf.float32) for s in (s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y)]
    for name, s in zip(names, scores):
        if s.shape.rank is not None and s.shape.rank != 2:
            raise ValueError(
                f"demi_listing1_loss: {name} must be a [B, C] matrix of anchors x candidates, got shape {s.shape}."
            )
    for name, s in zip(names[1:], scores[1:]):
        if s.shape.is_fully_defined() and scores[0].shape.is_fully_defined() and s.shape != scores[0].shape:
            raise ValueError(
                f"demi_listing1_loss: {name} has shape {s.shape} but s_x_y has {scores[0].shape}; all four "
                "must score the same anchors against the same candidates."
            )
    s_x_y, s_xp_y, s_bo_x_y, s_bo_xp_y = scores

    def cross_entropy(logits):
        return contrastive_cross_entropy(logits, labels)

    terms = {
        "nce_x_y": cross_entropy(s_x_y),
        "nce_xp_y": cross_entropy(s_xp_y),
        "bo_x_xp": cross_entropy(tf.stop_gradient(s_xp_y) + s_bo_x_y),
        "bo_xp_x": cross_entropy(tf.stop_gradient(s_x_y) + s_bo_xp_y),
    }
    return {"loss": tf.add_n(list(terms.values())), **terms}
