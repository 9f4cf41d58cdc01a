r"""Distributions of (x, y, z) with exact conditional mutual information I(x; y | z),
sampled with NumPy: the tasks of tools/bench_cmi.py.

    I(x; y | z) = E[log p(x, y, z) + log p(z) - log p(x, z) - log p(y, z)]
                = I(x; (y, z)) - I(x; z).

Families (``CMITask.group``):

- "gaussian": (x, y, z) ~ N(0, S), built as z ~ N(0, T) with T_ij = 0.5^|i-j|,
  x = A z + e_x, y = B z + e_y, e_x and e_y of unit variance with corr(e_x_i, e_y_i) = rho
  for i < k = min(d_x, d_y) and no other correlation. Given z, (x, y) is (e_x, e_y)
  shifted, so

      I(x; y | z) = I(e_x; e_y) = -k/2 log(1 - rho^2),

  rho chosen for the stated nats; the general formula
  1/2 (log det S_xz + log det S_yz - log det S_z - log det S_xyz) (``gaussian_cmi``) gives
  the same number. A and B share their rows (each of norm 2), so x and y are strongly
  dependent through z whatever the CMI.
- "independent": I(x; y | z) = 0 exactly, with strong marginal dependence: the Gaussian
  construction with rho = 0; x = f(z) + noise, y = g(z) + noise with nonlinear f, g and
  independent noises (1-d and 5-d z); x and y scaled by the same function of z.
- "copula": a Gaussian task with every coordinate of x, y and z mapped by a strictly
  increasing function (Phi, v |v|^(1/2), exp, v^3); such maps leave I(x; y | z) unchanged.
- "student": (x, y, z) = g / sqrt(w / df), g ~ N(0, S) as in "gaussian", w ~ chi2(df):

      I(x; y | z) = I(x; (y, z)) - I(x; z),

  each term the multivariate Student-t MI of ``ground_truth.student_t_mi`` (the Gaussian
  MI of the dispersion plus the Student-t correction), so the CMI is the Gaussian CMI of S
  plus h(d_x + d_z) + h(d_y + d_z) - h(d_z) - h(d_x + d_y + d_z), h(k) the entropy of the
  standard k-dimensional t. The shared scale w makes x and y dependent given z even when
  the Gaussian part is 0.
- "mixture": Gaussian mixtures over (x, y, z) (``ConditionalGaussianMixture``), whose
  block marginals are mixtures, so the log ratio above is exact; the CMI is its Monte Carlo
  mean over 10^6 draws (seed 0), pinned in ``MONTE_CARLO_CMI`` with its standard error.
- "link": x and y dependent through z and a direct link: z ~ N(0, I_3), x = f(z) + s_x e_x,
  y = g(z) + c l(x) + s_y e_y. With l(x) = x, (x, y) given z is Gaussian and
  I(x; y | z) = 1/2 log(1 + c^2 s_x^2 / s_y^2). With l(x) = tanh(2x), p(y | x, z) is exact
  and p(y | z) = E_u[N(y; g(z) + c l(f(z) + s_x u), s_y^2)], u ~ N(0, 1), a 1-d integral
  taken by the trapezoidal rule (exponentially accurate for this smooth, fast-decaying
  integrand); the CMI E[log p(y | x, z) - log p(y | z)] is pinned by Monte Carlo.

Task names follow the MI suite's: "<family>-<d_x>-<d_y>-z<d_z>-<parameter>", a transform's
name in front of its base's ("normal_cdf-normal-1-1-z1-0.5nats").
"""

import dataclasses
import zlib

import numpy as np
from scipy import special

from tfmi.data import ground_truth

__all__ = [
    "CMITask",
    "gaussian_cmi",
    "student_t_cmi",
    "rho_for_cmi",
    "conditional_covariance",
    "ConditionalGaussianMixture",
    "tanh_link",
    "link_log_ratio",
    "monte_carlo_cmi",
    "MONTE_CARLO_CMI",
    "MIXTURES",
    "CMI_TASKS",
    "CMI_GROUPS",
    "QUICK_CMI_TASKS",
    "get_cmi_task",
]


