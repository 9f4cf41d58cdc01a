"""estimate_mi and estimate_cmi leave the caller's global state alone: NumPy's, Python's
and TensorFlow's random streams and Keras's dtype policy; a seed alone fixes the result,
whatever the caller's streams or policy."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfmi


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = x + 0.8 * rng.standard_normal((n, 2))
    z = rng.standard_normal((n, 1))
    return x, y, z


QUICK = dict(max_steps=200, eval_every=100, patience=1, bootstrap=2)
CALLS = {  # every path that builds Keras layers: the default, a critic, DEMI, estimate_cmi
    "auto": lambda x, y, z: tfmi.estimate_mi(x, y, batch_size=64, **QUICK),
    "infonce": lambda x, y, z: tfmi.estimate_mi(x, y, estimator="infonce", critic="separable", batch_size=64, **QUICK),
    "nwj-bilinear": lambda x, y, z: tfmi.estimate_mi(x, y, estimator="nwj", critic="bilinear", batch_size=64, **QUICK),
    "flow": lambda x, y, z: tfmi.estimate_mi(x, y, estimator="flow", batch_size=64, **QUICK),
    "demi_bo": lambda x, y, z: tfmi.estimate_mi(x, y, xprime=x[:, :1], estimator="demi_bo", batch_size=32, max_steps=40,
                                                 eval_every=20, patience=1),
    "cmi": lambda x, y, z: tfmi.estimate_cmi(x, y, z, bootstrap=2),
}


def _draws():
    """One draw of each global stream: Python, NumPy, TensorFlow's op-seed sequence and
    its global generator."""
    return (random.random(), np.random.rand(), float(tf.random.uniform([])),
            float(tf.random.get_global_generator().normal([])))


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    tf.random.get_global_generator().reset_from_seed(seed)


@pytest.mark.parametrize("name", list(CALLS))
def test_the_callers_random_streams_continue_as_if_nothing_ran(name):
    x, y, z = _data()
    _seed_everything(123)
    _draws()
    expected = _draws()
    _seed_everything(123)
    _draws()
    CALLS[name](x, y, z)
    assert _draws() == expected


@pytest.mark.parametrize("name", ["auto", "infonce", "demi_bo", "cmi"])
def test_the_seed_alone_fixes_the_estimate_whatever_the_callers_streams(name):
    x, y, z = _data()
    _seed_everything(1)
    first = CALLS[name](x, y, z)
    _seed_everything(2)
    random.random()
    second = CALLS[name](x, y, z)
    assert (first.mi, first.stderr, first.curve) == (second.mi, second.stderr, second.curve)


@pytest.fixture
def dtype_policy(request):
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(request.param)
    yield request.param
    keras.config.set_dtype_policy(before)


REFERENCE = {}


@pytest.mark.parametrize("name", ["auto", "infonce", "demi_bo", "cmi"])
@pytest.mark.parametrize("dtype_policy", ["float32", "mixed_float16", "mixed_bfloat16", "float64"], indirect=True)
def test_estimation_runs_in_float32_whatever_the_global_dtype_policy(name, dtype_policy):
    x, y, z = _data()
    result = CALLS[name](x, y, z)
    assert keras.config.dtype_policy().name == dtype_policy  # left as the caller set it
    assert np.isfinite(result.mi)
    if dtype_policy == "float32":
        REFERENCE[name] = result.mi
    elif name in REFERENCE:
        assert result.mi == REFERENCE[name]  # the same number as under float32


def test_the_keras_linear_classifier_leaves_the_streams_and_is_fixed_by_its_seed():
    from tfmi.evaluation.linear_eval import fit_keras_linear_classifier

    rng = np.random.default_rng(0)
    features = rng.standard_normal((300, 5)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(np.int64)
    fit = lambda: fit_keras_linear_classifier(features[:200], labels[:200], features[200:], labels[200:],  # noqa: E731
                                              epochs=3, batch_size=32, seed=3)
    _seed_everything(5)
    _draws()
    expected = _draws()
    _seed_everything(5)
    _draws()
    first = fit()
    assert _draws() == expected
    second = fit()
    assert (first.accuracy, first.train_accuracy) == (second.accuracy, second.train_accuracy)
    assert first.accuracy > 0.8
