"""Tests of tfmi.encoders.jacobian: Jacobians and condition numbers against NumPy for
linear and tanh encoders, the near-identity starting point of the paper's encoders, and
the percentiles of Figures 2c and 5 against the authors' notebook formula."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmi import encoders
from tfmi.evaluation import (
    PAPER_PERCENTILES,
    condition_percentiles,
    encoder_jacobian,
    jacobian_condition_numbers,
    jacobian_singular_values,
)


@pytest.fixture(autouse=True)
def _seeded():
    """Same initial weights in every run, whatever ran before."""
    keras.utils.set_random_seed(0)


def _inputs(batch, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype(np.float32)


def _matrix(singular_values, rows, cols, seed=0):
    """A rows x cols matrix with the given singular values (random singular vectors)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(rows, rows)))
    v, _ = np.linalg.qr(rng.normal(size=(cols, cols)))
    s = np.zeros((rows, cols))
    s[np.arange(len(singular_values)), np.arange(len(singular_values))] = singular_values
    return u @ s @ v.T


def _dense(kernel, bias=None, activation=None):
    """Dense layer computing activation(x @ kernel + bias): its Jacobian is kernel^T-based."""
    n, m = kernel.shape
    layer = keras.layers.Dense(m, activation=activation, use_bias=bias is not None)
    model = keras.Sequential([keras.Input((n,)), layer])
    layer.set_weights([kernel.astype(np.float32)] + ([bias.astype(np.float32)] if bias is not None else []))
    return model


@pytest.mark.parametrize(
    "rows, cols, singular_values",
    [(4, 4, [5.0, 2.0, 1.0, 0.5]), (6, 3, [3.0, 1.5, 0.25]), (3, 5, [2.0, 1.0, 0.8])],
)
def test_linear_encoder_has_its_matrix_condition_number(rows, cols, singular_values):
    kernel = _matrix(singular_values, rows, cols)  # y = x @ kernel: J = kernel^T
    model = _dense(kernel)
    x = _inputs(5, rows)
    np.testing.assert_allclose(encoder_jacobian(model, x).numpy(), np.broadcast_to(kernel.T, (5, cols, rows)),
                               atol=1e-6)
    np.testing.assert_allclose(
        jacobian_singular_values(model, x).numpy(), np.tile(singular_values, (5, 1)), rtol=1e-5
    )
    kappa = jacobian_condition_numbers(model, x).numpy()
    assert kappa.dtype == np.float64 and kappa.shape == (5,)
    expected = max(singular_values) / min(singular_values)
    np.testing.assert_allclose(kappa, expected, rtol=1e-5)
    np.testing.assert_allclose(kappa, np.linalg.cond(kernel), rtol=1e-5)


def test_tanh_layer_matches_numpy():
    rng = np.random.default_rng(1)
    # A well-conditioned kernel and moderate pre-activations: saturated tanh units give
    # kappa ~1e30, which float32 Jacobians cannot resolve.
    kernel = _matrix([1.5, 1.2, 1.0, 0.8, 0.6], 5, 5, seed=1)
    bias = 0.3 * rng.normal(size=5)
    model = _dense(kernel, bias, activation="tanh")
    x = _inputs(16, 5)
    kernel32, bias32 = (w.astype(np.float64) for w in model.layers[0].get_weights())
    slope = 1.0 - np.tanh(x.astype(np.float64) @ kernel32 + bias32) ** 2  # [B, 5]
    jacobian = slope[:, :, None] * kernel32.T[None]  # diag(1 - tanh^2) W^T
    np.testing.assert_allclose(encoder_jacobian(model, x).numpy(), jacobian, rtol=1e-4, atol=1e-6)
    expected = np.linalg.cond(jacobian)
    assert expected.max() / expected.min() > 2  # varies with x
    np.testing.assert_allclose(jacobian_condition_numbers(model, x).numpy(), expected, rtol=1e-4)


