r"""Distributions with exact mutual information: the 40 tasks of "Beyond Normal" and tasks
above log(batch), sampled with NumPy.

The 40 tasks of benchmark-mi 0.1.3 (``bmi.benchmark.BENCHMARK_TASKS_LIST``; Czyż et al.,
"Beyond Normal: On the Evaluation of Mutual Information Estimators", NeurIPS 2023) keep
bmi's task ids, names and parameters; the samplers are this module's own (the same
distributions, not bmi's random streams). Every MI value is a closed form, as in bmi (none
of these 40 is estimated numerically there): bmi's ``mutual_information()`` returns the same
numbers (tests/test_ground_truth.py pins them), up to bmi's float32 evaluation of the
additive-noise formula (1.7094379663 for eps = 0.1, exactly 0.1 - log 0.2 = 1.7094379124).

Base distributions:

- Multivariate normal (x, y) ~ N(0, Sigma), Sigma = [[S_xx, S_xy], [S_yx, S_yy]]:

      I(x; y) = 1/2 (log det S_xx + log det S_yy - log det Sigma).

  "dense": unit variances, every correlation ``off_diag`` = 0.5. "2-pair" (bmi's sparse
  latent-variable model with 2 interacting pairs, strength 2): corr(x_i, y_i) =
  4 / (1 + 4) = 0.8 for i < 2, all other correlations 0, so I = -log(1 - 0.8^2) = 1.0217.
  Bivariate normal: correlation 0.75, I = -1/2 log(1 - 0.75^2) = 0.4133.
- Multivariate Student-t with dispersion Sigma and ``df`` degrees of freedom,
  (x, y) = z / sqrt(w / df), z ~ N(0, Sigma), w ~ chi2(df) (Arellano-Valle et al. 2013):

      I(x; y) = I_normal(Sigma) + h(d_x) + h(d_y) - h(d_x + d_y),
      h(k) = log Gamma(df/2) - log Gamma((df + k)/2) + k/2 log(df pi)
             + (df + k)/2 (psi((df + k)/2) - psi(df/2)),

  h(k) the differential entropy of a standard k-dimensional Student-t. bmi's tasks use
  the identity dispersion, so only the correction term remains.
- Additive uniform noise: x ~ U(0, 1), y = x + n, n ~ U(-eps, eps):

      I(x; y) = eps - log(2 eps)  (eps <= 1/2),   1 / (4 eps)  (eps > 1/2).

Transforms. Mutual information is invariant under injective smooth maps of x and of y,
I(f(x); g(y)) = I(x; y), so the transformed tasks keep the MI of their base:

- normal CDF Phi applied coordinate-wise (uniform margins on (0, 1));
- half-cube x |x|^(1/2); asinh;
- wiggly (1-d, strictly increasing): x + 0.4 sin x + 0.2 sin(1.7x + 1) + 0.03 sin(3.3x - 2.5)
  for x and y - 0.4 sin 0.4y + 0.17 sin(1.3y + 3.5) + 0.02 sin(4.3y - 2.5) for y;
- bimodal (1-d): the uniform u = Phi(z) mapped through the inverse CDFs of the mixtures
  0.3 N(0, 1) + 0.7 N(5, 1) (x) and 0.5 N(-1, 1) + 0.5 N(3, 1) (y);
- spiral: v -> R(|v|^2 / d) v, R(t) the rotation by angle t in the plane of coordinates
  (0, 1) for x and (1, 2) for y (bmi's ``Spiral`` with speed 1 / d); invertible because
  the rotation keeps |v|;
- Swiss roll (x only, 1 -> 2 dims): u in (0, 1), t = 1.5 pi (1 + 2u),
  x = (t cos t, t sin t) / 21.

Above log(batch): x ~ N(0, I_20), y = rho x + sqrt(1 - rho^2) eps, so
I = -10 log(1 - rho^2), with rho set for 6, 8 and 10 nats
(``tfmi.data.gaussians.rho_from_mi``); InfoNCE on batches of 256 cannot exceed
log 256 = 5.5 nats.
"""

