r"""ImageNet views for InfoMin / InfoMin (multi) / DEMI (DEMI Sec. 5.2.1).

Each training image gives two InfoMin views x, y (``augment.infomin_view``: random
resized crop to 224 with scale (0.2, 1), flip, colour jitter, Gaussian blur,
RandAugment, colour drop) and, for DEMI, the subview x' of x: "crop" (random resized
crop of x with scale (0.05, 0.14) resized to 96 x 96, the paper's setting) or "cut"
(cutout of x). With ``jigsaw`` the element also carries InfoMin's JigsawCrop view.

Datasets (tfds ``imagenet2012``, which needs ILSVRC2012_img_train.tar and
ILSVRC2012_img_val.tar in the manual-download directory):

* ``"imagenet2012"``: the 1,281,167 training images, 1000 classes (tfds label ids).
* ``"imagenet100"``: the 100-class subset of CMC / InfoMin (``imagenet100_classes.txt``,
  HobbitLong/CMC's imagenet100.txt), about 126,689 training images; labels 0..99 are
  the ranks of the wnids in sorted order, as torchvision's ImageFolder on the
  100 class folders numbers them.

Reading and resuming. The prepared tfds data are TFRecord shards; one epoch is
split into groups of ``group_shards`` shards (16 by default, 4 x 16 for ImageNet-100
so a group still holds ~8,000 kept images; the shard order is drawn afresh each
epoch from (seed, epoch)); a group's records are interleaved, filtered (ImageNet-100),
shuffled with a buffer seeded by (seed, group) and cut to a fixed number Q_g of
batches: Q_g = floor(n_g / B) with n_g the group's smallest possible record count
for imagenet2012 (a few records per group are left out, different ones each epoch),
and Q_g = floor((1 - slack) E_g / B) with E_g the expected count of the kept classes
for imagenet100 (short groups repeat their records; the slack of 4% makes that
rare). Since Q_g does not depend on the data, step t maps to (epoch, group, batch in
group) by arithmetic: a run resumed at ``start_step`` reads at most one group
(without decoding) to reach its first batch, and gets exactly the batches of the
uninterrupted run. Under ``tfds.testing.mock_data`` the (few) mock examples are held
in memory and streamed like CIFAR-10 (``views.indexed_positions``).
"""

import functools
import os

import numpy as np
import tensorflow as tf

from tfmi.data import augment, tfds_utils, views

__all__ = [
    "DATASETS",
    "IMAGENET100_FILE",
    "imagenet100_wnids",
    "tfds_label_names",
    "label_map",
    "decode_image",
    "load_encoded",
    "sharded_stream",
    "tfds_stream",
    "memory_stream",
    "infomin_views",
    "imagenet_views_dataset",
]

DATASETS = ("imagenet2012", "imagenet100")
IMAGENET100_FILE = os.path.join(os.path.dirname(__file__), "imagenet100_classes.txt")
NUM_CLASSES = {"imagenet2012": 1000, "imagenet100": 100}
_IMAGENET100_SLACK = 0.04
# Share of imagenet2012's records that belong to ImageNet-100 (126,689 of 1,281,167
# training images; 50 of 50 validation images per class).
_IMAGENET100_SHARE = {"train": 126689 / 1281167, "validation": 0.1}


def imagenet100_wnids():
    """The 100 WordNet ids of ImageNet-100 (CMC's list), in the file's order."""
    with open(IMAGENET100_FILE) as f:
        wnids = [line.strip() for line in f if line.strip()]
    if len(wnids) != 100 or len(set(wnids)) != 100:
        raise ValueError(
            f"{IMAGENET100_FILE} must list 100 distinct wnids, found {len(set(wnids))} in {len(wnids)} lines."
        )
    return wnids


@functools.lru_cache(maxsize=1)
def tfds_label_names():
    """tfds imagenet2012's label names (wnids; label id = line number), from the file tfds bundles."""
    import tensorflow_datasets as tfds

    path = os.path.join(os.path.dirname(tfds.__file__), "datasets", "imagenet2012", "labels.txt")
    if not os.path.exists(path):
        return tuple(tfds.builder("imagenet2012").info.features["label"].names)
    with open(path) as f:
        return tuple(line.strip() for line in f if line.strip())


