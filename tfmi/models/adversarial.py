r"""Adversarially trained invertible encoder (Tschannen et al. 2020, Sec. 3.1, App. B).

An invertible encoder g_1 (RealNVP) and a linear probe on its output, logits
l(x) = W g_1(x) + b over the 10 digits, play against each other:

    probe:    min_{W, b}  CE(label, softmax(l(x)))         Adam, learning rate 1e-4
    encoder:  min_{g_1}   CE(uniform, softmax(l(x)))       Adam, learning rate 1e-6

"we perform 10 classifier optimization steps per encoder step. Furthermore, in a warm-up
phase we train the classifier for 1k iterations before alternating between classifier
and encoder steps" (App. B). One training step here is one update of one player on one
batch of 128, as in the authors' notebook, scheduled by the step s (the trainer's
optimizer.iterations before the update):

    s < warmup_steps                                          -> probe update
    (s - warmup_steps) mod (probe_steps + 1) <  probe_steps   -> probe update
    (s - warmup_steps) mod (probe_steps + 1) == probe_steps   -> encoder update

With the defaults (1000, 10), steps 0..999 warm the probe up and encoder update n
(n = 0, 1, ...) is step 1010 + 11 n: 1000 + 11 N steps hold N encoder iterations, the
x-axis of Figure 1c. The trainer's optimizer updates the probe (its learning rate is
``config.optimizer.learning_rate``); the model owns a second Adam for the encoder and,
on encoder steps, advances the first one's step counter by hand so that the trainer's
step count stays the number of training steps. (Adam's bias correction of the probe
then counts the encoder steps too: 1 - 0.9^t is 1 to 1e-45 for every t >= 1000.)

g_1 is invertible for every value of its parameters, so I(g_1(X1); X2) = I(X1; X2)
throughout: the encoder keeps the maximal MI while it makes the digits hard to read
linearly, and the paper trains it "without using a MI estimator" and "does not model
g_2". ``mi_weight`` > 0 (not in the paper) adds -mi_weight * I_EST(g_1(x); g_2(y)) to
the encoder's loss, with a critic, a bound and an optional g_2 trained by the encoder's
optimizer.

Batches: {"x": the top halves, "label": the digits} (plus "y", the bottom halves, with
``mi_weight``). Logged: "loss" (= "probe_loss", the probe's cross-entropy),
"probe_accuracy" (the probe on the batch, before its update), "encoder_loss" (the
cross-entropy to the uniform vector; log 10 = 2.303 at best), "encoder_update" (the
share of steps that updated the encoder) and, with ``mi_weight``, "mi". The downstream
reading of Figure 1c is a separate linear classifier fitted on the exported g_1
(``tfmi.evaluation.linear_eval``).
"""

import keras
import tensorflow as tf

from tfmi import critics as critics_lib
from tfmi import distribute
from tfmi import encoders as encoders_lib
from tfmi.errors import InputError
from tfmi.models import bound as bound_lib
from tfmi.models.base import MIModel, build_part, part_section

__all__ = ["AdversarialModel"]


