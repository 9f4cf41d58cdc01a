"""Held-out MI estimates from a fitted pair scorer, with standard errors.

A pair scorer is any ``scores(x [a, d_x], y [b, d_y]) -> [a, b]`` array of critic values
f(x_i, y_j). On n held-out pairs (x_i, y_i) the diagonal f_ii holds the positives and
every y_j (j != i) is a negative of row i: the n x n matrix is scored in chunks of rows
and reduced to per-row statistics in float64 (beyond ``MAX_CANDIDATES`` pairs, within
blocks of that size, and n below means the block's size). With m_i = 1/(n-1) sum_{j != i} e^{f_ij}
and M = mean_i m_i (the mean of e^f over all n (n - 1) negative pairs):

  infonce   mean_i f_ii - log(1/n sum_j e^{f_ij})   (Poole et al. 2019, Eq. 12, K = n)
            at most log n; the lower bound of InfoNCE with all n pairs as candidates.
  dv        mean_i f_ii - log M                     (Donsker-Varadhan; MINE's value)
  smile     mean_i f_ii - log M_clip, M_clip from e^{clip(f, -clip, clip)}  (SMILE)
  tuba      1 + mean_i (f_ii + shift) - e^{shift} M (TUBA with a(x) = 1 at f + shift;
            NWJ is shift -1, the JS-trained estimator shift 0)
  plugin    mean_i pointwise(x_i, y_i): the mean log density ratio of a normalised
            model (e.g. a flow), no negatives needed.

For a critic fitted on other pairs each is an estimate of its population bound; only
infonce is capped (by log n). The standard error comes from per-row terms t_i whose mean
is the estimate, with the partition linearised (delta method): t_i = f_ii - m_i / M
+ 1 - log M for DV and SMILE, t_i = 1 + f_ii + shift - e^{shift} m_i for TUBA, and the
row's own term for infonce and plugin. stderr = std(t) / sqrt(n), treating the rows as
independent; this neglects that they share their negatives (the interval-coverage tests
check it is good enough).
"""

import dataclasses

import numpy as np
from scipy.special import logsumexp

__all__ = ["HeldOutEstimate", "row_statistics", "estimate", "plugin", "log_partition", "METHODS", "MAX_CANDIDATES",
           "SELECTION_CANDIDATES"]

METHODS = ("infonce", "dv", "smile", "tuba")
MAX_CANDIDATES = 8192  # pairs scored against each other; beyond, blocks of this size
# Validation pairs scored against each other for a choice (a critic's early stopping, the
# default's candidate): enough to rank scorers, and linear in n beyond it.
SELECTION_CANDIDATES = 1024


@dataclasses.dataclass
class HeldOutEstimate:
    """``mi`` and ``stderr`` in nats; ``terms`` the per-row t_i; ``ceiling`` the most the
    method can return (log n for infonce, None when unbounded); ``method`` its name."""

    mi: float
    stderr: float
    terms: np.ndarray
    ceiling: object
    method: str


