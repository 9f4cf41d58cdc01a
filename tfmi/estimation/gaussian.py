"""Gaussian and Student-t MI in closed form, their log density ratios as pair scorers, and
per-coordinate rank maps to normal (or Student-t) scores. NumPy only (float64 inside).

For a joint Gaussian z = [u; v] with covariance S = [[S_xx, S_xy], [S_yx, S_yy]]:

    I(u; v) = 0.5 (log det S_xx + log det S_yy - log det S)

and its pointwise log density ratio is

    log N([u; v]; m, S) - log N(u; m_x, S_xx) - log N(v; m_y, S_yy)
      = I - 0.5 (z'^T S^-1 z' - u'^T S_xx^-1 u' - v'^T S_yy^-1 v'),

z' = z - m. Its mean over pairs drawn from the joint is I. Over all pairs (u_i, v_j) the
joint quadratic form is u'^T P_xx u' + 2 u'^T P_xy v' + v'^T P_yy v' (P = S^-1), so the
[a, b] score matrix costs one matrix product. A multivariate Student-t (``StudentRatio``)
has the same quadratic forms under a log1p link.

Rank Gaussianisation maps each coordinate through Phi^-1 of its empirical CDF, fitted on
training data (``RankGaussianizer``). It undoes any elementwise monotone transform of a
Gaussian exactly (half-cube, asinh, normal CDF, ...), so that the closed form above then
gives their MI (``fit_rank_gaussian``: the Gaussian copula). ``fit_rank_copula`` also
tries Student-t copulas (dependence through a shared scale) and keeps the one with the
best validation likelihood; neither models dependence that mixes coordinates (spirals).
"""

import numpy as np
from scipy import special, stats
from threadpoolctl import ThreadpoolController  # installed with scikit-learn

from tfmi.estimation import protocol
from tfmi.estimation.inputs import as_matrix, check_pairs

__all__ = [
    "gaussian_mi",
    "wishart_logdet_bias",
    "GaussianRatio",
    "StudentRatio",
    "RankGaussianizer",
    "LatentScorer",
    "fit_rank_gaussian",
    "fit_rank_elliptical",
    "fit_rank_copula",
    "as_matrix",
    "check_pairs",
    "one_blas_thread",
]

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
        return self._with(self.mean[columns], self.covariance[np.ix_(columns, columns)], int(np.sum(columns < self.dim_x)))

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


class LatentScorer:
    """A pair scorer through latents: u = map_x(x), v = map_y(y), scored by a fitted latent
    ratio (``GaussianRatio`` or ``StudentRatio``). With invertible maps the log ratio of
    the latents is that of (x, y) (the Jacobians cancel).

    ``scores(x [a, d_x], y [b, d_y]) -> [a, b]``, ``pointwise(x, y) -> [n]`` (float32, on
    the inputs as given: the maps include any standardisation), ``closed_form_mi`` (the
    MI of the fitted latent model, nats; ``gaussian_mi`` is the same number), ``history``.
    """

    def __init__(self, map_x, map_y, ratio, history=()):
        self.map_x = map_x
        self.map_y = map_y
        self.ratio = ratio
        self.history = list(history)

    @property
    def closed_form_mi(self):
        return self.ratio.mi

    @property
    def gaussian_mi(self):
        return self.ratio.mi

    def resampler(self, x, y):
        """Bootstrap refits on rows of the pairs (x, y): a function of row indices (with
        repeats) giving the same maps and family (Gaussian, or Student-t with the same dof)
        with the ratio refitted on those rows, the margins fixed; the latents are computed
        once (the maps act row by row)."""
        u, v = self.latents(x, y)
        dof = getattr(self.ratio, "dof", np.inf)
        return lambda rows: LatentScorer(self.map_x, self.map_y, _fit_ratio(u[rows], v[rows], dof))

    def latents(self, x, y):
        """(u, v) = (map_x(x), map_y(y)) as float64 arrays."""
        x, y = (np.asarray(a, dtype=np.float32) for a in (x, y))
        x, y = (a[:, None] if a.ndim == 1 else a for a in (x, y))
        return np.asarray(self.map_x(x), np.float64), np.asarray(self.map_y(y), np.float64)

    def sample(self, size, rng):
        """[size, d] draws of the latent model (u, v side by side)."""
        return self.ratio.sample(size, rng)

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
    return LatentScorer(rank_x.transform, rank_y.transform, ratio)


