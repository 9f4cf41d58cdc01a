"""The building blocks of the views: stateless seeds, random application, crops and flips,
colour adjustments and blur. Every op takes ONE float32 [H, W, 3] image in [0, 1] and,
where random, a stateless seed [2] (see ``tfmi.data.augment``)."""

import math

import tensorflow as tf


def split_seed(seed, num):
    """``num`` independent stateless seeds [num, 2] derived from ``seed`` [2]."""
    return tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num)


def _uniform(seed, minval=0.0, maxval=1.0, shape=()):
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def random_apply(fn, p, image, seed):
    """``fn(image)`` with probability ``p``, else ``image``."""
    return tf.cond(_uniform(seed) < p, lambda: fn(image), lambda: image)


def _check_image(image):
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.float32:
        raise ValueError(f"augment: images must be float32 in [0, 1], got dtype {image.dtype.name}.")
    if image.shape.rank != 3 or image.shape[-1] != 3:
        raise ValueError(f"augment: images must be one [H, W, 3] image, got shape {image.shape}.")
    return image


# ---------------------------------------------------------------------------------------
# Geometry


def sample_crop_box(seed, height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), attempts=10):
    r"""torchvision's RandomResizedCrop box: (offset_y, offset_x, crop_h, crop_w), int32.

    Up to ``attempts`` draws (all made at once) of an area a = s H W, s ~ U(scale), and
    a ratio r, log r ~ U(log ratio); crop w = round(sqrt(a r)), h = round(sqrt(a / r)).
    The first draw that fits in the image wins; its offset is uniform. When none fits
    (only for images far from square), the centre crop of the whole image clamped to
    ``ratio`` is used, as torchvision does.
    """
    height = tf.cast(height, tf.int32)
    width = tf.cast(width, tf.int32)
    h_f = tf.cast(height, tf.float32)
    w_f = tf.cast(width, tf.float32)
    s_area, s_ratio, s_y, s_x = tf.unstack(split_seed(seed, 4))
    area = h_f * w_f * _uniform(s_area, scale[0], scale[1], [attempts])
    log_ratio = _uniform(s_ratio, math.log(ratio[0]), math.log(ratio[1]), [attempts])
    aspect = tf.exp(log_ratio)
    crop_w = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    crop_h = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    fits = (crop_w > 0) & (crop_h > 0) & (crop_w <= width) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

    in_ratio = w_f / h_f
    fallback_w = tf.where(
        in_ratio > ratio[1], tf.cast(tf.round(h_f * ratio[1]), tf.int32), width
    )
    fallback_h = tf.where(
        in_ratio < ratio[0], tf.cast(tf.round(w_f / ratio[0]), tf.int32), height
    )
    found = tf.reduce_any(fits)
    crop_h = tf.where(found, crop_h[first], fallback_h)
    crop_w = tf.where(found, crop_w[first], fallback_w)
    offset_y = tf.where(
        found,
        tf.random.stateless_uniform([], s_y, 0, height - crop_h + 1, dtype=tf.int32),
        (height - crop_h) // 2,
    )
    offset_x = tf.where(
        found,
        tf.random.stateless_uniform([], s_x, 0, width - crop_w + 1, dtype=tf.int32),
        (width - crop_w) // 2,
    )
    return offset_y, offset_x, crop_h, crop_w


def random_resized_crop(image, seed, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """A ``sample_crop_box`` crop of ``image`` resized (bilinear) to [size, size, 3]."""
    image = _check_image(image)
    shape = tf.shape(image)
    offset_y, offset_x, crop_h, crop_w = sample_crop_box(seed, shape[0], shape[1], scale, ratio)
    crop = image[offset_y : offset_y + crop_h, offset_x : offset_x + crop_w]
    resized = tf.image.resize(crop, [size, size], method="bilinear")
    return tf.clip_by_value(tf.ensure_shape(resized, [size, size, 3]), 0.0, 1.0)


def random_flip(image, seed):
    """Horizontal flip with probability 1/2."""
    return tf.image.stateless_random_flip_left_right(image, seed)


def center_crop_resize(image, size, crop_fraction=0.875):
    """Evaluation preprocessing: [size, size, 3] from an image of any shape.

    Square images (CIFAR, STL-10) are resized whole. Others: the shorter side is
    resized to size / crop_fraction (256 for 224) and the central size x size
    square is kept (the ImageNet protocol of InfoMin's linear evaluation).
    """
    image = _check_image(image)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]

    def whole():
        return tf.image.resize(image, [size, size], method="bilinear")

    def crop():
        short = tf.cast(tf.minimum(height, width), tf.float32)
        resize_to = tf.cast(tf.math.ceil(size / crop_fraction), tf.float32)
        new_h = tf.cast(tf.round(tf.cast(height, tf.float32) * resize_to / short), tf.int32)
        new_w = tf.cast(tf.round(tf.cast(width, tf.float32) * resize_to / short), tf.int32)
        new_h, new_w = tf.maximum(new_h, size), tf.maximum(new_w, size)
        resized = tf.image.resize(image, [new_h, new_w], method="bilinear")
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return resized[top : top + size, left : left + size]

    out = tf.cond(tf.equal(height, width), whole, crop)
    return tf.clip_by_value(tf.ensure_shape(out, [size, size, 3]), 0.0, 1.0)


