r"""Dialogues as past / future views: the data of Sordoni et al. (2021), Sec. 5.3 and App. B.

A dialogue of L utterances (x_1, ..., x_L) gives, for a split point k (1-indexed),

    past     x  = (x_1, ..., x_k)         the last ``max_past`` = 5 of them  (App. B.3)
    future   y  = (x_{k+1}, ..., x_L)      the first ``max_future`` = 3 of them
    subview  x' = x_k                       the most recent utterance of the past

with 2 < k < L, i.e. k in {3, ..., L-1}, as the paper states (Sec. 5.3). Dialogues with
L < 4 have no such k; with ``relax_short=True`` (default) they use 1 <= k < L instead
(k in {1, 2} for L = 3, k = 1 for L = 2: the past is then 1 or 2 utterances), with
``relax_short=False`` they give no example. Both cases are counted.

Token layout (GPT-2's byte-level BPE, ``tfmi.encoders.bpe``, the ids of ``tfmi.encoders.gpt2``): every utterance u becomes
``ids(" " + u)`` (truncated to ``max_utterance_tokens`` tokens) followed by
``<|endoftext|>`` = 50256, which separates and terminates utterances; past, future and
subview are the concatenations of their utterances' token lists. So every view ends with
50256, the "last token" whose last-layer state DEMI's critic scores (App. B.1), and the
language model predicts the first future token from the separator that closes the past.

Sources: Wizard of Wikipedia (``load_wow``: ParlAI's JSON, downloaded by the user: a list
of dialogues {"dialog": [{"speaker", "text", ...}, ...], ...}; the distribution's
``train.json`` / ``valid_topic_split.json`` / ``test_topic_split.json`` are the paper's
train / "unseen" valid / test, Table 4) and the Chit Chat Challenge corpus of the PyPI
package ``chitchat-dataset==0.9.0`` (``load_chitchat``: 7,168 conversations, offline;
4,017 have two or more turns, split 3,615 / 201 / 201 by ``split_dialogues`` with the
default fractions (0.9, 0.05, 0.05) and seed 0: 111,245 training examples with all k).

Bad input never stops a run: utterances that are not valid UTF-8 text or are empty are
dropped, dialogues left with fewer than 2 utterances are dropped, over-long utterances
are truncated; every case is counted, returned and logged (absl).

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

import collections
import functools
import importlib.util
import json
import math
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from absl import logging

__all__ = [
    "END_OF_TEXT_ID",
    "PAD_ID",
    "ID_STRIDE",
    "WOW_FILES",
    "SOURCES",
    "SPLITS",
    "DialogueExamples",
    "load_wow",
    "load_chitchat",
    "chitchat_path",
    "clean_dialogues",
    "split_indices",
    "split_dialogues",
    "load_dialogues",
    "split_points",
    "example_id",
    "decode_example_id",
    "make_examples",
    "load_negatives",
    "align_negatives",
    "dialogue_dataset",
    "examples_from_config",
    "dialogue_dataset_from_config",
]

END_OF_TEXT_ID = 50256  # GPT-2's <|endoftext|>: utterance separator and terminator
PAD_ID = 0
ID_STRIDE = 100_000  # example_id = dialogue_index * ID_STRIDE + k; k < ID_STRIDE
SOURCES = ("chitchat", "wow")
SPLITS = ("train", "valid", "test", "all")
# ParlAI's Wizard of Wikipedia files; the paper's valid / test are the "unseen" (topic) splits.
WOW_FILES = {
    "train": "train.json",
    "valid": "valid_topic_split.json",
    "test": "test_topic_split.json",
    "valid_random": "valid_random_split.json",
    "test_random": "test_random_split.json",
}
DEFAULT_FRACTIONS = (0.9, 0.05, 0.05)
CHITCHAT_VERSION = "0.9.0"


# ---------------------------------------------------------------------------------------
# Loading and cleaning


def _valid_text(utterance):
    """The stripped text, or None when ``utterance`` is not a str of valid Unicode."""
    if not isinstance(utterance, str):
        return None
    try:
        utterance.encode("utf-8")  # lone surrogates: undecodable bytes or bad \u escapes
    except UnicodeEncodeError:
        return None
    return utterance.strip()


def clean_dialogues(dialogues, *, min_utterances=2, name="dialogues", log=True):
    """(kept dialogues, counts): drops bad utterances and too-short dialogues.

    ``dialogues``: a list of utterance lists (anything may be in them). An utterance
    that is not a str of valid UTF-8 text is dropped ("utterances_invalid"), so is an
    empty or all-whitespace one ("utterances_empty"); the others are stripped. A
    dialogue that is not a list ("dialogues_malformed") or keeps fewer than
    ``min_utterances`` utterances ("dialogues_too_short") is dropped.
    """
    counts = collections.Counter(dialogues_read=0, dialogues_kept=0)
    kept = []
    for dialogue in dialogues:
        counts["dialogues_read"] += 1
        if not isinstance(dialogue, (list, tuple)):
            counts["dialogues_malformed"] += 1
            continue
        utterances = []
        for utterance in dialogue:
            text = _valid_text(utterance)
            if text is None:
                counts["utterances_invalid"] += 1
            elif not text:
                counts["utterances_empty"] += 1
            else:
                utterances.append(text)
        if len(utterances) < min_utterances:
            counts["dialogues_too_short"] += 1
            continue
        counts["dialogues_kept"] += 1
        kept.append(utterances)
    counts = dict(counts)
    if log:
        logging.info("%s: %s", name, _format_counts(counts))
        if len(kept) < counts["dialogues_read"]:
            logging.warning(
                "%s: kept %d of %d dialogues (%s)",
                name, len(kept), counts["dialogues_read"], _format_counts(counts),
            )
    return kept, counts


def _format_counts(counts):
    return ", ".join(f"{key}={value}" for key, value in sorted(counts.items()))


def _read_json(path):
    """JSON from ``path``; invalid UTF-8 bytes become lone surrogates (dropped later)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}.") from None
    text = raw.decode("utf-8", errors="surrogateescape")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); expected {_WOW_FORMAT}.") from None


