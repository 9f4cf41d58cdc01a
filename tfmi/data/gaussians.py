"""Correlated Gaussian tasks with exact mutual information.

The task of Poole et al. (2019), Sec. 4: x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) eps
with eps ~ N(0, I_d), so each of the d coordinate pairs has correlation rho and

    I(x; y) = -d/2 log(1 - rho^2)   nats,   rho = sqrt(1 - exp(-2 I / d)).

The "cubic" twin replaces y by y^3, an invertible map that leaves I(x; y) unchanged
but makes the log density ratio harder to fit. The staircase raises the true MI
through ``mi_values`` (2, 4, 6, 8, 10 nats), each held for ``steps_per_stage`` steps.

The non-i.i.d. task of Tschannen et al. (2020), Sec. 4 and App. E: scalar pairs
(X_i, Y_i) = Z + eps_i with eps_i ~ N(0, Sigma_eps) drawn for every example but
Z ~ N(0, Sigma_Z) drawn once per batch, so the pairs of a batch are identically
distributed, (X, Y) ~ N(0, Sigma_Z + Sigma_eps), but not independent. The true MI is
that of one pair (App. E):

    I(X; Y) = -1/2 log(1 - S_12 S_21 / (S_11 S_22)),   S = Sigma_Z + Sigma_eps,

0.0204 nats for the paper's Sigma_Z = [[1, -0.5], [-0.5, 1]], Sigma_eps = [[1, 0.9],
[0.9, 1]]. Within a batch the shared Z is fixed, and the pairs carry
I(X; Y | Z) = -1/2 log(1 - 0.9^2) = 0.830 nats about each other: a critic that scores
the in-batch negatives can exploit it and exceed the true MI.
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "rho_from_mi",
    "mi_from_rho",
    "sample_correlated_gaussian",
    "log_density_ratio",
    "staircase_mi",
    "staircase_dataset",
    "NONIID_SIGMA_Z",
    "NONIID_SIGMA_EPS",
    "gaussian_pair_mi",
    "shared_offset_mi",
    "shared_offset_dataset",
]

# Appendix E of Tschannen et al. (2020).
NONIID_SIGMA_Z = ((1.0, -0.5), (-0.5, 1.0))
NONIID_SIGMA_EPS = ((1.0, 0.9), (0.9, 1.0))


def rho_from_mi(mi, dim):
    """Per-coordinate correlation that gives ``mi`` nats over ``dim`` coordinates."""
    mi = np.asarray(mi, dtype=np.float64)
    if np.any(mi < 0):
        raise ValueError(f"mutual information must be >= 0 nats, got {mi}.")
    if dim < 1:
        raise ValueError(f"dim must be >= 1, got {dim}.")
    return np.sqrt(1.0 - np.exp(-2.0 * mi / dim))


def mi_from_rho(rho, dim):
    """I(x; y) = -dim/2 log(1 - rho^2) for ``dim`` independent pairs of correlation rho."""
    rho = np.asarray(rho, dtype=np.float64)
    if np.any(np.abs(rho) >= 1):
        raise ValueError(f"|rho| must be < 1, got {rho}.")
    return -0.5 * dim * np.log1p(-(rho**2))


def sample_correlated_gaussian(batch_size, dim, mi, cubic=False, seed=(0, 0)):
    """Draws ``batch_size`` pairs (x, y) with I(x; y) = ``mi`` nats; ``mi`` may be a tensor.

    ``seed`` is a stateless seed pair: the same seed gives the same samples.
    """
    if not tf.is_tensor(mi):
        rho_from_mi(mi, dim)  # a negative MI would give rho = NaN: refuse it here
    seed = tf.convert_to_tensor(seed, tf.int64)
    mi = tf.cast(mi, tf.float32)
    rho = tf.sqrt(1.0 - tf.exp(-2.0 * mi / dim))
    noise = tf.random.stateless_normal([2, batch_size, dim], seed=seed)
    x = noise[0]
    y = rho * x + tf.sqrt(1.0 - rho**2) * noise[1]
    if cubic:
        y = y**3
    return x, y


def log_density_ratio(x, y, rho, cubic=False):
    """The optimal critic log p(y_j | x_i) / p(y_j) for every pair: a [B, B] matrix.

    log p(y|x) - log p(y) = -d/2 log(1 - rho^2) - |y - rho x|^2 / (2 (1 - rho^2)) + |y|^2 / 2.
    For the cubic task the ratio is that of the Gaussian y = cbrt(y^3) (the Jacobian of
    the invertible map cancels).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y, tf.float32)
    if cubic:
        y = tf.sign(y) * tf.abs(y) ** (1.0 / 3.0)
    rho = tf.cast(rho, tf.float32)
    dim = tf.cast(tf.shape(x)[-1], tf.float32)
    var = 1.0 - rho**2
    sq_x = tf.reduce_sum(x**2, axis=-1)[:, None]
    sq_y = tf.reduce_sum(y**2, axis=-1)[None, :]
    cross = tf.matmul(x, y, transpose_b=True)
    sq_dist = sq_y - 2.0 * rho * cross + rho**2 * sq_x
    return -0.5 * dim * tf.math.log(var) - sq_dist / (2.0 * var) + 0.5 * sq_y