@dataclasses.dataclass(frozen=True)
class CMITask:
    """A joint distribution of (x, y, z) with exact I(x; y | z).

    Attributes:
      name, title: the task id and a readable name.
      group: its family ("gaussian", "independent", "copula", "student", "mixture", "link").
      dim_x, dim_y, dim_z: dimensions of x, y and z.
      cmi: the exact conditional mutual information in nats.
      draw: ``draw(n, rng) -> (x, y, z)`` float64 samples.
    """

    name: str
    title: str
    group: str
    dim_x: int
    dim_y: int
    dim_z: int
    cmi: float
    draw: object = dataclasses.field(repr=False, compare=False)

    def sample(self, n, seed=0):
        """``n`` triples (x, y, z) as float64 arrays; the same (task, n, seed) gives the same samples."""
        rng = np.random.default_rng([int(seed), zlib.crc32(self.name.encode())])
        return tuple(np.asarray(v, dtype=np.float64) for v in self.draw(int(n), rng))


def _split(xyz, dim_x, dim_y):
    return xyz[:, :dim_x], xyz[:, dim_x:dim_x + dim_y], xyz[:, dim_x + dim_y:]


# ---------------------------------------------------------------------------------------
# Closed forms


def gaussian_cmi(covariance, dim_x, dim_y):
    """I(x; y | z) of (x, y, z) ~ N(mu, covariance), x the first ``dim_x`` coordinates, y the
    next ``dim_y``: 1/2 (log det S_xz + log det S_yz - log det S_z - log det S_xyz)."""
    covariance = np.asarray(covariance, dtype=np.float64)
    x, y = np.arange(dim_x), np.arange(dim_x, dim_x + dim_y)
    z = np.arange(dim_x + dim_y, len(covariance))

    def logdet(*blocks):
        index = np.concatenate(blocks)
        return np.linalg.slogdet(covariance[np.ix_(index, index)])[1] if len(index) else 0.0

    return 0.5 * (logdet(x, z) + logdet(y, z) - logdet(z) - logdet(x, y, z))


def student_t_cmi(dispersion, dim_x, dim_y, df):
    """I(x; y | z) of the multivariate Student-t: I(x; (y, z)) - I(x; z)."""
    dispersion = np.asarray(dispersion, dtype=np.float64)
    xz = np.r_[np.arange(dim_x), np.arange(dim_x + dim_y, len(dispersion))]
    return (ground_truth.student_t_mi(dispersion, dim_x, df)
            - ground_truth.student_t_mi(dispersion[np.ix_(xz, xz)], dim_x, df))


def rho_for_cmi(cmi, pairs):
    """The correlation rho of ``pairs`` noise pairs with -pairs/2 log(1 - rho^2) = ``cmi``."""
    return np.sqrt(-np.expm1(-2.0 * cmi / pairs))


def conditional_covariance(dim_x, dim_y, dim_z, rho, strength=2.0, z_correlation=0.5, seed=0):
    """Covariance of (x, y, z) for z ~ N(0, T), T_ij = z_correlation^|i-j|, x = A z + e_x,
    y = B z + e_y; e_x, e_y unit variance, corr(e_x_i, e_y_i) = rho for i < min(d_x, d_y).
    A and B are the first rows of one random matrix whose rows have norm ``strength``."""
    index = np.arange(dim_z)
    t = z_correlation ** np.abs(index[:, None] - index[None, :])
    loadings = np.random.default_rng(seed).standard_normal((max(dim_x, dim_y), dim_z))
    loadings *= strength / np.linalg.norm(loadings, axis=1, keepdims=True)
    a, b = loadings[:dim_x], loadings[:dim_y]
    noise_xy = rho * np.eye(dim_x, dim_y)
    return np.block([
        [a @ t @ a.T + np.eye(dim_x), a @ t @ b.T + noise_xy, a @ t],
        [b @ t @ a.T + noise_xy.T, b @ t @ b.T + np.eye(dim_y), b @ t],
        [t @ a.T, t @ b.T, t],
    ])


# ---------------------------------------------------------------------------------------
# Gaussian, copula and Student-t tasks


