"""Feature-selection scorers for scikit-learn: the MI of each feature with the target,
estimated by tfmi's held-out estimators.

    from sklearn.feature_selection import SelectKBest
    import tfmi.sklearn
    SelectKBest(tfmi.sklearn.mutual_info_regression, k=10).fit(X, y)

``mutual_info_regression`` and ``mutual_info_classif`` take what scikit-learn's
functions of the same names take (X [n, p] array or DataFrame, y [n]) and return
I(X_j; y) in nats for each feature j as a float array [p], clipped at 0 as
scikit-learn's are (an estimate below 0 is noise around an MI of 0). A constant feature
(or a constant target) scores 0. A continuous feature against a continuous target is
``tfmi.estimate_mi``; one side continuous and the other discrete is
``tfmi.estimation.mixed.continuous_discrete_mi`` (class-conditional mixtures); two
discrete sides are read from their contingency table (``discrete.contingency_mi``).
"""

import logging
import threading
import time

import numpy as np
import scipy.sparse
from sklearn.utils.parallel import Parallel, delayed

from tfmi.estimation import discrete, estimate_mi, inputs, protocol
from tfmi.estimation.mixed import continuous_discrete_mi, label_codes

__all__ = ["mutual_info_regression", "mutual_info_classif"]

logger = logging.getLogger("tfmi.sklearn")

# The arguments of estimate_mi's protocol that continuous_discrete_mi shares.
SHARED_ARGUMENTS = ("valid_fraction", "test_fraction", "bootstrap")


def _features(X, caller):
    """(X as a float64 matrix [n, p], its column names or None); a sparse matrix is made
    dense."""
    if scipy.sparse.issparse(X):
        X = X.toarray()
    return inputs.as_matrix(X, caller, "X"), inputs.column_names(X)


def _discrete_mask(discrete_features, matrix, names, caller):
    """[p] bool: which features are discrete. "auto": those that look discrete
    (``discrete.levels``: at most ``discrete.MAX_LEVELS`` distinct values, each seen
    ``discrete.MIN_ROWS_PER_LEVEL`` times on average); a bool for all; a boolean mask, or
    indices (column names for a DataFrame)."""
    p = matrix.shape[1]
    if isinstance(discrete_features, str):
        if discrete_features != "auto":
            raise ValueError(f"{caller}: discrete_features must be 'auto', a bool, a mask or indices, "
                             f"got {discrete_features!r}.")
        return np.array([discrete.levels(matrix[:, [j]]) is not None for j in range(p)])
    if isinstance(discrete_features, (bool, np.bool_)):
        return np.full(p, bool(discrete_features))
    given = np.asarray(discrete_features)
    if given.dtype.kind == "b":
        if given.shape != (p,):
            raise ValueError(f"{caller}: the discrete_features mask has shape {given.shape}; X has {p} features.")
        return given.copy()
    mask = np.zeros(p, dtype=bool)
    for item in given.reshape(-1).tolist():
        if isinstance(item, str):
            if names is None or item not in names:
                raise ValueError(f"{caller}: discrete_features names {item!r}, which is not a column of X "
                                 f"({'X has no column names' if names is None else names[:12]}).")
            mask[names.index(item)] = True
        elif isinstance(item, int) and -p <= item < p:
            mask[item] = True
        else:
            raise ValueError(f"{caller}: discrete_features holds {item!r}; indices must lie in [0, {p}).")
    return mask


def _scores(X, y_rows, score_one, discrete_features, n_jobs, return_intervals, caller, target_constant):
    """Runs ``score_one(column [n], is_discrete) -> (mi, low, high)`` on every non-constant
    feature (in threads when ``n_jobs`` asks), logs progress, and assembles the result."""
    matrix, names = _features(X, caller)
    if len(matrix) != y_rows:
        raise ValueError(f"{caller}: X and y must pair up row by row, got {len(matrix)} and {y_rows} rows "
                         f"(X must be [n_samples, n_features]).")
    mask = _discrete_mask(discrete_features, matrix, names, caller)
    p = matrix.shape[1]
    values = np.zeros((3, p))  # mi, low, high; a constant feature or target: 0
    jobs = [] if target_constant else [j for j in range(p) if np.ptp(matrix[:, j]) > 0]
    lock, done, start = threading.Lock(), [0], time.perf_counter()

    def run(j):
        result = score_one(matrix[:, j], bool(mask[j]))
        with lock:
            done[0] += 1
            elapsed = time.perf_counter() - start
            logger.info("%s: %s %.4f nats (%d of %d scored in %.1f s, about %.0f s left)", caller,
                        repr(names[j]) if names else f"feature {j}", result[0], done[0], len(jobs), elapsed,
                        elapsed / done[0] * (len(jobs) - done[0]))
        return result

    for j, result in zip(jobs, Parallel(n_jobs=n_jobs, prefer="threads")(delayed(run)(j) for j in jobs)):
        values[:, j] = result
    values[0] = np.maximum(values[0], 0.0)
    if not return_intervals:
        return values[0]
    if names is None:
        return values[0], values[1], values[2]
    import pandas as pd  # X is a DataFrame: pandas is there

    return tuple(pd.Series(row, index=names, name=label) for row, label in zip(values, ("mi", "low", "high")))


