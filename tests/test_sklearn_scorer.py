"""tfmi.sklearn's feature-selection scorers and the continuous-discrete MI behind
mutual_info_classif (tfmi.estimation.mixed), against per-feature estimate_mi calls,
exact MI of Gaussian class-conditional problems, and scikit-learn's own machinery; the
problems of tfmi.data.selection_problems and tools/bench_feature_selection.py."""

import json
import random
from functools import partial

import numpy as np
import pytest
from scipy import stats
from sklearn.feature_selection import SelectKBest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

import tfmi
from tfmi.data import selection_problems
from tfmi.estimation import discrete
from tfmi.estimation.mixed import continuous_discrete_mi
from tfmi.sklearn import mutual_info_classif, mutual_info_regression

copula_scores = partial(mutual_info_regression, estimator="copula")


def gaussian_classes_mi(means, priors):
    """Exact I(x; c) of x | c ~ N(means[c], 1), c ~ priors (quadrature)."""
    return selection_problems.gaussian_classes_mi(means, np.ones(len(means)), priors)


def gaussian_classes(n, means, priors, seed):
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(means), size=n, p=priors)
    return rng.standard_normal(n) + np.asarray(means, float)[labels], labels


def regression_problem(n=800, p=6, seed=0):
    """y = x0 + 0.8 x1^3 + noise (x1's cube: monotone): features 0 and 1 informative."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X[:, 1] = X[:, 1] ** 3
    y = X[:, 0] + 0.8 * np.cbrt(X[:, 1]) + 0.5 * rng.standard_normal(n)
    return X, y


def test_exact_mi_of_the_problems_against_limits_and_monte_carlo():
    # Well-separated classes: I -> H(c) = log K; equal classes: 0.
    assert gaussian_classes_mi([0, 40, 80], [1 / 3] * 3) == pytest.approx(np.log(3), abs=1e-6)
    assert gaussian_classes_mi([0, 0], [0.5, 0.5]) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(0)
    means, scales, priors = np.array([0.0, 0.0, 0.0]), np.array([0.5, 1.0, 2.0]), np.array([0.3, 0.3, 0.4])
    labels = rng.choice(3, size=100_000, p=priors)
    x = means[labels] + scales[labels] * rng.standard_normal(100_000)
    log_densities = stats.norm.logpdf(x[:, None], means, scales)
    ratio = log_densities[np.arange(len(x)), labels] - np.log(np.exp(log_densities) @ priors)
    assert selection_problems.gaussian_classes_mi(means, scales, priors) == pytest.approx(ratio.mean(), abs=0.006)
    # h(G + b q(Z)): Gaussian without the quadratic term; the cross-entropy of the
    # quadrature's density on true draws equals its entropy only if it is the density.
    assert selection_problems.sum_entropy(2.0, scale=1e-9) == pytest.approx(0.5 * np.log(2 * np.pi * np.e * 2.0))
    y = np.sqrt(2.65) * rng.standard_normal(40_000) + 0.8 * (rng.standard_normal(40_000) ** 2 - 1) / np.sqrt(2)
    z, weights = np.polynomial.hermite_e.hermegauss(201)
    density = stats.norm.pdf(y[:, None], 0.8 * (z**2 - 1) / np.sqrt(2), np.sqrt(2.65)) @ (weights / weights.sum())
    assert selection_problems.sum_entropy(2.65) == pytest.approx(-np.mean(np.log(density)), abs=0.012)
    problem = selection_problems.regression_problem(500, num_features=7)
    assert problem.X.shape == (500, 7) and problem.informative == [0, 1, 2, 3, 4]
    assert np.all(problem.mi[:5] > 0.02) and np.all(problem.mi[5:] == 0)


def test_regression_values_are_per_feature_estimate_mi_clipped_at_zero():
    X, y = regression_problem()
    mi, low, high = mutual_info_regression(X, y, estimator="copula", return_intervals=True)
    expected = [tfmi.estimate_mi(X[:, j], y, seed=0, estimator="copula") for j in range(X.shape[1])]
    np.testing.assert_array_equal(mi, [max(result.mi, 0.0) for result in expected])
    np.testing.assert_array_equal(low, [result.interval[0] for result in expected])
    np.testing.assert_array_equal(high, [result.interval[1] for result in expected])
    assert mi.shape == (6,) and mi.dtype == np.float64 and np.all(mi >= 0)
    assert any(result.mi < 0 for result in expected)  # the clip is exercised
    np.testing.assert_array_equal(copula_scores(X, y, n_jobs=2), mi)  # threads change nothing


def test_select_k_best_with_the_default_estimator_picks_the_informative_features():
    X, y = regression_problem(n=600, p=4, seed=1)
    selector = SelectKBest(score_func=mutual_info_regression, k=2).fit(X, y)
    assert sorted(selector.get_support(indices=True)) == [0, 1]
    assert selector.scores_[:2].min() > 0.1 > selector.scores_[2:].max()


def test_grid_search_over_k_in_a_pipeline_keeps_the_informative_features():
    X, y = regression_problem(n=600)
    pipeline = Pipeline([("select", SelectKBest(copula_scores)), ("model", Ridge())])
    search = GridSearchCV(pipeline, {"select__k": [1, 2, 6]}, cv=2).fit(X, y)
    scores = dict(zip(search.cv_results_["param_select__k"], search.cv_results_["mean_test_score"]))
    assert scores[2] > scores[1] + 0.05  # the second informative feature matters
    assert search.best_params_["select__k"] >= 2
    assert scores[2] > scores[search.best_params_["select__k"]] - 0.01
    selected = search.best_estimator_.named_steps["select"].get_support(indices=True)
    assert {0, 1} <= set(selected)


def test_classif_holds_the_exact_mi_of_gaussian_classes_and_zero_for_noise():
    means, priors = [0.0, 1.0, 2.0], [0.2, 0.3, 0.5]
    x, labels = gaussian_classes(2000, means, priors, seed=3)
    noise = np.random.default_rng(4).standard_normal(2000)
    names = np.array(["low", "mid", "high"])[labels]  # string labels
    mi, low, high = mutual_info_classif(np.column_stack([x, noise]), names, return_intervals=True)
    truth = gaussian_classes_mi(means, priors)
    assert low[0] <= truth <= high[0]
    assert abs(mi[0] - truth) < 0.05
    assert low[1] == 0.0 and mi[1] < 0.02
    direct = continuous_discrete_mi(x, labels)
    assert mi[0] == max(direct.mi, 0.0)  # the labels' encoding does not matter


@pytest.mark.parametrize("means, priors", [([0.0, 2.0, 4.0, 6.0, 8.0], [0.2] * 5), ([0.0, 1.0], [0.5, 0.5])])
def test_continuous_discrete_mi_at_10000_rows(means, priors):
    x, labels = gaussian_classes(10_000, means, priors, seed=5)
    result = continuous_discrete_mi(x, labels)
    truth = gaussian_classes_mi(means, priors)
    assert result.interval[0] <= truth <= result.interval[1]
    assert abs(result.mi - truth) < 0.02
    assert result.settings["n_test"] == 10_000 and result.settings["folds"] == 5  # cross-fitted: every row read once
    assert "class-conditional mixtures" in result.method and "cross-fitted over 5 folds" in result.method
    assert result.warnings == []


def test_continuous_discrete_mi_of_independent_labels_holds_zero():
    rng = np.random.default_rng(6)
    result = continuous_discrete_mi(rng.standard_normal(2000), rng.integers(0, 4, 2000))
    assert result.interval[0] == 0.0 and result.interval[1] < 0.03


def test_continuous_discrete_mi_rare_class_and_one_class():
    x, labels = gaussian_classes(1000, [0.0, 2.0], [0.5, 0.5], seed=7)
    labels = labels.astype(object)
    labels[:2] = "rare"  # strings and integers are not comparable: refused by name
    with pytest.raises(ValueError, match="comparable class labels"):
        continuous_discrete_mi(x, labels)
    labels = labels.astype(str)
    result = continuous_discrete_mi(x, labels)
    assert any("'rare'" in warning and "under-stated" in warning for warning in result.warnings)
    with pytest.raises(ValueError, match="one class"):
        continuous_discrete_mi(x, np.zeros(1000, dtype=int))


def test_dataframe_input_keeps_names_and_values():
    pd = pytest.importorskip("pandas")
    X, y = regression_problem(n=400, p=3)
    table = pd.DataFrame(X, columns=["age", "dose", "noise"])
    mi, low, high = copula_scores(table, pd.Series(y, name="response"), return_intervals=True)
    assert list(mi.index) == ["age", "dose", "noise"] and mi.name == "mi" and high.name == "high"
    np.testing.assert_array_equal(mi.to_numpy(), copula_scores(X, y))
    assert np.all(low <= mi) and np.all(mi <= high)
    table["grade"] = np.arange(400) % 40  # 40 levels: continuous to "auto", discrete by name
    labels = pd.Series(np.where(y > 0, "up", "down"))
    scores = mutual_info_classif(table, labels, discrete_features=["grade"])
    codes = (y > 0).astype(int)[:, None]
    assert scores[3] == max(discrete.contingency_mi(table[["grade"]].to_numpy(), codes)[0], 0.0)
    assert scores[0] > 0.1 and scores[3] < 0.1


def test_constant_features_and_target_score_zero():
    X, y = regression_problem(n=400, p=3)
    X[:, 2] = 7.0
    mi, low, high = copula_scores(X, y, return_intervals=True)
    assert mi[0] > 0.1 and (mi[2], low[2], high[2]) == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(copula_scores(X, np.ones(400)), np.zeros(3))
    np.testing.assert_array_equal(mutual_info_classif(X, np.full(400, "a")), np.zeros(3))


def test_discrete_features_are_read_as_discrete():
    rng = np.random.default_rng(8)
    means, priors = [0.0, 1.0, 2.0], [1 / 3] * 3
    y, group = gaussian_classes(3000, means, priors, seed=9)
    X = np.column_stack([group, rng.standard_normal(3000)])  # an integer feature: discrete under "auto"
    mi, low, high = mutual_info_regression(X, y, return_intervals=True, estimator="copula")
    truth = gaussian_classes_mi(means, priors)
    assert low[0] <= truth <= high[0]
    assert mi[0] == max(continuous_discrete_mi(y, group).mi, 0.0)
    labels = (group + rng.integers(0, 2, 3000)) % 3
    classif = mutual_info_classif(X, labels)
    assert classif[0] == pytest.approx(discrete.contingency_mi(group[:, None], labels[:, None])[0])


def test_bad_input_gets_one_clear_error():
    X, y = regression_problem(n=300, p=2)
    bad = y.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="mutual_info_regression: y holds NaN"):
        copula_scores(X, bad)
    with pytest.raises(ValueError, match="mutual_info_classif: y has 1 missing"):
        mutual_info_classif(X, np.where(np.isnan(bad), np.nan, 1.0 * (y > 0)))
    with pytest.raises(ValueError, match="X and y must pair up row by row, got 299 and 300"):
        copula_scores(X[:-1, 0], y)
    with pytest.raises(ValueError, match="y must be one target"):
        copula_scores(X, X)
    with pytest.raises(ValueError, match="discrete_features holds 5"):
        copula_scores(X, y, discrete_features=[5])
    with pytest.raises(ValueError, match="mask has shape"):
        copula_scores(X, y, discrete_features=[True])


def test_scorers_leave_the_callers_random_state_alone():
    X, y = regression_problem(n=300, p=2)
    np.random.seed(11)
    random.seed(11)
    before = np.random.get_state()[1].copy(), random.getstate()
    copula_scores(X, y)
    mutual_info_classif(X, y > 0)
    assert np.array_equal(np.random.get_state()[1], before[0]) and random.getstate() == before[1]


def test_benchmark_tool_runs_resumes_and_reports(helpers, tmp_path, capsys):
    tool = helpers.load_tool("bench_feature_selection")
    with pytest.raises(SystemExit):
        tool.parse_args(["--scorers", "tfmi-magic"])
    assert "unknown scorers ['tfmi-magic']" in capsys.readouterr().err
    results = tmp_path / "results.json"
    argv = ["--n", "400", "--features", "7", "--scorers", "tfmi-copula,sklearn-regression", "--results", str(results),
            "--out", str(tmp_path / "report")]
    assert tool.main(argv) == 0
    first = json.loads(results.read_text())
    assert tool.main(argv) == 0  # resumed: nothing is run again
    assert json.loads(results.read_text()) == first
    report = json.loads((tmp_path / "report.json").read_text())
    assert [run["scorer"] for run in report["runs"]] == ["tfmi-copula", "sklearn-regression"]
    assert report["runs"][0]["scores"] == copula_scores(*_table(selection_problems.regression_problem(400, 7))).tolist()
    assert "| tfmi-copula | regression |" in (tmp_path / "report.md").read_text()


def _table(problem):
    return problem.X, problem.y
