"""tfmi.data.lagged_tasks: the AR(1) closed form against the sample autocorrelation of a
long run, the squared task's Monte Carlo value against a deterministic grid integral
(and its densities against scipy.integrate.quad), and its sampler against its own
log ratio."""

import numpy as np
import pytest
from scipy import integrate, stats

from tfmi.data import lagged_tasks


def _autocorrelation(series, lag):
    centred = series - series.mean()
    return float(centred[:-lag] @ centred[lag:] / (centred @ centred))


@pytest.mark.parametrize("name", ["ar1-0.8", "ar1-0.95"])
def test_the_ar1_closed_form_matches_a_long_run(name):
    """On 200,000 steps the sample autocorrelation at lag k is phi^k within 0.015 (Bartlett's
    standard error is at most 0.003 here), and the Gaussian MI of that correlation is the
    task's mi(k) within 0.03; the run is stationary (variance 1) and the pair is (x, x)."""
    task = lagged_tasks.get_task(name)
    x, y = task.sample(200_000, seed=5)
    assert np.array_equal(x, y)
    assert np.var(x) == pytest.approx(1.0, abs=0.07)
    for lag in lagged_tasks.LAGS:
        rho = _autocorrelation(x, lag)
        assert rho == pytest.approx(task.phi**lag, abs=0.015)
        assert -0.5 * np.log(1.0 - rho**2) == pytest.approx(task.mi(lag), abs=0.03)
        assert task.mi(-lag) == task.mi(lag)


def _grid_mi(rho, step_u=0.05, step_v=0.01, step_w=0.05):
    """I(u; v^2 + 0.3 e') by the trapezoid rule on grids of u, v, w (no Monte Carlo, no
    Gauss-Legendre): p(w | u) = int N(w; v^2, 0.09) N(v; rho u, 1 - rho^2) dv on a v grid
    of step 0.01 (the kernel's width in v, 0.3 / (2 |v|), is at least 0.02 on |v| <= 7.5),
    p(w) = int p(w | u) phi(u) du, then the double integral of phi(u) p(w | u) log(p(w | u)
    / p(w)). u is cut at +-5 (the mass left out is 6e-7); halving every step moves the
    value by less than 1e-7."""
    u = np.arange(-5.0, 5.0 + step_u / 2, step_u)
    v = np.arange(-7.5, 7.5 + step_v / 2, step_v)
    w = np.arange(-2.5, 57.0 + step_w / 2, step_w)
    kernel = stats.norm.pdf(w[:, None], v[None, :] ** 2, lagged_tasks.NOISE)
    conditional = kernel @ stats.norm.pdf(v[:, None], rho * u[None, :], np.sqrt(1.0 - rho**2)) * step_v  # [W, U]
    prior = stats.norm.pdf(u)
    marginal = integrate.trapezoid(conditional * prior, u, axis=1)
    safe = np.where(conditional > 0, conditional, 1.0)
    log_ratio = np.where(conditional > 0, np.log(safe) - np.log(np.maximum(marginal, 1e-300))[:, None], 0.0)
    inner = integrate.trapezoid(conditional * log_ratio, w, axis=0)
    assert integrate.trapezoid(integrate.trapezoid(conditional, w, axis=0) * prior, u) == pytest.approx(1.0, abs=1e-5)
    return float(integrate.trapezoid(inner * prior, u))


def test_the_squared_task_mi_matches_a_grid_integral():
    task = lagged_tasks.get_task("ar1-squared-0.9")
    value, stderr = lagged_tasks.squared_mi(0.9)
    assert value == task.mi(1) and stderr < 0.002
    assert task.mi(1) == pytest.approx(_grid_mi(0.9), abs=4 * stderr + 1e-4)  # the grid gives 0.36011
    assert lagged_tasks.squared_mi(0.0, draws=20_000) == (0.0, 0.0)  # independent: the two densities agree exactly


@pytest.mark.parametrize("w, mean, sd", [(-0.4, 0.0, 1.0), (0.2, 0.5, 0.6), (3.0, 1.5, 0.436), (30.0, -5.2, 0.436)])
def test_the_quadrature_density_matches_scipy_quad(w, mean, sd):
    """log p(w) of w = v^2 + 0.3 e', v ~ N(mean, sd^2), against adaptive quadrature over v
    told where the kernel's peaks are (v = +-sqrt(w))."""
    peaks = [-np.sqrt(w), np.sqrt(w)] if w > 0 else [0.0]
    density, _ = integrate.quad(lambda v: stats.norm.pdf(w, v**2, lagged_tasks.NOISE) * stats.norm.pdf(v, mean, sd),
                                -12.0, 12.0, points=peaks, limit=500, epsabs=0, epsrel=1e-10)
    value = lagged_tasks.log_density(np.array([w]), np.array([mean]), np.array([sd]))[0]
    assert value == pytest.approx(np.log(density), abs=1e-6)


def test_the_squared_task_draws_carry_its_mi_at_each_lag():
    """The mean of log p(y_{t+k} | x_t) - log p(y_{t+k}) over the task's own run is its
    mi(k): the sampler pairs the right times with the right noise (0.02: the terms are
    serially dependent). Lag 1 only: the value the grid test computes, cached."""
    task = lagged_tasks.get_task("ar1-squared-0.9")
    x, y = task.sample(100_000, seed=3)
    assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(0.9, abs=0.01)
    assert np.std(y - x**2) == pytest.approx(lagged_tasks.NOISE, abs=0.005)
    lag, rho = 1, 0.9
    head, tail = x[:-lag], y[lag:]
    log_ratio = (lagged_tasks.log_density(tail, rho * head, np.full(len(head), np.sqrt(1 - rho**2)))
                 - lagged_tasks.log_density(tail, np.zeros(len(head)), np.ones(len(head))))
    assert float(log_ratio.mean()) == pytest.approx(task.mi(lag), abs=0.02)


def test_lookup_and_lag_errors():
    with pytest.raises(KeyError, match="no lagged task 'ar2'"):
        lagged_tasks.get_task("ar2")
    with pytest.raises(ValueError, match="non-zero integer"):
        lagged_tasks.get_task("ar1-0.8").mi(0)
    assert lagged_tasks.get_task("ar1-0.8").mi(1) == pytest.approx(-0.5 * np.log(1 - 0.64))
