"""GPT-2 tokenizer (bundled vocabulary) and backbone: ids against OpenAI's BPE algorithm,
shapes, the tied LM head, the offline error of from_preset."""

import hashlib
import json
import os
import socket
import time

import numpy as np
import pytest

pytest.importorskip("keras_hub")
regex = pytest.importorskip("regex")

import tensorflow as tf  # noqa: E402

from tfmi.encoders import bpe, gpt2  # noqa: E402
from tfmi.errors import InputError  # noqa: E402


# OpenAI's encoder.py algorithm (github.com/openai/gpt-2, src/encoder.py), written out
# independently of keras-hub and Hugging Face tokenizers: the reference ids.
_GPT2_PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def _bytes_to_unicode():
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    codes = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


class _ReferenceBPE:
    def __init__(self):
        vocab_path, merges_path = gpt2.gpt2_vocabulary_files()
        with open(vocab_path, encoding="utf-8") as f:
            self.encoder = json.load(f)
        with open(merges_path, encoding="utf-8") as f:
            merges = f.read().split("\n")[1:-1]
        self.ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
        self.byte_encoder = _bytes_to_unicode()

    def bpe(self, token):
        word = tuple(token)
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda pair: self.ranks.get(pair, float("inf")))
            if best not in self.ranks:
                break
            first, second = best
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == first and word[i + 1] == second:
                    merged.append(first + second)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        return word

    def encode(self, text):
        ids = []
        for piece in _GPT2_PATTERN.findall(text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[token] for token in self.bpe(piece))
        return ids


TEXTS = [
    "Hello world",
    " Hello world",
    "I'VE been to 12345 places, haven't you?",
    "$hello #tag @user -- ok...   ",
    "héllo 😀 Ünïcödé 中文 テスト",
    "a\n\nb",  # keras-hub's own pre-tokenizer would give [64, 628, 65]
    "x  \n y\tz\r\n",
    " 2023-01-05 10:30 USD 3.50",
]


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2.gpt2_tokenizer()


@pytest.fixture(scope="module")
def reference():
    return _ReferenceBPE()


def test_bundled_files_are_openais():
    vocab, merges = gpt2.gpt2_vocabulary_files()
    digests = {os.path.basename(p): hashlib.sha256(open(p, "rb").read()).hexdigest() for p in (vocab, merges)}
    assert digests == {
        "vocab.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        "merges.txt": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    }
    readme = open(os.path.join(gpt2.VOCAB_DIR, "README.md")).read()
    assert all(d in readme for d in digests.values())


def test_known_gpt2_ids(tokenizer):
    assert tokenizer("Hello world").tolist() == [15496, 995]
    assert tokenizer(" Hello world").tolist() == [18435, 995]
    assert tokenizer("<|endoftext|>").tolist() == [gpt2.END_OF_TEXT_ID] == [50256]
    assert tokenizer.end_token_id == 50256
    assert tokenizer.vocabulary_size() == gpt2.VOCABULARY_SIZE == 50257
    assert tokenizer.id_to_token(50256) == "<|endoftext|>"


def test_matches_openai_bpe(tokenizer, reference):
    expected = [reference.encode(t) for t in TEXTS]
    assert [list(ids) for ids in tokenizer(TEXTS)] == expected
    assert bpe.encode_batch(TEXTS) == expected  # the data pipeline's encoder
    assert bpe.encode_batch(["hi<|endoftext|>"]) == [[5303, 50256]]
    assert reference.encode("a\n\nb") == [64, 198, 198, 65]


@pytest.mark.slow  # ~20 s: keras-hub builds its TF lookup tables for 50k tokens and merges
def test_tf_path_matches_except_newline_runs(tokenizer, reference):
    texts = [t for t in TEXTS if "\n" not in t]
    traced = tf.function(lambda x: tokenizer(x))(tf.constant(texts)).to_list()
    assert traced == [reference.encode(t) for t in texts]


def test_detokenize_round_trip(tokenizer):
    for text in TEXTS:
        assert tokenizer.detokenize(tokenizer(text)) == text


def test_small_backbone_shapes_and_tied_head():
    backbone = gpt2.build_gpt2(num_layers=1, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=12)
    assert backbone.vocabulary_size == 50257
    assert (backbone.count_params()
            == 50257 * 16 + 12 * 16 + (4 * 16 * 16 + 4 * 16) + (2 * 16 * 32 + 32 + 16) + 3 * 2 * 16)
    ids = np.array([[15496, 995, 50256, 0, 0], [40, 588, 340, 13, 50256]], np.int32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.int32)
    hidden = backbone({"token_ids": ids, "padding_mask": mask}, training=False)
    assert hidden.shape == (2, 5, 16)
    logits = gpt2.lm_logits(backbone, hidden)
    embedding = backbone.token_embedding.embeddings.numpy()
    np.testing.assert_allclose(logits.numpy(), hidden.numpy() @ embedding.T, rtol=1e-4, atol=1e-4)
    last = gpt2.last_token_states(hidden, np.array([3, 5]))
    np.testing.assert_allclose(last.numpy(), hidden.numpy()[[0, 1], [2, 4]])
    # Causal: a later token does not change earlier states.
    changed = ids.copy()
    changed[1, 4] = 7
    hidden2 = backbone({"token_ids": changed, "padding_mask": mask}, training=False)
    np.testing.assert_allclose(hidden2.numpy()[1, :4], hidden.numpy()[1, :4], rtol=1e-5, atol=1e-5)
    assert not np.allclose(hidden2.numpy()[1, 4], hidden.numpy()[1, 4])


def test_registry_and_bad_sizes():
    from tfmi import encoders

    backbone = encoders.get("gpt2", num_layers=1, num_heads=1, hidden_dim=8, intermediate_dim=8, max_sequence_length=4)
    assert backbone.num_layers == 1 and backbone.hidden_dim == 8
    with pytest.raises(ValueError, match="divisible by num_heads"):
        gpt2.build_gpt2(num_heads=3, hidden_dim=16)


def test_from_preset_offline_is_fast_and_names_the_offline_option(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path))  # no cached copy of the preset

    def no_network(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "network disabled by the test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    start = time.time()
    with pytest.raises(InputError, match="gpt2_base_en") as error:
        gpt2.build_gpt2("gpt2_base_en")
    assert time.time() - start < 30
    assert "preset=None" in str(error.value) and "network" in str(error.value)


def test_unknown_preset():
    with pytest.raises(ValueError, match="Unknown GPT-2 preset 'gpt2_bogus'"):
        gpt2.build_gpt2("gpt2_bogus")
