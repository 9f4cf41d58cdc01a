"""Gaussian MI in closed form, the Gaussian log density ratio as a pair scorer, and a
per-dimension rank Gaussianisation. NumPy only (float64 inside).

For a joint Gaussian z = [u; v] with covariance S = [[S_xx, S_xy], [S_yx, S_yy]]:

    I(u; v) = 0.5 (log det S_xx + log det S_yy - log det S)

and its pointwise log density ratio is

    log N([u; v]; m, S) - log N(u; m_x, S_xx) - log N(v; m_y, S_yy)
      = I - 0.5 u'^T (P_xx - S_xx^-1) u' - u'^T P_xy v' - 0.5 v'^T (P_yy - S_yy^-1) v'

with P = S^-1 partitioned like S and u' = u - m_x, v' = v - m_y. Its mean over pairs
drawn from the joint is I. Over all pairs (u_i, v_j) it is a quadratic form plus a
bilinear term, so the [a, b] score matrix costs one matrix product.

Rank Gaussianisation maps each coordinate through Phi^-1 of its empirical CDF, fitted on
training data (``RankGaussianizer``). It undoes any elementwise monotone transform of a
Gaussian exactly (half-cube, asinh, normal CDF, ...), so that the closed form above then
gives their MI; for other dependence (Student-t, rotations mixing coordinates) it
gives the MI of the Gaussian copula with the same normal-score correlations.
"""

import numpy as np
from scipy import special

__all__ = [
    "gaussian_mi",
    "wishart_logdet_bias",
    "GaussianRatio",
    "RankGaussianizer",
    "LatentGaussianScorer",
    "fit_rank_gaussian",
    "check_pairs",
]

_CHUNK_ENTRIES = 1 << 22  # float64 entries per chunk of a score matrix (32 MiB)


