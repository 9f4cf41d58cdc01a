r"""A table of 16 single columns whose every pairwise MI is known: the benchmark of
``tfmi.pairwise_mi`` (tools/bench_pairwise.py).

The columns come in blocks, drawn independently of each other, so a pair from two
blocks has I = 0. Within a block (nats):

- Gaussian copula ("copula"): z ~ N(0, R), R_01 = 0.8, R_02 = 0.5, R_12 = 0.3, columns
  g_normal = z_0, g_lognormal = exp(z_1), g_cube = z_2^3 (strictly increasing maps keep
  the MI): I(g_a; g_b) = -1/2 log(1 - R_ab^2) = 0.5108, 0.1438, 0.0472.
- Gaussian mixtures ("mixture"), ``tfmi.data.ground_truth.MIXTURES``: x_shape_x, x_shape_y
  (bmi's X 1 x 1, 1/2 N(0, corr 0.9) + 1/2 N(0, corr -0.9): zero correlation) and ai_x,
  ai_y (bmi's AI 1 x 1, six Gaussians); I = E log p(x, y) / (p(x) p(y)), the Monte Carlo
  mean of that exact log ratio over 10^6 draws (``ground_truth.MIXTURE_MI``): 0.4086 and
  0.7774 (standard errors 0.0007, 0.0009).
- Functional pairs ("functional"), y = f(x) + noise:
  quad: x ~ N(0, 1), y = x^2 + 0.5 e; sine: x ~ N(0, 1), y = sin(2x) + 0.3 e (e ~ N(0, 1));
  I = h(y) - h(y | x) = -E log p(y) - 1/2 log(2 pi e sigma^2), p(y) = E_x N(y; f(x), sigma^2)
  by quadrature on a grid (``additive_noise_mi``): 0.8027 (quad) and 0.8616 (sine).
  uniform: x ~ U(0, 1), y = x + U(-0.1, 0.1): I = eps - log(2 eps) = 1.7094 (eps = 0.1,
  ``ground_truth.additive_uniform_mi``).
- Independent columns ("independent"): ind_normal ~ N(0, 1), ind_uniform ~ U(0, 1),
  ind_student ~ t_3: I = 0 with every other column.

16 columns, 120 pairs: 8 dependent, 112 independent.
"""

import dataclasses
import zlib

import numpy as np
from scipy import stats

from tfmi.data import ground_truth

__all__ = ["Block", "BLOCKS", "NAMES", "QUICK_COLUMNS", "additive_noise_mi", "sample", "true_mi", "family"]


@dataclasses.dataclass(frozen=True)
class Block:
    """Columns drawn together, independent of every other block.

    Attributes:
      name: the block's name (it seeds the block's draws).
      family: "copula", "mixture", "functional" or "independent".
      names: its columns.
      mi: {(a, b): I(a; b) in nats} for each pair of its columns.
      draw: ``draw(n, rng) -> [n, len(names)]``.
    """

    name: str
    family: str
    names: tuple
    mi: dict
    draw: object = dataclasses.field(repr=False, compare=False)


