"""Tests of tfmi.data.demi_synthetic: Listing 2's covariance sampler (and its two pitfalls),
the task's exact MIs against empirical covariances, the exact conditional samplers and
log density ratios, and the resumable dataset.

Independent references: MIs by ``np.linalg.slogdet`` (the module writes determinants
out), Gaussian conditionals from the precision matrix (the module solves the
covariance blocks), log densities by ``scipy.stats.norm``.
"""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import tensorflow as tf

from tfmi.data import demi_synthetic as ds


def _logdet(m):
    sign, value = np.linalg.slogdet(m)
    assert np.all(sign > 0)
    return value


def _gaussian_mi(cov, a, b):
    """I(v_a; v_b) of a Gaussian vector with covariance ``cov``; a, b index lists."""
    ab = a + b
    return 0.5 * (_logdet(cov[np.ix_(a, a)]) + _logdet(cov[np.ix_(b, b)]) - _logdet(cov[np.ix_(ab, ab)]))


def _mis_by_slogdet(cov):
    """(I({x, x'}; y), I(x'; y), I(x; y)) of one 3x3 covariance."""
    return _gaussian_mi(cov, [0, 1], [2]), _gaussian_mi(cov, [1], [2]), _gaussian_mi(cov, [0], [2])


def _conditional_by_precision(cov, given):
    """y | v for v = ``given``: returns (weights, variance) via the precision matrix.

    Marginalise the unused variable out, invert, and read y | v ~ N(-P[y, v] v / P[y, y], 1 / P[y, y]).
    """
    keep = list(given) + [2]
    prec = np.linalg.inv(cov[np.ix_(keep, keep)])
    return -prec[-1, :-1] / prec[-1, -1], 1.0 / prec[-1, -1]


@pytest.fixture(scope="module")
def task5():
    return ds.make_task(5.0, dim=20, seed=0)


@pytest.fixture(scope="module")
def task20():
    return ds.make_task(20.0, dim=20, seed=1)


@pytest.fixture(scope="module")
def small_task():
    # Little conditional MI so that exp(log-ratio) has a modest variance under p(y|x').
    return ds.make_task(1.0, dim=3, seed=2)


# sample_cov (Listing 2) -----------------------------------------------------------


@pytest.mark.parametrize(
    "mi, alpha",
    [(0.05, 0.1), (0.05, 0.9), (0.3, 0.5), (1.0, 0.2), (2.0, 0.8), (2.0, 0.5), (6.0, 0.35)],
)
def test_sample_cov_hits_both_targets(mi, alpha):
    cov = ds.sample_cov(mi, alpha, rng=int(100 * mi + 10 * alpha))
    mi_total, mi_xprime, _ = _mis_by_slogdet(cov)
    assert abs(mi_total - mi) < 1e-6
    assert abs(mi_xprime - alpha * mi) < 1e-6
    # Row normalisation: a correlation matrix, positive definite.
    np.testing.assert_allclose(np.diag(cov), 1.0, atol=1e-12)
    np.testing.assert_allclose(cov, cov.T, atol=1e-15)
    assert np.linalg.eigvalsh(cov).min() > 0


def test_analytical_mi_known_values_and_stacks():
    # x' independent of (x, y); corr(x, y) = rho: I({x, x'}; y) = -1/2 log(1 - rho^2), I(x'; y) = 0.
    rho = 0.6
    cov = np.array([[1.0, 0.0, rho], [0.0, 1.0, 0.0], [rho, 0.0, 1.0]])
    total, xprime = ds.analytical_mi(cov)
    assert total == pytest.approx(-0.5 * math.log(1 - rho**2), rel=1e-12)
    assert xprime == pytest.approx(0.0, abs=1e-15)
    # Scale invariance: rescaling each variable leaves both MIs unchanged.
    scale = np.diag([0.3, 2.0, 5.0])
    random_cov = ds.project_posdef(np.random.default_rng(0).normal(size=6))
    np.testing.assert_allclose(
        ds.analytical_mi(scale @ random_cov @ scale), ds.analytical_mi(random_cov), rtol=1e-10
    )
    # A stack of matrices gives one pair per matrix, equal to slogdet's.
    covs = np.stack([cov, random_cov])
    totals, xprimes = ds.analytical_mi(covs)
    for k in range(2):
        ref_total, ref_xprime, _ = _mis_by_slogdet(covs[k])
        assert totals[k] == pytest.approx(ref_total, abs=1e-12)
        assert xprimes[k] == pytest.approx(ref_xprime, abs=1e-12)


