r"""Claims of the form "A > B" read over seeds, as the reproduction report states them.

For values a_s, b_s of the same seeds s (runs that differ only in what is compared), the
paired differences d_s = a_s - b_s (minus ``margin``, for "A exceeds B by more than the
margin") give

    mean(d) > Z standard errors of it, sd(d) / sqrt(n) (ddof 1)    "holds"
    mean(d) < -Z standard errors                                   "contradicted"
    otherwise, or a single seed                                    "not shown at n seeds"

with Z = ``PAIRED_Z`` (2: about a 95% two-sided reading for many seeds; with 3 to 5 seeds
a Student-t test at 95% would ask 2.8 to 4.3, so "holds" at 2 is a lenient reading, stated
as such). With a single seed nothing is shown: seed noise cannot be told from the claim.
"""

import math

import numpy as np

__all__ = ["CLOSE_TOLERANCE", "PAIRED_Z", "paired_verdict"]

PAIRED_Z = 2.0
CLOSE_TOLERANCE = 0.5  # nats: our reading of a paper's "close to" / "approaches" a ceiling


def paired_verdict(a, b, margin=0.0):
    """("holds" | "contradicted" | "not shown at n seeds", mean difference, its standard
    error) of the claim mean(a) > mean(b) + ``margin``; ``a`` and ``b`` map seeds to values
    and are paired on the seeds both hold (module docstring). ValueError when they share
    no seed."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        raise ValueError(f"paired_verdict: the two sides share no seed (seeds {sorted(a)} and {sorted(b)}).")
    differences = np.array([a[seed] - b[seed] - margin for seed in seeds], dtype=np.float64)
    mean = float(differences.mean())
    if len(seeds) == 1:
        return "not shown at 1 seed", mean, math.inf
    stderr = float(differences.std(ddof=1) / math.sqrt(len(seeds)))
    if mean > PAIRED_Z * stderr:
        return "holds", mean, stderr
    if mean < -PAIRED_Z * stderr:
        return "contradicted", mean, stderr
    return f"not shown at {len(seeds)} seeds", mean, stderr
