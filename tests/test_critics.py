"""Tests of tfmi.critics: score matrices against NumPy using each layer's own weights,
config round trips and bad input."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tfmi import critics

B, DX, DY = 6, 5, 3


def _inputs(dx=DX, dy=DY, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, dx)).astype(np.float32)
    y = rng.normal(size=(B, dy)).astype(np.float32)
    return x, y


def _randomize(layer, seed=1):
    """Random values for every weight, biases included (they start at zero)."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(rng.normal(scale=0.7, size=weight.shape).astype(np.float32))


def _np_activation(name):
    return {"relu": lambda h: np.maximum(h, 0.0), "tanh": np.tanh}[name]


def _np_mlp(sequential, h, activation):
    """Runs a tfmi.layers.mlp Sequential in NumPy: activation after every Dense but the last."""
    dense = sequential.layers
    for k, layer in enumerate(dense):
        h = h @ layer.kernel.numpy() + layer.bias.numpy()
        if k < len(dense) - 1:
            h = _np_activation(activation)(h)
    return h


def _np_bilinear(layer, x, y):
    return x @ layer.kernel.numpy() @ y.T


def _np_separable(layer, x, y):
    return _np_mlp(layer.phi_x, x, layer.activation) @ _np_mlp(layer.phi_y, y, layer.activation).T


def _np_concat(layer, x, y):
    # The explicit [B, B, dx + dy] tensor of pairs [x_i, y_j], fed through phi.
    pairs = np.concatenate(
        [np.repeat(x[:, None, :], B, axis=1), np.repeat(y[None, :, :], B, axis=0)], axis=-1
    )
    kernel = np.concatenate([layer.first_x.kernel.numpy(), layer.first_y.kernel.numpy()], axis=0)
    hidden = _np_activation(layer.activation)(pairs @ kernel + layer.first_x.bias.numpy())
    return _np_mlp(layer.head, hidden, layer.activation)[..., 0]


def _np_inner(layer, x, y):
    return x @ y.T


def _np_cosine(layer, x, y):
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    yn = y / np.linalg.norm(y, axis=1, keepdims=True)
    return xn @ yn.T / layer.temperature


CASES = {
    "bilinear": (lambda: critics.Bilinear(), _np_bilinear, DY),
    "separable": (lambda: critics.Separable(hidden_units=(8, 7), embed_dim=4), _np_separable, DY),
    "separable_tanh": (
        lambda: critics.Separable(hidden_units=(8,), embed_dim=4, activation="tanh"),
        _np_separable,
        DY,
    ),
    "concat": (lambda: critics.Concat(hidden_units=(8, 7)), _np_concat, DY),
    "concat_one_hidden_tanh": (
        lambda: critics.Concat(hidden_units=(9,), activation="tanh"),
        _np_concat,
        DY,
    ),
    "inner_product": (lambda: critics.InnerProduct(), _np_inner, DX),
    "cosine": (lambda: critics.Cosine(temperature=0.2), _np_cosine, DX),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_scores_match_numpy(name):
    make, np_scores, dy = CASES[name]
    layer = make()
    x, y = _inputs(dy=dy)
    layer(tf.constant(x), tf.constant(y))  # builds
    _randomize(layer)
    scores = layer(tf.constant(x), tf.constant(y))
    assert scores.shape == (B, B)
    np.testing.assert_allclose(scores.numpy(), np_scores(layer, x, y), rtol=1e-4, atol=1e-4)
    # Row i holds f(x_i, .): permuting the y's permutes the columns.
    perm = np.random.default_rng(3).permutation(B)
    permuted = layer(tf.constant(x), tf.constant(y[perm]))
    np.testing.assert_allclose(permuted.numpy(), scores.numpy()[:, perm], rtol=1e-5, atol=1e-5)


def test_cosine_scores_are_bounded_by_inverse_temperature():
    x, y = _inputs(dy=DX)
    scores = critics.Cosine(temperature=0.5)(tf.constant(100.0 * x), tf.constant(y))
    assert np.all(np.abs(scores.numpy()) <= 2.0 + 1e-5)
    same = critics.Cosine(temperature=0.5)(tf.constant(x), tf.constant(3.0 * x))
    np.testing.assert_allclose(np.diag(same.numpy()), 2.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["bilinear", "separable", "concat", "inner_product", "cosine"])
def test_works_in_tf_function_with_unknown_batch(name):
    make, np_scores, dy = CASES[name]
    layer = make()
    x, y = _inputs(dy=dy)
    layer(tf.constant(x), tf.constant(y))
    graph = tf.function(
        lambda a, b: layer(a, b),
        input_signature=[tf.TensorSpec([None, DX]), tf.TensorSpec([None, dy])],
    )
    np.testing.assert_allclose(
        graph(x, y).numpy(), layer(tf.constant(x), tf.constant(y)).numpy(), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip(name):
    make, _, dy = CASES[name]
    layer = make()
    x, y = _inputs(dy=dy)
    layer(tf.constant(x), tf.constant(y))
    _randomize(layer)
    config = layer.get_config()
    # Through JSON, as a saved model stores it.
    clone = type(layer).from_config(json.loads(json.dumps(config)))
    assert clone.get_config() == config
    clone(tf.constant(x), tf.constant(y))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        clone(tf.constant(x), tf.constant(y)).numpy(),
        layer(tf.constant(x), tf.constant(y)).numpy(),
        rtol=1e-6,
    )


def test_config_keeps_constructor_arguments():
    assert critics.Cosine(temperature=0.1).get_config()["temperature"] == 0.1
    config = critics.Separable(hidden_units=[16], embed_dim=5, activation="tanh").get_config()
    assert (config["hidden_units"], config["embed_dim"], config["activation"]) == ((16,), 5, "tanh")
    config = critics.Concat(hidden_units=(4, 3), activation="elu").get_config()
    assert (config["hidden_units"], config["activation"]) == ((4, 3), "elu")


def test_get_by_name():
    for name, cls in critics.CRITICS.items():
        assert isinstance(critics.get(name), cls)
    assert critics.get("cosine", temperature=0.1).temperature == 0.1
    layer = critics.Bilinear()
    assert critics.get(layer) is layer


def test_get_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="nope") as info:
        critics.get("nope")
    for name in ("bilinear", "separable", "concat", "inner_product", "cosine"):
        assert name in str(info.value)


def test_get_bad_arguments():
    with pytest.raises(ValueError, match="(?i)cosine.*not_an_argument"):
        critics.get("cosine", not_an_argument=1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_wrong_rank_raises(name):
    make, _, dy = CASES[name]
    x, y = _inputs(dy=dy)
    cls_name = type(make()).__name__
    with pytest.raises(ValueError, match=cls_name):
        make()(tf.constant(x[:, None, :]), tf.constant(y))
    with pytest.raises(ValueError, match=cls_name):
        make()(tf.constant(x), tf.constant(y[:, :, None]))
    with pytest.raises(ValueError):
        make()(tf.constant(x[0]), tf.constant(y))


def test_inner_product_needs_equal_widths():
    x, y = _inputs(dx=4, dy=3)
    with pytest.raises(ValueError, match="InnerProduct.*same width"):
        critics.InnerProduct()(tf.constant(x), tf.constant(y))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="Cosine"):
        critics.Cosine(temperature=0.0)
    with pytest.raises(ValueError, match="Concat"):
        critics.Concat(hidden_units=())
