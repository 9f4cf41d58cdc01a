r"""Tasks with a discrete side and exact MI: the benchmark of ``estimate_mi``'s discrete
paths (tools/bench_discrete.py).

Each ``DiscreteTask`` draws (x, y) with y discrete (class labels or counts) and x
continuous, or both discrete, and knows I(x; y) in nats:

- "classes" (a label against one feature): c with priors pi, x | c ~ N(c, 1) (or a
  two-Gaussian mixture per class, "classes-mixture"); I = sum_c pi_c KL(p(x|c) || p(x)),
  by quadrature on a grid of 20,001 points (exact to 1e-6 here).
- "contingency": two categorical variables with a fixed 4 x 5 joint table P:
  I = sum P log P / (P_a P_b).
- "counts": a rate r ~ Gamma(2, 2) and a count k ~ Poisson(r): I(r; k) = H(k) - E_r H(k | r),
  p(k) by quadrature over r.
- "label-features": a 4-class label against 10 features x | c ~ N(m_c, I) (means drawn
  once, seed 0): the Monte Carlo mean of the exact log ratio over 10^6 draws (standard error
  about 0.001).
"""

import dataclasses

import numpy as np
from scipy import special, stats

__all__ = ["DiscreteTask", "TASKS", "get_task"]

GRID = np.linspace(-12.0, 32.0, 20_001)  # x grid of the one-feature quadratures


@dataclasses.dataclass(frozen=True)
class DiscreteTask:
    """name, family, I(x; y) in nats, which side is discrete ("y" or "both"), and
    ``draw(n, rng) -> (x [n, d_x], y [n])``."""

    name: str
    family: str
    mi: float
    discrete: str
    draw: object = dataclasses.field(repr=False, compare=False)

    def sample(self, n, seed):
        return self.draw(int(n), np.random.default_rng([int(seed), 7]))


def _mixture_mi(priors, log_densities):
    """sum_c pi_c KL(p(x|c) || p(x)) of class log densities on ``GRID`` [C, G] (trapezoid
    rule, in logs: the tails underflow)."""
    log_marginal = special.logsumexp(log_densities + np.log(priors)[:, None], axis=0)
    terms = np.exp(log_densities) * (log_densities - log_marginal)
    return float(priors @ np.trapezoid(terms, GRID, axis=1))


def _classes(name, priors, mixture=False):
    priors = np.asarray(priors, float) / np.sum(priors)
    classes = np.arange(len(priors), dtype=float)
    offsets = (-1.0, 1.0) if mixture else (0.0,)
    scale = 0.5 if mixture else 1.0
    log_densities = special.logsumexp([stats.norm.logpdf(GRID[None, :], classes[:, None] * (2.5 if mixture else 1.0)
                                                          + offset, scale) for offset in offsets], axis=0)
    log_densities -= np.log(len(offsets))

    def draw(n, rng):
        labels = rng.choice(len(priors), size=n, p=priors)
        centre = labels * (2.5 if mixture else 1.0) + rng.choice(offsets, size=n)
        return rng.normal(centre, scale)[:, None], labels

    return DiscreteTask(name, "classes", _mixture_mi(priors, log_densities), "y", draw)


def _contingency():
    joint = np.random.default_rng(0).dirichlet(np.full(20, 0.5)).reshape(4, 5)
    p_a, p_b = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    mi = float(np.sum(joint * np.log(joint / (p_a * p_b))))

    def draw(n, rng):
        cells = rng.choice(20, size=n, p=joint.ravel())
        return (cells // 5)[:, None].astype(float), cells % 5

    return DiscreteTask("contingency-4x5", "contingency", mi, "both", draw)


def _counts():
    rates = np.linspace(1e-6, 80.0, 40_001)
    prior = stats.gamma.pdf(rates, 2.0, scale=2.0)
    counts = np.arange(0, 200)
    conditional = stats.poisson.pmf(counts[:, None], rates[None, :])  # [K, R]
    p_k = np.trapezoid(conditional * prior, rates, axis=1)
    entropy_k = -np.sum(special.xlogy(p_k, p_k))
    entropy_given = np.trapezoid(-np.sum(special.xlogy(conditional, conditional), axis=0) * prior, rates)
    mi = float(entropy_k - entropy_given)

    def draw(n, rng):
        rate = rng.gamma(2.0, 2.0, size=n)
        return rate[:, None], rng.poisson(rate)

    return DiscreteTask("counts-poisson", "counts", mi, "y", draw)


def _label_features(classes=4, dim=10):
    means = np.random.default_rng(0).normal(0.0, 0.5, size=(classes, dim))

    def draw(n, rng):
        labels = rng.integers(0, classes, n)
        return means[labels] + rng.standard_normal((n, dim)), labels

    rng, total = np.random.default_rng(12345), 0.0
    for _ in range(10):  # 10^6 draws in chunks of 10^5
        x, labels = draw(100_000, rng)
        log_densities = -0.5 * np.sum((x[:, None, :] - means[None]) ** 2, axis=2)  # [n, C], constants cancel
        total += np.sum(log_densities[np.arange(len(x)), labels] - special.logsumexp(log_densities, axis=1))
    return DiscreteTask("label-10-features", "label-features", float(total / 1e6 + np.log(classes)), "y", draw)


def _tasks():
    found = [
        _classes("classes-2-balanced", [1, 1]),
        _classes("classes-5-balanced", [1] * 5),
        _classes("classes-5-imbalanced", [0.6**c for c in range(5)]),
        _classes("classes-20-balanced", [1] * 20),
        _classes("classes-3-mixture", [1, 1, 1], mixture=True),
        _contingency(),
        _counts(),
        _label_features(),
    ]
    return {task.name: task for task in found}


TASKS = _tasks()


def get_task(name):
    """The task ``name`` of ``TASKS``; KeyError listing the names otherwise."""
    if name not in TASKS:
        raise KeyError(f"no discrete task {name!r}; the tasks are {list(TASKS)}")
    return TASKS[name]
