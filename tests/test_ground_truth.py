"""tfmi.data.ground_truth: exact MI values against independent checks, samplers against
their stated distributions."""

import numpy as np
import pytest
from scipy import integrate, linalg, stats

from tfmi.data import ground_truth as gt

# bmi 0.1.3: [(t.id, t.mutual_information) for t in BENCHMARK_TASKS_LIST], printed once.
# bmi computes the additive-noise value in float32 (1.7094379663 vs 1.7094379124 exact).
BMI_VALUES = {
    "1v1-normal-0.75": 0.41333928659223396,
    "normal_cdf-1v1-normal-0.75": 0.41333928659223396,
    "1v1-additive-0.1": 1.7094379663467407,
    "1v1-additive-0.75": 0.3333333333333333,
    "1v1-bimodal-0.75": 0.41333928659223396,
    "wiggly-1v1-normal-0.75": 0.41333928659223396,
    "half_cube-1v1-normal-0.75": 0.41333928659223396,
    "student-identity-1-1-1": 0.22417142752923613,
    "asinh-student-identity-1-1-1": 0.22417142752923613,
    "swissroll_x-normal_cdf-1v1-normal-0.75": 0.41333928659223396,
    "multinormal-dense-2-2-0.5": 0.2938933324510593,
    "multinormal-dense-3-3-0.5": 0.41333928659223407,
    "multinormal-dense-5-5-0.5": 0.5928118328288701,
    "multinormal-dense-25-25-0.5": 1.2921837216593204,
    "multinormal-dense-50-50-0.5": 1.6242653743036897,
    "multinormal-sparse-2-2-2-2.0": 1.0216512475319819,
    "multinormal-sparse-3-3-2-2.0": 1.0216512475319819,
    "multinormal-sparse-5-5-2-2.0": 1.021651247531981,
    "multinormal-sparse-25-25-2-2.0": 1.0216512475319774,
    "student-identity-2-2-1": 0.43194562200144127,
    "student-identity-2-2-2": 0.1931471805599454,
    "student-identity-3-3-2": 0.29092192268276484,
    "student-identity-3-3-3": 0.17871185309236282,
    "student-identity-5-5-2": 0.44815067691532917,
    "student-identity-5-5-3": 0.29854362265275824,
    "normal_cdf-multinormal-sparse-3-3-2-2.0": 1.0216512475319819,
    "normal_cdf-multinormal-sparse-5-5-2-2.0": 1.021651247531981,
    "normal_cdf-multinormal-sparse-25-25-2-2.0": 1.0216512475319774,
    "half_cube-multinormal-sparse-3-3-2-2.0": 1.0216512475319819,
    "half_cube-multinormal-sparse-5-5-2-2.0": 1.021651247531981,
    "half_cube-multinormal-sparse-25-25-2-2.0": 1.0216512475319774,
    "spiral-multinormal-sparse-3-3-2-2.0": 1.0216512475319819,
    "spiral-multinormal-sparse-5-5-2-2.0": 1.021651247531981,
    "spiral-multinormal-sparse-25-25-2-2.0": 1.0216512475319774,
    "spiral-normal_cdf-multinormal-sparse-3-3-2-2.0": 1.0216512475319819,
    "spiral-normal_cdf-multinormal-sparse-5-5-2-2.0": 1.021651247531981,
    "spiral-normal_cdf-multinormal-sparse-25-25-2-2.0": 1.0216512475319774,
    "asinh-student-identity-2-2-1": 0.43194562200144127,
    "asinh-student-identity-3-3-2": 0.29092192268276484,
    "asinh-student-identity-5-5-2": 0.44815067691532917,
}


