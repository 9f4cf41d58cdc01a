"""Dialogue data: loaders, cleaning counts, splits, past/future/subview examples, the batch
contract, resumption and offline negatives (Sordoni et al. 2021, Sec. 5.3, App. B.3)."""

import json
import math

import ml_collections
import numpy as np
import pytest

from tfmi.data import DATASETS, build_dataset
from tfmi.data import dialogue as D
from tfmi.data.dialogue.negatives import _infer_negative_length

EOT = D.END_OF_TEXT_ID


def number_tokenizer(texts):
    """Utterance " 3 3 3" -> [3, 3, 3]: token values name the utterance they come from."""
    return [[int(w) for w in text.split()] for text in texts]


def numbered_dialogue(length, repeats=2):
    """Utterance i (1-indexed) is "i i" (``repeats`` copies)."""
    return [" ".join([str(i)] * repeats) for i in range(1, length + 1)]


def utterance_tokens(i, repeats=2):
    return [i] * repeats + [EOT]


def write_wow(path, records, raw_suffix=b""):
    data = json.dumps(records).encode("utf-8")
    path.write_bytes(data + raw_suffix)
    return str(path)


WOW = [
    {"chosen_topic": "Archery", "dialog": [
        {"speaker": "0_Wizard", "text": "Archery is a sport."},
        {"speaker": "1_Apprentice", "text": "  Do you know where it originated?  "},
        {"speaker": "0_Wizard", "text": "Ancient Mesopotamia."},
        {"speaker": "1_Apprentice", "text": "Cool."},
    ]},
    {"chosen_topic": "Solo", "dialog": [{"speaker": "0_Wizard", "text": "Only one turn."}]},
    {"chosen_topic": "Empty", "dialog": [
        {"speaker": "0_Wizard", "text": "Hi"}, {"speaker": "1_Apprentice", "text": "   "},
        {"speaker": "0_Wizard", "text": "Anyone?"},
    ]},
    {"chosen_topic": "Broken", "no_dialog": []},
    {"chosen_topic": "Null", "dialog": [
        {"speaker": "0_Wizard", "text": None}, {"speaker": "1_Apprentice", "text": "a"},
        {"speaker": "0_Wizard", "text": "bad \udcff byte"}, {"speaker": "1_Apprentice", "text": "b"},
    ]},
]


# ---------------------------------------------------------------------------------------
# Loading and cleaning


def test_load_wow_cleans_and_counts(tmp_path):
    path = write_wow(tmp_path / "train.json", WOW)
    raw = D.load_wow(path, clean=False)
    assert len(raw) == 5 and raw[3] is None
    dialogues, counts = D.clean_dialogues(raw, log=False)
    assert dialogues == [
        ["Archery is a sport.", "Do you know where it originated?", "Ancient Mesopotamia.", "Cool."],
        ["Hi", "Anyone?"],
        ["a", "b"],
    ]
    assert counts == {
        "dialogues_read": 5, "dialogues_kept": 3, "dialogues_too_short": 1, "dialogues_malformed": 1,
        "utterances_empty": 1, "utterances_invalid": 2,
    }
    assert D.load_wow(path) == dialogues


def test_load_wow_invalid_utf8_bytes_are_skipped(tmp_path):
    good = json.dumps([{"dialog": [{"text": "x"}, {"text": "PLACEHOLDER"}, {"text": "y"}]}]).encode()
    path = tmp_path / "bad.json"
    path.write_bytes(good.replace(b"PLACEHOLDER", b"caf\xe9"))  # Latin-1 byte: not UTF-8
    assert D.load_wow(str(path)) == [["x", "y"]]


def test_load_wow_folder_picks_the_official_file(tmp_path):
    write_wow(tmp_path / "valid_topic_split.json", WOW[:1])
    write_wow(tmp_path / "train.json", WOW[:1] * 2)
    assert len(D.load_wow(str(tmp_path), "valid")) == 1
    assert len(D.load_dialogues("wow", str(tmp_path), "train")) == 2
    assert len(D.load_dialogues("wow", str(tmp_path), "train", max_dialogues=1)) == 1
    with pytest.raises(ValueError, match="not found"):
        D.load_wow(str(tmp_path), "test")
    with pytest.raises(ValueError, match="config.data.path"):
        D.load_dialogues("wow", "", "train")


