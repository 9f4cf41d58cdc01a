"""A run set up from its config, as the trainer sets it up: seed, dataset, model, optimizer.

Everything that builds a config's run before training it (the trainer, the evaluation of
checkpoints, the benchmarks) calls ``build_run``, so that the same config and seed give
the same initial weights everywhere. It sits at the models layer, the lowest one that
sees the data pipelines, the models and the optimizers.
"""

import dataclasses

import keras
import ml_collections
import tensorflow as tf

from tfmi.data import build_dataset
from tfmi.models import MIModel, build_model
from tfmi.optim import make_optimizer

__all__ = ["Run", "build_run", "run_optimizer"]


@dataclasses.dataclass
class Run:
    """A config's run, built and not yet trained (what ``build_run`` returns)."""

    config: ml_collections.ConfigDict
    strategy: tf.distribute.Strategy
    model: MIModel
    optimizer: keras.optimizers.Optimizer
    first_batch: dict  # the global batch of step 0, which the model was built on
    _first_dataset: tf.data.Dataset = dataclasses.field(repr=False)

    def dataset(self, start_step=0):
        """The run's global batches from ``start_step`` on: from step 0 the dataset that
        gave ``first_batch``, from a later step a new one (a resumed run sees the batches
        it would have seen without interruption)."""
        if start_step == 0:
            return self._first_dataset
        return _dataset(self.config, start_step)


def _dataset(config, start_step):
    return build_dataset(config.data, config.batch_size, config.seed, start_step)


def run_optimizer(config):
    """The optimizer of ``config``: ``config.optimizer`` over ``config.total_steps``, its
    learning rate scaled by the global ``config.batch_size`` (``lr_scaling``), wrapped in
    dynamic loss scaling under ``config.mixed_precision = "mixed_float16"``."""
    optimizer = make_optimizer(config.optimizer, config.total_steps, config.batch_size)
    if config.get("mixed_precision", "") == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_run(config, strategy=None):
    """Seeds, builds the dataset, the model and its optimizer of ``config``; returns a ``Run``.

    In this order: every generator seeded with ``config.seed``
    (``keras.utils.set_random_seed``); the first global batch of the dataset; the Keras
    dtype policy of ``config.mixed_precision`` ("" = float32, set globally); then, inside
    ``strategy.scope()`` (default: the current strategy), the model, its optimizer
    (``run_optimizer``), the model's variables built on the first batch and the
    optimizer's, so that no tf.function step creates a variable.
    """
    strategy = strategy or tf.distribute.get_strategy()
    keras.utils.set_random_seed(config.seed)
    first_dataset = _dataset(config, 0)
    first_batch = next(iter(first_dataset))
    keras.mixed_precision.set_global_policy(config.get("mixed_precision", "") or "float32")
    with strategy.scope():
        model = build_model(config.model)
        optimizer = run_optimizer(config)
        model.compile(optimizer=optimizer)
        model.build_from_batch(first_batch)
        optimizer.build(model.trainable_variables)
    return Run(config, strategy, model, optimizer, first_batch, first_dataset)