def _normal(dim_x, dim_y, dim_z, cmi, group="gaussian"):
    """The "gaussian" construction with I(x; y | z) = ``cmi``."""
    pairs = min(dim_x, dim_y)
    covariance = conditional_covariance(dim_x, dim_y, dim_z, rho_for_cmi(cmi, pairs))
    cholesky = np.linalg.cholesky(covariance)

    def draw(n, rng):
        return _split(rng.standard_normal((n, len(covariance))) @ cholesky.T, dim_x, dim_y)

    return CMITask(f"normal-{dim_x}-{dim_y}-z{dim_z}-{cmi:g}nats",
                   f"Normal {dim_x} × {dim_y} | {dim_z} ({cmi:g} nats)", group, dim_x, dim_y, dim_z, float(cmi), draw)


def _transformed(base, transforms, prefix, title):
    """The task of (f_x(x), f_y(y), f_z(z)) for strictly increasing coordinate maps: the same CMI."""

    def draw(n, rng):
        return tuple(transform(v) for transform, v in zip(transforms, base.draw(n, rng)))

    return dataclasses.replace(base, name=f"{prefix}-{base.name}", title=f"{title} @ {base.title}", group="copula",
                               draw=draw)


def _copula(base, transform, prefix, title):
    return _transformed(base, (transform,) * 3, prefix, title)


def _student(dim_x, dim_y, dim_z, gaussian_part, df):
    """(x, y, z) = g / sqrt(w / df), g ~ N(0, S) of the "gaussian" construction with
    Gaussian CMI ``gaussian_part``, w ~ chi2(df)."""
    dispersion = conditional_covariance(dim_x, dim_y, dim_z, rho_for_cmi(gaussian_part, min(dim_x, dim_y)))
    cholesky = np.linalg.cholesky(dispersion)

    def draw(n, rng):
        g = rng.standard_normal((n, len(dispersion))) @ cholesky.T
        return _split(g / np.sqrt(rng.chisquare(df, size=(n, 1)) / df), dim_x, dim_y)

    return CMITask(f"student-{dim_x}-{dim_y}-z{dim_z}-df{df}",
                   f"Student-t {dim_x} × {dim_y} | {dim_z} (dof={df}, Gaussian part {gaussian_part:g} nats)",
                   "student", dim_x, dim_y, dim_z, float(student_t_cmi(dispersion, dim_x, dim_y, df)), draw)


# ---------------------------------------------------------------------------------------
# Conditionally independent tasks (CMI exactly 0)


def _nonlinear_independent(dim_x, dim_y, dim_z, noise=0.3, seed=0):
    """x = f(z) + noise, y = g(z) + noise, f and g nonlinear in the same random
    projections of z: x and y strongly dependent, independent given z."""
    weights = np.random.default_rng(seed).standard_normal((max(dim_x, dim_y), dim_z)) / np.sqrt(dim_z)

    def draw(n, rng):
        z = rng.standard_normal((n, dim_z))
        projections = z @ weights.T
        x = np.sin(2 * projections[:, :dim_x]) + projections[:, :dim_x]
        y = np.tanh(2 * projections[:, :dim_y]) + 0.5 * projections[:, :dim_y] ** 2
        return (x + noise * rng.standard_normal((n, dim_x)), y + noise * rng.standard_normal((n, dim_y)), z)

    return CMITask(f"independent-nonlinear-{dim_x}-{dim_y}-z{dim_z}",
                   f"Nonlinear, independent given z {dim_x} × {dim_y} | {dim_z}", "independent",
                   dim_x, dim_y, dim_z, 0.0, draw)


def _scale_independent():
    """x = s(z) e_x, y = s(z) e_y, s(z) = 0.2 + |z|: uncorrelated, dependent through their
    common spread, independent given z."""

    def draw(n, rng):
        z = rng.standard_normal((n, 1))
        spread = 0.2 + np.abs(z)
        return spread * rng.standard_normal((n, 1)), spread * rng.standard_normal((n, 1)), z

    return CMITask("independent-scale-1-1-z1", "Common spread, independent given z 1 × 1 | 1", "independent",
                   1, 1, 1, 0.0, draw)


# ---------------------------------------------------------------------------------------
# Nonlinear in z with additive noise (closed form)