def test_load_wow_bad_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        D.load_wow(str(tmp_path / "x.json"))
    (tmp_path / "y.json").write_text('{"dialog": []}')
    with pytest.raises(ValueError, match="top-level dict"):
        D.load_wow(str(tmp_path / "y.json"))


def test_load_chitchat_format(tmp_path):
    data = {
        "c1": {"messages": [[{"text": "Hello", "sender": "a"}, {"text": "How are you?", "sender": "a"}],
                            [{"text": "fine", "sender": "b"}], [{"text": "", "sender": "a"}]]},
        "c2": {"messages": [[{"text": "alone", "sender": "a"}]]},
        "c3": {"messages": [[{"text": "x", "sender": "a"}], [{"text": 3, "sender": "b"}],
                            [{"text": "z", "sender": "a"}]]},
    }
    path = tmp_path / "dataset.json"
    path.write_text(json.dumps(data))
    assert D.load_chitchat(str(path)) == [["Hello How are you?", "fine"], ["x", "z"]]


def test_load_chitchat_package():
    pytest.importorskip("chitchat_dataset")
    dialogues = D.load_chitchat()
    assert len(dialogues) == 4017  # of 7,168 conversations; 3,151 have a single message
    assert dialogues[0][:2] == ["Hello How are you doing today?", "whats up MD im doing good how are you doing?"]
    assert all(len(d) >= 2 and all(isinstance(u, str) and u for u in d) for d in dialogues)


# ---------------------------------------------------------------------------------------
# Splits


def test_splits_are_disjoint_and_cover():
    train, valid, test = D.split_indices(1000, (0.9, 0.05, 0.05), seed=3)
    assert (len(train), len(valid), len(test)) == (900, 50, 50)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(1000))
    again = D.split_indices(1000, (0.9, 0.05, 0.05), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, valid, test)))
    assert not np.array_equal(D.split_indices(1000, seed=4)[1], valid)
    dialogues = [[f"d{i}", "x"] for i in range(20)]
    parts = D.split_dialogues(dialogues, (0.5, 0.25, 0.25), seed=0)
    names = [{d[0] for d in part} for part in parts]
    assert [len(n) for n in names] == [10, 5, 5]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    with pytest.raises(ValueError, match="summing to 1"):
        D.split_indices(10, (0.9, 0.2, 0.0))


# ---------------------------------------------------------------------------------------
# Examples


def test_split_points_follow_the_paper():
    assert D.split_points(10) == [3, 4, 5, 6, 7, 8, 9]  # 2 < k < L
    assert D.split_points(4) == [3]
    assert D.split_points(3) == [1, 2] and D.split_points(2) == [1]  # relaxed: 1 <= k < L
    assert D.split_points(3, relax_short=False) == [] and D.split_points(1) == []


def test_examples_past_future_subview_and_caps():
    examples = D.make_examples([numbered_dialogue(10)], number_tokenizer, max_past=5, max_future=3, log=False)
    assert examples.k.tolist() == [3, 4, 5, 6, 7, 8, 9]
    assert examples.example_id.tolist() == [D.example_id(0, k) for k in range(3, 10)]
    for row, k in enumerate(examples.k):
        past = list(range(max(1, k - 4), k + 1))  # the last 5 of 1..k
        future = list(range(k + 1, min(10, k + 3) + 1))  # k+1 .. k+3
        assert examples.past[row].tolist() == sum((utterance_tokens(i) for i in past), [])
        assert examples.future[row].tolist() == sum((utterance_tokens(i) for i in future), [])
        assert examples.subview[row].tolist() == utterance_tokens(k)
        assert (examples.num_past[row], examples.num_future[row]) == (len(past), len(future))
    assert D.decode_example_id(examples.example_id)[1].tolist() == examples.k.tolist()