@functools.lru_cache(maxsize=2)
def _read_json_cached(path, mtime):
    del mtime  # part of the cache key: a changed file is read again
    return _read_json(path)


_WOW_FORMAT = (
    'ParlAI\'s Wizard of Wikipedia JSON: a list of dialogues {"dialog": [{"speaker": ..., '
    '"text": ...}, ...], ...} (train.json, valid_topic_split.json, ... from '
    "http://parl.ai/downloads/wizard_of_wikipedia/wizard_of_wikipedia.tgz)"
)


def _wow_file(path, split):
    if os.path.isdir(path):
        if split not in WOW_FILES:
            raise ValueError(
                f"{path} is a directory: split must name one of its Wizard of Wikipedia files "
                f"{sorted(WOW_FILES)} (-> {WOW_FILES}), got {split!r}."
            )
        path = os.path.join(path, WOW_FILES[split])
    if not os.path.isfile(path):
        raise ValueError(
            f"Wizard of Wikipedia file {path} not found. Download and unpack "
            "http://parl.ai/downloads/wizard_of_wikipedia/wizard_of_wikipedia.tgz and point "
            "config.data.path at the folder (or at one of its .json files)."
        )
    return path


def load_wow(path, split=None, *, clean=True):
    """Wizard of Wikipedia dialogues: a list of utterance-string lists, one per dialogue.

    ``path``: one of ParlAI's JSON files, or the folder holding them with ``split`` one
    of ``WOW_FILES`` ("train" -> train.json, "valid" -> valid_topic_split.json, "test" ->
    test_topic_split.json, "valid_random", "test_random"). The utterances are the
    "text" of each turn of "dialog", in order (speakers alternate). A dialogue that is
    not such a record is counted as malformed; with ``clean`` the result goes through
    ``clean_dialogues`` (counts logged).
    """
    path = _wow_file(path, split) if split is not None or os.path.isdir(path) else path
    data = _read_json(path)
    if not isinstance(data, list):
        raise ValueError(f"{path}: top-level {type(data).__name__}, expected {_WOW_FORMAT}.")
    dialogues = []
    for record in data:
        turns = record.get("dialog") if isinstance(record, dict) else None
        if not isinstance(turns, list):
            dialogues.append(None)  # counted as malformed by clean_dialogues
            continue
        dialogues.append([turn.get("text") if isinstance(turn, dict) else None for turn in turns])
    if not clean:
        return dialogues
    return clean_dialogues(dialogues, name=f"wow {os.path.basename(path)}")[0]