def additive_noise_mi(function, sigma, grid=4001, span=8.0, y_step=None):
    """I(x; y) of x ~ N(0, 1), y = f(x) + sigma e, e ~ N(0, 1): h(y) - 1/2 log(2 pi e sigma^2),
    p(y) = sum_k w_k N(y; f(x_k), sigma^2) on ``grid`` points x_k in [-span, span] (weights
    the normal density, normalised), h(y) = -integral p log p on a y grid of step sigma / 50."""
    x = np.linspace(-span, span, grid)
    weights = stats.norm.pdf(x)
    weights /= weights.sum()
    values = function(x)
    step = sigma / 50 if y_step is None else y_step
    y = np.arange(values.min() - 10 * sigma, values.max() + 10 * sigma, step)
    density = np.concatenate([stats.norm.pdf(chunk[:, None], values[None, :], sigma) @ weights
                              for chunk in np.array_split(y, max(1, len(y) // 500))])
    positive = density[density > 0]
    entropy = -float(np.sum(positive * np.log(positive)) * step)
    return entropy - 0.5 * np.log(2 * np.pi * np.e * sigma**2)


def _copula_block():
    correlation = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.3], [0.5, 0.3, 1.0]])
    names = ("g_normal", "g_lognormal", "g_cube")
    cholesky = np.linalg.cholesky(correlation)

    def draw(n, rng):
        z = rng.standard_normal((n, 3)) @ cholesky.T
        return np.column_stack([z[:, 0], np.exp(z[:, 1]), z[:, 2] ** 3])

    mi = {(names[i], names[j]): -0.5 * np.log(1 - correlation[i, j] ** 2) for i in range(3) for j in range(i + 1, 3)}
    return Block("copula", "copula", names, mi, draw)


def _mixture_block(task, prefix):
    mixture = ground_truth.MIXTURES[task]

    def draw(n, rng):
        return np.column_stack(mixture.draw(n, rng))

    names = (f"{prefix}_x", f"{prefix}_y")
    return Block(prefix, "mixture", names, {names: ground_truth.MIXTURE_MI[task][0]}, draw)


def _additive_noise_block(prefix, function, sigma, mi):
    def draw(n, rng):
        x = rng.standard_normal(n)
        return np.column_stack([x, function(x) + sigma * rng.standard_normal(n)])

    names = (f"{prefix}_x", f"{prefix}_y")
    return Block(prefix, "functional", names, {names: mi}, draw)


def _uniform_noise_block(epsilon=0.1):
    def draw(n, rng):
        x = rng.uniform(0.0, 1.0, n)
        return np.column_stack([x, x + rng.uniform(-epsilon, epsilon, n)])

    names = ("uniform_x", "uniform_y")
    return Block("uniform", "functional", names, {names: ground_truth.additive_uniform_mi(epsilon)}, draw)


def _independent_block():
    def draw(n, rng):
        return np.column_stack([rng.standard_normal(n), rng.uniform(0.0, 1.0, n), rng.standard_t(3, n)])

    return Block("independent", "independent", ("ind_normal", "ind_uniform", "ind_student"), {}, draw)


def _square(x):
    return x**2


def _sine(x):
    return np.sin(2 * x)


# I of the quad and sine pairs: additive_noise_mi(f, sigma) with its default grid (a grid
# twice as fine moves them by less than 1e-6 nats); tests/test_pairwise.py recomputes them
# and checks them against the Monte Carlo mean of the exact log ratio.
QUAD_MI = 0.8027
SINE_MI = 0.8616

BLOCKS = (
    _copula_block(),
    _mixture_block("1v1-X-0.9", "x_shape"),
    _mixture_block("1v1-AI", "ai"),
    _additive_noise_block("quad", _square, 0.5, QUAD_MI),
    _additive_noise_block("sine", _sine, 0.3, SINE_MI),
    _uniform_noise_block(),
    _independent_block(),
)
NAMES = tuple(name for block in BLOCKS for name in block.names)
# A smaller table with every family, for a first check of the benchmark: 8 columns, 28 pairs.
QUICK_COLUMNS = ("g_normal", "g_lognormal", "x_shape_x", "x_shape_y", "quad_x", "quad_y", "ind_normal",
                 "ind_student")


def _block_of(name):
    for block in BLOCKS:
        if name in block.names:
            return block
    raise ValueError(f"pairwise_table: unknown column {name!r}; choose from {list(NAMES)}.")


def sample(n=10_000, seed=0, columns=None):
    """(names, values [n, p]) of the ``columns`` (default ``NAMES``); a block's draws
    depend only on (n, seed, block), not on which other columns are chosen."""
    names = list(NAMES if columns is None else columns)
    drawn, blocks = {}, {block.name: block for block in map(_block_of, names)}
    for block in blocks.values():
        rng = np.random.default_rng([int(seed), zlib.crc32(block.name.encode())])
        drawn.update(zip(block.names, block.draw(int(n), rng).T))
    return names, np.column_stack([drawn[name] for name in names])


def true_mi(names):
    """[p, p] exact I(a; b) in nats of the columns ``names`` (0 across blocks), NaN on the diagonal."""
    matrix = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            block = _block_of(a)
            matrix[i, j] = np.nan if i == j else block.mi.get((a, b), block.mi.get((b, a), 0.0))
    return matrix


def family(a, b):
    """The family of the pair (a, b): its block's, or "independent" across blocks."""
    block = _block_of(a)
    return block.family if b in block.names else "independent"
