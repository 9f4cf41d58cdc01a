r"""CIFAR-10 split into top and bottom halves (Tschannen et al. 2020, Appendix G).

Appendix G reruns Sec. 3.2 and 3.3 on CIFAR-10 "with minimal changes": the encoders
read the flattened top and bottom halves of each 32 x 32 x 3 image (pixel k / 255),
and a linear classifier on the top-half pixels reaches about 24% test accuracy.

    x_top    = rows [16 - h, 16) of x, flattened row-major (H, W, C): [0, 1]^(32 h 3)
    x_bottom = rows [16, 16 + h) of x, flattened:                     [0, 1]^(32 h 3)

The appendix gives the halves as "32 x 14 x 3" pixels, which does not divide a
32-row image in two; the authors' notebook splits the flattened image at its middle,
which for CIFAR-10 gives 16-row halves (1536 values). ``half_rows=16`` (default) is
that split; ``half_rows=14`` gives the literal 32 x 14 x 3 = 1344-value views, the 14
rows on each side of the midline (rows 2..15 and 16..29), dropping two rows at the top
and at the bottom of the image.

The data come from tensorflow_datasets' ``cifar10`` ("train": 50,000 images, "test":
10,000), downloaded on first use when not on disk yet (``download=False`` turns that off).
"""

import numpy as np

from tfmi.data import mnist_halves, tfds_utils

__all__ = ["IMAGE_SHAPE", "HALF_ROWS", "load_cifar10_images", "load_cifar10_halves", "cifar10_halves_dataset"]

IMAGE_SHAPE = (32, 32, 3)
HALF_ROWS = 16
SPLITS = ("train", "test")


def load_cifar10_images(split="train", *, data_dir=None, download=True):
    """(uint8 images [n, 32, 32, 3], int64 labels [n]) of a CIFAR-10 split (read-only, cached)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown CIFAR-10 split {split!r}; choose one of {list(SPLITS)}.")
    images, labels = tfds_utils.load_images("cifar10", split, data_dir, download)
    if images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"tfds cifar10 gave images of shape {images.shape[1:]}, expected {IMAGE_SHAPE}.")
    return images, labels


def load_cifar10_halves(
    split="train", *, half_rows=HALF_ROWS, noise_std=0.0, seed=0, data_dir=None, download=True
):
    """The CIFAR-10 halves of ``split`` as NumPy arrays: ``Halves(top, bottom, labels)``.

    top, bottom: float32 [n, 32 * half_rows * 3] in [0, 1] (plus the coupled noise of
    ``mnist_halves.add_coupled_noise`` when ``noise_std`` > 0); labels: int64 [n].
    """
    images, labels = load_cifar10_images(split, data_dir=data_dir, download=download)
    top, bottom = mnist_halves.split_halves(images, half_rows)
    top = top.astype(np.float32) / 255.0
    bottom = bottom.astype(np.float32) / 255.0
    if noise_std < 0:
        raise ValueError(f"noise_std must be >= 0, got {noise_std}.")
    if noise_std:
        top, bottom, _ = mnist_halves.add_coupled_noise(
            top, bottom, noise_std, seed=[int(seed), mnist_halves._SPLIT_IDS[split]]
        )
    return mnist_halves.Halves(top, bottom, labels.copy())


def cifar10_halves_dataset(
    batch_size, *, split="train", half_rows=HALF_ROWS, noise_std=0.0, seed=0, start_step=0, data_dir=None,
    download=True,
):
    """Endless training batches {"x": top, "y": bottom, "label"} of CIFAR-10 halves.

    Shuffling, noise and resuming as in ``mnist_halves.halves_dataset``.
    """
    images, labels = load_cifar10_images(split, data_dir=data_dir, download=download)
    return mnist_halves.halves_dataset(
        images, labels, batch_size, half_rows=half_rows, noise_std=noise_std, seed=seed, start_step=start_step
    )
