r"""Dialogue examples: past / future / subview token lists of cleaned dialogues.

A dialogue of L utterances (x_1, ..., x_L) gives, for a split point k (1-indexed),

    past     x  = (x_1, ..., x_k)         the last ``max_past`` = 5 of them  (App. B.3)
    future   y  = (x_{k+1}, ..., x_L)      the first ``max_future`` = 3 of them
    subview  x' = x_k                       the most recent utterance of the past

with 2 < k < L, i.e. k in {3, ..., L-1}, as the paper states (Sec. 5.3). Dialogues with
L < 4 have no such k; with ``relax_short=True`` (default) they use 1 <= k < L instead
(k in {1, 2} for L = 3, k = 1 for L = 2: the past is then 1 or 2 utterances), with
``relax_short=False`` they give no example. Both cases are counted.

Token layout (GPT-2's byte-level BPE, ``tfmi.encoders.bpe``, the ids of ``tfmi.encoders.gpt2``):
every utterance u becomes ``ids(" " + u)`` (truncated to ``max_utterance_tokens`` tokens) followed by
``<|endoftext|>`` = 50256, which separates and terminates utterances; past, future and
subview are the concatenations of their utterances' token lists. So every view ends with
50256, the "last token" whose last-layer state DEMI's critic scores (App. B.1), and the
language model predicts the first future token from the separator that closes the past.
"""

import collections
import functools
from typing import NamedTuple

import numpy as np
from absl import logging

from tfmi.config_utils import as_dict, field_names
from tfmi.data.dialogue.corpora import DEFAULT_FRACTIONS, _format_counts, load_dialogues

END_OF_TEXT_ID = 50256  # GPT-2's <|endoftext|>: utterance separator and terminator
ID_STRIDE = 100_000  # example_id = dialogue_index * ID_STRIDE + k; k < ID_STRIDE


class DialogueExamples(NamedTuple):
    """Past / future / subview token lists of M examples (row i = example i).

    example_id int64 [M], dialogue_index int32 [M], k int32 [M] (1-indexed: the past is
    utterances 1..k), num_past / num_future int32 [M] (utterances in each view after the
    caps); past, future, subview: tuples of M int32 arrays (each view's tokens, every
    utterance closed by 50256); max_utterance_tokens: the per-utterance cap used; counts:
    what was built, relaxed, skipped or truncated.
    """

    example_id: np.ndarray
    dialogue_index: np.ndarray
    k: np.ndarray
    num_past: np.ndarray
    num_future: np.ndarray
    past: tuple
    future: tuple
    subview: tuple
    max_utterance_tokens: int
    counts: dict

    def __len__(self):
        return len(self.example_id)


def split_points(num_utterances, relax_short=True):
    """The k (1-indexed, past = utterances 1..k) allowed for a dialogue of L utterances.

    2 < k < L (the paper, Sec. 5.3) for L >= 4; for L in {2, 3}: 1 <= k < L when
    ``relax_short``, none otherwise; none for L < 2.
    """
    if num_utterances >= 4:
        return list(range(3, num_utterances))
    if relax_short and num_utterances >= 2:
        return list(range(1, num_utterances))
    return []


def example_id(dialogue_index, k):
    """The stable id of the example (dialogue ``dialogue_index``, split point k): index * ID_STRIDE + k."""
    return np.asarray(dialogue_index, np.int64) * ID_STRIDE + np.asarray(k, np.int64)


def decode_example_id(ids):
    """(dialogue_index, k) of example ids."""
    ids = np.asarray(ids, np.int64)
    return ids // ID_STRIDE, ids % ID_STRIDE


def _default_tokenizer():
    from tfmi.encoders import bpe  # GPT-2's BPE through HF tokenizers (the text extra)

    return bpe.encode_batch


def _tokenize_all(tokenizer, texts, chunk=8192):
    """Token id lists of ``texts``: ``tokenizer`` maps a list of strings to id lists."""
    ids = []
    for start in range(0, len(texts), chunk):
        out = tokenizer(list(texts[start : start + chunk]))
        if hasattr(out, "to_list"):  # a tf.RaggedTensor from keras-hub's TF path
            out = out.to_list()
        ids.extend(np.asarray(row, np.int32).reshape(-1) for row in out)
    return ids


def _closed_utterances(dialogues, tokenizer, max_utterance_tokens, counts):
    """int32 ``ids(" " + u)[:max_utterance_tokens] + [50256]`` of every utterance u of ``dialogues``,
    in order; adds the truncated ones to ``counts["utterances_truncated"]``."""
    texts = [" " + utterance for dialogue in dialogues for utterance in dialogue]
    tokens = _tokenize_all(tokenizer, texts) if texts else []
    eot = np.array([END_OF_TEXT_ID], np.int32)
    for i, ids in enumerate(tokens):
        if len(ids) > max_utterance_tokens:
            counts["utterances_truncated"] += 1
            ids = ids[:max_utterance_tokens]
        tokens[i] = np.concatenate([ids, eot])
    return tokens


def _chosen_split_points(index, length, relax_short, all_k, seed, counts):
    """The split points k that dialogue ``index`` of ``length`` utterances gives examples at
    (all allowed ones, or one drawn); counts the dialogue in ``counts``."""
    if length >= ID_STRIDE:
        raise ValueError(f"dialogue {index} has {length} utterances; at most {ID_STRIDE - 1} fit an example id.")
    ks = split_points(length, relax_short)
    if not ks:
        counts["dialogues_too_short"] += 1
        return []
    if length < 4:
        counts["dialogues_short_relaxed"] += 1
    if not all_k:
        ks = [ks[int(np.random.default_rng([int(seed), index]).integers(len(ks)))]]
    counts["dialogues_used"] += 1
    return ks