def _additive(dim, dim_z, cmi, heteroscedastic=False, seed=1):
    """x = f(W z) + s(z) e_x, y = g(W z) + s(z) e_y, f and g nonlinear, corr(e_x_i, e_y_i) =
    rho on each of ``dim`` pairs: given z, (x, y) is a Gaussian around (f, g) whose
    correlation does not depend on z (a common scale s(z) = 0.5 + |z_1| / 2 when
    ``heteroscedastic``, else 1), so I(x; y | z) = -dim/2 log(1 - rho^2) = ``cmi``."""
    rho = rho_for_cmi(cmi, dim)
    weights = np.random.default_rng(seed).standard_normal((dim, dim_z)) / np.sqrt(dim_z)

    def draw(n, rng):
        z = rng.standard_normal((n, dim_z))
        projections = z @ weights.T
        scale = 0.5 + np.abs(z[:, :1]) / 2 if heteroscedastic else 1.0
        e_x = rng.standard_normal((n, dim))
        e_y = rho * e_x + np.sqrt(1 - rho**2) * rng.standard_normal((n, dim))
        x = np.sin(2 * projections) + projections**2 / 2 + 0.5 * scale * e_x
        y = 2 * np.cos(projections) + np.abs(projections) + 0.5 * scale * e_y
        return x, y, z

    kind = "additive-hetero" if heteroscedastic else "additive"
    title = "heteroscedastic noise" if heteroscedastic else "additive noise"
    return CMITask(f"{kind}-{dim}-{dim}-z{dim_z}-{cmi:g}nats", f"Nonlinear in z, {title} {dim} × {dim} | {dim_z}",
                   "additive", dim, dim, dim_z, float(cmi), draw)


# ---------------------------------------------------------------------------------------
# Monte Carlo truths


def monte_carlo_cmi(draw, log_ratio, n=1_000_000, seed=0, chunk=100_000):
    """(mean, standard error) of ``log_ratio(x, y, z)`` over ``n`` triples of ``draw(n, rng)``."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([log_ratio(*draw(min(chunk, n - i), rng)) for i in range(0, n, chunk)])
    return float(values.mean()), float(values.std() / np.sqrt(n))


class ConditionalGaussianMixture(ground_truth.GaussianMixture):
    """p(x, y, z) = sum_k w_k N([x; y; z]; m_k, S_k); each block's marginal is the mixture
    of that block with the same weights, so every density of the CMI's log ratio is exact."""

    def __init__(self, weights, means, covariances, dim_x, dim_y):
        super().__init__(weights, means, covariances, dim_x)
        self.dim_y = int(dim_y)

    def draw_xyz(self, n, rng):
        """(x, y, z) drawn from the mixture."""
        x, yz = self.draw(n, rng)
        return x, yz[:, :self.dim_y], yz[:, self.dim_y:]

    def log_ratio_xyz(self, x, y, z):
        """[n] log p(x, y, z) + log p(z) - log p(x, z) - log p(y, z)."""
        dim = self.means.shape[1]
        xs, ys = np.arange(self.dim_x), np.arange(self.dim_x, self.dim_x + self.dim_y)
        zs = np.arange(self.dim_x + self.dim_y, dim)
        density = lambda block, *parts: self._log_density(np.concatenate(parts, axis=1), block)  # noqa: E731
        return (density(np.arange(dim), x, y, z) + density(zs, z)
                - density(np.r_[xs, zs], x, z) - density(np.r_[ys, zs], y, z))


# I(x; y | z) of the Monte Carlo tasks: monte_carlo_cmi(...) with 10^6 draws, seed 0, as
# (mean, standard error); tests/test_cmi_ground_truth.py recomputes them with fresh draws.
MONTE_CARLO_CMI = {
    "mixture-sign-1-1-z1": (0.7955, 0.0009),
    "mixture-strength-1-1-z1": (0.4570, 0.0008),
    "mixture-clusters-2-2-z2": (0.3425, 0.0007),
    "mixture-outliers-2-2-z3": (0.8907, 0.0011),
    "link-tanh-1-1-z3": (0.3909, 0.0007),
}


