"""tfmi.evaluation.seed_claims: the paired reading of "A > B" over seeds on synthetic
per-seed numbers."""

import math

import pytest

from tfmi.evaluation.seed_claims import paired_verdict


def test_a_consistent_difference_holds_and_its_reverse_is_contradicted():
    a = {0: 0.822, 1: 0.818, 2: 0.825}
    b = {0: 0.807, 1: 0.805, 2: 0.809}  # differences 0.015, 0.013, 0.016: mean 0.0147, stderr 0.0009
    verdict, mean, stderr = paired_verdict(a, b)
    assert verdict == "holds" and mean == pytest.approx(0.04 / 3 + 0.004 / 3, abs=1e-12)
    assert stderr == pytest.approx(math.sqrt(((0.015 - mean) ** 2 + (0.013 - mean) ** 2 + (0.016 - mean) ** 2) / 2 / 3))
    assert paired_verdict(b, a)[0] == "contradicted"


def test_overlapping_seeds_are_not_shown_and_one_seed_shows_nothing():
    """Means 82.2% and 80.7% as in the one-seed table, but the seeds overlap: the paired
    differences (+0.06, -0.03, +0.015) have a mean within two standard errors."""
    a = {0: 0.86, 1: 0.79, 2: 0.816}
    b = {0: 0.80, 1: 0.82, 2: 0.801}
    assert paired_verdict(a, b)[0] == "not shown at 3 seeds"
    assert paired_verdict({0: 0.822}, {0: 0.807})[0] == "not shown at 1 seed"


def test_seeds_are_paired_by_name_and_a_margin_is_subtracted():
    a = {0: 5.0, 1: 5.1, 2: 5.05, 7: 0.0}  # seed 7 has no partner: left out
    b = {0: 4.0, 1: 4.1, 2: 4.04}
    assert paired_verdict(a, b)[0] == "holds"
    assert paired_verdict(a, b, margin=1.5)[0] == "contradicted"
    with pytest.raises(ValueError, match="share no seed"):
        paired_verdict({0: 1.0}, {1: 1.0})
