r"""Automatic metrics of generated dialogue responses (Sordoni et al. 2021, Table 2, 5, 6; App. B.4).

Pure NumPy (BLEU through sacrebleu). A "sequence" is a list of tokens: GPT-2 ids (what
Welleck et al. 2020 compute their repetition metrics on) or words (a str is split on
whitespace). Every function states its formula.

Likelihood (teacher-forced, on the reference futures):

- ``perplexity(nll_sum, token_count)``           = exp(sum_t -log p(y_t | y_<t, x) / #tokens)

Token-level next-token metrics of Welleck et al. (2020), "Neural text generation with
unlikelihood training", Sec. 6 (the ``TokenLevelMetrics`` accumulator): at every scored
position t, the model's greedy prediction y^_t = argmax_v p(v | x_<t) of the true next
token x_t, with the context C_t = the ``context_length`` tokens before x_t:

- rep   = sum_t 1[y^_t in C_t] / #scored tokens                 (predictions that repeat)
- wrep  = sum_t 1[y^_t in C_t and y^_t != x_t] / #scored tokens (wrong repetitions;
          Welleck et al.'s normaliser, as in their code, so wrep <= rep)
- wrep_wrong = sum_t 1[y^_t in C_t and y^_t != x_t] / sum_t 1[y^_t != x_t]
          (the share of wrong predictions that are repetitions; the DEMI paper's
          Tables 5 / 6 have wrep > rep in places, which only this normaliser allows)
- uniq  = |{y^_t}|: unique next-token predictions over the whole evaluation set
- human_rep = sum_t 1[x_t in C_t] / #scored tokens and human_uniq = |{x_t}|: the same
          for the reference tokens (the paper's "Ground Truth" row: rep 0.095, uniq 9236)
- acc   = sum_t 1[y^_t = x_t] / #scored tokens

Sequence-level metrics of generated continuations w_{1:N}:

- ``seq_rep_n`` (Welleck et al. 2020, the DEMI paper's eq. 37) =
  mean over continuations of 1 - |unique n-grams(w_{1:N})| / |n-grams(w_{1:N})|
  (continuations with fewer than n tokens have no n-grams and are left out);
  ``seq_rep_avg`` = mean of seq-rep-n over n = 2..6 (App. B.4).
- ``distinct_n`` (Li et al. 2016, dist-n) = |distinct n-grams over all responses| /
  |n-grams over all responses|.
- ``entropy_n`` (Zhang et al. 2018, Ent-n) = -sum_g F(g)/Z log(F(g)/Z), F(g) the count
  of n-gram g over all responses, Z = sum_g F(g): the entropy (nats) of the empirical
  n-gram distribution. ``level="sentence"`` averages the entropy of each response's own
  n-gram distribution instead (App. B.4's wording, "for each given sentence").
  Neither reproduces the scale of the paper's Entropy-4 (~0.1; corpus-level Ent-4 of
  thousands of responses is ~10 nats, per-sentence ~2-3 nats): the paper does not say
  how it normalised, so we report the cited definition (corpus level) and say so.
- ``bleu`` = sacrebleu's corpus BLEU (Papineni et al. 2002; 4-grams, brevity penalty,
  13a tokenisation), 0..100 like sacrebleu (the paper's 0.78 reads as this scale).
"""

import collections
import math

import numpy as np

__all__ = [
    "perplexity",
    "ngrams",
    "seq_rep_n",
    "seq_rep_avg",
    "distinct_n",
    "entropy_n",
    "bleu",
    "sequence_metrics",
    "TokenLevelMetrics",
    "token_level_metrics",
]


def _tokens(sequence):
    if isinstance(sequence, str):
        return sequence.split()
    return list(np.asarray(sequence).reshape(-1).tolist()) if not isinstance(sequence, list) else sequence


