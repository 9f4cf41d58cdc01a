"""Tests of tfmi.encoders: forward passes against NumPy using each model's own weights,
RealNVP invertibility and log-det against autodiff, the paper's parameter counts, config
and .keras round trips, and bad input."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfmi import encoders
from tfmi.encoders import MLP, ConvNet, RealNVP, ResidualMLP

# Small versions of every encoder: (name, kwargs, input_dim, output_dim).
SMALL = [
    ("realnvp", dict(input_dim=6, num_couplings=3, hidden_units=(8, 8)), 6, 6),
    ("mlp", dict(input_dim=6, hidden_units=(7, 5), output_dim=4), 6, 4),
    ("residual_mlp", dict(input_dim=6, num_hidden=2), 6, 6),
    ("convnet", dict(image_shape=(4, 6, 1), channels=2, output_dim=3), 24, 3),
]


@pytest.fixture(autouse=True)
def _seeded():
    """Same initial weights in every run, whatever ran before."""
    keras.utils.set_random_seed(0)


def _inputs(batch, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype(np.float32)


def _randomize(model, scale=0.5, seed=1):
    """Random values for every weight, biases included (they start at zero)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        weight.assign(rng.normal(scale=scale, size=weight.shape).astype(np.float32))


def _small_flow(**kwargs):
    # Weights far from the near-identity initialisation, so that a round trip or a
    # log-det of 0 is not a consequence of g being ~the identity.
    config = dict(input_dim=6, num_couplings=4, hidden_units=(16, 16), init_stddev=0.5)
    config.update(kwargs)
    return RealNVP(**config)


def _batch_jacobian(model, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = model(x)
    return tape.batch_jacobian(y, x).numpy().astype(np.float64)


# ----------------------------------------------------------------------------- registry


@pytest.mark.parametrize("name, kwargs, input_dim, output_dim", SMALL)
def test_get_builds_each_encoder(name, kwargs, input_dim, output_dim):
    model = encoders.get(name, **kwargs)
    assert isinstance(model, encoders.ENCODERS[name])
    assert (model.input_dim, model.output_dim) == (input_dim, output_dim)
    assert model(_inputs(3, input_dim)).shape == (3, output_dim)
    assert encoders.get(model) is model


def test_get_rejects_unknown_names_and_bad_arguments():
    with pytest.raises(ValueError, match="Unknown encoder 'vgg16'.*convnet"):
        encoders.get("vgg16")
    with pytest.raises(ValueError, match="Bad arguments for encoder 'mlp'"):
        encoders.get("mlp", widths=(3,))


# ------------------------------------------------------------------------------ RealNVP


@pytest.mark.parametrize("coupling", ["additive", "affine"])
@pytest.mark.parametrize("permutation", ["random", "reverse"])
@pytest.mark.parametrize("dim", [6, 7])
def test_realnvp_inverse_undoes_forward(coupling, permutation, dim):
    # Affine couplings with large weights get scales near 1e-7 and inverses that lose
    # digits; a smaller spread keeps them well conditioned.
    stddev = 0.5 if coupling == "additive" else 0.2
    model = _small_flow(input_dim=dim, coupling=coupling, permutation=permutation, init_stddev=stddev)
    x = _inputs(5, dim)
    y = model(tf.constant(x)).numpy()
    assert np.abs(y - x).max() > 0.1  # far from the identity
    # Fresh tensors from NumPy: a bijector's cache must not answer for the inverse.
    np.testing.assert_allclose(model.inverse(tf.constant(y)).numpy(), x, atol=1e-4)
    y2 = _inputs(5, dim, seed=3)
    np.testing.assert_allclose(model(model.inverse(tf.constant(y2))).numpy(), y2, atol=1e-4)


def test_realnvp_inverse_is_computed_not_read_from_a_cache():
    model = _small_flow()
    x = tf.constant(_inputs(4, 6))
    y = model(x)
    # Change the function after the forward pass: a cached inverse would still give x.
    _randomize(model.flow.shift_nets[0], scale=0.5, seed=7)
    assert np.abs(model.inverse(y).numpy() - x.numpy()).max() > 1e-2


def test_realnvp_paper_size_is_near_identity_and_inverts():
    model = RealNVP()
    # 30 couplings, each an MLP 196 -> 512 -> 512 -> 196 (Sec. 3.1).
    per_coupling = (196 * 512 + 512) + (512 * 512 + 512) + (512 * 196 + 196)
    assert model.count_params() == 30 * per_coupling == 13_922_040
    couplings = [b for b in model.bijector.bijectors if isinstance(b, tfp.bijectors.RealNVP)]
    assert len(couplings) == 30
    x = np.random.default_rng(0).uniform(size=(4, 392)).astype(np.float32)
    y = model(tf.constant(x)).numpy()
    assert y.shape == (4, 392)
    # Near-identity initialisation: the final permutation undoes the intermediate ones.
    np.testing.assert_allclose(y, x, atol=1e-6)
    np.testing.assert_allclose(model.inverse(tf.constant(y)).numpy(), x, atol=1e-4)
    np.testing.assert_array_equal(model.forward_log_det_jacobian(x).numpy(), np.zeros(4))


@pytest.mark.parametrize("permutation", ["random", "reverse"])
def test_realnvp_starts_exactly_at_the_identity_with_zero_init(permutation):
    model = RealNVP(input_dim=9, num_couplings=5, hidden_units=(4,), permutation=permutation, init_stddev=0.0)
    x = _inputs(3, 9)
    np.testing.assert_array_equal(model(x).numpy(), x)


def test_additive_realnvp_is_volume_preserving():
    # Sec. 3.1: additive couplings have unit-triangular Jacobians, log|det| = 0.
    model = _small_flow(coupling="additive")
    x = _inputs(5, 6)
    jacobian = _batch_jacobian(model, x)
    assert np.abs(jacobian - np.eye(6)).max() > 0.1  # a non-trivial Jacobian
    sign, logdet = np.linalg.slogdet(jacobian)
    np.testing.assert_array_equal(sign, np.ones(5))
    np.testing.assert_allclose(logdet, np.zeros(5), atol=1e-5)
    np.testing.assert_array_equal(model.forward_log_det_jacobian(x).numpy(), np.zeros(5))


def test_affine_realnvp_log_det_matches_autodiff():
    # Moderate weights: scales near their 1e-7 floor make float32 Jacobians lose digits.
    model = _small_flow(coupling="affine", init_stddev=0.4)
    x = _inputs(5, 6)
    _, logdet = np.linalg.slogdet(_batch_jacobian(model, x))
    assert np.abs(logdet).max() > 0.1  # a non-trivial volume change
    np.testing.assert_allclose(model.forward_log_det_jacobian(x).numpy(), logdet, atol=1e-4)


def test_realnvp_gradients_reach_every_variable_eagerly_and_in_tf_function():
    model = _small_flow(init_stddev=0.1)
    x = tf.constant(_inputs(8, 6))
    variables = model.trainable_variables
    assert len(variables) == 4 * 3 * 2  # 4 couplings x 3 Dense x (kernel, bias)

    def grads(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x)))
        return tape.gradient(loss, variables)

    graph_grads = tf.function(grads)
    # Eager, graph, graph on new inputs, then eager again: no cached graph tensors leak.
    for run in (grads, graph_grads, graph_grads, grads):
        gradients = run(x + float(np.random.default_rng(0).normal()))
        assert all(g is not None for g in gradients)
        assert all(float(tf.norm(g)) > 0 for g in gradients)


