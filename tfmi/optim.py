"""Optimizers and learning-rate schedules by name, from a config's ``optimizer`` section."""

import math

import keras
import tensorflow as tf

__all__ = ["make_optimizer", "make_schedule", "scaled_learning_rate", "LARS", "LR_SCALINGS"]

OPTIMIZERS = ("adam", "sgd", "lars")
LR_SCALINGS = ("none", "linear", "sqrt")
SCHEDULES = ("constant", "cosine", "linear")


def make_schedule(learning_rate, schedule="constant", total_steps=1, warmup_steps=0):
    """Learning rate per step: linear warm-up over ``warmup_steps``, then ``schedule``:
    "constant", "cosine" (decay to 0 at ``total_steps``) or "linear" (decay to 0)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; choose one of {list(SCHEDULES)}.")
    if schedule == "constant" and warmup_steps == 0:
        return learning_rate
    decay_steps = max(total_steps - warmup_steps, 1)
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            0.0 if warmup_steps else learning_rate,
            decay_steps,
            warmup_target=learning_rate if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    if schedule == "linear":
        decay = keras.optimizers.schedules.PolynomialDecay(learning_rate, decay_steps, 0.0)
    else:
        decay = None
    return _Warmup(learning_rate, warmup_steps, decay)


@keras.saving.register_keras_serializable("tfmi")
class _Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``learning_rate``, then ``decay`` (or constant)."""

    def __init__(self, learning_rate, warmup_steps, decay=None):
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.decay = decay

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        after = self.decay(step - self.warmup_steps) if self.decay else self.learning_rate
        if not self.warmup_steps:
            return after
        warm = self.learning_rate * (step + 1.0) / self.warmup_steps
        return keras.ops.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay": keras.saving.serialize_keras_object(self.decay),
        }


def scaled_learning_rate(learning_rate, scaling="none", batch_size=None):
    """The peak learning rate for a global batch of ``batch_size`` (SimCLR's rule):
    "none" -> lr, "linear" -> lr * B / 256 (Goyal et al. 2017), "sqrt" -> lr * sqrt(B)."""
    if scaling not in LR_SCALINGS:
        raise ValueError(f"Unknown optimizer.lr_scaling {scaling!r}; choose one of {list(LR_SCALINGS)}.")
    if scaling == "none":
        return learning_rate
    if not batch_size:
        raise ValueError(f"optimizer.lr_scaling={scaling!r} needs the global batch size.")
    return learning_rate * (batch_size / 256.0 if scaling == "linear" else math.sqrt(batch_size))


@keras.saving.register_keras_serializable("tfmi")
class LARS(keras.optimizers.Optimizer):
    """LARS: SGD with momentum and a layer-wise trust ratio (You et al. 2017), as in
    SimCLR's ``LARSOptimizer`` (classic momentum).

    For each variable w with gradient g (learning rate lr, momentum m, decay lambda):

        g    <- g + lambda w                                  (if w is decayed)
        r    =  eta |w| / |g|  if |w| > 0 and |g| > 0 else 1  (if w is adapted, else 1)
        v    <- m v + lr r g
        w    <- w - v            (Nesterov: w <- w - (m v + lr r g))

    Variables of rank <= 1 (batch-norm scales and offsets, biases) are neither decayed
    nor adapted, nor those whose path contains one of ``exclude`` (SimCLR excludes
    batch norm and biases by name). ``eta`` is the trust coefficient (0.001).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, weight_decay=0.0, eta=0.001, nesterov=False,
                 exclude=(), name="lars", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = momentum
        self.lars_weight_decay = weight_decay
        self.eta = eta
        self.nesterov = nesterov
        self.exclude = tuple(exclude)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum")

    def _adapted(self, variable):
        if len(variable.shape) <= 1:
            return False
        path = getattr(variable, "path", variable.name)
        return not any(pattern in path for pattern in self.exclude)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = tf.cast(learning_rate, variable.dtype)
        gradient = tf.cast(gradient, variable.dtype)
        velocity = self.momentums[self._get_variable_index(variable)]
        if self._adapted(variable):
            weights = tf.convert_to_tensor(variable)
            if self.lars_weight_decay:
                gradient = gradient + self.lars_weight_decay * weights
            w_norm, g_norm = tf.norm(weights), tf.norm(gradient)
            trust = tf.where(
                w_norm > 0, tf.where(g_norm > 0, self.eta * w_norm / tf.maximum(g_norm, 1e-30), 1.0), 1.0
            )
            learning_rate = learning_rate * tf.cast(trust, variable.dtype)
        step = learning_rate * gradient
        new_velocity = self.momentum * velocity + step
        self.assign(velocity, new_velocity)
        self.assign_sub(variable, self.momentum * new_velocity + step if self.nesterov else new_velocity)

    def get_config(self):
        config = super().get_config()
        config.update(momentum=self.momentum, weight_decay=self.lars_weight_decay, eta=self.eta,
                      nesterov=self.nesterov, exclude=list(self.exclude))
        return config


def make_optimizer(config, total_steps, batch_size=None):
    """Builds the Keras optimizer of ``config`` (name, learning_rate, schedule, ...).

    ``lr_scaling`` ("none" | "linear" | "sqrt", see ``scaled_learning_rate``) scales
    ``learning_rate`` by the global ``batch_size``; ``weight_decay_exclude`` lists
    name patterns kept out of weight decay (e.g. ["gamma", "beta", "bias"]); "lars"
    takes ``momentum``, ``weight_decay``, ``eta`` and ``nesterov``.
    """
    name = config.name
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}.")
    learning_rate = make_schedule(
        scaled_learning_rate(config.learning_rate, config.get("lr_scaling", "none"), batch_size),
        config.get("schedule", "constant"),
        total_steps,
        config.get("warmup_steps", 0),
    )
    weight_decay = config.get("weight_decay", 0.0) or None
    exclude = tuple(config.get("weight_decay_exclude", ()) or ())
    if name == "lars":
        return LARS(
            learning_rate, momentum=config.get("momentum", 0.9), weight_decay=weight_decay or 0.0,
            eta=config.get("eta", 0.001), nesterov=config.get("nesterov", False), exclude=exclude,
        )
    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
    else:
        optimizer = keras.optimizers.SGD(
            learning_rate, momentum=config.get("momentum", 0.9), weight_decay=weight_decay,
            nesterov=config.get("nesterov", False),
        )
    if weight_decay and exclude:
        optimizer.exclude_from_weight_decay(var_names=list(exclude))
    return optimizer
