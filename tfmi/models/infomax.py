"""InfoMax model: encoders g_x, g_y, a critic and a bound, trained to maximise I_EST.

    max_{g_x, g_y, f}  I_EST(g_x(x); g_y(y))           (Tschannen et al. 2020, Eq. 2)

or, with ``target_mi = t``, min |I_EST - t| (their Sec. 3.3). Without encoders the
model is a plain MI estimator: the critic scores the raw (x, y) pairs (Poole et al.
2019). Batches are dicts with "x", "y" and optionally "true_mi" (logged when known).
Under a multi-replica strategy the embeddings of all replicas are gathered first, so
every replica scores the global batch and the loss equals the one-device loss.
"""

import keras
import tensorflow as tf

from tfmi import critics as critics_lib
from tfmi import distribute
from tfmi.models.base import MIModel
from tfmi.models.bound import LOGGED_BOUNDS, Bound

__all__ = ["InfoMaxModel"]


class InfoMaxModel(MIModel):
    """Maximises (or matches to a target) an MI bound between two views.

    Args:
      critic: a critic layer (``tfmi.critics``) or its name.
      bound: a ``Bound`` layer or a bound name.
      encoder_x, encoder_y: Keras models for each view, or None for the identity.
      target_mi: if set, the loss is |I_EST - target_mi| instead of -I_EST.
    """

    def __init__(self, critic, bound="infonce", encoder_x=None, encoder_y=None, target_mi=None, **kwargs):
        names = ["loss", "mi", "true_mi"] + [f"bound_{name}" for name in LOGGED_BOUNDS]
        super().__init__(names, **kwargs)
        self.critic = critics_lib.get(critic)
        self.bound = bound if isinstance(bound, Bound) else Bound(bound)
        self.encoder_x = encoder_x
        self.encoder_y = encoder_y
        self.target_mi = target_mi

    def encode(self, x, y, training=False):
        """Representations (g_x(x), g_y(y)); the identity where an encoder is None."""
        zx = self.encoder_x(x, training=training) if self.encoder_x is not None else x
        zy = self.encoder_y(y, training=training) if self.encoder_y is not None else y
        return zx, zy

    def call(self, inputs, training=False):
        """Scores [B, B] of the (local) batch ``inputs = {"x": ..., "y": ...}``."""
        zx, zy = self.encode(inputs["x"], inputs["y"], training=training)
        return self.critic(zx, zy)

    def forward(self, batch, training=False):
        """Loss and estimates on the global batch: a dict of scalar tensors."""
        zx, zy = self.encode(batch["x"], batch["y"], training=training)
        zx = distribute.gather_from_replicas(zx)
        zy = distribute.gather_from_replicas(zy)
        scores = self.critic(zx, zy)
        estimate = self.bound(scores, zx)
        if self.target_mi is None:
            loss = -estimate
        else:
            loss = tf.abs(estimate - self.target_mi)
        outputs = {"loss": loss, "mi": estimate}
        for name, fn in LOGGED_BOUNDS.items():
            outputs[f"bound_{name}"] = tf.stop_gradient(fn(scores))
        if "true_mi" in batch:
            outputs["true_mi"] = tf.reduce_mean(batch["true_mi"])
        return outputs

    def export_endpoints(self):
        """What the SavedModel export holds: {name: (callable, input signature)}."""
        endpoints = {}
        for name, encoder in (("encoder_x", self.encoder_x), ("encoder_y", self.encoder_y)):
            if encoder is not None:
                spec = tf.TensorSpec([None, *encoder.inputs[0].shape[1:]], tf.float32, name="x")
                endpoints[name] = (encoder, [spec])
        if not endpoints:
            endpoints["critic"] = (
                self.critic,
                [
                    tf.TensorSpec([None, self.critic_input_dims[0]], tf.float32, name="x"),
                    tf.TensorSpec([None, self.critic_input_dims[1]], tf.float32, name="y"),
                ],
            )
        return endpoints

    def build_from_batch(self, batch):
        """Creates every variable by running the model once on ``batch``."""
        zx, zy = self.encode(batch["x"], batch["y"])
        self.critic_input_dims = (int(zx.shape[-1]), int(zy.shape[-1]))
        self.bound(self.critic(zx, zy), zx)
        self.built = True

    def get_config(self):
        return {
            **super().get_config(),
            "critic": keras.saving.serialize_keras_object(self.critic),
            "bound": keras.saving.serialize_keras_object(self.bound),
            "encoder_x": keras.saving.serialize_keras_object(self.encoder_x),
            "encoder_y": keras.saving.serialize_keras_object(self.encoder_y),
            "target_mi": self.target_mi,
        }
