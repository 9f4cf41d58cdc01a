r"""The tf.data pipeline of dialogue examples: fixed-shape global batches of padded ids.

``dialogue_dataset`` streams global batches of fixed shape (unless ``pad_to_multiple``
is set; the contract the dialogue models rely on; B = batch, P = ``max_past_tokens``, F = ``max_future_tokens``,
S = ``max_utterance_tokens`` + 1, T = P + F, N = negatives per example):

    past_ids     int32 [B, P]  right-padded with 0      past_mask     int32 [B, P]  past_length    int32 [B]
    future_ids   int32 [B, F]                           future_mask   int32 [B, F]  future_length  int32 [B]
    subview_ids  int32 [B, S]                           subview_mask  int32 [B, S]  subview_length int32 [B]
    lm_ids       int32 [B, T]  = past ++ future, right-padded
    lm_mask      int32 [B, T]  1 on the past_length + future_length real tokens
    lm_target_mask int32 [B, T]  1 at t where lm_ids[:, t+1] is a future token: the
                 LM loss is sum_t lm_target_mask[t] * CE(logits[:, t], lm_ids[:, t+1])
                 (t = past_length-1 .. past_length+future_length-2)
    example_id   int64 [B]     dialogue_index * ID_STRIDE + k (see ``example_id``)
    negative_ids int32 [B, N, F], negative_mask int32 [B, N, F]   (only with negatives)

Masks are 1 on real tokens, 0 on padding (id 0, which is also GPT-2's "!": use the
masks, never the ids, to find padding). A past longer than P keeps its LAST P tokens
(the most recent context, possibly starting mid-utterance); a future (or negative)
longer than F keeps its first whole utterances that fit in F tokens (so it still ends
with 50256), or its first F tokens when even its first utterance is longer.
"""

import math
import os

import numpy as np
import tensorflow as tf
from absl import logging

from tfmi.config_utils import as_dict
from tfmi.data.dialogue.examples import END_OF_TEXT_ID, dialogue_examples
from tfmi.data.dialogue.negatives import align_negatives, load_negatives

PAD_ID = 0


def _keep_first_utterances(row, limit):
    """The first ``limit`` tokens of ``row``, ending at its last whole utterance when one fits."""
    if len(row) <= limit:
        return row
    ends = np.flatnonzero(row[:limit] == END_OF_TEXT_ID)
    return row[: ends[-1] + 1] if len(ends) else row[:limit]


def _ragged(rows, keep_last=None, keep_first=None):
    """A tf.RaggedTensor of int32 rows, each cut to its last / first ``keep_*`` tokens."""
    if keep_last is not None:
        rows = [row[-keep_last:] if len(row) > keep_last else row for row in rows]
    if keep_first is not None:
        rows = [_keep_first_utterances(row, keep_first) for row in rows]
    lengths = np.array([len(row) for row in rows], np.int64)
    values = np.concatenate(rows).astype(np.int32) if rows else np.zeros([0], np.int32)
    return tf.RaggedTensor.from_row_lengths(tf.constant(values), tf.constant(lengths))


def _count_over(rows, limit):
    return int(sum(len(row) > limit for row in rows))


def _padded(ragged, width, pad_to_multiple):
    """[B, width'] dense ids (0-padded), int32 mask and int32 lengths of a ragged batch."""
    lengths = tf.cast(ragged.row_lengths(), tf.int32)
    if pad_to_multiple:
        longest = tf.reduce_max(lengths)
        width = tf.minimum(width, (longest + pad_to_multiple - 1) // pad_to_multiple * pad_to_multiple)
        width = tf.maximum(width, 1)
    batch = tf.shape(lengths)[0]
    ids = ragged.to_tensor(default_value=PAD_ID, shape=tf.stack([tf.cast(batch, tf.int64), tf.cast(width, tf.int64)]))
    mask = tf.sequence_mask(lengths, width, dtype=tf.int32)
    return ids, mask, lengths


def _check_dataset_args(count, batch_size, repeat, max_past_tokens, max_future_tokens, start_step):
    """None; raises ValueError unless ``dialogue_dataset`` can batch ``count`` examples with these arguments."""
    if count == 0:
        raise ValueError("dialogue_dataset: no examples (all dialogues too short or skipped; see the logged counts).")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1 or (repeat and batch_size > count):
        raise ValueError(
            f"batch_size must be an integer in [1, {count}] (the number of examples), got {batch_size!r}."
        )
    for name, value in (("max_past_tokens", max_past_tokens), ("max_future_tokens", max_future_tokens)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"dialogue_dataset: {name} must be a positive integer, got {value!r}.")
    if start_step < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}.")


