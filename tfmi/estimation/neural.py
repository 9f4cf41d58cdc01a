"""Fits a neural critic f(x, y) on in-memory pairs with a compiled training loop.

The loop draws shuffled train batches by index from tensors already in memory and runs
``steps_per_call`` optimizer steps per call of one ``tf.function``: Keras ``fit``'s
per-epoch overhead dominates at the sizes ``estimate_mi`` sees. Every ``eval_every``
steps the critic is scored on the validation pairs by a held-out estimator; the best
weights on validation are kept and training stops after ``patience`` evaluations without
improvement. The test pairs are never seen here.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds as bounds_lib
from tfmi import critics as critics_lib
from tfmi.estimation import heldout
from tfmi.estimation.defaults import default_critic_args
from tfmi.estimation.fit_loop import EarlyStopping, fit_loop

__all__ = ["FittedCritic", "fit_critic", "heldout_args"]


@dataclasses.dataclass(eq=False)  # hashable: tf.function keys its traces on self
class FittedCritic:
    """A trained critic as a pair scorer.

    Attributes:
      critic: the Keras critic layer (weights: the best on validation).
      history: one dict per evaluation: {"step", "train_mi", "valid_mi"}.
      best_step: the step whose weights were kept.
    """

    critic: keras.layers.Layer
    history: list
    best_step: int

    def scores(self, x, y):
        """[a, b] float32 array of f(x_i, y_j) on the inputs as given (the caller
        normalises them)."""
        return self._score(tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.float32)).numpy()

    @tf.function(reduce_retracing=True)
    def _score(self, x, y):
        return _float32_scores(self.critic, x, y)


def _float32_scores(critic, x, y):
    """The critic's [B, B] scores in float32, whatever its dtype policy (a critic layer
    the caller built under a mixed-precision policy computes in float16)."""
    return tf.cast(critic(x, y), tf.float32)


def heldout_args(bound, bound_args=None):
    """The keyword arguments of ``heldout.estimate`` that score a critic trained with
    ``bound`` on held-out pairs: the same bound with all pairs as candidates, as its record
    gives it (``tfmi.bounds.RECORDS``; the interpolated bound: InfoNCE; MINE: DV, its
    value) for its settings ``bound_args`` (defaults: its signature's). Only a bound of
    ``tfmi.bounds.UNCONDITIONAL_BOUNDS`` has one; any other name is refused."""
    if bound not in bounds_lib.UNCONDITIONAL_BOUNDS:
        raise ValueError(
            f"No held-out estimate for bound {bound!r}; choose one of {list(bounds_lib.UNCONDITIONAL_BOUNDS)}."
        )
    settings = {**bounds_lib.arguments(bound), **(bound_args or {})}
    return bounds_lib.RECORDS[bound].heldout_args(settings)


def _objective(bound, bound_args):
    """The training objective as a function of the [B, B] scores: ``bound`` with its own
    settings and, if its record names a state, the value of that layer built with the
    state's settings (MINE's moving average and its momentum). The critic is trained
    alone, so a baseline (TUBA, the interpolated bound) is "none": a(x) = 1."""
    function = bounds_lib.get(bound)
    function_args, state_args = bounds_lib.split_settings(bound, bound_args)
    state_layer = bounds_lib.RECORDS[bound].state
    if state_layer is None:
        return lambda scores: function(scores, **function_args)
    if state_layer is bounds_lib.Baseline:
        if state_args:
            raise ValueError(
                f"{bound}: the estimator trains the critic alone, so the baseline is a(x) = 1; "
                f"remove {sorted(state_args)} from bound_args."
            )
        state_args = {"baseline": "none"}
    state = state_layer(**state_args, dtype="float32")
    return lambda scores: function(scores, **{state.argument: state(scores)}, **function_args)


def _training_steps(layer, objective, optimizer, x_train, y_train, batch_size, generator):
    """A tf.function ``steps -> mean objective`` that runs ``steps`` Adam steps of the
    critic on batches of ``batch_size`` rows drawn with replacement by ``generator``."""
    optimizer.build(layer.trainable_variables)
    n = int(x_train.shape[0])

    @tf.function
    def train_steps(steps):
        total = tf.constant(0.0)
        for _ in tf.range(steps):
            index = generator.uniform([batch_size], 0, n, dtype=tf.int32)
            with tf.GradientTape() as tape:
                value = objective(_float32_scores(layer, tf.gather(x_train, index), tf.gather(y_train, index)))
                loss = -value
            gradients = tape.gradient(loss, layer.trainable_variables)
            optimizer.apply_gradients(zip(gradients, layer.trainable_variables))
            total += value
        return total / tf.cast(steps, tf.float32)

    return train_steps


def fit_critic(
    x_train,
    y_train,
    x_valid,
    y_valid,
    *,
    critic,
    critic_args,
    bound,
    bound_args,
    batch_size,
    learning_rate,
    max_steps,
    eval_every,
    patience,
    seed,
    log=None,
):
    """Trains ``critic`` by maximising ``bound`` on train batches; keeps the weights with
    the best held-out estimate on validation (``heldout.estimate`` with ``heldout_args``:
    the same bound, validation pairs in blocks of ``heldout.SELECTION_CANDIDATES``).

    Args:
      x_train, y_train, x_valid, y_valid: float32 arrays [n, d] of comparable scale
        (``estimate_mi`` passes normal scores).
      critic: a name of ``tfmi.critics.CRITICS`` or a critic layer; critic_args its
        keyword arguments (None: ``default_critic_args``). The other defaults are
        ``estimate_mi``'s, the one caller, so they live in one place.
      bound, bound_args: a name of ``tfmi.bounds.UNCONDITIONAL_BOUNDS`` and its
        settings (TUBA and the interpolated bound get the baseline a(x) = 1).
      batch_size: pairs per step (each positive sees batch_size - 1 negatives).
      learning_rate: peak of Adam's rate, decayed by a cosine over ``max_steps``.
      eval_every, patience: validation every so many steps; stop after ``patience``
        evaluations without improvement.
      log: called with a progress line after each evaluation (e.g. ``logging.info``).

    Returns:
      A ``FittedCritic``.
    """
    if critic_args is None:
        critic_args = default_critic_args(critic, np.shape(x_train)[1] + np.shape(y_train)[1])
    # The seed and the float32 policy go to the critic's own initialisers and layers: the
    # caller's random streams and dtype policy are neither read nor changed.
    layer = critics_lib.get(critic, **{"seed": seed, "dtype": "float32", **(critic_args or {})})
    objective = _objective(bound, dict(bound_args or {}))
    x_train = tf.constant(x_train, tf.float32)
    y_train = tf.constant(y_train, tf.float32)
    layer(x_train[:2], y_train[:2])
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max_steps, alpha=0.05)
    train_steps = _training_steps(layer, objective, keras.optimizers.Adam(schedule), x_train, y_train, batch_size,
                                  tf.random.Generator.from_seed(seed))
    scorer = FittedCritic(layer, [], 0)
    stopper = EarlyStopping(patience, "max")
    history = fit_loop(
        lambda steps: float(train_steps(tf.constant(steps))),
        lambda: heldout.estimate(scorer.scores, x_valid, y_valid, **heldout_args(bound, bound_args),
                                 max_candidates=heldout.SELECTION_CANDIDATES).mi,
        stopper, layer.get_weights, max_steps=max_steps, eval_every=eval_every,
        log=None if log is None else lambda step, train, valid: log(
            f"step {step}: train {train:.4f}, validation {valid:.4f} nats"))
    scorer.history = [{"step": step, "train_mi": train, "valid_mi": valid} for step, train, valid in history]
    if stopper.best_weights is not None:
        layer.set_weights(stopper.best_weights)
    scorer.best_step = stopper.best_step
    return scorer