import dataclasses
import zlib

import numpy as np
from scipy import special

__all__ = [
    "Task",
    "gaussian_mi",
    "student_t_mi",
    "additive_uniform_mi",
    "BMI_TASKS",
    "HIGH_MI_TASKS",
    "TASKS",
    "get_task",
]


@dataclasses.dataclass(frozen=True)
class Task:
    """A joint distribution of (x, y) with exact I(x; y).

    Attributes:
      name: the task id (bmi's id for bmi's tasks).
      title: a readable name (bmi's task name for bmi's tasks).
      dim_x, dim_y: dimensions of x and y.
      mi: the exact mutual information in nats.
      draw: ``draw(n, rng) -> (x [n, dim_x], y [n, dim_y])`` float64 samples.
    """

    name: str
    title: str
    dim_x: int
    dim_y: int
    mi: float
    draw: object = dataclasses.field(repr=False, compare=False)

    def sample(self, n, seed=0):
        """``n`` pairs (x, y) as float64 arrays; the same (task, n, seed) gives the same samples."""
        rng = np.random.default_rng([int(seed), zlib.crc32(self.name.encode())])
        x, y = self.draw(int(n), rng)
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)


# ---------------------------------------------------------------------------------------
# Closed forms


def gaussian_mi(covariance, dim_x):
    """I(x; y) of (x, y) ~ N(mu, covariance), x the first ``dim_x`` coordinates:
    1/2 (log det S_xx + log det S_yy - log det Sigma)."""
    covariance = np.asarray(covariance, dtype=np.float64)
    logdet = lambda matrix: np.linalg.slogdet(matrix)[1]  # noqa: E731
    return 0.5 * (logdet(covariance[:dim_x, :dim_x]) + logdet(covariance[dim_x:, dim_x:])
                  - logdet(covariance))


def student_t_entropy(k, df):
    """Differential entropy of the standard k-dimensional Student-t with ``df`` degrees of freedom."""
    half = 0.5 * (df + k)
    return (special.gammaln(0.5 * df) - special.gammaln(half) + 0.5 * k * np.log(df * np.pi)
            + half * (special.digamma(half) - special.digamma(0.5 * df)))


def student_t_mi(dispersion, dim_x, df):
    """I(x; y) of the multivariate Student-t: I_normal(dispersion) + h(d_x) + h(d_y) - h(d)."""
    dim = len(dispersion)
    correction = (student_t_entropy(dim_x, df) + student_t_entropy(dim - dim_x, df)
                  - student_t_entropy(dim, df))
    return gaussian_mi(dispersion, dim_x) + correction


def additive_uniform_mi(epsilon):
    """I(x; x + n), x ~ U(0, 1), n ~ U(-eps, eps): eps - log(2 eps) if eps <= 1/2, else 1/(4 eps)."""
    return epsilon - np.log(2 * epsilon) if epsilon <= 0.5 else 0.25 / epsilon


# ---------------------------------------------------------------------------------------
# Base samplers


def _split(xy, dim_x):
    return xy[:, :dim_x], xy[:, dim_x:]


def multinormal(covariance, dim_x, name, title):
    """(x, y) ~ N(0, covariance)."""
    covariance = np.asarray(covariance, dtype=np.float64)
    cholesky = np.linalg.cholesky(covariance)

    def draw(n, rng):
        return _split(rng.standard_normal((n, len(covariance))) @ cholesky.T, dim_x)

    return Task(name, title, dim_x, len(covariance) - dim_x, float(gaussian_mi(covariance, dim_x)), draw)


def student_t(dispersion, dim_x, df, name, title):
    """(x, y) = z / sqrt(w / df), z ~ N(0, dispersion), w ~ chi2(df)."""
    dispersion = np.asarray(dispersion, dtype=np.float64)
    cholesky = np.linalg.cholesky(dispersion)

    def draw(n, rng):
        z = rng.standard_normal((n, len(dispersion))) @ cholesky.T
        return _split(z / np.sqrt(rng.chisquare(df, size=(n, 1)) / df), dim_x)

    mi = float(student_t_mi(dispersion, dim_x, df))
    return Task(name, title, dim_x, len(dispersion) - dim_x, mi, draw)


