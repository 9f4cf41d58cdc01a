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
"""

import dataclasses
from typing import NamedTuple

import numpy as np

from tfmi.estimation import candidates as candidates_lib
from tfmi.estimation import protocol

__all__ = ["Splits", "split", "representations", "read_out", "debiased", "serial_corrected"]


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


def representations(x, y, splits, settings):
    """``candidates.Representations`` of the rows of x [n, d_x] and y [n, d_y] in ``splits``; the
    candidates choose on at most a fifth of ``settings.max_fit_pairs`` validation rows."""
    parts = (splits.train, splits.valid[: max(settings.max_fit_pairs // 5, 2)], splits.test)
    return candidates_lib.Representations([x[part] for part in parts], [y[part] for part in parts])


def debiased(result, chosen, views, settings):
    """``result`` (the chosen model's held-out mean m_0 on the test pairs) corrected by
    ``candidates.bootstrap``: mi = m_0 - (mean_b m_b - m_0), stderr^2 = test stderr^2 +
    var_b(m_b) (1 + 1 / replicates) (the fit's own variability, and the bootstrap's)."""
    means = candidates_lib.bootstrap(chosen, views, settings)
    mi = 2.0 * result.mi - float(np.mean(means))
    stderr = float(np.sqrt(result.stderr**2 + np.var(means, ddof=1) * (1.0 + 1.0 / settings.bootstrap)))
    return dataclasses.replace(result, mi=mi, stderr=stderr)


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
