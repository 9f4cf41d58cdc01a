"""Conditioning of an encoder's Jacobian (Tschannen et al. 2020, Sec. 3.1, Figures 2c, 5).

For an encoder g: R^n -> R^m and an input x, the Jacobian J(x) = dg/dx is an m x n
matrix with singular values sigma_1 >= ... >= sigma_k >= 0, k = min(m, n). Its
condition number is

    kappa(x) = sigma_1(J(x)) / sigma_k(J(x))   (>= 1; infinite where J(x) is singular),

"the ratio between the largest and the smallest singular value" (Sec. 3.1). A large
kappa means g is locally hard to invert. The paper draws 128 random inputs, computes
kappa at each, pools the values of all runs, and plots the 0th, 20th, ..., 100th
percentiles over training; the authors' notebook plots log(sigma_1 / sigma_392) and reads
percentile p off the sorted values at index int(p / 100 * (N - 1)), which is NumPy's
``method="lower"``. ``condition_percentiles`` returns exactly these numbers.
"""

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "PAPER_PERCENTILES",
    "encoder_jacobian",
    "jacobian_singular_values",
    "jacobian_condition_numbers",
    "condition_percentiles",
]

# The lines of Figures 2c and 5: 0th, 20th, ..., 100th percentiles.
PAPER_PERCENTILES = (0, 20, 40, 60, 80, 100)


def _apply(encoder, x):
    if isinstance(encoder, keras.layers.Layer):
        return encoder(x, training=False)
    return encoder(x)


def _as_batch(x):
    if not isinstance(x, tf.Tensor):
        x = tf.convert_to_tensor(np.asarray(x, dtype=np.float32))
    elif not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    if x.shape.rank != 2:
        raise ValueError(
            f"Jacobian: x must be a [batch, features] matrix of inputs, got shape {x.shape}."
        )
    return x


def _jacobian(encoder, x, use_pfor):
    # The while-loop fallback differentiates once per output, so needs a persistent tape.
    with tf.GradientTape(persistent=not use_pfor) as tape:
        tape.watch(x)
        y = _apply(encoder, x)
    if y.shape.rank != 2:
        raise ValueError(
            f"Jacobian: the encoder must map [batch, features] to [batch, features], got "
            f"output shape {y.shape} for input shape {x.shape}."
        )
    if y.shape[0] is not None and x.shape[0] is not None and y.shape[0] != x.shape[0]:
        raise ValueError(
            f"Jacobian: the encoder changed the batch size from {x.shape[0]} to {y.shape[0]}."
        )
    jacobian = tape.batch_jacobian(y, x, experimental_use_pfor=use_pfor)
    if jacobian is None:
        raise ValueError("Jacobian: the encoder's output does not depend on its input.")
    return jacobian


def encoder_jacobian(encoder, x, batch_size=None, use_pfor=True):
    """J[i] = d encoder(x)[i] / d x[i]: shape [B, output_dim, input_dim].

    Args:
      encoder: a Keras layer/model (called with ``training=False``) or any callable
        mapping [B, n] to [B, m] row by row (no batch statistics: row i of the output
        must depend on row i of the input only, as ``batch_jacobian`` assumes).
      x: inputs, [B, n].
      batch_size: examples per ``batch_jacobian`` call (all at once when None); bounds
        the memory of the [batch_size, m, n] intermediate.
      use_pfor: vectorise with pfor (fast); False falls back to a while loop.
    """
    x = _as_batch(x)
    if batch_size is None or batch_size >= (x.shape[0] or 0):
        return _jacobian(encoder, x, use_pfor)
    if batch_size < 1:
        raise ValueError(f"Jacobian: batch_size must be positive, got {batch_size}.")
    chunks = [
        _jacobian(encoder, x[start:start + batch_size], use_pfor)
        for start in range(0, x.shape[0], batch_size)
    ]
    return tf.concat(chunks, axis=0)


def jacobian_singular_values(encoder, x, batch_size=None, use_pfor=True):
    """Singular values of each J(x_i), largest first: float64, [B, min(m, n)].

    The SVD runs in float64, so that condition numbers up to ~1e7 of float32 Jacobians
    are not limited by the SVD's own rounding.
    """
    jacobian = encoder_jacobian(encoder, x, batch_size=batch_size, use_pfor=use_pfor)
    return tf.linalg.svd(tf.cast(jacobian, tf.float64), compute_uv=False)


def jacobian_condition_numbers(encoder, x, batch_size=None, use_pfor=True):
    """kappa(x_i) = sigma_max / sigma_min of the encoder's Jacobian at each x_i: [B].

    float64; +inf where the Jacobian is singular. For a non-square Jacobian
    (m != n) sigma_min is the smallest of its min(m, n) singular values. See
    ``encoder_jacobian`` for the arguments.
    """
    singular_values = jacobian_singular_values(encoder, x, batch_size=batch_size, use_pfor=use_pfor)
    return singular_values[:, 0] / singular_values[:, -1]


def condition_percentiles(condition_numbers, percentiles=PAPER_PERCENTILES, log=True, method="lower"):
    """Percentiles of condition numbers, as Figures 2c and 5 plot them.

    Args:
      condition_numbers: array [..., N]: N condition numbers (e.g. 128 inputs, the runs
        concatenated) per leading index (e.g. per evaluation step).
      percentiles: which percentiles, in [0, 100]; the paper's 0, 20, ..., 100.
      log: take the natural log first (the paper plots log(sigma_1 / sigma_392)).
      method: NumPy percentile method; "lower" (the sorted value at index
        floor(p / 100 * (N - 1))) is what the authors' notebook computes.

    Returns:
      float64 NumPy array [..., len(percentiles)].
    """
    values = np.asarray(condition_numbers, dtype=np.float64)
    if values.ndim == 0 or values.shape[-1] == 0:
        raise ValueError(
            f"condition_percentiles: needs an array [..., N] with N >= 1 condition numbers, "
            f"got shape {values.shape}."
        )
    if np.isnan(values).any():
        raise ValueError(
            "condition_percentiles: NaN condition numbers; the Jacobian had NaN entries "
            "(check the encoder's output at these inputs)."
        )
    if (values < 1.0 - 1e-6).any():
        raise ValueError(
            f"condition_percentiles: condition numbers are >= 1 by definition, got "
            f"{values.min()}; pass sigma_max / sigma_min, not its log or its inverse."
        )
    percentiles = np.asarray(percentiles, dtype=np.float64)
    if percentiles.ndim != 1 or ((percentiles < 0) | (percentiles > 100)).any():
        raise ValueError(
            f"condition_percentiles: percentiles must be a list of values in [0, 100], "
            f"got {percentiles.tolist()}."
        )
    if log:
        values = np.log(values)
    result = np.percentile(values, percentiles, axis=-1, method=method)
    return np.moveaxis(result, 0, -1)