def _ragged_views(examples, past_width, future_width, subview_width):
    """(past, future, subview) tf.RaggedTensors of ``examples``: the last P past tokens, the
    first whole utterances of the future / subview that fit; logs how many were cut."""
    over_past, over_future = _count_over(examples.past, past_width), _count_over(examples.future, future_width)
    if over_past or over_future:
        logging.info(
            "dialogue_dataset: %d of %d pasts cut to their last %d tokens, %d futures to their first %d",
            over_past, len(examples), past_width, over_future, future_width,
        )
    past_rt = _ragged(examples.past, keep_last=past_width)
    future_rt = _ragged(examples.future, keep_first=future_width)
    subview_rt = _ragged(examples.subview, keep_first=subview_width)
    return past_rt, future_rt, subview_rt


def _ragged_negatives(examples, negatives, num_negatives, width):
    """(tf.RaggedTensor of N negatives per example, row i*N + n, cut like futures to ``width``; N),
    or (None, 0) when ``negatives`` is None."""
    if negatives is None:
        return None, 0
    if isinstance(negatives, (str, os.PathLike)):
        negatives = load_negatives(negatives)
    tokens, negatives_per_example = align_negatives(examples, *negatives, num_negatives=num_negatives)
    return _ragged(tokens, keep_first=width), negatives_per_example


def _epoch_permutation(indices, seed, epoch, count):
    """int64 ``indices`` in [0, count) sent through the stateless permutation of (seed, epoch)."""
    return tf.random.experimental.index_shuffle(
        indices, seed=tf.stack([tf.constant(seed, tf.int64), epoch]), max_index=tf.constant(count - 1, tf.int64)
    )


def _batch_indices(step, batch_size, count, seed, shuffle, repeat):
    """int64 [B]: the example indices of batch ``step``, i.e. of stream positions p = step*B + b,
    p mod M permuted per epoch p // M when ``shuffle``."""
    start = step * batch_size
    size = batch_size if repeat else tf.minimum(tf.cast(batch_size, tf.int64), count - start)
    positions = start + tf.range(size, dtype=tf.int64)
    if not shuffle:
        return positions % count
    epochs = positions // count
    first_epoch = epochs[0]
    # batch_size <= count: a batch spans at most two epochs.
    return tf.where(
        epochs == first_epoch,
        _epoch_permutation(positions % count, seed, first_epoch, count),
        _epoch_permutation(positions % count, seed, first_epoch + 1, count),
    )


def _lm_target_mask(past_length, lm_length, width):
    """int32 [B, width]: 1 at t when logit t predicts a future token lm_ids[:, t + 1],
    i.e. past_length - 1 <= t < past_length + future_length - 1."""
    positions = tf.range(width)[None, :]
    return tf.cast((positions >= past_length[:, None] - 1) & (positions < lm_length[:, None] - 1), tf.int32)


def _negative_views(negatives_rt, index, negatives_per_example, width, multiple):
    """(negative_ids, negative_mask) int32 [B, N, width'] of the examples at ``index``."""
    rows = index[:, None] * negatives_per_example + tf.range(negatives_per_example, dtype=tf.int64)[None, :]
    negative = tf.gather(negatives_rt, tf.reshape(rows, [-1]))
    negative_ids, negative_mask, _ = _padded(negative, width, multiple)
    shape = tf.stack([tf.shape(index)[0], negatives_per_example, tf.shape(negative_ids)[1]])
    return tf.reshape(negative_ids, shape), tf.reshape(negative_mask, shape)


