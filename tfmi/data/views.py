r"""From a stream of (image, label, position) examples to batches of augmented views.

The stream position p (0, 1, 2, ... over the whole run) of an example fixes all its
randomness: its views use the stateless seed derived from (seed, p), so batch t of
a run, which holds positions t B .. t B + B - 1, is the same whether the run went
straight there or resumed at ``start_step`` = t.

Element of the batched dataset (B = global batch):

    {"x": [B, S, S, 3] float32 in [0, 1]      view 1
     "y": [B, S, S, 3]                        view 2 (same source image, fresh draw)
     "label": [B] int32                       class of the source image
     "x_sub": [B, s, s, 3]                    only with a subview: crop or cutout OF x
     "x_jigsaw": [B, 9, 64, 64, 3]}           only with jigsaw: InfoMin's JigsawCrop
"""

import numpy as np
import tensorflow as tf

from tfmi.data import augment

__all__ = ["SUBVIEWS", "subview_fn", "indexed_positions", "batched_views"]

SUBVIEWS = (None, "crop", "cut")
_MAX_POSITION = np.iinfo(np.int64).max


def subview_fn(subview, *, image_size, subview_size=None, cutout_size=None, crop_scale=(0.05, 0.14)):
    """(fn(x, seed) -> x', x' side length) for DEMI's subview mode, or (None, None) for
    None or "".

    "crop": ``augment.subview_crop`` of x to ``subview_size`` (default 96 for ImageNet
    sized views, image_size // 2 below 96). "cut": ``augment.cutout`` of x with a
    square of side ``cutout_size`` (default image_size // 2, as DeVries & Taylor use on
    CIFAR-10), so x' keeps x's size.
    """
    subview = subview or None  # a config's "" (no x')
    if subview not in SUBVIEWS:
        raise ValueError(f"Unknown subview mode {subview!r}; choose one of {list(SUBVIEWS)} (None: no x').")
    if subview is None:
        return None, None
    if subview == "crop":
        size = int(subview_size or (96 if image_size >= 96 else image_size // 2))
        if not 1 <= size:
            raise ValueError(f"subview_size must be a positive number of pixels, got {subview_size}.")
        return (lambda x, seed: augment.subview_crop(x, seed, size, crop_scale)), size
    side = int(cutout_size or image_size // 2)
    if not 1 <= side <= image_size:
        raise ValueError(f"cutout_size must be in [1, image_size={image_size}], got {cutout_size}.")
    return (lambda x, seed: augment.cutout(x, seed, side)), image_size


def check_batch_args(batch_size, start_step):
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 (contrastive bounds need negatives), got {batch_size!r}.")
    if not isinstance(start_step, (int, np.integer)) or start_step < 0:
        raise ValueError(f"start_step must be an integer >= 0, got {start_step!r}.")


def indexed_positions(count, seed, start_position):
    """Endless dataset of (example index, stream position) from ``start_position`` on.

    Position p is example ``index_shuffle(p mod count)`` of epoch p // count: every
    epoch visits each of the ``count`` examples once, in a fresh order set by
    (seed, epoch).
    """
    count = int(count)
    if count < 1:
        raise ValueError("the dataset has no examples.")

    def index(position):
        epoch = position // count
        shuffled = tf.random.experimental.index_shuffle(
            position % count,
            seed=tf.stack([tf.constant(int(seed), tf.int64), epoch]),
            max_index=tf.constant(count - 1, tf.int64),
        )
        return shuffled, position

    return tf.data.Dataset.range(int(start_position), _MAX_POSITION).map(index)


def batched_views(stream, batch_size, *, decode, view, seed, subview=None, jigsaw=None):
    """Batches of views from ``stream``: a dataset of (raw image, label, position).

    ``decode(raw) -> float32 [H, W, 3] in [0, 1]``; ``view(image, seed)``, ``subview(x,
    seed)`` and ``jigsaw(image, seed)`` are ``augment`` ops. Parallel, order-preserving
    map; full batches only; prefetched.
    """
    seed = int(seed)
    # One traced function serves both views (halves the graph-building time); autograph
    # is off: the ops use TF control flow only.
    view = tf.function(view, autograph=False, reduce_retracing=True)

    @tf.autograph.experimental.do_not_convert
    def element(raw, label, position):
        image = decode(raw)
        seeds = tf.unstack(augment.split_seed(tf.stack([tf.constant(seed, tf.int64), position]), 4))
        x = view(image, seeds[0])
        out = {"x": x, "y": view(image, seeds[1]), "label": tf.cast(label, tf.int32)}
        if subview is not None:
            out["x_sub"] = subview(x, seeds[2])
        if jigsaw is not None:
            out["x_jigsaw"] = jigsaw(image, seeds[3])
        return out

    return (
        stream.map(element, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
