"""tfmi.estimation.flow: closed-form MI of transformed Gaussians, the scorer against the
latent Gaussian computed in NumPy, the Jacobian against autodiff, determinism, bad input."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from tfmi.estimation import flow

FAST = {"max_steps": 60, "eval_every": 20, "num_couplings": 2, "hidden_units": (16,)}


def transformed_gaussian(n, seed, rhos=(0.9, 0.6, 0.0)):
    """Half-cube of x and asinh of a rotated y, with corr(x_i, y_i) = rhos[i]; exact MI."""
    rng = np.random.default_rng(seed)
    rhos = np.asarray(rhos)
    x = rng.standard_normal((n, len(rhos)))
    y = rhos * x + np.sqrt(1 - rhos**2) * rng.standard_normal((n, len(rhos)))
    return ((np.sign(x) * np.abs(x) ** 1.5).astype(np.float32), np.arcsinh(y).astype(np.float32),
            float(-0.5 * np.sum(np.log1p(-(rhos**2)))))


@pytest.fixture(scope="module")
def fitted():
    x, y, truth = transformed_gaussian(4000, seed=0)
    return flow.fit_flow(x[:2500], y[:2500], x[2500:3200], y[2500:3200], seed=0, **FAST), x[3200:], y[3200:], truth


def test_flow_recovers_mi_of_transformed_gaussians(fitted):
    scorer, x_test, y_test, truth = fitted
    assert scorer.gaussian_mi == pytest.approx(truth, abs=0.08)
    assert float(np.mean(scorer.pointwise(x_test, y_test))) == pytest.approx(truth, abs=0.15)
    assert scorer.history[0]["step"] == 0 and all(np.isfinite(h["valid_loss"]) for h in scorer.history)


def test_scores_are_the_latent_gaussian_log_ratio(fitted):
    scorer, x_test, y_test, _ = fitted
    u, v = scorer.latents(x_test[:5], y_test[:4])
    mean, covariance, d = scorer.ratio.mean, scorer.ratio.covariance, u.shape[1]
    joint = stats.multivariate_normal(mean, covariance)
    expected = np.array(
        [
            [
                joint.logpdf(np.concatenate([ui, vj]))
                - stats.multivariate_normal(mean[:d], covariance[:d, :d]).logpdf(ui)
                - stats.multivariate_normal(mean[d:], covariance[d:, d:]).logpdf(vj)
                for vj in v
            ]
            for ui in u
        ]
    )
    scores = scorer.scores(x_test[:5], y_test[:4])
    assert scores.dtype == np.float32 and scores.shape == (5, 4)
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(scorer.pointwise(x_test[:4], y_test[:4]), np.diag(expected[:4]), rtol=1e-4, atol=1e-4)


def test_coupling_log_det_matches_autodiff_and_starts_at_identity():
    layer = flow.AffineCouplingFlow(3, num_couplings=3, hidden_units=(8,), seed=1)
    z = tf.random.stateless_normal((4, 3), seed=(1, 2))
    out, log_det = layer(z)
    np.testing.assert_allclose(np.sort(out.numpy(), axis=1), np.sort(z.numpy(), axis=1), rtol=1e-6)
    np.testing.assert_allclose(log_det.numpy(), 0.0, atol=1e-7)
    for i, variable in enumerate(layer.trainable_variables):  # away from the identity
        variable.assign(tf.random.stateless_normal(variable.shape, seed=(3, i)) * 0.5)
    with tf.GradientTape() as tape:
        tape.watch(z)
        out, log_det = layer(z)
    jacobian = tape.batch_jacobian(out, z)
    np.testing.assert_allclose(log_det.numpy(), np.linalg.slogdet(jacobian.numpy())[1], rtol=1e-4, atol=1e-4)


def test_same_seed_same_estimate(fitted):
    scorer, x_test, y_test, _ = fitted
    x, y, _ = transformed_gaussian(4000, seed=0)
    again = flow.fit_flow(x[:2500], y[:2500], x[2500:3200], y[2500:3200], seed=0, **FAST)
    assert again.gaussian_mi == pytest.approx(scorer.gaussian_mi, abs=1e-5)
    assert [h["step"] for h in again.history] == [h["step"] for h in scorer.history]
    np.testing.assert_allclose(again.scores(x_test[:6], y_test[:6]), scorer.scores(x_test[:6], y_test[:6]), atol=1e-4)


def test_one_feature_per_side_is_the_rank_gaussian_estimate():
    x, y, truth = transformed_gaussian(3000, seed=2, rhos=(0.8,))
    scorer = flow.fit_flow(x[:2000], y[:2000], x[2000:], y[2000:], **FAST)
    assert scorer.history == [] and scorer.gaussian_mi == pytest.approx(truth, abs=0.05)


def test_bad_input_gets_named_errors():
    x = np.zeros((50, 2), np.float32)
    with pytest.raises(ValueError, match="x_valid and y_valid must pair up"):
        flow.fit_flow(x, x, x, x[:40])
    with pytest.raises(ValueError, match="pass the same columns"):
        flow.fit_flow(x, x, x[:, :1], x)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        flow.fit_flow(x, x, x, x, batch_size=64.0)
    with pytest.raises(ValueError, match="more pairs than dimensions"):
        flow.fit_flow(x[:4], x[:4], x, x)
    with pytest.raises(ValueError, match="y_train holds inf values"):
        flow.fit_flow(x, np.full((50, 2), np.inf), x, x)
