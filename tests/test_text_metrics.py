"""Text metrics on hand-computed examples (Sordoni et al. 2021, App. B.4; Welleck et al. 2020)."""

import math

import numpy as np
import pytest

from tfmi.evaluation import text_metrics as tm


def test_perplexity():
    assert tm.perplexity(3 * math.log(2.0), 3) == pytest.approx(2.0)
    assert tm.perplexity(0.0, 10) == 1.0
    with pytest.raises(ValueError, match="positive token count"):
        tm.perplexity(1.0, 0)


def test_ngrams():
    assert tm.ngrams([1, 2, 3], 2) == [(1, 2), (2, 3)]
    assert tm.ngrams("a b", 3) == []
    assert tm.ngrams(np.array([4, 5]), 1) == [(4,), (5,)]


def test_seq_rep():
    # [1 2 1 2 1]: bigrams 12 21 12 21 -> 1 - 2/4; trigrams 121 212 121 -> 1 - 2/3.
    assert tm.seq_rep_n([[1, 2, 1, 2, 1]], 2) == pytest.approx(0.5)
    assert tm.seq_rep_n([[1, 2, 1, 2, 1]], 3) == pytest.approx(1 / 3)
    # Averaged over continuations; [7] has no bigram and is left out.
    assert tm.seq_rep_n([[1, 2, 1, 2, 1], [1, 2, 3], [7]], 2) == pytest.approx(0.25)
    assert math.isnan(tm.seq_rep_n([[7]], 2))
    # Seven equal tokens: 1 - 1/(8 - n) for n = 2..6.
    expected = np.mean([1 - 1 / (8 - n) for n in range(2, 7)])
    assert tm.seq_rep_avg([[5] * 7]) == pytest.approx(expected)
    # Orders a continuation is too short for are skipped.
    assert tm.seq_rep_avg([[5, 5, 5]]) == pytest.approx(np.mean([0.5, 0.0]))


def test_distinct():
    responses = ["a b a", "a c"]
    assert tm.distinct_n(responses, 1) == pytest.approx(3 / 5)  # a b a a c
    assert tm.distinct_n(responses, 2) == pytest.approx(1.0)  # ab ba ac
    assert tm.distinct_n([[1, 1, 1, 1]], 2) == pytest.approx(1 / 3)
    assert tm.distinct_n([[1]], 2) == 0.0


def test_entropy():
    # Unigrams 1 1 1 2: p = (3/4, 1/4).
    assert tm.entropy_n([[1, 1, 1, 2]], 1) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    # "a b c d a b c d": 4-grams abcd x2, bcda, cdab, dabc -> p = (2/5, 1/5, 1/5, 1/5).
    h = -(0.4 * math.log(0.4) + 3 * 0.2 * math.log(0.2))
    assert tm.entropy_n(["a b c d a b c d"], 4) == pytest.approx(h)
    # Corpus level pools the counts; sentence level averages per-response entropies.
    assert tm.entropy_n(["a b", "a b"], 2) == pytest.approx(0.0)
    assert tm.entropy_n(["a b", "c d"], 2) == pytest.approx(math.log(2))
    assert tm.entropy_n(["a b", "c d"], 2, level="sentence") == pytest.approx(0.0)
    assert tm.entropy_n(["a b c", "x"], 2, level="sentence") == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="level"):
        tm.entropy_n(["a"], 1, level="word")


def test_bleu_hand_computed():
    pytest.importorskip("sacrebleu")
    # p1..p4 = 6/7, 4/6, 2/5, 1/4, equal lengths (no brevity penalty).
    expected = 100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25
    score = tm.bleu(["the cat sat on the mat today"], ["the cat sat on a mat today"])
    assert score == pytest.approx(expected, rel=1e-6)
    assert tm.bleu(["a b c d e"], ["a b c d e"]) == pytest.approx(100.0)
    # A hypothesis 5 tokens long against a 7-token reference: brevity penalty exp(1 - 7/5).
    short = tm.bleu(["the cat sat on the"], ["the cat sat on the mat today"])
    assert short == pytest.approx(100 * math.exp(1 - 7 / 5), rel=1e-6)
    with pytest.raises(ValueError, match="references"):
        tm.bleu(["a"], [])


def test_token_level_hand_computed():
    ids = np.array([[5, 6, 5, 7, 6]])
    mask = np.array([[0, 1, 1, 1, 0]])  # predictions at t = 1, 2, 3 of ids[2], ids[3], ids[4]
    predictions = np.array([[0, 5, 6, 9, 0]])  # right (a repeat), wrong repeat, wrong new token
    result = tm.token_level_metrics(predictions, ids, mask)
    assert result == pytest.approx({
        "rep": 2 / 3, "wrep": 1 / 3, "wrep_wrong": 1 / 2, "uniq": 3,
        "human_rep": 2 / 3,  # targets 5 (seen), 7 (new), 6 (seen)
        "human_uniq": 3, "acc": 1 / 3, "tokens": 3,
    })
    # A context of one token: only the token just before the target counts.
    short = tm.token_level_metrics(predictions, ids, mask, context_length=1)
    assert short["rep"] == 0.0 and short["human_rep"] == 0.0
    with pytest.raises(ValueError, match="last position"):
        tm.token_level_metrics(predictions, ids, np.array([[0, 0, 0, 0, 1]]))


def test_token_level_matches_a_loop():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 12, size=[3, 20])
    predictions = rng.integers(0, 12, size=[3, 20])
    mask = np.zeros([3, 20], int)
    mask[:, 4:15] = 1
    l = 6
    counts = dict(rep=0, wrong=0, wrep=0, human=0)
    for b in range(3):
        for t in range(4, 15):
            context = ids[b, max(0, t + 1 - l) : t + 1].tolist()
            guess, target = predictions[b, t], ids[b, t + 1]
            counts["rep"] += guess in context
            counts["wrong"] += guess != target
            counts["wrep"] += guess in context and guess != target
            counts["human"] += target in context
    metrics = tm.TokenLevelMetrics(context_length=l)
    metrics.update(predictions[:2], ids[:2], mask[:2]).update(predictions[2:], ids[2:], mask[2:])
    result = metrics.result()
    assert result["rep"] == pytest.approx(counts["rep"] / 33)
    assert result["wrep"] == pytest.approx(counts["wrep"] / 33)
    assert result["wrep_wrong"] == pytest.approx(counts["wrep"] / counts["wrong"])
    assert result["human_rep"] == pytest.approx(counts["human"] / 33)
    assert result["uniq"] == len(set(predictions[:, 4:15].ravel().tolist()))


def test_sequence_metrics_bundle():
    responses = ["a b c d a b c d", "a b"]
    result = tm.sequence_metrics(responses)
    tokens = [r.split() for r in responses]
    assert result == pytest.approx({
        "seq_rep_avg": tm.seq_rep_avg(tokens), "dist_1": 4 / 10, "dist_2": 4 / 8,
        "entropy_4": tm.entropy_n(tokens, 4), "entropy_4_sentence": tm.entropy_n(tokens[:1], 4),
    })
