"""tfmi.data.cmi_ground_truth: exact conditional MI values against independent checks,
samplers against their stated distributions."""

import numpy as np
import pytest
from scipy import linalg, stats

from tfmi.data import cmi_ground_truth as cgt
from tfmi.data import ground_truth as gt

# Student-t tasks: (Gaussian CMI of the dispersion, degrees of freedom).
STUDENT = {"student-1-1-z1-df3": (0.5, 3), "student-2-2-z1-df3": (0.0, 3), "student-2-2-z5-df5": (1.0, 5),
           "student-2-2-z20-df5": (2.0, 5)}


def test_suite_has_seven_groups_a_quick_subset_and_unique_names():
    assert len(cgt.CMI_TASKS) == 30
    assert list(cgt.CMI_GROUPS) == ["gaussian", "independent", "copula", "student", "mixture", "link", "additive"]
    assert sorted(sum(cgt.CMI_GROUPS.values(), [])) == sorted(cgt.CMI_TASKS)
    assert set(cgt.QUICK_CMI_TASKS) <= set(cgt.CMI_TASKS) and len(cgt.QUICK_CMI_TASKS) == 9
    assert {cgt.CMI_TASKS[name].group for name in cgt.QUICK_CMI_TASKS} == set(cgt.CMI_GROUPS)
    assert {task.dim_z for task in cgt.CMI_TASKS.values() if task.group == "gaussian"} >= {1, 5, 20}
    assert {round(task.cmi) for task in cgt.CMI_TASKS.values() if task.group == "gaussian"} >= {1, 2, 4}
    with pytest.raises(ValueError, match="unknown CMI task 'nope'; choose from"):
        cgt.get_cmi_task("nope")


def schur_cmi(covariance, dim_x, dim_y):
    """I(x; y | z) as the MI of the conditional covariance of (x, y) given z (a Schur
    complement), that MI from its canonical correlations."""
    d = dim_x + dim_y
    conditional = covariance[:d, :d] - covariance[:d, d:] @ linalg.solve(covariance[d:, d:], covariance[d:, :d])
    inverse_root = lambda m: linalg.inv(linalg.sqrtm(m)).real  # noqa: E731
    whitened = inverse_root(conditional[:dim_x, :dim_x]) @ conditional[:dim_x, dim_x:] @ inverse_root(
        conditional[dim_x:, dim_x:])
    return -0.5 * np.sum(np.log1p(-np.linalg.svd(whitened, compute_uv=False) ** 2))


@pytest.mark.parametrize("dims,cmi", [((1, 1, 1), 0.5), ((2, 2, 5), 2.0), ((5, 5, 5), 4.0), ((2, 3, 20), 1.0),
                                      ((3, 1, 2), 0.0)])
def test_gaussian_cmi_of_the_construction_is_the_noise_correlation_and_the_schur_complement(dims, cmi):
    dim_x, dim_y, dim_z = dims
    covariance = cgt.conditional_covariance(dim_x, dim_y, dim_z, cgt.rho_for_cmi(cmi, min(dim_x, dim_y)))
    assert cgt.gaussian_cmi(covariance, dim_x, dim_y) == pytest.approx(cmi, abs=1e-9)
    assert schur_cmi(covariance, dim_x, dim_y) == pytest.approx(cmi, abs=1e-8)
    # the construction's x and y are strongly dependent whatever the CMI
    assert gt.gaussian_mi(covariance[:dim_x + dim_y, :dim_x + dim_y], dim_x) > cmi + 0.3


def test_gaussian_cmi_matches_the_schur_complement_on_a_random_covariance():
    factor = np.random.default_rng(0).standard_normal((9, 9))
    covariance = factor @ factor.T + 0.5 * np.eye(9)
    assert cgt.gaussian_cmi(covariance, 2, 3) == pytest.approx(schur_cmi(covariance, 2, 3), rel=1e-8)
    # and I(x; y | z) = I(x; (y, z)) - I(x; z)
    xz = np.r_[0:2, 5:9]
    chain = gt.gaussian_mi(covariance, 2) - gt.gaussian_mi(covariance[np.ix_(xz, xz)], 2)
    assert cgt.gaussian_cmi(covariance, 2, 3) == pytest.approx(chain, rel=1e-8)


@pytest.mark.parametrize("name", [n for n in cgt.CMI_GROUPS["gaussian"]] + ["normal-1-1-z20-0nats"])
def test_gaussian_samples_have_the_stated_cmi(name):
    task = cgt.get_cmi_task(name)
    x, y, z = task.sample(40_000, seed=1)
    covariance = np.cov(np.concatenate([x, y, z], axis=1), rowvar=False)
    assert cgt.gaussian_cmi(covariance, task.dim_x, task.dim_y) == pytest.approx(task.cmi, abs=0.03)


def normal_scores(v):
    """Each column mapped through its ranks to standard normal quantiles."""
    return stats.norm.ppf((stats.rankdata(v, axis=0) - 0.5) / len(v))