def test_suite_is_bmis_forty_tasks_in_order_with_their_mi():
    assert [t.name for t in gt.BMI_TASKS] == list(BMI_VALUES)
    for task in gt.BMI_TASKS:
        assert task.mi == pytest.approx(BMI_VALUES[task.name], abs=1e-7), task.name
    assert [t.mi for t in gt.HIGH_MI_TASKS] == pytest.approx([6.0, 8.0, 10.0], abs=1e-9)
    assert len(gt.TASKS) == 43 + len(gt.MIXTURE_TASKS) == 57


def canonical_correlation_mi(covariance, dim_x):
    """-1/2 sum log(1 - rho_i^2), rho_i the singular values of S_xx^-1/2 S_xy S_yy^-1/2."""
    inverse_root = lambda m: linalg.inv(linalg.sqrtm(m)).real  # noqa: E731
    whitened = inverse_root(covariance[:dim_x, :dim_x]) @ covariance[:dim_x, dim_x:] @ inverse_root(
        covariance[dim_x:, dim_x:])
    rho = np.linalg.svd(whitened, compute_uv=False)
    return -0.5 * np.sum(np.log1p(-(rho**2)))


@pytest.mark.parametrize("covariance,dim_x", [
    (gt.dense_covariance(3, 3), 3),
    (gt.dense_covariance(50, 50), 50),
    (gt.dense_covariance(2, 5, off_diag=0.3), 2),
    (gt.two_pair_correlation(5, 5), 5),
])
def test_gaussian_mi_matches_canonical_correlations(covariance, dim_x):
    assert gt.gaussian_mi(covariance, dim_x) == pytest.approx(canonical_correlation_mi(covariance, dim_x), rel=1e-8)


def test_two_pair_mi_is_two_correlations_of_0_8():
    assert gt.gaussian_mi(gt.two_pair_correlation(25, 25), 25) == pytest.approx(-np.log(1 - 0.8**2), rel=1e-10)


def monte_carlo_mi(log_joint, log_x, log_y, x, y):
    """Mean and standard error of log p(x, y) - log p(x) - log p(y) over the samples."""
    pointwise = log_joint(np.concatenate([x, y], axis=1)) - log_x(x) - log_y(y)
    return pointwise.mean(), pointwise.std() / np.sqrt(len(pointwise))


@pytest.mark.parametrize("name,df", [
    ("student-identity-1-1-1", 1), ("student-identity-2-2-2", 2), ("student-identity-3-3-3", 3),
])
def test_student_t_mi_matches_monte_carlo_of_its_density(name, df):
    task = gt.get_task(name)
    x, y = task.sample(100_000, seed=1)
    dx, dy = task.dim_x, task.dim_y
    density = lambda d: stats.multivariate_t(np.zeros(d), np.eye(d), df=df).logpdf  # noqa: E731
    mean, stderr = monte_carlo_mi(density(dx + dy), density(dx), density(dy), x, y)
    assert abs(mean - task.mi) < 5 * stderr + 1e-3, (mean, stderr, task.mi)


def test_student_t_mi_tends_to_the_gaussian_mi_for_large_df():
    dispersion = gt.two_pair_correlation(3, 3)
    assert gt.student_t_mi(dispersion, 3, df=1e6) == pytest.approx(gt.gaussian_mi(dispersion, 3), abs=1e-4)
    assert gt.student_t_mi(dispersion, 3, df=2) > gt.gaussian_mi(dispersion, 3) + 0.05


def test_gaussian_task_mi_matches_monte_carlo_of_its_density():
    task = gt.get_task("multinormal-sparse-3-3-2-2.0")
    x, y = task.sample(50_000, seed=2)
    covariance = gt.two_pair_correlation(3, 3)
    density = lambda c: stats.multivariate_normal(np.zeros(len(c)), c).logpdf  # noqa: E731
    mean, stderr = monte_carlo_mi(density(covariance), density(covariance[:3, :3]), density(covariance[3:, 3:]), x, y)
    assert abs(mean - task.mi) < 5 * stderr, (mean, stderr)


