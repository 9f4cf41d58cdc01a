"""Gaussian and Student-t MI in closed form and their log density ratios as pair scorers.
NumPy only (float64 inside).

For a joint Gaussian z = [u; v] with covariance S = [[S_xx, S_xy], [S_yx, S_yy]]:

    I(u; v) = 0.5 (log det S_xx + log det S_yy - log det S)

and its pointwise log density ratio is

    log N([u; v]; m, S) - log N(u; m_x, S_xx) - log N(v; m_y, S_yy)
      = I - 0.5 (z'^T S^-1 z' - u'^T S_xx^-1 u' - v'^T S_yy^-1 v'),

z' = z - m. Its mean over pairs drawn from the joint is I. Over all pairs (u_i, v_j) the
joint quadratic form is u'^T P_xx u' + 2 u'^T P_xy v' + v'^T P_yy v' (P = S^-1), so the
[a, b] score matrix costs one matrix product. A multivariate Student-t (``StudentRatio``)
has the same quadratic forms under a log1p link. The copula built on them (rank maps to
normal scores, then one of these ratios): ``copula``.
"""

import numpy as np
from scipy import special
from threadpoolctl import ThreadpoolController  # installed with scikit-learn

from tfmi.estimation.inputs import check_pairs

__all__ = ["gaussian_mi", "wishart_logdet_bias", "GaussianRatio", "StudentRatio", "one_blas_thread"]

_CHUNK_ENTRIES = 1 << 22  # float64 entries per chunk of a score matrix (32 MiB)
_THREADPOOLS = []  # the ThreadpoolController, made on first use (it scans the loaded libraries)


def one_blas_thread():
    """A context in which BLAS runs on one thread: small matrices in a loop run many times
    faster than on several threads contending for a busy CPU. The libraries are scanned
    once per process (a scan costs ~15 ms)."""
    if not _THREADPOOLS:
        _THREADPOOLS.append(ThreadpoolController())
    return _THREADPOOLS[0].limit(limits=1, user_api="blas")


def _quadratic(rows, matrix):
    """[n]: rows_i^T matrix rows_i."""
    return np.sum((rows @ matrix) * rows, axis=1)


def _not_positive_definite(what):
    return ValueError(f"{what} is not positive definite (constant or collinear features, e.g. x == y?); "
                      "drop redundant columns or add a little noise.")


