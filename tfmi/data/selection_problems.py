"""Feature-selection problems with exact per-feature MI: a regression and a classification
table of informative features and pure-noise features (MI 0).

Regression (``regression_problem``): z ~ N(0, I), y = sum_j a_j z_j + b q(z_3) + s e with
q(z) = (z^2 - 1) / sqrt(2) and e ~ N(0, 1); the informative features are monotone maps
of z_j (MI unchanged): z_0, exp(z_1), z_2^3, z_3 (through q only: zero correlation with
y) and z_4 (weak). With G ~ N(0, v) independent of z_3 and h(v) the entropy of
G + b q(z_3) (quadrature, ``sum_entropy``):

    I(z_j; y) = h(sigma^2) - h(sigma^2 - a_j^2)            (a linear term)
    I(z_3; y) = h(sigma^2) - 1/2 log(2 pi e sigma^2)       (the quadratic term)

sigma^2 = sum_j a_j^2 + s^2. Classification (``classification_problem``): labels c with
priors pi and features whose class-conditionals are Gaussian up to a monotone map:
x | c ~ N(m_c, s_c^2) (mean shifts of several sizes, one scale-only feature), exp of one,
the cube of one; I(x; c) = h(sum_c pi_c N(m_c, s_c^2)) - sum_c pi_c h(N(m_c, s_c^2))
(``gaussian_classes_mi``). NumPy and SciPy only.
"""

import dataclasses

import numpy as np
from scipy import integrate, stats

__all__ = ["SelectionProblem", "regression_problem", "classification_problem", "sum_entropy",
           "gaussian_classes_mi", "REGRESSION_FEATURES", "CLASS_FEATURES", "CLASS_PRIORS"]

# name -> (map of the latent z, coefficient a_j of z_j in y; None: through q(z_3), coefficient QUADRATIC)
REGRESSION_FEATURES = {"linear": ("z", 1.0), "lognormal": ("exp", 0.8), "cubic": ("cube", 0.6),
                       "quadratic": ("z", None), "weak": ("z", 0.4)}
QUADRATIC, NOISE_SD = 0.8, 0.7
CLASS_PRIORS = (0.3, 0.3, 0.4)
# name -> (map, class means, class scales): x = map(m_c + s_c z)
CLASS_FEATURES = {"shift": ("z", (0.0, 1.0, 2.0), (1.0, 1.0, 1.0)),
                  "lognormal": ("exp", (0.0, 0.7, 1.4), (1.0, 1.0, 1.0)),
                  "scale": ("z", (0.0, 0.0, 0.0), (0.5, 1.0, 2.0)),
                  "cubic": ("cube", (0.0, 0.5, 1.0), (1.0, 1.0, 1.0)),
                  "weak": ("z", (0.0, 0.25, 0.5), (1.0, 1.0, 1.0))}
_MAPS = {"z": lambda z: z, "exp": np.exp, "cube": lambda z: z**3}


@dataclasses.dataclass
class SelectionProblem:
    """X [n, p], y [n], mi [p] the exact I(X_j; y) in nats (0 for noise), names [p],
    informative: the indices of the features with MI > 0."""

    X: np.ndarray
    y: np.ndarray
    mi: np.ndarray
    names: list
    informative: list


def sum_entropy(variance, scale=QUADRATIC, nodes=201):
    """h(G + scale q(Z)) in nats, G ~ N(0, variance), Z ~ N(0, 1), q(z) = (z^2 - 1) / sqrt(2):
    the density sum_k w_k N(y; scale q(z_k), variance) by Gauss-Hermite nodes z_k (smooth in
    z), then -integral p log p on a fine grid."""
    z, weights = np.polynomial.hermite_e.hermegauss(nodes)
    weights = weights / weights.sum()
    centres = scale * (z**2 - 1) / np.sqrt(2)
    spread = np.sqrt(variance + scale**2)
    grid = np.linspace(-12 * spread, 12 * spread + 25 * abs(scale), 8001)  # q's right tail beyond: < 1e-9
    density = stats.norm.pdf(grid[:, None], centres[None, :], np.sqrt(variance)) @ weights
    terms = np.where(density > 0, -density * np.log(np.where(density > 0, density, 1.0)), 0.0)
    return float(integrate.trapezoid(terms, grid))


def gaussian_classes_mi(means, scales, priors):
    """I(x; c) for x | c ~ N(means[c], scales[c]^2), c ~ priors: h(x) - h(x | c), h(x) by
    quadrature."""
    means, scales, priors = (np.asarray(a, dtype=np.float64) for a in (means, scales, priors))

    def negative_plogp(x):
        density = float(np.sum(priors * stats.norm.pdf(x, means, scales)))
        return -density * np.log(density) if density > 0 else 0.0

    lo, hi = np.min(means - 12 * scales), np.max(means + 12 * scales)
    h_x = integrate.quad(negative_plogp, lo, hi, points=sorted(set(means.tolist())), limit=400)[0]
    return h_x - float(np.sum(priors * 0.5 * np.log(2 * np.pi * np.e * scales**2)))


def _with_noise(informative_columns, n, num_features, rng):
    if num_features < len(informative_columns):
        raise ValueError(f"selection_problems: num_features must be >= {len(informative_columns)} (the informative "
                         f"features), got {num_features}.")
    noise = rng.standard_normal((n, num_features - len(informative_columns)))
    return np.column_stack([*informative_columns, noise])


def regression_problem(n, num_features=50, seed=0):
    """The regression table (module docstring): the 5 informative features first, then
    ``num_features - 5`` standard-normal noise columns."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, len(REGRESSION_FEATURES)))
    coefficients = [a for _, a in REGRESSION_FEATURES.values()]
    variance = sum(a**2 for a in coefficients if a is not None) + NOISE_SD**2
    quadratic = list(REGRESSION_FEATURES).index("quadratic")
    y = NOISE_SD * rng.standard_normal(n) + QUADRATIC * (z[:, quadratic] ** 2 - 1) / np.sqrt(2)
    total = sum_entropy(variance)
    mi = []
    for j, (kind, a) in enumerate(REGRESSION_FEATURES.values()):
        if a is None:
            mi.append(total - 0.5 * np.log(2 * np.pi * np.e * variance))
        else:
            y = y + a * z[:, j]
            mi.append(total - sum_entropy(variance - a**2))
    columns = [_MAPS[kind](z[:, j]) for j, (kind, _) in enumerate(REGRESSION_FEATURES.values())]
    return _problem(_with_noise(columns, n, num_features, rng), y, mi, list(REGRESSION_FEATURES), num_features)


def classification_problem(n, num_features=50, seed=0):
    """The classification table (module docstring): labels 0, 1, 2 with ``CLASS_PRIORS``,
    the 5 informative features first, then ``num_features - 5`` noise columns."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(CLASS_PRIORS), size=n, p=CLASS_PRIORS)
    columns, mi = [], []
    for kind, means, scales in CLASS_FEATURES.values():
        means, scales = np.asarray(means), np.asarray(scales)
        columns.append(_MAPS[kind](means[labels] + scales[labels] * rng.standard_normal(n)))
        mi.append(gaussian_classes_mi(means, scales, CLASS_PRIORS))
    return _problem(_with_noise(columns, n, num_features, rng), labels, mi, list(CLASS_FEATURES), num_features)


def _problem(X, y, informative_mi, informative_names, num_features):
    k = len(informative_mi)
    names = informative_names + [f"noise_{j}" for j in range(num_features - k)]
    return SelectionProblem(X, y, np.array(list(informative_mi) + [0.0] * (num_features - k)), names, list(range(k)))
