"""RandAugment as InfoMin runs it: its 15 ops on float images, at levels m in [0, 10]."""

import math

import tensorflow as tf

from tfmi.data.augment.primitives import (
    _adjust_brightness,
    _adjust_contrast,
    _adjust_saturation,
    _blend,
    _uniform,
    split_seed,
)

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
# RandAugment fills uncovered pixels with the ImageNet mean colour rounded to uint8
# (PyContrast's img_mean: 124, 116, 104).
_FILL = tuple(min(255, round(255 * c)) / 255.0 for c in IMAGENET_MEAN_RGB)
_MAX_LEVEL = 10.0


# ---------------------------------------------------------------------------------------
# RandAugment (InfoMin's 15 ops, levels as in its RandAugment.py, level m in [0, 10])


def _affine(image, transform):
    """PIL's Image.transform(AFFINE, (a0, a1, a2, b0, b1, b2)): output point (x, y) samples the
    input at (a0 x + a1 y + a2, b0 x + b1 y + b2), in PIL's coordinates (pixel centres at
    i + 0.5); bilinear; uncovered pixels get the fill colour."""
    shape = tf.shape(image)
    with_mask = tf.concat([image, tf.ones_like(image[..., :1])], axis=-1)[None]
    a0, a1, a2, b0, b1, b2 = tf.unstack(tf.cast(tf.stack(transform), tf.float32))
    # TF samples at pixel indices (centres at i): shift PIL's map by half a pixel.
    a2 = a2 + 0.5 * (a0 + a1 - 1.0)
    b2 = b2 + 0.5 * (b0 + b1 - 1.0)
    transform = tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])[None]
    warped = tf.raw_ops.ImageProjectiveTransformV3(
        images=with_mask,
        transforms=transform,
        output_shape=shape[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )[0]
    rgb, mask = warped[..., :3], warped[..., 3:]
    return tf.clip_by_value(rgb + (1.0 - mask) * tf.constant(_FILL), 0.0, 1.0)


def _levels(image):
    """uint8 levels k = floor(255 x) of an image in [0, 1]."""
    return tf.cast(tf.floor(tf.clip_by_value(image, 0.0, 1.0) * 255.0 + 1e-3), tf.int32)


def _ra_identity(image, level, sign):
    return image


def _ra_auto_contrast(image, level, sign):
    low = tf.reduce_min(image, axis=[0, 1])
    high = tf.reduce_max(image, axis=[0, 1])
    span = high - low
    stretched = (image - low) / tf.where(span > 0, span, 1.0)
    return tf.where(span > 0, stretched, image)


def _ra_equalize(image, level, sign):
    """PIL ImageOps.equalize per channel: lut[i] = (step // 2 + sum_{j<i} h_j) // step,
    step = (n - h_last) // 255 where h_last is the count of the highest level present."""
    levels = _levels(image)
    channel = tf.range(3)[None, None, :]
    hist = tf.reshape(
        tf.math.bincount(tf.reshape(levels + 256 * channel, [-1]), minlength=768, maxlength=768), [3, 256])
    total = tf.reduce_sum(hist, axis=1)
    last_level = 255 - tf.argmax(tf.cast(tf.reverse(hist, [1]) > 0, tf.int32), axis=1, output_type=tf.int32)
    last_count = tf.gather(hist, last_level, batch_dims=1)
    step = (total - last_count) // 255
    safe_step = tf.maximum(step, 1)
    exclusive = tf.cumsum(hist, axis=1, exclusive=True)
    lut = tf.clip_by_value((safe_step[:, None] // 2 + exclusive) // safe_step[:, None], 0, 255)
    lut = tf.where(step[:, None] > 0, lut, tf.range(256)[None, :])
    flat_index = tf.reshape(levels + 256 * channel, [-1])
    equalized = tf.reshape(tf.gather(tf.reshape(lut, [-1]), flat_index), tf.shape(levels))
    return tf.cast(equalized, tf.float32) / 255.0


def _ra_invert(image, level, sign):
    return 1.0 - image


def _ra_rotate(image, level, sign):
    degrees = sign * level / _MAX_LEVEL * 30.0
    angle = -degrees * math.pi / 180.0  # PIL: counter-clockwise on screen
    shape = tf.cast(tf.shape(image), tf.float32)
    cy, cx = shape[0] / 2.0, shape[1] / 2.0  # PIL's centre of rotation
    cos, sin = tf.cos(angle), tf.sin(angle)
    return _affine(image, [cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy])


def _ra_posterize(image, level, sign):
    bits = tf.cast(level / _MAX_LEVEL * 4.0, tf.int32)  # InfoMin's PosterizeTpu: keep 0..4 bits
    mask = tf.bitwise.bitwise_and(tf.bitwise.left_shift(255, 8 - bits), 255)
    return tf.cast(tf.bitwise.bitwise_and(_levels(image), mask), tf.float32) / 255.0


def _ra_solarize(image, level, sign):
    threshold = tf.floor(level / _MAX_LEVEL * 256.0)  # on the 0..255 scale; 256 = no-op
    return tf.where(tf.cast(_levels(image), tf.float32) >= threshold, 1.0 - image, image)


def _ra_solarize_add(image, level, sign):
    add = tf.floor(level / _MAX_LEVEL * 110.0) / 255.0
    return tf.where(_levels(image) < 128, tf.minimum(image + add, 1.0), image)


def _enhance_factor(level):
    return level / _MAX_LEVEL * 1.8 + 0.1  # [0.1, 1.9]


def _ra_color(image, level, sign):
    return _adjust_saturation(image, _enhance_factor(level))


def _ra_contrast(image, level, sign):
    return _adjust_contrast(image, _enhance_factor(level))


def _ra_brightness(image, level, sign):
    return _adjust_brightness(image, _enhance_factor(level))


def _ra_sharpness(image, level, sign):
    """PIL Sharpness: blend with the SMOOTH-filtered image ([[1,1,1],[1,5,1],[1,1,1]] / 13), border kept."""
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    shape = tf.shape(image)
    interior = tf.pad(tf.ones([shape[0] - 2, shape[1] - 2, 3]), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.pad(smooth, [[1, 1], [1, 1], [0, 0]])
    degenerate = interior * degenerate + (1.0 - interior) * image
    return _blend(degenerate, image, _enhance_factor(level))


def _ra_shear_x(image, level, sign):
    return _affine(image, [1.0, sign * level / _MAX_LEVEL * 0.3, 0.0, 0.0, 1.0, 0.0])


def _ra_shear_y(image, level, sign):
    return _affine(image, [1.0, 0.0, 0.0, sign * level / _MAX_LEVEL * 0.3, 1.0, 0.0])


def _ra_translate_x(image, level, sign):
    pixels = sign * level / _MAX_LEVEL * 0.45 * tf.cast(tf.shape(image)[1], tf.float32)
    return _affine(image, [1.0, 0.0, pixels, 0.0, 1.0, 0.0])


def _ra_translate_y(image, level, sign):
    pixels = sign * level / _MAX_LEVEL * 0.45 * tf.cast(tf.shape(image)[0], tf.float32)
    return _affine(image, [1.0, 0.0, 0.0, 0.0, 1.0, pixels])


RAND_AUGMENT_OPS = {
    "AutoContrast": _ra_auto_contrast,
    "Equalize": _ra_equalize,
    "Invert": _ra_invert,
    "Rotate": _ra_rotate,
    "Posterize": _ra_posterize,
    "Solarize": _ra_solarize,
    "SolarizeAdd": _ra_solarize_add,
    "Color": _ra_color,
    "Contrast": _ra_contrast,
    "Brightness": _ra_brightness,
    "Sharpness": _ra_sharpness,
    "ShearX": _ra_shear_x,
    "ShearY": _ra_shear_y,
    "TranslateXRel": _ra_translate_x,
    "TranslateYRel": _ra_translate_y,
}
"""InfoMin's RandAugment op list (PyContrast ``_RAND_TRANSFORMS``); "Identity" is extra."""
RAND_AUGMENT_OPS_ALL = dict(RAND_AUGMENT_OPS, Identity=_ra_identity)


def rand_augment(image, seed, num_ops=2, magnitude=10.0, magnitude_std=0.5, prob=0.5, ops=None):
    r"""RandAugment as InfoMin runs it ('rand-n2-m10-mstd0.5').

    ``num_ops`` times: pick an op uniformly (with replacement) from ``ops`` (names of
    ``RAND_AUGMENT_OPS_ALL``; default InfoMin's 15), and with probability ``prob``
    apply it at level m ~ clip(N(magnitude, magnitude_std^2), 0, 10), the sign of
    signed ops (rotate, shear, translate) drawn at random.
    """
    names = tuple(ops or RAND_AUGMENT_OPS)
    unknown = [name for name in names if name not in RAND_AUGMENT_OPS_ALL]
    if unknown:
        raise ValueError(f"Unknown RandAugment ops {unknown}; choose from {sorted(RAND_AUGMENT_OPS_ALL)}.")
    functions = [RAND_AUGMENT_OPS_ALL[name] for name in names]
    layer_seeds = split_seed(seed, num_ops)

    # The layers run in a loop so the op branches are traced once, not num_ops times.
    def body(layer, image):
        s_op, s_apply, s_level, s_sign = tf.unstack(split_seed(layer_seeds[layer], 4))
        index = tf.random.stateless_uniform([], s_op, 0, len(functions), dtype=tf.int32)
        level = tf.clip_by_value(
            magnitude + magnitude_std * tf.random.stateless_normal([], s_level), 0.0, _MAX_LEVEL
        )
        sign = tf.where(_uniform(s_sign) < 0.5, -1.0, 1.0)
        branches = [lambda fn=fn: fn(image, level, sign) for fn in functions]
        out = tf.cond(_uniform(s_apply) < prob, lambda: tf.switch_case(index, branches), lambda: image)
        out = tf.clip_by_value(out, 0.0, 1.0)
        out.set_shape(image.shape)
        return layer + 1, out

    return tf.while_loop(lambda layer, _: layer < num_ops, body, (tf.constant(0), image))[1]