def test_sample_cov_is_deterministic_given_the_seed():
    a = ds.sample_cov(1.0, rng=7)
    b = ds.sample_cov(1.0, rng=7)
    c = ds.sample_cov(1.0, rng=8)
    np.testing.assert_array_equal(a, b)
    assert np.max(np.abs(a - c)) > 1e-3
    np.testing.assert_array_equal(
        ds.sample_cov(0.5, 0.3, rng=np.random.default_rng(3)),
        ds.sample_cov(0.5, 0.3, rng=np.random.default_rng(3)),
    )


def test_sample_cov_draws_alpha_from_the_paper_range():
    alphas = []
    for seed in range(8):
        total, xprime = ds.analytical_mi(ds.sample_cov(1.0, rng=seed))
        assert total == pytest.approx(1.0, abs=1e-6)
        alphas.append(xprime / total)
    assert min(alphas) > 0.1 and max(alphas) < 0.9
    assert max(alphas) - min(alphas) > 0.1  # drawn, not fixed


def test_listing_swapped_unpacking_hits_the_wrong_targets():
    """Listing 2's ``residual`` unpacks (total, x') as (x', total).

    That asks for I(x'; y) = mi and I({x, x'}; y) = alpha mi, infeasible because
    I(x'; y) <= I({x, x'}; y). The constrained minimum sits on I(x; y | x') = 0 with
    both MIs at (1 + alpha) mi / 2 and residual (1 - alpha)^2 mi^2 / 2: neither target.
    """

    def swapped_residual(params, mi, alpha):
        mi_xp_y, mi_xp_xpp_y = ds.analytical_mi(ds.project_posdef(params))  # as in the listing
        value = (mi_xp_xpp_y - mi) ** 2 + (mi_xp_y - alpha * mi) ** 2
        return value if np.isfinite(value) else 1e30

    mi, alpha = 1.0, 0.3
    rng = np.random.default_rng(1)
    result = scipy.optimize.minimize(
        swapped_residual, rng.normal(size=6), args=(mi, alpha), method="Nelder-Mead",
        options={"xatol": 1e-12, "fatol": 1e-20, "maxfev": 3000},
    )
    total, xprime = ds.analytical_mi(ds.project_posdef(result.x))
    assert result.fun == pytest.approx((1 - alpha) ** 2 * mi**2 / 2, abs=1e-6)
    assert total == pytest.approx((1 + alpha) * mi / 2, abs=1e-4)
    assert total - xprime == pytest.approx(0.0, abs=1e-4)  # no conditional MI left
    assert abs(total - mi) > 0.3 and abs(xprime - alpha * mi) > 0.3
    # The fixed pairing reaches both targets from the same start.
    cov = ds.sample_cov(mi, alpha, rng=np.random.default_rng(1))
    assert ds.residual(result.x, mi, alpha) > 0.1  # the swapped optimum is far off ours
    total, xprime = ds.analytical_mi(cov)
    assert abs(total - mi) < 1e-6 and abs(xprime - alpha * mi) < 1e-6


def test_column_normalisation_caps_the_total_mi():
    """The literal "divide each column by its norm" cannot exceed 1/2 log 3 nats."""
    rng = np.random.default_rng(0)
    params = rng.normal(size=(2000, 6)) * rng.choice([0.01, 1.0, 100.0], size=(2000, 6))
    totals = np.array([ds.analytical_mi(ds.project_posdef(p, "columns"))[0] for p in params])
    assert np.nanmax(totals) <= ds.MAX_MI_COLUMN_NORMALIZED + 1e-9
    assert np.nanmax(totals) > 0.9 * ds.MAX_MI_COLUMN_NORMALIZED  # the cap is approached
    rows = np.array([ds.analytical_mi(ds.project_posdef(p, "rows"))[0] for p in params])
    assert np.nanmax(rows) > 2.0  # rows do not cap it
    # Below the cap the literal version still works; above it, a clear error.
    cov = ds.sample_cov(0.3, 0.5, rng=0, normalize="columns")
    assert ds.analytical_mi(cov)[0] == pytest.approx(0.3, abs=1e-6)
    with pytest.raises(ValueError, match="normalize='rows'"):
        ds.sample_cov(1.0, 0.5, rng=0, normalize="columns")


