"""The protocol of ``estimate_mi`` and ``estimate_cmi``, written once.

    rows -> one random split (train / validation / test)   ``split``
         -> the representations, maps fitted on train        ``representations``
         -> candidates fitted on train, chosen on validation (the caller's)
         -> the chosen one read once on the test rows         ``read_out``
         -> corrected by bootstrap refits                     ``debiased``
         -> widened for serial dependence                     ``serial_corrected``

A closed-form model's held-out value m_0 is corrected by bootstrap refits m_b on
resampled train rows: mi = 2 m_0 - mean_b(m_b), stderr^2 = test stderr^2 + var_b(m_b)
(1 + 1/B). The callers supply their input checks, their candidates and their choice.

Cross-fitting (``folds``, ``cross_fitted``), for models cheap enough to fit K times: the
rows are cut into K parts, each part the test rows of one fold whose train and
validation rows are the other parts' rows, so every row is read once, by a model that
never saw it, and the test noise is that of n rows instead of n / K.
"""

import dataclasses
from typing import NamedTuple

import numpy as np

from tfmi.estimation import candidates as candidates_lib
from tfmi.estimation import protocol

__all__ = ["Splits", "split", "folds", "representations", "read_out", "cross_fitted", "bootstrap_corrected", "debiased",
           "serial_corrected"]


class Splits(NamedTuple):
    """Row indices of the train, validation and test splits (in random order)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def split(n, sizes, seed):
    """The ``Splits`` of n rows into ``sizes`` (n_train, n_valid, n_test), one permutation
    of ``seed``."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_valid, _ = sizes
    return Splits(order[:n_train], order[n_train : n_train + n_valid], order[n_train + n_valid :])


def folds(n, count, n_valid, seed):
    """The ``Splits`` of ``count`` folds of n rows for cross-fitting: one permutation of
    ``seed`` cut into ``count`` nearly equal test parts; each fold's validation rows are the
    first ``n_valid`` of the other parts' rows, its train rows the rest of them."""
    parts = np.array_split(np.random.default_rng(seed).permutation(n), count)
    found = []
    for k, test in enumerate(parts):
        rest = np.concatenate(parts[:k] + parts[k + 1 :])
        found.append(Splits(rest[n_valid:], rest[:n_valid], test))
    return found