def make_examples(
    dialogues,
    tokenizer=None,
    *,
    max_past=5,
    max_future=3,
    max_utterance_tokens=64,
    all_k=True,
    seed=0,
    relax_short=True,
    log=True,
):
    """The (past, future, subview) examples of ``dialogues``, in a deterministic order.

    dialogues: cleaned utterance-string lists (``load_dialogues``); dialogue i's examples
        get ids ``example_id(i, k)``, so a list built from the same dialogues with the
        same settings always has the same ids in the same order (offline negatives are
        aligned by them).
    tokenizer: a callable mapping a list of strings to a list of token-id lists
        (default: ``tfmi.encoders.bpe.encode_batch``, GPT-2's BPE, the same ids as
        ``tfmi.encoders.gpt2.gpt2_tokenizer()``, without building the Keras layer).
    all_k: True -> one example per allowed k (``split_points``), in order of (i, k);
        False -> one k per dialogue drawn uniformly from the allowed ones with
        ``np.random.default_rng([seed, i])``.
    The past is the last ``max_past`` utterances of 1..k, the future utterances
    k+1 .. k+``max_future`` (App. B.3: five and three), the subview utterance k; each
    utterance is ``ids(" " + text)[:max_utterance_tokens] + [50256]``.
    """
    if tokenizer is None:
        tokenizer = _default_tokenizer()
    for name, value in (("max_past", max_past), ("max_future", max_future),
                        ("max_utterance_tokens", max_utterance_tokens)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"make_examples: {name} must be a positive integer, got {value!r}.")
    counts = collections.Counter(examples=0, dialogues_used=0)
    offsets = np.cumsum([0] + [len(d) for d in dialogues])
    tokens = _closed_utterances(dialogues, tokenizer, max_utterance_tokens, counts)
    columns = collections.defaultdict(list)
    for index, dialogue in enumerate(dialogues):
        ks = _chosen_split_points(index, len(dialogue), relax_short, all_k, seed, counts)
        utterances = tokens[offsets[index] : offsets[index + 1]]
        for k in ks:
            past = utterances[max(0, k - max_past) : k]
            future = utterances[k : k + max_future]
            columns["example_id"].append(index * ID_STRIDE + k)
            columns["dialogue_index"].append(index)
            columns["k"].append(k)
            columns["num_past"].append(len(past))
            columns["num_future"].append(len(future))
            columns["past"].append(np.concatenate(past))
            columns["future"].append(np.concatenate(future))
            columns["subview"].append(utterances[k - 1])
    counts["examples"] = len(columns["example_id"])
    counts = dict(counts)
    if log:
        logging.info("dialogue examples: %s", _format_counts(counts))
    return DialogueExamples(
        example_id=np.asarray(columns["example_id"], np.int64),
        dialogue_index=np.asarray(columns["dialogue_index"], np.int32),
        k=np.asarray(columns["k"], np.int32),
        num_past=np.asarray(columns["num_past"], np.int32),
        num_future=np.asarray(columns["num_future"], np.int32),
        past=tuple(columns["past"]),
        future=tuple(columns["future"]),
        subview=tuple(columns["subview"]),
        max_utterance_tokens=int(max_utterance_tokens),
        counts=counts,
    )


# ---------------------------------------------------------------------------------------
# From a config (the DATASETS entry; tools/sample_negatives.py and evaluation use the same)


def dialogue_examples(
    *,
    source="chitchat",
    path="",
    split="train",
    fractions=DEFAULT_FRACTIONS,
    split_seed=0,
    max_past=5,
    max_future=3,
    max_utterance_tokens=64,
    all_k=True,
    example_seed=0,
    relax_short=True,
    max_dialogues=0,
):
    """The ``DialogueExamples`` of a split of a corpus (cached per arguments).

    source: "chitchat" | "wow"; path: a WoW folder or file, or another chitchat JSON
    ("": the default); split: "train" | "valid" | "test" | "all", cut with ``fractions``
    and ``split_seed``; max_past, max_future, max_utterance_tokens, all_k, relax_short:
    as ``make_examples`` (``example_seed``: the k drawn when all_k is False);
    max_dialogues: 0 (all) or the first n dialogues of the split, for smoke runs.
    """
    return _cached_examples(
        str(source), str(path or ""), str(split), tuple(float(f) for f in fractions), int(split_seed),
        int(max_past), int(max_future), int(max_utterance_tokens), bool(all_k), int(example_seed),
        bool(relax_short), int(max_dialogues),
    )


@functools.lru_cache(maxsize=4)
def _cached_examples(source, path, split, fractions, split_seed, max_past, max_future, max_tokens, all_k,
                     example_seed, relax, max_dialogues):
    dialogues = load_dialogues(
        source, path, split, fractions=fractions, split_seed=split_seed, max_dialogues=max_dialogues
    )
    return make_examples(
        dialogues,
        max_past=max_past,
        max_future=max_future,
        max_utterance_tokens=max_tokens,
        all_k=all_k,
        seed=example_seed,
        relax_short=relax,
    )


def examples_from_config(config, split=None):
    """``dialogue_examples`` of the fields of ``config`` (a config's ``data`` section) that
    it takes; ``split`` overrides the section's split."""
    fields = {name: value for name, value in as_dict(config).items() if name in field_names(dialogue_examples)}
    if split:
        fields["split"] = split
    return dialogue_examples(**fields)

