"""tfmi.evaluation.dialogue on hand-made inputs: the response sampling contract, the MMI
reranking (against the argmax computed here), the first utterance of a future and the
response metrics. The end-to-end run of tools/eval_dialogue.py on tiny models is in
tests/test_dialogue_model.py."""

from types import SimpleNamespace

import numpy as np
import pytest

from tfmi.data.dialogue import END_OF_TEXT_ID
from tfmi.evaluation import dialogue


def _batch(pasts, width=4):
    ids = np.zeros((len(pasts), width), np.int32)
    for row, past in enumerate(pasts):
        ids[row, : len(past)] = past
    return {"past_ids": ids, "past_length": np.array([len(p) for p in pasts], np.int32)}


class _EchoGenerator:
    """Continues each prompt with its row index, then [1, 2, 3]; records its calls."""

    max_sequence_length = 10

    def __init__(self):
        self.calls = []

    def __call__(self, prompt_ids, prompt_length, max_new_tokens, stop_token_ids=None):
        self.calls.append((prompt_ids.shape, max_new_tokens, stop_token_ids))
        rows = len(prompt_ids)
        ids = np.tile(np.array([1, 2, 3, 0, 0, 0], np.int32)[:max_new_tokens], (rows, 1))
        ids[:, 0] = np.arange(rows) + 100
        return ids, ids > 0


def test_sample_responses_repeats_each_past_and_leaves_room_in_the_backbone():
    generator = _EchoGenerator()
    batch = _batch([[5, 6], [7]])
    responses = dialogue.sample_responses(generator, batch, max_new_tokens=40, samples=3)
    # 2 pasts x 3 samples, rows repeated in order; 10 positions - 4 of the pasts = 6 new.
    assert generator.calls == [((6, 4), 6, [END_OF_TEXT_ID])]
    assert responses == [[100 + r, 2, 3] for r in range(6)]
    with pytest.raises(ValueError, match="no room to generate"):
        dialogue.sample_responses(generator, _batch([[5]], width=10), max_new_tokens=5)


def test_mmi_rerank_keeps_the_candidate_the_backward_model_scores_highest():
    scores = {}

    def sequence_log_prob(future, future_length, past, past_length):
        # A score computed from the inputs: sum of the future ids minus the past length.
        values = [float(f[:n].sum()) - float(p) for f, n, p in zip(future, future_length, past_length)]
        for f, n in zip(future, future_length):
            scores.setdefault(tuple(f[:n]), None)
        return np.array(values)

    backward = SimpleNamespace(backbone=SimpleNamespace(max_sequence_length=12), sequence_log_prob=sequence_log_prob)
    batch = _batch([[5, 6], [7]])
    candidates = [[1], [9, 9], [3], [2, 2], [8], [1, 1, 1]]  # 3 per past
    best = dialogue.mmi_rerank(backward, batch, candidates, samples=3)
    # Each candidate is scored closed by <|endoftext|>, like a reference future.
    assert all(key[-1] == END_OF_TEXT_ID for key in scores)
    expected = []
    for i in range(2):
        group = candidates[3 * i : 3 * i + 3]
        expected.append(group[int(np.argmax([sum(c) for c in group]))])
    assert best == expected == [[9, 9], [8]]


def test_first_utterance_stops_at_the_end_token():
    assert dialogue.first_utterance([4, 5, END_OF_TEXT_ID, 6, END_OF_TEXT_ID]) == [4, 5]
    assert dialogue.first_utterance([4, 5]) == [4, 5]


def test_response_metrics_of_hand_made_responses():
    class Tokenizer:
        def detokenize(self, ids):
            return " ".join(f"w{int(i)}" for i in ids)

    responses = [[1, 2, 1, 2], [3]]
    metrics, texts = dialogue.response_metrics(responses, responses, Tokenizer())
    assert texts == ["w1 w2 w1 w2", "w3"]
    # 5 words, 3 distinct; 3 bigrams (w1 w2, w2 w1, w1 w2), 2 distinct.
    assert metrics["dist_1"] == pytest.approx(3 / 5)
    assert metrics["dist_2"] == pytest.approx(2 / 3)
    assert metrics["bleu"] == pytest.approx(100.0)
