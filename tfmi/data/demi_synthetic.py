"""Three correlated Gaussians (x, x', y) with exact total and conditional MI (DEMI, Sec. 5.1).

The synthetic task of Sordoni et al. (2021), Sec. 5.1 and Appendix A.6. Each of the
``dim`` coordinates i carries an independent zero-mean Gaussian triple
(x_i, x'_i, y_i) ~ N(0, cov_i), with cov_i a 3x3 matrix in the variable order
(x, x', y) = indices (0, 1, 2). For one triple, with C = cov_i,

    I({x, x'}; y) = 1/2 (log det C[:2, :2] + log C[2, 2] - log det C),
    I(x'; y)      = 1/2 (log C[1, 1] + log C[2, 2] - log det C[1:, 1:]),
    I(x; y | x')  = I({x, x'}; y) - I(x'; y)            (chain rule, paper Eq. 3),
    I(x; y)       = 1/2 (log C[0, 0] + log C[2, 2] - log det C[[0, 2]][:, [0, 2]]),

and the coordinates being independent, every MI of the ``dim``-dimensional vectors is
the sum over coordinates. ``sample_cov`` (the paper's Listing 2) finds C with
I({x, x'}; y) = mi and I(x'; y) = alpha * mi by Nelder-Mead; ``make_task`` splits a
total MI over the coordinates; the task then samples (x, x', y), samples y from the
exact conditional p(y | x') (the negatives of I_CNCE, Eq. 6) and evaluates the exact
log density ratios, i.e. the optimal critics of I_NCE(x'; y), I_CNCE(x; y | x') and
I_NCE({x, x'}; y).

Two places where this module departs from a literal reading of Listing 2, both
checked by tests/test_demi_synthetic.py:

* ``residual`` in the listing unpacks ``analytical_mi``'s pair in the opposite order
  to the one it is returned in, which asks for I(x'; y) = mi > I({x, x'}; y) = alpha mi:
  infeasible, since I(x'; y) <= I({x, x'}; y). Minimising that residual lands on
  I(x; y | x') = 0 and I({x, x'}; y) = (1 + alpha) mi / 2. We implement the intent.
* ``project_posdef`` in the listing divides the lower-triangular factor L by its
  "column norm". Dividing each *column* of L by its norm caps I({x, x'}; y) at
  1/2 log 3 = 0.549 nats per coordinate (the residual variance of y given (x, x') is
  L[2, 2]^2 = 1 while C[2, 2] <= 3), so the paper's 20 nats over 20 coordinates would be
  out of reach. Dividing each *row* of L by its norm is the rescaling MI is invariant
  to: it turns L L^T into its correlation matrix D^-1/2 (L L^T) D^-1/2 and reaches any
  MI. Rows are the default; ``normalize="columns"`` keeps the literal version.

In the listing's appendix text alpha = I(x; y) / I({x, x'}; y), but its code computes
I(x'; y) from C[1:, 1:]; we follow the code: alpha is the fraction of the total MI
that the unconditional DEMI term I_NCE(x'; y) can see.
"""

import dataclasses
import functools
import math

import numpy as np
import scipy.optimize
import tensorflow as tf

__all__ = [
    "project_posdef",
    "analytical_mi",
    "residual",
    "sample_cov",
    "DemiGaussianTask",
    "make_task",
    "demi_dataset",
    "demi_gaussian_dataset",
]

_TRIL = np.tril_indices(3)
_INFEASIBLE = 1e30  # residual of parameters that give no positive-definite matrix
MAX_MI_COLUMN_NORMALIZED = 0.5 * math.log(3.0)


def _check_total_mi(total_mi, name="total_mi"):
    try:
        value = float(total_mi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of nats > 0, got {total_mi!r}.") from None
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number of nats > 0, got {total_mi!r}.")
    return value


def _check_alpha(alpha):
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}.") from None
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"alpha = I(x'; y) / I({{x, x'}}; y) must lie in (0, 1) (open), got {alpha!r}."
        )
    return value


