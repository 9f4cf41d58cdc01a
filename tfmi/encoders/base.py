"""What every encoder shares: flat ``[batch, input_dim]`` inputs, checked before use.

Encoders are Keras functional models built inside their ``__init__`` (the keras-hub
pattern): they have ``inputs``/``outputs`` (which the SavedModel export of
``tfmi.models.InfoMaxModel`` reads), a ``summary()``, and a ``get_config`` that holds
only the constructor arguments, so ``cls.from_config(model.get_config())`` rebuilds the
same architecture.
"""

import keras
import numpy as np

__all__ = ["FlatInputEncoder", "check_flat_inputs"]


def check_flat_inputs(inputs, input_dim, owner):
    """Raises ValueError unless ``inputs`` is a ``[batch, input_dim]`` matrix.

    Checks the static shape only (a symbolic batch size is fine). ``owner`` names the
    encoder in the message.
    """
    shape = getattr(inputs, "shape", None)
    if shape is None:
        shape = np.shape(inputs)
    shape = tuple(shape) if shape is not None else None
    if shape is None or len(shape) != 2:
        rank = None if shape is None else len(shape)
        raise ValueError(
            f"{owner}: expected a [batch, {input_dim}] matrix of flat inputs, got rank "
            f"{rank} with shape {shape}. Flatten each example to {input_dim} features "
            f"first (e.g. reshape [B, H, W, C] images to [B, H * W * C])."
        )
    features = shape[-1]
    if features is not None and int(features) != input_dim:
        raise ValueError(
            f"{owner}: expected {input_dim} features per example, got {int(features)} "
            f"(input shape {shape}). Build the encoder with input_dim={int(features)} "
            f"(or the matching image_shape) to encode these inputs."
        )


class FlatInputEncoder(keras.Model):
    """Base class: a functional model with a shape check in front of ``__call__``.

    Subclasses build ``inputs = keras.Input((input_dim,))`` and their outputs, then call
    ``super().__init__(inputs=inputs, outputs=outputs, **kwargs)``. The check runs
    before Keras's own input-spec check so that a wrong shape gets an error naming the
    encoder and what to do, instead of an error from an inner layer.
    """

    def __init__(self, inputs, outputs, **kwargs):
        # keras.Model accepts unknown keyword arguments silently; a misspelt encoder
        # argument must not be dropped.
        unknown = sorted(set(kwargs) - {"name", "trainable"})
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected keyword arguments {unknown}.")
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        check_flat_inputs(inputs, self.input_dim, type(self).__name__)
        return super().__call__(inputs, *args, **kwargs)

    @property
    def input_dim(self):
        """Features per input example."""
        return int(self.inputs[0].shape[-1])

    @property
    def output_dim(self):
        """Features per representation."""
        return int(self.outputs[0].shape[-1])

    def _base_config(self):
        return {"name": self.name, "trainable": self.trainable}
