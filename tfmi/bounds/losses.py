"""Training losses on critic scores that are not MI bounds: the metric-learning losses
that Tschannen et al. (2020) relate to InfoNCE, and the contrastive cross-entropies of
SimCLR / MoCo / DEMI's Listing 1. Re-exported by ``tfmi.bounds``."""

import math

import tensorflow as tf

from tfmi.bounds.classic import _batch_size, _check_scores, _off_diagonal_mask


# --- Metric-learning losses (Tschannen et al. 2020, Sec. 4 and App. C) -----------------
#
# Losses to minimise on the same [B, B] score matrix, read as similarities: anchor x_i,
# positive y_i, negatives y_j (j != i). They are not bounds on MI; tfmi.bounds.RECORDS
# holds them as objectives (-loss) of the kind "metric loss" (METRIC_LOSSES).


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