@pytest.mark.parametrize("epsilon", [0.1, 0.3, 0.75, 2.0])
def test_additive_uniform_mi_matches_numerical_integration(epsilon):
    """I = h(Y) - h(N): the density of Y = X + N is the box convolution min(...) / (2 eps)."""

    def density(v):
        return max(0.0, min(v + epsilon, 1.0) - max(v - epsilon, 0.0)) / (2 * epsilon)

    breaks = sorted({-epsilon, epsilon, 1 - epsilon, 1 + epsilon})
    entropy_y = -integrate.quad(lambda v: density(v) * np.log(density(v)) if density(v) > 0 else 0.0,
                                breaks[0], breaks[-1], points=breaks[1:-1], limit=200)[0]
    assert gt.additive_uniform_mi(epsilon) == pytest.approx(entropy_y - np.log(2 * epsilon), abs=1e-7)


@pytest.mark.parametrize("name", ["multinormal-dense-5-5-0.5", "multinormal-sparse-5-5-2-2.0",
                                  "multinormal-corr-20-20-8nats", "1v1-normal-0.75"])
def test_gaussian_samples_have_the_stated_covariance(name):
    task = gt.get_task(name)
    x, y = task.sample(40_000, seed=3)
    covariance = np.cov(np.concatenate([x, y], axis=1), rowvar=False)
    assert gt.gaussian_mi(covariance, task.dim_x) == pytest.approx(task.mi, abs=0.03)
    assert np.allclose(np.diag(covariance), 1.0, atol=0.05)


def test_normal_cdf_task_has_uniform_margins_and_the_base_dependence():
    x, y = gt.get_task("normal_cdf-multinormal-sparse-5-5-2-2.0").sample(20_000, seed=4)
    for column in np.concatenate([x, y], axis=1).T:
        assert stats.kstest(column, "uniform").pvalue > 1e-3
    z = stats.norm.ppf(np.concatenate([x, y], axis=1))  # back to the Gaussian
    assert np.corrcoef(z[:, 0], z[:, 5])[0, 1] == pytest.approx(0.8, abs=0.02)
    assert abs(np.corrcoef(z[:, 2], z[:, 7])[0, 1]) < 0.03


def test_student_t_margins_are_t_distributed():
    x, y = gt.get_task("student-identity-3-3-2").sample(20_000, seed=5)
    for column in np.concatenate([x, y], axis=1).T:
        assert stats.kstest(column, stats.t(df=2).cdf).pvalue > 1e-3


def test_additive_uniform_samples():
    x, y = gt.get_task("1v1-additive-0.75").sample(20_000, seed=6)
    assert stats.kstest(x[:, 0], "uniform").pvalue > 1e-3
    assert stats.kstest((y - x)[:, 0], stats.uniform(-0.75, 1.5).cdf).pvalue > 1e-3


def test_bimodal_margins_are_the_stated_mixtures():
    x, y = gt.get_task("1v1-bimodal-0.75").sample(20_000, seed=7)
    cdf_x = lambda v: 0.3 * stats.norm.cdf(v) + 0.7 * stats.norm.cdf(v - 5)  # noqa: E731
    cdf_y = lambda v: 0.5 * stats.norm.cdf(v + 1) + 0.5 * stats.norm.cdf(v - 3)  # noqa: E731
    assert stats.kstest(x[:, 0], cdf_x).pvalue > 1e-3
    assert stats.kstest(y[:, 0], cdf_y).pvalue > 1e-3


@pytest.mark.parametrize("transform", [gt.half_cube, np.arcsinh, gt.wiggly_x, gt.wiggly_y, gt.normal_cdf])
def test_one_dimensional_transforms_are_strictly_increasing(transform):
    grid = np.linspace(-5, 5, 100_001)  # Phi rounds to 1 beyond 8 in float64
    assert np.all(np.diff(transform(grid)) > 0)


