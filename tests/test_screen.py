"""The default's k-NN screen (tfmi.estimation.screen): KSG against closed-form MI, its two
neighbour searches against each other, and the check's verdicts on models that are right
and wrong for the data."""

import numpy as np
import pytest

import tfmi
from tfmi.estimation import copula, gaussian, mixture, screen


def _gaussian_pairs(n, rho, seed, dim=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, dim))
    return x, rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(n, dim))


def test_ksg_reads_the_closed_form_mi_of_a_gaussian_pair():
    """KSG is nearly unbiased in one dimension: 2,000 pairs with rho 0.8 read
    -0.5 log(1 - 0.64) = 0.511 nats within 0.06 (its sd there is about 0.02)."""
    x, y = _gaussian_pairs(2000, 0.8, seed=1)
    assert np.mean(screen.ksg_terms(x, y)) == pytest.approx(-0.5 * np.log(1 - 0.64), abs=0.06)


def test_the_k_d_tree_and_the_distance_matrices_count_the_same_neighbours(monkeypatch):
    x, y = _gaussian_pairs(300, 0.5, seed=2, dim=2)
    by_tree = screen.ksg_terms(x, y)
    monkeypatch.setattr(screen, "KD_TREE_MAX_DIM", 0)
    np.testing.assert_allclose(screen.ksg_terms(x, y), by_tree)


def test_a_right_copula_passes_and_a_wrong_one_is_flagged():
    """Gaussian pairs agree with their Gaussian copula; y = x + uniform noise (MI 1.46
    nats, the copula reads about 1.29) does not."""
    x, y = _gaussian_pairs(4000, 0.6, seed=3)
    right = copula.fit_rank_gaussian(x, y)
    assert not screen.model_screen(right, x, y, seed=0).flagged
    rng = np.random.default_rng(4)
    x = rng.normal(size=(4000, 1))
    y = x + rng.uniform(-0.5, 0.5, size=(4000, 1))
    check = screen.model_screen(copula.fit_rank_gaussian(x, y), x, y, seed=0)
    assert check.flagged and check.data > check.draws


def test_a_mixture_with_the_right_components_passes():
    """Four well-separated clusters on a diagonal: the fitted 4-component mixture's draws
    hold the data's dependence."""
    rng = np.random.default_rng(5)
    centres = rng.integers(0, 4, size=3000) * 4.0
    x = (centres + rng.normal(size=3000))[:, None]
    y = (centres + rng.normal(size=3000))[:, None]
    model = mixture.fit_mixture(x[:2000], y[:2000], x[2000:], y[2000:], max_components=4)
    assert model.num_components == 4
    assert not screen.model_screen(model, x[:2000], y[:2000], seed=0).flagged


def test_too_few_pairs_are_not_checked():
    x, y = _gaussian_pairs(100, 0.5, seed=6)
    assert screen.model_screen(copula.fit_rank_gaussian(x, y), x, y, seed=0) is None


def test_the_default_stops_at_a_copula_that_passes_and_returns_its_estimate():
    """On Gaussian pairs the mixture is a single Gaussian (left out), the copula passes its
    check, the flow and the critic are not fitted (the method says so) and the estimate is
    estimator='copula''s to the bit; screen=False fits them (and still keeps the copula)."""
    x, y = _gaussian_pairs(3000, 0.6, seed=7)
    default = tfmi.estimate_mi(x, y)
    copula = tfmi.estimate_mi(x, y, estimator="copula")
    assert "flow, critic not fitted" in default.method
    assert default.mi == copula.mi and default.interval == copula.interval
    assert -0.5 * np.log(1 - 0.36) == pytest.approx(default.mi, abs=4 * default.stderr)
    unscreened = tfmi.estimate_mi(x, y, screen=False, max_steps=200)
    assert "not fitted" not in unscreened.method and unscreened.settings["screen"] is False


def test_the_check_s_two_bars():
    """D = data - draws against max(threshold x stderr, minimum): 0.015 nats at 1.9 standard
    errors is a doubt (beyond 1.5 and 0.01) but no misfit (within 2.5 and 0.02)."""
    doubt = screen.ScreenResult(data=0.515, draws=0.500, stderr=0.008)
    assert doubt.doubtful and not doubt.flagged
    assert not screen.ScreenResult(0.508, 0.500, 0.008).doubtful  # 0.008: under 0.01
    assert not screen.ScreenResult(0.485, 0.500, 0.011).doubtful  # -0.015: under 1.5 x 0.011
    misfit = screen.ScreenResult(0.45, 0.50, 0.01)
    assert misfit.doubtful and misfit.flagged and "differs from" in misfit.describe("copula")