def _mixture_task(name, title, mixture):
    task = CMITask(name, title, "mixture", mixture.dim_x, mixture.dim_y,
                   mixture.means.shape[1] - mixture.dim_x - mixture.dim_y, MONTE_CARLO_CMI[name][0],
                   mixture.draw_xyz)
    return task, mixture


def _sign_mixture(rho=0.9, shift=2.0):
    """z ~ N(+-shift, 1) names the sign of corr(x, y) = +-rho: an X shape that z resolves."""
    means = [[0.0, 0.0, sign * shift] for sign in (-1, 1)]
    covariances = [[[1.0, sign * rho, 0.0], [sign * rho, 1.0, 0.0], [0.0, 0.0, 1.0]] for sign in (-1, 1)]
    mixture = ConditionalGaussianMixture([0.5, 0.5], means, covariances, 1, 1)
    return _mixture_task("mixture-sign-1-1-z1", "Sign set by z 1 × 1 | 1", mixture)


def _strength_mixture():
    """z ~ N(m_k, 1), m_k in (-3, 0, 3), names how strongly x and y correlate (0, 0.6, 0.95)
    and shifts both means with it."""
    components = ((-3.0, 0.0), (0.0, 0.6), (3.0, 0.95))
    means = [[m / 3, m / 3, m] for m, _ in components]
    covariances = [[[1.0, r, 0.0], [r, 1.0, 0.0], [0.0, 0.0, 1.0]] for _, r in components]
    mixture = ConditionalGaussianMixture(np.ones(3), means, covariances, 1, 1)
    return _mixture_task("mixture-strength-1-1-z1", "Strength set by z 1 × 1 | 1", mixture)


def _cluster_mixture(n_clusters=8, spread=0.6, seed=3):
    """``n_clusters`` isotropic Gaussians at random centres in [-3, 3]^6: x, y and z each
    point to the cluster; what z leaves unresolved links x and y."""
    centres = np.random.default_rng(seed).uniform(-3.0, 3.0, size=(n_clusters, 6))
    mixture = ConditionalGaussianMixture(np.ones(n_clusters), centres, [np.eye(6) * spread**2] * n_clusters, 2, 2)
    return _mixture_task("mixture-clusters-2-2-z2", f"Clusters 2 × 2 | 2 ({n_clusters})", mixture)


def _outlier_mixture(fraction=0.15, spread=3.0):
    """The 1-nat Gaussian task 2 × 2 | 3 with a share of wide, independent outliers."""
    covariances = [conditional_covariance(2, 2, 3, rho_for_cmi(1.0, 2)), np.eye(7) * spread**2]
    mixture = ConditionalGaussianMixture([1 - fraction, fraction], np.zeros((2, 7)), covariances, 2, 2)
    return _mixture_task("mixture-outliers-2-2-z3", f"Gaussian 2 × 2 | 3 with {fraction:.0%} outliers", mixture)


# ---------------------------------------------------------------------------------------
# x and y linked through z and directly


LINK = {"noise_x": 0.5, "noise_y": 0.5, "strength": 1.5}


def _link_means(z):
    """f(z), g(z) of the link tasks."""
    f = np.sin(2 * z[:, 0]) + 0.5 * z[:, 1] * z[:, 2]
    g = np.cos(z[:, 0]) + 0.5 * z[:, 1] ** 2 - z[:, 2]
    return f, g


def _link_draw(link):
    def draw(n, rng):
        z = rng.standard_normal((n, 3))
        f, g = _link_means(z)
        x = f + LINK["noise_x"] * rng.standard_normal(n)
        y = g + LINK["strength"] * link(x) + LINK["noise_y"] * rng.standard_normal(n)
        return x[:, None], y[:, None], z

    return draw


def tanh_link(x):
    """l(x) = tanh(2x), the direct link of "link-tanh-1-1-z3"."""
    return np.tanh(2 * x)


def _log_normal(v, mean, sd):
    return -0.5 * ((v - mean) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))