def dialogue_dataset(
    examples,
    batch_size,
    *,
    seed=0,
    start_step=0,
    shuffle=True,
    repeat=True,
    max_past_tokens=256,
    max_future_tokens=128,
    negatives=None,
    num_negatives=0,
    pad_to_multiple=0,
):
    """Batches of ``examples`` as dicts (the contract in this module's docstring).

    repeat=True: an endless stream, epoch after epoch; batch t holds the examples at
    stream positions t*B .. t*B+B-1, permuted per epoch with the stateless seed
    (seed, epoch) when ``shuffle``; every batch is full (batch_size <= M), so a run
    resumed at ``start_step`` sees exactly the batches it would have seen.
    repeat=False: one pass, ceil(M / B) batches (the last one smaller), from batch
    ``start_step`` on.

    Shapes are fixed: P = ``max_past_tokens``, F = ``max_future_tokens``, S =
    examples.max_utterance_tokens + 1, T = P + F (XLA-friendly, one trace). With
    ``pad_to_multiple`` = m > 0 each batch is padded only to its longest row rounded
    up to a multiple of m (at most P, F, S, T): less compute on short dialogues, a
    few distinct shapes, dims None in the element spec.

    negatives: None, a path of a .npz from tools/sample_negatives.py, or the tuple
    ``load_negatives`` returns; adds negative_ids / negative_mask [B, N, F].
    """
    count = len(examples)
    _check_dataset_args(count, batch_size, repeat, max_past_tokens, max_future_tokens, start_step)
    past_width, future_width = int(max_past_tokens), int(max_future_tokens)
    subview_width = int(examples.max_utterance_tokens) + 1
    lm_width = past_width + future_width
    past_rt, future_rt, subview_rt = _ragged_views(examples, past_width, future_width, subview_width)
    example_ids = tf.constant(examples.example_id, tf.int64)
    negatives_rt, negatives_per_example = _ragged_negatives(examples, negatives, num_negatives, future_width)
    seed = int(seed)
    multiple = int(pad_to_multiple or 0)

    def make_batch(step):
        index = _batch_indices(step, batch_size, count, seed, shuffle, repeat)
        past = tf.gather(past_rt, index)
        future = tf.gather(future_rt, index)
        past_ids, past_mask, past_length = _padded(past, past_width, multiple)
        future_ids, future_mask, future_length = _padded(future, future_width, multiple)
        subview_ids, subview_mask, subview_length = _padded(tf.gather(subview_rt, index), subview_width, multiple)
        lm_ids, lm_mask, lm_length = _padded(tf.concat([past, future], axis=1), lm_width, multiple)
        batch = {
            "past_ids": past_ids, "past_mask": past_mask, "past_length": past_length,
            "future_ids": future_ids, "future_mask": future_mask, "future_length": future_length,
            "subview_ids": subview_ids, "subview_mask": subview_mask, "subview_length": subview_length,
            "lm_ids": lm_ids, "lm_mask": lm_mask,
            "lm_target_mask": _lm_target_mask(past_length, lm_length, tf.shape(lm_ids)[1]),
            "example_id": tf.gather(example_ids, index),
        }
        if negatives_rt is not None:
            batch["negative_ids"], batch["negative_mask"] = _negative_views(
                negatives_rt, index, negatives_per_example, future_width, multiple
            )
        return batch

    stop = np.iinfo(np.int64).max if repeat else math.ceil(count / batch_size)
    dataset = tf.data.Dataset.range(start_step, stop).map(
        make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def dialogue_batches(
    batch_size,
    *,
    seed=0,
    start_step=0,
    shuffle=True,
    repeat=True,
    max_past_tokens=256,
    max_future_tokens=128,
    negatives_path="",
    num_negatives=0,
    pad_to_multiple=0,
    **example_fields,
):
    """``dialogue_dataset`` of ``dialogue_examples(**example_fields)``: the "dialogue"
    dataset of a config's ``data`` section.

    negatives_path: a .npz of tools/sample_negatives.py ("": none); num_negatives: the
    N stored negatives to use (0: all); pad_to_multiple: 0 for fixed shapes.
    """
    return dialogue_dataset(
        dialogue_examples(**example_fields),
        batch_size,
        seed=seed,
        start_step=start_step,
        shuffle=shuffle,
        repeat=repeat,
        max_past_tokens=int(max_past_tokens),
        max_future_tokens=int(max_future_tokens),
        negatives=negatives_path or None,
        num_negatives=int(num_negatives),
        pad_to_multiple=int(pad_to_multiple),
    )


def dialogue_dataset_from_config(config, batch_size, seed=0, start_step=0, *, split=None, shuffle=True, repeat=True):
    """``dialogue_batches`` of the fields of ``config`` (a config's ``data`` section);
    ``split`` overrides the section's split."""
    fields = as_dict(config)
    fields.pop("name", None)
    if split:
        fields["split"] = split
    return dialogue_batches(batch_size, seed=seed, start_step=start_step, shuffle=shuffle, repeat=repeat, **fields)
