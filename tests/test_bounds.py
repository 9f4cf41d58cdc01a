"""Tests of tfmi.bounds: NumPy references, hand-computed values, Gaussian tightness,
properties (upper limits, finiteness, gradients, tf.function) and bad input."""

import functools
import math

import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.data import gaussians
from tfmi.estimation import heldout, neural

# --------------------------------------------------------------------------------------
# Independent NumPy references (float64), written from the papers' formulas.
# --------------------------------------------------------------------------------------


def _logsumexp(v, axis=None):
    v = np.asarray(v, np.float64)
    m = np.max(v, axis=axis, keepdims=True)
    out = m + np.log(np.sum(np.exp(v - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def _off(s):
    """The B(B-1) off-diagonal entries (pairs from p(x)p(y))."""
    s = np.asarray(s, np.float64)
    return s[~np.eye(len(s), dtype=bool)]


def np_infonce(s):
    s = np.asarray(s, np.float64)
    batch = len(s)
    # 1/B sum_i log( e^{f_ii} / (1/B sum_j e^{f_ij}) )
    return np.mean([s[i, i] - np.log(np.mean(np.exp(s[i] - s[i].max()))) - s[i].max()
                    for i in range(batch)])


def np_tuba(s, log_baseline=None):
    s = np.asarray(s, np.float64)
    if log_baseline is not None:
        lb = np.asarray(log_baseline, np.float64)
        s = s - (lb[:, None] if lb.ndim == 1 else lb)
    return 1.0 + np.mean(np.diag(s)) - np.mean(np.exp(_off(s)))


def np_nwj(s):
    s = np.asarray(s, np.float64)
    return np.mean(np.diag(s)) - np.exp(-1.0) * np.mean(np.exp(_off(s)))


def np_dv(s):
    s = np.asarray(s, np.float64)
    return np.mean(np.diag(s)) - (_logsumexp(_off(s)) - np.log(_off(s).size))


def np_js(s):
    return np_nwj(np.asarray(s, np.float64) + 1.0)


def np_smile(s, clip):
    s = np.asarray(s, np.float64)
    neg = _off(s) if clip is None else np.clip(_off(s), -clip, clip)
    return np.mean(np.diag(s)) - (_logsumexp(neg) - np.log(neg.size))


def np_interpolated(s, log_baseline, alpha):
    """Poole et al. (2019) I_alpha, as in their reference code (vbmi Colab).

    a_i(-j) = alpha * mean_{k != j} e^{f_ik} + (1 - alpha) * e^{log_baseline_i}.
    Positive f_ii is scored against the baselines a_i(-j), j != i (the baseline holds
    the positive itself and B - 2 negatives); a negative f_ij against a_i(-i) (all
    B - 1 negatives of row i, the evaluated one included).
    value = 1 + mean_{i != j}[f_ii - log a_i(-j)] - mean_{i != j}[e^{f_ij} / a_i(-i)].
    """
    s = np.asarray(s, np.float64)
    batch = len(s)
    q = np.exp(np.broadcast_to(np.asarray(log_baseline, np.float64), (batch,)))
    e = np.exp(s)

    def a(i, left_out):
        m = np.mean([e[i, k] for k in range(batch) if k != left_out])
        return alpha * m + (1.0 - alpha) * q[i]

    pairs = [(i, j) for i in range(batch) for j in range(batch) if i != j]
    joint = np.mean([s[i, i] - np.log(a(i, j)) for i, j in pairs])
    marginal = np.mean([e[i, j] / a(i, i) for i, j in pairs])
    return 1.0 + joint - marginal


def np_kpair(s):
    """-L of the K-pair loss: -1/K sum_i log(1 + sum_{j != i} e^{f_ij - f_ii})."""
    s = np.asarray(s, np.float64)
    return -np.mean([np.log1p(sum(np.exp(s[i, j] - s[i, i]) for j in range(len(s)) if j != i))
                     for i in range(len(s))])


def np_triplet(s, margin):
    """-L of the triplet loss: -mean_{i != j} max(0, margin - f_ii + f_ij)."""
    s = np.asarray(s, np.float64)
    return -np.mean([max(0.0, margin - s[i, i] + s[i, j]) for i in range(len(s)) for j in range(len(s)) if j != i])


def np_js_fgan_grad(s):
    """d/ds of E_p[-softplus(-f)] - mean_{i != j} softplus(f_ij)."""
    s = np.asarray(s, np.float64)
    batch = len(s)
    sigmoid = 1.0 / (1.0 + np.exp(-s))
    grad = -sigmoid / (batch * (batch - 1.0))
    np.fill_diagonal(grad, (1.0 - np.diag(sigmoid)) / batch)  # sigmoid(-f_ii) / B
    return grad


def np_mine_grad(s, moving_average):
    """d/ds of mean(diag f) - mean_{i != j}(e^{f_ij}) / moving_average."""
    s = np.asarray(s, np.float64)
    batch = len(s)
    grad = -np.exp(s) / (batch * (batch - 1.0) * moving_average)
    np.fill_diagonal(grad, 1.0 / batch)
    return grad


# --------------------------------------------------------------------------------------
# The bounds as one-argument functions, with their NumPy twins.
# --------------------------------------------------------------------------------------


def _row_baseline(scores):
    """A per-row log baseline that works for any (also unknown) batch size."""
    batch = tf.shape(scores)[0]
    return 0.25 * tf.cast(tf.range(batch), scores.dtype) - 0.3


def _np_row_baseline(batch):
    return 0.25 * np.arange(batch) - 0.3


VARIANTS = {
    "infonce": (bounds.infonce, np_infonce),
    "nwj": (bounds.nwj, np_nwj),
    "tuba": (bounds.tuba, np_tuba),
    "tuba_row_baseline": (
        lambda s: bounds.tuba(s, _row_baseline(s)),
        lambda s: np_tuba(s, _np_row_baseline(len(s))),
    ),
    "tuba_scalar_baseline": (
        lambda s: bounds.tuba(s, 0.7),
        lambda s: np_tuba(s, 0.7),
    ),
    "dv": (bounds.dv, np_dv),
    "js": (bounds.js, np_js),
    "smile_noclip": (lambda s: bounds.smile(s, None), lambda s: np_smile(s, None)),
    "smile_clip2": (lambda s: bounds.smile(s, 2.0), lambda s: np_smile(s, 2.0)),
    "interpolated_a0": (
        lambda s: bounds.interpolated(s, _row_baseline(s), 0.0),
        lambda s: np_interpolated(s, _np_row_baseline(len(s)), 0.0),
    ),
    "interpolated_a0.3": (
        lambda s: bounds.interpolated(s, _row_baseline(s), 0.3),
        lambda s: np_interpolated(s, _np_row_baseline(len(s)), 0.3),
    ),
    "interpolated_a1": (
        lambda s: bounds.interpolated(s, _row_baseline(s), 1.0),
        lambda s: np_interpolated(s, _np_row_baseline(len(s)), 1.0),
    ),
    "interpolated_scalar_baseline": (
        lambda s: bounds.interpolated(s, -0.4, 0.3),
        lambda s: np_interpolated(s, -0.4, 0.3),
    ),
    "mine": (lambda s: bounds.mine(s, math.log(1.3)), np_dv),
}


def _random_scores(batch, seed, scale=2.0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=scale, size=(batch, batch)) + 1.5 * np.eye(batch)
    return scores.astype(np.float32)


# --------------------------------------------------------------------------------------
# Values against NumPy.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("batch", [2, 5, 16])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_matches_numpy_reference(name, batch, seed):
    tf_fn, np_fn = VARIANTS[name]
    scores = _random_scores(batch, seed=100 * batch + seed)
    got = tf_fn(tf.constant(scores))
    assert got.shape == () and got.dtype == tf.float32
    np.testing.assert_allclose(float(got), np_fn(scores), rtol=1e-5, atol=1e-5)


# Every bound of the registry (tfmi.bounds.BOUNDS, from RECORDS) with the arguments of
# one call (its settings and its state's value) and its NumPy reference. A bound added
# to RECORDS fails test_every_registered_bound_matches_numpy until it has a line here.
REGISTERED = {
    "infonce": ({}, np_infonce),
    "nwj": ({}, np_nwj),
    "tuba": ({"log_baseline": 0.7}, lambda s: np_tuba(s, 0.7)),
    "dv": ({}, np_dv),
    "js": ({}, np_js),
    "smile": ({"clip": 2.0}, lambda s: np_smile(s, 2.0)),
    "interpolated": ({"log_baseline": -0.4, "alpha": 0.3}, lambda s: np_interpolated(s, -0.4, 0.3)),
    "mine": ({"log_moving_average": math.log(1.3)}, np_dv),
    "kpair": ({}, np_kpair),
    "triplet": ({"margin": 0.5}, lambda s: np_triplet(s, 0.5)),
}


@pytest.mark.parametrize("name", list(bounds.BOUNDS))
def test_every_registered_bound_matches_numpy(name):
    assert name in REGISTERED, f"bound {name!r} is in tfmi.bounds.RECORDS but has no NumPy reference in REGISTERED"
    args, reference = REGISTERED[name]
    for batch in (2, 7):
        scores = _random_scores(batch, seed=batch, scale=3.0)
        got = bounds.get(name)(tf.constant(scores), **args)
        np.testing.assert_allclose(float(got), reference(scores), rtol=1e-5, atol=1e-5, err_msg=name)


def test_every_reference_is_a_registered_bound():
    assert set(REGISTERED) == set(bounds.BOUNDS)


def test_a_record_names_a_known_kind_and_only_an_mi_bound_has_a_heldout_form():
    with pytest.raises(ValueError, match="kind"):
        bounds.BoundRecord(bounds.kpair, kind="loss")
    with pytest.raises(ValueError, match="heldout_args"):
        bounds.BoundRecord(bounds.infonce)
    with pytest.raises(ValueError, match="heldout_args"):
        bounds.BoundRecord(bounds.kpair, kind="metric loss", heldout_args=lambda settings: {"method": "dv"})


# A critic trained with each bound is read on held-out pairs by that bound over all pairs
# (the interpolated bound by InfoNCE; MINE by DV, its value): (name, bound_args, the
# function whose value on the whole matrix the held-out estimate must equal).
HELDOUT_READINGS = [
    ("infonce", {}, bounds.infonce),
    ("nwj", {}, bounds.nwj),
    ("tuba", {}, bounds.tuba),
    ("dv", {}, bounds.dv),
    ("js", {}, bounds.js),
    ("smile", {}, bounds.smile),
    ("smile", {"clip": 2.0}, lambda s: bounds.smile(s, 2.0)),
    ("smile", {"clip": None}, bounds.dv),
    ("interpolated", {"alpha": 0.3}, bounds.infonce),
    ("mine", {"momentum": 0.5}, bounds.dv),
]


def test_heldout_readings_cover_every_mi_bound():
    assert {name for name, _, _ in HELDOUT_READINGS} == set(bounds.UNCONDITIONAL_BOUNDS)


@pytest.mark.parametrize("name, bound_args, value", HELDOUT_READINGS)
def test_heldout_estimate_is_the_bound_on_all_pairs(name, bound_args, value):
    n = 12
    matrix = _random_scores(n, seed=5, scale=4.0)  # entries beyond SMILE's clip of 5

    def scores(x, y):
        return matrix[x[:, 0].astype(int)][:, y[:, 0].astype(int)]

    rows = np.arange(n, dtype=np.float32)[:, None]
    got = heldout.estimate(scores, rows, rows, **neural.heldout_args(name, bound_args)).mi
    np.testing.assert_allclose(got, float(value(tf.constant(matrix))), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["nope", "kpair", "cnce"])
def test_heldout_refuses_a_bound_without_a_heldout_form(name):
    # Never read as DV by default: the error names the bounds that have one.
    with pytest.raises(ValueError, match=rf"'{name}'.*'infonce', 'nwj'.*'mine'"):
        neural.heldout_args(name)


def test_hand_computed_values():
    # S = [[0, ln 2], [ln 3, 0]], B = 2 (by hand):
    #   infonce = log 2 + 1/2 [(0 - log(1 + 2)) + (0 - log(3 + 1))] = -1/2 log 3
    #   nwj     = 0 - e^-1 (2 + 3) / 2 = -2.5 / e
    #   tuba    = 1 + 0 - 2.5 = -1.5
    #   tuba, log_baseline = [ln 2, ln 3]: rows become [-ln 2, 0], [0, -ln 3] ->
    #             1 - (ln 2 + ln 3) / 2 - (1 + 1) / 2 = -1/2 log 6
    #   dv      = 0 - log 2.5
    #   js      = nwj(S + 1) = 1 - e^-1 (2e + 3e) / 2 = -1.5
    #   smile(clip=0.5): both negatives clip to 0.5 -> 0 - 0.5 = -0.5
    #   interpolated(alpha=1/2, log_baseline=0): a_0(-1) = a_1(-0) = (e^0 + 1) / 2 = 1, so
    #             the joint term is 0; a_0(-0) = (2 + 1) / 2 = 1.5, a_1(-1) = (3 + 1) / 2 = 2,
    #             marginal = (2 / 1.5 + 3 / 2) / 2 = 17 / 12 -> 1 - 17 / 12 = -5 / 12
    #   interpolated(alpha=1) at B = 2 is exactly log(B - 1) = 0 for any scores.
    s = tf.constant([[0.0, math.log(2.0)], [math.log(3.0), 0.0]])
    expected = {
        "infonce": (bounds.infonce(s), -0.5 * math.log(3.0)),
        "nwj": (bounds.nwj(s), -2.5 / math.e),
        "tuba": (bounds.tuba(s), -1.5),
        "tuba_baseline": (bounds.tuba(s, [math.log(2.0), math.log(3.0)]), -0.5 * math.log(6.0)),
        "dv": (bounds.dv(s), -math.log(2.5)),
        "mine": (bounds.mine(s, math.log(2.0)), -math.log(2.5)),
        "js": (bounds.js(s), -1.5),
        "smile": (bounds.smile(s, 0.5), -0.5),
        "interpolated": (bounds.interpolated(s, 0.0, 0.5), -5.0 / 12.0),
        "interpolated_a1": (bounds.interpolated(s, 0.0, 1.0), 0.0),
    }
    for name, (got, want) in expected.items():
        assert float(got) == pytest.approx(want, abs=1e-6), name


def test_nwj_and_js_identities():
    # The relations the docstrings state, on one random matrix.
    s = tf.constant(_random_scores(7, seed=3))
    np.testing.assert_allclose(float(bounds.nwj(s)), float(bounds.tuba(s, 1.0)), rtol=1e-6)
    np.testing.assert_allclose(float(bounds.js(s)), float(bounds.nwj(s + 1.0)), rtol=1e-6)
    np.testing.assert_allclose(
        float(bounds.interpolated(s, 0.2, 0.0)), float(bounds.tuba(s, 0.2)), rtol=1e-5
    )


# --------------------------------------------------------------------------------------
# Tightness on correlated Gaussians with the optimal critic.
# --------------------------------------------------------------------------------------

DIM = 20
GAUSS_BATCH = 1024
GAUSS_BATCHES = 3


@functools.lru_cache(maxsize=None)
def _optimal_scores(mi):
    """GAUSS_BATCHES [B, B] matrices of the true log density ratio at ``mi`` nats."""
    rho = gaussians.rho_from_mi(mi, DIM)
    out = []
    for k in range(GAUSS_BATCHES):
        x, y = gaussians.sample_correlated_gaussian(GAUSS_BATCH, DIM, mi, seed=(11, k))
        out.append(gaussians.log_density_ratio(x, y, rho))
    return out


SHIFT = 2.0  # DV-type bounds are invariant to a constant shift of the critic.
TIGHT = {
    # name: (bound applied to the optimal log ratio f, which MI values to check)
    "nwj": (lambda f: bounds.nwj(f + 1.0), (1.0, 2.0, 4.0)),
    "tuba": (lambda f: bounds.tuba(f), (1.0, 2.0, 4.0)),
    "tuba_row_baseline": (
        lambda f: bounds.tuba(f + _row_baseline(f)[:, None], _row_baseline(f)),
        (1.0, 2.0, 4.0),
    ),
    "js": (bounds.js, (1.0, 2.0, 4.0)),
    "dv": (lambda f: bounds.dv(f + SHIFT), (1.0, 2.0, 4.0)),
    "mine": (lambda f: bounds.mine(f + SHIFT, 0.0), (1.0, 2.0, 4.0)),
    "smile_noclip": (lambda f: bounds.smile(f + SHIFT, None), (1.0, 2.0, 4.0)),
    # Clipping at 5 biases SMILE upwards once e^f often exceeds e^5: low MI only.
    "smile_clip5": (lambda f: bounds.smile(f, 5.0), (1.0,)),
    "interpolated_a0": (lambda f: bounds.interpolated(f + SHIFT, SHIFT, 0.0), (1.0, 2.0, 4.0)),
    "interpolated_a0.3": (
        lambda f: bounds.interpolated(f + SHIFT, SHIFT, 0.3),
        (1.0, 2.0, 4.0),
    ),
    "interpolated_a1": (lambda f: bounds.interpolated(f + SHIFT, 0.0, 1.0), (1.0, 2.0, 4.0)),
    "infonce": (bounds.infonce, (1.0, 2.0, 4.0)),
}


@pytest.mark.parametrize("name", sorted(TIGHT))
def test_tight_at_optimal_critic(name):
    fn, mi_values = TIGHT[name]
    for mi in mi_values:
        estimate = np.mean([float(fn(f)) for f in _optimal_scores(mi)])
        # Sampling noise of a 3 x 1024 average is ~0.02-0.07 nats; InfoNCE-type bounds
        # (alpha = 1) also lose ~0.13 nats to their log B cap at 4 nats, B = 1024.
        target = min(mi, math.log(GAUSS_BATCH))
        tolerance = 0.15 if mi <= 2.0 else 0.25
        assert abs(estimate - target) < tolerance, (name, mi, estimate)


def _np_infonce_expectation(batch, mi, n_batches, seed):
    """Monte Carlo E[I_NCE] at the optimal critic, sampled and scored in NumPy."""
    rng = np.random.default_rng(seed)
    rho = np.sqrt(1.0 - np.exp(-2.0 * mi / DIM))
    var = 1.0 - rho**2
    x = rng.standard_normal((n_batches, batch, DIM))
    y = rho * x + np.sqrt(var) * rng.standard_normal((n_batches, batch, DIM))
    # log p(y_j | x_i) - log p(y_j) for all pairs, |y_j - rho x_i|^2 expanded.
    sq_x = np.sum(x**2, axis=-1)[:, :, None]
    sq_y = np.sum(y**2, axis=-1)[:, None, :]
    sq_dist = sq_y - 2.0 * rho * np.einsum("nid,njd->nij", x, y) + rho**2 * sq_x
    log_ratio = -0.5 * DIM * np.log(var) - sq_dist / (2.0 * var) + 0.5 * sq_y
    m = log_ratio.max(axis=2, keepdims=True)
    lse = (m + np.log(np.sum(np.exp(log_ratio - m), axis=2, keepdims=True)))[..., 0]
    diag = np.diagonal(log_ratio, axis1=1, axis2=2)
    per_batch = np.mean(diag - lse, axis=1) + np.log(batch)
    return per_batch.mean(), per_batch.std() / np.sqrt(n_batches)


@pytest.mark.parametrize("batch", [16, 64])
def test_infonce_gaussian_capped_by_log_batch(batch):
    # At 4 nats, log 16 = 2.77 caps InfoNCE well below the MI; log 64 = 4.16 lies just
    # above it, and the estimate still sits clearly below both.
    mi = 4.0
    rho = gaussians.rho_from_mi(mi, DIM)
    values = []
    for k in range(48):
        x, y = gaussians.sample_correlated_gaussian(batch, DIM, mi, seed=(5, k))
        value = float(bounds.infonce(gaussians.log_density_ratio(x, y, rho)))
        assert value <= math.log(batch) + 1e-5
        values.append(value)
    ours, ours_se = np.mean(values), np.std(values) / np.sqrt(len(values))
    reference, reference_se = _np_infonce_expectation(batch, mi, n_batches=1000, seed=batch)
    assert ours < min(mi, math.log(batch))
    assert abs(ours - reference) < 4.0 * math.hypot(ours_se, reference_se) + 0.01, (
        ours,
        reference,
    )


def test_cubic_log_ratio_gives_same_infonce():
    mi, batch = 3.0, 256
    rho = gaussians.rho_from_mi(mi, DIM)
    x, y = gaussians.sample_correlated_gaussian(batch, DIM, mi, seed=(2, 9))
    x3, y3 = gaussians.sample_correlated_gaussian(batch, DIM, mi, cubic=True, seed=(2, 9))
    np.testing.assert_array_equal(x.numpy(), x3.numpy())
    np.testing.assert_allclose(y3.numpy(), y.numpy() ** 3, rtol=1e-5, atol=1e-6)
    plain = gaussians.log_density_ratio(x, y, rho)
    cubic = gaussians.log_density_ratio(x3, y3, rho, cubic=True)
    np.testing.assert_allclose(cubic.numpy(), plain.numpy(), atol=2e-3)
    assert float(bounds.infonce(cubic)) == pytest.approx(float(bounds.infonce(plain)), abs=1e-4)


# --------------------------------------------------------------------------------------
# Properties.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e30])
@pytest.mark.parametrize("batch", [2, 5, 64])
def test_infonce_never_exceeds_log_batch(batch, scale):
    rng = np.random.default_rng(batch)
    candidates = [
        scale * rng.normal(size=(batch, batch)),
        scale * np.eye(batch),  # positives dominate every row
        scale * np.eye(batch) - scale * (1 - np.eye(batch)),
    ]
    for scores in candidates:
        value = float(bounds.infonce(tf.constant(scores, tf.float32)))
        assert value <= math.log(batch) + 1e-5


@pytest.mark.parametrize("batch", [2, 5, 64])
def test_interpolated_upper_limits(batch):
    # alpha = 1: the marginal term is exactly 1 and each positive term is at most
    # log(B - 1); 0 < alpha < 1: at most 1 + log((B - 1) / alpha).
    rng = np.random.default_rng(batch)
    random = 5.0 * rng.normal(size=(batch, batch))
    for scores in [50.0 * np.eye(batch), 1e3 * np.eye(batch), random]:
        scores = tf.constant(scores, tf.float32)
        one = float(bounds.interpolated(scores, 0.0, 1.0))
        assert one <= math.log(batch - 1) + 1e-4
        for log_q in (-30.0, 0.0, 30.0):
            part = float(bounds.interpolated(scores, log_q, 0.3))
            assert part <= 1.0 + math.log((batch - 1) / 0.3) + 1e-4
    # The alpha = 1 limit is reached when the positives dominate: c - log((e^c + B - 2)
    # / (B - 1)) -> log(B - 1).
    reached = float(bounds.interpolated(tf.constant(50.0 * np.eye(batch), tf.float32), 0.0, 1.0))
    assert reached == pytest.approx(math.log(batch - 1), abs=1e-4)


def _finite_check_matrices():
    batch = 6
    eye = np.eye(batch)
    return {
        "separated_1e3": 1e3 * eye - 1e3 * (1 - eye),
        "positives_1e3": 1e3 * eye,
        "random": _random_scores(batch, seed=42, scale=3.0),
    }


@pytest.mark.parametrize("matrix", ["separated_1e3", "positives_1e3", "random"])
@pytest.mark.parametrize("name", sorted(VARIANTS) + ["mine_moving_average"])
def test_finite_value_and_gradient(name, matrix):
    scores = tf.constant(_finite_check_matrices()[matrix], tf.float32)
    if name == "mine_moving_average":
        fn = bounds.MineMovingAverage(momentum=0.9)
    else:
        fn = VARIANTS[name][0]
    with tf.GradientTape() as tape:
        tape.watch(scores)
        value = fn(scores)
    grad = tape.gradient(value, scores)
    assert np.isfinite(float(value)), float(value)
    assert grad is not None and np.all(np.isfinite(grad.numpy())), grad


def test_tf_function_unknown_batch_matches_eager():
    # One graph holding every bound (a single trace keeps the test fast), traced once for
    # an unknown batch size and run at two sizes. AutoGraph is covered by the next test.
    names = sorted(VARIANTS)
    graph_fn = tf.function(
        lambda s: {name: VARIANTS[name][0](s) for name in names},
        input_signature=[tf.TensorSpec([None, None], tf.float32)],
        autograph=False,
    )
    for batch in (3, 9):
        scores = tf.constant(_random_scores(batch, seed=batch))
        in_graph = graph_fn(scores)
        for name in names:
            np.testing.assert_allclose(
                float(in_graph[name]), float(VARIANTS[name][0](scores)), rtol=1e-5, atol=1e-6,
                err_msg=name,
            )
    assert graph_fn.experimental_get_tracing_count() == 1


def test_tf_function_with_autograph():
    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
    def graph_fn(s):
        return (
            bounds.interpolated(s, _row_baseline(s), 0.3),
            bounds.tuba(s, _row_baseline(s)),
            bounds.smile(s, 2.0),
        )

    scores = _random_scores(5, seed=5)
    got = [float(v) for v in graph_fn(tf.constant(scores))]
    want = [
        np_interpolated(scores, _np_row_baseline(5), 0.3),
        np_tuba(scores, _np_row_baseline(5)),
        np_smile(scores, 2.0),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_mine_layer_in_tf_function():
    layer = bounds.MineMovingAverage(momentum=0.5)
    graph_fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None], tf.float32)])
    s1, s2 = _random_scores(4, seed=1), _random_scores(7, seed=2)
    assert float(graph_fn(tf.constant(s1))) == pytest.approx(np_dv(s1), rel=1e-5, abs=1e-6)
    assert float(graph_fn(tf.constant(s2))) == pytest.approx(np_dv(s2), rel=1e-5, abs=1e-6)
    expected = 0.5 * np.mean(np.exp(_off(s1))) + 0.5 * np.mean(np.exp(_off(s2)))
    assert math.exp(float(layer.log_average)) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "name, fn, np_value",
    [
        ("js", bounds.js, np_js),
        ("smile_noclip", lambda s: bounds.smile(s, None), lambda s: np_smile(s, None)),
        ("smile_clip2", lambda s: bounds.smile(s, 2.0), lambda s: np_smile(s, 2.0)),
    ],
)
def test_js_gradient_with_reported_value(name, fn, np_value):
    scores = tf.constant(_random_scores(6, seed=8, scale=3.0))
    with tf.GradientTape() as tape:
        tape.watch(scores)
        value = fn(scores)
    grad = tape.gradient(value, scores).numpy()
    np.testing.assert_allclose(float(value), np_value(scores.numpy()), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad, np_js_fgan_grad(scores.numpy()), rtol=1e-5, atol=1e-7)
    # The gradient is not that of the reported value (NWJ at f + 1, or DV-like for SMILE).
    with tf.GradientTape() as tape:
        tape.watch(scores)
        plain = bounds.nwj(scores + 1.0) if name == "js" else bounds.dv(scores)
    assert np.abs(grad - tape.gradient(plain, scores).numpy()).max() > 1e-2


