"""One harness over every model of ``tfmi.models.MODELS``, each on a tiny config:

- config round trip: ``MODELS[name](**model.get_config())`` has the same config and, with
  the same weights, the same forward outputs;
- the keys of ``forward`` (and of ``train_step``) against the model's metric trackers;
- ``export_model`` and ``tf.saved_model.load`` serve what the model computes;
- 2 replicas equal 1 under SGD (slow: a subprocess with 2 logical CPU devices).

Run as a script (``python tests/test_models.py NAME ...``) it prints the replica
comparison as JSON; the slow test does that in a fresh process.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import keras

from tfmi import bounds, distribute
from tfmi.errors import InputError
from tfmi.models import MODELS, Bound, build_model, export_model

BATCH = 8
DIM = 6
IMAGE = 8


def _images(rng, size=IMAGE):
    return rng.uniform(size=(BATCH, size, size, 3)).astype(np.float32)


def _dialogue_batch(rng, vocab=40, past=10, future=6, subview=4):
    """A global batch of the tfmi.data.dialogue contract with random tokens."""

    def padded(width, shortest):
        lengths = rng.integers(shortest, width + 1, size=BATCH).astype(np.int32)
        ids = np.zeros((BATCH, width), np.int32)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(1, vocab, size=length)
        return ids, lengths

    past_ids, past_length = padded(past, 4)
    future_ids, future_length = padded(future, 2)
    subview_ids = np.zeros((BATCH, subview), np.int32)
    lm_ids = np.zeros((BATCH, past + future), np.int32)
    lm_target = np.zeros_like(lm_ids)
    for row in range(BATCH):
        p, f = past_length[row], future_length[row]
        subview_ids[row, :subview] = past_ids[row, p - subview : p]
        lm_ids[row, :p], lm_ids[row, p : p + f] = past_ids[row, :p], future_ids[row, :f]
        lm_target[row, p - 1 : p + f - 1] = 1
    return {
        "past_ids": past_ids, "past_mask": (past_ids > 0).astype(np.int32), "past_length": past_length,
        "future_ids": future_ids, "future_mask": (future_ids > 0).astype(np.int32),
        "future_length": future_length,
        "subview_ids": subview_ids, "subview_mask": np.ones_like(subview_ids),
        "subview_length": np.full(BATCH, subview, np.int32),
        "lm_ids": lm_ids, "lm_mask": (lm_ids > 0).astype(np.int32), "lm_target_mask": lm_target,
    }


def _vectors(rng, *names):
    return {name: rng.normal(size=(BATCH, DIM)).astype(np.float32) for name in names}


TINY_RESNET = {"name": "resnet", "depth": 18, "variant": "cifar", "width": 2, "synchronized_bn": True}
TINY_MLP = {"name": "mlp", "input_dim": DIM, "hidden_units": (8,), "output_dim": 4}

# name -> (every field of config.model but "name", a function of a NumPy Generator that
# returns a global batch holding every optional key the model reads).
CASES = {
    "infomax": (
        {
            "critic": {"name": "separable", "hidden_units": (8,), "embed_dim": 4, "activation": "relu"},
            "bound": {"name": "interpolated", "alpha": 0.5, "baseline": "mlp", "baseline_hidden": (4,)},
            "encoder_x": TINY_MLP,
            "encoder_y": TINY_MLP,
            "target_mi": None,
            "log_condition_every": 0,
            "condition_points": 128,
        },
        lambda rng: {**_vectors(rng, "x", "y"), "true_mi": np.full(BATCH, 1.5, np.float32)},
    ),
    "adversarial": (
        {
            "encoder": {"name": "realnvp", "input_dim": DIM, "num_couplings": 2, "hidden_units": (8,),
                        "init_stddev": 0.1},
            "num_classes": 3,
            "warmup_steps": 1,
            "probe_steps": 1,
            "encoder_learning_rate": 0.01,
            "mi_weight": 0.5,
            "encoder_y": None,
            "critic": {"name": "bilinear"},
            "bound": {"name": "mine", "momentum": 0.5},
        },
        lambda rng: {**_vectors(rng, "x", "y"), "label": rng.integers(0, 3, size=BATCH).astype(np.int32)},
    ),
    "demi_synthetic": (
        {"method": "demi_var", "hidden_units": 8, "embed_dim": 4},
        lambda rng: {
            **_vectors(rng, "x", "xprime", "y"),
            "y_cond": rng.normal(size=(BATCH, BATCH - 1, DIM)).astype(np.float32),
            "true_mi": np.full(BATCH, 2.0, np.float32),
        },
    ),
    "simclr": (
        {
            "backbone": TINY_RESNET,
            "method": "simclr_demi",
            "temperature": 0.5,
            "proj_dim": 4,
            "proj_hidden": 8,
            "proj_layers": 1,
            "synchronized_bn": True,
            "num_classes": 3,
        },
        lambda rng: {
            "x": _images(rng), "y": _images(rng), "x_sub": _images(rng, IMAGE // 2),
            "label": rng.integers(0, 3, size=BATCH).astype(np.int32),
        },
    ),
    "moco": (
        {
            "backbone": TINY_RESNET,
            "method": "demi",
            "head_hidden": (8,),
            "head_dim": 4,
            "queue_size": 2 * BATCH,
            "momentum": 0.9,
            "temperature": 0.2,
            "queue_seed": 0,
        },
        lambda rng: {"x": _images(rng), "y": _images(rng), "x_sub": _images(rng, IMAGE // 2)},
    ),
    "dialogue": (
        {
            "backbone": {"preset": None, "num_layers": 1, "num_heads": 2, "hidden_dim": 8,
                         "intermediate_dim": 16, "max_sequence_length": 32, "dropout": 0.0},
            "method": "demi_bo",
            "mi_weight": 0.1,
            "unconditional": "past",
            "num_distractors": 1,
            "nsp_weight": 0.5,
        },
        _dialogue_batch,
    ),
}


def test_every_model_has_a_case():
    assert sorted(CASES) == sorted(MODELS)


def _skip_without_keras_hub(name):
    if name == "dialogue":
        pytest.importorskip("keras_hub")


def make(name, fields=None, seed=0):
    """(model built on the case's batch, the batch); ``fields`` default to the case's."""
    case_fields, make_batch = CASES[name]
    batch = make_batch(np.random.default_rng(seed))
    keras.utils.set_random_seed(seed)
    model = MODELS[name](**(case_fields if fields is None else fields))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)
    return model, batch


def _numpy(outputs):
    return {name: np.asarray(value) for name, value in outputs.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_config_round_trip_rebuilds_the_same_model(name):
    """get_config gives back the config's fields; the model they rebuild computes the
    same outputs with the same weights (and differs before they are copied)."""
    _skip_without_keras_hub(name)
    fields = CASES[name][0]
    model, batch = make(name)
    config = model.get_config()
    assert config == fields
    assert set(config) <= set(type(model).config_fields())
    twin, _ = make(name, config, seed=1)
    assert twin.get_config() == fields
    before = _numpy(twin.forward(batch))
    twin.set_weights(model.get_weights())
    expected, actual = _numpy(model.forward(batch)), _numpy(twin.forward(batch))
    assert sorted(actual) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert any(not np.allclose(before[k], expected[k]) for k in expected), "the seeds gave equal models"


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_keys_are_the_metric_trackers(name):
    _skip_without_keras_hub(name)
    model, batch = make(name)
    evaluated = set(model.forward(batch, training=False))
    trained = set(model.train_step(batch))
    assert "loss" in evaluated
    assert evaluated <= set(model.metric_names)
    assert evaluated | trained == set(model.metric_names)
    assert [tracker.name for tracker in model.metrics] == model.metric_names


@pytest.mark.parametrize("name", sorted(CASES))
def test_unknown_field_is_named(name):
    _skip_without_keras_hub(name)
    with pytest.raises(InputError, match="no field 'not_a_field'"):
        build_model({"name": name, **CASES[name][0], "not_a_field": 1})


def test_unknown_model_and_bound_are_named():
    with pytest.raises(InputError, match="Unknown model 'nope'.*infomax"):
        build_model({"name": "nope"})
    fields = {**CASES["infomax"][0], "bound": {"name": "infonce", "clipp": 1.0}}
    with pytest.raises(InputError, match="clipp"):
        build_model({"name": "infomax", **fields})
    with pytest.raises(ValueError, match="Unknown bound 'nce'"):
        build_model({"name": "infomax", **CASES["infomax"][0], "bound": {"name": "nce"}})


def test_bound_takes_its_own_settings_and_state_only_where_it_has_one():
    """Each bound takes only its own settings (another bound's is refused, naming the
    accepted ones); the values equal the functions of tfmi.bounds called with them; only
    MINE, TUBA and the interpolated bound carry state."""
    scores = tf.constant(np.random.default_rng(0).normal(size=(6, 6)), tf.float32)
    infonce = Bound("infonce")
    assert infonce.spec == {"name": "infonce"} and infonce.state is None
    with pytest.raises(InputError, match=r"'infonce' takes no setting \['clip'\]"):
        Bound("infonce", clip=2.0)
    with pytest.raises(InputError, match=r"'smile' takes no setting \['alpha'\].*\['clip'\]"):
        Bound("smile", clip=2.0, alpha=0.3)
    smile = Bound("smile", clip=2.0)
    assert smile.spec == {"name": "smile", "clip": 2.0} and smile.state is None
    np.testing.assert_allclose(float(smile(scores)), float(bounds.smile(scores, 2.0)), rtol=1e-6)
    baseline = {"baseline": "constant", "baseline_hidden": (4,)}
    tuba = Bound("tuba", **baseline)  # a constant baseline starts at log a = 0
    assert tuba.spec == {"name": "tuba", **baseline}
    np.testing.assert_allclose(float(tuba(scores)), float(bounds.tuba(scores, 0.0)), rtol=1e-6)
    interpolated = Bound("interpolated", alpha=0.3, **baseline)
    np.testing.assert_allclose(
        float(interpolated(scores)), float(bounds.interpolated(scores, 0.0, 0.3)), rtol=1e-6
    )
    mine = Bound("mine", momentum=0.5)  # MINE's value is DV's
    assert mine.spec == {"name": "mine", "momentum": 0.5} and mine.state.momentum == 0.5
    np.testing.assert_allclose(float(mine(scores)), float(bounds.dv(scores)), rtol=1e-6)
    assert sorted(bounds.BOUNDS) == sorted(bounds.UNCONDITIONAL_BOUNDS + bounds.METRIC_LOSSES)


def _inputs(signature, rng):
    """Random tensors for an endpoint's input signature (batch 3, length 5)."""
    tensors = []
    for spec in signature:
        shape = [3 if i == 0 else (5 if size is None else size) for i, size in enumerate(spec.shape)]
        if spec.dtype.is_integer:
            tensors.append(tf.constant(rng.integers(1, 30, size=shape), spec.dtype))
        else:
            tensors.append(tf.constant(rng.uniform(size=shape), spec.dtype))
    return tensors


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_reloads_with_the_same_outputs(name, tmp_path):
    _skip_without_keras_hub(name)
    model, _ = make(name)
    endpoints = model.export_endpoints()
    paths = export_model(model, str(tmp_path))
    assert sorted(paths) == sorted(str(tmp_path / endpoint) for endpoint in endpoints)
    rng = np.random.default_rng(0)
    for endpoint, (function, signature) in endpoints.items():
        inputs = _inputs(signature, rng)
        reloaded = tf.saved_model.load(str(tmp_path / endpoint))  # keep it: serve uses its variables
        served = reloaded.serve(*inputs)
        np.testing.assert_allclose(
            np.asarray(served), np.asarray(function(*inputs)), rtol=1e-5, atol=1e-6, err_msg=endpoint
        )


# --- 2 replicas == 1 -------------------------------------------------------------------

STEPS = 2


def _replica_run(strategy, name):
    """Weights before and after STEPS SGD train_steps of the case on ``strategy``."""
    fields, make_batch = CASES[name]
    batches = [make_batch(np.random.default_rng(step)) for step in range(STEPS)]
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = MODELS[name](**fields)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        model.build_from_batch(batches[0])
        model.optimizer.build(model.trainable_variables)

    def dataset():
        return tf.data.Dataset.from_tensor_slices(
            {key: np.stack([batch[key] for batch in batches]) for key in batches[0]}
        )

    iterator = iter(distribute.distribute_global_batches(strategy, dataset))

    @tf.function
    def step(batch):
        strategy.run(model.train_step, args=(batch,))

    return model, iterator, step


def replica_comparison(names):
    """{name: weight differences of 1 and 2 replicas}: run in a process with 2 CPUs."""
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {}
    for name in names:
        one, one_batches, one_step = _replica_run(tf.distribute.get_strategy(), name)
        two, two_batches, two_step = _replica_run(mirrored, name)
        two.set_weights(one.get_weights())
        before = [v.numpy() for v in one.trainable_variables]
        for _ in range(STEPS):
            one_step(next(one_batches))
            two_step(next(two_batches))
        after = [v.numpy() for v in one.trainable_variables]
        results[name] = {
            # The largest update of a trainable weight, and the largest difference of any
            # weight (queues, moving averages and seeds included) between 1 and 2 replicas.
            "moved": max(float(np.max(np.abs(a - b))) for a, b in zip(after, before)),
            "diff": max(float(np.max(np.abs(a - b))) for a, b in zip(one.get_weights(), two.get_weights())),
        }
    return results


@pytest.fixture(scope="module")
def replicas(helpers):
    names = [name for name in sorted(CASES) if name != "dialogue"]
    try:
        import keras_hub  # noqa: F401

        names.append("dialogue")
    except ImportError:
        pass
    result = subprocess.run(
        [sys.executable, __file__, *names], cwd=helpers.REPO_ROOT, env=helpers.trainer_env(),
        capture_output=True, text=True, timeout=900,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stderr[-5000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_two_replicas_equal_one(replicas, name):
    """Weights after SGD steps under MirroredStrategy on 2 CPUs equal one device's on the
    same global batches; tolerance relative to the update."""
    if name not in replicas:
        pytest.skip("keras-hub is not installed")
    result = replicas[name]
    assert result["moved"] > 1e-4
    assert result["diff"] <= 1e-4 * result["moved"]


if __name__ == "__main__":
    distribute.configure_cpu_devices(2)
    print("RESULT " + json.dumps(replica_comparison(sys.argv[1:])))
