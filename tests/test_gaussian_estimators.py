"""tfmi.estimation.gaussian against closed forms, SciPy densities and hand values."""

import numpy as np
import pytest
from scipy import stats

from tfmi.estimation import copula, gaussian


def correlated_pairs(n, rhos, seed):
    """x, y [n, k] with corr(x_i, y_i) = rhos[i], independent otherwise; exact MI."""
    rng = np.random.default_rng(seed)
    rhos = np.asarray(rhos)
    x = rng.standard_normal((n, len(rhos)))
    y = rhos * x + np.sqrt(1 - rhos**2) * rng.standard_normal((n, len(rhos)))
    return x, y, float(-0.5 * np.sum(np.log1p(-(rhos**2))))


def random_covariance(dim, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dim, dim))
    return a @ a.T / dim + 0.5 * np.eye(dim)


def test_gaussian_mi_matches_canonical_correlations():
    rhos = np.array([0.9, 0.5, 0.0])
    covariance = np.block([[np.eye(3), np.diag(rhos)], [np.diag(rhos), np.eye(3)]])
    assert gaussian.gaussian_mi(covariance, 3) == pytest.approx(-0.5 * np.sum(np.log(1 - rhos**2)), rel=1e-10)
    # Invariant to an invertible linear map of each side.
    a, b = np.array([[2.0, 1, 0], [0, 1, 0], [0, 3, 1]]), np.diag([1.0, 5.0, 0.1])
    block = np.block([[a, np.zeros((3, 3))], [np.zeros((3, 3)), b]])
    mixed = block @ covariance @ block.T
    assert gaussian.gaussian_mi(mixed, 3) == pytest.approx(gaussian.gaussian_mi(covariance, 3), rel=1e-9)


def test_bias_removal_centres_the_sample_estimate():
    # 10 + 10 dims at n = 200: the plug-in is biased up by ~ d_x d_y / (2 n) = 0.25 nats.
    rhos = np.full(10, 0.6)
    plug_in, corrected = [], []
    for seed in range(100):
        x, y, truth = correlated_pairs(200, rhos, seed)
        covariance = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
        plug_in.append(gaussian.gaussian_mi(covariance, 10))
        corrected.append(gaussian.gaussian_mi(covariance, 10, num_samples=200))
    assert np.mean(plug_in) - truth > 0.15
    assert abs(np.mean(corrected) - truth) < 0.04


def test_gaussian_ratio_scores_match_scipy_log_densities():
    dim_x, dim_y = 2, 3
    covariance = random_covariance(dim_x + dim_y, seed=1)
    mean = np.arange(dim_x + dim_y) * 0.1
    ratio = gaussian.GaussianRatio(mean, covariance, dim_x)
    rng = np.random.default_rng(2)
    u, v = rng.standard_normal((4, dim_x)), rng.standard_normal((6, dim_y))
    joint = stats.multivariate_normal(mean, covariance)
    marginal_x = stats.multivariate_normal(mean[:dim_x], covariance[:dim_x, :dim_x])
    marginal_y = stats.multivariate_normal(mean[dim_x:], covariance[dim_x:, dim_x:])
    expected = np.array(
        [[joint.logpdf(np.concatenate([ui, vj])) - marginal_x.logpdf(ui) - marginal_y.logpdf(vj) for vj in v]
         for ui in u]
    )
    np.testing.assert_allclose(ratio.scores(u, v), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ratio.pointwise(u, v[:4]), np.diag(expected), rtol=1e-5, atol=1e-5)


def test_gaussian_ratio_fit_mean_log_ratio_is_the_mi():
    x, y, truth = correlated_pairs(20000, [0.8, 0.3], seed=3)
    ratio = gaussian.GaussianRatio.fit(x, y)
    assert ratio.mi == pytest.approx(truth, abs=0.02)
    assert float(np.mean(ratio.pointwise(x, y))) == pytest.approx(truth, abs=0.02)
    # Independent pairs (shuffled y) score below the joint ones on average.
    assert float(np.mean(ratio.scores(x[:500], y[:500]))) < 0


def test_rank_gaussianizer_normal_scores_ties_and_interpolation():
    rank = copula.RankGaussianizer.fit(np.array([[3.0], [1.0], [2.0], [2.0]]))
    ranks_scores = stats.norm.ppf((np.arange(4) + 0.5) / 4)
    tied = (ranks_scores[1] + ranks_scores[2]) / 2
    np.testing.assert_allclose(rank.transform(np.array([[1.0], [2.0], [3.0]]))[:, 0],
                               [ranks_scores[0], tied, ranks_scores[3]], rtol=1e-6)
    # Halfway between knots: the mean of their scores; beyond the range: the end scores.
    np.testing.assert_allclose(
        rank.transform(np.array([1.5, 0.0, 9.0]))[:, 0],
        [(ranks_scores[0] + tied) / 2, ranks_scores[0], ranks_scores[3]], rtol=1e-6
    )


@pytest.mark.parametrize(
    "transform",
    [lambda z: np.sign(z) * np.abs(z) ** 1.5, np.arcsinh, stats.norm.cdf],
    ids=["half_cube", "asinh", "normal_cdf"],
)
def test_rank_gaussian_recovers_mi_of_transformed_gaussians(transform):
    x, y, truth = correlated_pairs(10000, [0.9, 0.7, 0.5], seed=4)
    scorer = copula.fit_rank_gaussian(transform(x[:8000]), transform(y[:8000]))
    assert scorer.gaussian_mi == pytest.approx(truth, abs=0.05)
    held_out = scorer.pointwise(transform(x[8000:]), transform(y[8000:]))
    assert float(np.mean(held_out)) == pytest.approx(truth, abs=0.1)
    assert scorer.scores(transform(x[:7]), transform(y[:5])).shape == (7, 5)