def test_sample_cov_raises_after_failed_restarts():
    with pytest.raises(RuntimeError, match="max_restarts"):
        ds.sample_cov(1.0, 0.5, rng=0, max_restarts=2, max_evals=10)


# The task's exact MIs ----------------------------------------------------------------


@pytest.mark.parametrize("fixture, total", [("task5", 5.0), ("task20", 20.0)])
def test_task_mis_add_up(request, fixture, total):
    task = request.getfixturevalue(fixture)
    assert task.dim == 20 and task.covs.shape == (20, 3, 3)
    assert np.all(task.mi_per_dim > 0)
    assert task.mi_per_dim.sum() == pytest.approx(total, rel=1e-12)
    assert np.all((task.alphas > 0.1) & (task.alphas < 0.9))
    refs = np.array([_mis_by_slogdet(c) for c in task.covs])  # [dim, 3]
    np.testing.assert_allclose(refs[:, 0], task.mi_per_dim, atol=1e-6)
    np.testing.assert_allclose(refs[:, 1], task.alphas * task.mi_per_dim, atol=1e-6)
    assert task.total_mi == pytest.approx(total, abs=20e-6)
    assert task.mi_xprime_y == pytest.approx(refs[:, 1].sum(), abs=1e-9)
    assert task.mi_x_y_given_xprime == pytest.approx(total - refs[:, 1].sum(), abs=20e-6)
    assert task.mi_x_y == pytest.approx(refs[:, 2].sum(), abs=1e-9)
    assert 0 < task.mi_x_y < task.total_mi


def test_make_task_is_deterministic_given_the_seed():
    a = ds.make_task(2.0, dim=3, seed=5)
    b = ds.make_task(2.0, dim=3, seed=5)
    c = ds.make_task(2.0, dim=3, seed=6)
    np.testing.assert_array_equal(a.covs, b.covs)
    np.testing.assert_array_equal(a.mi_per_dim, b.mi_per_dim)
    assert np.max(np.abs(a.mi_per_dim - c.mi_per_dim)) > 1e-3


@pytest.mark.parametrize("fixture", ["task5", "task20"])
def test_empirical_covariance_gives_the_exact_mis(request, fixture):
    task = request.getfixturevalue(fixture)
    n, d = 100000, task.dim
    x, xprime, y = task.sample(n, seed=(11, 3))
    joint = np.concatenate([x.numpy(), xprime.numpy(), y.numpy()], axis=1).astype(np.float64)
    cov = np.cov(joint, rowvar=False)
    ix, ixp, iy = list(range(d)), list(range(d, 2 * d)), list(range(2 * d, 3 * d))
    assert _gaussian_mi(cov, ix + ixp, iy) == pytest.approx(task.total_mi, abs=0.05)
    assert _gaussian_mi(cov, ixp, iy) == pytest.approx(task.mi_xprime_y, abs=0.05)
    assert _gaussian_mi(cov, ix, iy) == pytest.approx(task.mi_x_y, abs=0.05)
    # Coordinates are independent: cross-coordinate covariances vanish.
    assert abs(cov[0, 2 * d + 1]) < 5.0 / math.sqrt(n)


# Exact conditional samplers ---------------------------------------------------------


def test_sample_y_given_xprime_moments(task5):
    k = 40000
    _, xprime, _ = task5.sample(3, seed=(1, 1))
    y = task5.sample_y_given_xprime(xprime, k, seed=(2, 2)).numpy().astype(np.float64)
    assert y.shape == (3, k, 20)
    c = task5.covs
    mean = (c[:, 2, 1] / c[:, 1, 1]) * xprime.numpy()  # [3, dim]
    var = c[:, 2, 2] - c[:, 2, 1] ** 2 / c[:, 1, 1]  # [dim]
    # ... and the same from the precision matrix, independently.
    ref = [_conditional_by_precision(ci, [1]) for ci in c]
    np.testing.assert_allclose(var, [v for _, v in ref], rtol=1e-10)
    assert np.all(np.abs(y.mean(axis=1) - mean) < 5.0 * np.sqrt(var / k))
    np.testing.assert_allclose(y.var(axis=1), np.broadcast_to(var, (3, 20)), rtol=5.0 * math.sqrt(2.0 / k))