def test_realnvp_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown coupling 'spline'"):
        RealNVP(input_dim=4, coupling="spline")
    with pytest.raises(ValueError, match="unknown permutation 'shuffle'"):
        RealNVP(input_dim=4, permutation="shuffle")
    with pytest.raises(ValueError, match="dim >= 2"):
        RealNVP(input_dim=1)
    with pytest.raises(ValueError, match="num_couplings >= 1"):
        RealNVP(input_dim=4, num_couplings=0)


# ---------------------------------------------------------------------------------- MLPs


def test_mlp_matches_numpy_and_has_the_papers_size():
    assert MLP().count_params() == 238_300  # "238k parameters" (Sec. 3.3)
    model = MLP(input_dim=6, hidden_units=(7, 5), output_dim=4)
    _randomize(model)
    x = _inputs(5, 6)
    h = x
    for name in ("dense_0", "dense_1"):
        kernel, bias = model.get_layer(name).get_weights()
        h = np.maximum(h @ kernel + bias, 0.0)
    kernel, bias = model.get_layer("output").get_weights()
    np.testing.assert_allclose(model(x).numpy(), h @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_residual_mlp_matches_numpy():
    model = ResidualMLP(input_dim=6, num_hidden=4)
    assert len(model.trainable_variables) == 5 * 2  # 4 hidden + output layer
    _randomize(model, scale=0.3)
    x = _inputs(5, 6)
    h = x
    for name in ("dense_0", "dense_1", "dense_2", "dense_3"):
        kernel, bias = model.get_layer(name).get_weights()
        h = h + np.maximum(h @ kernel + bias, 0.0)
    kernel, bias = model.get_layer("output").get_weights()
    np.testing.assert_allclose(model(x).numpy(), h + h @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_residual_mlp_starts_at_the_identity():
    x = _inputs(4, 392)
    np.testing.assert_array_equal(ResidualMLP(init_stddev=0.0)(x).numpy(), x)
    model = ResidualMLP()  # the paper's: 392 wide, 4 hidden layers, stddev 1e-4
    assert model.count_params() == 5 * (392 * 392 + 392)
    deviation = np.abs(model(x).numpy() - x).max()
    assert 0 < deviation < 0.05


# ------------------------------------------------------------------------------- ConvNet


def _np_conv_same(x, kernel, bias, stride):
    """TF "same" convolution: out = ceil(in / stride), the extra padding after."""
    _, height, width, _ = x.shape
    kh, kw, _, _ = kernel.shape
    oh, ow = -(-height // stride), -(-width // stride)
    ph = max((oh - 1) * stride + kh - height, 0)
    pw = max((ow - 1) * stride + kw - width, 0)
    x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[-1]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, kernel)
    return out + bias


def test_convnet_matches_numpy():
    model = ConvNet(image_shape=(14, 28, 1), channels=2, output_dim=3)
    _randomize(model, scale=0.3)
    x = _inputs(3, 392)
    h = x.reshape(3, 14, 28, 1)  # row-major: row r of the half image is x[28 r: 28 (r + 1)]
    for name in ("conv_0", "conv_1"):
        kernel, bias = model.get_layer(name).get_weights()
        h = np.maximum(_np_conv_same(h, kernel, bias, stride=2), 0.0)
    assert h.shape == (3, 4, 7, 4)
    gamma, beta = model.get_layer("layer_norm").get_weights()
    mean = h.mean(axis=(1, 2, 3), keepdims=True)
    var = h.var(axis=(1, 2, 3), keepdims=True)
    h = (h - mean) / np.sqrt(var + 1e-6) * gamma + beta
    h = h.mean(axis=(1, 2))
    kernel, bias = model.get_layer("output").get_weights()
    np.testing.assert_allclose(model(x).numpy(), h @ kernel + bias, rtol=1e-4, atol=1e-4)


def test_convnet_has_the_papers_size():
    model = ConvNet()
    # conv 5x5x1x64 + conv 5x5x64x128 + layer norm 2x128 + dense 128x100: "220k" (Sec. 3.3).
    assert model.count_params() == 1_664 + 204_928 + 256 + 12_900 == 219_748
    assert model.input_dim == 392 and model.output_dim == 100


# ----------------------------------------------------------------- configs and bad input


@pytest.mark.parametrize("name, kwargs, input_dim, output_dim", SMALL)
def test_config_round_trip(name, kwargs, input_dim, output_dim, tmp_path):
    model = encoders.get(name, **kwargs)
    _randomize(model, scale=0.3)
    x = _inputs(4, input_dim)
    rebuilt = type(model).from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    rebuilt.set_weights(model.get_weights())
    # Same outputs: the architecture, RealNVP's seeded permutations included, is rebuilt.
    np.testing.assert_allclose(rebuilt(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, kwargs, input_dim, output_dim", SMALL)
def test_tf_checkpoint_restores_every_weight(name, kwargs, input_dim, output_dim, tmp_path):
    # The trainer checkpoints with tf.train.Checkpoint, which sees only what the Keras
    # layers expose as trackable children (not layers kept in plain Python lists).
    model = encoders.get(name, **kwargs)
    _randomize(model, scale=0.3)
    path = tf.train.Checkpoint(encoder=model).write(str(tmp_path / "ckpt"))
    assert len(tf.train.list_variables(path)) == len(model.weights) + 1  # + the object graph
    fresh = encoders.get(name, **kwargs)
    tf.train.Checkpoint(encoder=fresh).read(path).assert_consumed()
    x = _inputs(4, input_dim)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())


def test_realnvp_seed_sets_the_permutations():
    first, second, other = (_small_flow(seed=s) for s in (3, 3, 4))
    for a, b in zip(first.flow.permutations, second.flow.permutations):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first.flow.permutations, other.flow.permutations))


@pytest.mark.parametrize("name, kwargs, input_dim, output_dim", SMALL)
def test_wrong_input_shapes_get_clear_errors(name, kwargs, input_dim, output_dim):
    model = encoders.get(name, **kwargs)
    owner = type(model).__name__
    with pytest.raises(ValueError, match=f"{owner}: expected {input_dim} features per example, got {input_dim + 1}"):
        model(np.zeros((2, input_dim + 1), np.float32))
    with pytest.raises(ValueError, match=f"{owner}: expected a \\[batch, {input_dim}\\] matrix.*rank 3"):
        model(np.zeros((2, input_dim, 1), np.float32))
    with pytest.raises(ValueError, match="rank 1"):
        model(np.zeros((input_dim,), np.float32))


def test_realnvp_inverse_checks_its_input():
    model = _small_flow()
    with pytest.raises(ValueError, match="RealNVP.inverse: expected 6 features per example, got 5"):
        model.inverse(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="RealNVP.forward_log_det_jacobian: expected a \\[batch, 6\\]"):
        model.forward_log_det_jacobian(np.zeros((6,), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="ConvNet: image_shape must be"):
        ConvNet(image_shape=(14, 28))
    with pytest.raises(ValueError, match="MLP: input_dim, hidden_units and output_dim must be positive"):
        MLP(output_dim=0)
    with pytest.raises(ValueError, match="ResidualMLP: needs"):
        ResidualMLP(num_hidden=-1)
    assert math.prod(ConvNet(image_shape=(16, 32, 3), channels=2).inputs[0].shape[1:]) == 1536
