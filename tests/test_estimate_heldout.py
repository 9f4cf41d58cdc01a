"""Held-out estimators over a pair scorer: formulas against tfmi.bounds on the full score
matrix, values against closed-form Gaussian MI with the exact log ratio as the scorer,
and the coverage of the 95% interval."""

import numpy as np
import pytest

from tfmi import bounds
from tfmi.data.gaussians import rho_from_mi
from tfmi.estimation import heldout
from tfmi.estimation.gaussian import GaussianRatio


def correlated_gaussian(n, dim, mi, rng):
    rho = rho_from_mi(mi, dim)
    x = rng.standard_normal((n, dim))
    return x, rho * x + np.sqrt(1 - rho**2) * rng.standard_normal((n, dim))


def exact_scorer(dim, mi):
    """The true log density ratio of ``correlated_gaussian`` (closed form)."""
    rho = rho_from_mi(mi, dim)
    covariance = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    return GaussianRatio(np.zeros(2 * dim), covariance, dim)


def matrix_scorer(matrix):
    """Scores of rows x (indices) against all columns of a fixed matrix."""
    return lambda rows, columns: matrix[np.asarray(rows)[:, 0]][:, np.asarray(columns)[:, 0]]


@pytest.mark.parametrize(
    "method, kwargs, bound",
    [
        ("infonce", {}, bounds.infonce),
        ("dv", {}, bounds.dv),
        ("smile", {"clip": 1.5}, lambda s: bounds.smile(s, 1.5)),
        ("tuba", {"shift": -1.0}, bounds.nwj),
        ("tuba", {"shift": 0.0}, bounds.tuba),
    ],
)
def test_all_pairs_value_equals_the_bound_on_the_full_matrix(method, kwargs, bound):
    matrix = np.random.default_rng(0).normal(0.0, 2.0, (37, 37)) + 3.0 * np.eye(37)
    index = np.arange(37)[:, None]
    # chunk_size 5: the row chunks must not change the value.
    result = heldout.estimate(matrix_scorer(matrix), index, index, method, chunk_size=5, **kwargs)
    assert result.mi == pytest.approx(float(bound(matrix.astype(np.float32))), abs=1e-4)
    assert result.terms.shape == (37,) and result.mi == pytest.approx(result.terms.mean())
    assert result.ceiling == (pytest.approx(np.log(37)) if method == "infonce" else None)


@pytest.mark.parametrize("method", ["infonce", "dv", "smile", "tuba", "plugin"])
def test_exact_critic_recovers_closed_form_mi(method):
    dim, mi = 3, 1.0
    x, y = correlated_gaussian(2000, dim, mi, np.random.default_rng(1))
    scorer = exact_scorer(dim, mi)
    if method == "plugin":
        result = heldout.plugin(scorer.pointwise, x, y)
    else:
        result = heldout.estimate(scorer.scores, x, y, method)
    # InfoNCE with K = 2000 candidates loses ~ E[r - 1] / K < 0.01 nats at 1 nat.
    assert abs(result.mi - mi) < 4 * result.stderr + 0.01, (result.mi, result.stderr)
    assert 0.005 < result.stderr < 0.1


def test_infonce_stops_at_log_n_where_plugin_does_not():
    dim, mi, n = 10, 8.0, 500
    x, y = correlated_gaussian(n, dim, mi, np.random.default_rng(2))
    scorer = exact_scorer(dim, mi)
    infonce = heldout.estimate(scorer.scores, x, y, "infonce")
    assert infonce.mi <= np.log(n) < mi - 1.5
    assert abs(heldout.plugin(scorer.pointwise, x, y).mi - mi) < 0.3


@pytest.mark.parametrize("method", ["infonce", "dv", "plugin"])
def test_interval_covers_the_truth_at_about_95_percent(method):
    dim, mi, n, repeats = 2, 0.5, 300, 200
    rng = np.random.default_rng(3)
    scorer = exact_scorer(dim, mi)
    covered = 0
    for _ in range(repeats):
        x, y = correlated_gaussian(n, dim, mi, rng)
        if method == "plugin":
            result = heldout.plugin(scorer.pointwise, x, y)
        else:
            result = heldout.estimate(scorer.scores, x, y, method)
        covered += abs(result.mi - mi) <= 1.959964 * result.stderr
    # 95% of 200: 190 +- 3 (binomial sd); the rows share their negatives, which the
    # standard error neglects, so allow a little less.
    assert 175 <= covered <= 199, covered


def test_bad_scorers_are_named():
    index = np.arange(4)[:, None]
    with pytest.raises(ValueError, match="unknown method"):
        heldout.estimate(matrix_scorer(np.zeros((4, 4))), index, index, "nce")
    with pytest.raises(ValueError, match=r"must be \[4, 4\]"):
        heldout.estimate(lambda a, b: np.zeros((len(a), 3)), index, index)
    with pytest.raises(FloatingPointError, match="NaN or inf"):
        heldout.estimate(lambda a, b: np.full((len(a), len(b)), np.nan), index, index)


def test_blocks_of_candidates_keep_the_cost_linear():
    dim, mi = 2, 0.5
    x, y = correlated_gaussian(1000, dim, mi, np.random.default_rng(4))
    scorer = exact_scorer(dim, mi)
    whole = heldout.estimate(scorer.scores, x, y, "dv")
    blocks = heldout.estimate(scorer.scores, x, y, "infonce", max_candidates=300)  # 4 blocks of 250
    assert blocks.ceiling == pytest.approx(np.log(250))
    first = heldout.estimate(scorer.scores, x[:250], y[:250], "infonce")
    assert blocks.terms[:250] == pytest.approx(first.terms)
    assert abs(blocks.mi - whole.mi) < 0.05
