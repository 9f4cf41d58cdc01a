"""estimate_cmi against closed forms: the Gaussian CMI from partial covariances (NumPy),
monotone margins (CMI unchanged), Student-t's chain rule, conditional independence
given a nonlinear z (CMI 0) and its interval over seeds; the chain rule of one model
against an independent computation; bad input."""

import numpy as np
import pytest
from scipy import stats

import tfmi
from tfmi.estimation import conditional, gaussian, mixture


def gaussian_cmi(covariance, dx, dy):
    """0.5 (log det S_xz + log det S_yz - log det S_z - log det S_xyz), [x, y, z] order."""
    d = len(covariance)
    x, y, z = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, d)

    def logdet(index):
        return np.linalg.slogdet(covariance[np.ix_(index, index)])[1] if len(index) else 0.0

    return 0.5 * (logdet(np.r_[x, z]) + logdet(np.r_[y, z]) - logdet(z) - logdet(np.arange(d)))


def linear_task(n, dz, rho, seed):
    """x = a.z + e_x, y = b.z + e_y, corr(e_x, e_y) = rho: I(x; y | z) = -1/2 log(1 - rho^2),
    while x and y are also dependent through z."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, dz))
    a, b = rng.standard_normal(dz), rng.standard_normal(dz)
    e = rng.standard_normal((n, 2))
    x = z @ a + e[:, 0]
    y = z @ b + rho * e[:, 0] + np.sqrt(1 - rho**2) * e[:, 1]
    return x, y, z, -0.5 * np.log(1 - rho**2)


def test_closed_form_helper_matches_the_residual_correlation():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    covariance = a @ a.T + np.eye(4)
    # I(x; y | z) of a Gaussian is -1/2 log(1 - partial correlation^2) for scalars x, y.
    schur = covariance[:2, :2] - covariance[:2, 2:] @ np.linalg.solve(covariance[2:, 2:], covariance[2:, :2])
    partial = schur[0, 1] / np.sqrt(schur[0, 0] * schur[1, 1])
    assert gaussian_cmi(covariance, 1, 1) == pytest.approx(-0.5 * np.log(1 - partial**2), rel=1e-10)


def test_chain_rule_of_a_gaussian_averages_to_the_closed_form():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 5))
    covariance = a @ a.T + 0.5 * np.eye(5)  # x 1, y 2, z 2 columns
    ratio = gaussian.GaussianRatio(np.zeros(5), covariance, dim_x=1)
    chain = conditional.ChainRule(ratio, 1, 2, 2)
    rows = rng.multivariate_normal(np.zeros(5), covariance, size=400_000)
    values = chain.pointwise(rows[:, :1], rows[:, 1:])
    assert np.mean(values) == pytest.approx(gaussian_cmi(covariance, 1, 2),
                                            abs=4 * values.std() / np.sqrt(len(values)) + 1e-3)


def test_mixture_marginal_matches_scipy():
    rng = np.random.default_rng(2)
    covariances = np.stack([(lambda a: a @ a.T + np.eye(4))(rng.standard_normal((4, 4))) for _ in range(3)])
    means, weights = rng.standard_normal((3, 4)), np.array([0.2, 0.5, 0.3])
    model = mixture.MixtureRatio(weights, means, covariances, dim_x=2)
    columns = np.array([0, 3])
    marginal = model.marginal(columns)
    points = rng.standard_normal((7, 2))
    expected = np.log(sum(w * stats.multivariate_normal(m[columns], c[np.ix_(columns, columns)]).pdf(points)
                          for w, m, c in zip(weights, means, covariances)))
    assert marginal.dim_x == 1
    np.testing.assert_allclose(marginal.log_likelihood(points[:, :1], points[:, 1:]), expected, rtol=1e-9)


@pytest.mark.parametrize("dz,rho", [(1, 0.77), (5, 0.5), (20, 0.93)])
def test_gaussian_cmi_with_z_of_1_5_20_columns(dz, rho):
    x, y, z, true = linear_task(5000, dz, rho, seed=dz)
    result = tfmi.estimate_cmi(x, y, z)
    assert result.interval[0] - 0.02 <= true <= result.interval[1] + 0.02, (result, true)
    assert abs(result.mi - true) < 0.1, (result.mi, true)
    assert "chain rule" in result.method


def test_monotone_margins_leave_the_cmi_unchanged():
    x, y, z, true = linear_task(5000, 2, 0.8, seed=3)
    result = tfmi.estimate_cmi(np.exp(x / 2), y**3, np.tanh(z), estimator="copula")
    assert abs(result.mi - true) < 0.08, (result.mi, true)


def test_student_t_cmi_is_the_difference_of_two_student_t_mis():
    """A multivariate t (nu = 3) of scalars x, y, z with scatter S: I(x; y | z) =
    I(x; [y, z]) - I(x; z), each the Gaussian MI of its block of S plus the Student-t
    entropy correction (Arellano-Valle et al. 2013)."""
    scatter = np.array([[1.0, 0.6, 0.5], [0.6, 1.0, 0.4], [0.5, 0.4, 1.0]])
    nu = 3.0

    def student_mi(block, dim_x):
        return gaussian.StudentRatio(np.zeros(len(block)), block, dim_x, nu).mi

    true = student_mi(scatter, 1) - student_mi(scatter[np.ix_([0, 2], [0, 2])], 1)
    rows = stats.multivariate_t(np.zeros(3), scatter, df=nu).rvs(size=8000, random_state=4)
    result = tfmi.estimate_cmi(rows[:, 0], rows[:, 1], rows[:, 2])
    assert abs(result.mi - true) < 0.06, (result.mi, true, result.method)


def test_nonlinear_dependence_on_z_with_additive_noise():
    """x = f(z) + e_x, y = g(z) + e_y with corr(e_x, e_y) = 0.8 and nonlinear f, g of 5
    columns: I(x; y | z) = -1/2 log(1 - 0.64). The copula sees a nonlinear dependence;
    the conditional Gaussian networks model it exactly, and the default finds them."""
    rng = np.random.default_rng(1)
    z, e = rng.standard_normal((5000, 5)), rng.standard_normal((5000, 2))
    x = np.sin(2 * z[:, 0]) + z[:, -1] ** 2 / 2 + 0.5 * e[:, 0]
    y = 2 * np.cos(z[:, 0]) + np.abs(z[:, -1]) + 0.5 * (0.8 * e[:, 0] + 0.6 * e[:, 1])
    true = -0.5 * np.log(1 - 0.64)
    copula, default = (tfmi.estimate_cmi(x, y, z, estimator=name) for name in ("copula", "auto"))
    assert copula.mi < 0.3  # far off
    assert default.method.startswith("conditional Gaussian networks"), default.method
    assert abs(default.mi - true) < 0.1 and default.interval[0] < true + 0.02, (default, true)


def nonlinear_independent(n, seed):
    """x and y both driven by z through nonlinear maps, independent given z: CMI 0, MI > 0."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 1))
    x = np.sin(1.5 * z[:, 0]) + 0.2 * rng.standard_normal(n)
    y = z[:, 0] ** 3 + 0.2 * rng.standard_normal(n)
    return x, y, z