def test_sample_y_given_x_xprime_moments(task5):
    k = 40000
    x, xprime, _ = task5.sample(3, seed=(1, 2))
    y = task5.sample_y_given_x_xprime(x, xprime, k, seed=(2, 3)).numpy().astype(np.float64)
    ref = [_conditional_by_precision(ci, [0, 1]) for ci in task5.covs]
    weights = np.array([w for w, _ in ref])  # [dim, 2]
    var = np.array([v for _, v in ref])
    mean = weights[:, 0] * x.numpy() + weights[:, 1] * xprime.numpy()
    assert np.all(np.abs(y.mean(axis=1) - mean) < 5.0 * np.sqrt(var / k) + 1e-6)
    np.testing.assert_allclose(y.var(axis=1), np.broadcast_to(var, (3, 20)), rtol=5.0 * math.sqrt(2.0 / k))


def test_conditional_negatives_have_the_joint_statistics_of_y(task5):
    """(x', y_cond) ~ p(x') p(y | x') = p(x', y), while x and y_cond only meet through x'."""
    n = 100000
    x, xprime, _ = task5.sample(n, seed=(5, 5))
    y_cond = task5.sample_y_given_xprime(xprime, 1, seed=(6, 6))[:, 0, :]
    x, xprime, y_cond = (t.numpy().astype(np.float64) for t in (x, xprime, y_cond))
    c = task5.covs
    tol = 5.0 * math.sqrt(2.0 / n)
    cov_xp_y = np.mean(xprime * y_cond, axis=0)
    np.testing.assert_allclose(cov_xp_y, c[:, 1, 2], atol=tol)
    np.testing.assert_allclose(np.var(y_cond, axis=0), c[:, 2, 2], atol=tol)
    # Cov(x, y_cond) = C01 C12 / C11, not C02: the negatives carry no information from x.
    cov_x_y = np.mean(x * y_cond, axis=0)
    np.testing.assert_allclose(cov_x_y, c[:, 0, 1] * c[:, 1, 2] / c[:, 1, 1], atol=tol)
    assert np.max(np.abs(c[:, 0, 2] - c[:, 0, 1] * c[:, 1, 2] / c[:, 1, 1])) > 10 * tol


# Exact log density ratios -----------------------------------------------------------


def _reference_log_ratios(task, x, xprime, y):
    """(log p(y|x') - log p(y), log p(y|x,x') - log p(y|x'), log p(y|x,x') - log p(y)) by scipy.

    x, xprime, y: [dim] float64 single points.
    """
    out = np.zeros(3)
    for d, c in enumerate(task.covs):
        w1, v1 = _conditional_by_precision(c, [1])
        w2, v2 = _conditional_by_precision(c, [0, 1])
        log_y = scipy.stats.norm.logpdf(y[d], 0.0, math.sqrt(c[2, 2]))
        log_y_xp = scipy.stats.norm.logpdf(y[d], w1[0] * xprime[d], math.sqrt(v1))
        log_y_both = scipy.stats.norm.logpdf(y[d], w2[0] * x[d] + w2[1] * xprime[d], math.sqrt(v2))
        out += [log_y_xp - log_y, log_y_both - log_y_xp, log_y_both - log_y]
    return out


def test_log_ratios_match_scipy_and_pair_up(task5):
    b, k = 5, 3
    x, xprime, y = task5.sample(b, seed=(7, 1))
    y_cond = task5.sample_y_given_xprime(xprime, k, seed=(7, 2))
    pairs = [
        task5.log_ratio_y_given_xprime(xprime, y).numpy(),
        task5.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y).numpy(),
        task5.log_ratio_y_given_x_xprime(x, xprime, y).numpy(),
    ]
    rows = [
        task5.log_ratio_y_given_xprime(xprime, y_cond).numpy(),
        task5.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y_cond).numpy(),
        task5.log_ratio_y_given_x_xprime(x, xprime, y_cond).numpy(),
    ]
    assert all(p.shape == (b, b) for p in pairs) and all(r.shape == (b, k) for r in rows)
    x, xprime, y, y_cond = (t.numpy().astype(np.float64) for t in (x, xprime, y, y_cond))
    for i in range(b):
        for j in range(b):
            ref = _reference_log_ratios(task5, x[i], xprime[i], y[j])
            got = [p[i, j] for p in pairs]
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-3)
        for m in range(k):
            ref = _reference_log_ratios(task5, x[i], xprime[i], y_cond[i, m])
            got = [r[i, m] for r in rows]
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-3)
    # Chain rule of the ratios: total = unconditional + conditional.
    np.testing.assert_allclose(pairs[2], pairs[0] + pairs[1], rtol=1e-5, atol=1e-3)


