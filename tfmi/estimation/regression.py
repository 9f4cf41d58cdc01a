"""Two neural conditional Gaussians, q(x | y, z) and q(x | z), as a CMI estimator:

    I(x; y | z) = E log p(x | y, z) - E log p(x | z),

read as the held-out mean of log q(x | y, z) - log q(x | z). Each q is a Gaussian whose
mean and precision Cholesky factor L (positive diagonal) are outputs of an MLP of the
conditioning values:

    log q(x | c) = sum_i log L_ii(c) - 1/2 |L(c)^T (x - m(c))|^2 - d_x/2 log(2 pi).

Exact for x that depends on (y, z) through any smooth map plus Gaussian noise whose
covariance may vary with them (additive and heteroscedastic noise), where the mixture
needs many components and the copula sees a nonlinear dependence. Each network is
fitted by maximum likelihood on the train rows, scored on validation every
``EVAL_EVERY`` steps and kept at its best step (``EarlyStopping``); the test rows are
never seen here.
"""

import keras
import numpy as np
import tensorflow as tf

from tfmi.estimation.fit_loop import EachStopping, EarlyStopping, fit_loop

__all__ = ["ConditionalGaussians", "fit_conditional_gaussians"]

HIDDEN_UNITS = (64, 64)
LEARNING_RATE = 3e-3
BATCH_SIZE = 256
MAX_STEPS = 3000
EVAL_EVERY = 100
PATIENCE = 5


def _network(conditions, dim_x, seed):
    """An MLP of ``conditions`` columns to the mean (d_x) and the Cholesky entries
    (d_x (d_x + 1) / 2) of one conditional Gaussian."""
    layers = [keras.Input((conditions,))]
    for index, units in enumerate(HIDDEN_UNITS):
        layers.append(keras.layers.Dense(units, activation="gelu",
                                         kernel_initializer=keras.initializers.GlorotUniform(seed + index),
                                         dtype="float32"))
    layers.append(keras.layers.Dense(dim_x + dim_x * (dim_x + 1) // 2, kernel_initializer="zeros", dtype="float32"))
    network = keras.Sequential(layers)
    network.dtype_policy = "float32"  # whatever the caller's global policy
    return network


def _log_density(network, x, conditions):
    """[n] log q(x | conditions) of one network (module docstring)."""
    dim_x = x.shape[1]
    out = network(conditions)
    mean, entries = out[:, :dim_x], out[:, dim_x:]
    lower = _fill_lower(entries, dim_x)
    diagonal = tf.nn.softplus(tf.linalg.diag_part(lower)) + 1e-3
    cholesky = tf.linalg.set_diag(lower, diagonal)
    whitened = tf.linalg.matvec(cholesky, x - mean, transpose_a=True)
    return (tf.reduce_sum(tf.math.log(diagonal), axis=1) - 0.5 * tf.reduce_sum(whitened**2, axis=1)
            - 0.5 * dim_x * np.log(2 * np.pi))


def _fill_lower(entries, dim):
    """[n, dim, dim] lower-triangular matrices filled row by row from ``entries``
    [n, dim (dim + 1) / 2] (zeros above the diagonal)."""
    rows, columns = np.tril_indices(dim)
    index = np.zeros((dim, dim), dtype=np.int64)
    index[rows, columns] = np.arange(len(rows)) + 1  # 0 picks the zero column
    padded = tf.concat([tf.zeros_like(entries[:, :1]), entries], axis=1)
    return tf.reshape(tf.gather(padded, index.ravel(), axis=1), [-1, dim, dim])


class ConditionalGaussians:
    """The fitted pair q(x | y, z), q(x | z). ``pointwise(x, yz) -> [n]`` float32
    log q(x | y, z) - log q(x | z) with yz = [y, z] (the last ``dim_z`` columns are z);
    ``history``: {"step", "train_nll", "valid_nll"} per evaluation (the sum of both
    networks' mean negative log-likelihoods)."""

    def __init__(self, full, reduced, dim_z, history=()):
        self.full, self.reduced, self.dim_z = full, reduced, dim_z
        self.history = list(history)

    def _terms(self, x, yz):
        x = tf.constant(np.asarray(x, np.float32))
        yz = tf.constant(np.asarray(yz, np.float32))
        return _log_density(self.full, x, yz), _log_density(self.reduced, x, yz[:, yz.shape[1] - self.dim_z :])

    def pointwise(self, x, yz):
        full, reduced = [], []
        for start in range(0, len(x), 65536):
            a, b = self._terms(x[start : start + 65536], yz[start : start + 65536])
            full.append(a.numpy())
            reduced.append(b.numpy())
        return (np.concatenate(full) - np.concatenate(reduced)).astype(np.float32)


def fit_conditional_gaussians(x_train, yz_train, x_valid, yz_valid, dim_z, *, seed=0):
    """Fits q(x | y, z) and q(x | z) (each its own network and early stopping) on the
    train rows; returns a ``ConditionalGaussians``."""
    dim_x, dim_yz = x_train.shape[1], yz_train.shape[1]
    full, reduced = _network(dim_yz, dim_x, seed), _network(dim_z, dim_x, seed + 100)
    networks = (full, reduced)
    optimizers = [keras.optimizers.Adam(LEARNING_RATE) for _ in networks]
    for network, optimizer in zip(networks, optimizers):
        optimizer.build(network.trainable_variables)
    x_train, yz_train = tf.constant(x_train, tf.float32), tf.constant(yz_train, tf.float32)
    x_valid, yz_valid = tf.constant(x_valid, tf.float32), tf.constant(yz_valid, tf.float32)

    def losses(x, yz):
        return (-tf.reduce_mean(_log_density(full, x, yz)),
                -tf.reduce_mean(_log_density(reduced, x, yz[:, dim_yz - dim_z :])))

    @tf.function
    def steps(rows):
        for index in tf.range(tf.shape(rows)[0]):
            batch = rows[index]
            x, yz = tf.gather(x_train, batch), tf.gather(yz_train, batch)
            with tf.GradientTape(persistent=True) as tape:
                loss_full, loss_reduced = losses(x, yz)
            for network, optimizer, loss in zip(networks, optimizers, (loss_full, loss_reduced)):
                gradients = tape.gradient(loss, network.trainable_variables)
                optimizer.apply_gradients(zip(gradients, network.trainable_variables))
            del tape
        return losses(x_valid, yz_valid)

    rng = np.random.default_rng(seed)
    n, batch = int(x_train.shape[0]), min(BATCH_SIZE, int(x_train.shape[0]))
    stoppers = [EarlyStopping(PATIENCE, mode="min") for _ in networks]
    valid = []  # the validation losses of the last chunk: ``steps`` returns them

    def train_chunk(count):
        rows = np.stack([rng.choice(n, batch, replace=False) for _ in range(count)])
        valid[:] = [float(value) for value in steps(tf.constant(rows))]

    history = fit_loop(train_chunk, lambda: tuple(valid), EachStopping(stoppers, [net.get_weights for net in networks]),
                       None, max_steps=MAX_STEPS, eval_every=EVAL_EVERY)
    history = [{"step": step, "train_nll": None, "valid_nll": sum(values)} for step, _, values in history]
    for network, stopper in zip(networks, stoppers):
        if stopper.best_weights is not None:
            network.set_weights(stopper.best_weights)
    return ConditionalGaussians(full, reduced, dim_z, history)