def label_map(dataset):
    """int32 [1000]: tfds imagenet2012 label id -> label in ``dataset`` (-1: not in it)."""
    if dataset not in DATASETS:
        raise ValueError(f"Unknown ImageNet dataset {dataset!r}; choose one of {list(DATASETS)}.")
    names = tfds_label_names()
    if dataset == "imagenet2012":
        return np.arange(len(names), dtype=np.int32)
    index = {wnid: i for i, wnid in enumerate(names)}
    wnids = imagenet100_wnids()
    missing = [w for w in wnids if w not in index]
    if missing:
        raise ValueError(f"ImageNet-100 wnids {missing[:5]} are not tfds imagenet2012 labels.")
    mapping = np.full(len(names), -1, np.int32)
    for rank, wnid in enumerate(sorted(wnids)):
        mapping[index[wnid]] = rank
    return mapping


def decode_image(raw):
    """Encoded JPEG/PNG bytes -> float32 [H, W, 3] in [0, 1]."""
    image = tf.io.decode_image(raw, channels=3, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)


def load_encoded(builder, split, mapping=None):
    """(encoded images [n] bytes, labels [n] int32) of a whole split read into memory.

    For mock data and small sets only; ``mapping`` (from ``label_map``) filters and
    relabels.
    """
    import tensorflow_datasets as tfds

    dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=False)
    images, labels = [], []
    for example in dataset.as_numpy_iterator():
        label = int(example["label"]) if mapping is None else int(mapping[example["label"]])
        if label >= 0:
            images.append(example["image"])
            labels.append(label)
    if not images:
        raise ValueError(f"tfds {builder.name!r} split {split!r} holds no examples of the selected classes.")
    return np.array(images, dtype=object), np.array(labels, np.int32)