def test_all_pairs_diagonal_equals_per_row_at_own_y(task20):
    b = 16
    x, xprime, y = task20.sample(b, seed=(8, 1))
    own = y[:, None, :]  # [B, 1, dim]: each row against its own y only
    for pair_fn in [
        lambda yy: task20.log_ratio_y_given_xprime(xprime, yy),
        lambda yy: task20.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, yy),
        lambda yy: task20.log_ratio_y_given_x_xprime(x, xprime, yy),
    ]:
        all_pairs = pair_fn(y).numpy()
        per_row = pair_fn(own).numpy()
        assert all_pairs.shape == (b, b) and per_row.shape == (b, 1)
        np.testing.assert_allclose(np.diag(all_pairs), per_row[:, 0], rtol=1e-6, atol=1e-4)
        # The positives dominate their row for this much MI (the diagonal is not arbitrary).
        assert np.mean(np.argmax(all_pairs, axis=1) == np.arange(b)) > 0.5


def test_conditional_ratio_is_normalised_under_p_y_given_xprime(small_task):
    """E_{p(y|x')}[p(y|x,x') / p(y|x')] = 1 for every (x, x'), by Monte Carlo."""
    b, k = 6, 50000
    x, xprime, _ = small_task.sample(b, seed=(9, 1))
    y = small_task.sample_y_given_xprime(xprime, k, seed=(9, 2))
    w = np.exp(small_task.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y).numpy().astype(np.float64))
    mean, se = w.mean(axis=1), w.std(axis=1) / math.sqrt(k)
    assert np.all(np.abs(mean - 1.0) < 5.0 * se + 1e-3), (mean, se)
    # Same for the unconditional ratio under p(y).
    _, _, y_marg = small_task.sample(k, seed=(9, 3))
    w = np.exp(small_task.log_ratio_y_given_xprime(xprime, y_marg).numpy().astype(np.float64))
    mean, se = w.mean(axis=1), w.std(axis=1) / math.sqrt(k)
    assert np.all(np.abs(mean - 1.0) < 5.0 * se + 1e-3), (mean, se)


@pytest.mark.parametrize("fixture", ["task5", "task20"])
def test_mean_log_ratios_over_joint_samples_are_the_mis(request, fixture):
    task = request.getfixturevalue(fixture)
    n = 100000
    x, xprime, y = task.sample(n, seed=(10, 1))
    own = y[:, None, :]
    checks = [
        (task.log_ratio_y_given_xprime(xprime, own), task.mi_xprime_y),
        (task.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, own), task.mi_x_y_given_xprime),
        (task.log_ratio_y_given_x_xprime(x, xprime, own), task.total_mi),
    ]
    for values, truth in checks:
        values = values.numpy()[:, 0].astype(np.float64)
        se = values.std() / math.sqrt(n)
        assert abs(values.mean() - truth) < 5.0 * se + 0.01, (values.mean(), truth, se)