def project_posdef(params, normalize="rows"):
    """Maps ``params`` in R^6 to a 3x3 positive semi-definite matrix (Listing 2).

    The six numbers fill the lower triangle of L (row-major, as ``np.tril_indices(3)``);
    the result is L L^T after normalising L:

    * ``"rows"`` (default): each row of L divided by its norm, so L L^T has unit
      diagonal. This is the diagonal rescaling D^-1/2 (L L^T) D^-1/2, which leaves every
      MI unchanged (MI is invariant to rescaling each variable), and reaches any MI.
    * ``"columns"``: each column divided by its norm, the literal listing. Then
      I({x, x'}; y) = 1/2 log C[2, 2] <= 1/2 log 3 (see the module docstring).

    A zero row or column gives NaNs; ``residual`` treats those as infeasible.
    """
    params = np.asarray(params, dtype=np.float64)
    if params.shape != (6,):
        raise ValueError(f"params must be 6 numbers (the lower triangle of a 3x3), got shape {params.shape}.")
    lower = np.zeros((3, 3))
    lower[_TRIL] = params
    with np.errstate(divide="ignore", invalid="ignore"):
        if normalize == "rows":
            lower = lower / np.linalg.norm(lower, axis=1, keepdims=True)
        elif normalize == "columns":
            lower = lower / np.linalg.norm(lower, axis=0, keepdims=True)
        else:
            raise ValueError(f"normalize must be 'rows' or 'columns', got {normalize!r}.")
    return lower @ lower.T


def analytical_mi(cov):
    """Closed-form (I({x, x'}; y), I(x'; y)) in nats of Gaussian(s) with covariance ``cov``.

    ``cov`` is [..., 3, 3] in the order (x, x', y); the pair is returned in Listing 2's
    order (total first). With C = cov:

        I({x, x'}; y) = 1/2 (log det C[:2, :2] + log C[2, 2] - log det C)
        I(x'; y)      = 1/2 (log C[1, 1] + log C[2, 2] - log det C[1:, 1:])

    Determinants are written out (cofactor expansion) so that this is cheap inside the
    optimiser and works elementwise on a stack of matrices. A matrix that is not
    positive definite gives NaN or inf.
    """
    c = np.asarray(cov, dtype=np.float64)
    if c.shape[-2:] != (3, 3):
        raise ValueError(f"cov must be [..., 3, 3], got shape {c.shape}.")
    c00, c01, c02 = c[..., 0, 0], c[..., 0, 1], c[..., 0, 2]
    c11, c12, c22 = c[..., 1, 1], c[..., 1, 2], c[..., 2, 2]
    det_01 = c00 * c11 - c01 * c01
    det_12 = c11 * c22 - c12 * c12
    det = c00 * det_12 - c01 * (c01 * c22 - c12 * c02) + c02 * (c01 * c12 - c11 * c02)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi_total = 0.5 * (np.log(det_01) + np.log(c22) - np.log(det))
        mi_xprime = 0.5 * (np.log(c11) + np.log(c22) - np.log(det_12))
    return mi_total, mi_xprime


def residual(params, total_mi, alpha, normalize="rows"):
    """Listing 2's objective, with the intended pairing of targets:

        (I({x, x'}; y) - total_mi)^2 + (I(x'; y) - alpha total_mi)^2

    for C = project_posdef(params). Parameters giving no positive-definite C score 1e30.
    """
    mi_total, mi_xprime = analytical_mi(project_posdef(params, normalize))
    value = (mi_total - total_mi) ** 2 + (mi_xprime - alpha * total_mi) ** 2
    return float(value) if np.isfinite(value) else _INFEASIBLE