def test_bad_input_gets_named_errors():
    with pytest.raises(ValueError, match="not positive definite"):
        gaussian.gaussian_mi(np.ones((4, 4)), 2)
    with pytest.raises(ValueError, match="dim_x must lie"):
        gaussian.gaussian_mi(np.eye(4), 4)
    with pytest.raises(ValueError, match="x_train and y_train must pair up"):
        copula.fit_rank_gaussian(np.zeros((10, 2)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match="y_train holds NaN"):
        copula.fit_rank_gaussian(np.zeros((10, 2)), np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="x_train must hold numbers"):
        copula.fit_rank_gaussian(np.array([["a"], ["b"]]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="more samples than dimensions"):
        gaussian.GaussianRatio.fit(np.zeros((3, 2)), np.zeros((3, 2)))
    ratio = gaussian.GaussianRatio(np.zeros(4), np.eye(4), 2)
    with pytest.raises(ValueError, match=r"expected u \[a, 2\]"):
        ratio.scores(np.zeros((3, 3)), np.zeros((3, 2)))


def test_student_ratio_scores_match_scipy_log_densities():
    dim_x, dim_y, dof = 2, 2, 3.0
    scatter = random_covariance(dim_x + dim_y, seed=5)
    mean = np.linspace(-0.2, 0.2, dim_x + dim_y)
    ratio = gaussian.StudentRatio(mean, scatter, dim_x, dof)
    rng = np.random.default_rng(6)
    u, v = rng.standard_normal((3, dim_x)), rng.standard_normal((5, dim_y))
    joint = stats.multivariate_t(mean, scatter, df=dof)
    marginal_x = stats.multivariate_t(mean[:dim_x], scatter[:dim_x, :dim_x], df=dof)
    marginal_y = stats.multivariate_t(mean[dim_x:], scatter[dim_x:, dim_x:], df=dof)
    expected = np.array(
        [[joint.logpdf(np.concatenate([ui, vj])) - marginal_x.logpdf(ui) - marginal_y.logpdf(vj) for vj in v]
         for ui in u]
    )
    np.testing.assert_allclose(ratio.scores(u, v), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ratio.pointwise(u, v[:3]), np.diag(expected), rtol=1e-5, atol=1e-5)
    z = np.concatenate([u, v[:3]], axis=1)
    copula = joint.logpdf(z) - np.sum(stats.t.logpdf(z, df=dof), axis=1)
    np.testing.assert_allclose(ratio.copula_log_density(z), copula, rtol=1e-6)
    gaussian_ratio = gaussian.GaussianRatio(mean, scatter, dim_x)
    copula = stats.multivariate_normal(mean, scatter).logpdf(z) - np.sum(stats.norm.logpdf(z), axis=1)
    np.testing.assert_allclose(gaussian_ratio.copula_log_density(z), copula, rtol=1e-6)


def test_student_ratio_mi_is_the_mean_log_ratio():
    scatter = np.block([[np.eye(2), 0.5 * np.eye(2)], [0.5 * np.eye(2), np.eye(2)]])
    ratio = gaussian.StudentRatio(np.zeros(4), scatter, 2, dof=2.0)
    samples = stats.multivariate_t(np.zeros(4), scatter, df=2.0).rvs(200000, random_state=7)
    monte_carlo = ratio.pointwise(samples[:, :2], samples[:, 2:])
    assert ratio.mi == pytest.approx(float(np.mean(monte_carlo)), abs=4 * np.std(monte_carlo) / np.sqrt(len(samples)))
    assert ratio.mi > gaussian.gaussian_mi(scatter, 2) + 0.1  # the shared scale adds information


def test_rank_copula_recovers_student_t_mi_and_its_dof():
    # Multivariate Student-t, 2 + 2 dims, identity scatter, dof 1: MI 0.43195 nats
    # (bmi 0.1.3's "Student-t 2 x 2 (dof 1)" task; zero correlation, dependent through the scale).
    samples = stats.multivariate_t(np.zeros(4), np.eye(4), df=1).rvs(6000, random_state=8)
    x, y = np.arcsinh(samples[:, :2]), samples[:, 2:] ** 3  # monotone per coordinate: same MI
    scorer = copula.fit_rank_copula(x[:4000], y[:4000], x[4000:], y[4000:], dofs=(1, 3))
    assert scorer.ratio.dof == 1.0
    assert scorer.closed_form_mi == pytest.approx(0.43195, abs=0.05)
    assert [h["dof"] for h in scorer.history] == [np.inf, 1.0, 3.0]
    assert abs(copula.fit_rank_gaussian(x[:4000], y[:4000]).gaussian_mi) < 0.02
    with pytest.raises(ValueError, match="dofs must be positive"):
        copula.fit_rank_copula(x, y, x, y, dofs=(0,))


def test_rank_copula_keeps_the_gaussian_on_gaussian_data():
    x, y, truth = correlated_pairs(4000, [0.8, 0.5, 0.3], seed=9)
    scorer = copula.fit_rank_copula(x[:3000], y[:3000], x[3000:], y[3000:])
    assert isinstance(scorer.ratio, gaussian.GaussianRatio) and not isinstance(scorer.ratio, gaussian.StudentRatio)
    assert scorer.closed_form_mi == pytest.approx(truth, abs=0.05)
