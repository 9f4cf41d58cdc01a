"""The conditional bounds of DEMI (Sordoni et al. 2021): CNCE, VAR, IS, BO, and ``demi``
(InfoNCE plus a conditional term). Re-exported by ``tfmi.bounds``."""

import tensorflow as tf

from tfmi.bounds.classic import _check_scores, _off_diagonal_mask, infonce


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