def _student_scores(rank, dof):
    """The rank map with Student-t quantiles: t_dof^-1(Phi(normal score)) at every knot."""
    return RankGaussianizer(rank.knots, [stats.t.ppf(special.ndtr(scores), dof) for scores in rank.scores])


def fit_rank_elliptical(x_train, y_train, dof=np.inf, rank=None):
    """The copula scorer of one family: per-coordinate rank maps of the training pairs to
    normal scores (``dof`` inf: the ``GaussianRatio``) or to Student-t quantiles with
    ``dof`` (the ``StudentRatio``), then the ratio fitted to the mapped pairs. ``rank``:
    the (x, y) ``RankGaussianizer`` pair, when already fitted on these training pairs."""
    rank_x, rank_y = rank or (RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train))
    if np.isinf(dof):
        map_x, map_y = rank_x.transform, rank_y.transform
    else:
        map_x, map_y = _student_scores(rank_x, dof).transform, _student_scores(rank_y, dof).transform
    return LatentScorer(map_x, map_y, _fit_ratio(map_x(x_train), map_y(y_train), dof))


def _fit_ratio(u, v, dof):
    """The ``GaussianRatio`` (dof inf) or ``StudentRatio`` of the pairs (u, v)."""
    return GaussianRatio.fit(u, v) if np.isinf(dof) else StudentRatio.fit(u, v, dof)


def fit_rank_copula(x_train, y_train, x_valid, y_valid, dofs=(1, 2, 3, 5, 10, 30)):
    """The elliptical-copula scorer: a Gaussian copula, or a Student-t one when it fits the
    validation pairs clearly better.

    Gaussian: ``fit_rank_gaussian``. Student-t with each of ``dofs``: per-coordinate
    Student-t quantiles of the empirical CDF of the training data, then the
    ``StudentRatio`` fitted to the training pairs (``fit_rank_elliptical``). The
    Student-t copula with the highest
    mean log-likelihood on the validation pairs replaces the Gaussian one when it beats it
    by more than two standard errors of the per-pair difference (``history`` lists each
    candidate's dof (inf: Gaussian), validation log-likelihood, closed-form MI and mean
    log ratio on the validation pairs). Instant; a Gaussian copula covers elementwise
    monotone transforms of Gaussians, a Student-t copula those of multivariate Student-t
    (dependence through a shared scale, zero correlation included). A scorer like
    ``fit_rank_gaussian``'s, with ``closed_form_mi``; ``ratio.dof`` (absent: Gaussian)
    says which family was kept.
    """
    x_train, y_train = check_pairs(x_train, y_train, "fit_rank_copula", "x_train", "y_train")
    x_valid, y_valid = check_pairs(x_valid, y_valid, "fit_rank_copula", "x_valid", "y_valid")
    if any(not 0 < dof < np.inf for dof in dofs):
        raise ValueError(f"fit_rank_copula: dofs must be positive finite numbers, got {dofs}.")
    rank = RankGaussianizer.fit(x_train), RankGaussianizer.fit(y_train)
    candidates, history = [], []
    for dof in (np.inf, *dofs):
        scorer = fit_rank_elliptical(x_train, y_train, dof, rank)
        u, v = scorer.latents(x_valid, y_valid)
        log_likelihood = scorer.ratio.copula_log_density(np.concatenate([u, v], axis=1))
        candidates.append((log_likelihood, scorer))
        history.append(
            {
                "dof": float(dof),
                "valid_log_likelihood": float(np.mean(log_likelihood)),
                "closed_form_mi": scorer.ratio.mi,
                "valid_mi": float(np.mean(scorer.ratio.pointwise(u, v))),
            }
        )
    gaussian_terms, chosen = candidates[0]
    if len(candidates) > 1:
        terms, student = max(candidates[1:], key=lambda candidate: np.mean(candidate[0]))
        if protocol.beats(terms, gaussian_terms):
            chosen = student
    chosen.history = history
    return chosen
