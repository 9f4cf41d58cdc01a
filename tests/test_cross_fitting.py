"""Cross-fitting (tfmi.estimation.driver.folds, cross_fitted) against NumPy: the folds
partition the rows, and the estimate and its standard error follow the stated formulas
for models whose terms and refits are known exactly."""

import numpy as np
import pytest

from tfmi.estimation import candidates, driver, heldout, protocol


def test_the_folds_test_parts_partition_the_rows_and_the_rest_trains():
    folds = driver.folds(103, 5, 20, seed=3)
    tests = np.concatenate([fold.test for fold in folds])
    assert sorted(tests.tolist()) == list(range(103))  # every row a test row exactly once
    for fold in folds:
        assert len(fold.valid) == 20 and len(fold.test) in (20, 21)
        rest = np.concatenate([fold.train, fold.valid])
        assert sorted(rest.tolist()) == sorted(set(range(103)) - set(fold.test.tolist()))
    assert [f.test.tolist() for f in folds] == [f.test.tolist() for f in driver.folds(103, 5, 20, seed=3)]


class _Views:
    """The three parts of each fold's rows as a ``candidates.Representations`` is read."""

    def __init__(self, values, splits):
        self.parts = [(values[part][:, None], values[part][:, None]) for part in splits]

    def __getitem__(self, name):
        return self.parts

    def model_train(self, name, settings):
        return self.parts[0]


class _Shifted:
    """A model whose term on a row is the row's value plus ``shift``."""

    def __init__(self, shift):
        self.shift = shift

    def pointwise(self, x, y):
        return x[:, 0] + self.shift


def _fitted(values, splits, refit_shifts):
    """(a Candidate reading ``values`` as its terms, its views, splits); its k-th refit adds
    ``refit_shifts[k % len]`` to every term."""
    calls = []

    def refit(rows):
        calls.append(rows)
        return _Shifted(refit_shifts[(len(calls) - 1) % len(refit_shifts)])

    model = _Shifted(0.0)
    chosen = candidates.Candidate("fake", "standardised", None,
                                  lambda x, y: heldout.plugin(model.pointwise, x, y), [], 0, len(splits.train),
                                  refit, model)
    return chosen, _Views(values, splits), splits


def test_the_estimate_and_its_stderr_follow_the_formulas():
    values = np.random.default_rng(0).normal(0.3, 0.5, 500)
    folds = driver.folds(500, 5, 100, seed=1)
    # No bootstrap: the mean of all n terms, stderr sd / sqrt(n).
    settings = protocol.FitSettings(seed=1, bootstrap=0)
    result, phrase = driver.cross_fitted([_fitted(values, fold, [0.0]) for fold in folds], settings)
    assert result.mi == pytest.approx(values.mean())
    assert result.stderr == pytest.approx(values.std(ddof=1) / np.sqrt(500))
    assert np.allclose(result.terms, values) and "cross-fitted over 5 folds" in phrase  # in row order
    # Every refit shifted by +0.05: each fold's bias estimate is 0.05, removed; no fitting variance.
    settings = protocol.FitSettings(seed=1, bootstrap=8)  # ceil(8 / 5) = 2 refits per fold
    result, phrase = driver.cross_fitted([_fitted(values, fold, [0.05]) for fold in folds], settings)
    assert result.mi == pytest.approx(values.mean() - 0.05)
    assert result.stderr == pytest.approx(values.std(ddof=1) / np.sqrt(500))
    assert "each fold bias-corrected by 2 bootstrap refits" in phrase
    # Refits at +0.1 and -0.1: no bias; the fitting variance var_b = 0.02 (ddof 1) times (1 + 1/2),
    # shared by the folds, adds to the test noise.
    result, _ = driver.cross_fitted([_fitted(values, fold, [0.1, -0.1]) for fold in folds], settings)
    assert result.mi == pytest.approx(values.mean())
    assert result.stderr == pytest.approx(np.sqrt(values.var(ddof=1) / 500 + 0.02 * 1.5))


def test_serial_dependence_widens_by_the_terms_newey_west_factor():
    values = np.cumsum(np.random.default_rng(2).normal(size=400)) * 0.01  # strongly autocorrelated in row order
    folds = driver.folds(400, 4, 80, seed=0)
    settings = protocol.FitSettings(seed=0, bootstrap=0, serial_dependence=True)
    result, phrase = driver.cross_fitted([_fitted(values, fold, [0.0]) for fold in folds], settings)
    factor = protocol.serial_factor(values, np.arange(400))
    assert factor > 2
    assert result.stderr == pytest.approx(np.sqrt(factor) * values.std(ddof=1) / np.sqrt(400))
    assert "widened" in phrase