def chitchat_path():
    """Path of the chitchat-dataset package's dataset.json (found without importing it)."""
    try:
        spec = importlib.util.find_spec("chitchat_dataset")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(location, "dataset.json")
        if os.path.isfile(path):
            return path
    raise ValueError(
        "The Chit Chat Challenge corpus is not installed (module chitchat_dataset with its "
        f"dataset.json). Install it with: pip install chitchat-dataset=={CHITCHAT_VERSION} "
        "(part of the tfmi[text] extra)."
    )


def load_chitchat(path=None, *, clean=True):
    """The Chit Chat Challenge conversations: a list of utterance-string lists.

    The package's dataset.json maps conversation ids to {"messages": [[{"text",
    "sender", "timestamp"}, ...], ...]}: each message is one turn, a list of the lines
    one speaker sent in a row; a turn's utterance is its lines joined with " " (as the
    package's own ``ConversationDataset`` does). Conversations keep the file's order.
    """
    path = path or chitchat_path()
    data = _read_json_cached(os.path.abspath(path), os.path.getmtime(path)) if os.path.isfile(path) else _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected the chitchat-dataset JSON object {{id: {{'messages': ...}}}}.")
    dialogues = []
    for conversation in data.values():
        messages = conversation.get("messages") if isinstance(conversation, dict) else None
        if not isinstance(messages, list):
            dialogues.append(None)
            continue
        dialogue = []
        for message in messages:
            lines = message if isinstance(message, list) else []
            texts = [line.get("text") if isinstance(line, dict) else None for line in lines]
            if texts and all(isinstance(t, str) for t in texts):
                dialogue.append(" ".join(texts))
            else:
                dialogue.append(None)  # counted as invalid
        dialogues.append(dialogue)
    if not clean:
        return dialogues
    return clean_dialogues(dialogues, name="chitchat")[0]


def split_indices(count, fractions=DEFAULT_FRACTIONS, seed=0):
    """Disjoint sorted index arrays (train, valid, test) covering range(count).

    A permutation of range(count) drawn with ``seed`` is cut at round(cumsum(fractions)
    * count); each part is returned sorted (the dialogues keep their order).
    """
    fractions = np.asarray(fractions, np.float64)
    if fractions.shape != (3,) or np.any(fractions < 0) or abs(fractions.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must be three non-negative numbers (train, valid, test) summing to 1, "
            f"got {tuple(fractions.tolist())}."
        )
    permutation = np.random.default_rng(seed).permutation(count)
    bounds = np.round(np.cumsum(fractions) * count).astype(int)
    bounds[-1] = count
    parts = np.split(permutation, bounds[:2])
    return tuple(np.sort(part) for part in parts)


def split_dialogues(dialogues, fractions=DEFAULT_FRACTIONS, seed=0):
    """(train, valid, test) lists of dialogues: each dialogue in exactly one split."""
    return tuple([dialogues[i] for i in part] for part in split_indices(len(dialogues), fractions, seed))


def load_dialogues(source, path="", split="train", *, fractions=DEFAULT_FRACTIONS, split_seed=0, max_dialogues=0):
    """The cleaned dialogues of one split of a source.

    source "chitchat": the corpus (``path`` overrides the package's file), split by
    ``split_dialogues(fractions, split_seed)``. source "wow": ``path`` a folder of
    ParlAI's files -> the official file of ``split`` (see ``WOW_FILES``); ``path`` a
    single file -> that file split like chitchat. split "all": every dialogue.
    ``max_dialogues`` > 0 keeps the first that many of the split (smoke runs).
    """
    dialogues = _load_split(source, path, split, fractions, split_seed)
    if max_dialogues and max_dialogues > 0:
        dialogues = dialogues[: int(max_dialogues)]
    return dialogues


