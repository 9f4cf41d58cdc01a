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

Mixtures (``MIXTURE_TASKS``): Gaussian mixtures p(x, y) = sum_k w_k N([x; y]; m_k, S_k),
whose marginals are the mixtures of the blocks, so log p(x, y) - log p(x) - log p(y) is
exact (``GaussianMixture``). Their MI has no closed form: it is the Monte Carlo mean of
that log ratio over 10^6 draws (seed 0), pinned in ``MIXTURE_MI`` with its standard
error (at most 0.002 nats; bmi's own 10^5-draw values agree within theirs; tests/test_ground_truth.py recomputes it).
The mixture tasks of bmi 0.1.3 (Czyż et al., "The Mixtures and the Neural Critics",
NeurIPS 2023; ``bmi.benchmark.tasks.mixtures``: X, AI, Galaxy, Waves, Concentric,
sparse normal with inliers) keep bmi's ids and parameters, sampled here (Galaxy and
Waves are injective maps of a mixture, so the mixture's MI holds). Mixtures of this
project's own: X shapes in 2 and 5 dimensions per side (zero correlation), clusters at
high MI (64 clusters on a grid in 1 x 1, 4.1 nats; 32 at random in 2 x 2; 64 at random in 5 x 5, 4.1
nats, where full-covariance mixtures fit too few components), a scale mixture (the spread
of x set by y) and correlated pairs with wide independent outliers.
"""

import dataclasses
import zlib

import numpy as np
from scipy import special, stats

__all__ = [
    "Task",
    "gaussian_mi",
    "student_t_mi",
    "additive_uniform_mi",
    "BMI_TASKS",
    "HIGH_MI_TASKS",
    "MIXTURE_TASKS",
    "GaussianMixture",
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


# ---------------------------------------------------------------------------------------
# Mixtures


class GaussianMixture:
    """p(z) = sum_k w_k N(z; m_k, S_k) over z = [x; y], x the first ``dim_x`` coordinates;
    its marginals are the mixtures of the x and y blocks with the same weights."""

    def __init__(self, weights, means, covariances, dim_x):
        self.weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)
        self.dim_x = int(dim_x)
        self.choleskies = np.linalg.cholesky(self.covariances)

    def draw(self, n, rng):
        """(x [n, dim_x], y [n, dim_y]) drawn from the mixture."""
        labels = rng.choice(len(self.weights), size=n, p=self.weights)
        noise = rng.standard_normal((n, self.means.shape[1]))
        z = self.means[labels] + np.einsum("nij,nj->ni", self.choleskies[labels], noise)
        return _split(z, self.dim_x)

    def _log_density(self, z, block):
        parts = [np.log(w) + stats.multivariate_normal(m[block], c[block][:, block]).logpdf(z)
                 for w, m, c in zip(self.weights, self.means, self.covariances)]
        return special.logsumexp(np.stack(parts).reshape(len(parts), len(z)), axis=0)

    def log_ratio(self, x, y):
        """[n] log p(x, y) - log p(x) - log p(y) of the pairs (x_i, y_i)."""
        dim = self.means.shape[1]
        joint = self._log_density(np.concatenate([x, y], axis=1), np.arange(dim))
        return joint - self._log_density(x, np.arange(self.dim_x)) - self._log_density(y, np.arange(self.dim_x, dim))

    def monte_carlo_mi(self, n=1_000_000, seed=0, chunk=100_000):
        """(mean, standard error) of ``log_ratio`` over ``n`` draws: I(x; y) and its MC error."""
        rng = np.random.default_rng(seed)
        values = np.concatenate([self.log_ratio(*self.draw(min(chunk, n - i), rng)) for i in range(0, n, chunk)])
        return float(values.mean()), float(values.std() / np.sqrt(n))


# I(x; y) of each mixture task: GaussianMixture.monte_carlo_mi() with 10^6 draws, seed 0,
# as (mean, standard error); tests/test_ground_truth.py checks them with fresh draws.
MIXTURE_MI = {
    "1v1-X-0.9": (0.4086, 0.0007),
    "1v1-AI": (0.7774, 0.0009),
    "2v1-galaxy-0.5-3.0": (0.4944, 0.0005),
    "2v1-waves-12-5.0-3.0": (1.3066, 0.0004),
    "3v1-concentric_gaussians-3": (0.3479, 0.0006),
    "5v1-concentric_gaussians-3": (0.4934, 0.0006),
    "mult-sparse-w-inliers-5-5-2-2.0-0.2": (0.6350, 0.0012),
    "mix-x-2-2-0.9": (1.0755, 0.0012),
    "mix-x-5-5-0.9": (3.4647, 0.0020),
    "mix-grid-1-1-64": (4.1589, 0.0000),
    "mix-clusters-2-2-32": (2.0716, 0.0011),
    "mix-clusters-5-5-64": (4.1322, 0.0002),
    "mix-scale-2-1": (0.6825, 0.0007),
    "mix-outliers-3-3": (1.6108, 0.0013),
}


def _mixture_task(name, title, mixture, transform_x=None):
    def draw(n, rng):
        x, y = mixture.draw(n, rng)
        return (x if transform_x is None else transform_x(x)), y

    task = Task(name, title, mixture.dim_x, mixture.means.shape[1] - mixture.dim_x,
                MIXTURE_MI[name][0], draw)
    return task, mixture


def _canonical(rho, dim_x, dim_y=None):
    """Unit variances, corr(x_i, y_i) = rho for i < min(dim_x, dim_y), other correlations 0."""
    dim_y = dim_x if dim_y is None else dim_y
    covariance = np.eye(dim_x + dim_y)
    for i in range(min(dim_x, dim_y)):
        covariance[i, dim_x + i] = covariance[dim_x + i, i] = rho
    return covariance


def _x_shape(dim, rho=0.9, name=None, title=None):
    """X: 1/2 N(0, corr rho) + 1/2 N(0, corr -rho) on each pair (x_i, y_i): zero correlation."""
    mixture = GaussianMixture([0.5, 0.5], np.zeros((2, 2 * dim)), [_canonical(r, dim) for r in (-rho, rho)], dim)
    return _mixture_task(name or f"mix-x-{dim}-{dim}-{rho}", title or f"X {dim} × {dim}", mixture)


def _ai():
    """bmi's AI 1 x 1: six axis-aligned or tilted Gaussians drawing the letters A and I."""
    tilt = np.sqrt(0.04 * 0.2) * 0.95
    means = [[1.0, 0.0], [1.0, 1.0], [1.0, -1.0], [-0.8, -0.2], [-1.2, 0.0], [-0.4, 0.0]]
    covariances = [np.diag([0.01, 0.2]), np.diag([0.05, 0.001]), np.diag([0.05, 0.001]), np.diag([0.03, 0.001]),
                   [[0.04, tilt], [tilt, 0.2]], [[0.04, -tilt], [-tilt, 0.2]]]
    return _mixture_task("1v1-AI", "AI 1 × 1", GaussianMixture(np.ones(6), means, covariances, 1))


def _rotation_by_norm(speed):
    """x -> R(speed |x|^2) x in the plane (bmi's Spiral with generator [[0, -1], [1, 0]])."""
    def transform(x):
        angle = speed * np.sum(x**2, axis=1)
        cos, sin = np.cos(angle), np.sin(angle)
        return np.stack([cos * x[:, 0] - sin * x[:, 1], sin * x[:, 0] + cos * x[:, 1]], axis=1)
    return transform


def _galaxy(speed=0.5, distance=3.0):
    """bmi's Galaxy 2 x 1: two unit balls at +-distance/2 (1, 1, 1), x spiralled."""
    means = [np.full(3, sign * distance / 2) for sign in (-1, 1)]
    mixture = GaussianMixture([0.5, 0.5], means, [np.eye(3)] * 2, 2)
    return _mixture_task(f"2v1-galaxy-{speed}-{distance}", "Galaxy 2 × 1", mixture, _rotation_by_norm(speed))


def _waves(n_components=12, amplitude=5.0, frequency=3.0):
    """bmi's Waves 2 x 1: a row of Gaussians, x bent by a sine wave, then rescaled."""
    means = [np.array([k, 0.0, k % 4]) * 1.5 for k in range(n_components)]
    mixture = GaussianMixture(np.ones(n_components), means, [np.diag([0.1, 1.0, 0.1])] * n_components, 2)

    def transform(x):
        bent = x[:, 0] + amplitude * np.sin(frequency * x[:, 1])
        return np.stack([0.1 * bent - 0.8, 0.5 * x[:, 1]], axis=1)

    return _mixture_task(f"2v1-waves-{n_components}-{amplitude}-{frequency}", "Waves 2 × 1", mixture, transform)


def _concentric(dim_x, n_components=3):
    """bmi's Concentric d x 1: x ~ N(0, i^2 I), y ~ N(i, 0.01^2) for component i = 1..3."""
    means = [np.r_[np.zeros(dim_x), float(i)] for i in range(1, n_components + 1)]
    covariances = [np.diag([i**2] * dim_x + [1e-4]) for i in range(1, n_components + 1)]
    mixture = GaussianMixture(np.ones(n_components), means, covariances, dim_x)
    return _mixture_task(f"{dim_x}v1-concentric_gaussians-{n_components}", f"Concentric {dim_x} × 1", mixture)


def _inliers(dim, fraction=0.2):
    """bmi's sparse normal with inliers: (1 - f) N(0, C) + f N(0, C_xx (+) C_yy), C 2-pair."""
    correlation = two_pair_correlation(dim, dim)
    independent = correlation * np.kron(np.eye(2), np.ones((dim, dim)))
    mixture = GaussianMixture([1 - fraction, fraction], np.zeros((2, 2 * dim)), [correlation, independent], dim)
    return _mixture_task(f"mult-sparse-w-inliers-{dim}-{dim}-2-2.0-{fraction}",
                         f"Multinormal {dim} × {dim} (sparse, {fraction:.0%} inliers)", mixture)


def _clusters(dim, n_clusters, spread, seed):
    """n_clusters Gaussians (sd ``spread``) at random centres in [-3, 3]^(2 dim): x and y
    both name the cluster, so the MI approaches log n_clusters as the clusters separate."""
    centres = np.random.default_rng(seed).uniform(-3.0, 3.0, size=(n_clusters, 2 * dim))
    mixture = GaussianMixture(np.ones(n_clusters), centres, [np.eye(2 * dim) * spread**2] * n_clusters, dim)
    return _mixture_task(f"mix-clusters-{dim}-{dim}-{n_clusters}", f"Clusters {dim} × {dim} ({n_clusters})", mixture)


def _grid_clusters(n_clusters=64, spread=0.1, seed=1):
    """Clusters 1 x 1 at high MI: x ~ N(k, spread^2), y ~ N(pi(k), spread^2) for a cluster
    k of n_clusters, pi a fixed permutation: I = log n_clusters less a little overlap."""
    centres = np.stack([np.arange(n_clusters), np.random.default_rng(seed).permutation(n_clusters)], axis=1)
    mixture = GaussianMixture(np.ones(n_clusters), centres.astype(float), [np.eye(2) * spread**2] * n_clusters, 1)
    return _mixture_task(f"mix-grid-1-1-{n_clusters}", f"Clusters on a grid 1 × 1 ({n_clusters})", mixture)


def _scale(dim_x=2):
    """Scale mixture: y ~ N(m_k, 0.5^2) names k, which sets the spread s_k of x ~ N(0, s_k^2 I)."""
    spreads, centres = (0.25, 1.0, 4.0), (-2.0, 0.0, 2.0)
    means = [np.r_[np.zeros(dim_x), c] for c in centres]
    covariances = [np.diag([s**2] * dim_x + [0.25]) for s in spreads]
    mixture = GaussianMixture(np.ones(3), means, covariances, dim_x)
    return _mixture_task(f"mix-scale-{dim_x}-1", f"Scale mixture {dim_x} × 1", mixture)


def _outliers(dim=3, rho=0.8, fraction=0.15, spread=5.0):
    """Correlated pairs (rho on each (x_i, y_i)) with a share of wide independent outliers."""
    covariances = [_canonical(rho, dim), np.eye(2 * dim) * spread**2]
    mixture = GaussianMixture([1 - fraction, fraction], np.zeros((2, 2 * dim)), covariances, dim)
    return _mixture_task(f"mix-outliers-{dim}-{dim}", f"Outliers {dim} × {dim} ({fraction:.0%})", mixture)


def _mixture_tasks():
    """(task, mixture) of each mixture task: bmi's, then this project's own."""
    bmi = [_x_shape(1, name="1v1-X-0.9", title="X 1 × 1"), _ai(), _galaxy(), _waves(), _concentric(3),
           _concentric(5), _inliers(5)]
    own = [_x_shape(2), _x_shape(5), _grid_clusters(), _clusters(2, 32, 0.3, seed=2), _clusters(5, 64, 0.3, seed=3),
           _scale(), _outliers()]
    return bmi + own


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
MIXTURES = {task.name: mixture for task, mixture in _mixture_tasks()}  # the exact densities
MIXTURE_TASKS = tuple(task for task, _ in _mixture_tasks())
TASKS = {task.name: task for task in BMI_TASKS + HIGH_MI_TASKS + MIXTURE_TASKS}


def get_task(name):
    """The task called ``name`` (a key of ``TASKS``)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose from {sorted(TASKS)}")
    return TASKS[name]