# ---------------------------------------------------------------------------------------
# Colour


def to_grayscale(image):
    """Luma (0.299 R + 0.587 G + 0.114 B) repeated in the 3 channels."""
    return tf.tile(tf.image.rgb_to_grayscale(image), [1, 1, 3])


def _blend(degenerate, image, factor):
    """PIL ImageEnhance: degenerate + factor (image - degenerate), clipped to [0, 1]."""
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 1.0)


def _adjust_brightness(image, factor):
    return tf.clip_by_value(image * factor, 0.0, 1.0)


def _adjust_contrast(image, factor):
    mean = tf.reduce_mean(tf.image.rgb_to_grayscale(image))
    return _blend(mean, image, factor)


def _adjust_saturation(image, factor):
    return _blend(to_grayscale(image), image, factor)


def color_jitter(image, seed, brightness, contrast, saturation, hue):
    """torchvision's ColorJitter: the four adjustments in a random order.

    Factors: brightness b ~ U(max(0, 1 - B), 1 + B) (x -> b x), contrast c ~
    U(max(0, 1 - C), 1 + C) (blend with the grayscale mean), saturation s ~
    U(max(0, 1 - S), 1 + S) (blend with the grayscale image), hue shift
    h ~ U(-H, H) of a turn. Clipped to [0, 1] after each.
    """
    s_order, s_b, s_c, s_s, s_h = tf.unstack(split_seed(seed, 5))
    b = _uniform(s_b, max(0.0, 1.0 - brightness), 1.0 + brightness)
    c = _uniform(s_c, max(0.0, 1.0 - contrast), 1.0 + contrast)
    s = _uniform(s_s, max(0.0, 1.0 - saturation), 1.0 + saturation)
    h = _uniform(s_h, -hue, hue)
    order = tf.argsort(_uniform(s_order, shape=[4]))

    # One switch in a loop (not four unrolled): its 4 branches are traced once.
    def body(position, image):
        adjusted = tf.switch_case(
            order[position],
            [
                lambda: _adjust_brightness(image, b),
                lambda: _adjust_contrast(image, c),
                lambda: _adjust_saturation(image, s),
                lambda: tf.clip_by_value(tf.image.adjust_hue(image, h), 0.0, 1.0),
            ],
        )
        adjusted.set_shape(image.shape)
        return position + 1, adjusted

    return tf.while_loop(lambda position, _: position < 4, body, (tf.constant(0), image))[1]


def color_distortion(image, seed, strength=0.5, jitter_p=0.8, grayscale_p=0.2):
    """SimCLR's colour distortion of strength s: jitter(0.8s, 0.8s, 0.8s, 0.2s) w.p. 0.8, grayscale w.p. 0.2."""
    s_apply, s_jitter, s_gray = tf.unstack(split_seed(seed, 3))
    jitter = lambda x: color_jitter(x, s_jitter, 0.8 * strength, 0.8 * strength, 0.8 * strength, 0.2 * strength)
    image = random_apply(jitter, jitter_p, image, s_apply)
    return random_apply(to_grayscale, grayscale_p, image, s_gray)


def gaussian_blur(image, seed, kernel_size=23, sigma=(0.1, 2.0)):
    """Separable Gaussian blur, sigma ~ U(sigma), reflect padding (InfoMin's GaussianBlur(22): 23 taps).

    Needs H, W > kernel_size // 2.
    """
    radius = kernel_size // 2
    sigma_value = _uniform(seed, sigma[0], sigma[1])
    taps = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-tf.square(taps) / (2.0 * tf.square(sigma_value)))
    kernel = kernel / tf.reduce_sum(kernel)
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="REFLECT")
    vertical = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, 3, 1])
    horizontal = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(padded, vertical, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, horizontal, [1, 1, 1, 1], "VALID")
    return tf.clip_by_value(out[0], 0.0, 1.0)
