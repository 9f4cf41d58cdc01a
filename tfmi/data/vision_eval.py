r"""Labelled images for linear and transfer evaluation (DEMI Table 1).

``labelled_images(name, split, image_size=...)`` is a finite ``tf.data.Dataset`` of
(image float32 [image_size, image_size, 3] in [0, 1], label int32), preprocessed
deterministically by ``augment.center_crop_resize``: square images (CIFAR, STL-10)
resized whole, the others resized so the short side is image_size / 0.875 and
centre-cropped. Examples come in the tfds order of the split (no shuffling).

Names (tfds builder, usual train / test splits, classes):

    cifar10            cifar10            train / test                 10
    cifar100           cifar100           train / test                100
    stl10              stl10              train / test                 10
    cars196            cars196            train / test                196
    caltech_birds2011  caltech_birds2011  train / test                200   (CUB-200)
    oxford_flowers102  oxford_flowers102  train+validation / test     102
    imagenet2012       imagenet2012       train / validation         1000
    imagenet100        imagenet2012       train / validation          100   (CMC's subset)

``split`` is any tfds split string ("train", "test", "train+validation", "train[:10%]").
"""

import tensorflow as tf

from tfmi.data import augment, imagenet_views, tfds_utils

__all__ = ["NUM_CLASSES", "TFDS_NAMES", "EVAL_SPLITS", "num_classes", "labelled_images"]

TFDS_NAMES = {
    "cifar10": "cifar10",
    "cifar100": "cifar100",
    "stl10": "stl10",
    "cars196": "cars196",
    "caltech_birds2011": "caltech_birds2011",
    "oxford_flowers102": "oxford_flowers102",
    "imagenet2012": "imagenet2012",
    "imagenet100": "imagenet2012",
}
NUM_CLASSES = {
    "cifar10": 10,
    "cifar100": 100,
    "stl10": 10,
    "cars196": 196,
    "caltech_birds2011": 200,
    "oxford_flowers102": 102,
    "imagenet2012": 1000,
    "imagenet100": 100,
}
EVAL_SPLITS = {
    "cifar10": ("train", "test"),
    "cifar100": ("train", "test"),
    "stl10": ("train", "test"),
    "cars196": ("train", "test"),
    "caltech_birds2011": ("train", "test"),
    "oxford_flowers102": ("train+validation", "test"),
    "imagenet2012": ("train", "validation"),
    "imagenet100": ("train", "validation"),
}
"""(training split, evaluation split) of each name for a linear probe."""


def num_classes(name):
    """Number of classes of the evaluation set ``name``."""
    _check_name(name)
    return NUM_CLASSES[name]


def _check_name(name):
    if name not in TFDS_NAMES:
        raise ValueError(f"Unknown evaluation dataset {name!r}; choose one of {sorted(TFDS_NAMES)}.")


def labelled_images(name, split, *, image_size, data_dir=None, manual_dir=None, download=True):
    """Finite dataset of (image float32 [image_size, image_size, 3] in [0, 1], label int32).

    Checks the tfds data are on disk first (``tfds_utils.require_tfds_data``): not
    prepared -> downloaded when ``download`` (tfds's default; ImageNet is prepared
    from its manual files), else one clear error naming the builder, the data_dir
    and, for ImageNet, the manual-download directory.
    """
    _check_name(name)
    if not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}.")
    builder = tfds_utils.require_tfds_data(TFDS_NAMES[name], data_dir, download=download, manual_dir=manual_dir)
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    dataset = dataset.map(lambda ex: (ex["image"], tf.cast(ex["label"], tf.int32)))
    if name in imagenet_views.DATASETS:
        mapping = tf.constant(imagenet_views.label_map(name))
        dataset = dataset.map(lambda image, label: (image, tf.gather(mapping, label))).filter(
            lambda image, label: label >= 0
        )

    def preprocess(image, label):
        image = tf.image.convert_image_dtype(image, tf.float32)
        if image.shape.rank == 3 and image.shape[-1] == 1:
            image = tf.tile(image, [1, 1, 3])
        return augment.center_crop_resize(image, image_size), label

    return dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
