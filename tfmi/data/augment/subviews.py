"""DEMI's subview x' of an augmented view x: a small random resized crop ("crop") or a
cutout ("cut"); x' is a function of x alone (plus independent randomness)."""

import tensorflow as tf

from tfmi.data.augment.primitives import _check_image, random_resized_crop, split_seed


def cutout(image, seed, size):
    """Cutout (DeVries & Taylor 2017): a size x size square centred at a uniform pixel,
    clipped at the border, set to 0."""
    image = _check_image(image)
    shape = tf.shape(image)
    s_y, s_x = tf.unstack(split_seed(seed, 2))
    center_y = tf.random.stateless_uniform([], s_y, 0, shape[0], dtype=tf.int32)
    center_x = tf.random.stateless_uniform([], s_x, 0, shape[1], dtype=tf.int32)
    top, left = center_y - size // 2, center_x - size // 2
    rows = tf.range(shape[0])
    cols = tf.range(shape[1])
    in_rows = (rows >= top) & (rows < top + size)
    in_cols = (cols >= left) & (cols < left + size)
    hole = tf.cast(in_rows[:, None] & in_cols[None, :], tf.float32)[..., None]
    return image * (1.0 - hole)


def subview_crop(image, seed, size=96, scale=(0.05, 0.14), ratio=(3 / 4, 4 / 3)):
    """DEMI's "crop" subview x' of x: random resized crop of x with s ~ U(0.05, 0.14), to size x size."""
    return random_resized_crop(image, seed, size, scale, ratio)