def sample_cov(
    total_mi,
    alpha=None,
    rng=None,
    *,
    normalize="rows",
    tol=1e-12,
    max_restarts=10,
    max_evals=20000,
):
    """A random 3x3 covariance of (x, x', y) with I({x, x'}; y) = total_mi, I(x'; y) = alpha total_mi.

    Listing 2 of Sordoni et al. (2021): alpha ~ Uniform(0.1, 0.9) when not given,
    starting parameters p ~ N(0, I_6), p* = argmin_p residual(p, total_mi, alpha) by
    Nelder-Mead, return project_posdef(p*). A run whose final residual exceeds ``tol``
    (squared nats; 1e-12 means both MIs within 1e-6 nats) is restarted from new random
    parameters, at most ``max_restarts`` times, then a RuntimeError is raised.

    ``rng`` is a ``np.random.Generator`` or an int seed (the same seed gives the same
    matrix) or None for fresh entropy. With the default ``normalize="rows"`` the result
    is a correlation matrix (unit diagonal).
    """
    total_mi = _check_total_mi(total_mi)
    rng = np.random.default_rng(rng)
    alpha = rng.uniform(0.1, 0.9) if alpha is None else _check_alpha(alpha)
    if normalize == "columns" and total_mi >= MAX_MI_COLUMN_NORMALIZED:
        raise ValueError(
            f"total_mi = {total_mi} nats is out of reach with normalize='columns', which caps "
            f"I({{x, x'}}; y) at 1/2 log 3 = {MAX_MI_COLUMN_NORMALIZED:.4f} nats; use normalize='rows'."
        )
    best = _INFEASIBLE
    for _ in range(max_restarts + 1):
        start = rng.normal(size=6)
        result = scipy.optimize.minimize(
            residual,
            start,
            args=(total_mi, alpha, normalize),
            method="Nelder-Mead",
            options={"xatol": 1e-12, "fatol": 1e-20, "maxiter": max_evals, "maxfev": max_evals},
        )
        if result.fun <= tol:
            return project_posdef(result.x, normalize)
        best = min(best, float(result.fun))
    raise RuntimeError(
        f"sample_cov: Nelder-Mead did not reach residual <= {tol:g} for total_mi = {total_mi}, "
        f"alpha = {alpha} in {max_restarts + 1} runs (best residual {best:.3g}); raise "
        f"max_restarts or max_evals, or loosen tol."
    )


def _conditional(cov, given):
    """Coefficients and variance of y | cov's variables ``given`` (Gaussian conditioning).

    y | v ~ N(w^T v, s2) with w = C[v, v]^-1 C[v, y], s2 = C[y, y] - C[y, v] w.
    """
    c_vv = cov[np.ix_(given, given)]
    c_vy = cov[given, 2]
    weights = np.linalg.solve(c_vv, c_vy)
    return weights, cov[2, 2] - c_vy @ weights