class AdversarialModel(MIModel):
    """An encoder trained to make a linear probe fail, the probe trained to succeed.

    Args (the fields of ``config.model``; a part is a config block {"name": ..., **kwargs}
    or a built object):
      encoder: g_1, an encoder [B, d] -> [B, k] (the paper's RealNVP).
      num_classes: the probe's outputs; 10 digits.
      warmup_steps: probe-only steps before the alternation starts; the paper's 1000.
      probe_steps: probe steps per encoder step after the warm-up; the paper's 10.
      encoder_learning_rate: Adam learning rate of the encoder; the paper's 1e-6 (the
        probe's, the paper's 1e-4, is that of the trainer's optimizer).
      mi_weight: weight of -I_EST(g_1(x); g_2(y)) in the encoder's loss; 0 (the paper's)
        trains no MI estimator.
      encoder_y, critic, bound: g_2 (None: the identity), the critic and the bound of
        that term; used only when ``mi_weight`` > 0.
    """

    def __init__(
        self,
        encoder,
        num_classes=10,
        warmup_steps=1000,
        probe_steps=10,
        encoder_learning_rate=1e-6,
        mi_weight=0.0,
        encoder_y=None,
        critic="bilinear",
        bound="infonce",
        **kwargs,
    ):
        names = ["loss", "probe_loss", "probe_accuracy", "encoder_loss", "encoder_update"]
        if mi_weight:
            names.append("mi")
        super().__init__(names, **kwargs)
        if num_classes < 2 or warmup_steps < 0 or probe_steps < 0:
            raise ValueError(
                f"AdversarialModel: needs num_classes >= 2, warmup_steps >= 0 and "
                f"probe_steps >= 0, got {num_classes}, {warmup_steps}, {probe_steps}."
            )
        if not encoder_learning_rate > 0 or mi_weight < 0:
            raise ValueError(
                f"AdversarialModel: needs encoder_learning_rate > 0 and mi_weight >= 0, got "
                f"{encoder_learning_rate} and {mi_weight}."
            )
        if encoder is None:
            raise InputError("model.encoder of the adversarial model must name an encoder, e.g. {'name': 'realnvp'}.")
        self.encoder = build_part(encoder, encoders_lib.get, "encoder")
        self._keep_sections(encoder=part_section(encoder, self.encoder))
        self.num_classes = int(num_classes)
        self.warmup_steps = int(warmup_steps)
        self.probe_steps = int(probe_steps)
        self.encoder_learning_rate = float(encoder_learning_rate)
        self.mi_weight = float(mi_weight)
        self.probe = keras.layers.Dense(self.num_classes, name="probe")
        self.encoder_optimizer = keras.optimizers.Adam(self.encoder_learning_rate, name="encoder_adam")
        # The MI term's parts exist only when it is trained.
        self.encoder_y = self.critic = self.bound = None
        if self.mi_weight:
            self.encoder_y = build_part(encoder_y, encoders_lib.get, "encoder_y")
            self.critic = build_part(critic, critics_lib.get, "critic")
            self.bound = bound_lib.get(bound)
            self._keep_sections(
                encoder_y=part_section(encoder_y, self.encoder_y),
                critic=part_section(critic, self.critic),
                bound=self.bound.spec,
            )

    # --- the two players' objectives -----------------------------------------------

    def forward(self, batch, training=False):
        """Losses and readings on the global batch: a dict of scalar tensors."""
        z = self.encoder(batch["x"], training=training)
        logits = distribute.gather_from_replicas(self.probe(z))
        labels = distribute.gather_from_replicas(tf.cast(batch["label"], tf.int64))
        probe_loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        # CE(uniform, softmax(l)) = logsumexp(l) - mean(l): log K when the probe is blind.
        encoder_loss = tf.reduce_mean(
            tf.reduce_logsumexp(logits, axis=-1) - tf.reduce_mean(logits, axis=-1)
        )
        correct = tf.equal(tf.argmax(logits, axis=-1), labels)
        outputs = {
            "loss": probe_loss,
            "probe_loss": probe_loss,
            "probe_accuracy": tf.reduce_mean(tf.cast(correct, tf.float32)),
            "encoder_loss": encoder_loss,
        }
        if self.mi_weight:
            outputs["mi"] = self._mi(z, batch["y"], training)
        return outputs

    def _mi(self, z, y, training):
        zy = self.encoder_y(y, training=training) if self.encoder_y is not None else y
        zx = distribute.gather_from_replicas(z)
        zy = distribute.gather_from_replicas(zy)
        return self.bound(self.critic(zx, zy), zx)

    @property
    def probe_variables(self):
        """What the probe player (the trainer's optimizer) updates: W and b."""
        return self.probe.trainable_variables

    @property
    def encoder_variables(self):
        """What the encoder player updates: g_1 (and with ``mi_weight`` g_2, the critic
        and the bound's baseline)."""
        variables = list(self.encoder.trainable_variables)
        if self.mi_weight:
            for part in (self.encoder_y, self.critic, self.bound):
                if part is not None:
                    variables += part.trainable_variables
        return variables

    @property
    def evaluated_encoder(self):
        """g_1 = ``encoder``, the player that hides the label from the probe."""
        return self.encoder

    def checkpoint_record(self, step):
        """The encoder updates done by ``step`` (Fig. 1c's x-axis)."""
        return {"encoder_iterations": self.encoder_iterations(step)}

    # --- the alternation -------------------------------------------------------------

    def is_encoder_step(self, step):
        """True where training step ``step`` (0-based) updates the encoder."""
        after = tf.cast(step, tf.int64) - self.warmup_steps
        return tf.logical_and(after >= 0, after % (self.probe_steps + 1) == self.probe_steps)

    def encoder_iterations(self, step):
        """Encoder updates done by the first ``step`` training steps (Fig. 1c's x-axis)."""
        return max(0, (int(step) - self.warmup_steps) // (self.probe_steps + 1))

    def _probe_update(self, batch):
        variables = self.probe_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(_watchable(variables))
            outputs = self.forward(batch, training=True)
            # Every replica computes the global loss; the optimizer sums the replicas.
            scaled = outputs["probe_loss"] / distribute.num_replicas()
        self.optimizer.apply(tape.gradient(scaled, variables), variables)
        self._record({**outputs, "encoder_update": tf.constant(0.0)})
        return tf.constant(False)

    def _encoder_update(self, batch):
        variables = self.encoder_variables
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(_watchable(variables))
            outputs = self.forward(batch, training=True)
            objective = outputs["encoder_loss"]
            if self.mi_weight:
                objective -= self.mi_weight * outputs["mi"]
            scaled = objective / distribute.num_replicas()
        self.encoder_optimizer.apply(tape.gradient(scaled, variables), variables)
        # The trainer counts training steps with its optimizer's counter.
        self.optimizer.iterations.assign_add(1)
        self._record({**outputs, "encoder_update": tf.constant(1.0)})
        return tf.constant(True)

    def train_step(self, batch):
        encoder_turn = self.is_encoder_step(self.optimizer.iterations)
        _switch(encoder_turn, self._encoder_update, self._probe_update, batch)
        self.after_train_step()
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    # --- building, export, config ----------------------------------------------------

    def build_from_batch(self, batch):
        """Creates every variable (and the encoder optimizer's) from ``batch``."""
        z = self.encoder(batch["x"])
        self.probe(z)
        if self.mi_weight:
            self._mi(z, batch["y"], training=False)
        self.encoder_optimizer.build(self.encoder_variables)
        self.built = True

    def export_endpoints(self):
        """What the SavedModel export holds: g_1 as "encoder_x" (and g_2 as "encoder_y")."""
        endpoints = {}
        for name, encoder in (("encoder_x", self.encoder), ("encoder_y", self.encoder_y)):
            if encoder is not None:
                spec = tf.TensorSpec([None, *encoder.inputs[0].shape[1:]], tf.float32, name="x")
                endpoints[name] = (encoder, [spec])
        return endpoints

    def get_config(self):
        return {
            "num_classes": self.num_classes,
            "warmup_steps": self.warmup_steps,
            "probe_steps": self.probe_steps,
            "encoder_learning_rate": self.encoder_learning_rate,
            "mi_weight": self.mi_weight,
            **self._parts,
        }


def _switch(predicate, true_fn, false_fn, batch):
    """Runs ``true_fn(batch)`` where ``predicate`` holds, else ``false_fn(batch)``; both
    apply an optimizer. Called in replica context.

    Strategies that all-reduce through ``merge_call`` (MirroredStrategy) cannot take a
    ``tf.cond`` in replica context whose branches call ``merge_call``; there the cond
    runs in cross-replica context and each branch runs the update on every replica
    (the pattern of Keras's LossScaleOptimizer). The predicate is the same on every
    replica: it depends on the step only.
    """
    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(predicate, lambda: true_fn(batch), lambda: false_fn(batch))
        return

    def cross_replica(distribution, predicate, batch):
        predicate = distribution.experimental_local_results(predicate)[0]

        def branch(fn):
            def run():
                distribution.extended.call_for_each_replica(fn, args=(batch,))
                return tf.constant(0)

            return run

        tf.cond(predicate, branch(true_fn), branch(false_fn))

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(predicate, batch))


def _watchable(variables):
    """The backend variables behind Keras variables, which ``GradientTape.watch`` takes."""
    return [getattr(variable, "value", variable) for variable in variables]
