"""The base of tfmi's models: a ``forward`` that returns the loss and the estimates,
and the training and evaluation steps every model shares."""

import keras
import tensorflow as tf

from tfmi import distribute

__all__ = ["MIModel"]


class MIModel(keras.Model):
    """A Keras model whose ``forward(batch, training)`` returns a dict of scalar tensors:
    "loss" (minimised) and the estimates to log (nats), each averaged by a
    ``keras.metrics.Mean`` tracker of the same name between two reads.

    Subclasses implement ``forward`` and may override ``after_train_step`` (state
    updated once per step, such as a sampling seed). ``forward`` must compute the loss
    of the global batch (gather across replicas with ``distribute.gather_from_replicas``),
    so that the gradients summed over replicas, each scaled by 1/R, equal the
    one-device gradient.
    """

    def __init__(self, metric_names, **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def forward(self, batch, training=False):
        raise NotImplementedError

    def after_train_step(self):
        """Called after each optimizer step (nothing by default)."""
        # A body of only a docstring makes AutoGraph fail to convert it (and warn).
        return None

    def periodic_metrics(self, step):
        """Extra scalars {name: float} that the trainer logs at ``step`` beside the
        trackers' means, computed outside the training step (eagerly, on the host).

        The trainer calls it at step 0 of a fresh run and at every log step; a model
        decides itself when a value is due and returns {} otherwise (the default).
        """
        return {}

    def _record(self, outputs):
        for name, value in outputs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in outputs}

    def train_step(self, batch):
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.forward(batch, training=True)
            # Every replica computes the same global loss; the optimizer sums the
            # replicas' gradients, so each contributes 1/R of it.
            scaled_loss = outputs["loss"] / distribute.num_replicas()
            # Mixed float16: keras.optimizers.LossScaleOptimizer multiplies by its loss
            # scale here and divides the gradients in apply() (other optimizers: no-op).
            scaled_loss = self.optimizer.scale_loss(scaled_loss)
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply(gradients, variables)
        self.after_train_step()
        return self._record(outputs)

    def test_step(self, batch):
        return self._record(self.forward(batch, training=False))