def ngrams(sequence, n):
    """The n-grams of a token sequence, in order: [(w_i, ..., w_{i+n-1}) for i]."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    tokens = _tokens(sequence)
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def perplexity(nll_sum, token_count):
    """exp(nll_sum / token_count): nll_sum the summed -log p (nats) of token_count tokens."""
    nll_sum, token_count = float(nll_sum), float(token_count)
    if token_count <= 0:
        raise ValueError(f"perplexity needs a positive token count, got {token_count}.")
    return math.exp(nll_sum / token_count)


def seq_rep_n(sequences, n):
    """mean over sequences of 1 - |unique n-grams| / |n-grams| (sequences shorter than n left out).

    NaN when no sequence has an n-gram.
    """
    values = []
    for sequence in sequences:
        grams = ngrams(sequence, n)
        if grams:
            values.append(1.0 - len(set(grams)) / len(grams))
    return float(np.mean(values)) if values else float("nan")


def seq_rep_avg(sequences, orders=(2, 3, 4, 5, 6)):
    """The mean of ``seq_rep_n`` over n in ``orders`` (2..6 in App. B.4; NaN orders skipped)."""
    sequences = list(sequences)
    values = [seq_rep_n(sequences, n) for n in orders]
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def distinct_n(sequences, n):
    """|distinct n-grams over all sequences| / |n-grams over all sequences| (0 if none)."""
    grams = [gram for sequence in sequences for gram in ngrams(sequence, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _entropy(counts):
    counts = np.asarray(list(counts), np.float64)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def entropy_n(sequences, n=4, level="corpus"):
    """Entropy (nats) of the empirical n-gram distribution, -sum_g p(g) log p(g).

    level "corpus": p(g) = count of g over all sequences / all n-grams (Zhang et al.
    2018). level "sentence": the mean over sequences (with at least one n-gram) of the
    entropy of each sequence's own n-gram counts.
    """
    if level == "corpus":
        return _entropy(collections.Counter(g for s in sequences for g in ngrams(s, n)).values())
    if level == "sentence":
        values = [_entropy(collections.Counter(ngrams(s, n)).values()) for s in sequences]
        values = [v for s, v in zip(sequences, values) if len(_tokens(s)) >= n]
        return float(np.mean(values)) if values else 0.0
    raise ValueError(f"entropy_n: level must be 'corpus' or 'sentence', got {level!r}.")


def bleu(hypotheses, references, **kwargs):
    """Corpus BLEU (0..100) of hypothesis strings against one reference string each (sacrebleu).

    ``kwargs`` go to ``sacrebleu.corpus_bleu`` (e.g. tokenize="13a", the default).
    """
    import sacrebleu  # optional dependency (the text extra)

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(f"bleu: {len(hypotheses)} hypotheses but {len(references)} references.")
    return float(sacrebleu.corpus_bleu(hypotheses, [references], **kwargs).score)


def sequence_metrics(sequences):
    """The sequence-level columns of Tables 5 / 6 for a list of generated responses.

    {"seq_rep_avg", "dist_1", "dist_2", "entropy_4" (corpus level), "entropy_4_sentence"}.
    """
    sequences = [_tokens(s) for s in sequences]
    return {
        "seq_rep_avg": seq_rep_avg(sequences),
        "dist_1": distinct_n(sequences, 1),
        "dist_2": distinct_n(sequences, 2),
        "entropy_4": entropy_n(sequences, 4),
        "entropy_4_sentence": entropy_n(sequences, 4, level="sentence"),
    }


class TokenLevelMetrics:
    """Accumulates Welleck et al.'s next-token metrics over batches (formulas in the module doc).

    ``update(predictions, token_ids, target_mask)`` with int arrays [B, T]:
    predictions[b, t] = argmax of the model's logits at position t (its guess for
    token_ids[b, t + 1]); target_mask[b, t] = 1 where that prediction is scored (the
    dialogue batches' ``lm_target_mask``: the future tokens). The context of the target
    token_ids[b, t + 1] is token_ids[b, max(0, t + 1 - context_length) : t + 1]
    (past and future tokens alike). Welleck et al. report l = 128 among others.
    """

    def __init__(self, context_length=128):
        if context_length < 1:
            raise ValueError(f"context_length must be >= 1, got {context_length}.")
        self.context_length = int(context_length)
        self.scored = 0
        self.correct = 0
        self.repeats = 0
        self.wrong = 0
        self.wrong_repeats = 0
        self.human_repeats = 0
        self.predicted = set()
        self.targets = set()

    def update(self, predictions, token_ids, target_mask):
        predictions = np.asarray(predictions)
        token_ids = np.asarray(token_ids)
        target_mask = np.asarray(target_mask).astype(bool)
        if not (predictions.shape == token_ids.shape == target_mask.shape and predictions.ndim == 2):
            raise ValueError(
                "TokenLevelMetrics.update: predictions, token_ids and target_mask must all be [B, T], "
                f"got {predictions.shape}, {token_ids.shape}, {target_mask.shape}."
            )
        if target_mask[:, -1].any():
            raise ValueError("target_mask marks the last position, which has no next token to predict.")
        l = self.context_length
        batch, length = token_ids.shape
        ids = token_ids.astype(np.int64)
        # padded[:, l + i] = ids[:, i]; window j of padded = ids[:, j - l : j] (-1 off the left edge).
        padded = np.concatenate([np.full([batch, l], -1, np.int64), ids], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(padded, l, axis=1)[:, 1 : length + 1]
        targets = np.concatenate([ids[:, 1:], np.full([batch, 1], -1, np.int64)], axis=1)
        guesses = predictions.astype(np.int64)
        repeat = (windows == guesses[..., None]).any(-1)[target_mask]
        human_repeat = (windows == targets[..., None]).any(-1)[target_mask]
        guesses, targets = guesses[target_mask], targets[target_mask]
        wrong = guesses != targets
        self.scored += int(target_mask.sum())
        self.correct += int((~wrong).sum())
        self.repeats += int(repeat.sum())
        self.wrong += int(wrong.sum())
        self.wrong_repeats += int((repeat & wrong).sum())
        self.human_repeats += int(human_repeat.sum())
        self.predicted.update(np.unique(guesses).tolist())
        self.targets.update(np.unique(targets).tolist())
        return self

    def result(self):
        """{"rep", "wrep", "wrep_wrong", "uniq", "human_rep", "human_uniq", "acc", "tokens"}."""
        scored = max(self.scored, 1)
        return {
            "rep": self.repeats / scored,
            "wrep": self.wrong_repeats / scored,
            "wrep_wrong": self.wrong_repeats / max(self.wrong, 1),
            "uniq": len(self.predicted),
            "human_rep": self.human_repeats / scored,
            "human_uniq": len(self.targets),
            "acc": self.correct / scored,
            "tokens": self.scored,
        }


def token_level_metrics(predictions, token_ids, target_mask, context_length=128):
    """``TokenLevelMetrics(context_length).update(...).result()`` for one set of arrays."""
    return TokenLevelMetrics(context_length).update(predictions, token_ids, target_mask).result()