@pytest.mark.parametrize("dim,plane", [(3, (0, 1)), (3, (1, 2)), (25, (1, 2))])
def test_spiral_is_the_matrix_exponential_of_the_rotation_generator(dim, plane):
    v = np.random.default_rng(0).standard_normal((20, dim))
    generator = np.zeros((dim, dim))
    generator[plane[0], plane[1]], generator[plane[1], plane[0]] = -1.0, 1.0
    expected = np.stack([linalg.expm(generator * (row @ row) / dim) @ row for row in v])
    np.testing.assert_allclose(gt.spiral(plane)(v), expected, atol=1e-10)


def test_spiral_task_inverts_to_its_gaussian_base():
    """The rotation keeps |v|, so rotating back by -|v|^2 / d recovers the base samples."""
    task, base = gt.get_task("spiral-multinormal-sparse-5-5-2-2.0"), gt.get_task("multinormal-sparse-5-5-2-2.0")
    x, y = task.sample(1000, seed=8)
    x_base, y_base = base.sample(1000, seed=8)  # a different stream: compare distributions
    def inverse(v, plane):
        i, j = plane
        angle = -np.sum(v**2, axis=1) / v.shape[1]
        out = v.copy()
        out[:, i] = np.cos(angle) * v[:, i] - np.sin(angle) * v[:, j]
        out[:, j] = np.sin(angle) * v[:, i] + np.cos(angle) * v[:, j]
        return out

    z = np.concatenate([inverse(x, (0, 1)), inverse(y, (1, 2))], axis=1)
    assert np.corrcoef(z[:, 0], z[:, 5])[0, 1] == pytest.approx(0.8, abs=0.05)
    assert np.corrcoef(z[:, 1], z[:, 6])[0, 1] == pytest.approx(0.8, abs=0.05)
    assert abs(np.corrcoef(x[:, 1], y[:, 1])[0, 1] - np.corrcoef(x_base[:, 1], y_base[:, 1])[0, 1]) > 0.1


def test_swissroll_lies_on_the_roll_and_keeps_the_base_dependence():
    """x = (t cos t, t sin t) / 21 with t = 1.5 pi (1 + 2u): |21 x| = t recovers u."""
    x, y = gt.get_task("swissroll_x-normal_cdf-1v1-normal-0.75").sample(5000, seed=9)
    t = np.linalg.norm(x, axis=1) * 21.0
    assert t.min() >= 1.5 * np.pi - 1e-9 and t.max() <= 4.5 * np.pi + 1e-9
    np.testing.assert_allclose(21.0 * x, np.stack([t * np.cos(t), t * np.sin(t)], axis=1), atol=1e-9)
    u = t / (3 * np.pi) - 0.5
    rho = np.corrcoef(stats.norm.ppf(u), stats.norm.ppf(y[:, 0]))[0, 1]
    assert rho == pytest.approx(0.75, abs=0.03)


def test_every_task_samples_finite_arrays_of_its_dimensions_deterministically():
    for task in gt.TASKS.values():
        x, y = task.sample(700, seed=0)
        assert x.shape == (700, task.dim_x) and y.shape == (700, task.dim_y), task.name
        assert np.isfinite(x).all() and np.isfinite(y).all(), task.name
        np.testing.assert_array_equal(task.sample(700, seed=0)[0], x)
        assert not np.array_equal(task.sample(700, seed=1)[0], x)


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="unknown task 'gauss'.*1v1-normal-0.75"):
        gt.get_task("gauss")


# bmi 0.1.3's Monte Carlo values (10^5 draws each; their own standard errors ~0.003-0.008),
# printed once from bmi.benchmark.tasks.mixtures: task_x(), task_ai(), task_galaxy(),
# task_waves(), task_concentric_multinormal(3 and 5), task_multinormal_sparse_w_inliers(5, 5).
BMI_MIXTURE_VALUES = {
    "1v1-X-0.9": 0.40876397490501404,
    "1v1-AI": 0.7775421142578125,
    "2v1-galaxy-0.5-3.0": 0.49330103397369385,
    "2v1-waves-12-5.0-3.0": 1.307978868484497,
    "3v1-concentric_gaussians-3": 0.34669673442840576,
    "5v1-concentric_gaussians-3": 0.49473702907562256,
    "mult-sparse-w-inliers-5-5-2-2.0-0.2": 0.6334941387176514,
}


