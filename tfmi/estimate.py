"""``estimate_mi``: fit a critic on paired samples and report a held-out MI estimate."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds as bounds_lib
from tfmi import critics as critics_lib
from tfmi.models import Bound, InfoMaxModel

__all__ = ["estimate_mi", "MIEstimate"]

DEFAULT_CRITIC_ARGS = {
    "separable": {"hidden_units": (256, 256), "embed_dim": 32},
    "concat": {"hidden_units": (256, 256)},
}


@dataclasses.dataclass
class MIEstimate:
    """The result of ``estimate_mi``.

    Attributes:
      mi: the estimate on the held-out split, in nats (mean of the bound over its batches).
      mi_train: the estimate on the training split with the same (best) critic.
      curve: one dict per epoch: {"epoch", "train_mi", "test_mi"}.
      best_epoch: the epoch whose critic was kept (early stopping on ``test_mi``).
      settings: every argument that produced the estimate.
    """

    mi: float
    mi_train: float
    curve: list
    best_epoch: int
    settings: dict

    def __float__(self):
        return self.mi


def _as_matrix(array, name):
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"estimate_mi: {name} must be [n_samples, n_features], got shape {array.shape}.")
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array).all(axis=1)))
        raise ValueError(f"estimate_mi: {name} holds NaN or inf values in {bad} rows; remove them first.")
    return array


def _from_dataset(dataset):
    """Collects a finite dataset of single (x, y) pairs (or {"x", "y"} dicts) into arrays."""
    xs, ys = [], []
    for element in dataset.as_numpy_iterator():
        x, y = (element["x"], element["y"]) if isinstance(element, dict) else element
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError("estimate_mi: the dataset is empty.")
    return np.stack(xs), np.stack(ys)


def _batches(x, y, batch_size, shuffle_seed=None):
    dataset = tf.data.Dataset.from_tensor_slices({"x": x, "y": y})
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=True)


def estimate_mi(
    x,
    y=None,
    *,
    estimator="infonce",
    critic="separable",
    critic_args=None,
    bound_args=None,
    batch_size=128,
    learning_rate=5e-4,
    max_epochs=100,
    patience=5,
    test_fraction=0.2,
    seed=0,
    verbose=0,
):
    """Estimates I(x; y) in nats from paired samples.

    Splits the pairs into train and test, trains ``critic`` by maximising the bound
    ``estimator`` on shuffled train batches, stops when the test estimate has not
    improved for ``patience`` epochs (keeping the best critic), and returns the mean
    test-batch estimate. Deterministic for a given ``seed``.

    Args:
      x, y: arrays [n, d_x] and [n, d_y] of paired samples (1-d arrays are one
        feature); or ``x`` a finite ``tf.data.Dataset`` of single (x, y) pairs and
        ``y=None`` (call ``.unbatch()`` on a batched one).
      estimator: a bound of ``tfmi.bounds.UNCONDITIONAL_BOUNDS``. InfoNCE cannot
        exceed log(batch_size); NWJ, TUBA, DV, MINE and SMILE can, at higher variance.
      critic: a name of ``tfmi.critics.CRITICS`` or a critic layer.
      critic_args, bound_args: keyword arguments of the critic and of ``Bound``
        (e.g. ``{"clip": 5.0}`` for SMILE, ``{"alpha": 0.5}`` for interpolated).
      batch_size: pairs per batch; also the number of candidates of each positive.
      test_fraction: share of pairs held out for the estimate.

    Returns:
      An ``MIEstimate`` with ``.mi`` (held-out, nats), ``.mi_train``, ``.curve``,
      ``.best_epoch`` and ``.settings``.
    """
    if estimator not in bounds_lib.UNCONDITIONAL_BOUNDS:
        raise ValueError(
            f"estimate_mi: unknown estimator {estimator!r}; choose one of "
            f"{list(bounds_lib.UNCONDITIONAL_BOUNDS)}."
        )
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError("estimate_mi: pass either a dataset of (x, y) pairs or two arrays, not both.")
        x, y = _from_dataset(x)
    elif y is None:
        raise ValueError("estimate_mi: y is missing; pass paired arrays x and y.")
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if len(x) != len(y):
        raise ValueError(f"estimate_mi: x and y must pair up row by row, got {len(x)} and {len(y)} rows.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"estimate_mi: test_fraction must lie in (0, 1), got {test_fraction}.")
    if batch_size < 2:
        raise ValueError(f"estimate_mi: batch_size must be >= 2, got {batch_size}.")
    n_test = int(round(len(x) * test_fraction))
    n_train = len(x) - n_test
    if min(n_train, n_test) < batch_size:
        raise ValueError(
            f"estimate_mi: {len(x)} samples give {n_train} train and {n_test} test pairs, fewer "
            f"than one batch of {batch_size} in a split; use more samples or a smaller batch_size."
        )
    settings = {
        "estimator": estimator,
        "critic": critic if isinstance(critic, str) else type(critic).__name__,
        "critic_args": dict(critic_args or DEFAULT_CRITIC_ARGS.get(critic, {})),
        "bound_args": dict(bound_args or {}),
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "max_epochs": max_epochs,
        "patience": patience,
        "test_fraction": test_fraction,
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
    }

    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(x))
    train_idx, test_idx = order[:n_train], order[n_train:]
    train = _batches(x[train_idx], y[train_idx], batch_size, shuffle_seed=seed)
    train_eval = _batches(x[train_idx], y[train_idx], batch_size)
    test = _batches(x[test_idx], y[test_idx], batch_size)

    model = InfoMaxModel(
        critics_lib.get(critic, **settings["critic_args"]),
        Bound(estimator, **settings["bound_args"]),
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate))
    model.build_from_batch(next(iter(test)))
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_mi", mode="max", patience=patience, restore_best_weights=True
    )
    history = model.fit(
        train, validation_data=test, epochs=max_epochs, callbacks=[stopper], shuffle=False, verbose=verbose
    )
    curve = [
        {"epoch": epoch + 1, "train_mi": float(train_mi), "test_mi": float(test_mi)}
        for epoch, (train_mi, test_mi) in enumerate(zip(history.history["mi"], history.history["val_mi"]))
    ]
    best_epoch = int(np.argmax([point["test_mi"] for point in curve])) + 1
    mi = model.evaluate(test, return_dict=True, verbose=0)["mi"]
    mi_train = model.evaluate(train_eval, return_dict=True, verbose=0)["mi"]
    return MIEstimate(float(mi), float(mi_train), curve, best_epoch, settings)
