"""tfmi.estimation.candidates and mixture: each candidate against an exact MI, the mixture's
scores against SciPy densities, the bootstrap's interval against the truth."""

import numpy as np
import pytest
from scipy import stats

import tfmi
from tfmi.data import ground_truth
from tfmi.estimation import candidates, mixture


def two_component_mixture():
    """An exact mixture model: 0.3 / 0.7 weights, 1 + 2 dimensions."""
    rng = np.random.default_rng(0)
    covariances = []
    for _ in range(2):
        a = rng.standard_normal((3, 3))
        covariances.append(a @ a.T / 3 + 0.3 * np.eye(3))
    means = np.array([[0.0, 1.0, -1.0], [2.0, -1.0, 0.5]])
    return mixture.MixtureRatio([0.3, 0.7], means, covariances, 1)


def test_mixture_scores_match_scipy_log_densities():
    model = two_component_mixture()
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal((5, 1)), rng.standard_normal((7, 2))

    def mixture_logpdf(points, block):
        return np.log(sum(w * stats.multivariate_normal(m[block], c[np.ix_(block, block)]).pdf(points)
                          for w, m, c in zip(model.weights, model.means, model.covariances)))

    joint = np.array([[mixture_logpdf(np.r_[ui, vj], [0, 1, 2]) for vj in v] for ui in u])
    expected = joint - mixture_logpdf(u, [0])[:, None] - mixture_logpdf(v, [1, 2])[None, :]
    np.testing.assert_allclose(model.scores(u, v), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.pointwise(u[:5], v[:5]), np.diag(expected[:, :5]), rtol=1e-5, atol=1e-5)


def test_mixture_recovers_an_x_shape_that_has_no_correlation():
    """X 2 x 2: 1/2 N(0, corr 0.9) + 1/2 N(0, corr -0.9) per pair; truth by Monte Carlo of
    the exact density (tfmi.data.ground_truth), 1.0755 nats."""
    task = ground_truth.get_task("mix-x-2-2-0.9")
    x, y = task.sample(5000, seed=3)
    result = tfmi.estimate_mi(x, y, estimator="mixture")
    assert abs(result.mi - task.mi) < 3 * result.stderr + 0.03, result
    assert result.method.startswith("mixture model (")
    assert result.interval[0] <= task.mi <= result.interval[1]
    copula = tfmi.estimate_mi(x, y, estimator="copula")
    assert copula.mi < task.mi - 0.5  # zero correlation: the elliptical copula misses most of it


def test_mixture_grows_to_many_clusters_at_high_mi():
    """64 separated clusters (grid, 1 x 1): I = log 64 = 4.159, beyond a small critic."""
    task = ground_truth.get_task("mix-grid-1-1-64")
    x, y = task.sample(5000, seed=4)
    result = tfmi.estimate_mi(x, y, estimator="mixture")
    assert abs(result.mi - task.mi) < 0.1, result
    assert result.best_step == 64


def test_mixture_refuses_too_few_pairs_for_one_gaussian():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal((50, 10)), rng.standard_normal((50, 10))
    with pytest.raises(ValueError, match="too few for one Gaussian in 20 dimensions"):
        mixture.fit_mixture(u, v, u, v)


def test_refit_keeps_the_number_of_components():
    task = ground_truth.get_task("1v1-X-0.9")
    x, y = task.sample(3000, seed=5)
    model = mixture.fit_mixture(x[:2000], y[:2000], x[2000:], y[2000:])
    again = model.refit(x[1000:], y[1000:])
    assert again.num_components == model.num_components >= 2
    assert abs(np.mean(again.pointwise(x, y)) - np.mean(model.pointwise(x, y))) < 0.05