def _group_batch_counts(lengths, batch_size, group_shards, keep_fraction, slack):
    """int64 [groups]: Q_g, the batches read from each group of ``group_shards`` shards:
    floor(n_g / B) with n_g = shards * min length, or floor((1 - slack) E_g / B) when filtering."""
    num_shards = len(lengths)
    groups = -(-num_shards // group_shards)
    shards_in_group = np.array([min(group_shards, num_shards - g * group_shards) for g in range(groups)])
    if keep_fraction >= 1.0:
        per_group = shards_in_group * lengths.min()
    else:
        per_group = np.floor(shards_in_group * lengths.mean() * keep_fraction * (1.0 - slack))
    batches = (per_group // batch_size).astype(np.int64)
    if batches.min() < 1:
        raise ValueError(
            f"sharded_stream: a group of {group_shards} shards holds about {int(per_group.min())} usable examples, "
            f"less than one batch of {batch_size}; raise group_shards."
        )
    return batches


def _shuffled_records(files, parse, cycle_length, shuffle_buffer, seed, group_index):
    """Dataset of the (raw image, label >= 0) records of ``files``, interleaved, parsed and shuffled
    in blocks of ``shuffle_buffer`` with the stateless seeds (seed * 1000003 + group_index, block)."""
    return (
        tf.data.Dataset.from_tensor_slices(files)
        .interleave(
            tf.data.TFRecordDataset,
            cycle_length=cycle_length,
            block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        .map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .filter(lambda raw, label: label >= 0)
        # Shuffle within blocks of shuffle_buffer records by a stateless permutation:
        # Dataset.shuffle with a tensor seed fails in graph mode when the global seed
        # is 0 (tf.random.set_seed(0), as keras.utils.set_random_seed(0) sets).
        .batch(shuffle_buffer)
        .enumerate()
        .map(lambda i, block: _permute_block(block, tf.stack([seed * 1000003 + group_index, i])))
        .unbatch()
    )


def sharded_stream(
    filepaths,
    shard_lengths,
    parse,
    batch_size,
    *,
    seed=0,
    start_step=0,
    group_shards=16,
    keep_fraction=1.0,
    slack=0.0,
    shuffle_buffer=10000,
):
    """Endless (raw image, label, position) stream over TFRecord shards, resumable by step.

    ``parse(record) -> (raw image, label)``, label < 0 for records to drop (filtered
    subsets; their expected share of the records is ``keep_fraction``). See the module
    docstring for the groups and the per-group batch counts Q_g.
    """
    views.check_batch_args(batch_size, start_step)
    paths = [str(p) for p in filepaths]
    lengths = np.asarray(shard_lengths, np.int64)
    if len(paths) != len(lengths) or not len(paths):
        raise ValueError(f"sharded_stream: {len(paths)} files but {len(lengths)} shard lengths.")
    num_shards = len(paths)
    group_shards = int(min(group_shards, num_shards))
    batches = _group_batch_counts(lengths, batch_size, group_shards, keep_fraction, slack)
    groups = len(batches)
    first = np.concatenate([[0], np.cumsum(batches)])
    per_epoch = int(first[-1])
    epoch, rest = divmod(int(start_step), per_epoch)
    group = int(np.searchsorted(first, rest, side="right") - 1)
    skip = (rest - int(first[group])) * batch_size

    paths_t = tf.constant(paths)
    batches_t = tf.constant(batches)
    first_t = tf.constant(first[:-1])
    seed_t = tf.constant(int(seed), tf.int64)

    def group_stream(k):
        epoch_k, g = k // groups, k % groups
        order = tf.random.experimental.index_shuffle(
            tf.range(num_shards, dtype=tf.int64), seed=tf.stack([seed_t, epoch_k]), max_index=num_shards - 1
        )
        start = g * group_shards
        files = tf.gather(paths_t, order[start : tf.minimum(start + group_shards, num_shards)])
        count = tf.gather(batches_t, g) * batch_size
        base = (epoch_k * per_epoch + tf.gather(first_t, g)) * batch_size
        examples = (
            _shuffled_records(files, parse, min(group_shards, 16), shuffle_buffer, seed_t, k)
            .repeat()
            .take(count)
        )
        positions = tf.data.Dataset.range(base, base + count)
        return tf.data.Dataset.zip((examples, positions)).map(lambda ex, p: (ex[0], ex[1], p))

    start_group = epoch * groups + group
    return (
        tf.data.Dataset.range(start_group, np.iinfo(np.int64).max)
        .flat_map(group_stream)
        .skip(skip)
    )


def _permute_block(block, seed):
    """The rows of a tuple of tensors ``block`` in one stateless random order."""
    order = tf.random.experimental.stateless_shuffle(tf.range(tf.shape(block[0])[0]), seed=seed)
    return tuple(tf.gather(part, order) for part in block)


def tfds_stream(
    builder,
    split,
    batch_size,
    *,
    mapping=None,
    keep_fraction=1.0,
    slack=0.0,
    group_shards=16,
    shuffle_buffer=10000,
    seed=0,
    start_step=0,
):
    """``sharded_stream`` over the TFRecord shards of a prepared tfds image split.

    Images stay encoded (tfds ``SkipDecoding``) until the views decode them; labels go
    through ``mapping`` (int [num_classes], -1 drops the class) when given.
    """
    import tensorflow_datasets as tfds

    file_format = getattr(builder.info.file_format, "value", builder.info.file_format)
    if file_format != "tfrecord":
        raise ValueError(
            f"tfds {builder.name!r} under {builder.data_dir} is stored as {file_format}; the sharded "
            "stream reads TFRecord shards (prepare it with the default file_format)."
        )
    split_info = builder.info.splits[split]
    mapping_t = None if mapping is None else tf.constant(np.asarray(mapping, np.int32))
    features = builder.info.features

    def parse(record):
        example = features.deserialize_example(record, decoders={"image": tfds.decode.SkipDecoding()})
        label = tf.cast(example["label"], tf.int32)
        return example["image"], label if mapping_t is None else tf.gather(mapping_t, label)

    return sharded_stream(
        split_info.filepaths,
        split_info.shard_lengths,
        parse,
        batch_size,
        seed=seed,
        start_step=start_step,
        group_shards=group_shards,
        keep_fraction=keep_fraction,
        slack=slack,
        shuffle_buffer=shuffle_buffer,
    )


def _check_config(dataset, image_size):
    if dataset not in DATASETS:
        raise ValueError(f"Unknown ImageNet dataset {dataset!r}; choose one of {list(DATASETS)}.")
    if not isinstance(image_size, (int, np.integer)) or image_size < 24:
        raise ValueError(f"image_size must be an integer >= 24 (the blur has 23 taps), got {image_size!r}.")


def imagenet_views_dataset(
    batch_size,
    *,
    dataset="imagenet2012",
    image_size=224,
    subview=None,
    subview_size=96,
    cutout_size=None,
    crop_scale=(0.2, 1.0),
    randaugment_magnitude=10.0,
    randaugment_ops=2,
    jigsaw=False,
    split="train",
    data_dir=None,
    manual_dir=None,
    download=False,
    group_shards=16,
    shuffle_buffer=10000,
    seed=0,
    start_step=0,
):
    """Endless global batches {"x", "y", "label"[, "x_sub"][, "x_jigsaw"]} of InfoMin views.

    x, y: float32 [B, image_size, image_size, 3] in [0, 1]; label int32 [B] (0..999
    or 0..99); x_sub [B, subview_size, subview_size, 3] ("crop") or [B, image_size,
    image_size, 3] ("cut"); x_jigsaw [B, 9, 64, 64, 3]. Resumable: same (seed,
    start_step) -> the batches of the uninterrupted run.
    """
    views.check_batch_args(batch_size, start_step)
    _check_config(dataset, image_size)
    views.subview_fn(subview, image_size=image_size, subview_size=subview_size, cutout_size=cutout_size)

    builder = tfds_utils.require_tfds_data("imagenet2012", data_dir, download=download, manual_dir=manual_dir)
    mapping = label_map(dataset)
    if tfds_utils.tfds_mocked():
        stream = memory_stream(*load_encoded(builder, split, mapping), batch_size, seed=seed, start_step=start_step)
    else:
        keep_fraction = 1.0 if dataset == "imagenet2012" else _IMAGENET100_SHARE.get(split, 0.1)
        stream = tfds_stream(
            builder,
            split,
            batch_size,
            mapping=mapping,
            keep_fraction=keep_fraction,
            slack=0.0 if keep_fraction >= 1 else _IMAGENET100_SLACK,
            group_shards=group_shards * (1 if keep_fraction >= 1 else 4),
            shuffle_buffer=shuffle_buffer,
            seed=seed,
            start_step=start_step,
        )
    return infomin_views(
        stream,
        batch_size,
        image_size=image_size,
        subview=subview,
        subview_size=subview_size,
        cutout_size=cutout_size,
        crop_scale=crop_scale,
        randaugment_magnitude=randaugment_magnitude,
        randaugment_ops=randaugment_ops,
        jigsaw=jigsaw,
        seed=seed,
    )


def memory_stream(encoded, labels, batch_size, *, seed=0, start_step=0):
    """(raw, label, position) stream over in-memory encoded images [n] and labels [n],
    each epoch a fresh permutation (``views.indexed_positions``)."""
    images_t = tf.constant(list(encoded), tf.string)
    labels_t = tf.constant(np.asarray(labels, np.int32))
    return views.indexed_positions(len(encoded), seed, start_step * batch_size).map(
        lambda index, position: (tf.gather(images_t, index), tf.gather(labels_t, index), position)
    )


def infomin_views(
    stream,
    batch_size,
    *,
    image_size=224,
    subview=None,
    subview_size=96,
    cutout_size=None,
    crop_scale=(0.2, 1.0),
    randaugment_magnitude=10.0,
    randaugment_ops=2,
    jigsaw=False,
    seed=0,
):
    """Batches of InfoMin views (see ``imagenet_views_dataset``) from a (raw, label, position) stream."""
    sub_fn, _ = views.subview_fn(subview, image_size=image_size, subview_size=subview_size, cutout_size=cutout_size)
    ra_magnitude = float(randaugment_magnitude)
    return views.batched_views(
        stream,
        batch_size,
        decode=decode_image,
        view=lambda image, s: augment.infomin_view(
            image, s, image_size, tuple(crop_scale), randaugment_ops=randaugment_ops, randaugment_magnitude=ra_magnitude
        ),
        subview=sub_fn,
        jigsaw=(lambda image, s: augment.jigsaw_patches(image, s)) if jigsaw else None,
        seed=seed,
    )
