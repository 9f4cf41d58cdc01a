r"""DEMI's conditional negatives of dialogue examples: N sampled futures per example,
formatted like a true future (``format_future``), stored in a .npz by
tools/sample_negatives.py (``load_negatives``) and put in the examples' order
(``align_negatives``).
"""

import numpy as np

from tfmi.data.dialogue.examples import END_OF_TEXT_ID


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
        raise ValueError(
            f"cannot read the negatives file {path}: {error}. Write it with tools/sample_negatives.py."
        ) from None
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


def format_future(generated, utterances, max_utterance_tokens, limit, end_id):
    """Sampled tokens formatted exactly like a reference future (tfmi.data.dialogue):
    the first ``utterances`` utterances (split at ``end_id``), each cut to
    ``max_utterance_tokens`` and closed by ``end_id`` (an unfinished last one too), then
    cut to ``limit`` tokens keeping whole utterances.

    Without this, a sample cut off by the length limit would end in a word where every
    true future ends in <|endoftext|>, and the critic (which reads the last token's
    state) could tell the negatives apart by that alone.
    """
    pieces, current = [], []
    for token in np.asarray(generated).tolist():
        if token == end_id:
            pieces.append(current)
            current = []
            if len(pieces) == utterances:
                break
        else:
            current.append(token)
    if len(pieces) < utterances and (current or not pieces):
        pieces.append(current)
    tokens = np.array([t for piece in pieces for t in piece[:max_utterance_tokens] + [end_id]], np.int32)
    if len(tokens) <= limit:
        return tokens
    ends = np.flatnonzero(tokens[:limit] == end_id)
    return tokens[: ends[-1] + 1] if len(ends) else np.append(tokens[: limit - 1], end_id).astype(np.int32)