def test_views_map_train_rows_only():
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((300, 2)) * 5 + 3, rng.standard_normal((100, 2)), rng.standard_normal((100, 2))]
    y = [rng.standard_cauchy((300, 1)), rng.standard_cauchy((100, 1)), rng.standard_cauchy((100, 1))]
    views = candidates.Representations(x, y)
    train_x, _ = views["standardised"][0]
    np.testing.assert_allclose(train_x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(train_x.std(axis=0), 1.0, atol=1e-5)
    _, train_y = views["normal"][0]
    assert np.abs(train_y).max() < 3.5  # normal scores of 300 points: the Cauchy tails are gone
    assert views["standardised"][1][0].mean() == pytest.approx(((x[1] - x[0].mean(0)) / x[0].std(0)).mean(), abs=1e-5)


@pytest.mark.parametrize("name", list(candidates.CANDIDATES))
def test_every_candidate_reads_a_gaussian_within_its_error(name):
    """Each registered candidate on a 2 + 2 Gaussian with 0.5 nats (exact)."""
    rng = np.random.default_rng(6)
    rho = np.sqrt(1 - np.exp(-0.5))  # one correlated pair: I = -1/2 log(1 - rho^2) = 0.25 each, two pairs
    x = rng.standard_normal((4000, 2))
    y = rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((4000, 2))
    estimator = "infonce" if name == "critic" else name
    result = tfmi.estimate_mi(x, y, estimator=estimator, max_steps=600)
    assert abs(result.mi - 0.5) < 3 * result.stderr + 0.05, result
    assert set(result.curve[0]) == set(candidates.CURVE_KEYS)
    assert all(point["valid"] is not None for point in result.curve)


def test_auto_curve_has_the_one_schema_and_names_the_stage_kept():
    task = ground_truth.get_task("mix-x-2-2-0.9")
    x, y = task.sample(3000, seed=7)
    result = tfmi.estimate_mi(x, y, max_steps=300, screen=False)
    assert result.method.startswith("mixture model"), result.method
    assert all(set(point) == set(candidates.CURVE_KEYS) for point in result.curve)
    assert result.best_step in [point["stage"] for point in result.curve]
    assert set(result.diagnostics["validation_infonce"]) >= {"copula model", "flow model", "infonce critic"}


def coverage(make_pairs, truth, estimator, seeds):
    """How many of the seeds' 95% intervals hold ``truth``."""
    held = 0
    for seed in seeds:
        x, y = make_pairs(seed)
        result = tfmi.estimate_mi(x, y, estimator=estimator, seed=seed)
        held += result.interval[0] <= truth <= result.interval[1]
        assert result.interval[0] >= 0.0
    return held


def independent(n, dim):
    return lambda seed: tuple(np.random.default_rng([seed, 1]).standard_normal((2, n, dim)))


def correlated(n, dim, mi):
    rho = np.sqrt(1 - np.exp(-2 * mi / dim))

    def make(seed):
        rng = np.random.default_rng([seed, 2])
        x = rng.standard_normal((n, dim))
        return x, rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, dim))

    return make


def from_task(name, n):
    return lambda seed: ground_truth.get_task(name).sample(n, seed + 100)


COVERAGE_CASES = {
    "independent-5-5": (independent(4000, 5), 0.0, "copula"),
    "gaussian-5-5-0.5nat": (correlated(4000, 5, 0.5), 0.5, "copula"),
    "independent-10-10-n2000": (independent(2000, 10), 0.0, "copula"),
    "gaussian-10-10-n2000": (correlated(2000, 10, 0.9704), 0.9704, "copula"),
    "mix-x-2-2": (from_task("mix-x-2-2-0.9", 5000), ground_truth.get_task("mix-x-2-2-0.9").mi, "mixture"),
    "inliers-5-5": (from_task("mult-sparse-w-inliers-5-5-2-2.0-0.2", 5000),
                    ground_truth.get_task("mult-sparse-w-inliers-5-5-2-2.0-0.2").mi, "mixture"),
    # Small samples, the default (the batch-trained candidates skipped): 40 of 40 held at
    # n = 50 and 100, 39 of 40 at 200 when these were added.
    "gaussian-1-1-n50": (correlated(50, 1, 0.5), 0.5, "auto"),
    "independent-1-1-n50": (independent(50, 1), 0.0, "auto"),
    "gaussian-2-2-n100": (correlated(100, 2, 0.5), 0.5, "auto"),
    "independent-2-2-n100": (independent(100, 2), 0.0, "auto"),
    "gaussian-2-2-n200": (correlated(200, 2, 1.0), 1.0, "auto"),
    "independent-3-3-n200": (independent(200, 3), 0.0, "auto"),
}


@pytest.mark.parametrize("case", ["independent-5-5", "gaussian-10-10-n2000", "mix-x-2-2", "gaussian-1-1-n50",
                                  "gaussian-2-2-n200"])
def test_intervals_hold_the_truth_including_zero(case):
    """10 fixed seeds; at 95% nominal, 9 or 10 held in each case when this was written."""
    make_pairs, truth, estimator = COVERAGE_CASES[case]
    assert coverage(make_pairs, truth, estimator, range(10)) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("case", list(COVERAGE_CASES))
def test_intervals_hold_the_truth_in_nine_of_ten_seeds(case):
    make_pairs, truth, estimator = COVERAGE_CASES[case]
    assert coverage(make_pairs, truth, estimator, range(40)) >= 36


def test_early_stopping_keeps_the_best_and_stops_after_patience():
    from tfmi.estimation.fit_loop import EarlyStopping

    stopper = EarlyStopping(patience=2, mode="min")
    values = [3.0, 2.0, 2.5, 1.5, 1.6, 1.7, 0.1]
    for step, value in enumerate(values):
        if not stopper.update(step, value, lambda v=value: v):
            break
    assert step == 5 and stopper.stopped  # two evaluations without a gain after 1.5: 0.1 is never seen
    assert (stopper.best_step, stopper.best_value, stopper.best_weights) == (3, 1.5, 1.5)
    diverged = EarlyStopping(patience=5, mode="max")
    diverged.update(0, 1.0, lambda: "w")
    assert not diverged.update(1, float("nan"), lambda: "nan") and diverged.best_weights == "w"
