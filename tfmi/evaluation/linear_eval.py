r"""Linear evaluation of a frozen representation (Tschannen et al. 2020, Sec. 3 "Setup").

The downstream protocol of the paper: encode the top halves with the frozen encoder
g_1, fit a linear classifier for the digit on the representations of *all* training
examples, and report its accuracy on the test set:

    z = g_1(x_top),   z~ = (z - a) / s          (a, s fitted on the training z only)
    p(label = k | z) = softmax_k(W z~ + b),     min_{W,b}  1/2 ||W||_F^2 + C sum_i -log p(label_i | z_i)

solved with SAGA (scikit-learn's ``LogisticRegression(solver="saga")``, multinomial).
The paper's reference point is the same classifier on the raw top-half pixels
(``pixel_baseline``): about 85% on MNIST, about 84% with the coupled noise of
sigma = 0.05, about 24% on CIFAR-10.

Defaults are those of the authors' notebook: min-max scaling to [0, 1] per feature
(a = min, s = max - min), C = 10 and tol = 0.1, at which SAGA stops after a few
epochs (seconds on the 60,000 MNIST digits; measured: 84.9% clean, 83.9% noisy top-half
pixels). ``scaler="standard"`` (a = mean, s = std) is the usual alternative; with
tol = 0.1 it stops too early on raw pixels, so pair it with a smaller ``tol``.

Any TensorFlow SavedModel with a serving signature of one input can be evaluated
(``load_encoder``); a trainer workdir's ``export/encoder_x`` is found from the workdir.
"""

import dataclasses
import os
import time
import warnings

import numpy as np
import tensorflow as tf

from tfmi.workdir import Workdir

__all__ = [
    "SCALERS",
    "LinearEvalResult",
    "SavedModelEncoder",
    "resolve_export",
    "load_encoder",
    "encode",
    "fit_linear_classifier",
    "evaluate_encoder",
    "pixel_baseline",
    "IMAGE_DATASETS",
    "CLASSIFIERS",
    "encode_images",
    "fit_keras_linear_classifier",
    "evaluate_images",
]

SCALERS = ("minmax", "standard", "none")
DEFAULT_CLASSIFIER = {"scaler": "minmax", "C": 10.0, "tol": 0.1, "max_iter": 100}


@dataclasses.dataclass
class LinearEvalResult:
    """The outcome of one linear evaluation.

    Attributes:
      accuracy: test accuracy of the linear classifier (fraction in [0, 1]).
      train_accuracy: its accuracy on the training representations.
      n_iter: SAGA epochs run; converged: False when ``max_iter`` stopped it first.
      fit_seconds: wall time of scaling + fitting.
      num_train, num_test, feature_dim: the sizes evaluated.
      settings: the classifier settings (scaler, C, tol, max_iter, seed).
    """

    accuracy: float
    train_accuracy: float
    n_iter: int
    converged: bool
    fit_seconds: float
    num_train: int
    num_test: int
    feature_dim: int
    settings: dict

    def __float__(self):
        return self.accuracy

    def to_dict(self):
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------
# Encoders


def _is_saved_model(path):
    return tf.io.gfile.exists(os.path.join(path, "saved_model.pb")) or tf.io.gfile.exists(
        os.path.join(path, "saved_model.pbtxt")
    )