def test_conditionally_independent_given_a_nonlinear_z():
    x, y, z = nonlinear_independent(4000, seed=5)
    assert tfmi.estimate_mi(x, y, estimator="mixture").mi > 0.3  # dependent without z
    result = tfmi.estimate_cmi(x, y, z)
    assert result.interval[0] <= 0.0 + 1e-9 and result.mi < 0.03, result


@pytest.mark.parametrize("seeds", [pytest.param(range(8), id="8 seeds"),
                                   pytest.param(range(40), id="40 seeds", marks=pytest.mark.slow)])
def test_interval_covers_zero_under_conditional_independence(seeds):
    covered = 0
    for seed in seeds:
        x, y, z, _ = linear_task(2000, 3, 0.0, seed=100 + seed)
        result = tfmi.estimate_cmi(x, y, z, seed=seed)
        covered += result.interval[0] <= 0.0
    assert covered >= 0.85 * len(seeds), covered


def test_bad_input_is_one_clear_error():
    x, y, z, _ = linear_task(500, 2, 0.5, seed=6)
    with pytest.raises(ValueError, match="must pair up row by row"):
        tfmi.estimate_cmi(x, y[:-1], z)
    with pytest.raises(ValueError, match="z is constant .* use estimate_mi"):
        tfmi.estimate_cmi(x, y, np.ones((500, 2)))
    with pytest.raises(ValueError, match="unknown estimator 'knn'"):
        tfmi.estimate_cmi(x, y, z, estimator="knn")
    with pytest.raises(ValueError, match="estimate_cmi: seed must be in"):
        tfmi.estimate_cmi(x, y, z, seed=-3)
    z_bad = z.copy()
    z_bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="estimate_cmi: z"):
        tfmi.estimate_cmi(x, y, z_bad)
    with pytest.raises(ValueError, match="more train rows than columns"):
        tfmi.estimate_cmi(x[:20], y[:20], np.random.default_rng(0).standard_normal((20, 30)))


def test_readme_conditional_mi_example_runs_and_its_interval_holds_the_truth(capsys):
    """The Python block of README's "Conditional MI" section, run as it stands."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Conditional MI\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md (Conditional MI)", "exec"), {})
    value, interval = capsys.readouterr().out.splitlines()[0].split(" ", 1)
    low, high = (float(bound) for bound in interval.strip("()").split(","))
    assert low <= -0.5 * np.log(1 - 0.36) <= high, (value, interval)