@pytest.mark.parametrize("copula_check,mixture_check,fitted,note", [
    ((0.505, 0.500, 0.008), None, ["copula"], "copula: KSG 0.505 on the data in line with 0.500"),
    ((0.515, 0.500, 0.008), None, ["copula", "mixture"], "flow, critic not fitted"),
    ((0.60, 0.50, 0.01), (0.505, 0.500, 0.008), ["copula", "mixture"], "mixture: KSG 0.505"),
    ((0.60, 0.50, 0.01), (0.60, 0.50, 0.01), ["copula", "mixture", "flow", "critic"], "mixture: KSG 0.600"),
], ids=["copula beyond doubt", "copula in doubt, passes", "copula fails, mixture passes", "both fail"])
def test_the_default_fits_what_the_checks_leave_open(monkeypatch, copula_check, mixture_check, fitted, note):
    """Which candidates ``fit_auto`` fits under each verdict of the checks (the checks and
    the fits replaced by stand-ins): the copula's doubt decides the mixture, a pass of
    either model spares the flow and the critic."""
    from tfmi.estimation import candidates

    checks = {"copula": copula_check, "mixture": mixture_check}
    calls = []

    class Model:
        def __init__(self, name):
            self.name = name

    def fake_fit(name, views, settings, **options):
        calls.append(name)
        return candidates.Candidate(f"{name} model", "normal", None, None, [], 2, 10, model=Model(name))

    def fake_screen(model, x, y, seed):
        return screen.ScreenResult(*checks[model.name])

    monkeypatch.setattr(candidates, "_fit_model", fake_fit)
    monkeypatch.setattr(screen, "model_screen", fake_screen)

    class FakeRepresentations:
        def __getitem__(self, name):
            return [(np.zeros((1000, 1)), np.zeros((1000, 1)))]

        def model_train(self, name, settings):
            return self[name][0]

    from tfmi.estimation.protocol import FitSettings

    found, notes = candidates.fit_auto(FakeRepresentations(), FitSettings(screen=True, seed=0, batch_size=64))
    assert calls == fitted and [candidate.name for candidate in found] == [f"{name} model" for name in fitted]
    assert any(note in line for line in notes), notes


def test_log_partition_is_zero_for_the_true_ratio_and_flags_a_wrong_mixture():
    """E_{p(x)p(y)}[exp(true log ratio)] = 1: log M of the exact Gaussian ratio on fresh
    pairs is 0 within its error; a 4-component full mixture of 64 clusters in 5 + 5
    dimensions ranks pairs but overstates its ratio, and is flagged."""
    from tfmi.data import ground_truth
    from tfmi.estimation import candidates, heldout

    x, y = _gaussian_pairs(1000, 0.7, seed=8)
    exact = gaussian.GaussianRatio(np.zeros(2), np.array([[1.0, 0.7], [0.7, 1.0]]), 1)
    log_m, stderr = heldout.log_partition(heldout.row_statistics(exact.scores, x, y))
    assert abs(log_m) < 4 * stderr + 0.01
    task = ground_truth.get_task("mix-clusters-5-5-64")
    x, y = task.sample(3000, seed=1)
    wrong = mixture.fit_mixture(x[:2000], y[:2000], x[2000:], y[2000:], max_components=4)
    assert wrong.covariance_type == "full" or wrong.num_components <= 4
    candidate = candidates.Candidate("mixture model", "standardised", wrong.scores, None, [], 4, 2000, None, wrong)
    views = {"standardised": [None, (x[2000:], y[2000:]), None]}
    assert "miscalibrated" in candidates.miscalibration(candidate, views=views)


def test_the_default_reads_64_compact_clusters_in_5_plus_5_dimensions():
    """64 clusters at random in 5 + 5 dimensions (4.13 nats): the default once read 4.96
    (a 16-component full-covariance mixture); diagonal components fit all 64."""
    from tfmi.data import ground_truth

    task = ground_truth.get_task("mix-clusters-5-5-64")
    x, y = task.sample(6000, seed=0)
    result = tfmi.estimate_mi(x, y)
    assert abs(result.mi - task.mi) < 0.1, result.method
    assert "diagonal" in result.method
