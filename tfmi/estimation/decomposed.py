"""The decomposed (DEMI) estimators of ``estimate_mi``: a Keras
``DecomposedEstimatorModel`` trained on batches, early stopping on the validation
batches (``fit_loop.EarlyStopping``; the best validation weights are restored), then the mean of the test-batch
values, read once; the standard error is that of the mean over the test batches.
"""

import keras
import numpy as np
import tensorflow as tf

from tfmi.estimation import heldout
from tfmi.estimation.fit_loop import EarlyStopping
from tfmi.estimation.candidates import curve_point

__all__ = ["demi_estimate"]


def demi_estimate(arrays, parts, settings, conditional_sampler):
    """(HeldOutEstimate over the test batches, curve, best step) of
    ``settings.estimator`` on ``arrays`` {"x", "xprime", "y"} split by the row
    indices ``parts`` (train, validation, test)."""
    batch_size = settings.batch_size
    train, valid, test = (
        _batches(
            {name: array[part].astype(np.float32) for name, array in arrays.items()},
            batch_size,
            seed,
            conditional_sampler,
        )
        for part, seed in zip(parts, (settings.seed, None, None))
    )
    # Imported here: the other estimators never load the model package (tfmi.models).
    from tfmi.models.demi import DecomposedEstimatorModel

    model = DecomposedEstimatorModel(settings.estimator, **{"seed": settings.seed, "dtype": "float32",
                                                                **settings.critic_args})
    model.compile(optimizer=keras.optimizers.Adam(settings.learning_rate))
    model.build_from_batch(next(iter(valid)))
    stopper = _StopOnValidation(EarlyStopping(settings.patience, "max"))
    history = model.fit(
        train,
        validation_data=valid,
        steps_per_epoch=settings.eval_every,
        epochs=-(-settings.max_steps // settings.eval_every),
        callbacks=[stopper],
        shuffle=False,  # the train batches are shuffled by tf.data
        verbose=settings.verbose,
    )
    curve = [
        curve_point((k + 1) * settings.eval_every, float(a), float(b), f"{settings.estimator} (nats)")
        for k, (a, b) in enumerate(zip(history.history["mi"], history.history["val_mi"]))
    ]
    best_step = curve[int(np.argmax([point["valid"] for point in curve]))]["stage"]
    values = np.array([float(model.forward(batch)["mi"]) for batch in test])
    stderr = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
    result = heldout.HeldOutEstimate(float(np.mean(values)), stderr, values, 2 * np.log(batch_size), "demi")
    return result, curve, best_step


class _StopOnValidation(keras.callbacks.Callback):
    """``fit_loop.EarlyStopping`` on the validation "val_mi" of each Keras epoch; the
    best weights are restored when training ends."""

    def __init__(self, stopper):
        super().__init__()
        self.stopper = stopper

    def on_epoch_end(self, epoch, logs=None):
        if not self.stopper.update(epoch, float(logs["val_mi"]), self.model.get_weights):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopper.best_weights is not None:
            self.model.set_weights(self.stopper.best_weights)


def _conditional_negatives(sampler, xprime, k, dim_y):
    """``sampler(xprime, k)`` as float32 [b, k, d_y]; ValueError for any other shape."""
    samples = np.asarray(sampler(xprime, k), dtype=np.float32)
    if samples.shape != (len(xprime), k, dim_y):
        raise ValueError(
            f"estimate_mi: conditional_sampler(xprime, {k}) must return [{len(xprime)}, {k}, "
            f"{dim_y}] samples of p(y | x'), got {samples.shape}."
        )
    return samples


def _batches(arrays, batch_size, shuffle_seed=None, conditional_sampler=None):
    """Batches of the dict ``arrays``, once in order, or with ``shuffle_seed`` endlessly,
    each epoch in its own order; adds "y_cond" [B, B - 1, d_y] from the sampler."""
    if shuffle_seed is None:
        dataset = tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size, drop_remainder=True)
    else:
        dataset = tf.data.Dataset.counter().flat_map(_epoch_batches(arrays, batch_size, shuffle_seed))
    if conditional_sampler is None:
        return dataset
    dim_y = arrays["y"].shape[1]
    _conditional_negatives(conditional_sampler, arrays["xprime"][:batch_size], batch_size - 1, dim_y)

    def add_negatives(batch):
        y_cond = tf.numpy_function(
            lambda xprime: _conditional_negatives(conditional_sampler, xprime, batch_size - 1, dim_y),
            [batch["xprime"]],
            tf.float32,
        )
        y_cond.set_shape([batch_size, batch_size - 1, dim_y])
        return {**batch, "y_cond": y_cond}

    return dataset.map(add_negatives)


def _epoch_batches(arrays, batch_size, seed):
    """epoch -> that epoch's batches of ``arrays`` in a random order drawn by a stateless op
    of (seed, epoch): neither the caller's global seed nor its generators enter (a
    ``Dataset.shuffle`` seed is combined with the global one)."""
    tensors = {name: tf.constant(array) for name, array in arrays.items()}
    rows = len(arrays["x"])

    def batches(epoch):
        order = tf.argsort(tf.random.stateless_uniform([rows], seed=tf.stack([tf.constant(seed, tf.int64), epoch])))
        epoch_rows = {name: tf.gather(tensor, order) for name, tensor in tensors.items()}
        return tf.data.Dataset.from_tensor_slices(epoch_rows).batch(batch_size, drop_remainder=True)

    return batches