def _load_split(source, path, split, fractions, split_seed):
    if source not in SOURCES:
        raise ValueError(f"Unknown dialogue source {source!r}; choose one of {list(SOURCES)}.")
    if source == "wow":
        if not path:
            raise ValueError(
                "source='wow' needs config.data.path: the folder of ParlAI's Wizard of Wikipedia "
                "JSON files (or one of them). Offline, use source='chitchat'."
            )
        if os.path.isdir(path):
            if split == "all":
                raise ValueError("split='all' needs a single WoW file as path, not a folder.")
            return load_wow(path, split)
        dialogues = load_wow(path)
    else:
        dialogues = load_chitchat(path or None)
    if split == "all":
        return dialogues
    names = ("train", "valid", "test")
    if split not in names:
        raise ValueError(f"Unknown split {split!r}; choose one of {list(SPLITS)}.")
    return split_dialogues(dialogues, fractions, split_seed)[names.index(split)]


# ---------------------------------------------------------------------------------------
# Examples


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
    for name, value in (("max_past", max_past), ("max_future", max_future), ("max_utterance_tokens", max_utterance_tokens)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"make_examples: {name} must be a positive integer, got {value!r}.")
    counts = collections.Counter(examples=0, dialogues_used=0)
    offsets = np.cumsum([0] + [len(d) for d in dialogues])
    texts = [" " + utterance for dialogue in dialogues for utterance in dialogue]
    tokens = _tokenize_all(tokenizer, texts) if texts else []
    eot = np.array([END_OF_TEXT_ID], np.int32)
    for i, ids in enumerate(tokens):
        if len(ids) > max_utterance_tokens:
            counts["utterances_truncated"] += 1
            ids = ids[:max_utterance_tokens]
        tokens[i] = np.concatenate([ids, eot])
    columns = collections.defaultdict(list)
    for index, dialogue in enumerate(dialogues):
        length = len(dialogue)
        if length >= ID_STRIDE:
            raise ValueError(f"dialogue {index} has {length} utterances; at most {ID_STRIDE - 1} fit an example id.")
        ks = split_points(length, relax_short)
        if not ks:
            counts["dialogues_too_short"] += 1
            continue
        if length < 4:
            counts["dialogues_short_relaxed"] += 1
        if not all_k:
            ks = [ks[int(np.random.default_rng([int(seed), index]).integers(len(ks)))]]
        counts["dialogues_used"] += 1
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
# Negatives


def load_negatives(path):
    """(example_id [M], negative_ids [M, N, F'], negative_length [M, N] or None) from a .npz.

    The file ``tools/sample_negatives.py`` writes: ``example_id`` int64 [M] (ids of
    ``make_examples``), ``negative_ids`` int [M, N, F'] (N sampled futures per example,
    each formatted like a future: utterances closed by 50256, right-padded) and
    optionally ``negative_length`` int [M, N] (real tokens per negative). Without it the
    padding is inferred: ids < 0 if there are any (pad with -1), else a 0-padded negative
    ends at its last 50256 (or before its trailing zeros when it has none). Writing
    negative_length is the unambiguous choice.
    """
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read the negatives file {path}: {error}. Write it with tools/sample_negatives.py.") from None
    missing = [name for name in ("example_id", "negative_ids") if name not in arrays]
    if missing:
        raise ValueError(
            f"{path} lacks {missing}: a negatives file holds example_id [M], negative_ids [M, N, F] "
            "(and optionally negative_length [M, N]); write it with tools/sample_negatives.py."
        )
    return arrays["example_id"], arrays["negative_ids"], arrays.get("negative_length")


def _infer_negative_length(negative_ids):
    """Real tokens per negative when the file has no negative_length: ids < 0 are padding if
    any id is negative; otherwise (0-padded) a negative ends at its last 50256, or, without
    one, before its trailing zeros."""
    if (negative_ids < 0).any():
        return (negative_ids >= 0).sum(axis=-1)
    width = negative_ids.shape[-1]
    positions = np.arange(1, width + 1)
    last_eot = np.where(negative_ids == END_OF_TEXT_ID, positions, 0).max(axis=-1)
    last_nonzero = np.where(negative_ids != 0, positions, 0).max(axis=-1)
    return np.where(last_eot > 0, last_eot, last_nonzero)