def test_mine_gradient_uses_moving_average():
    scores = tf.constant(_random_scores(5, seed=4))
    moving_average = 2.5
    with tf.GradientTape() as tape:
        tape.watch(scores)
        value = bounds.mine(scores, math.log(moving_average))
    grad = tape.gradient(value, scores).numpy()
    np.testing.assert_allclose(float(value), np_dv(scores.numpy()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        grad, np_mine_grad(scores.numpy(), moving_average), rtol=1e-5, atol=1e-7
    )


def test_mine_moving_average_layer():
    momentum = 0.9
    layer = bounds.MineMovingAverage(momentum=momentum)
    s1, s2, s3 = (_random_scores(5, seed=k) for k in (21, 22, 23))
    partition = lambda s: np.mean(np.exp(_off(s)))  # noqa: E731

    v1 = layer(tf.constant(s1))
    assert math.exp(float(layer.log_average)) == pytest.approx(partition(s1), rel=1e-5)
    assert float(v1) == pytest.approx(np_dv(s1), rel=1e-5, abs=1e-6)

    v2 = layer(tf.constant(s2))
    average2 = momentum * partition(s1) + (1 - momentum) * partition(s2)
    assert math.exp(float(layer.log_average)) == pytest.approx(average2, rel=1e-5)
    assert float(v2) == pytest.approx(np_dv(s2), rel=1e-5, abs=1e-6)

    scores3 = tf.constant(s3)
    with tf.GradientTape() as tape:
        tape.watch(scores3)
        v3 = layer(scores3)
    average3 = momentum * average2 + (1 - momentum) * partition(s3)
    np.testing.assert_allclose(tape.gradient(v3, scores3).numpy(), np_mine_grad(s3, average3),
                               rtol=1e-4, atol=1e-7)
    assert layer.trainable_weights == []
    assert bounds.MineMovingAverage.from_config(layer.get_config()).momentum == momentum


# --------------------------------------------------------------------------------------
# Bad input.
# --------------------------------------------------------------------------------------

CALLS = {
    "infonce": bounds.infonce,
    "nwj": bounds.nwj,
    "tuba": bounds.tuba,
    "dv": bounds.dv,
    "js": bounds.js,
    "smile": bounds.smile,
    "interpolated": lambda s: bounds.interpolated(s, 0.0, 0.5),
    "mine": lambda s: bounds.mine(s, 0.0),
}


@pytest.mark.parametrize(
    "shape", [(4,), (3, 4), (1, 1), (2, 2, 2)], ids=["rank1", "nonsquare", "batch1", "rank3"]
)
@pytest.mark.parametrize("name", sorted(CALLS))
def test_bad_scores_raise_naming_function(name, shape):
    with pytest.raises(ValueError, match=f"{name}:"):
        CALLS[name](tf.zeros(shape))


def np_log_mean_exp_off(s):
    s = np.asarray(s, np.float64)
    off = s[~np.eye(len(s), dtype=bool)]
    return np.logaddexp.reduce(off) - np.log(off.size)


def test_values_with_other_gradients_are_exact_in_float32():
    # SMILE's surrogate (the JS objective) is ~ -1e6 / 56 here while its value is ~ -2.5:
    # surrogate + stop_gradient(value - surrogate) lost the value's last digits.
    scores = np.zeros((8, 8), np.float32)
    scores[0, 1] = 1e6
    scores = tf.constant(scores)
    assert float(bounds.smile(scores, 5.0)) == float(bounds.dv(tf.clip_by_value(scores, -5.0, 5.0)))
    random = tf.constant(_random_scores(64, seed=9, scale=4.0), tf.float32)
    assert float(bounds.mine(random, -30.0)) == float(bounds.dv(random))


def test_mine_layer_cannot_overflow():
    # One negative-pair score of 95: e^95 overflows float32 (max ~ e^88.7).
    scores = np.zeros((8, 8), np.float32)
    scores[0, 1] = 95.0
    layer = bounds.MineMovingAverage(momentum=0.9)
    tensor = tf.constant(scores)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        value = layer(tensor)
    grad = tape.gradient(value, tensor).numpy()
    log_partition = np_log_mean_exp_off(scores)  # ~ 95 - log 56
    assert float(value) == pytest.approx(np.mean(np.diag(scores)) - log_partition, rel=1e-6)
    assert float(layer.log_average) == pytest.approx(log_partition, rel=1e-6)
    # Gradient -e^{s_ij} / (B (B - 1) A) with A = the partition itself: the softmax weights.
    want = -np.exp(scores.astype(np.float64) - log_partition) / 56.0
    np.fill_diagonal(want, 1.0 / 8.0)
    np.testing.assert_allclose(grad, want, rtol=1e-5, atol=1e-7)
    # A second, ordinary batch: the average moves in log space, still finite.
    second = layer(tf.zeros((8, 8)))
    assert float(second) == pytest.approx(0.0, abs=1e-6)
    want_log_average = np.logaddexp(np.log(0.9) + log_partition, np.log(0.1) + 0.0)
    assert float(layer.log_average) == pytest.approx(want_log_average, rel=1e-6)


def test_mine_layer_bad_scores_raise():
    with pytest.raises(ValueError, match="mine:"):
        bounds.MineMovingAverage()(tf.zeros([3, 4]))
    with pytest.raises(ValueError, match="MineMovingAverage"):
        bounds.MineMovingAverage(momentum=1.0)


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_interpolated_alpha_out_of_range(alpha):
    with pytest.raises(ValueError, match="interpolated:"):
        bounds.interpolated(tf.zeros([3, 3]), 0.0, alpha)


def test_baseline_of_wrong_length():
    with pytest.raises(ValueError, match="tuba:"):
        bounds.tuba(tf.zeros([4, 4]), tf.zeros([3]))
    with pytest.raises(ValueError, match="tuba:"):
        bounds.tuba(tf.zeros([4, 4]), tf.zeros([4, 1]))
    with pytest.raises(ValueError, match="interpolated:"):
        bounds.interpolated(tf.zeros([4, 4]), tf.zeros([3]), 0.5)


@pytest.mark.parametrize("clip", [0.0, -1.0])
def test_smile_nonpositive_clip(clip):
    with pytest.raises(ValueError, match="smile:"):
        bounds.smile(tf.zeros([3, 3]), clip)


def test_contrastive_cross_entropy_matches_numpy_for_both_layouts():
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(5, 7)).astype(np.float32)
    labels = rng.integers(0, 7, 5)

    def reference(labels):
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_softmax[np.arange(5), labels].mean()

    np.testing.assert_allclose(float(bounds.contrastive_cross_entropy(scores, labels)), reference(labels), rtol=1e-6)
    np.testing.assert_allclose(float(bounds.contrastive_cross_entropy(scores)), reference(np.zeros(5, int)), rtol=1e-6)
