"""Unconditional variational lower bounds on MI, as pure functions of a [B, B] score
matrix ``scores[i, j] = f(x_i, y_j)`` (positives on the diagonal), and MINE's moving
average. Re-exported by ``tfmi.bounds``, whose docstring gives the conventions.
"""

import math

import keras
import tensorflow as tf


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


def interpolated(scores, log_baseline, alpha=0.5):
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
        return mine(scores, self.update(scores))

    def update(self, scores):
        """Blends this batch's partition into the average; returns the new log A."""
        scores = _check_scores(scores, "mine")
        log_partition = tf.stop_gradient(log_mean_exp_off_diagonal(scores))
        previous = tf.cast(tf.convert_to_tensor(self.log_average), scores.dtype)
        blended = tf.reduce_logsumexp(
            tf.stack([previous + _safe_log(self.momentum), log_partition + _safe_log(1.0 - self.momentum)])
        )
        updated = tf.where(tf.math.is_finite(previous), blended, log_partition)
        self.log_average.assign(tf.cast(updated, self.log_average.dtype))
        return updated

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}
