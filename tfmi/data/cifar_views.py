r"""CIFAR-10 views for SimCLR / SimCLR+DEMI (DEMI Sec. 5.2.2).

Each training image gives two views x, y = ``augment.simclr_view`` (Inception crop,
flip, resize to 32 x 32, colour distortion of strength 0.5: SimCLR's CIFAR-10
setting) and, for DEMI, a subview x' of x: "crop" (random resized crop of x with
area fraction in (0.05, 0.14), resized to ``subview_size``, default 16 = 32 // 2)
or "cut" (cutout of a ``cutout_size`` square, default 16, of x).

The 50,000 training images (tfds ``cifar10``, uint8, 150 MB; downloaded on first use
unless ``download=False``) are held in memory;
the stream and its resumption are those of ``views.indexed_positions``: every epoch
a fresh permutation, and batch t depends only on (seed, t).
"""

import tensorflow as tf

from tfmi.data import augment, tfds_utils, views

__all__ = ["IMAGE_SHAPE", "load_images", "cifar10_views_dataset", "simclr_views_from_arrays"]

IMAGE_SHAPE = (32, 32, 3)


def load_images(name="cifar10", split="train", *, data_dir=None, download=True):
    """(uint8 images [n, H, W, 3], int64 labels [n]) of a tfds image split held in memory.

    Checks that the data are on disk first (``tfds_utils.require_tfds_data``): not
    prepared -> downloaded when ``download`` (tfds's default) and the download hosts
    answer, else one error naming the builder, the data_dir and the switch.
    """
    return tfds_utils.load_images(name, split, data_dir, download)


def cifar10_views_dataset(
    batch_size,
    *,
    subview=None,
    image_size=32,
    color_strength=0.5,
    subview_size=None,
    cutout_size=None,
    crop_scale=(0.08, 1.0),
    split="train",
    data_dir=None,
    download=True,
    seed=0,
    start_step=0,
):
    """Endless global batches {"x", "y", "label"[, "x_sub"]} of CIFAR-10 SimCLR views.

    x, y: float32 [B, image_size, image_size, 3] in [0, 1]; label int32 [B]; x_sub
    (with ``subview``) [B, s, s, 3], s = ``subview_size`` for "crop" (default
    image_size // 2), image_size for "cut". Same (seed, start_step) -> same batches
    as an uninterrupted run from step 0 reaching start_step.
    """
    # Checked again by simclr_views_from_arrays; here so bad arguments fail before the load.
    views.check_batch_args(batch_size, start_step)
    views.subview_fn(subview, image_size=image_size, subview_size=subview_size, cutout_size=cutout_size)
    images, labels = load_images("cifar10", split, data_dir=data_dir, download=download)
    if images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"tfds cifar10 gave images of shape {images.shape[1:]}, expected {IMAGE_SHAPE}.")
    return simclr_views_from_arrays(
        images,
        labels,
        batch_size,
        subview=subview,
        image_size=image_size,
        color_strength=color_strength,
        subview_size=subview_size,
        cutout_size=cutout_size,
        crop_scale=crop_scale,
        seed=seed,
        start_step=start_step,
    )


def simclr_views_from_arrays(
    images,
    labels,
    batch_size,
    *,
    subview=None,
    image_size=32,
    color_strength=0.5,
    subview_size=None,
    cutout_size=None,
    crop_scale=(0.08, 1.0),
    seed=0,
    start_step=0,
):
    """``cifar10_views_dataset`` on in-memory uint8 images [n, H, W, 3] and labels [n]."""
    views.check_batch_args(batch_size, start_step)
    sub_fn, _ = views.subview_fn(subview, image_size=image_size, subview_size=subview_size, cutout_size=cutout_size)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != "uint8" or len(labels) != len(images):
        raise ValueError(
            f"images must be uint8 [n, H, W, 3] with n labels, got {images.dtype} {images.shape} "
            f"and {len(labels)} labels."
        )
    images_t = tf.constant(images)
    labels_t = tf.constant(labels.astype("int32"))
    stream = views.indexed_positions(len(images), seed, start_step * batch_size).map(
        lambda index, position: (tf.gather(images_t, index), tf.gather(labels_t, index), position)
    )
    return views.batched_views(
        stream,
        batch_size,
        decode=lambda raw: tf.cast(raw, tf.float32) / 255.0,
        view=lambda image, s: augment.simclr_view(image, s, image_size, color_strength, tuple(crop_scale)),
        subview=sub_fn,
        seed=seed,
    )