def _reading(estimate):
    """(mi, low, high) of an ``MIEstimate``."""
    return (estimate.mi, *estimate.interval)


def _shared(estimate_kwargs):
    return {name: value for name, value in estimate_kwargs.items() if name in SHARED_ARGUMENTS}


def mutual_info_regression(X, y, *, discrete_features="auto", seed=0, n_jobs=None, return_intervals=False,
                           **estimate_kwargs):
    """I(X_j; y) in nats for each feature X_j and a continuous target y: a drop-in
    ``score_func`` for ``SelectKBest`` / ``SelectPercentile``.

    A continuous feature scores ``tfmi.estimate_mi(X[:, j], y, seed=seed,
    **estimate_kwargs).mi`` (held-out: fitted on train rows, read once on test rows); a
    discrete one scores ``continuous_discrete_mi(y, X[:, j])`` (y's class-conditional
    densities given the feature's values), with the ``estimate_kwargs`` of the protocol
    they share (valid_fraction, test_fraction, bootstrap).

    Args:
      X: [n, p] array, DataFrame or sparse matrix (made dense); a 1-d X is one feature.
      y: [n] continuous target.
      discrete_features: "auto" (the default): a feature is discrete when it looks so to
        ``discrete.levels`` (at most 32 distinct values, 5 rows each on average;
        scikit-learn's "auto" calls every dense feature continuous); True / False for
        all; a boolean mask [p], or indices (column names for a DataFrame).
      seed: every estimate's seed (its split or folds, fits and bootstrap); the caller's random
        state is left alone.
      n_jobs: features scored at once, in threads (None: 1 unless in a joblib context;
        -1: all cores).
      return_intervals: also return each estimate's 95% interval.
      **estimate_kwargs: passed to ``tfmi.estimate_mi`` (e.g. ``estimator="copula"``,
        ``bootstrap=0``).

    Returns:
      [p] float64 MI in nats per feature, clipped at 0 (as scikit-learn's); constant
      features score 0. With ``return_intervals``, (mi, low, high): low and high the 95%
      interval of each estimate (``MIEstimate.interval``, cut at 0), as arrays, or as
      pandas Series indexed by the column names when X is a DataFrame.
    """
    caller = "mutual_info_regression"
    target = inputs.as_matrix(y, caller, "y")
    if target.shape[1] != 1:
        raise ValueError(f"{caller}: y must be one target [n_samples], got {target.shape[1]} columns.")
    target = target[:, 0]
    inputs.as_seed(seed, caller)

    def score_one(column, is_discrete):
        if is_discrete:
            codes = label_codes(column, len(column), caller, "a discrete feature")[0]
            return _reading(continuous_discrete_mi(target, codes, seed=seed, **_shared(estimate_kwargs)))
        return _reading(estimate_mi(column, target, seed=seed, **estimate_kwargs))

    return _scores(X, len(target), score_one, discrete_features, n_jobs, return_intervals, caller,
                   np.ptp(target) == 0)


def mutual_info_classif(X, y, *, discrete_features="auto", seed=0, n_jobs=None, return_intervals=False,
                        **estimate_kwargs):
    """I(X_j; y) in nats for each feature X_j and class labels y: a drop-in
    ``score_func`` for ``SelectKBest`` / ``SelectPercentile``.

    A continuous feature scores ``continuous_discrete_mi(X[:, j], y, seed=seed,
    **estimate_kwargs)`` (Gaussian mixtures of the feature per class, cross-fitted: every
    row read once by a model fitted on the other rows); a
    discrete one the MI of its contingency table with y (``discrete.contingency_mi``: all
    rows, Miller-Madow corrected).

    Args:
      X, discrete_features, seed, n_jobs, return_intervals: as in
        ``mutual_info_regression``.
      y: [n] class labels (integers, strings, booleans; encoded by ``np.unique``).
      **estimate_kwargs: passed to ``continuous_discrete_mi`` (valid_fraction,
        test_fraction, bootstrap).

    Returns:
      As ``mutual_info_regression``'s: MI in nats per feature, clipped at 0.
    """
    caller = "mutual_info_classif"
    codes, classes = label_codes(y, None, caller, "y")
    inputs.as_seed(seed, caller)

    def score_one(column, is_discrete):
        if is_discrete:
            mi, stderr, _, _ = discrete.contingency_mi(column[:, None], codes[:, None])
            return mi, *protocol.interval(mi, stderr)
        return _reading(continuous_discrete_mi(column, codes, seed=seed, **estimate_kwargs))

    return _scores(X, len(codes), score_one, discrete_features, n_jobs, return_intervals, caller, len(classes) < 2)

