r"""Dialogue corpora: loading Wizard of Wikipedia and the Chit Chat Challenge corpus,
cleaning them, and splitting them into train / valid / test.

Sources: Wizard of Wikipedia (``load_wow``: ParlAI's JSON, downloaded by the user: a list
of dialogues {"dialog": [{"speaker", "text", ...}, ...], ...}; the distribution's
``train.json`` / ``valid_topic_split.json`` / ``test_topic_split.json`` are the paper's
train / "unseen" valid / test, Table 4) and the Chit Chat Challenge corpus of the PyPI
package ``chitchat-dataset==0.9.0`` (``load_chitchat``: 7,168 conversations, offline;
4,017 have two or more turns, split 3,615 / 201 / 201 by ``split_dialogues`` with the
default fractions (0.9, 0.05, 0.05) and seed 0: 111,245 training examples with all k).

Bad input never stops a run: utterances that are not valid UTF-8 text or are empty are
dropped, dialogues left with fewer than 2 utterances are dropped, over-long utterances
are truncated (``tfmi.data.dialogue.examples``); every case is counted, returned and
logged (absl).
"""

import collections
import functools
import importlib.util
import json
import os

import numpy as np
from absl import logging

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
    data = (_read_json_cached(os.path.abspath(path), os.path.getmtime(path)) if os.path.isfile(path)
            else _read_json(path))
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
