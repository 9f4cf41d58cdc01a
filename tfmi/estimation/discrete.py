"""Columns that take few values, and the MI of two such sides.

A side (x or y, one or more columns) "looks discrete" when its rows take at most
``MAX_LEVELS`` distinct values, each seen ``MIN_ROWS_PER_LEVEL`` times on average: class
labels, counts, categories. The density models of ``estimate_mi`` see a repeated value
as an infinitely narrow peak (two identical 3-class label columns read 18.7 nats for
log 3 = 1.10), so two discrete sides are estimated from their contingency table:

    I = sum_{a, b} p(a, b) log p(a, b) / (p(a) p(b))           (plug-in on all n rows)
        - (K_xy - K_x - K_y + 1) / (2 n)                       (Miller-Madow correction)

with K the numbers of observed values. Its standard error adds two parts: the delta
method's var(L) / n, L = log p(a, b) / (p(a) p(b)) per row (the spread when I > 0), and
the chi-square spread of the plug-in under independence, 2 n I ~ chi2(df) with
df = (K_x - 1)(K_y - 1): sd = sqrt(2 df) / (2 n).
"""

import numpy as np

__all__ = ["MAX_LEVELS", "MIN_ROWS_PER_LEVEL", "levels", "contingency_mi"]

MAX_LEVELS = 32  # distinct rows of a side at most, to look discrete
MIN_ROWS_PER_LEVEL = 5  # rows per distinct value at least, on average


def levels(array):
    """The number of distinct rows of ``array`` [n, d] when it looks discrete, else None."""
    if len(np.unique(array[: 4 * MAX_LEVELS], axis=0)) > MAX_LEVELS:  # the common case, at once
        return None
    count = len(np.unique(array, axis=0))
    return count if count <= MAX_LEVELS and count * MIN_ROWS_PER_LEVEL <= len(array) else None


def contingency_mi(x, y):
    """(mi, stderr, (K_x, K_y), the per-row terms [n]) of two discrete sides [n, d_x],
    [n, d_y] (module docstring)."""
    n = len(x)
    codes_x = np.unique(x, axis=0, return_inverse=True)[1].reshape(-1)
    codes_y = np.unique(y, axis=0, return_inverse=True)[1].reshape(-1)
    k_x, k_y = codes_x.max() + 1, codes_y.max() + 1
    joint = np.zeros((k_x, k_y))
    np.add.at(joint, (codes_x, codes_y), 1.0)
    joint /= n
    p_x, p_y = joint.sum(axis=1), joint.sum(axis=0)
    pointwise = np.log(joint[codes_x, codes_y] / (p_x[codes_x] * p_y[codes_y]))
    k_xy = np.count_nonzero(joint)
    mi = float(np.mean(pointwise)) - (k_xy - k_x - k_y + 1) / (2.0 * n)
    df = (k_x - 1) * (k_y - 1)
    stderr = float(np.sqrt(np.var(pointwise) / n + 2.0 * df / (2.0 * n) ** 2))
    return mi, stderr, (int(k_x), int(k_y)), pointwise