@dataclasses.dataclass(frozen=True, eq=False)
class DemiGaussianTask:
    """``dim`` independent Gaussian triples (x_i, x'_i, y_i) ~ N(0, covs[i]) with exact MIs.

    Build it with ``make_task``. ``covs`` is [dim, 3, 3] in the order (x, x', y);
    ``mi_per_dim`` and ``alphas`` are the per-coordinate targets given to ``sample_cov``.
    The exact MIs (nats, float) are properties; the samplers and log-ratios return
    float32 tensors, take stateless seeds (shape [2] integers: the same seed gives the
    same samples) and work eagerly, inside ``tf.function`` and inside ``tf.data``.
    """

    covs: np.ndarray
    mi_per_dim: np.ndarray
    alphas: np.ndarray
    seed: int | None = None

    def __post_init__(self):
        covs = np.asarray(self.covs, dtype=np.float64)
        if covs.ndim != 3 or covs.shape[1:] != (3, 3) or covs.shape[0] < 1:
            raise ValueError(f"covs must be [dim, 3, 3] with dim >= 1, got shape {covs.shape}.")
        if not np.allclose(covs, np.swapaxes(covs, 1, 2)):
            raise ValueError("covs must be symmetric matrices.")
        if np.min(np.linalg.eigvalsh(covs)) <= 0.0:
            raise ValueError("covs must be positive definite.")
        object.__setattr__(self, "covs", covs)
        object.__setattr__(self, "mi_per_dim", np.asarray(self.mi_per_dim, dtype=np.float64))
        object.__setattr__(self, "alphas", np.asarray(self.alphas, dtype=np.float64))
        # y | x' ~ N(b x', v1) and y | x, x' ~ N(a0 x + a1 x', v2), per coordinate.
        given_xp = [_conditional(c, [1]) for c in covs]
        given_both = [_conditional(c, [0, 1]) for c in covs]
        params = {
            "chol": np.linalg.cholesky(covs),
            "var_y": covs[:, 2, 2],
            "coef_xp": np.array([w[0] for w, _ in given_xp]),
            "var_y_xp": np.array([v for _, v in given_xp]),
            "coef_x_xp": np.array([w for w, _ in given_both]),  # [dim, 2]
            "var_y_x_xp": np.array([v for _, v in given_both]),
        }
        object.__setattr__(self, "_params", {k: v.astype(np.float32) for k, v in params.items()})

    # Exact mutual informations (nats).

    @property
    def dim(self):
        return self.covs.shape[0]

    @property
    def mi_total_per_dim(self):
        """I({x_i, x'_i}; y_i) for each coordinate, from the covariances: [dim]."""
        return analytical_mi(self.covs)[0]

    @property
    def mi_xprime_y_per_dim(self):
        """I(x'_i; y_i) for each coordinate: [dim]."""
        return analytical_mi(self.covs)[1]

    @property
    def total_mi(self):
        """I({x, x'}; y), the total MI the bounds estimate."""
        return float(np.sum(self.mi_total_per_dim))

    @property
    def mi_xprime_y(self):
        """I(x'; y): what the unconditional term I_NCE(x'; y) of DEMI targets."""
        return float(np.sum(self.mi_xprime_y_per_dim))

    @property
    def mi_x_y_given_xprime(self):
        """I(x; y | x') = I({x, x'}; y) - I(x'; y): what the conditional term targets."""
        return self.total_mi - self.mi_xprime_y

    @property
    def mi_x_y(self):
        """I(x; y) = sum_i 1/2 log(C00 C22 / (C00 C22 - C02^2)), from the (x, y) blocks."""
        c00, c02, c22 = self.covs[:, 0, 0], self.covs[:, 0, 2], self.covs[:, 2, 2]
        return float(np.sum(0.5 * np.log(c00 * c22 / (c00 * c22 - c02**2))))

    # Samplers.

    def sample(self, batch_size, seed):
        """Draws ``batch_size`` joint samples: (x, x', y), each [batch_size, dim]."""
        _check_count(batch_size, "batch_size", 1)
        noise = tf.random.stateless_normal([batch_size, self.dim, 3], seed=_seed(seed))
        z = tf.einsum("bdj,dij->bdi", noise, self._params["chol"])
        return z[..., 0], z[..., 1], z[..., 2]

    def sample_y_given_xprime(self, xprime, num_samples, seed):
        """``num_samples`` exact draws of y ~ p(y | x') per row of ``xprime``: [B, K, dim].

        Per coordinate, y | x' ~ N(C21 / C11 x', C22 - C21^2 / C11).
        """
        xprime = self._check_features(xprime, "xprime")
        _check_count(num_samples, "num_samples", 1)
        p = self._params
        return self._draw(xprime * p["coef_xp"], p["var_y_xp"], num_samples, seed)

    def sample_y_given_x_xprime(self, x, xprime, num_samples, seed):
        """``num_samples`` exact draws of y ~ p(y | x, x') per row: [B, K, dim]."""
        x = self._check_features(x, "x")
        xprime = self._check_features(xprime, "xprime")
        _check_count(num_samples, "num_samples", 1)
        return self._draw(self._mean_given_x_xprime(x, xprime), self._params["var_y_x_xp"], num_samples, seed)

    # Exact log density ratios: the optimal critics.

    def log_ratio_y_given_xprime(self, xprime, y):
        """log p(y | x') - log p(y): the optimal critic of I_NCE(x'; y).

        ``y`` [N, dim] gives [B, N] with entry (i, j) for (x'_i, y_j), all pairs (the
        diagonal is the positives when N = B); ``y`` [B, K, dim] gives [B, K] with entry
        (i, k) for (x'_i, y_ik), each row against its own candidates.
        """
        xprime = self._check_features(xprime, "xprime")
        p = self._params
        zero = tf.zeros_like(xprime)
        return self._log_ratio(xprime * p["coef_xp"], p["var_y_xp"], zero, p["var_y"], y)

    def log_ratio_y_given_x_xprime_vs_xprime(self, x, xprime, y):
        """log p(y | x, x') - log p(y | x'): the optimal critic of I_CNCE(x; y | x') (Eq. 6).

        Its expectation over p(x, x', y) is I(x; y | x'). Shapes as in
        ``log_ratio_y_given_xprime``; (x_i, x'_i) are paired row by row.
        """
        x = self._check_features(x, "x")
        xprime = self._check_features(xprime, "xprime")
        p = self._params
        mean_both = self._mean_given_x_xprime(x, xprime)
        return self._log_ratio(mean_both, p["var_y_x_xp"], xprime * p["coef_xp"], p["var_y_xp"], y)

    def log_ratio_y_given_x_xprime(self, x, xprime, y):
        """log p(y | x, x') - log p(y): the optimal critic of I_NCE({x, x'}; y).

        Equals log_ratio_y_given_xprime + log_ratio_y_given_x_xprime_vs_xprime.
        """
        x = self._check_features(x, "x")
        xprime = self._check_features(xprime, "xprime")
        p = self._params
        mean_both = self._mean_given_x_xprime(x, xprime)
        return self._log_ratio(mean_both, p["var_y_x_xp"], tf.zeros_like(x), p["var_y"], y)

    # Helpers.

    def _mean_given_x_xprime(self, x, xprime):
        coef = self._params["coef_x_xp"]
        return x * coef[:, 0] + xprime * coef[:, 1]

    def _draw(self, mean, var, num_samples, seed):
        shape = tf.concat([tf.shape(mean)[:1], [num_samples, self.dim]], axis=0)
        noise = tf.random.stateless_normal(shape, seed=_seed(seed))
        return mean[:, None, :] + tf.sqrt(var) * noise

    def _check_features(self, t, name):
        t = tf.convert_to_tensor(t, tf.float32)
        if t.shape.rank is not None and (t.shape.rank != 2 or t.shape[-1] not in (None, self.dim)):
            raise ValueError(f"{name} must be [B, {self.dim}] (this task's dim), got shape {t.shape}.")
        return t

    def _log_ratio(self, mean_num, var_num, mean_den, var_den, y):
        """sum_d log N(y_d; mean_num, var_num) - log N(y_d; mean_den, var_den), paired as documented."""
        y = tf.convert_to_tensor(y, tf.float32)
        rank = y.shape.rank
        if rank not in (2, 3) or y.shape[-1] not in (None, self.dim):
            raise ValueError(
                f"y must be [N, {self.dim}] (all pairs) or [B, K, {self.dim}] (each row's own "
                f"candidates), got shape {y.shape}."
            )
        if rank == 2:
            y = y[None, :, :]  # [1, N, dim] against rows [B, 1, dim]
        elif None not in (y.shape[0], mean_num.shape[0]) and y.shape[0] != mean_num.shape[0]:
            raise ValueError(
                f"y [B, K, dim] must have one row per conditioning row: {mean_num.shape[0]} rows "
                f"vs y shape {y.shape}."
            )
        d_num = y - mean_num[:, None, :]
        d_den = y - mean_den[:, None, :]
        # Differences first, then squares: exact for near-deterministic coordinates.
        per_dim = -0.5 * (
            tf.math.log(var_num / var_den) + d_num**2 / var_num - d_den**2 / var_den
        )
        return tf.reduce_sum(per_dim, axis=-1)


