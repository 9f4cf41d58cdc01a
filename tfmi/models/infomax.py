"""InfoMax model: encoders g_x, g_y, a critic and a bound, trained to maximise I_EST.

    max_{g_x, g_y, f}  I_EST(g_x(x); g_y(y))           (Tschannen et al. 2020, Eq. 2)

or, with ``target_mi = t``, min |I_EST - t| (their Sec. 3.3). Without encoders the
model is a plain MI estimator: the critic scores the raw (x, y) pairs (Poole et al.
2019). Batches are dicts with "x", "y" and optionally "true_mi" (logged when known).
Under a multi-replica strategy the embeddings of all replicas are gathered first, so
every replica scores the global batch and the loss equals the one-device loss.

With ``log_condition_every = N`` the model also reports the conditioning of g_x (their
Figures 2c and 5): every N steps, the percentiles 0, 20, ..., 100 of
log(sigma_max / sigma_min) of the Jacobian of g_x at ``condition_points`` fixed inputs
(the first training batch), as "jacobian/log_condition_pP" (see ``periodic_metrics``).
"""

import tensorflow as tf

from tfmi import critics as critics_lib
from tfmi import distribute
from tfmi import encoders as encoders_lib
from tfmi.encoders import jacobian
from tfmi.models import bound as bound_lib
from tfmi.models.base import MIModel, build_part, part_section
from tfmi.models.bound import LOGGED_BOUNDS

__all__ = ["InfoMaxModel"]


class InfoMaxModel(MIModel):
    """Maximises (or matches to a target) an MI bound between two views.

    Args (the fields of ``config.model``; a part is a config block {"name": ..., **kwargs}
    or a built object):
      critic: a critic of ``tfmi.critics``.
      bound: a bound of ``tfmi.bounds.BOUNDS`` with its settings (``tfmi.models.Bound``).
      encoder_x, encoder_y: encoders of ``tfmi.encoders`` for each view, or None for
        the identity.
      target_mi: if set, the loss is |I_EST - target_mi| instead of -I_EST.
      log_condition_every: N > 0 logs the Jacobian condition numbers of ``encoder_x``
        every N steps (0: never).
      condition_points: how many inputs of the first training batch they are computed
        at (the paper's 128; at most the batch size).
    """

    def __init__(
        self,
        critic,
        bound="infonce",
        encoder_x=None,
        encoder_y=None,
        target_mi=None,
        log_condition_every=0,
        condition_points=128,
        **kwargs,
    ):
        names = ["loss", "mi", "true_mi"] + [f"bound_{name}" for name in LOGGED_BOUNDS]
        super().__init__(names, **kwargs)
        if log_condition_every < 0 or condition_points < 1:
            raise ValueError(
                f"InfoMaxModel: needs log_condition_every >= 0 and condition_points >= 1, got "
                f"{log_condition_every} and {condition_points}."
            )
        if log_condition_every and encoder_x is None:
            raise ValueError(
                "InfoMaxModel: log_condition_every needs an encoder_x whose Jacobian to "
                "condition; set model.encoder_x or log_condition_every = 0."
            )
        self.critic = build_part(critic, critics_lib.get, "critic")
        self.bound = bound_lib.get(bound)
        self.encoder_x = build_part(encoder_x, encoders_lib.get, "encoder_x")
        self.encoder_y = build_part(encoder_y, encoders_lib.get, "encoder_y")
        self._keep_sections(
            critic=part_section(critic, self.critic),
            encoder_x=part_section(encoder_x, self.encoder_x),
            encoder_y=part_section(encoder_y, self.encoder_y),
        )
        self.target_mi = target_mi
        self.log_condition_every = int(log_condition_every)
        self.condition_points = int(condition_points)
        self._condition_inputs = None
        self._next_condition_step = 0

    def encode(self, x, y, training=False):
        """Representations (g_x(x), g_y(y)); the identity where an encoder is None."""
        zx = self.encoder_x(x, training=training) if self.encoder_x is not None else x
        zy = self.encoder_y(y, training=training) if self.encoder_y is not None else y
        return zx, zy

    @property
    def evaluated_encoder(self):
        """g_1 = ``encoder_x`` (None when x is not encoded: the pixel baseline)."""
        return self.encoder_x

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
        if self.log_condition_every:
            # Fixed inputs: the percentiles then trace how g_x changes, not the sampling.
            self._condition_inputs = tf.identity(batch["x"][: self.condition_points])
        self.built = True

    def condition_metrics(self, x=None):
        """Percentiles 0, 20, ..., 100 of log kappa(x_i), kappa the condition number of the
        Jacobian of g_x at each row of ``x`` (default: the fixed inputs); a dict of floats
        named "jacobian/log_condition_pP"."""
        if x is None:
            x = self._condition_inputs
        if x is None:
            raise ValueError("InfoMaxModel.condition_metrics: pass x, or build the model first.")
        if not hasattr(self, "_condition_fn"):
            # Traced once; kept out of Keras's and the checkpoint's tracking.
            object.__setattr__(
                self,
                "_condition_fn",
                tf.function(lambda inputs: jacobian.jacobian_condition_numbers(self.encoder_x, inputs)),
            )
        kappa = self._condition_fn(tf.convert_to_tensor(x, tf.float32)).numpy()
        values = jacobian.condition_percentiles(kappa, jacobian.PAPER_PERCENTILES)
        return {
            f"jacobian/log_condition_p{p}": float(v) for p, v in zip(jacobian.PAPER_PERCENTILES, values)
        }

    def periodic_metrics(self, step):
        """The condition-number percentiles when a multiple of ``log_condition_every``
        has been reached since the last ones (at the first call, e.g. step 0), else {}."""
        if not self.log_condition_every or self._condition_inputs is None:
            return {}
        if step < self._next_condition_step:
            return {}
        every = self.log_condition_every
        self._next_condition_step = (step // every + 1) * every
        return self.condition_metrics()

    def get_config(self):
        return {
            **self._parts,
            "bound": self.bound.spec,
            "target_mi": self.target_mi,
            "log_condition_every": self.log_condition_every,
            "condition_points": self.condition_points,
        }
