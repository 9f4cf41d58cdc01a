"""Tests of the conditional bounds of DEMI in tfmi.bounds (Sordoni et al. 2021):
``split_scores``, ``cnce``, ``var``, ``importance_sampled``, ``boosted`` and ``demi``.

Independent references: float64 NumPy formulas written from the paper's Eqs. 5-10,
finite differences of those formulas for the gradients, and the exact MIs and optimal
critics (exact log density ratios) of the three-Gaussian task of
``tfmi.data.demi_synthetic``.

Monte-Carlo checks at the optimal critics also use a control variate: the positive's
optimal score has expectation exactly equal to the MI it targets (e.g. E[phi*(x', x, y)]
= I(x; y | x')), so ``estimate - mean(positive) + MI`` has the estimate's expectation and
far less variance, which allows tight "from below" tolerances without large batches.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tfmi import bounds
from tfmi.data import demi_synthetic as ds

# --------------------------------------------------------------------------------------
# Independent NumPy references (float64), written from the paper's formulas.
# --------------------------------------------------------------------------------------


def _log_sum_exp(v):
    v = np.asarray(v, np.float64)
    m = np.max(v)
    return m + math.log(np.sum(np.exp(v - m)))


def np_split_scores(s):
    s = np.asarray(s, np.float64)
    batch = len(s)
    positive = np.array([s[i, i] for i in range(batch)])
    negatives = np.array([[s[i, j] for j in range(batch) if j != i] for i in range(batch)])
    return positive, negatives.reshape(batch, batch - 1)


def np_infonce(s):
    """1/B sum_i log( e^{f_ii} / (1/B sum_j e^{f_ij}) )."""
    s = np.asarray(s, np.float64)
    batch = len(s)
    return np.mean([s[i, i] - (_log_sum_exp(s[i]) - math.log(batch)) for i in range(batch)])


def np_cnce(positive, negatives):
    """Eq. 6: mean_i log( e^{phi_i1} / (1/K sum_{k=1}^K e^{phi_ik}) ), K = 1 + #negatives."""
    positive = np.asarray(positive, np.float64)
    negatives = np.asarray(negatives, np.float64)
    k = negatives.shape[1] + 1
    rows = []
    for i in range(len(positive)):
        candidates = np.concatenate([[positive[i]], negatives[i]])
        rows.append(positive[i] - (_log_sum_exp(candidates) - math.log(k)))
    return np.mean(rows)


def np_var(positive, negatives, kl):
    """Eq. 7: the I_CNCE term (negatives from q) minus the mean KL(p(y|x') || q(y|x'))."""
    return np_cnce(positive, negatives) - np.mean(np.asarray(kl, np.float64))


def np_importance_sampled(positive, negatives, log_weights):
    """Eq. 9 with w_k = softmax_k(log_weights[i]) over the row's K - 1 negatives:

    mean_i log( e^{phi_1} / (1/K (e^{phi_1} + (K - 1) sum_k w_k e^{phi_k})) ).
    """
    positive = np.asarray(positive, np.float64)
    negatives = np.asarray(negatives, np.float64)
    log_weights = np.asarray(log_weights, np.float64)
    k = negatives.shape[1] + 1
    rows = []
    for i in range(len(positive)):
        w = np.exp(log_weights[i] - np.max(log_weights[i]))
        w = w / np.sum(w)
        shift = max(positive[i], np.max(negatives[i]))  # e^{a} computed as e^{shift} e^{a - shift}
        denominator = (np.exp(positive[i] - shift) + (k - 1) * np.sum(w * np.exp(negatives[i] - shift))) / k
        rows.append(positive[i] - shift - math.log(denominator))
    return np.mean(rows)


def np_boosted(positive, negatives, base_positive, base_negatives):
    """Eq. 10: InfoNCE form over psi + phi: mean_i log( e^{psi_1 + phi_1} / (1/K sum_k e^{psi_k + phi_k}) )."""
    positive, negatives = np.asarray(positive, np.float64), np.asarray(negatives, np.float64)
    base_positive = np.asarray(base_positive, np.float64)
    base_negatives = np.asarray(base_negatives, np.float64)
    k = negatives.shape[1] + 1
    rows = []
    for i in range(len(positive)):
        eta_1 = base_positive[i] + positive[i]
        eta = np.concatenate([[eta_1], base_negatives[i] + negatives[i]])
        rows.append(eta_1 - math.log(np.mean(np.exp(eta - eta.max()))) - eta.max())
    assert len(eta) == k
    return np.mean(rows)