def _logdet(matrix, what):
    sign, logdet = np.linalg.slogdet(matrix)
    if sign <= 0 or not np.isfinite(logdet):
        raise _not_positive_definite(what)
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
        self._precision = np.linalg.inv(self.covariance)
        self._precision_x = np.linalg.inv(self.covariance[:d, :d])
        self._precision_y = np.linalg.inv(self.covariance[d:, d:])
        self._logdet = _logdet(self.covariance, f"{type(self).__name__}: the joint covariance")
        # The plug-in closed form: the constant of the log ratio, without bias removal.
        self._gaussian_constant = gaussian_mi(self.covariance, d)

    @classmethod
    def fit(cls, u, v):
        """The Gaussian of the pairs ``u`` [n, d_x], ``v`` [n, d_y] (sample mean and covariance)."""
        joint = _joint(u, v, f"{cls.__name__}.fit")
        return cls(joint.mean(axis=0), np.cov(joint, rowvar=False), np.shape(u)[1], num_samples=len(joint))

    def _log_kernel(self, form, dim):
        """log density of a dim-dimensional standard Gaussian at w with w^T w = ``form``."""
        return -0.5 * form - dim / 2 * np.log(2 * np.pi)

    def sample(self, size, rng):
        """[size, d] draws of the fitted joint (``rng`` a NumPy Generator)."""
        return rng.multivariate_normal(self.mean, self.covariance, size=size, method="cholesky")

    def _link(self, joint, form_x, form_y):
        """The log ratio from the quadratic forms z^T S^-1 z, u^T S_xx^-1 u, v^T S_yy^-1 v."""
        dim, dim_x = len(self.mean), self.dim_x
        kernels = self._log_kernel(joint, dim) - self._log_kernel(form_x, dim_x) - self._log_kernel(form_y, dim - dim_x)
        return self._gaussian_constant + kernels

    def marginal(self, columns):
        """The same family's ratio of the joint's marginal on ``columns`` (indices into
        [u, v], those below ``dim_x`` forming the new u): a Gaussian's (and a Student-t's)
        marginals are blocks of its mean and covariance (scatter)."""
        columns = np.asarray(columns)
        return self._with(self.mean[columns], self.covariance[np.ix_(columns, columns)],
                          int(np.sum(columns < self.dim_x)))

    def _with(self, mean, covariance, dim_x):
        return GaussianRatio(mean, covariance, dim_x)

    def log_density(self, z):
        """[n] log density of the fitted joint at the rows of z = [u, v] [n, d]."""
        centred = np.asarray(z, dtype=np.float64) - self.mean
        return self._log_kernel(_quadratic(centred, self._precision), len(self.mean)) - 0.5 * self._logdet

    def copula_log_density(self, z):
        """[n] log density of z [n, d] minus that of each coordinate under the standard
        (unit-scale) one-dimensional marginal: the copula's log-likelihood when every
        coordinate was mapped to that marginal by its empirical CDF."""
        z = np.asarray(z, dtype=np.float64)
        return self.log_density(z) - np.sum(self._log_kernel(z**2, 1), axis=1)

    def _centred(self, u, v, caller):
        u = np.asarray(u, dtype=np.float64)
        v = np.asarray(v, dtype=np.float64)
        d = self.dim_x
        if u.ndim != 2 or u.shape[1] != d or v.ndim != 2 or v.shape[1] != len(self.mean) - d:
            raise ValueError(
                f"{type(self).__name__}.{caller}: expected u [a, {d}] and v [b, {len(self.mean) - d}], "
                f"got {u.shape} and {v.shape}."
            )
        return u - self.mean[:d], v - self.mean[d:]

    def _forms(self, u, v):
        """Per-row quadratic forms: (u^T P_xx u, u^T S_xx^-1 u), (v^T P_yy v, v^T S_yy^-1 v)."""
        d, p = self.dim_x, self._precision
        forms_u = _quadratic(u, p[:d, :d]), _quadratic(u, self._precision_x)
        forms_v = _quadratic(v, p[d:, d:]), _quadratic(v, self._precision_y)
        return forms_u, forms_v

    def scores(self, u, v):
        """[a, b] float32: the log ratio of every pair (u_i, v_j), computed in row chunks."""
        u, v = self._centred(u, v, "scores")
        (joint_u, form_u), (joint_v, form_v) = self._forms(u, v)
        cross_v = 2.0 * v @ self._precision[: self.dim_x, self.dim_x :].T  # [b, d_x]: 2 P_xy v_j
        out = np.empty((len(u), len(v)), dtype=np.float32)
        step = max(1, _CHUNK_ENTRIES // max(1, len(v)))
        for start in range(0, len(u), step):
            rows = slice(start, start + step)
            joint = joint_u[rows, None] + joint_v[None, :] + u[rows] @ cross_v.T
            out[rows] = self._link(joint, form_u[rows, None], form_v[None, :])
        return out

    def pointwise(self, u, v):
        """[n] float32: the log ratio of each pair (u_i, v_i)."""
        u, v = self._centred(u, v, "pointwise")
        if len(u) != len(v):
            raise ValueError(f"{type(self).__name__}.pointwise: u and v must pair up, got {len(u)} and {len(v)} rows.")
        (joint_u, form_u), (joint_v, form_v) = self._forms(u, v)
        cross = 2.0 * np.sum((u @ self._precision[: self.dim_x, self.dim_x :]) * v, axis=1)
        return self._link(joint_u + joint_v + cross, form_u, form_v).astype(np.float32)


def _joint(u, v, caller):
    """[u, v] as one float64 matrix with more rows than columns."""
    u, v = check_pairs(u, v, caller, "u", "v")
    joint = np.concatenate([u, v], axis=1)
    if len(joint) <= joint.shape[1]:
        raise ValueError(
            f"{caller}: {len(joint)} pairs cannot fit a covariance in {joint.shape[1]} "
            "dimensions; use more samples than dimensions."
        )
    return joint


def _student_log_normaliser(dim, dof):
    """log Gamma((dof + dim) / 2) - log Gamma(dof / 2) - dim / 2 log(dof pi)."""
    return float(special.gammaln((dof + dim) / 2) - special.gammaln(dof / 2) - dim / 2 * np.log(dof * np.pi))


def _student_entropy(dim, dof):
    """Differential entropy of a standard multivariate Student-t (scatter I_dim)."""
    half = (dof + dim) / 2
    return float(-_student_log_normaliser(dim, dof) + half * (special.digamma(half) - special.digamma(dof / 2)))


class StudentRatio(GaussianRatio):
    """The log density ratio of a joint multivariate Student-t with ``dof`` degrees of
    freedom and scatter S (marginals: Student-t with the same dof and blocks of S):

        log t_d(z; S) - log t_dx(u; S_xx) - log t_dy(v; S_yy),
        log t_k(w; S) = c_k - 0.5 log det S - (dof + k) / 2 log(1 + w^T S^-1 w / dof),

    with c_k = log Gamma((dof + k) / 2) - log Gamma(dof / 2) - k / 2 log(dof pi). Its MI
    (Arellano-Valle et al. 2013) is the Gaussian MI of S plus h_dx + h_dy - h_d, h_k the
    entropy of a standard k-dimensional Student-t. ``fit`` finds the maximum-likelihood
    mean and scatter by EM (weights (dof + d) / (dof + q_i)).
    """

    def __init__(self, mean, scatter, dim_x, dof):
        if not dof > 0:
            raise ValueError(f"StudentRatio: dof must be > 0, got {dof}.")
        self.dof = float(dof)
        super().__init__(mean, scatter, dim_x)
        dim, dim_y = len(self.mean), len(self.mean) - self.dim_x
        correction = _student_entropy(self.dim_x, dof) + _student_entropy(dim_y, dof) - _student_entropy(dim, dof)
        self.mi = self._gaussian_constant + correction

    @classmethod
    def fit(cls, u, v, dof, iterations=50, tolerance=1e-5):
        """The Student-t of the pairs ``u`` [n, d_x], ``v`` [n, d_y] with ``dof``: EM until no
        entry of the scatter moves by more than ``tolerance`` (or ``iterations``)."""
        joint = _joint(u, v, "StudentRatio.fit")
        dim = joint.shape[1]
        mean, scatter = joint.mean(axis=0), np.cov(joint, rowvar=False)
        with one_blas_thread():
            for _ in range(iterations):
                centred = joint - mean
                try:
                    forms = _quadratic(centred, np.linalg.inv(scatter))
                except np.linalg.LinAlgError:
                    raise _not_positive_definite("the scatter of the joint of x and y") from None
                weights = (dof + dim) / (dof + forms)
                mean = weights @ joint / weights.sum()
                centred = joint - mean
                previous, scatter = scatter, (weights[:, None] * centred).T @ centred / len(joint)
                if np.max(np.abs(scatter - previous)) < tolerance:
                    break
        return cls(mean, scatter, np.shape(u)[1], dof)

    def _with(self, mean, scatter, dim_x):
        return StudentRatio(mean, scatter, dim_x, self.dof)

    def sample(self, size, rng):
        """[size, d] draws: mean + g / sqrt(w / dof), g ~ N(0, S), w ~ chi^2(dof)."""
        centred = rng.multivariate_normal(np.zeros_like(self.mean), self.covariance, size=size, method="cholesky")
        return self.mean + centred / np.sqrt(rng.chisquare(self.dof, size=(size, 1)) / self.dof)

    def _log_kernel(self, form, dim):
        """log density of a dim-dimensional standard Student-t at w with w^T w = ``form``."""
        return _student_log_normaliser(dim, self.dof) - (self.dof + dim) / 2 * np.log1p(form / self.dof)
