"""Optimizers and learning-rate schedules by name, from a config's ``optimizer`` section."""

import keras

__all__ = ["make_optimizer", "make_schedule"]

OPTIMIZERS = ("adam", "sgd")
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


def make_optimizer(config, total_steps):
    """Builds the Keras optimizer of ``config`` (name, learning_rate, schedule, ...)."""
    name = config.name
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}.")
    learning_rate = make_schedule(
        config.learning_rate,
        config.get("schedule", "constant"),
        total_steps,
        config.get("warmup_steps", 0),
    )
    weight_decay = config.get("weight_decay", 0.0) or None
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
    return keras.optimizers.SGD(
        learning_rate, momentum=config.get("momentum", 0.9), weight_decay=weight_decay
    )
