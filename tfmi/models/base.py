"""The base of tfmi's models: the contract every model declares (what the trainer, the
export and the tools call), the training and evaluation steps every model shares, and
how config sections become parts (encoders, critics)."""

import keras
import tensorflow as tf

from tfmi import distribute
from tfmi.config_utils import as_dict, field_names, refuse_unknown_fields
from tfmi.errors import InputError

__all__ = ["MIModel", "build_part", "part_section", "as_dict"]

# Keyword arguments of keras.Model that are not config fields.
_KERAS_ARGUMENTS = ("name", "trainable", "dtype")


def build_part(section, get, field):
    """The encoder or critic of a config section: a block {"name": ..., **kwargs} or a
    name built by ``get(name, **kwargs)``, a Keras-serialised object (``part_section``
    of a built one) deserialised, or a built object or None returned as it is."""
    if isinstance(section, str):
        return get(section)
    block = as_dict(section)
    if block is None:
        return section
    if "class_name" in block:
        return keras.saving.deserialize_keras_object(block)
    if "name" not in block:
        raise InputError(f"model.{field} needs a 'name' (got the fields {sorted(block)}).")
    return get(block.pop("name"), **block)


def part_section(section, part):
    """What ``get_config`` returns for a part built from ``section``: the config block
    itself ({"name": ...} for a name), or the Keras serialisation of a part that was
    passed built."""
    if section is None:
        return None
    if isinstance(section, str):
        return {"name": section}
    block = as_dict(section)
    return keras.saving.serialize_keras_object(part) if block is None else block


class MIModel(keras.Model):
    """A Keras model trained by tfmi's trainer; the contract, all of it:

    - ``forward(batch, training)``: a dict of scalar tensors: "loss" (minimised) and
      the estimates to log (nats). It computes the loss of the GLOBAL batch (gather
      across replicas with ``distribute.gather_from_replicas``), so that the gradients
      summed over replicas, each scaled by 1/R, equal the one-device gradient.
    - ``metric_names``: the names ``forward`` may return, each averaged by a
      ``keras.metrics.Mean`` of ``trackers`` between two reads.
    - ``build_from_batch(batch)``: creates every variable from one global batch
      (eagerly, before the checkpoint is restored) and checks the batch.
    - ``export_endpoints()``: {name: (callable, input signature)} of the SavedModel
      export (``tfmi.models.export_model``).
    - ``after_train_step()``: state updated once per step after the optimizer (EMA,
      a sampling seed); nothing by default.
    - ``periodic_metrics(step)``: scalars computed outside the training step; {} by
      default.
    - ``get_config()``: the config sections (every field of ``config.model`` but
      "name") that rebuild the model: ``MODELS[name](**model.get_config())``.
    - ``evaluated_encoder``: g_1, whose features of x the checkpoint evaluation's
      linear classifier reads, or None (the default) when the model has none;
      ``checkpoint_record(step)``: what that evaluation records of the model at
      ``step`` beside its numbers ({} by default).

    Subclasses take their config sections as constructor arguments, with their defaults
    there; an argument that is no config field of the model is refused.
    """

    def __init__(self, metric_names, **kwargs):
        refuse_unknown_fields(
            set(kwargs) - set(_KERAS_ARGUMENTS), self.config_fields(), f"{type(self).__name__}: config.model"
        )
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in metric_names}
        # Plain config data, kept out of Keras's tracking (which wraps dict attributes).
        object.__setattr__(self, "_parts", {})

    def _keep_sections(self, **sections):
        """Records the config sections of parts (``part_section``) for ``get_config``."""
        self._parts.update(sections)

    @classmethod
    def config_fields(cls):
        """The names of the config sections the constructor takes."""
        return field_names(cls.__init__)[1:]

    @property
    def metric_names(self):
        """The names ``forward`` may return (one tracker each)."""
        return list(self.trackers)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def forward(self, batch, training=False):
        """{"loss": ..., estimate: ...} of the global batch (see the class docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward(batch, training).")

    def build_from_batch(self, batch):
        """Creates every variable by running the model once on ``batch``."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_from_batch(batch).")

    def export_endpoints(self):
        """{name: (callable, list of tf.TensorSpec)} that the SavedModel export serves."""
        raise NotImplementedError(f"{type(self).__name__} must implement export_endpoints().")

    def get_config(self):
        """The config sections that rebuild this model (no "name")."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_config().")

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

    @property
    def evaluated_encoder(self):
        """g_1: the encoder whose features the checkpoint evaluation reads (None: none)."""
        return None

    def checkpoint_record(self, step):
        """Facts of the model at training step ``step`` for the checkpoint evaluation."""
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