def test_samplers_and_ratios_run_inside_tf_function(task5):
    @tf.function
    def step(seed):
        x, xprime, y = task5.sample(4, seed)
        y_cond = task5.sample_y_given_xprime(xprime, 3, seed + 1)
        return (
            task5.log_ratio_y_given_xprime(xprime, y),
            task5.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y_cond),
        )

    a, b = step(tf.constant([1, 2], tf.int64))
    assert a.shape == (4, 4) and b.shape == (4, 3)
    a2, _ = step(tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(a.numpy(), a2.numpy())


# Dataset ------------------------------------------------------------------------------


def test_dataset_batches_and_resume(task5):
    batches = list(ds.demi_dataset(task5, 8, 5, seed=3).take(4))
    first = batches[0]
    assert set(first) == {"x", "xprime", "y", "y_cond", "true_mi"}
    assert first["x"].shape == first["xprime"].shape == first["y"].shape == (8, 20)
    assert first["y_cond"].shape == (8, 5, 20)
    assert all(v.dtype == tf.float32 for v in first.values())
    np.testing.assert_allclose(first["true_mi"].numpy(), task5.total_mi, rtol=1e-6)
    resumed = next(iter(ds.demi_dataset(task5, 8, 5, seed=3, start_step=3)))
    for key in first:
        np.testing.assert_array_equal(resumed[key].numpy(), batches[3][key].numpy())
    assert not np.array_equal(batches[0]["x"].numpy(), batches[1]["x"].numpy())
    other_seed = next(iter(ds.demi_dataset(task5, 8, 5, seed=4)))
    assert not np.array_equal(other_seed["x"].numpy(), first["x"].numpy())


def test_dataset_negatives_are_drawn_given_each_rows_xprime(task5):
    batch = next(iter(ds.demi_dataset(task5, 20000, 1, seed=0)))
    x = batch["x"].numpy().astype(np.float64)
    xprime = batch["xprime"].numpy().astype(np.float64)
    y_cond = batch["y_cond"].numpy()[:, 0, :].astype(np.float64)
    c = task5.covs
    tol = 5.0 * math.sqrt(2.0 / 20000)
    np.testing.assert_allclose(np.mean(xprime * y_cond, axis=0), c[:, 1, 2], atol=tol)
    # Not independent of their own row's x' (which would give 0) ...
    assert np.max(np.abs(c[:, 1, 2])) > 10 * tol
    # ... and drawn from p(y | x'), not p(y | x, x'): Cov(x, y_cond) = C01 C12 / C11, not C02.
    np.testing.assert_allclose(np.mean(x * y_cond, axis=0), c[:, 0, 1] * c[:, 1, 2] / c[:, 1, 1], atol=tol)


# Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: ds.sample_cov(0.0), "total_mi"),
        (lambda: ds.sample_cov(-1.0), "total_mi"),
        (lambda: ds.sample_cov(float("nan")), "total_mi"),
        (lambda: ds.sample_cov(1.0, alpha=0.0), "alpha"),
        (lambda: ds.sample_cov(1.0, alpha=1.0), "alpha"),
        (lambda: ds.sample_cov(1.0, alpha=1.5), "alpha"),
        (lambda: ds.project_posdef(np.zeros(5)), "params"),
        (lambda: ds.project_posdef(np.ones(6), normalize="diag"), "normalize"),
        (lambda: ds.make_task(0.0, dim=2), "total_mi"),
        (lambda: ds.make_task(1.0, dim=0), "dim"),
        (lambda: ds.make_task(1.0, dim=2, alpha_range=(0.0, 0.5)), "alpha_range"),
    ],
)
def test_bad_arguments_raise_naming_them(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda t: ds.demi_dataset(t, 1, 4), "batch_size"),
        (lambda t: ds.demi_dataset(t, 8, 0), "num_conditional_negatives"),
        (lambda t: ds.demi_dataset("task", 8, 4), "task"),
        (lambda t: t.sample_y_given_xprime(np.zeros((4, 7), np.float32), 2, (0, 0)), "xprime"),
        (lambda t: t.sample_y_given_xprime(np.zeros((4, 3), np.float32), 0, (0, 0)), "num_samples"),
        (lambda t: t.log_ratio_y_given_xprime(np.zeros((4, 3), np.float32), np.zeros((4, 2, 2, 3))), "y must be"),
        (lambda t: t.log_ratio_y_given_xprime(np.zeros((4, 3), np.float32), np.zeros((5, 2, 3))), "one row per"),
        (lambda t: t.log_ratio_y_given_x_xprime(np.zeros((4, 2)), np.zeros((4, 3)), np.zeros((4, 3))), "x must be"),
    ],
)
def test_bad_task_input_raises_naming_it(small_task, call, name):
    with pytest.raises(ValueError, match=name):
        call(small_task)


def test_the_figure_merges_the_seeds_of_a_setting():
    """tools/plot_demi_synthetic.py: runs that differ only by seed are one point, their mean,
    with bars from the lowest to the highest seed; a lone seed keeps its own spread."""
    from conftest import load_tool

    over_seeds = load_tool("plot_demi_synthetic").over_seeds
    base = {"figure": "top", "method": "demi", "k": 32, "total_mi": 10.0, "std": 0.05}
    runs = [{**base, "estimate": value, "workdir": f"w{i}"} for i, value in enumerate((4.0, 4.3, 4.2))]
    alone = {**base, "k": 8, "estimate": 2.0, "workdir": "w3"}
    merged = {run["k"]: run for run in over_seeds(runs + [alone])}
    assert merged[32]["estimate"] == pytest.approx((4.0 + 4.3 + 4.2) / 3)
    assert (merged[32]["low"], merged[32]["high"], merged[32]["seeds"]) == (4.0, 4.3, 3)
    assert merged[8]["seeds"] == 1 and (merged[8]["low"], merged[8]["high"]) == pytest.approx((1.95, 2.05))