def test_bmis_mixture_tasks_have_bmis_mi():
    for name, value in BMI_MIXTURE_VALUES.items():
        assert gt.get_task(name).mi == pytest.approx(value, abs=0.01), name


@pytest.mark.parametrize("name", [task.name for task in gt.MIXTURE_TASKS])
def test_mixture_mi_matches_fresh_monte_carlo(name):
    mean, stderr = gt.MIXTURES[name].monte_carlo_mi(n=100_000, seed=1)
    pinned, pinned_stderr = gt.MIXTURE_MI[name]
    assert gt.get_task(name).mi == pinned
    assert abs(mean - pinned) < 5 * np.hypot(stderr, pinned_stderr) + 1e-4, (mean, stderr, pinned)


def test_mixture_log_ratio_matches_scipy_on_a_hand_mixture():
    means = np.array([[0.0, 0.0], [1.0, -2.0]])
    covariances = np.array([[[1.0, 0.5], [0.5, 2.0]], [[0.5, -0.2], [-0.2, 1.0]]])
    mixture = gt.GaussianMixture([0.25, 0.75], means, covariances, 1)
    x, y = np.array([[0.3], [-1.0]]), np.array([[0.7], [2.0]])

    def density(points, block):
        return sum(w * stats.multivariate_normal(m[block], c[np.ix_(block, block)]).pdf(points)
                   for w, m, c in zip([0.25, 0.75], means, covariances))

    expected = [np.log(density(np.r_[a, b], [0, 1]) / density(a, [0]) / density(b, [1])) for a, b in zip(x, y)]
    np.testing.assert_allclose(mixture.log_ratio(x, y), expected, rtol=1e-10)


@pytest.mark.parametrize("name", ["mix-scale-2-1", "mix-outliers-3-3", "1v1-AI"])
def test_mixture_samples_have_the_mixture_moments(name):
    mixture = gt.MIXTURES[name]
    x, y = gt.get_task(name).sample(200_000, seed=2)
    z = np.concatenate([x, y], axis=1)
    mean = mixture.weights @ mixture.means
    second = np.einsum("k,kij->ij", mixture.weights, mixture.covariances + np.einsum("ki,kj->kij", mixture.means,
                                                                                     mixture.means))
    np.testing.assert_allclose(z.mean(axis=0), mean, atol=0.05)
    np.testing.assert_allclose(np.cov(z, rowvar=False), second - np.outer(mean, mean), atol=0.1, rtol=0.03)


def test_galaxy_and_waves_transforms_are_injective():
    """Their MI is the base mixture's only if the base x is recoverable from the task's x."""
    def draws(name):
        task_x, _ = gt.get_task(name).draw(1000, np.random.default_rng(3))
        base_x, _ = gt.MIXTURES[name].draw(1000, np.random.default_rng(3))
        return task_x, base_x

    spun, base = draws("2v1-galaxy-0.5-3.0")
    np.testing.assert_allclose(np.sum(spun**2, axis=1), np.sum(base**2, axis=1))  # the norm is kept,
    np.testing.assert_allclose(gt._rotation_by_norm(-0.5)(spun), base, atol=1e-9)  # so the angle undoes it
    bent, base = draws("2v1-waves-12-5.0-3.0")
    x1 = bent[:, 1] / 0.5
    x0 = (bent[:, 0] + 0.8) / 0.1 - 5.0 * np.sin(3.0 * x1)
    np.testing.assert_allclose(np.stack([x0, x1], axis=1), base, atol=1e-9)