def align_negatives(examples, negative_example_id, negative_ids, negative_length=None, num_negatives=0):
    """The negatives of each example, in the examples' order: (tokens, lengths).

    Returns a tuple of M * N int32 arrays (example i's n-th negative at i * N + n, padding
    removed) and N. ``num_negatives`` > 0 keeps the first that many of the N stored
    per example (error if fewer are stored); 0 keeps all. Every example id must be in
    ``negative_example_id`` (extra ids are ignored).
    """
    negative_example_id = np.asarray(negative_example_id, np.int64)
    negative_ids = np.asarray(negative_ids)
    if negative_ids.ndim != 3 or negative_ids.shape[0] != len(negative_example_id):
        raise ValueError(
            f"negative_ids must be [M, N, F] with M = len(example_id) = {len(negative_example_id)}, "
            f"got shape {negative_ids.shape}."
        )
    stored = negative_ids.shape[1]
    count = stored if not num_negatives else int(num_negatives)
    if not 1 <= count <= stored:
        raise ValueError(f"num_negatives={num_negatives} but the negatives file holds {stored} per example.")
    if negative_length is None:
        negative_length = _infer_negative_length(negative_ids)
    negative_length = np.asarray(negative_length)
    if negative_length.shape != negative_ids.shape[:2]:
        raise ValueError(f"negative_length must be [M, N] = {negative_ids.shape[:2]}, got {negative_length.shape}.")
    row_of = {int(i): row for row, i in enumerate(negative_example_id)}
    rows = np.array([row_of.get(int(i), -1) for i in examples.example_id], np.int64)
    if np.any(rows < 0):
        absent = examples.example_id[rows < 0]
        raise ValueError(
            f"the negatives cover {int((rows >= 0).sum())} of {len(rows)} examples (missing ids such as "
            f"{absent[:5].tolist()}): they were sampled for other data settings. Rerun "
            "tools/sample_negatives.py with the same config.data (source, path, split, max_past, "
            "max_future, max_utterance_tokens, all_k, split_seed)."
        )
    tokens = []
    for row in rows:
        for n in range(count):
            tokens.append(negative_ids[row, n, : negative_length[row, n]].astype(np.int32))
    return tuple(tokens), count


# ---------------------------------------------------------------------------------------
# tf.data


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
    past_width, future_width = int(max_past_tokens), int(max_future_tokens)
    subview_width = int(examples.max_utterance_tokens) + 1
    lm_width = past_width + future_width
    over_past, over_future = _count_over(examples.past, past_width), _count_over(examples.future, future_width)
    if over_past or over_future:
        logging.info(
            "dialogue_dataset: %d of %d pasts cut to their last %d tokens, %d futures to their first %d",
            over_past, count, past_width, over_future, future_width,
        )
    past_rt = _ragged(examples.past, keep_last=past_width)
    future_rt = _ragged(examples.future, keep_first=future_width)
    subview_rt = _ragged(examples.subview, keep_first=subview_width)
    example_ids = tf.constant(examples.example_id, tf.int64)
    negatives_rt, negatives_per_example = None, 0
    if negatives is not None:
        if isinstance(negatives, (str, os.PathLike)):
            negatives = load_negatives(negatives)
        tokens, negatives_per_example = align_negatives(examples, *negatives, num_negatives=num_negatives)
        negatives_rt = _ragged(tokens, keep_first=future_width)
    seed = int(seed)
    multiple = int(pad_to_multiple or 0)

    def positions_of(step):
        start = step * batch_size
        size = batch_size if repeat else tf.minimum(tf.cast(batch_size, tf.int64), count - start)
        return start + tf.range(size, dtype=tf.int64)

    def permuted(positions, epoch):
        return tf.random.experimental.index_shuffle(
            positions, seed=tf.stack([tf.constant(seed, tf.int64), epoch]), max_index=tf.constant(count - 1, tf.int64)
        )

    def indices_of(step):
        positions = positions_of(step)
        if not shuffle:
            return positions % count
        epochs = positions // count
        first_epoch = epochs[0]
        # batch_size <= count: a batch spans at most two epochs.
        return tf.where(
            epochs == first_epoch,
            permuted(positions % count, first_epoch),
            permuted(positions % count, first_epoch + 1),
        )

    def make_batch(step):
        index = indices_of(step)
        past = tf.gather(past_rt, index)
        future = tf.gather(future_rt, index)
        past_ids, past_mask, past_length = _padded(past, past_width, multiple)
        future_ids, future_mask, future_length = _padded(future, future_width, multiple)
        subview_ids, subview_mask, subview_length = _padded(tf.gather(subview_rt, index), subview_width, multiple)
        lm_ids, lm_mask, lm_length = _padded(tf.concat([past, future], axis=1), lm_width, multiple)
        positions = tf.range(tf.shape(lm_ids)[1])[None, :]
        # Logit t predicts lm_ids[t + 1]; score it when t + 1 is a future token.
        lm_target_mask = tf.cast(
            (positions >= past_length[:, None] - 1) & (positions < lm_length[:, None] - 1), tf.int32
        )
        batch = {
            "past_ids": past_ids, "past_mask": past_mask, "past_length": past_length,
            "future_ids": future_ids, "future_mask": future_mask, "future_length": future_length,
            "subview_ids": subview_ids, "subview_mask": subview_mask, "subview_length": subview_length,
            "lm_ids": lm_ids, "lm_mask": lm_mask, "lm_target_mask": lm_target_mask,
            "example_id": tf.gather(example_ids, index),
        }
        if negatives_rt is not None:
            rows = index[:, None] * negatives_per_example + tf.range(negatives_per_example, dtype=tf.int64)[None, :]
            negative = tf.gather(negatives_rt, tf.reshape(rows, [-1]))
            negative_ids, negative_mask, _ = _padded(negative, future_width, multiple)
            shape = tf.stack([tf.shape(index)[0], negatives_per_example, tf.shape(negative_ids)[1]])
            batch["negative_ids"] = tf.reshape(negative_ids, shape)
            batch["negative_mask"] = tf.reshape(negative_mask, shape)
        return batch

    stop = np.iinfo(np.int64).max if repeat else math.ceil(count / batch_size)
    dataset = tf.data.Dataset.range(start_step, stop).map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------------------------------