def additive_uniform(epsilon):
    """bmi's "Uniform 1 x 1 (additive noise=eps)": x ~ U(0, 1), y = x + U(-eps, eps)."""

    def draw(n, rng):
        x = rng.uniform(0.0, 1.0, size=(n, 1))
        return x, x + rng.uniform(-epsilon, epsilon, size=(n, 1))

    return Task(f"1v1-additive-{epsilon}", f"Uniform 1 × 1 (additive noise={epsilon})", 1, 1,
                float(additive_uniform_mi(epsilon)), draw)


def dense_covariance(dim_x, dim_y, off_diag=0.5):
    """Unit variances, every correlation ``off_diag``."""
    return np.eye(dim_x + dim_y) * (1 - off_diag) + off_diag


def two_pair_correlation(dim_x, dim_y, n_interacting=2, strength=2.0):
    """bmi's sparse model: corr(x_i, y_i) = strength^2 / (1 + strength^2) for i < n_interacting."""
    correlation = np.eye(dim_x + dim_y)
    rho = strength**2 / (1.0 + strength**2)
    for i in range(n_interacting):
        correlation[i, dim_x + i] = correlation[dim_x + i, i] = rho
    return correlation


# ---------------------------------------------------------------------------------------
# Transforms (injective, so I(f(x); g(y)) = I(x; y))


def transformed(base, transform_x, transform_y, prefix, title_prefix, dim_x=None):
    """The task of (transform_x(x), transform_y(y)), named "<prefix>-<base name>"."""

    def draw(n, rng):
        x, y = base.draw(n, rng)
        return transform_x(x), transform_y(y)

    return Task(f"{prefix}-{base.name}", f"{title_prefix} @ {base.title}", dim_x or base.dim_x,
                base.dim_y, base.mi, draw)


def normal_cdf(v):
    """Phi(v) coordinate-wise."""
    return special.ndtr(v)


def half_cube(v):
    """v |v|^(1/2), a signed v^(3/2)."""
    return v * np.sqrt(np.abs(v))


def wiggly_x(v):
    return v + 0.4 * np.sin(v) + 0.2 * np.sin(1.7 * v + 1) + 0.03 * np.sin(3.3 * v - 2.5)


def wiggly_y(v):
    return v - 0.4 * np.sin(0.4 * v) + 0.17 * np.sin(1.3 * v + 3.5) + 0.02 * np.sin(4.3 * v - 2.5)


def mixture_inverse_cdf(u, weights, means, low=-10.0, high=10.0, iterations=60):
    """The inverse CDF of sum_k w_k N(m_k, 1) at ``u``, by bisection on [low, high]."""
    cdf = lambda v: sum(w * special.ndtr(v - m) for w, m in zip(weights, means))  # noqa: E731
    low, high = np.full_like(u, low), np.full_like(u, high)
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        below = cdf(middle) < u
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    return 0.5 * (low + high)


def spiral(plane):
    """v -> R(|v|^2 / d) v, R(t) the rotation by t in the coordinate plane ``plane`` = (i, j)."""
    i, j = plane

    def transform(v):
        angle = np.sum(v**2, axis=1) / v.shape[1]
        cos, sin = np.cos(angle), np.sin(angle)
        out = v.copy()
        out[:, i] = cos * v[:, i] - sin * v[:, j]
        out[:, j] = sin * v[:, i] + cos * v[:, j]
        return out

    return transform


def swissroll(u):
    """u in (0, 1) -> (t cos t, t sin t) / 21, t = 1.5 pi (1 + 2u)."""
    t = 1.5 * np.pi * (1 + 2 * u[:, 0])
    return np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 21.0


def normal_cdfise(base):
    return transformed(base, normal_cdf, normal_cdf, "normal_cdf", "Normal CDF")


def half_cubify(base):
    return transformed(base, half_cube, half_cube, "half_cube", "Half-cube")


