r"""Image augmentations of SimCLR (CIFAR-10) and InfoMin (ImageNet), and DEMI's subviews.

Every op takes ONE image, float32 [H, W, 3] in [0, 1], and (where random) a stateless
seed: an int tensor of shape [2]. Same image + same seed -> same output, bit for bit;
all randomness comes from ``tf.random.stateless_*`` draws on sub-seeds of that seed
(``tf.random.experimental.stateless_split``), so the ops run inside a parallel
``tf.data`` map with no Python per-image work. Outputs stay in [0, 1].

Views (DEMI Sec. 5.2):

* ``simclr_view``: SimCLR's CIFAR-10 view: Inception crop (random resized crop with
  area fraction s ~ U(0.08, 1) and aspect ratio r with log r ~ U(log 3/4, log 4/3),
  resized to 32 x 32), horizontal flip (p = 1/2), colour distortion of strength s:
  colour jitter (brightness 0.8s, contrast 0.8s, saturation 0.8s, hue 0.2s, in a
  random order) with p = 0.8, then grayscale with p = 0.2. No blur (SimCLR's CIFAR
  setting).
* ``infomin_view``: InfoMin's ImageNet view (PyContrast ``aug == 'D'``, the MoCo
  setting): random resized crop to 224 with s ~ U(0.2, 1), flip, colour jitter
  (0.8, 0.8, 0.8, 0.2) with p = 0.8, Gaussian blur (23-tap kernel, sigma ~ U(0.1, 2))
  with p = 0.5, RandAugment (N = 2 ops, magnitude M = 10 with noise std 0.5, each op
  applied with p = 0.5, InfoMin's 15 ops), colour drop (grayscale) with p = 0.2.
* ``jigsaw_patches``: InfoMin's JigsawCrop view: random resized crop to 255 with
  s ~ U(0.6, 1), flip, then one random 64 x 64 crop inside each cell of a 3 x 3 grid
  of 85 x 85 cells -> [9, 64, 64, 3]. InfoMin returns the 9 patches in grid order
  and its jigsaw head consumes them as a set; here the patches come out in a random
  (seeded) order: the 3 x 3 tiles shuffled. ``tile_patches`` lays them out again as
  one [192, 192, 3] image for a model that wants a single jigsaw image.
* ``subview_crop`` / ``cutout``: the subview x' of an augmented view x. "crop": a
  random resized crop of x with s ~ U(0.05, 0.14) resized to 96 x 96 (the paper's
  torchvision RandomResizedCrop with scale (0.05, 0.14)); "cut": cutout of x (a
  square of side ``size`` centred at a uniform pixel, clipped at the border, set
  to 0). x' is a function of x alone (plus independent randomness), so
  I(x, x'; y) = I(x; y).

Differences from the PyTorch/PIL originals, all deliberate: images are float (PIL
works on uint8, so posterize/solarize/equalize quantise to 256 levels first);
resizing is bilinear (PIL picks bilinear or bicubic at random in RandAugment);
contrast and saturation blend with the grayscale image as PIL/torchvision do, hue
uses ``tf.image.adjust_hue``.
"""

import math

import tensorflow as tf

__all__ = [
    "IMAGENET_MEAN_RGB",
    "RAND_AUGMENT_OPS",
    "split_seed",
    "random_apply",
    "sample_crop_box",
    "random_resized_crop",
    "random_flip",
    "color_jitter",
    "color_distortion",
    "to_grayscale",
    "gaussian_blur",
    "rand_augment",
    "jigsaw_patches",
    "tile_patches",
    "cutout",
    "subview_crop",
    "simclr_view",
    "infomin_view",
    "center_crop_resize",
]

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
# RandAugment fills uncovered pixels with the ImageNet mean colour rounded to uint8
# (PyContrast's img_mean: 124, 116, 104).
_FILL = tuple(min(255, round(255 * c)) / 255.0 for c in IMAGENET_MEAN_RGB)
_MAX_LEVEL = 10.0


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
    hist = tf.reshape(tf.math.bincount(tf.reshape(levels + 256 * channel, [-1]), minlength=768, maxlength=768), [3, 256])
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