def resolve_export(path, endpoint="encoder_x"):
    """The SavedModel directory that ``path`` names.

    ``path`` is a SavedModel directory, an export directory holding ``<endpoint>/``,
    or a trainer workdir holding ``export/<endpoint>/``. Raises ValueError naming what
    is missing otherwise.
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise ValueError(f"{path} does not exist: pass a trainer workdir or a SavedModel directory.")
    if _is_saved_model(path):
        return path
    if _is_saved_model(os.path.join(path, endpoint)):
        return os.path.join(path, endpoint)
    run = Workdir(path)
    export = run.export_dir
    if tf.io.gfile.isdir(export):
        if _is_saved_model(os.path.join(export, endpoint)):
            return os.path.join(export, endpoint)
        held = sorted(name.rstrip("/") for name in tf.io.gfile.listdir(export))
        hint = (
            " A model without encoders exports only its critic: its representation is the "
            "input itself, so its linear evaluation is the pixel baseline."
            if held == ["critic"]
            else ""
        )
        raise ValueError(
            f"{export} holds no {endpoint!r} SavedModel (it holds {held or 'nothing'}); pick "
            f"one of those with endpoint=... / --endpoint.{hint}"
        )
    if run.is_run():
        raise ValueError(
            f"the workdir {path} has no export/ directory: the trainer exports the encoders when "
            "the run finishes. Run the same training command again to finish (it resumes from "
            "the last checkpoint) and export; a config with export=False never exports."
        )
    raise ValueError(
        f"{path} is neither a SavedModel directory (no saved_model.pb) nor a trainer workdir "
        "with an export/ directory."
    )


class SavedModelEncoder:
    """A SavedModel's serving signature as a batched NumPy function [n, d] -> [n, k].

    The signature must take one tensor [None, ...]; flat inputs [n, d] are reshaped
    (row-major) to its shape when d equals the product of its dimensions, e.g. 392 ->
    [14, 28, 1]. Its output (``output``, needed only when it has several) is
    flattened to [n, k].
    """

    def __init__(self, path, signature=None, output=None):
        self.path = os.fspath(path)
        try:
            self._loaded = tf.saved_model.load(self.path)
        except (OSError, ValueError, tf.errors.OpError) as error:
            raise ValueError(f"cannot load the SavedModel at {self.path}: {type(error).__name__}: {error}") from None
        signatures = dict(self._loaded.signatures)
        if not signatures:
            raise ValueError(
                f"the SavedModel at {self.path} has no serving signature; export it with one "
                "(model.export(path) or tf.saved_model.save(..., signatures=...))."
            )
        if signature is None:
            for candidate in ("serving_default", "serve"):
                if candidate in signatures:
                    signature = candidate
                    break
            else:
                if len(signatures) > 1:
                    raise ValueError(
                        f"the SavedModel at {self.path} has several signatures {sorted(signatures)}; "
                        "choose one with signature=..."
                    )
                signature = next(iter(signatures))
        if signature not in signatures:
            raise ValueError(f"the SavedModel at {self.path} has no signature {signature!r}; "
                             f"it has {sorted(signatures)}.")
        self.signature = signature
        self._function = signatures[signature]
        args, kwargs = self._function.structured_input_signature
        specs = {**{f"arg{i}": spec for i, spec in enumerate(args)}, **kwargs}
        if len(specs) != 1:
            raise ValueError(
                f"signature {signature!r} of {self.path} takes {len(specs)} inputs {sorted(specs)}; "
                "a linear evaluation needs an encoder of one input (e.g. export/encoder_x, not the critic)."
            )
        (self.input_name, spec), = specs.items()
        shape = spec.shape
        if shape.rank is None or shape.rank < 2 or any(d is None for d in shape[1:]):
            raise ValueError(
                f"signature {signature!r} of {self.path} takes input {self.input_name!r} of shape "
                f"{shape}; it needs a batch axis and fixed sizes for the other axes."
            )
        self.input_shape = tuple(int(d) for d in shape[1:])
        self.input_dim = int(np.prod(self.input_shape))
        self.input_dtype = spec.dtype
        outputs = self._function.structured_outputs
        if not isinstance(outputs, dict):
            outputs = {"output_0": outputs}
        if output is None:
            if len(outputs) > 1:
                raise ValueError(
                    f"signature {signature!r} of {self.path} has several outputs {sorted(outputs)}; "
                    "choose the representation with output=..."
                )
            output = next(iter(outputs))
        if output not in outputs:
            raise ValueError(f"signature {signature!r} of {self.path} has no output {output!r}; "
                             f"it has {sorted(outputs)}.")
        self.output = output

    def __repr__(self):
        return f"SavedModelEncoder({self.path!r}, signature={self.signature!r}, input_shape={self.input_shape})"

    def __call__(self, inputs, batch_size=1024):
        return encode(self, inputs, batch_size=batch_size)

    def encode_batch(self, batch):
        batch = tf.reshape(tf.cast(batch, self.input_dtype), [-1, *self.input_shape])
        result = self._function(**{self.input_name: batch})[self.output]
        return tf.reshape(result, [tf.shape(result)[0], -1]).numpy()


def load_encoder(path, endpoint="encoder_x", signature=None, output=None):
    """The encoder that ``path`` names (workdir, export directory or SavedModel; see ``resolve_export``)."""
    return SavedModelEncoder(resolve_export(path, endpoint), signature=signature, output=output)


def encode(encoder, inputs, batch_size=1024):
    """Representations [n, k] (float32) of ``inputs`` [n, d], computed ``batch_size`` rows at a time.

    ``encoder`` is a ``SavedModelEncoder``, a SavedModel / workdir path, or any callable
    mapping a [b, d] array to [b, ...].
    """
    if isinstance(encoder, (str, os.PathLike)):
        encoder = load_encoder(encoder)
    inputs = np.asarray(inputs)
    if inputs.ndim != 2:
        raise ValueError(f"encode: inputs must be [n, d], got shape {inputs.shape}.")
    if isinstance(encoder, SavedModelEncoder):
        if inputs.shape[1] != encoder.input_dim:
            raise ValueError(
                f"the encoder at {encoder.path} takes inputs of {encoder.input_dim} values "
                f"(shape {list(encoder.input_shape)}) but the data have {inputs.shape[1]} values per "
                "example: it was trained on other data (e.g. CIFAR-10 halves of 1536 values vs MNIST "
                "halves of 392). Evaluate it on the data it was trained on."
            )
        step = encoder.encode_batch
    else:
        step = lambda batch: np.asarray(encoder(batch))  # noqa: E731
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    chunks = [np.asarray(step(inputs[i : i + batch_size])) for i in range(0, len(inputs), batch_size)]
    if not chunks:
        raise ValueError("encode: no inputs to encode.")
    features = np.concatenate([c.reshape(len(c), -1) for c in chunks]).astype(np.float32)
    if len(features) != len(inputs):
        raise ValueError(f"the encoder returned {len(features)} representations for {len(inputs)} inputs.")
    if not np.all(np.isfinite(features)):
        bad = int(np.sum(~np.isfinite(features).all(axis=1)))
        raise ValueError(f"the encoder returned NaN or inf for {bad} of {len(inputs)} inputs.")
    return features


# ---------------------------------------------------------------------------------------
# Classifier


def _scaler(name):
    from sklearn.preprocessing import FunctionTransformer, MinMaxScaler, StandardScaler

    if name == "minmax":
        return MinMaxScaler()
    if name == "standard":
        return StandardScaler()
    if name == "none":
        return FunctionTransformer()
    raise ValueError(f"Unknown scaler {name!r}; choose one of {list(SCALERS)}.")


def _as_xy(data, name):
    """(inputs [n, d], labels [n]) from a (inputs, labels) pair or a ``Halves`` (its top view)."""
    if hasattr(data, "top") and hasattr(data, "labels"):
        inputs, labels = data.top, data.labels
    else:
        try:
            inputs, labels = data
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an (inputs, labels) pair or a Halves tuple.") from None
    inputs, labels = np.asarray(inputs), np.asarray(labels)
    if inputs.ndim != 2 or labels.shape != inputs.shape[:1]:
        raise ValueError(
            f"{name}: inputs must be [n, d] and labels [n], got {inputs.shape} and {labels.shape}."
        )
    return inputs, labels


def fit_linear_classifier(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    scaler=DEFAULT_CLASSIFIER["scaler"],
    C=DEFAULT_CLASSIFIER["C"],
    tol=DEFAULT_CLASSIFIER["tol"],
    max_iter=DEFAULT_CLASSIFIER["max_iter"],
    seed=0,
):
    """Fits the scaler and a multinomial SAGA logistic regression on the training
    features; returns its test accuracy as a ``LinearEvalResult``.

    ``C`` is the inverse L2 strength, ``tol`` and ``max_iter`` SAGA's stopping rule
    (``max_iter`` epochs at most), ``seed`` its shuffling. Deterministic for a seed.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    train_features = np.asarray(train_features, np.float64)
    test_features = np.asarray(test_features, np.float64)
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    if train_features.ndim != 2 or test_features.ndim != 2 or train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features must be [n, k] with the same k, got {train_features.shape} "
            f"and {test_features.shape}."
        )
    if train_labels.shape != train_features.shape[:1] or test_labels.shape != test_features.shape[:1]:
        raise ValueError(
            f"labels must match the features' rows: train {train_labels.shape} vs {train_features.shape}, "
            f"test {test_labels.shape} vs {test_features.shape}."
        )
    if len(np.unique(train_labels)) < 2:
        raise ValueError("the training labels hold a single class: a classifier needs at least two.")
    if not (C > 0 and tol > 0 and max_iter >= 1):
        raise ValueError(f"C and tol must be > 0 and max_iter >= 1, got C={C}, tol={tol}, max_iter={max_iter}.")
    start = time.time()
    transform = _scaler(scaler)
    train_scaled = transform.fit_transform(train_features)
    test_scaled = transform.transform(test_features)
    classifier = LogisticRegression(solver="saga", C=C, tol=tol, max_iter=max_iter, random_state=seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(train_scaled, train_labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return LinearEvalResult(
        accuracy=float(classifier.score(test_scaled, test_labels)),
        train_accuracy=float(classifier.score(train_scaled, train_labels)),
        n_iter=int(np.max(classifier.n_iter_)),
        converged=converged,
        fit_seconds=time.time() - start,
        num_train=len(train_labels),
        num_test=len(test_labels),
        feature_dim=int(train_features.shape[1]),
        settings={"scaler": scaler, "C": float(C), "tol": float(tol), "max_iter": int(max_iter), "seed": int(seed)},
    )


def evaluate_encoder(encoder, train, test, *, batch_size=1024, **classifier):
    """Test accuracy of a linear classifier on ``encoder``'s representations.

    ``encoder``: a ``SavedModelEncoder``, a workdir / export / SavedModel path, or a
    callable [b, d] -> [b, k]. ``train``, ``test``: (inputs [n, d], labels [n]) pairs,
    or ``Halves`` (their top views are encoded). ``classifier``: keyword arguments of
    ``fit_linear_classifier``.
    """
    if isinstance(encoder, (str, os.PathLike)):
        encoder = load_encoder(encoder)
    train_inputs, train_labels = _as_xy(train, "train")
    test_inputs, test_labels = _as_xy(test, "test")
    train_features = encode(encoder, train_inputs, batch_size)
    test_features = encode(encoder, test_inputs, batch_size)
    return fit_linear_classifier(train_features, train_labels, test_features, test_labels, **classifier)


def pixel_baseline(train, test, **classifier):
    """The paper's reference point: the same linear classifier on the raw inputs (pixels)."""
    train_inputs, train_labels = _as_xy(train, "train")
    test_inputs, test_labels = _as_xy(test, "test")
    return fit_linear_classifier(train_inputs, train_labels, test_inputs, test_labels, **classifier)


# ---------------------------------------------------------------------------------------
# Images: the linear evaluation and transfer sets of Sordoni et al. (2021), Table 1


# tfds names (and the ImageNet-100 subset) that ``tfmi.data.labelled_images`` serves.
IMAGE_DATASETS = (
    "cifar10", "cifar100", "stl10", "cars196", "caltech_birds2011", "oxford_flowers102",
    "imagenet2012", "imagenet100",
)
CLASSIFIERS = ("auto", "sklearn", "keras")
# "auto" fits scikit-learn below this many training images, a Keras layer from there on.
KERAS_FROM = 100_000


def encode_images(encoder, dataset, batch_size=256, limit=None):
    """(features [n, k] float32, labels [n] int64) of a tf.data of (image, label) pairs.

    ``encoder``: a ``SavedModelEncoder`` (or path) taking [b, H, W, 3] images, or any
    callable on such batches. ``limit``: stop after this many examples.
    """
    if isinstance(encoder, (str, os.PathLike)):
        encoder = load_encoder(encoder, endpoint="encoder")
    if limit is not None:
        dataset = dataset.take(limit)
    step = encoder.encode_batch if isinstance(encoder, SavedModelEncoder) else (lambda b: np.asarray(encoder(b)))
    features, labels = [], []
    for images, batch_labels in dataset.batch(batch_size).prefetch(2):
        if isinstance(encoder, SavedModelEncoder) and tuple(images.shape[1:]) != encoder.input_shape:
            raise ValueError(
                f"the encoder at {encoder.path} takes images of shape {list(encoder.input_shape)} but the "
                f"dataset gives {list(images.shape[1:])}; load the images at the encoder's size."
            )
        out = np.asarray(step(images))
        features.append(out.reshape(len(out), -1))
        labels.append(np.asarray(batch_labels))
    if not features:
        raise ValueError("encode_images: the dataset is empty.")
    features = np.concatenate(features).astype(np.float32)
    if not np.all(np.isfinite(features)):
        raise ValueError("the encoder returned NaN or inf features.")
    return features, np.concatenate(labels).astype(np.int64)


def fit_keras_linear_classifier(
    train_features, train_labels, test_features, test_labels, *,
    epochs=30, batch_size=1024, learning_rate=0.1, weight_decay=0.0, seed=0, num_classes=None,
):
    """A linear softmax layer on standardised cached features, for ImageNet-size sets.

    z~ = (z - mean) / std (train statistics); p(k | z) = softmax(W z~ + b) trained by SGD
    (momentum 0.9, cosine decay over ``epochs``) on the cross-entropy plus
    ``weight_decay`` / 2 |W|^2. Returns a ``LinearEvalResult`` like ``fit_linear_classifier``.
    """
    import keras

    train_features = np.asarray(train_features, np.float32)
    test_features = np.asarray(test_features, np.float32)
    train_labels, test_labels = np.asarray(train_labels, np.int64), np.asarray(test_labels, np.int64)
    if train_features.ndim != 2 or test_features.shape[1:] != train_features.shape[1:]:
        raise ValueError(
            f"train and test features must be [n, k] with the same k, got {train_features.shape} "
            f"and {test_features.shape}."
        )
    start = time.time()
    mean = train_features.mean(0)
    std = train_features.std(0) + 1e-6
    train_scaled, test_scaled = (train_features - mean) / std, (test_features - mean) / std
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    steps = epochs * int(np.ceil(len(train_labels) / batch_size))
    # Seeded initialiser, float32 and our own epoch orders: the caller's random streams
    # and dtype policy are neither read nor changed.
    classifier = keras.Sequential([
        keras.Input((train_scaled.shape[1],)),
        keras.layers.Dense(num_classes,
                           kernel_regularizer=keras.regularizers.L2(weight_decay / 2) if weight_decay else None,
                           kernel_initializer=keras.initializers.GlorotUniform(seed), dtype="float32"),
    ])
    classifier.dtype_policy = "float32"
    classifier.compile(
        optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(learning_rate, steps), momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(train_labels))
        classifier.fit(train_scaled[order], train_labels[order], batch_size=batch_size, epochs=1, shuffle=False,
                       verbose=0)
    accuracy = lambda f, y: float(np.mean(np.argmax(classifier.predict(f, batch_size=4096, verbose=0), 1) == y))  # noqa: E731
    return LinearEvalResult(
        accuracy=accuracy(test_scaled, test_labels),
        train_accuracy=accuracy(train_scaled, train_labels),
        n_iter=epochs,
        converged=True,
        fit_seconds=time.time() - start,
        num_train=len(train_labels),
        num_test=len(test_labels),
        feature_dim=int(train_features.shape[1]),
        settings={"classifier": "keras", "epochs": epochs, "batch_size": batch_size,
                  "learning_rate": learning_rate, "weight_decay": weight_decay, "seed": seed},
    )


def evaluate_images(encoder, train, test, *, classifier="auto", batch_size=256, num_train=None, num_test=None,
                    keras_options=None, **sklearn_options):
    """Linear evaluation of an image encoder on tf.data sets of (image, label) pairs.

    ``classifier``: "sklearn" (``fit_linear_classifier``), "keras"
    (``fit_keras_linear_classifier`` on cached features) or "auto" (Keras from
    ``KERAS_FROM`` training images on). Returns the ``LinearEvalResult``.
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"Unknown classifier {classifier!r}; choose one of {list(CLASSIFIERS)}.")
    if isinstance(encoder, (str, os.PathLike)):
        encoder = load_encoder(encoder, endpoint="encoder")
    train_features, train_labels = encode_images(encoder, train, batch_size, num_train)
    test_features, test_labels = encode_images(encoder, test, batch_size, num_test)
    if classifier == "auto":
        classifier = "keras" if len(train_labels) >= KERAS_FROM else "sklearn"
    if classifier == "keras":
        return fit_keras_linear_classifier(train_features, train_labels, test_features, test_labels,
                                           **(keras_options or {}))
    return fit_linear_classifier(train_features, train_labels, test_features, test_labels, **sklearn_options)