@pytest.mark.parametrize("name", cgt.CMI_GROUPS["copula"])
def test_copula_tasks_have_the_cmi_of_their_gaussian_copula(name):
    task = cgt.get_cmi_task(name)
    scores = normal_scores(np.concatenate(task.sample(40_000, seed=2), axis=1))
    assert cgt.gaussian_cmi(np.cov(scores, rowvar=False), task.dim_x, task.dim_y) == pytest.approx(task.cmi, abs=0.03)
    x, y, z = task.sample(1000, seed=2)
    assert not np.allclose(normal_scores(x), x, atol=0.1)  # the margins are not Gaussian


def monte_carlo(pointwise):
    return pointwise.mean(), pointwise.std() / np.sqrt(len(pointwise))


@pytest.mark.parametrize("name", list(STUDENT))
def test_student_t_cmi_matches_monte_carlo_of_its_density(name):
    task = cgt.get_cmi_task(name)
    gaussian_part, df = STUDENT[name]
    dx, dy = task.dim_x, task.dim_y
    dispersion = cgt.conditional_covariance(dx, dy, task.dim_z, cgt.rho_for_cmi(gaussian_part, min(dx, dy)))
    assert cgt.gaussian_cmi(dispersion, dx, dy) == pytest.approx(gaussian_part, abs=1e-9)

    def log_density(points, block):
        return stats.multivariate_t(np.zeros(len(block)), dispersion[np.ix_(block, block)], df=df).logpdf(points)

    x, y, z = task.sample(100_000, seed=3)
    xs, ys, zs = np.arange(dx), np.arange(dx, dx + dy), np.arange(dx + dy, len(dispersion))
    mean, stderr = monte_carlo(log_density(np.concatenate([x, y, z], axis=1), np.r_[xs, ys, zs])
                               + log_density(z, zs) - log_density(np.concatenate([x, z], axis=1), np.r_[xs, zs])
                               - log_density(np.concatenate([y, z], axis=1), np.r_[ys, zs]))
    assert abs(mean - task.cmi) < 4 * stderr + 1e-3, (mean, stderr, task.cmi)


def test_student_t_cmi_tends_to_the_gaussian_cmi_for_large_df_and_exceeds_it_for_small():
    dispersion = cgt.conditional_covariance(2, 2, 3, cgt.rho_for_cmi(1.0, 2))
    assert cgt.student_t_cmi(dispersion, 2, 2, df=1e6) == pytest.approx(1.0, abs=1e-4)
    assert cgt.student_t_cmi(dispersion, 2, 2, df=3) > 1.0 + 0.02


@pytest.mark.parametrize("name", list(cgt.MONTE_CARLO_CMI))
def test_monte_carlo_cmi_matches_fresh_draws(name):
    pinned, pinned_stderr = cgt.MONTE_CARLO_CMI[name]
    assert pinned_stderr <= 0.003
    task = cgt.get_cmi_task(name)
    if name in cgt.MIXTURES:
        mixture = cgt.MIXTURES[name]
        mean, stderr = cgt.monte_carlo_cmi(mixture.draw_xyz, mixture.log_ratio_xyz, n=200_000, seed=7)
    else:
        mean, stderr = cgt.monte_carlo_cmi(task.draw, cgt.link_log_ratio, n=200_000, seed=7, chunk=10_000)
    assert abs(mean - pinned) < 4 * np.hypot(stderr, pinned_stderr), (mean, stderr, pinned)
    assert task.cmi == pinned


def test_mixture_log_ratio_matches_scipy_densities_of_each_block():
    weights = np.array([0.3, 0.7])
    means = np.array([[0.0, 1.0, -1.0, 0.5], [1.0, -1.0, 2.0, 0.0]])
    factors = np.random.default_rng(4).standard_normal((2, 4, 4))
    covariances = factors @ factors.transpose(0, 2, 1) + np.eye(4)
    mixture = cgt.ConditionalGaussianMixture(weights, means, covariances, 1, 2)
    x, y, z = mixture.draw_xyz(50, np.random.default_rng(5))
    assert (x.shape, y.shape, z.shape) == ((50, 1), (50, 2), (50, 1))

    def density(points, block):
        return sum(w * stats.multivariate_normal(m[block], c[np.ix_(block, block)]).pdf(points)
                   for w, m, c in zip(weights, means, covariances))

    expected = np.log(density(np.concatenate([x, y, z], axis=1), [0, 1, 2, 3]) * density(z, [3])
                      / density(np.concatenate([x, z], axis=1), [0, 3])
                      / density(np.concatenate([y, z], axis=1), [1, 2, 3]))
    assert np.allclose(mixture.log_ratio_xyz(x, y, z), expected, atol=1e-9)