# ---------------------------------------------------------------------------------------
# Jigsaw and subviews


def jigsaw_patches(image, seed, grid=3, size=255, patch=64, scale=(0.6, 1.0), shuffle=True):
    """InfoMin's JigsawCrop view: [grid^2, patch, patch, 3], the tiles in a random order.

    Random resized crop of ``image`` to size x size (s ~ U(scale)), flip, then in
    each of the grid x grid cells of side size // grid a patch x patch crop at a
    uniform offset. ``shuffle``: the patches come out permuted (seeded).
    """
    image = _check_image(image)
    cell = size // grid
    if patch > cell:
        raise ValueError(f"jigsaw_patches: patch {patch} is larger than the grid cell {cell} (= {size} // {grid}).")
    s_crop, s_flip, s_offset, s_perm = tf.unstack(split_seed(seed, 4))
    image = random_flip(random_resized_crop(image, s_crop, size, scale), s_flip)
    offsets = tf.random.stateless_uniform([grid * grid, 2], s_offset, 0, cell - patch + 1, dtype=tf.int32)
    patches = []
    for i in range(grid * grid):
        top = (i // grid) * cell + offsets[i, 0]
        left = (i % grid) * cell + offsets[i, 1]
        patches.append(image[top : top + patch, left : left + patch])
    patches = tf.ensure_shape(tf.stack(patches), [grid * grid, patch, patch, 3])
    if shuffle:
        patches = tf.gather(patches, tf.argsort(_uniform(s_perm, shape=[grid * grid])))
    return patches


def tile_patches(patches, grid=3):
    """[grid^2, p, p, C] patches laid out row-major as one [grid p, grid p, C] image."""
    count, height, width, channels = patches.shape
    if count != grid * grid:
        raise ValueError(f"tile_patches: expected {grid * grid} patches, got {count}.")
    rows = tf.reshape(patches, [grid, grid, height, width, channels])
    return tf.reshape(tf.transpose(rows, [0, 2, 1, 3, 4]), [grid * height, grid * width, channels])


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


# ---------------------------------------------------------------------------------------
# Views


def simclr_view(image, seed, size=32, color_strength=0.5, crop_scale=(0.08, 1.0)):
    """SimCLR's CIFAR-10 view: Inception crop to size x size, flip, colour distortion."""
    s_crop, s_flip, s_color = tf.unstack(split_seed(seed, 3))
    image = random_resized_crop(image, s_crop, size, crop_scale)
    image = random_flip(image, s_flip)
    return color_distortion(image, s_color, color_strength)


def infomin_view(
    image,
    seed,
    size=224,
    crop_scale=(0.2, 1.0),
    jitter=(0.8, 0.8, 0.8, 0.2),
    jitter_p=0.8,
    blur_p=0.5,
    randaugment_ops=2,
    randaugment_magnitude=10.0,
    randaugment_std=0.5,
    grayscale_p=0.2,
):
    """InfoMin's ImageNet view: crop, flip, jitter (p 0.8), blur (p 0.5), RandAugment, grayscale (p 0.2)."""
    s_crop, s_flip, s_jitter_p, s_jitter, s_blur_p, s_blur, s_ra, s_gray = tf.unstack(split_seed(seed, 8))
    image = random_resized_crop(image, s_crop, size, crop_scale)
    image = random_flip(image, s_flip)
    image = random_apply(lambda x: color_jitter(x, s_jitter, *jitter), jitter_p, image, s_jitter_p)
    image = random_apply(lambda x: gaussian_blur(x, s_blur), blur_p, image, s_blur_p)
    if randaugment_ops:
        image = rand_augment(image, s_ra, randaugment_ops, randaugment_magnitude, randaugment_std)
    return random_apply(to_grayscale, grayscale_p, image, s_gray)