def test_plain_callables_chunks_and_while_loop_agree():
    kernel = tf.constant(_matrix([4.0, 2.0, 1.0], 3, 3), tf.float32)

    def encoder(x):
        return tf.tanh(x @ kernel) + 0.1 * x

    x = _inputs(10, 3)
    full = jacobian_condition_numbers(encoder, x).numpy()
    np.testing.assert_allclose(jacobian_condition_numbers(encoder, x, batch_size=3).numpy(), full, rtol=1e-6)
    np.testing.assert_allclose(jacobian_condition_numbers(encoder, x, use_pfor=False).numpy(), full, rtol=1e-6)
    assert np.all(full >= 1.0)


def test_singular_jacobian_has_an_infinite_condition_number():
    model = _dense(np.diag([2.0, 1.0, 0.0]))
    kappa = jacobian_condition_numbers(model, _inputs(3, 3)).numpy()
    assert np.all(np.isinf(kappa) | (kappa > 1e12))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("residual_mlp", dict(input_dim=12)),
        ("realnvp", dict(input_dim=12, num_couplings=4, hidden_units=(16, 16))),
    ],
)
def test_near_identity_encoders_start_well_conditioned(name, kwargs):
    # Sec. 3.1: "g1 is initialized very close to the identity function".
    kappa = jacobian_condition_numbers(encoders.get(name, **kwargs), _inputs(8, 12)).numpy()
    np.testing.assert_allclose(kappa, 1.0, atol=0.02)


def test_bad_inputs_get_clear_errors():
    model = _dense(np.eye(3))
    with pytest.raises(ValueError, match="x must be a \\[batch, features\\] matrix"):
        jacobian_condition_numbers(model, np.zeros((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="must map \\[batch, features\\] to \\[batch, features\\]"):
        jacobian_condition_numbers(lambda x: x[:, :, None], _inputs(2, 3))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        jacobian_condition_numbers(model, _inputs(4, 3), batch_size=0)


# --------------------------------------------------------------------------- percentiles


def _notebook_percentiles(condition_numbers, pcs=5):
    """The authors' percentile_plot: sorted log condition numbers at int(p * (N - 1))."""
    values = np.sort(np.log(condition_numbers), axis=-1)
    n = values.shape[-1]
    return values[..., [int(i / pcs * (n - 1)) for i in range(pcs + 1)]]


@pytest.mark.parametrize("n", [7, 128, 128 * 20])
def test_percentiles_match_the_authors_notebook(n):
    kappa = np.exp(np.random.default_rng(n).gamma(2.0, 1.0, size=(3, n)))  # >= 1
    result = condition_percentiles(kappa)
    assert result.shape == (3, len(PAPER_PERCENTILES))
    np.testing.assert_allclose(result, _notebook_percentiles(kappa))
    np.testing.assert_allclose(condition_percentiles(kappa[0]), result[0])
    assert np.all(np.diff(result, axis=-1) >= 0)


def test_percentiles_without_log_and_other_methods():
    kappa = 1.0 + np.random.default_rng(0).exponential(size=50)
    np.testing.assert_allclose(condition_percentiles(kappa, log=False, method="linear"),
                               np.percentile(kappa, [0, 20, 40, 60, 80, 100]))
    np.testing.assert_allclose(condition_percentiles(kappa, percentiles=[50], log=False), [np.sort(kappa)[24]])


def test_percentiles_reject_bad_values():
    with pytest.raises(ValueError, match="NaN condition numbers"):
        condition_percentiles([1.0, np.nan])
    with pytest.raises(ValueError, match="are >= 1 by definition"):
        condition_percentiles([0.5, 2.0])
    with pytest.raises(ValueError, match="percentiles must be a list of values in \\[0, 100\\]"):
        condition_percentiles([1.0, 2.0], percentiles=[0, 120])
    with pytest.raises(ValueError, match="N >= 1"):
        condition_percentiles(np.zeros((2, 0)))