def _seed(seed):
    return tf.cast(tf.convert_to_tensor(seed), tf.int64)


def _check_count(value, name, minimum):
    if isinstance(value, (int, np.integer)) and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")


def make_task(total_mi, dim=20, seed=0, alpha_range=(0.1, 0.9)):
    """The Appendix A.6 task: ``dim`` coordinates sharing ``total_mi`` nats of I({x, x'}; y).

    With a ``np.random.default_rng(seed)`` stream, in this order:

    * per-coordinate MIs mi = total_mi * w, w ~ Dirichlet(1, ..., 1) (uniform on the
      simplex; the paper only says "mi_i > 0 chosen at random, summing to mi"),
    * per-coordinate alpha_i ~ Uniform(alpha_range), the paper's (0.1, 0.9),
    * covs[i] = sample_cov(mi_i, alpha_i, rng), correlation matrices.

    So I({x, x'}; y) = total_mi and I(x'; y) = sum_i alpha_i mi_i, each within 1e-6
    nats per coordinate. The split and the alphas depend on ``seed`` only, so tasks with
    the same seed and different ``total_mi`` share their proportions (the covariances
    differ). Takes about 0.05 s per coordinate (Nelder-Mead, ~600 evaluations each).
    """
    total_mi = _check_total_mi(total_mi)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
        raise ValueError(f"dim must be an integer >= 1, got {dim!r}.")
    low, high = (float(a) for a in alpha_range)
    if not 0.0 < low <= high < 1.0:
        raise ValueError(f"alpha_range must satisfy 0 < low <= high < 1, got {alpha_range!r}.")
    rng = np.random.default_rng(seed)
    mi_per_dim = total_mi * rng.dirichlet(np.ones(dim))
    # A Dirichlet draw can underflow to 0 only with astronomically small probability;
    # sample_cov needs every share > 0.
    mi_per_dim = np.maximum(mi_per_dim, np.finfo(np.float64).tiny)
    alphas = rng.uniform(low, high, size=dim)
    covs = np.stack([sample_cov(m, a, rng) for m, a in zip(mi_per_dim, alphas)])
    return DemiGaussianTask(covs=covs, mi_per_dim=mi_per_dim, alphas=alphas, seed=seed)