def test_examples_short_dialogues_truncation_and_counts():
    dialogues = [numbered_dialogue(3), ["1 1 1 1 1 1 1", "2"], numbered_dialogue(5)]
    examples = D.make_examples(dialogues, number_tokenizer, max_utterance_tokens=4, log=False)
    assert list(zip(examples.dialogue_index.tolist(), examples.k.tolist())) == [(0, 1), (0, 2), (1, 1), (2, 3), (2, 4)]
    assert examples.past[2].tolist() == [1, 1, 1, 1, EOT]  # 7 tokens cut to 4
    assert examples.counts == {
        "examples": 5, "dialogues_used": 3, "dialogues_short_relaxed": 2, "utterances_truncated": 1,
    }
    strict = D.make_examples(dialogues, number_tokenizer, relax_short=False, log=False)
    assert strict.dialogue_index.tolist() == [2, 2] and strict.counts["dialogues_too_short"] == 2


def test_examples_one_random_k_per_dialogue():
    dialogues = [numbered_dialogue(length) for length in (12, 9, 2, 7)]
    one = D.make_examples(dialogues, number_tokenizer, all_k=False, seed=5, log=False)
    assert one.dialogue_index.tolist() == [0, 1, 2, 3]
    assert all(k in D.split_points(len(dialogues[i])) for i, k in zip(one.dialogue_index, one.k))
    again = D.make_examples(dialogues, number_tokenizer, all_k=False, seed=5, log=False)
    assert again.example_id.tolist() == one.example_id.tolist()
    ks = {tuple(D.make_examples(dialogues, number_tokenizer, all_k=False, seed=s, log=False).k) for s in range(8)}
    assert len(ks) > 1


def test_examples_with_gpt2_tokens():
    pytest.importorskip("keras_hub")
    examples = D.make_examples([["Hello world", "Hi", "How are you?"]], max_future=1, log=False)
    # k = 1, 2 (L = 3, relaxed). " Hello world" -> [18435, 995]; " Hi" -> [15902].
    assert examples.past[0].tolist() == [18435, 995, EOT]
    assert examples.future[0].tolist() == [15902, EOT]
    assert examples.subview[1].tolist() == [15902, EOT]


# ---------------------------------------------------------------------------------------
# Batches


def small_examples():
    dialogues = [numbered_dialogue(n, repeats=r) for n, r in ((9, 3), (5, 1), (4, 6), (7, 2), (3, 2))]
    return D.make_examples(dialogues, number_tokenizer, max_utterance_tokens=5, log=False)


def expected_views(examples, row, past_tokens, future_tokens):
    past = examples.past[row].tolist()[-past_tokens:]
    future = examples.future[row].tolist()
    if len(future) > future_tokens:  # whole utterances that fit, else the first tokens
        ends = [i for i, t in enumerate(future[:future_tokens]) if t == EOT]
        future = future[: ends[-1] + 1] if ends else future[:future_tokens]
    return past, future


def test_batch_contract():
    examples = small_examples()
    P, F, B = 12, 7, 4
    batch = next(iter(D.dialogue_dataset(examples, B, seed=1, max_past_tokens=P, max_future_tokens=F)))
    S, T = 6, P + F
    shapes = {
        "past_ids": (B, P), "past_mask": (B, P), "past_length": (B,),
        "future_ids": (B, F), "future_mask": (B, F), "future_length": (B,),
        "subview_ids": (B, S), "subview_mask": (B, S), "subview_length": (B,),
        "lm_ids": (B, T), "lm_mask": (B, T), "lm_target_mask": (B, T), "example_id": (B,),
    }
    assert {k: tuple(v.shape) for k, v in batch.items()} == shapes
    assert ({k: v.dtype.name for k, v in batch.items()}
            == {k: ("int64" if k == "example_id" else "int32") for k in shapes})
    b = {k: v.numpy() for k, v in batch.items()}
    row_of = {int(i): r for r, i in enumerate(examples.example_id)}
    for i in range(B):
        row = row_of[int(b["example_id"][i])]
        past, future = expected_views(examples, row, P, F)
        subview = examples.subview[row].tolist()
        for name, tokens, width in (("past", past, P), ("future", future, F), ("subview", subview, S)):
            assert b[f"{name}_length"][i] == len(tokens)
            assert b[f"{name}_ids"][i].tolist() == tokens + [0] * (width - len(tokens))
            assert b[f"{name}_mask"][i].tolist() == [1] * len(tokens) + [0] * (width - len(tokens))
            assert tokens[-1] == EOT
        lm = past + future
        assert b["lm_ids"][i].tolist() == lm + [0] * (T - len(lm))
        assert b["lm_mask"][i].sum() == len(lm)
        scored = np.nonzero(b["lm_target_mask"][i])[0]
        # The scored positions predict exactly the future tokens.
        assert b["lm_ids"][i][scored + 1].tolist() == future
        assert scored[0] == len(past) - 1