def asinhify(base):
    return transformed(base, np.arcsinh, np.arcsinh, "asinh", "Asinh")


def spiralise(base):
    return transformed(base, spiral((0, 1)), spiral((1, 2)), "spiral", "Spiral")


# ---------------------------------------------------------------------------------------
# The suite


def _bivariate_normal(rho=0.75):
    return multinormal([[1.0, rho], [rho, 1.0]], 1, f"1v1-normal-{rho}", "Bivariate normal 1 × 1")


def _dense(dim):
    return multinormal(dense_covariance(dim, dim), dim, f"multinormal-dense-{dim}-{dim}-0.5",
                       f"Multinormal {dim} × {dim} (dense)")


def _two_pair(dim):
    return multinormal(two_pair_correlation(dim, dim), dim, f"multinormal-sparse-{dim}-{dim}-2-2.0",
                       f"Multinormal {dim} × {dim} (2-pair)")


def _student(dim, df):
    return student_t(np.eye(2 * dim), dim, df, f"student-identity-{dim}-{dim}-{df}",
                     f"Student-t {dim} × {dim} (dof={df})")


def _bimodal(rho=0.75):
    uniform = normal_cdfise(_bivariate_normal(rho))

    def draw(n, rng):
        u, v = uniform.draw(n, rng)
        return mixture_inverse_cdf(u, (0.3, 0.7), (0.0, 5.0)), mixture_inverse_cdf(v, (0.5, 0.5), (-1.0, 3.0))

    return Task(f"1v1-bimodal-{rho}", "Bimodal 1 × 1", 1, 1, uniform.mi, draw)


def _swissroll():
    base = normal_cdfise(_bivariate_normal())
    task = transformed(base, swissroll, lambda v: v, "swissroll_x", "Swiss roll", dim_x=2)
    return dataclasses.replace(task, title="Swiss roll 2 × 1")


def _high_mi_gaussian(dim, mi):
    """x ~ N(0, I_dim), y = rho x + sqrt(1 - rho^2) eps with I = -dim/2 log(1 - rho^2) = ``mi``."""
    rho = np.sqrt(1.0 - np.exp(-2.0 * mi / dim))
    covariance = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    return multinormal(covariance, dim, f"multinormal-corr-{dim}-{dim}-{mi:g}nats",
                       f"Multinormal {dim} × {dim} ({mi:g} nats)")


def _bmi_tasks():
    """The 40 tasks of bmi 0.1.3's BENCHMARK_TASKS_LIST, in its order."""
    binormal = _bivariate_normal()
    bistudent = _student(1, 1)
    one_dim = [
        binormal, normal_cdfise(binormal), additive_uniform(0.1), additive_uniform(0.75), _bimodal(),
        transformed(binormal, wiggly_x, wiggly_y, "wiggly", "Wiggly"), half_cubify(binormal),
        bistudent, asinhify(bistudent),
    ]
    multi = [_dense(d) for d in (2, 3, 5, 25, 50)] + [_two_pair(d) for d in (2, 3, 5, 25)]
    students = [_student(d, df) for d, df in ((2, 1), (2, 2), (3, 2), (3, 3), (5, 2), (5, 3))]
    pairs = [_two_pair(d) for d in (3, 5, 25)]
    transformed_tasks = (
        [normal_cdfise(t) for t in pairs] + [half_cubify(t) for t in pairs] + [spiralise(t) for t in pairs]
        + [spiralise(normal_cdfise(t)) for t in pairs]
        + [asinhify(_student(d, df)) for d, df in ((2, 1), (3, 2), (5, 2))]
    )
    return one_dim + [_swissroll()] + multi + students + transformed_tasks


BMI_TASKS = tuple(_bmi_tasks())
HIGH_MI_TASKS = tuple(_high_mi_gaussian(20, mi) for mi in (6.0, 8.0, 10.0))
TASKS = {task.name: task for task in BMI_TASKS + HIGH_MI_TASKS}


def get_task(name):
    """The task called ``name`` (a key of ``TASKS``)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]
