r"""Time series with exact MI at each lag: the benchmark of ``lagged_mi``
(tools/bench_lagged.py).

Each ``LaggedTask`` draws two series x_t, y_t (t = 0 .. n-1, one stationary run) and
knows I(x_t; y_{t+k}) in nats for every lag k != 0 (``mi(lag)``; the benchmark reads
``LAGS`` = 1, 2, 5):

- "ar1-0.8", "ar1-0.95" (family "ar1"): a stationary Gaussian AR(1),
  x_0 ~ N(0, 1), x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t (e_t white N(0, 1)), and the
  pair (x, x). (x_t, x_{t+k}) is standard bivariate normal with correlation phi^|k|, so

      I(x_t; x_{t+k}) = -1/2 log(1 - phi^(2|k|)).

- "ar1-squared-0.9" (family "ar1-squared"): a latent AR(1) u with phi = 0.9 as above,
  x_t = u_t, y_t = u_t^2 + s e'_t (s = 0.3, e' white N(0, 1), independent of u). Then
  I(x_t; y_{t+k}) = I(u; w) for w = v^2 + s e' with (u, v) standard bivariate normal of
  correlation rho = phi^|k|. With v | u ~ N(rho u, 1 - rho^2),

      p(w | u) = int N(w; v^2, s^2) N(v; rho u, 1 - rho^2) dv,   p(w) = the same with rho = 0,
      I(u; w) = E[log p(w | u) - log p(w)],

  the mean over 10^6 Monte Carlo draws of (u, w) (seed fixed), each density by
  Gauss-Legendre quadrature over v (32 nodes) on the two intervals where
  |v^2 - w| <= 8 s: outside them the noise kernel is below exp(-32) of its peak.
  (Gauss-Hermite over v against N(v; rho u, 1 - rho^2) does not converge here: the
  kernel N(w; v^2, s^2) is narrow in v, s / (2 |v|), and 40, 80, 160 nodes give 0.49, 0.39,
  0.37 at rho = 0.9, where the intervals give 0.3606 from 16 nodes on.) The quadrature
  error is below 1e-6; the Monte Carlo standard error is 0.0007 nats at lag 1
  (rho = 0.9), 0.0006 at lag 2, 0.0003 at lag 5 (``squared_mi`` returns it), below the
  0.002 asked. Each value is computed once per process (a few seconds) and cached;
  ``sample`` does not need it.
"""

import dataclasses
import functools

import numpy as np
from scipy import signal, special

__all__ = ["LaggedTask", "TASKS", "LAGS", "get_task", "ar1", "squared_mi"]

LAGS = (1, 2, 5)  # the lags the benchmark reads
NOISE = 0.3  # s of the squared task: y_t = u_t^2 + s e'_t
WINDOW = 8.0  # the quadrature covers |v^2 - w| <= WINDOW * s
NODES = 32  # Gauss-Legendre nodes on each interval
DRAWS = 1_000_000  # Monte Carlo draws of (u, w)


@dataclasses.dataclass(frozen=True)
class LaggedTask:
    """name, family, the AR(1) coefficient phi, ``draw(n, rng) -> (x [n], y [n])`` and
    ``exact(phi, lag) -> I(x_t; y_{t+lag})`` in nats."""

    name: str
    family: str
    phi: float
    draw: object = dataclasses.field(repr=False, compare=False)
    exact: object = dataclasses.field(repr=False, compare=False)

    def sample(self, n, seed):
        """(x [n], y [n]): one run of the series, time in order."""
        return self.draw(int(n), np.random.default_rng([int(seed), 11]))

    def mi(self, lag):
        """I(x_t; y_{t+lag}) in nats, for an integer lag != 0."""
        if isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) or lag == 0:
            raise ValueError(f"{self.name}: the lag must be a non-zero integer, got {lag!r}.")
        return self.exact(self.phi, abs(int(lag)))


def ar1(n, phi, rng):
    """A stationary AR(1) run [n]: x_0 ~ N(0, 1), x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t."""
    start = rng.standard_normal()
    if n == 1:
        return np.array([start])
    rest, _ = signal.lfilter([np.sqrt(1.0 - phi**2)], [1.0, -phi], rng.standard_normal(n - 1), zi=[phi * start])
    return np.concatenate([[start], rest])


def _ar1_mi(phi, lag):
    """-1/2 log(1 - phi^(2 lag))."""
    return float(-0.5 * np.log1p(-(phi ** (2 * lag))))


def log_density(w, mean, sd):
    """log p(w) of w = v^2 + s e', v ~ N(mean, sd^2) (arrays [m]): Gauss-Legendre over v on
    v in +-[sqrt(max(w - 8 s, 0)), sqrt(w + 8 s)] (module docstring)."""
    nodes, weights = np.polynomial.legendre.leggauss(NODES)
    high = np.sqrt(np.maximum(w + WINDOW * NOISE, 1e-12))
    low = np.sqrt(np.maximum(w - WINDOW * NOISE, 0.0))
    half, middle = 0.5 * (high - low), 0.5 * (high + low)
    branches = []
    for sign in (1.0, -1.0):
        v = sign * (middle[:, None] + half[:, None] * nodes[None, :])
        log_terms = (-0.5 * ((w[:, None] - v**2) / NOISE) ** 2 - 0.5 * ((v - mean[:, None]) / sd[:, None]) ** 2
                     - np.log(2.0 * np.pi * NOISE * sd)[:, None] + np.log(weights)[None, :] + np.log(half)[:, None])
        branches.append(special.logsumexp(log_terms, axis=1))
    return np.logaddexp(*branches)


@functools.lru_cache(maxsize=None)
def squared_mi(rho, draws=DRAWS, seed=0):
    """(I(u; v^2 + s e'), its Monte Carlo standard error) in nats for (u, v) standard
    bivariate normal of correlation ``rho``: the mean of log p(w | u) - log p(w) over
    ``draws`` draws (module docstring)."""
    rng, values = np.random.default_rng(seed), []
    for start in range(0, draws, 100_000):
        m = min(100_000, draws - start)
        u = rng.standard_normal(m)
        v = rho * u + np.sqrt(1.0 - rho**2) * rng.standard_normal(m)
        w = v**2 + NOISE * rng.standard_normal(m)
        conditional = log_density(w, rho * u, np.full(m, np.sqrt(1.0 - rho**2)))
        values.append(conditional - log_density(w, np.zeros(m), np.ones(m)))
    values = np.concatenate(values)
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(draws))


def _ar1_task(phi):
    def draw(n, rng):
        x = ar1(n, phi, rng)
        return x, x.copy()

    return LaggedTask(f"ar1-{phi}", "ar1", phi, draw, _ar1_mi)


def _squared_task(phi):
    def draw(n, rng):
        u = ar1(n, phi, rng)
        return u, u**2 + NOISE * rng.standard_normal(n)

    return LaggedTask(f"ar1-squared-{phi}", "ar1-squared", phi, draw, lambda phi, lag: squared_mi(float(phi**lag))[0])


TASKS = {task.name: task for task in (_ar1_task(0.8), _ar1_task(0.95), _squared_task(0.9))}


def get_task(name):
    """The task ``name`` of ``TASKS``; KeyError listing the names otherwise."""
    if name not in TASKS:
        raise KeyError(f"no lagged task {name!r}; the tasks are {list(TASKS)}")
    return TASKS[name]
