"""Discrete columns beside continuous ones (the chain rule) and discrete conditions
(strata), checked against exact MI: tfmi.estimation.stratified."""

import numpy as np
import pytest
from scipy import integrate, stats

import tfmi
from tfmi.estimation import stratified


def _binary_through_noise(sigma):
    """I(c; c + sigma e) in nats for c uniform on {0, 1}, e ~ N(0, 1), by quadrature."""
    def integrand(t):
        p0, p1 = stats.norm.pdf(t, 0, sigma), stats.norm.pdf(t, 1, sigma)
        mixture = 0.5 * (p0 + p1)
        return 0.5 * p0 * np.log(p0 / mixture) + 0.5 * p1 * np.log(p1 / mixture)
    return integrate.quad(integrand, -12 * sigma, 1 + 12 * sigma)[0]


def test_stratified_sum_adds_the_strata_and_the_spread_of_their_shares():
    terms = [stratified.Term(0.2, 0.01), stratified.Term(0.5, 0.02), stratified.ZERO]
    sizes = np.array([200.0, 600.0, 200.0])
    total = stratified.stratified_sum(terms, sizes)
    p = sizes / 1000
    assert total.mi == pytest.approx(0.2 * 0.2 + 0.6 * 0.5)
    spread = (p @ np.array([0.2, 0.5, 0.0]) ** 2 - total.mi**2) / 1000
    assert total.stderr == pytest.approx(np.sqrt(0.2**2 * 0.01**2 + 0.6**2 * 0.02**2 + spread))


def test_a_side_with_a_label_column_beside_a_continuous_one_uses_the_chain_rule():
    """y = [c, u]: I(x; [c, u]) = I(x; c) + I(x; u | c). With x = c + e and u = x + e'
    given c, x and u are a Gaussian pair of correlation 1/sqrt(2): I(x; u | c) = 1/2 log 2;
    I(x; c) = I(c; c + e) for c in {0, 1}."""
    rng = np.random.default_rng(0)
    n = 6000
    c = rng.integers(0, 2, n)
    x = c + rng.standard_normal(n)
    u = x + rng.standard_normal(n)
    exact = _binary_through_noise(1.0) + 0.5 * np.log(2)
    result = tfmi.estimate_mi(x, np.c_[u, c], bootstrap=8)
    assert result.method.startswith("chain rule: I(y's discrete columns [1]; x)")
    assert result.warnings == ["y's columns [1] look discrete: read by the chain rule over their values; pass "
                               "discrete_y=False to treat them as continuous."]
    # Each term against its own exact value, within 3 of its standard errors (the 95% interval of
    # the sum would fail on one data seed in twenty by design), and the sum is the estimate.
    first, rest = result.diagnostics["terms"]
    assert abs(first["mi"] - _binary_through_noise(1.0)) < 3 * first["stderr"], first
    assert abs(rest["mi"] - 0.5 * np.log(2)) < 3 * rest["stderr"], rest
    assert rest["method"].startswith("the mean over 2 strata, weighted by their rows, of: ")
    assert result.mi == pytest.approx(first["mi"] + rest["mi"]) and abs(result.mi - exact) < 0.05
    said = tfmi.estimate_mi(x, np.c_[u, c], discrete_y=[1], bootstrap=8)  # said, not found: no warning
    assert (said.mi, said.warnings) == (result.mi, [])
    independent = tfmi.estimate_mi(x, np.c_[rng.standard_normal(n), rng.integers(0, 3, n)], bootstrap=8)
    assert independent.interval[0] <= 0.0 <= independent.interval[1] + 1e-12 and abs(independent.mi) < 0.02


def test_a_discrete_condition_splits_the_rows_into_strata():
    """z = c in {0, 1, 2}; given c, x = c + e and y = 0.6 x + c + 0.8 e' have partial
    correlation 0.6: I(x; y | c) = -1/2 log 0.64; and with y = c + e' it is 0."""
    rng = np.random.default_rng(1)
    n = 6000
    c = rng.integers(0, 3, n)
    x = c + rng.standard_normal(n)
    y = 0.6 * x + c + 0.8 * rng.standard_normal(n)
    result = tfmi.estimate_cmi(x, y, c, bootstrap=8)
    exact = -0.5 * np.log(0.64)
    assert result.method.startswith("strata: the mean over the 3 values of z's discrete columns")
    assert result.interval[0] <= exact <= result.interval[1] and abs(result.mi - exact) < 0.05
    none = tfmi.estimate_cmi(x, c + rng.standard_normal(n), c, bootstrap=8)
    assert none.interval[0] <= 0.0 <= none.interval[1] + 1e-12 and abs(none.mi) < 0.02
    continuous_too = tfmi.estimate_cmi(x, y, np.c_[c, rng.standard_normal(n)], bootstrap=8)  # z = [c, noise]
    assert continuous_too.interval[0] <= exact <= continuous_too.interval[1]


def test_a_discrete_side_given_a_continuous_condition_is_a_difference_of_two_estimates():
    """I(c; y | x) with y = x + c + e, c in {0, 1} independent of x: I(c; c + e)."""
    rng = np.random.default_rng(2)
    n = 6000
    c = rng.integers(0, 2, n)
    x = rng.standard_normal(n)
    y = x + c + rng.standard_normal(n)
    result = tfmi.estimate_cmi(c, y, x, bootstrap=8)
    exact = _binary_through_noise(1.0)
    assert result.method == "chain rule: I(x; [y, z]) - I(x; z), two estimate_mi calls"
    assert result.interval[0] <= exact <= result.interval[1]


def test_a_stratum_too_small_and_a_bad_column_list_are_one_error_each():
    rng = np.random.default_rng(3)
    c = np.r_[np.zeros(600), np.ones(600), [2, 2, 2]]
    x, y = rng.standard_normal((2, len(c)))
    with pytest.raises(ValueError, match=r"the stratum z's discrete columns = 2 holds 3 of 1203 rows, too few .*"
                                         r"merge rare values of z's discrete columns, or pass discrete_z=False"):
        tfmi.estimate_cmi(x, y, c)
    with pytest.raises(ValueError, match=r"'b' is not one of them \(its column indices are 0..1\)"):
        tfmi.estimate_mi(np.c_[x, c], y, discrete_x=["b"])
    with pytest.raises(ValueError, match=r"discrete_x=\[1\] needs estimator='auto'"):
        tfmi.estimate_mi(np.c_[x, c], y, discrete_x=[1], estimator="copula")


def test_a_named_estimator_warns_about_a_discrete_column_inside_a_continuous_side():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2000, 2))
    y = np.c_[x[:, 0] + rng.standard_normal(2000), rng.integers(0, 4, 2000)]
    result = tfmi.estimate_mi(x, y, estimator="copula")
    assert any(w.startswith("y's column 1 looks discrete (4 distinct values) and was modelled as continuous")
               for w in result.warnings), result.warnings