def demi_dataset(task, batch_size, num_conditional_negatives, seed=0, start_step=0):
    """An endless dataset of batches {"x", "xprime", "y", "y_cond", "true_mi"}, one per step.

    x, xprime, y: [B, dim] joint samples; y_cond: [B, K, dim] with K =
    ``num_conditional_negatives`` exact draws from p(y | x'_i) for each row i (the
    negatives of I_CNCE); true_mi: [B] filled with I({x, x'}; y). Batch ``t`` is drawn
    with the stateless seed (seed, t), so a run resumed at ``start_step`` sees exactly
    the batches it would have seen without interruption.
    """
    if not isinstance(task, DemiGaussianTask):
        raise ValueError(f"task must be a DemiGaussianTask (see make_task), got {type(task).__name__}.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 for contrastive bounds, got {batch_size!r}.")
    if not isinstance(num_conditional_negatives, (int, np.integer)) or num_conditional_negatives < 1:
        raise ValueError(
            f"num_conditional_negatives must be an integer >= 1, got {num_conditional_negatives!r}."
        )
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}.")
    true_mi = task.total_mi

    def make_batch(step):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), step]), 2)
        x, xprime, y = task.sample(batch_size, seeds[0])
        y_cond = task.sample_y_given_xprime(xprime, num_conditional_negatives, seeds[1])
        return {
            "x": x,
            "xprime": xprime,
            "y": y,
            "y_cond": y_cond,
            "true_mi": tf.fill([batch_size], tf.constant(true_mi, tf.float32)),
        }

    return tf.data.Dataset.range(start_step, np.iinfo(np.int64).max).map(make_batch)


@functools.lru_cache(maxsize=8)
def _cached_task(total_mi, dim, task_seed):
    return make_task(total_mi, dim=dim, seed=task_seed)


def demi_gaussian_dataset(batch_size, *, total_mi, dim=20, task_seed=0, seed=0, start_step=0):
    """``demi_dataset`` of ``make_task(total_mi, dim, task_seed)`` (cached per task) with
    batch_size - 1 conditional negatives per example: the "demi_gaussian" dataset."""
    task = _cached_task(float(total_mi), dim, task_seed)
    return demi_dataset(task, batch_size, batch_size - 1, seed=seed, start_step=start_step)
