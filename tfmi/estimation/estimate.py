"""``estimate_mi``: fit a critic on paired samples and report a held-out MI estimate."""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds as bounds_lib
from tfmi import critics as critics_lib
from tfmi.models import Bound, DemiModel, InfoMaxModel

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
    """Batches of the dict ``arrays``; adds "y_cond" [B, B - 1, d_y] from the sampler."""
    dataset = tf.data.Dataset.from_tensor_slices(arrays)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(arrays["x"]), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
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


DEMI_ESTIMATORS = ("demi", "demi_is", "demi_bo", "demi_var")


def _make_model(estimator, critic, settings):
    if estimator in DEMI_ESTIMATORS:
        return DemiModel(estimator, **settings["critic_args"])
    return InfoMaxModel(
        critics_lib.get(critic, **settings["critic_args"]), Bound(estimator, **settings["bound_args"])
    )


def estimate_mi(
    x,
    y=None,
    *,
    xprime=None,
    estimator="infonce",
    critic="separable",
    critic_args=None,
    bound_args=None,
    conditional_sampler=None,
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
      xprime: [n, d_x'] a subview of x (less informed than x, e.g. a crop or the last
        utterance) for the decomposed estimators; I(x, x'; y) = I(x'; y) + I(x; y | x').
      estimator: a bound of ``tfmi.bounds.UNCONDITIONAL_BOUNDS``, or a decomposed
        estimator of the total I({x, x'}; y) (Sordoni et al. 2021), which needs
        ``xprime``:
          "demi"      I_NCE(x'; y) + I_CNCE(x; y | x'): needs ``conditional_sampler``,
                      i.e. a known p(y | x') to draw the conditional negatives from;
          "demi_bo"   the conditional critic learned by I_BO, "demi_is" by I_IS,
                      "demi_var" from negatives of a learned Gaussian q(y | x'):
                      these need no p(y | x'). The estimate is I_NCE(x'; y) + I_CNCE
                      when a sampler is given, else I_NCE(x'; y) + I_IS on shared
                      in-batch negatives (at most 2 log(batch_size)).
        InfoNCE cannot exceed log(batch_size); NWJ, TUBA, DV, MINE and SMILE can, at
        higher variance.
      critic: a name of ``tfmi.critics.CRITICS`` or a critic layer (the DEMI
        estimators use their own MLP encoders f([x', x]) and g(y)).
      critic_args: keyword arguments of the critic (for DEMI: ``hidden_units``,
        ``embed_dim``); bound_args: of ``Bound`` (e.g. ``{"clip": 5.0}`` for SMILE).
      conditional_sampler: ``f(xprime [b, d_x'], k) -> [b, k, d_y]`` samples of
        p(y | x'), the negatives of I_CNCE.
      batch_size: pairs per batch; also the number of candidates of each positive.
      test_fraction: share of pairs held out for the estimate.

    Returns:
      An ``MIEstimate`` with ``.mi`` (held-out, nats), ``.mi_train``, ``.curve``,
      ``.best_epoch`` and ``.settings``.
    """
    known = bounds_lib.UNCONDITIONAL_BOUNDS + DEMI_ESTIMATORS
    if estimator not in known:
        raise ValueError(f"estimate_mi: unknown estimator {estimator!r}; choose one of {list(known)}.")
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError("estimate_mi: pass either a dataset of (x, y) pairs or two arrays, not both.")
        x, y = _from_dataset(x)
    elif y is None:
        raise ValueError("estimate_mi: y is missing; pass paired arrays x and y.")
    arrays = {"x": _as_matrix(x, "x"), "y": _as_matrix(y, "y")}
    if estimator in DEMI_ESTIMATORS:
        if xprime is None:
            raise ValueError(f"estimate_mi: estimator {estimator!r} needs the subview xprime.")
        arrays["xprime"] = _as_matrix(xprime, "xprime")
        if estimator == "demi" and conditional_sampler is None:
            raise ValueError(
                "estimate_mi: estimator 'demi' draws its conditional negatives from p(y | x'): "
                "pass conditional_sampler, or use 'demi_bo' / 'demi_is' / 'demi_var', which need none."
            )
    elif xprime is not None or conditional_sampler is not None:
        raise ValueError(
            f"estimate_mi: xprime and conditional_sampler go with the DEMI estimators "
            f"{list(DEMI_ESTIMATORS)}, not {estimator!r}."
        )
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"estimate_mi: x, y (and xprime) must pair up row by row, got {lengths} rows.")
    n = lengths["x"]
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"estimate_mi: test_fraction must lie in (0, 1), got {test_fraction}.")
    if batch_size < 2:
        raise ValueError(f"estimate_mi: batch_size must be >= 2, got {batch_size}.")
    n_test = int(round(n * test_fraction))
    n_train = n - n_test
    if min(n_train, n_test) < batch_size:
        raise ValueError(
            f"estimate_mi: {n} samples give {n_train} train and {n_test} test pairs, fewer "
            f"than one batch of {batch_size} in a split; use more samples or a smaller batch_size."
        )
    default_args = {} if estimator in DEMI_ESTIMATORS else DEFAULT_CRITIC_ARGS.get(critic, {})
    settings = {
        "estimator": estimator,
        "critic": critic if isinstance(critic, str) else type(critic).__name__,
        "critic_args": dict(critic_args or default_args),
        "bound_args": dict(bound_args or {}),
        "conditional_sampler": getattr(conditional_sampler, "__name__", None),
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
    order = np.random.default_rng(seed).permutation(n)
    train_arrays = {name: array[order[:n_train]] for name, array in arrays.items()}
    test_arrays = {name: array[order[n_train:]] for name, array in arrays.items()}
    train = _batches(train_arrays, batch_size, seed, conditional_sampler)
    train_eval = _batches(train_arrays, batch_size, None, conditional_sampler)
    test = _batches(test_arrays, batch_size, None, conditional_sampler)

    model = _make_model(estimator, critic, settings)
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