def np_demi(unconditional, positive, negatives):
    """Eq. 5: I_NCE(x'; y) on the [B, B] matrix plus I_CNCE(x; y | x')."""
    return np_infonce(unconditional) + np_cnce(positive, negatives)


# --------------------------------------------------------------------------------------
# Random inputs and each bound as a function of a tuple of arrays, with its NumPy twin.
# --------------------------------------------------------------------------------------


def _inputs(name, batch, num_negatives, seed, scale=2.0):
    """Fixed random arguments of bound ``name`` (float32 arrays), positives shifted up."""
    rng = np.random.default_rng(seed)

    def scores(*shape):
        return rng.normal(scale=scale, size=shape).astype(np.float32)

    positive = scores(batch) + np.float32(1.5)
    negatives = scores(batch, num_negatives)
    if name == "cnce":
        return (positive, negatives)
    if name == "var":
        return (positive, negatives, np.abs(scores(batch)))
    if name == "importance_sampled":
        return (positive, negatives, scores(batch, num_negatives))
    if name == "boosted":
        return (positive, negatives, scores(batch) + np.float32(1.0), scores(batch, num_negatives))
    if name == "demi":
        unconditional = scores(batch, batch) + np.float32(1.5) * np.eye(batch, dtype=np.float32)
        return (unconditional, positive, negatives)
    raise KeyError(name)


BOUNDS = {
    "cnce": (bounds.cnce, np_cnce),
    "var": (bounds.var, np_var),
    "importance_sampled": (bounds.importance_sampled, np_importance_sampled),
    "boosted": (bounds.boosted, np_boosted),
    "demi": (bounds.demi, np_demi),
}

SHAPES = [(1, 1), (1, 4), (3, 1), (3, 4), (3, 31), (8, 1), (8, 4), (8, 31)]


def _num_candidates(name, args):
    return (args[2] if name == "demi" else args[1]).shape[1] + 1


# --------------------------------------------------------------------------------------
# Values against NumPy.
# --------------------------------------------------------------------------------------