def check_pairs(x, y, caller, name_x="x", name_y="y"):
    """``x``, ``y`` as float64 matrices [n, d] with the same number of finite rows;
    ValueError naming the argument otherwise (1-d arrays are one feature)."""
    arrays = []
    for name, array in ((name_x, x), (name_y, y)):
        try:
            array = np.asarray(array, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{caller}: {name} must be numeric, got {error}.") from None
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2 or array.shape[1] == 0:
            raise ValueError(f"{caller}: {name} must be [n_samples, n_features], got shape {array.shape}.")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{caller}: {name} holds NaN or inf values; remove those rows first.")
        arrays.append(array)
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(
            f"{caller}: {name_x} and {name_y} must pair up row by row, got {len(arrays[0])} and "
            f"{len(arrays[1])} rows."
        )
    return arrays


def _logdet(matrix, what):
    sign, logdet = np.linalg.slogdet(matrix)
    if sign <= 0 or not np.isfinite(logdet):
        raise ValueError(
            f"{what} is not positive definite (constant or collinear features?); "
            "drop redundant columns or add a little noise."
        )
    return float(logdet)


def wishart_logdet_bias(dim, dof):
    """E[log det S_hat] - log det S for S_hat = W / dof, W ~ Wishart_dim(dof, S):

        dim log(2 / dof) + sum_{i=1}^{dim} psi((dof - i + 1) / 2)

    (negative: the sample covariance's log-determinant is biased low, ~ -dim^2 / (2 dof)).
    """
    if dof <= dim - 1:
        raise ValueError(f"wishart_logdet_bias: needs more than {dim} samples for {dim} dimensions.")
    i = np.arange(1, dim + 1)
    return float(dim * np.log(2.0 / dof) + np.sum(special.digamma((dof - i + 1) / 2.0)))


def gaussian_mi(covariance, dim_x, num_samples=None):
    """I = 0.5 (log det S_xx + log det S_yy - log det S) in nats, S = ``covariance`` of [x; y]
    with x its first ``dim_x`` coordinates.

    ``num_samples``: when S is the sample covariance (mean subtracted) of that many pairs,
    subtract the plug-in estimate's expected bias 0.5 (b(d_x) + b(d_y) - b(d_x + d_y)),
    b = ``wishart_logdet_bias`` with n - 1 degrees of freedom (exact for Gaussian data;
    ~ d_x d_y / (2 n)).
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    dim = covariance.shape[0] if covariance.ndim == 2 else 0
    if covariance.ndim != 2 or covariance.shape[1] != dim or dim < 2:
        raise ValueError(f"gaussian_mi: covariance must be a square matrix of size >= 2, got {covariance.shape}.")
    if not 0 < dim_x < dim:
        raise ValueError(f"gaussian_mi: dim_x must lie in [1, {dim - 1}], got {dim_x}.")
    mi = 0.5 * (
        _logdet(covariance[:dim_x, :dim_x], "gaussian_mi: the covariance of x")
        + _logdet(covariance[dim_x:, dim_x:], "gaussian_mi: the covariance of y")
        - _logdet(covariance, "gaussian_mi: the joint covariance")
    )
    if num_samples is not None:
        dof = num_samples - 1
        dim_y = dim - dim_x
        mi -= 0.5 * (
            wishart_logdet_bias(dim_x, dof) + wishart_logdet_bias(dim_y, dof) - wishart_logdet_bias(dim, dof)
        )
    return float(mi)


class GaussianRatio:
    """The log density ratio of a joint Gaussian fitted to paired samples (u, v).

    ``GaussianRatio.fit(u, v)`` takes the sample mean and covariance; then
    ``scores(u [a, d_x], v [b, d_y]) -> [a, b]`` float32 log ratios of all pairs (see the
    module docstring), ``pointwise(u, v) -> [n]`` those of the pairs themselves, and
    ``mi`` the closed form of the fitted covariance (with the Wishart bias removed).
    """

    def __init__(self, mean, covariance, dim_x, num_samples=None):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.covariance = np.asarray(covariance, dtype=np.float64)
        self.dim_x = int(dim_x)
        self.mi = gaussian_mi(self.covariance, self.dim_x, num_samples)
        d = self.dim_x
        precision = np.linalg.inv(self.covariance)
        self._quad_x = precision[:d, :d] - np.linalg.inv(self.covariance[:d, :d])
        self._quad_y = precision[d:, d:] - np.linalg.inv(self.covariance[d:, d:])
        self._cross = precision[:d, d:]
        # The plug-in closed form: the constant of the log ratio, without bias removal.
        self._constant = gaussian_mi(self.covariance, d)

    @classmethod
    def fit(cls, u, v):
        """The Gaussian of the pairs ``u`` [n, d_x], ``v`` [n, d_y] (sample mean and covariance)."""
        u, v = check_pairs(u, v, "GaussianRatio.fit", "u", "v")
        joint = np.concatenate([u, v], axis=1)
        if len(joint) <= joint.shape[1]:
            raise ValueError(
                f"GaussianRatio.fit: {len(joint)} pairs cannot fit a covariance in {joint.shape[1]} "
                "dimensions; use more samples than dimensions."
            )
        return cls(joint.mean(axis=0), np.cov(joint, rowvar=False), u.shape[1], num_samples=len(joint))

    def _centred(self, u, v, caller):
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        d = self.dim_x
        if u.ndim != 2 or u.shape[1] != d or v.ndim != 2 or v.shape[1] != len(self.mean) - d:
            raise ValueError(
                f"GaussianRatio.{caller}: expected u [a, {d}] and v [b, {len(self.mean) - d}], "
                f"got {u.shape} and {v.shape}."
            )
        return u - self.mean[:d], v - self.mean[d:]

    def _halves(self, u, v):
        """The per-row terms: const - 0.5 u^T Q_x u, -0.5 v^T Q_y v."""
        row = self._constant - 0.5 * np.einsum("ij,jk,ik->i", u, self._quad_x, u)
        column = -0.5 * np.einsum("ij,jk,ik->i", v, self._quad_y, v)
        return row, column

    def scores(self, u, v):
        """[a, b] float32: the log ratio of every pair (u_i, v_j), computed in row chunks."""
        u, v = self._centred(u, v, "scores")
        row, column = self._halves(u, v)
        cross_v = v @ self._cross.T  # [b, d_x]: P_xy v_j
        out = np.empty((len(u), len(v)), dtype=np.float32)
        step = max(1, _CHUNK_ENTRIES // max(1, len(v)))
        for start in range(0, len(u), step):
            stop = start + step
            out[start:stop] = row[start:stop, None] + column[None, :] - u[start:stop] @ cross_v.T
        return out

    def pointwise(self, u, v):
        """[n] float32: the log ratio of each pair (u_i, v_i)."""
        u, v = self._centred(u, v, "pointwise")
        if len(u) != len(v):
            raise ValueError(f"GaussianRatio.pointwise: u and v must pair up, got {len(u)} and {len(v)} rows.")
        row, column = self._halves(u, v)
        return (row + column - np.einsum("ij,jk,ik->i", u, self._cross, v)).astype(np.float32)


class RankGaussianizer:
    """Per-coordinate z = Phi^-1(F_n(x)), F_n the empirical CDF of the training data.

    ``fit`` keeps each coordinate's sorted distinct training values and the normal score
    Phi^-1((r - 1/2) / n) of their mean rank r (ties share the mean); ``transform`` maps new
    values by linear interpolation between them, constant beyond the training range.
    Monotone in every coordinate, hence MI preserving on data whose values lie inside the
    training range.
    """

    def __init__(self, knots, scores):
        self.knots = knots
        self.scores = scores

    @classmethod
    def fit(cls, x):
        """The map fitted on ``x`` [n, d] (n >= 2)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or len(x) < 2 or not np.all(np.isfinite(x)):
            raise ValueError(f"RankGaussianizer.fit: x must be a finite [n >= 2, d] array, got shape {x.shape}.")
        n = len(x)
        normal_scores = special.ndtri((np.arange(n) + 0.5) / n)
        knots, scores = [], []
        for column in x.T:
            values, inverse = np.unique(column, return_inverse=True)
            ranks = np.argsort(np.argsort(column, kind="stable"), kind="stable")
            counts = np.bincount(inverse)
            knots.append(values)
            scores.append(np.bincount(inverse, weights=normal_scores[ranks]) / counts)
        return cls(knots, scores)

    def transform(self, x):
        """[n, d] float32 normal scores of ``x`` [n, d]."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(self.knots):
            raise ValueError(
                f"RankGaussianizer.transform: expected [n, {len(self.knots)}] like the fitted data, got {x.shape}."
            )
        columns = [np.interp(column, knots, scores) for column, knots, scores in zip(x.T, self.knots, self.scores)]
        return np.stack(columns, axis=1).astype(np.float32)


class LatentGaussianScorer:
    """A pair scorer through latents: u = map_x(x), v = map_y(y), scored by a
    ``GaussianRatio`` fitted to the training latents. With invertible maps the log
    ratio of the latents is that of (x, y) (the Jacobians cancel).

    ``scores(x [a, d_x], y [b, d_y]) -> [a, b]``, ``pointwise(x, y) -> [n]`` (float32),
    ``gaussian_mi`` (closed form of the fitted latent covariance, nats), ``history``.
    Inputs are taken as given (the maps include any standardisation).
    """

    def __init__(self, map_x, map_y, ratio, history=()):
        self.map_x = map_x
        self.map_y = map_y
        self.ratio = ratio
        self.history = list(history)

    @property
    def gaussian_mi(self):
        return self.ratio.mi

    def latents(self, x, y):
        """(u, v) = (map_x(x), map_y(y)) as float64 arrays."""
        x, y = (np.asarray(a, dtype=np.float32) for a in (x, y))
        x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
        return np.asarray(self.map_x(x), np.float64), np.asarray(self.map_y(y), np.float64)

    def scores(self, x, y):
        """[a, b] float32 log ratio of every pair (x_i, y_j)."""
        return self.ratio.scores(*self.latents(x, y))

    def pointwise(self, x, y):
        """[n] float32 log ratio of each pair (x_i, y_i)."""
        return self.ratio.pointwise(*self.latents(x, y))


def fit_rank_gaussian(x_train, y_train):
    """The Gaussian-copula scorer: ``RankGaussianizer`` per side fitted on the training
    pairs, then the ``GaussianRatio`` of their normal scores. Instant; exact (up to
    sampling error) for elementwise monotone transforms of a joint Gaussian."""
    x_train, y_train = check_pairs(x_train, y_train, "fit_rank_gaussian", "x_train", "y_train")
    rank_x, rank_y = RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train)
    ratio = GaussianRatio.fit(rank_x.transform(x_train), rank_y.transform(y_train))
    return LatentGaussianScorer(rank_x.transform, rank_y.transform, ratio)