def representations(x, y, splits, settings):
    """``candidates.Representations`` of the rows of x [n, d_x] and y [n, d_y] in ``splits``; the
    candidates choose on at most a fifth of ``settings.max_fit_pairs`` validation rows."""
    parts = (splits.train, splits.valid[: max(settings.max_fit_pairs // 5, 2)], splits.test)
    return candidates_lib.Representations([x[part] for part in parts], [y[part] for part in parts])


def bootstrap_corrected(result, chosen, views, settings):
    """(mi, fitting variance) of ``result`` (the chosen model's held-out mean m_0 on the test
    pairs) by ``candidates.bootstrap``: mi = m_0 - (mean_b m_b - m_0), and var_b(m_b)
    (1 + 1 / replicates) (the fit's own variability, and the bootstrap's)."""
    means = candidates_lib.bootstrap(chosen, views, settings)
    return 2.0 * result.mi - float(np.mean(means)), np.var(means, ddof=1) * (1.0 + 1.0 / settings.bootstrap)


def debiased(result, chosen, views, settings):
    """``result`` corrected by ``bootstrap_corrected``: stderr^2 = test stderr^2 + the
    fitting variance."""
    mi, fit_variance = bootstrap_corrected(result, chosen, views, settings)
    return dataclasses.replace(result, mi=mi, stderr=float(np.sqrt(result.stderr**2 + fit_variance)))


def serial_corrected(tested, result, chosen, views, splits, settings):
    """``result`` with its stderr widened for rows that are consecutive times of a series
    when ``settings.serial_dependence``, and a phrase for the method ("" when not).

    Each part of the variance grows by the ``protocol.serial_factor`` of the rows it comes
    from: the test split's noise (``tested``: the chosen model's test read-out before the
    bias correction; its terms on the test rows) and the fit's (the rest of ``result``'s
    variance, the bootstrap's; the model's terms on the train rows), whose bootstrap
    resamples rows as if they were independent."""
    if not settings.serial_dependence:
        return result, ""
    test_factor = protocol.serial_factor(tested.terms, splits.test)
    fit_variance = max(result.stderr**2 - tested.stderr**2, 0.0)
    train_factor = 1.0
    if fit_variance > 0:
        train_terms = chosen.evaluate(*views[chosen.inputs][0]).terms
        train_factor = protocol.serial_factor(train_terms, splits.train[: len(train_terms)])
    stderr = float(np.sqrt(tested.stderr**2 * test_factor + fit_variance * train_factor))
    phrase = (f", stderr widened {stderr / result.stderr:.2f}x for serial dependence (Newey-West on the model's "
              f"terms in time order)")
    return dataclasses.replace(result, stderr=stderr), phrase


def cross_fitted(fitted, settings):
    """(one ``heldout.HeldOutEstimate`` over every row, a phrase for the method) from the
    chosen model of each fold, ``fitted`` = [(chosen, views, splits)] of ``folds``.

    Fold k's model is read once on its test rows: m_k, terms t_i. Where the model refits
    and ``settings.bootstrap`` > 0, each fold is corrected by B_k = max(2, ceil(B / K))
    bootstrap refits m_kb on its own test rows (``bootstrap_corrected``, as for one split):

        mi = sum_k w_k (2 m_k - mean_b m_kb),        w_k = n_k / n,
        stderr^2 = var_i(t_i) / n + mean_k var_b(m_kb) (1 + 1 / B_k),

    the test noise of all n rows, and the fitting variance taken as shared by the folds
    (their train rows overlap: their fitting errors are alike, so they are not averaged
    away). With ``settings.serial_dependence`` both parts grow by the
    ``protocol.serial_factor`` of the terms in row order."""
    terms, rows, values, fit_variances = [], [], [], []
    refits = max(2, -(-settings.bootstrap // len(fitted))) if settings.bootstrap > 0 else 0
    for k, (chosen, views, splits) in enumerate(fitted):
        tested = chosen.evaluate(*views[chosen.inputs][2])  # the only look at this fold's test rows
        terms.append(tested.terms)
        rows.append(splits.test)
        value = tested.mi
        if chosen.refit is not None and refits:
            fold_seed = int(np.random.SeedSequence([settings.seed, k]).generate_state(1)[0])
            value, fit_variance = bootstrap_corrected(tested, chosen, views,
                                                      dataclasses.replace(settings, bootstrap=refits, seed=fold_seed))
            fit_variances.append(fit_variance)
        values.append((len(splits.test), value))
    terms, rows = np.concatenate(terms), np.concatenate(rows)
    n = len(terms)
    mi = float(sum(size * value for size, value in values) / n)
    test_variance, fit_variance = float(np.var(terms, ddof=1)) / n, float(np.mean(fit_variances or [0.0]))
    order = np.argsort(rows)  # the terms in row order
    terms, rows = terms[order], rows[order]
    phrase = f"cross-fitted over {len(fitted)} folds: held-out plug-in on each of the {n} rows once"
    if fit_variances:
        phrase += f", each fold bias-corrected by {refits} bootstrap refits"
    if settings.serial_dependence:
        factor = protocol.serial_factor(terms, rows)
        test_variance, fit_variance = test_variance * factor, fit_variance * factor
        phrase += f", stderr widened {np.sqrt(factor):.2f}x for serial dependence (Newey-West on the rows' terms)"
    stderr = float(np.sqrt(test_variance + fit_variance))
    result = dataclasses.replace(tested, mi=mi, stderr=stderr, terms=terms)
    return result, phrase


def read_out(chosen, views, splits, settings, label, unit):
    """(the ``heldout.HeldOutEstimate`` of ``chosen`` on the test rows, read once, then
    ``debiased`` where it refits and ``serial_corrected``; the method string
    "<name><label>held-out <how> on <n> test <unit>, ...")."""
    result = tested = chosen.evaluate(*views[chosen.inputs][2])  # the only look at the test split
    method = f"{chosen.name}{label}held-out {result.method} on {len(splits.test)} test {unit}"
    if chosen.fit_pairs < len(splits.train):
        method += f", fitted on {chosen.fit_pairs} of {len(splits.train)} train {unit}"
    if chosen.refit is not None and settings.bootstrap > 0:
        result = debiased(result, chosen, views, settings)
        method += f", bias-corrected by {settings.bootstrap} bootstrap refits"
    result, phrase = serial_corrected(tested, result, chosen, views, splits, settings)
    return result, method + phrase
