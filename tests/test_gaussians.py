"""Tests of tfmi.data.gaussians: the MI <-> rho map, sample statistics, closed-form MI
of the empirical covariance, and the staircase dataset."""

import functools
import math

import numpy as np
import pytest

from tfmi.data import gaussians


@pytest.mark.parametrize("dim", [1, 20])
def test_rho_and_mi_are_inverse(dim):
    mi = np.array([0.0, 0.1, 1.0, 2.0, 4.0, 10.0])
    np.testing.assert_allclose(gaussians.mi_from_rho(gaussians.rho_from_mi(mi, dim), dim), mi,
                               rtol=1e-7, atol=1e-12)
    rho = np.array([0.0, 0.2, 0.5, 0.9, 0.999])
    np.testing.assert_allclose(gaussians.rho_from_mi(gaussians.mi_from_rho(rho, dim), dim), rho,
                               rtol=1e-7)


def test_mi_from_rho_known_value():
    # One pair with rho = 1/2: -1/2 log(1 - 1/4) = 1/2 log(4/3).
    assert float(gaussians.mi_from_rho(0.5, 1)) == pytest.approx(0.5 * math.log(4.0 / 3.0))
    # d independent pairs add up.
    assert float(gaussians.mi_from_rho(0.5, 20)) == pytest.approx(10.0 * math.log(4.0 / 3.0))


@pytest.mark.parametrize("mi", [0.5, 4.0])
def test_sample_correlation_matches_rho(mi):
    n, dim = 20000, 20
    rho = gaussians.rho_from_mi(mi, dim)
    x, y = gaussians.sample_correlated_gaussian(n, dim, mi, seed=(3, 1))
    x, y = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    assert x.shape == y.shape == (n, dim)
    corr = np.array([np.corrcoef(x[:, k], y[:, k])[0, 1] for k in range(dim)])
    # Standard error of a sample correlation: (1 - rho^2) / sqrt(n).
    assert np.max(np.abs(corr - rho)) < 5.0 * (1.0 - rho**2) / math.sqrt(n) + 1e-4
    # Unit-variance, zero-mean marginals; distinct coordinates uncorrelated.
    np.testing.assert_allclose(x.std(axis=0), 1.0, atol=5.0 * math.sqrt(0.5 / n) + 1e-3)
    np.testing.assert_allclose(y.std(axis=0), 1.0, atol=5.0 * math.sqrt(0.5 / n) + 1e-3)
    assert np.max(np.abs(x.mean(axis=0))) < 5.0 / math.sqrt(n)
    assert abs(np.corrcoef(x[:, 0], y[:, 1])[0, 1]) < 5.0 / math.sqrt(n)


@pytest.mark.parametrize("mi", [1.0, 8.0])
def test_empirical_covariance_gives_requested_mi(mi):
    n, dim = 100000, 20
    x, y = gaussians.sample_correlated_gaussian(n, dim, mi, seed=(4, int(mi)))
    joint = np.concatenate([x.numpy(), y.numpy()], axis=1).astype(np.float64)
    joint -= joint.mean(axis=0)
    # Plain einsum: np.cov's threaded BLAS call is very slow on a busy 2-core machine.
    cov = np.einsum("ni,nj->ij", joint, joint, optimize=False) / (n - 1)
    logdet = lambda m: np.linalg.slogdet(m)[1]  # noqa: E731
    estimate = 0.5 * (logdet(cov[:dim, :dim]) + logdet(cov[dim:, dim:]) - logdet(cov))
    assert abs(estimate - mi) < 0.05, estimate


def test_same_seed_same_samples():
    a = gaussians.sample_correlated_gaussian(8, 3, 1.0, seed=(1, 2))
    b = gaussians.sample_correlated_gaussian(8, 3, 1.0, seed=(1, 2))
    c = gaussians.sample_correlated_gaussian(8, 3, 1.0, seed=(1, 3))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    assert not np.allclose(a[0].numpy(), c[0].numpy())


def test_cubic_is_cube_of_same_sample():
    x, y = gaussians.sample_correlated_gaussian(16, 4, 2.0, seed=(0, 5))
    x3, y3 = gaussians.sample_correlated_gaussian(16, 4, 2.0, cubic=True, seed=(0, 5))
    np.testing.assert_array_equal(x.numpy(), x3.numpy())
    np.testing.assert_allclose(y3.numpy(), y.numpy() ** 3, rtol=1e-5, atol=1e-6)