def link_log_ratio(x, y, z, link=tanh_link, nodes=321, width=8.0):
    """[n] log p(y | x, z) - log p(y | z) of the link task with direct link ``link``; p(y | z)
    by the trapezoidal rule over u in [-width, width] with ``nodes`` points."""
    f, g = _link_means(z)
    x, y = x[:, 0], y[:, 0]
    u, step = np.linspace(-width, width, nodes, retstep=True)
    means = g[:, None] + LINK["strength"] * link(f[:, None] + LINK["noise_x"] * u)
    log_y_given_z = special.logsumexp(_log_normal(y[:, None], means, LINK["noise_y"]) + _log_normal(u, 0.0, 1.0),
                                      axis=1) + np.log(step)
    return _log_normal(y, g + LINK["strength"] * link(x), LINK["noise_y"]) - log_y_given_z


def _link_tasks():
    ratio = LINK["strength"] * LINK["noise_x"] / LINK["noise_y"]
    linear = CMITask("link-linear-1-1-z3", "Nonlinear in z, linear link 1 × 1 | 3", "link", 1, 1, 3,
                     float(0.5 * np.log1p(ratio**2)), _link_draw(lambda x: x))
    tanh = CMITask("link-tanh-1-1-z3", "Nonlinear in z, tanh link 1 × 1 | 3", "link", 1, 1, 3,
                   MONTE_CARLO_CMI["link-tanh-1-1-z3"][0], _link_draw(tanh_link))
    return [linear, tanh]


# ---------------------------------------------------------------------------------------
# The suite


def _tasks():
    gaussian = [_normal(1, 1, 1, 0.5), _normal(1, 1, 5, 1.0), _normal(2, 2, 5, 2.0), _normal(2, 2, 20, 1.0),
                _normal(5, 5, 5, 4.0), _normal(3, 3, 1, 2.0)]
    independent = [_normal(1, 1, 1, 0.0, "independent"), _normal(1, 1, 20, 0.0, "independent"),
                   _nonlinear_independent(1, 1, 1), _nonlinear_independent(2, 2, 5), _scale_independent()]
    copula = [
        _copula(_normal(1, 1, 1, 0.5), ground_truth.normal_cdf, "normal_cdf", "Normal CDF"),
        _copula(_normal(1, 1, 5, 1.0), ground_truth.half_cube, "half_cube", "Half-cube"),
        _copula(_normal(2, 2, 5, 2.0), np.exp, "exp", "Exp"),
        _copula(_normal(2, 2, 20, 1.0), lambda v: v**3, "cube", "Cube"),
        _transformed(_normal(1, 1, 1, 0.0), (np.exp, lambda v: v**3, ground_truth.normal_cdf), "mixed",
                     "Exp, cube, normal CDF"),
    ]
    student = [_student(1, 1, 1, 0.5, 3), _student(2, 2, 1, 0.0, 3), _student(2, 2, 5, 1.0, 5),
               _student(2, 2, 20, 2.0, 5)]
    mixture = [task for task, _ in _mixture_tasks()]
    additive = [_additive(1, 1, 0.5), _additive(1, 5, 1.0), _additive(2, 5, 1.0),
                _additive(1, 1, 0.5, heteroscedastic=True)]
    return gaussian + independent + copula + student + mixture + _link_tasks() + additive


def _mixture_tasks():
    """(task, mixture) of each mixture task."""
    return [_sign_mixture(), _strength_mixture(), _cluster_mixture(), _outlier_mixture()]


MIXTURES = {task.name: mixture for task, mixture in _mixture_tasks()}  # the exact densities
CMI_TASKS = {task.name: task for task in _tasks()}
CMI_GROUPS = {group: [name for name, task in CMI_TASKS.items() if task.group == group]
              for group in dict.fromkeys(task.group for task in CMI_TASKS.values())}
QUICK_CMI_TASKS = (
    "normal-1-1-z1-0nats",
    "independent-nonlinear-2-2-z5",
    "normal-1-1-z5-1nats",
    "normal-5-5-z5-4nats",
    "exp-normal-2-2-z5-2nats",
    "student-1-1-z1-df3",
    "mixture-sign-1-1-z1",
    "link-tanh-1-1-z3",
    "additive-1-1-z5-1nats",
)


def get_cmi_task(name):
    """The task called ``name`` (a key of ``CMI_TASKS``)."""
    if name not in CMI_TASKS:
        raise ValueError(f"unknown CMI task {name!r}; choose from {sorted(CMI_TASKS)}")
    return CMI_TASKS[name]
