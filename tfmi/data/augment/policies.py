"""The views of the papers, composed from the primitives: SimCLR's CIFAR-10 view, InfoMin's
ImageNet view and its jigsaw view."""

import tensorflow as tf

from tfmi.data.augment.primitives import (
    _check_image,
    _uniform,
    color_distortion,
    color_jitter,
    gaussian_blur,
    random_apply,
    random_flip,
    random_resized_crop,
    split_seed,
    to_grayscale,
)
from tfmi.data.augment.randaugment import rand_augment


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


# ---------------------------------------------------------------------------------------
# Jigsaw


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