def test_long_views_are_cut():
    examples = D.make_examples([numbered_dialogue(9, repeats=5)], number_tokenizer, log=False)
    batch = next(iter(D.dialogue_dataset(examples, 1, shuffle=False, max_past_tokens=8, max_future_tokens=10)))
    # k = 3: the past is utterances 1..3 (18 tokens), of which the last 8 are kept.
    assert batch["past_ids"].numpy()[0].tolist() == [2, EOT, 3, 3, 3, 3, 3, EOT]
    assert batch["future_ids"].numpy()[0].tolist() == [4] * 5 + [EOT] + [0] * 4  # one whole utterance
    batch = next(iter(D.dialogue_dataset(examples, 1, shuffle=False, max_past_tokens=8, max_future_tokens=4)))
    assert batch["future_ids"].numpy()[0].tolist() == [4] * 4  # no whole utterance fits: first 4 tokens


def test_stream_epochs_resume_and_single_pass():
    examples = small_examples()
    M, B = len(examples), 3
    ds = D.dialogue_dataset(examples, B, seed=7, max_past_tokens=16, max_future_tokens=8)
    stream = [b["example_id"].numpy() for b, _ in zip(ds, range(2 * M))]
    ids = np.concatenate(stream)
    for epoch in range(2 * B):  # every epoch of M consecutive positions is a permutation
        assert sorted(ids[epoch * M : (epoch + 1) * M].tolist()) == sorted(examples.example_id.tolist())
    assert ids[:M].tolist() != ids[M : 2 * M].tolist()
    resumed = D.dialogue_dataset(examples, B, seed=7, start_step=5, max_past_tokens=16, max_future_tokens=8)
    for step, batch in zip(range(5, 9), resumed):
        assert batch["example_id"].numpy().tolist() == stream[step].tolist()
    once = list(D.dialogue_dataset(examples, 4, shuffle=False, repeat=False, max_past_tokens=16, max_future_tokens=8))
    assert len(once) == math.ceil(M / 4) and once[-1]["past_ids"].shape[0] == M - 4 * (len(once) - 1)
    assert np.concatenate([b["example_id"].numpy() for b in once]).tolist() == examples.example_id.tolist()


