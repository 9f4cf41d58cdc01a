"""Synthetic image views for smoke runs, tests and benchmarks (no download, no augmentation).

Global batch t (seeded by (seed, t), so a resumed run continues the same stream):

    base  ~ U[0, 1]^{B x H x W x 3}, label ~ U{0, .., num_classes - 1}
    x, y  = clip(base + noise_std * N(0, 1))          two noisy views of each base image
    x_sub = the central half of x resized to sub_size x sub_size (when sub_size > 0)

The same dict layout as the real ``cifar10_views``: "x", "y" float32 in [0, 1],
"label" int32, optional "x_sub".
"""

import tensorflow as tf

__all__ = ["synthetic_views_dataset"]


def synthetic_views_dataset(batch_size, image_size=32, sub_size=0, num_classes=10, noise_std=0.1,
                            seed=0, start_step=0):
    """Endless dataset of global batches of synthetic views (see the module docstring)."""
    if image_size < 2 or sub_size < 0:
        raise ValueError(f"synthetic_views: image_size must be >= 2 and sub_size >= 0, got {image_size}, {sub_size}.")
    shape = [batch_size, image_size, image_size, 3]

    def make_batch(step):
        seeds = tf.random.experimental.stateless_split(tf.stack([tf.cast(seed, tf.int64), step]), 4)
        base = tf.random.stateless_uniform(shape, seeds[0])
        views = [
            tf.clip_by_value(base + noise_std * tf.random.stateless_normal(shape, s), 0.0, 1.0)
            for s in (seeds[1], seeds[2])
        ]
        batch = {
            "x": views[0],
            "y": views[1],
            "label": tf.random.stateless_uniform([batch_size], seeds[3], 0, num_classes, tf.int32),
        }
        if sub_size:
            quarter = image_size // 4
            centre = views[0][:, quarter : image_size - quarter, quarter : image_size - quarter]
            batch["x_sub"] = tf.image.resize(centre, [sub_size, sub_size])
        return batch

    return (
        tf.data.Dataset.range(start_step, 2**62)
        .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(2)
    )