def row_statistics(scores, x, y, clip=None, chunk_size=1024, max_candidates=MAX_CANDIDATES):
    """Per row i of the held-out pairs: "positive" f_ii, "log_sum_all" log sum_j e^{f_ij},
    "log_sum_negatives" log sum_{j != i} e^{f_ij} and, with ``clip``, the same of the
    clipped scores ("log_sum_clipped"); "candidates" the number of j per row. A dict of
    float64 [n] arrays. More than ``max_candidates`` pairs are cut into equal blocks
    (in order) whose pairs are each other's candidates: the cost stays linear in n."""
    n = len(x)
    if n < 2 or len(y) != n:
        raise ValueError(f"heldout: needs at least 2 paired rows, got {n} and {len(y)}.")
    blocks = -(-n // max_candidates)
    bounds = np.linspace(0, n, blocks + 1).round().astype(int)
    parts = [_block_statistics(scores, x[a:b], y[a:b], clip, chunk_size) for a, b in zip(bounds[:-1], bounds[1:])]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _block_statistics(scores, x, y, clip, chunk_size):
    n = len(x)
    names = ["positive", "log_sum_all", "log_sum_negatives"] + (["log_sum_clipped"] if clip else [])
    stats = {name: np.empty(n) for name in names}
    stats["candidates"] = np.full(n, float(n))
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        block = np.asarray(scores(x[start:stop], y), dtype=np.float64)
        if block.shape != (stop - start, n):
            raise ValueError(
                f"heldout: scores(x[{stop - start}], y[{n}]) must be [{stop - start}, {n}], got {block.shape}."
            )
        if not np.all(np.isfinite(block)):
            raise FloatingPointError("heldout: the critic returned NaN or inf scores on the held-out pairs.")
        rows = np.arange(stop - start)
        stats["positive"][start:stop] = block[rows, start + rows]
        stats["log_sum_all"][start:stop] = logsumexp(block, axis=1)
        if clip:
            clipped = np.clip(block, -clip, clip)
            clipped[rows, start + rows] = -np.inf
            stats["log_sum_clipped"][start:stop] = logsumexp(clipped, axis=1)
        block[rows, start + rows] = -np.inf
        stats["log_sum_negatives"][start:stop] = logsumexp(block, axis=1)
    return stats


def _summary(terms, ceiling, method):
    stderr = float(np.std(terms, ddof=1) / np.sqrt(len(terms)))
    return HeldOutEstimate(float(np.mean(terms)), stderr, terms, ceiling, method)


def _partition_terms(positive, log_sum, candidates):
    """DV's per-row terms for the row sums ``log_sum`` of the negatives' e^f."""
    log_row_mean = log_sum - np.log(candidates - 1.0)  # log m_i
    log_mean = logsumexp(log_row_mean) - np.log(len(positive))  # log M
    return positive - np.exp(log_row_mean - log_mean) + 1.0 - log_mean


def estimate(scores, x, y, method="infonce", *, clip=5.0, shift=0.0, stats=None, chunk_size=1024,
             max_candidates=MAX_CANDIDATES):
    """The held-out estimate ``method`` (see the module docstring) of ``scores`` on the
    pairs (x_i, y_i); ``clip`` goes with smile, ``shift`` with tuba. ``stats`` reuses
    the ``row_statistics`` of the same pairs (then x, y and scores are not read)."""
    if method not in METHODS:
        raise ValueError(f"heldout: unknown method {method!r}; choose one of {list(METHODS)}.")
    if stats is None:
        stats = row_statistics(scores, x, y, clip if method == "smile" else None, chunk_size, max_candidates)
    positive, candidates = stats["positive"], stats["candidates"]
    if method == "infonce":
        return _summary(positive - stats["log_sum_all"] + np.log(candidates), float(np.log(candidates.min())), method)
    if method == "dv":
        return _summary(_partition_terms(positive, stats["log_sum_negatives"], candidates), None, method)
    if method == "smile":
        return _summary(_partition_terms(positive, stats["log_sum_clipped"], candidates), None, method)
    row_mean = np.exp(stats["log_sum_negatives"] - np.log(candidates - 1.0) + shift)
    return _summary(1.0 + positive + shift - row_mean, None, method)


def log_partition(stats):
    """(log M, its standard error) from ``row_statistics``: M the mean of e^f over the
    negative pairs (x_i, y_j), j != i. For a normalised model's log density ratio f,
    E_{p(x) p(y)}[e^f] = 1 when the model is the truth, so log M far from 0 marks a model
    whose plug-in mean cannot be trusted (it is not a bound and can exceed the MI by
    nats). stderr: delta method on the per-row means m_i."""
    row_means = np.exp(stats["log_sum_negatives"] - np.log(stats["candidates"] - 1.0))
    mean = float(np.mean(row_means))
    return float(np.log(mean)), float(np.std(row_means, ddof=1) / np.sqrt(len(row_means)) / mean)


def plugin(pointwise, x, y):
    """The mean of ``pointwise(x, y) -> [n]``, a normalised log density ratio on the
    held-out pairs themselves, and its standard error."""
    terms = np.asarray(pointwise(x, y), dtype=np.float64)
    if terms.shape != (len(x),) or not np.all(np.isfinite(terms)):
        raise ValueError(f"heldout: pointwise(x, y) must give {len(x)} finite values, got shape {terms.shape}.")
    return _summary(terms, None, "plugin")