def test_pad_to_multiple():
    examples = small_examples()
    batch = next(iter(D.dialogue_dataset(examples, 2, shuffle=False, max_past_tokens=64, max_future_tokens=64,
                                         pad_to_multiple=8)))
    longest = int(batch["past_length"].numpy().max())
    assert batch["past_ids"].shape[1] == -(-longest // 8) * 8 < 64


def test_negatives_aligned_by_example_id(tmp_path):
    examples = small_examples()
    M, N, width = len(examples), 2, 9
    rng = np.random.default_rng(0)
    order = rng.permutation(M)  # the file lists the examples in another order, plus an extra id
    ids = np.concatenate([examples.example_id[order], [999_999_999]])
    negative_ids = np.full([M + 1, N, width], -1, np.int64)
    lengths = rng.integers(1, width + 1, size=[M + 1, N])
    for row in range(M + 1):
        for n in range(N):
            negative_ids[row, n, : lengths[row, n]] = 1000 * row + 10 * n + np.arange(lengths[row, n])
    np.savez(tmp_path / "neg.npz", example_id=ids, negative_ids=negative_ids)
    ds = D.dialogue_dataset(examples, 4, seed=0, max_past_tokens=16, max_future_tokens=6,
                            negatives=str(tmp_path / "neg.npz"))
    batch = {k: v.numpy() for k, v in next(iter(ds)).items()}
    assert batch["negative_ids"].shape == batch["negative_mask"].shape == (4, N, 6)
    file_row = {int(i): r for r, i in enumerate(ids)}
    for i, example in enumerate(batch["example_id"]):
        row = file_row[int(example)]
        for n in range(N):
            kept = min(lengths[row, n], 6)
            expected = (1000 * row + 10 * n + np.arange(kept)).tolist()
            assert batch["negative_ids"][i, n].tolist() == expected + [0] * (6 - kept)
            assert batch["negative_mask"][i, n].tolist() == [1] * kept + [0] * (6 - kept)
    one = next(iter(D.dialogue_dataset(examples, 4, seed=0, max_past_tokens=16, max_future_tokens=6,
                                       negatives=str(tmp_path / "neg.npz"), num_negatives=1)))
    assert one["negative_ids"].shape == (4, 1, 6)
    np.savez(tmp_path / "few.npz", example_id=ids[1:], negative_ids=negative_ids[1:])
    with pytest.raises(ValueError, match="sample_negatives"):
        D.dialogue_dataset(examples, 4, negatives=str(tmp_path / "few.npz"))
    with pytest.raises(ValueError, match="holds 2 per example"):
        D.dialogue_dataset(examples, 4, negatives=str(tmp_path / "neg.npz"), num_negatives=3)


def test_negative_lengths_inferred_from_zero_padding():
    ids = np.array([[[5, EOT, 7, EOT, 0, 0], [0, 3, 0, 0, 0, 0]]])  # 0 = "!" is a real token before 50256
    assert _infer_negative_length(ids).tolist() == [[4, 2]]
    assert _infer_negative_length(np.array([[[5, 0, -1]]])).tolist() == [[2]]


def test_bad_dataset_arguments():
    examples = small_examples()
    with pytest.raises(ValueError, match="batch_size"):
        D.dialogue_dataset(examples, len(examples) + 1)
    empty = D.make_examples([["1"]], number_tokenizer, log=False)
    with pytest.raises(ValueError, match="no examples"):
        D.dialogue_dataset(empty, 2)
    with pytest.raises(ValueError, match="Unknown dialogue source"):
        D.load_dialogues("reddit")


def test_registered_dataset_from_config(tmp_path):
    pytest.importorskip("keras_hub")
    path = write_wow(tmp_path / "tiny.json",
                     [{"dialog": [{"text": f"turn number {i} of {j}"} for i in range(6)]} for j in range(3)])
    config = ml_collections.ConfigDict({
        "name": "dialogue", "source": "wow", "path": path, "split": "all", "max_past": 5, "max_future": 3,
        "max_utterance_tokens": 8, "max_past_tokens": 32, "max_future_tokens": 16, "negatives_path": "",
        "num_negatives": 0,
    })
    assert "dialogue" in DATASETS
    batch = next(iter(build_dataset(config, 4, seed=0, start_step=0)))
    assert batch["past_ids"].shape == (4, 32) and batch["subview_ids"].shape == (4, 9)
    assert batch["lm_ids"].shape == (4, 48)
    examples = D.examples_from_config(config)
    assert len(examples) == 3 * 3  # k = 3, 4, 5 in each 6-turn dialogue


@pytest.mark.slow  # tokenizes the whole Chit Chat corpus (~135k utterances): 10-40 s
def test_chitchat_splits_share_no_dialogue_and_batch():
    pytest.importorskip("chitchat_dataset")
    pytest.importorskip("keras_hub")
    config = ml_collections.ConfigDict({"name": "dialogue", "source": "chitchat", "split": "train"})
    parts = [D.load_dialogues("chitchat", "", split) for split in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [3615, 201, 201]
    texts = [{tuple(d) for d in part} for part in parts]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    batch = next(iter(build_dataset(config, 8, seed=0, start_step=0)))
    assert batch["lm_ids"].shape == (8, 256 + 128) and batch["subview_ids"].shape == (8, 65)
    examples = D.examples_from_config(config)
    assert examples.counts["examples"] == len(examples) > 50_000