def staircase_mi(step, mi_values, steps_per_stage):
    """True MI (nats) at ``step`` of the staircase: mi_values[step // steps_per_stage]."""
    values = tf.constant(mi_values, tf.float32)
    stage = tf.minimum(tf.cast(step, tf.int64) // steps_per_stage, len(mi_values) - 1)
    return tf.gather(values, stage)


def staircase_dataset(
    batch_size,
    dim=20,
    mi_values=(2.0, 4.0, 6.0, 8.0, 10.0),
    steps_per_stage=4000,
    cubic=False,
    seed=0,
    start_step=0,
):
    """An endless dataset of batches {"x", "y", "true_mi"}, one per training step.

    Batch ``t`` is drawn with the stateless seed (seed, t), so a run resumed at
    ``start_step`` sees exactly the batches it would have seen without interruption.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for contrastive bounds, got {batch_size}.")
    if not mi_values:
        raise ValueError("mi_values must list at least one MI value.")
    rho_from_mi(list(mi_values), dim)  # validates values and dim

    def make_batch(step):
        mi = staircase_mi(step, mi_values, steps_per_stage)
        x, y = sample_correlated_gaussian(batch_size, dim, mi, cubic, seed=tf.stack([seed, step]))
        return {"x": x, "y": y, "true_mi": tf.fill([batch_size], mi)}

    return tf.data.Dataset.range(start_step, np.iinfo(np.int64).max).map(make_batch)


def _covariance_2x2(matrix, name):
    """A symmetric positive-definite 2 x 2 matrix as float64 NumPy (ValueError otherwise)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (2, 2) or not np.allclose(matrix, matrix.T):
        raise ValueError(f"{name} must be a symmetric 2 x 2 covariance matrix, got {matrix.tolist()}.")
    if np.linalg.eigvalsh(matrix).min() <= 0:
        raise ValueError(f"{name} must be positive definite, got {matrix.tolist()}.")
    return matrix


def gaussian_pair_mi(covariance):
    """I(X; Y) = -1/2 log(1 - S_12 S_21 / (S_11 S_22)) nats of (X, Y) ~ N(0, S), S 2 x 2."""
    s = _covariance_2x2(covariance, "covariance")
    return float(-0.5 * np.log1p(-s[0, 1] * s[1, 0] / (s[0, 0] * s[1, 1])))


def shared_offset_mi(sigma_z=NONIID_SIGMA_Z, sigma_eps=NONIID_SIGMA_EPS):
    """True I(X; Y) of one pair (X, Y) = Z + eps: that of N(0, Sigma_Z + Sigma_eps)."""
    return gaussian_pair_mi(
        _covariance_2x2(sigma_z, "sigma_z") + _covariance_2x2(sigma_eps, "sigma_eps")
    )


def shared_offset_dataset(
    batch_size,
    sigma_z=NONIID_SIGMA_Z,
    sigma_eps=NONIID_SIGMA_EPS,
    iid=False,
    seed=0,
    start_step=0,
):
    """An endless dataset of batches {"x": [B, 1], "y": [B, 1], "true_mi": [B]}.

    (x_i, y_i) = z + eps_i with eps_i ~ N(0, Sigma_eps) per example and z ~ N(0, Sigma_Z)
    once per batch (``iid=False``, the paper's non-i.i.d. batches) or once per example
    (``iid=True``, the i.i.d. baseline with the same distribution of each pair). Batch t
    is drawn with the stateless seed (seed, t): resuming at ``start_step`` continues the
    same stream.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 for contrastive bounds, got {batch_size}.")
    chol_z = tf.constant(np.linalg.cholesky(_covariance_2x2(sigma_z, "sigma_z")), tf.float32)
    chol_eps = tf.constant(np.linalg.cholesky(_covariance_2x2(sigma_eps, "sigma_eps")), tf.float32)
    true_mi = shared_offset_mi(sigma_z, sigma_eps)
    offsets = batch_size if iid else 1

    def make_batch(step):
        noise = tf.random.stateless_normal([offsets + batch_size, 2], seed=tf.stack([seed, step]))
        z = tf.matmul(noise[:offsets], chol_z, transpose_b=True)
        eps = tf.matmul(noise[offsets:], chol_eps, transpose_b=True)
        pairs = z + eps  # [1, 2] broadcasts over the batch when z is shared
        return {
            "x": pairs[:, :1],
            "y": pairs[:, 1:],
            "true_mi": tf.fill([batch_size], tf.constant(true_mi, tf.float32)),
        }

    return tf.data.Dataset.range(start_step, np.iinfo(np.int64).max).map(make_batch)