# demi's InfoNCE term needs a [B, B] matrix with B >= 2 (B = 1 is a bad-input test).
@pytest.mark.parametrize(
    "name, batch, num_negatives",
    [(name, b, k) for name in sorted(BOUNDS) for b, k in SHAPES if not (name == "demi" and b < 2)],
)
def test_matches_numpy_reference(name, batch, num_negatives):
    tf_fn, np_fn = BOUNDS[name]
    args = _inputs(name, batch, num_negatives, seed=1000 * batch + num_negatives)
    got = tf_fn(*[tf.constant(a) for a in args])
    assert got.shape == () and got.dtype == tf.float32
    np.testing.assert_allclose(float(got), np_fn(*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", bounds.CONDITIONAL_BOUNDS)
def test_every_registered_conditional_bound_matches_numpy(name):
    # A conditional bound added to tfmi.bounds.RECORDS fails here until BOUNDS has it.
    assert name in BOUNDS, f"bound {name!r} is in tfmi.bounds.RECORDS but has no NumPy reference in BOUNDS"
    args = _inputs(name, batch=3, num_negatives=4, seed=7)
    got = bounds.RECORDS[name].function(*[tf.constant(a) for a in args])
    np.testing.assert_allclose(float(got), BOUNDS[name][1](*args), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [2, 3, 8])
def test_split_scores_diagonal_and_off_diagonal_in_column_order(batch):
    scores = np.random.default_rng(batch).normal(size=(batch, batch)).astype(np.float32)
    positive, negatives = bounds.split_scores(tf.constant(scores))
    ref_positive, ref_negatives = np_split_scores(scores)
    assert positive.shape == (batch,) and negatives.shape == (batch, batch - 1)
    np.testing.assert_array_equal(positive.numpy(), ref_positive.astype(np.float32))
    np.testing.assert_array_equal(negatives.numpy(), ref_negatives.astype(np.float32))


def test_split_scores_hand_computed():
    # Entry (i, j) = 10 i + j: row 0 keeps columns 1, 2; row 1 keeps 0, 2; row 2 keeps 0, 1.
    scores = tf.constant([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0], [20.0, 21.0, 22.0]])
    positive, negatives = bounds.split_scores(scores)
    np.testing.assert_array_equal(positive.numpy(), [0.0, 11.0, 22.0])
    np.testing.assert_array_equal(negatives.numpy(), [[1.0, 2.0], [10.0, 12.0], [20.0, 21.0]])


def test_cnce_hand_computed():
    # Row 0: phi_1 = ln 3, negative 0 -> log(3 / ((3 + 1) / 2)) = log 1.5.
    # Row 1: phi_1 = 0, negatives ln 2, ln 5 -> log(1 / ((1 + 2 + 5) / 3)) = log(3 / 8).
    # Rows with different K are not allowed, so check each row alone, then their mean.
    row0 = bounds.cnce(tf.constant([math.log(3.0)]), tf.constant([[0.0]]))
    row1 = bounds.cnce(tf.constant([0.0]), tf.constant([[math.log(2.0), math.log(5.0)]]))
    assert float(row0) == pytest.approx(math.log(1.5), abs=1e-6)
    assert float(row1) == pytest.approx(math.log(3.0 / 8.0), abs=1e-6)
    both = bounds.cnce(tf.constant([math.log(3.0), 0.0]), tf.constant([[0.0, 0.0], [math.log(2.0), math.log(5.0)]]))
    # Row 0 now has K = 3: log(3 / ((3 + 1 + 1) / 3)) = log 1.8.
    assert float(both) == pytest.approx(0.5 * (math.log(1.8) + math.log(3.0 / 8.0)), abs=1e-6)


def test_importance_sampled_hand_computed():
    # K = 3, phi_1 = 0, negatives phi = (0, ln 4), log_weights = (0, ln 3) -> w = (1/4, 3/4):
    # denominator 1/3 (1 + 2 (1/4 + 3/4 * 4)) = 1/3 (1 + 6.5) = 2.5 -> value -log 2.5.
    got = bounds.importance_sampled(
        tf.constant([0.0]), tf.constant([[0.0, math.log(4.0)]]), tf.constant([[0.0, math.log(3.0)]])
    )
    assert float(got) == pytest.approx(-math.log(2.5), abs=1e-6)


@pytest.mark.parametrize("batch, num_negatives", [(1, 1), (3, 4), (8, 31)])
def test_importance_sampled_with_equal_or_row_shifted_weights(batch, num_negatives):
    positive, negatives, log_weights = _inputs("importance_sampled", batch, num_negatives, seed=7)
    reference = float(bounds.cnce(positive, negatives))
    # Equal weights w_k = 1/(K - 1): (K - 1) sum_k w_k e^{phi_k} = sum_k e^{phi_k}, I_IS = I_CNCE.
    for constant in (0.0, -3.7, 25.0):
        equal = np.full_like(negatives, constant)
        assert float(bounds.importance_sampled(positive, negatives, equal)) == pytest.approx(reference, abs=1e-5)
    # Any per-row shift c(x') of psi cancels in the self-normalised weights.
    value = float(bounds.importance_sampled(positive, negatives, log_weights))
    shift = np.random.default_rng(8).normal(scale=10.0, size=(batch, 1)).astype(np.float32)
    shifted = float(bounds.importance_sampled(positive, negatives, log_weights + shift))
    assert shifted == pytest.approx(value, abs=1e-5)
    # ... while reweighting does change it (the check above is not vacuous), except with
    # a single negative, whose weight is always 1.
    if num_negatives > 1:
        assert abs(value - reference) > 1e-3


@pytest.mark.parametrize("batch, num_negatives", [(1, 1), (3, 4), (8, 31)])
def test_boosted_with_zero_base_is_cnce_and_invariant_to_row_shifts(batch, num_negatives):
    positive, negatives, base_positive, base_negatives = _inputs("boosted", batch, num_negatives, seed=9)
    reference = float(bounds.cnce(positive, negatives))
    zero = bounds.boosted(positive, negatives, np.zeros_like(base_positive), np.zeros_like(base_negatives))
    assert float(zero) == pytest.approx(reference, abs=1e-6)
    # psi* is defined up to c(x'): a per-row constant in the base changes nothing.
    value = float(bounds.boosted(positive, negatives, base_positive, base_negatives))
    shift = np.random.default_rng(10).normal(scale=10.0, size=batch).astype(np.float32)
    shifted = bounds.boosted(positive, negatives, base_positive + shift, base_negatives + shift[:, None])
    assert float(shifted) == pytest.approx(value, abs=1e-5)


@pytest.mark.parametrize("batch, num_negatives", [(1, 4), (3, 31), (8, 1)])
def test_cnce_invariant_to_row_constant(batch, num_negatives):
    # phi* is only defined up to c(x, x'): adding a per-row constant changes nothing.
    positive, negatives = _inputs("cnce", batch, num_negatives, seed=11)
    shift = np.random.default_rng(12).normal(scale=10.0, size=batch).astype(np.float32)
    np.testing.assert_allclose(
        float(bounds.cnce(positive + shift, negatives + shift[:, None])),
        float(bounds.cnce(positive, negatives)),
        atol=1e-5,
    )


def test_var_kl_forms():
    positive, negatives, kl = _inputs("var", 8, 4, seed=13)
    reference = float(bounds.cnce(positive, negatives))
    assert float(bounds.var(positive, negatives, 0.0)) == pytest.approx(reference, abs=1e-7)
    assert float(bounds.var(positive, negatives, 0.3)) == pytest.approx(reference - 0.3, abs=1e-6)
    assert float(bounds.var(positive, negatives, kl)) == pytest.approx(reference - np.mean(kl), abs=1e-6)


@pytest.mark.parametrize("batch", [2, 5, 16])
def test_infonce_is_cnce_of_split_scores_and_demi_adds_them(batch):
    rng = np.random.default_rng(batch)
    scores = (rng.normal(scale=2.0, size=(batch, batch)) + 1.5 * np.eye(batch)).astype(np.float32)
    unconditional = rng.normal(scale=2.0, size=(batch, batch)).astype(np.float32)
    positive, negatives = bounds.split_scores(scores)
    assert float(bounds.cnce(positive, negatives)) == pytest.approx(float(bounds.infonce(scores)), abs=1e-5)
    assert float(bounds.demi(unconditional, positive, negatives)) == pytest.approx(
        np_infonce(unconditional) + np_infonce(scores), abs=1e-5
    )


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_gradient_matches_finite_differences(name):
    """d bound / d inputs (float64) against central differences of the NumPy reference."""
    tf_fn, np_fn = BOUNDS[name]
    args = [a.astype(np.float64) for a in _inputs(name, 3, 4, seed=17)]
    variables = [tf.Variable(a) for a in args]
    with tf.GradientTape() as tape:
        value = tf_fn(*variables)
    assert value.dtype == tf.float64
    grads = tape.gradient(value, variables)
    step = 1e-6
    for index, (arg, grad) in enumerate(zip(args, grads)):
        assert grad is not None, f"no gradient for argument {index}"
        numeric = np.zeros_like(arg)
        for position in np.ndindex(arg.shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[index][position] += step
            minus[index][position] -= step
            numeric[position] = (np_fn(*plus) - np_fn(*minus)) / (2 * step)
        np.testing.assert_allclose(grad.numpy(), numeric, atol=1e-7, rtol=1e-5)
        assert np.any(numeric != 0.0)


# --------------------------------------------------------------------------------------
# Properties: upper limits, huge scores, gradients, tf.function.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0, 1e3])
@pytest.mark.parametrize("batch, num_negatives", [(1, 1), (3, 4), (8, 31)])
@pytest.mark.parametrize("name", ["cnce", "var", "importance_sampled", "boosted"])
def test_at_most_log_k_with_finite_value_and_gradients(name, batch, num_negatives, scale):
    tf_fn, _ = BOUNDS[name]
    args = [tf.Variable(a) for a in _inputs(name, batch, num_negatives, seed=19, scale=scale)]
    with tf.GradientTape() as tape:
        value = tf_fn(*args)
    grads = tape.gradient(value, args)
    log_k = math.log(num_negatives + 1)
    assert np.isfinite(float(value))
    assert float(value) <= log_k + 1e-5
    for grad in grads:
        assert grad is not None and np.all(np.isfinite(grad.numpy()))


@pytest.mark.parametrize("num_negatives", [1, 4, 31])
def test_cnce_reaches_log_k_and_stays_finite_at_extremes(num_negatives):
    batch = 3
    log_k = math.log(num_negatives + 1)
    big = tf.fill([batch], 1e3)
    zeros = tf.zeros([batch, num_negatives])
    # A positive that dominates every negative: the value approaches log K, never more.
    assert float(bounds.cnce(big, zeros)) == pytest.approx(log_k, abs=1e-6)
    assert float(bounds.importance_sampled(big, zeros, zeros)) == pytest.approx(log_k, abs=1e-6)
    assert float(bounds.boosted(big, zeros, tf.zeros([batch]), zeros)) == pytest.approx(log_k, abs=1e-6)
    # Negatives that dominate: very negative, finite, with finite gradients.
    positive = tf.Variable(tf.zeros([batch]))
    negatives = tf.Variable(tf.fill([batch, num_negatives], 1e3))
    with tf.GradientTape() as tape:
        value = bounds.cnce(positive, negatives)
    grads = tape.gradient(value, [positive, negatives])
    assert float(value) == pytest.approx(-1e3 + log_k - math.log(num_negatives), rel=1e-6)
    for grad in grads:
        assert np.all(np.isfinite(grad.numpy()))
    # The positive's gradient is (1 - its softmax share) / B, here ~1 / B.
    np.testing.assert_allclose(grads[0].numpy(), 1.0 / batch, rtol=1e-6)


@pytest.mark.parametrize("scale", [0.1, 3.0, 30.0, 1e3])
@pytest.mark.parametrize("half", [2, 4, 32])
def test_demi_at_most_two_log_half_k(half, scale):
    # K candidates in total: K/2 in-batch for I_NCE(x'; y), K/2 per row for I_CNCE.
    args = [tf.Variable(a) for a in _inputs("demi", half, half - 1, seed=23, scale=scale)]
    with tf.GradientTape() as tape:
        value = bounds.demi(*args)
    grads = tape.gradient(value, args)
    assert np.isfinite(float(value))
    assert float(value) <= 2.0 * math.log(half) + 1e-5
    for grad in grads:
        assert grad is not None and np.all(np.isfinite(grad.numpy()))
    # The limit is attained when both positives dominate.
    eye = 1e3 * np.eye(half, dtype=np.float32)
    top = bounds.demi(eye, np.full([half], 1e3, np.float32), np.zeros([half, half - 1], np.float32))
    assert float(top) == pytest.approx(2.0 * math.log(half), abs=1e-5)


_VECTOR = tf.TensorSpec([None], tf.float32)
_MATRIX = tf.TensorSpec([None, None], tf.float32)
SIGNATURES = {
    "cnce": [_VECTOR, _MATRIX],
    "var": [_VECTOR, _MATRIX, _VECTOR],
    "importance_sampled": [_VECTOR, _MATRIX, _MATRIX],
    "boosted": [_VECTOR, _MATRIX, _VECTOR, _MATRIX],
    "demi": [_MATRIX, _VECTOR, _MATRIX],
}


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_tf_function_unknown_shapes_matches_eager(name):
    tf_fn, np_fn = BOUNDS[name]
    graph_fn = tf.function(tf_fn, input_signature=SIGNATURES[name])
    for batch, num_negatives in [(3, 4), (8, 31), (5, 1)]:
        args = _inputs(name, batch, num_negatives, seed=29)
        eager = float(tf_fn(*args))
        graph = float(graph_fn(*args))
        assert graph == pytest.approx(eager, abs=1e-5)
        assert graph == pytest.approx(np_fn(*args), abs=1e-4)
    assert graph_fn.experimental_get_tracing_count() == 1  # one trace served every shape


def test_split_scores_in_tf_function_unknown_batch():
    graph_fn = tf.function(bounds.split_scores, input_signature=[_MATRIX])
    for batch in (2, 6):
        scores = np.random.default_rng(batch).normal(size=(batch, batch)).astype(np.float32)
        positive, negatives = graph_fn(scores)
        ref_positive, ref_negatives = np_split_scores(scores)
        np.testing.assert_array_equal(positive.numpy(), ref_positive.astype(np.float32))
        np.testing.assert_array_equal(negatives.numpy(), ref_negatives.astype(np.float32))


def test_gradient_through_tf_function():
    positive, negatives, log_weights = _inputs("importance_sampled", 4, 6, seed=31)
    variables = [tf.Variable(positive), tf.Variable(negatives)]

    @tf.function(input_signature=[_MATRIX])
    def step(weights):
        with tf.GradientTape() as tape:
            value = bounds.importance_sampled(variables[0], variables[1], weights)
        return value, tape.gradient(value, variables)

    value, grads = step(log_weights)
    with tf.GradientTape() as tape:
        eager = bounds.importance_sampled(variables[0], variables[1], log_weights)
    eager_grads = tape.gradient(eager, variables)
    assert float(value) == pytest.approx(float(eager), abs=1e-6)
    for grad, eager_grad in zip(grads, eager_grads):
        np.testing.assert_allclose(grad.numpy(), eager_grad.numpy(), atol=1e-6)


# --------------------------------------------------------------------------------------
# Optimal critics on the three-Gaussian task (exact MIs, exact p(y|x') samplers).
# --------------------------------------------------------------------------------------

BATCH = 1024  # rows for the Monte-Carlo checks (in-batch negatives: K = BATCH)
MAX_K = 256  # conditional candidates per row drawn from p(y | x')


@pytest.fixture(scope="module")
def task2():
    # I({x, x'}; y) = 2 nats: I(x'; y) = 0.87, I(x; y | x') = 1.13, both << log K.
    return ds.make_task(2.0, dim=20, seed=3)


@pytest.fixture(scope="module")
def task10():
    # I({x, x'}; y) = 10 nats: I(x'; y) = 4.36, I(x; y | x') = 5.64, both > log 32.
    return ds.make_task(10.0, dim=20, seed=3)


@pytest.fixture(scope="module")
def scored2(task2):
    """One batch of task2 scored by the exact critics.

    psi [B, B] = log p(y_j | x'_i) / p(y_j), phi [B, B] = log p(y_j | x_i, x'_i) / p(y_j | x'_i),
    joint [B, B] = log p(y_j | x_i, x'_i) / p(y_j) (in-batch negatives come from p(y));
    cond_pos [B] = phi*(y_i), cond_neg [B, MAX_K - 1] = phi* of draws from p(y | x'_i).
    """
    x, xprime, y = task2.sample(BATCH, [3, 1])
    y_cond = task2.sample_y_given_xprime(xprime, MAX_K - 1, [3, 2])
    phi = task2.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y)
    return {
        "xprime": xprime.numpy(),
        "psi": task2.log_ratio_y_given_xprime(xprime, y),
        "phi": phi,
        "joint": task2.log_ratio_y_given_x_xprime(x, xprime, y),
        "cond_pos": tf.linalg.diag_part(phi),
        "cond_neg": task2.log_ratio_y_given_x_xprime_vs_xprime(x, xprime, y_cond),
    }


def test_cnce_optimal_critic_approaches_conditional_mi_from_below(task2, scored2):
    target = task2.mi_x_y_given_xprime
    positive, negatives = scored2["cond_pos"], scored2["cond_neg"]
    # Control variate: E[phi*(x', x, y)] = I(x; y | x') exactly.
    offset = target - float(tf.reduce_mean(positive))
    values = {}
    for k in (2, 16, MAX_K):  # nested sets of the same negatives (common random numbers)
        values[k] = float(bounds.cnce(positive, negatives[:, : k - 1]))
        assert values[k] <= math.log(k) + 1e-6
        assert values[k] + offset <= target + 0.03, (k, values[k] + offset, target)
    print(f"cnce(phi*) vs K: {values}, control-variate {[v + offset for v in values.values()]}, I = {target:.4f}")
    assert values[2] < values[16] - 0.3
    assert values[16] < values[MAX_K] - 0.05
    assert values[MAX_K] + offset >= target - 0.06
    assert abs(values[MAX_K] - target) < 0.2


def test_var_with_exact_proposal_is_cnce(scored2):
    # q = p(y | x'): KL = 0 and I_VAR = I_CNCE on the same negatives; a KL > 0 subtracts its mean.
    positive, negatives = scored2["cond_pos"], scored2["cond_neg"]
    cnce = float(bounds.cnce(positive, negatives))
    assert float(bounds.var(positive, negatives, 0.0)) == pytest.approx(cnce, abs=1e-6)
    assert float(bounds.var(positive, negatives, tf.zeros([BATCH]))) == pytest.approx(cnce, abs=1e-6)
    kl = np.random.default_rng(37).exponential(size=BATCH).astype(np.float32)
    assert float(bounds.var(positive, negatives, kl)) == pytest.approx(cnce - float(np.mean(kl)), abs=1e-5)


def _kl_p_y_given_xprime_vs_p_y(task, xprime):
    """KL(p(y | x'_i) || p(y)) per row, written out from the covariances: [B]."""
    c = task.covs
    coef = c[:, 2, 1] / c[:, 1, 1]
    var_cond = c[:, 2, 2] - c[:, 2, 1] ** 2 / c[:, 1, 1]
    var_marg = c[:, 2, 2]
    mean = xprime.astype(np.float64) * coef
    per_dim = 0.5 * (np.log(var_marg / var_cond) + (var_cond + mean**2) / var_marg - 1.0)
    return per_dim.sum(axis=1)


def test_var_with_marginal_proposal_and_its_kl(task2, scored2):
    # q(y | x') = p(y): negatives from the marginal (in-batch), critic log p(y|x, x') / q (the
    # optimal one for this q, Proposition 2), minus KL(p(y|x') || p(y)), whose mean is I(x'; y).
    # The contrastive term then targets I({x, x'}; y) and I_VAR targets I(x; y | x').
    positive, negatives = bounds.split_scores(scored2["joint"])
    kl = _kl_p_y_given_xprime_vs_p_y(task2, scored2["xprime"])
    assert abs(float(np.mean(kl)) - task2.mi_xprime_y) < 0.1
    value = float(bounds.var(positive, negatives, kl))
    target = task2.mi_x_y_given_xprime
    print(f"var(q = p(y)): {value:.4f} vs I(x; y | x') = {target:.4f}")
    assert value == pytest.approx(float(bounds.cnce(positive, negatives)) - float(np.mean(kl)), abs=1e-5)
    assert abs(value - target) < 0.25
    # Control variate on both terms: E[joint*] = I({x, x'}; y) and E[KL] = I(x'; y).
    corrected = value - float(tf.reduce_mean(positive)) + task2.total_mi + float(np.mean(kl)) - task2.mi_xprime_y
    assert target - 0.08 <= corrected <= target + 0.03


def test_infonce_optimal_unconditional_critic(task2, scored2):
    target = task2.mi_xprime_y  # 0.87 << log 1024
    value = float(bounds.infonce(scored2["psi"]))
    corrected = value - float(tf.reduce_mean(tf.linalg.diag_part(scored2["psi"]))) + target
    print(f"infonce(psi*): {value:.4f} (control-variate {corrected:.4f}) vs I(x'; y) = {target:.4f}")
    assert abs(value - target) < 0.12
    assert target - 0.03 <= corrected <= target + 0.02


def test_demi_optimal_critics_small_total(task2, scored2):
    target = task2.total_mi  # 2 nats << log 1024 and << log 256
    value = float(bounds.demi(scored2["psi"], scored2["cond_pos"], scored2["cond_neg"]))
    mean_positive = float(tf.reduce_mean(tf.linalg.diag_part(scored2["psi"]) + scored2["cond_pos"]))
    corrected = value - mean_positive + target
    print(f"demi(psi*, phi*): {value:.4f} (control-variate {corrected:.4f}) vs I = {target:.4f}")
    assert value <= math.log(BATCH) + math.log(MAX_K)
    assert abs(value - target) < 0.2
    assert target - 0.08 <= corrected <= target + 0.03


def test_importance_sampled_optimal_critics_large_k(task2, scored2):
    # Negatives from the marginal p(y) (in-batch), weights psi*: K = 1024 candidates.
    target = task2.mi_x_y_given_xprime
    positive, negatives = bounds.split_scores(scored2["phi"])
    _, log_weights = bounds.split_scores(scored2["psi"])
    value = float(bounds.importance_sampled(positive, negatives, log_weights))
    corrected = value - float(tf.reduce_mean(positive)) + target
    print(f"importance_sampled(phi*, psi*): {value:.4f} (control-variate {corrected:.4f}) vs {target:.4f}")
    assert value <= math.log(BATCH)
    assert abs(value - target) < 0.25
    assert abs(corrected - target) < 0.08


def test_boosted_optimal_critics_bounds_total_mi(task2, scored2):
    # Proposition 4: I_BO <= I({x, x'}; y), tight when the total MI << log K.
    target = task2.total_mi
    positive, negatives = bounds.split_scores(scored2["phi"])
    base_positive, base_negatives = bounds.split_scores(scored2["psi"])
    value = float(bounds.boosted(positive, negatives, base_positive, base_negatives))
    corrected = value - float(tf.reduce_mean(positive + base_positive)) + target
    print(f"boosted(phi*, psi*): {value:.4f} (control-variate {corrected:.4f}) vs I = {target:.4f}")
    assert value <= math.log(BATCH)
    assert abs(value - target) < 0.2
    assert target - 0.08 <= corrected <= target + 0.03
    # psi* + phi* = log p(y | x, x') / p(y): the optimal joint critic of I_NCE({x, x'}; y).
    assert value == pytest.approx(float(bounds.infonce(scored2["joint"])), abs=2e-3)


def _block_scores(log_ratio, *features, y, blocks):
    """[blocks, n, n]: blocks of n consecutive rows, each row scored against its block's y's."""
    n = y.shape[0] // blocks
    candidates = tf.repeat(tf.reshape(y, [blocks, n, -1]), n, axis=0)  # [blocks * n, n, dim]
    return tf.reshape(log_ratio(*features, candidates), [blocks, n, n])


def test_demi_captures_more_than_infonce_at_large_mi(task10):
    """Fig. 2 (top): at 10 nats, K = 64 candidates: InfoNCE saturates at log 64 = 4.16 while
    DEMI with K/2 = 32 per term gets past it (its limit is 2 log 32 = 6.93)."""
    blocks, k = 16, 64
    half = k // 2
    x, xprime, y = task10.sample(blocks * k, [5, 1])
    joint = _block_scores(task10.log_ratio_y_given_x_xprime, x, xprime, y=y, blocks=blocks)
    infonce = np.mean([float(bounds.infonce(joint[b])) for b in range(blocks)])
    # DEMI sees half as many samples per term: the first 32 of each block of 64.
    keep = tf.reshape(tf.reshape(tf.range(blocks * k), [blocks, k])[:, :half], [-1])
    xs, xps, ys = (tf.gather(t, keep) for t in (x, xprime, y))
    unconditional = _block_scores(task10.log_ratio_y_given_xprime, xps, y=ys, blocks=blocks)
    y_cond = task10.sample_y_given_xprime(xps, half - 1, [5, 2])
    cond_pos = tf.reshape(task10.log_ratio_y_given_x_xprime_vs_xprime(xs, xps, ys[:, None, :]), [blocks, half])
    cond_neg = tf.reshape(task10.log_ratio_y_given_x_xprime_vs_xprime(xs, xps, y_cond), [blocks, half, half - 1])
    demi = np.mean([float(bounds.demi(unconditional[b], cond_pos[b], cond_neg[b])) for b in range(blocks)])
    print(f"total 10 nats: infonce(K=64) = {infonce:.4f} (log 64 = {math.log(k):.4f}), "
          f"demi(2 x 32) = {demi:.4f} (2 log 32 = {2 * math.log(half):.4f})")
    assert math.log(k) - 0.1 < infonce <= math.log(k)
    assert demi <= 2.0 * math.log(half)
    assert demi > infonce + 1.0
    assert demi < task10.total_mi


# --------------------------------------------------------------------------------------
# Bad input: one ValueError naming the function.
# --------------------------------------------------------------------------------------


def _call(name, positive, negatives):
    """Calls bound ``name`` with well-formed extra arguments around (positive, negatives)."""
    positive = tf.zeros(positive)
    negatives = tf.zeros(negatives)
    if name == "cnce":
        return bounds.cnce(positive, negatives)
    if name == "var":
        return bounds.var(positive, negatives, 0.0)
    if name == "importance_sampled":
        return bounds.importance_sampled(positive, negatives, tf.zeros_like(negatives))
    if name == "boosted":
        return bounds.boosted(positive, negatives, positive, negatives)
    if name == "demi":
        return bounds.demi(tf.zeros([4, 4]), positive, negatives)
    raise KeyError(name)


@pytest.mark.parametrize(
    "positive, negatives",
    [
        ([4, 1], [4, 3]),  # positive of rank 2
        ([4], [4]),  # negatives of rank 1
        ([4], [5, 3]),  # rows do not pair up
        ([4], [4, 0]),  # no negatives
        ([], [4, 3]),  # scalar positive
        ([4], [4, 3, 2]),  # negatives of rank 3
    ],
)
@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_bad_candidates_raise_naming_function(name, positive, negatives):
    with pytest.raises(ValueError, match=f"^{name}:"):
        _call(name, positive, negatives)


@pytest.mark.parametrize("shape", [[4, 2], [4], [5, 3], [1, 3]])
def test_importance_sampled_log_weights_of_other_shape(shape):
    with pytest.raises(ValueError, match="^importance_sampled:.*log_weights"):
        bounds.importance_sampled(tf.zeros([4]), tf.zeros([4, 3]), tf.zeros(shape))


@pytest.mark.parametrize(
    "base_positive, base_negatives",
    [([1], [4, 3]), ([4], [4, 1]), ([4], [4, 2]), ([5], [5, 3]), ([4, 1], [4, 3]), ([4], [4, 0])],
)
def test_boosted_base_of_other_shape(base_positive, base_negatives):
    # A [1] or [B, 1] base would otherwise broadcast silently into a wrong value.
    with pytest.raises(ValueError, match="^boosted:"):
        bounds.boosted(tf.zeros([4]), tf.zeros([4, 3]), tf.zeros(base_positive), tf.zeros(base_negatives))


@pytest.mark.parametrize("shape", [[4, 3], [5], [2, 2, 2]])
def test_var_kl_of_other_shape(shape):
    with pytest.raises(ValueError, match="^var:.*kl"):
        bounds.var(tf.zeros([4]), tf.zeros([4, 3]), tf.zeros(shape))


@pytest.mark.parametrize("shape", [[4], [4, 3], [1, 1], [2, 2, 2]])
def test_demi_bad_unconditional_scores(shape):
    with pytest.raises(ValueError, match="^demi:"):
        bounds.demi(tf.zeros(shape), tf.zeros([4]), tf.zeros([4, 3]))


@pytest.mark.parametrize("shape", [[4], [3, 4], [1, 1]])
def test_split_scores_bad_shape(shape):
    with pytest.raises(ValueError, match="^split_scores:"):
        bounds.split_scores(tf.zeros(shape))