def test_link_quadrature_is_the_closed_form_for_the_linear_link_and_converged_for_tanh():
    x, y, z = cgt.get_cmi_task("link-linear-1-1-z3").sample(20_000, seed=6)
    f, g = cgt._link_means(z)
    strength, noise_x, noise_y = cgt.LINK["strength"], cgt.LINK["noise_x"], cgt.LINK["noise_y"]
    # linear link: y | z ~ N(g + c f, c^2 s_x^2 + s_y^2), y | x, z ~ N(g + c x, s_y^2)
    exact = (stats.norm(g + strength * x[:, 0], noise_y).logpdf(y[:, 0])
             - stats.norm(g + strength * f, np.hypot(strength * noise_x, noise_y)).logpdf(y[:, 0]))
    assert np.allclose(cgt.link_log_ratio(x, y, z, link=lambda v: v), exact, atol=1e-9)
    mean, stderr = monte_carlo(exact)
    assert abs(mean - cgt.get_cmi_task("link-linear-1-1-z3").cmi) < 4 * stderr
    x, y, z = cgt.get_cmi_task("link-tanh-1-1-z3").sample(2000, seed=6)
    assert np.allclose(cgt.link_log_ratio(x, y, z), cgt.link_log_ratio(x, y, z, nodes=1281, width=12.0), atol=1e-9)


def within_bin_correlation(x, y, z, n_bins=500, kept=0.9):
    """The correlation of x and y once each bin of z (equal counts, over the central
    ``kept`` share of z, where bins are narrow) has its means removed: near 0 when x and y
    are independent given a 1-d z."""
    order = np.argsort(z[:, 0])
    cut = int(len(order) * (1 - kept) / 2)
    order = order[cut:len(order) - cut]
    centred = [np.concatenate([b - b.mean() for b in np.array_split(v[order, 0], n_bins)]) for v in (x, y)]
    return np.corrcoef(*centred)[0, 1]


@pytest.mark.parametrize("name", [n for n, t in cgt.CMI_TASKS.items() if t.cmi == 0 and t.dim_z == 1])
def test_one_dimensional_zero_cmi_tasks_are_independent_given_z_but_not_marginally(name):
    task = cgt.get_cmi_task(name)
    x, y, z = task.sample(100_000, seed=8)
    x, y = normal_scores(x), normal_scores(y)  # monotone maps keep x and y independent given z
    assert abs(within_bin_correlation(x, y, z)) < 0.02
    assert abs(within_bin_correlation(x**2, y**2, z)) < 0.02
    assert max(abs(np.corrcoef(x[:, 0], y[:, 0])[0, 1]), abs(np.corrcoef(x[:, 0]**2, y[:, 0]**2)[0, 1])) > 0.2


def test_within_bin_correlation_sees_the_conditional_dependence_of_a_gaussian_task():
    x, y, z = cgt.get_cmi_task("normal-1-1-z1-0.5nats").sample(100_000, seed=8)
    rho = within_bin_correlation(x, y, z)
    assert -0.5 * np.log(1 - rho**2) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("name", ["additive-1-1-z1-0.5nats", "additive-hetero-1-1-z1-0.5nats"])
def test_additive_tasks_have_the_noise_correlation_given_z(name):
    """Within narrow bins of z the correlation left is rho (a scale common to x and y
    leaves it unchanged); -1/2 log(1 - rho^2) is the task's CMI."""
    task = cgt.get_cmi_task(name)
    x, y, z = task.sample(200_000, seed=8)
    rho = within_bin_correlation(x, y, z, n_bins=2000)
    assert -0.5 * np.log(1 - rho**2) == pytest.approx(task.cmi, abs=0.02)


def test_every_zero_cmi_task_is_exactly_zero_and_marginally_dependent():
    zero = [task for task in cgt.CMI_TASKS.values() if task.cmi == 0]
    assert {task.name for task in zero} == set(cgt.CMI_GROUPS["independent"]) | {"mixed-normal-1-1-z1-0nats"}
    for task in zero:
        x, y, _ = task.sample(20_000, seed=9)
        x, y = normal_scores(x), normal_scores(y)
        if task.name == "independent-scale-1-1-z1":  # uncorrelated, dependent through the common spread
            x, y = x**2, y**2
        cross = np.corrcoef(x, y, rowvar=False)[:task.dim_x, task.dim_x:]
        assert np.abs(cross).max() > 0.2, task.name


def test_every_task_samples_finite_arrays_of_its_dimensions_deterministically():
    for task in cgt.CMI_TASKS.values():
        x, y, z = task.sample(300, seed=4)
        assert (x.shape, y.shape, z.shape) == ((300, task.dim_x), (300, task.dim_y), (300, task.dim_z)), task.name
        assert all(np.isfinite(v).all() for v in (x, y, z)), task.name
        again = task.sample(300, seed=4)
        assert all(np.array_equal(a, b) for a, b in zip((x, y, z), again)), task.name
        assert not np.array_equal(task.sample(300, seed=5)[0], x), task.name