def test_log_density_ratio_matches_normal_densities():
    # log N(y; rho x, (1 - rho^2) I) - log N(y; 0, I), pair by pair in NumPy.
    dim, mi = 3, 1.5
    rho = gaussians.rho_from_mi(mi, dim)
    x, y = gaussians.sample_correlated_gaussian(5, dim, mi, seed=(9, 9))
    x, y = x.numpy().astype(np.float64), y.numpy().astype(np.float64)
    var = 1.0 - rho**2

    def log_normal(v, mean, variance):
        return -0.5 * np.sum((v - mean) ** 2) / variance - 0.5 * dim * np.log(2 * np.pi * variance)

    expected = np.array(
        [[log_normal(y[j], rho * x[i], var) - log_normal(y[j], 0.0, 1.0) for j in range(5)]
         for i in range(5)]
    )
    got = gaussians.log_density_ratio(x, y, rho).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


STAIR = dict(batch_size=4, dim=5, mi_values=(1.0, 2.5, 3.0), steps_per_stage=3, seed=7)


def _batches(n, **kwargs):
    return [
        {k: v.numpy() for k, v in batch.items()}
        for batch in gaussians.staircase_dataset(**{**STAIR, **kwargs}).take(n)
    ]


@functools.lru_cache(maxsize=None)
def _uninterrupted():
    """The first 11 batches of an uninterrupted run (built once: datasets are slow)."""
    return _batches(11)


def test_staircase_mi_at_stage_boundaries():
    batches = _uninterrupted()
    expected = [1.0, 1.0, 1.0, 2.5, 2.5, 2.5, 3.0, 3.0, 3.0, 3.0, 3.0]  # last stage holds
    for step, (batch, mi) in enumerate(zip(batches, expected)):
        assert batch["true_mi"].shape == (4,)
        np.testing.assert_array_equal(batch["true_mi"], np.float32(mi), err_msg=f"step {step}")
        assert batch["x"].shape == batch["y"].shape == (4, 5)
    assert float(gaussians.staircase_mi(5, (1.0, 2.5, 3.0), 3)) == 2.5


def test_staircase_batch_is_the_seeded_sample():
    batches = _uninterrupted()
    for step in (0, 4):
        mi = 1.0 if step < 3 else 2.5
        x, y = gaussians.sample_correlated_gaussian(4, 5, mi, seed=(7, step))
        np.testing.assert_array_equal(batches[step]["x"], x.numpy())
        np.testing.assert_array_equal(batches[step]["y"], y.numpy())


def test_staircase_deterministic_and_seed_dependent():
    first, second, other = _uninterrupted()[:4], _batches(4), _batches(4, seed=8)
    for a, b, c in zip(first, second, other):
        for key in ("x", "y"):
            np.testing.assert_array_equal(a[key], b[key])
            assert not np.allclose(a[key], c[key])
    # Consecutive steps differ too.
    assert not np.allclose(first[0]["x"], first[1]["x"])


@pytest.mark.parametrize("start", [1, 5])
def test_staircase_resume_continues_the_stream(start):
    uninterrupted = _uninterrupted()
    resumed = _batches(3, start_step=start)
    for offset in range(3):
        for key in ("x", "y", "true_mi"):
            np.testing.assert_array_equal(resumed[offset][key], uninterrupted[start + offset][key])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="mutual information"):
        gaussians.rho_from_mi(-0.5, 20)
    with pytest.raises(ValueError, match="dim"):
        gaussians.rho_from_mi(1.0, 0)
    with pytest.raises(ValueError, match="rho"):
        gaussians.mi_from_rho(1.0, 20)
    with pytest.raises(ValueError, match="mutual information"):
        gaussians.sample_correlated_gaussian(8, 20, -1.0)
    with pytest.raises(ValueError, match="batch_size"):
        gaussians.staircase_dataset(1)
    with pytest.raises(ValueError, match="mutual information"):
        gaussians.staircase_dataset(8, mi_values=(2.0, -1.0))
    with pytest.raises(ValueError, match="mi_values"):
        gaussians.staircase_dataset(8, mi_values=())