# From a config (the DATASETS entry; tools/sample_negatives.py and evaluation use the same)


def _example_settings(config, split=None):
    fractions = tuple(float(f) for f in config.get("fractions", DEFAULT_FRACTIONS))
    return (
        str(config.get("source", "chitchat")),
        str(config.get("path", "") or ""),
        str(split or config.get("split", "train")),
        fractions,
        int(config.get("split_seed", 0)),
        int(config.get("max_past", 5)),
        int(config.get("max_future", 3)),
        int(config.get("max_utterance_tokens", 64)),
        bool(config.get("all_k", True)),
        int(config.get("example_seed", 0)),
        bool(config.get("relax_short", True)),
        int(config.get("max_dialogues", 0)),
    )


@functools.lru_cache(maxsize=4)
def _cached_examples(settings):
    (source, path, split, fractions, split_seed, max_past, max_future, max_tokens, all_k, example_seed, relax,
     max_dialogues) = settings
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
    """The ``DialogueExamples`` that ``config`` (a config's ``data`` section) describes.

    Fields (defaults): source ("chitchat" | "wow"), path (""; WoW folder or file, or
    another chitchat JSON), split ("train" | "valid" | "test" | "all"; the ``split``
    argument overrides it), fractions ((0.9, 0.05, 0.05)), split_seed (0), max_past (5),
    max_future (3), max_utterance_tokens (64), all_k (True), example_seed (0; the k drawn
    when all_k is False), relax_short (True), max_dialogues (0: all; n > 0 keeps the
    first n dialogues of the split, for smoke runs). Cached per settings within a process.
    """
    return _cached_examples(_example_settings(config, split))


def dialogue_dataset_from_config(config, batch_size, seed=0, start_step=0, *, split=None, shuffle=True, repeat=True):
    """``dialogue_dataset`` of ``examples_from_config(config, split)``.

    Also reads max_past_tokens (256), max_future_tokens (128), negatives_path ("": none),
    num_negatives (0: all stored), pad_to_multiple (0: fixed shapes).
    """
    examples = examples_from_config(config, split)
    negatives_path = config.get("negatives_path", "") or None
    return dialogue_dataset(
        examples,
        batch_size,
        seed=seed,
        start_step=start_step,
        shuffle=shuffle,
        repeat=repeat,
        max_past_tokens=int(config.get("max_past_tokens", 256)),
        max_future_tokens=int(config.get("max_future_tokens", 128)),
        negatives=negatives_path,
        num_negatives=int(config.get("num_negatives", 0)),
        pad_to_multiple=int(config.get("pad_to_multiple", 0)),
    )
