"""GPT-2's byte-level BPE vocabulary (bundled) and a fast encoder that needs no keras-hub.

The files in ``tfmi/encoders/gpt2_vocab/`` are OpenAI's ``encoder.json`` and
``vocab.bpe`` (see the README there). ``bpe_encoder()`` builds Hugging Face
``tokenizers``' BPE model from them with GPT-2's own pre-tokenizer
(``ByteLevel(use_regex=True)``, the regex of OpenAI's encoder.py) and
``<|endoftext|>`` as a special token: exactly GPT-2's ids, in well under a second, without
importing TensorFlow or keras-hub. The data pipeline tokenizes with it;
``tfmi.encoders.gpt2.gpt2_tokenizer()`` is the Keras layer built from the same files.
"""

import functools
import json
import os

__all__ = [
    "VOCABULARY_SIZE",
    "END_OF_TEXT_ID",
    "END_OF_TEXT",
    "VOCAB_DIR",
    "gpt2_vocabulary_files",
    "vocabulary_and_merges",
    "bpe_encoder",
    "encode_batch",
]

VOCABULARY_SIZE = 50257
END_OF_TEXT = "<|endoftext|>"
END_OF_TEXT_ID = 50256  # GPT-2's only special token
VOCAB_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gpt2_vocab")


def gpt2_vocabulary_files():
    """(vocab.json path, merges.txt path) of the bundled GPT-2 BPE vocabulary."""
    vocab = os.path.join(VOCAB_DIR, "vocab.json")
    merges = os.path.join(VOCAB_DIR, "merges.txt")
    for path in (vocab, merges):
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"The bundled GPT-2 vocabulary file {path} is missing: reinstall tfmi (its "
                "package_data ships tfmi/encoders/gpt2_vocab/), or see the README in that folder "
                "for where the files come from."
            )
    return vocab, merges


@functools.lru_cache(maxsize=1)
def vocabulary_and_merges():
    """({token: id} of 50,257 entries, tuple of the merge rules "a b" incl. the "#version" header)."""
    vocab_path, merges_path = gpt2_vocabulary_files()
    with open(vocab_path, encoding="utf-8") as f:
        vocabulary = json.load(f)
    with open(merges_path, encoding="utf-8") as f:
        merges = [line.rstrip("\n") for line in f if line.strip()]
    if len(vocabulary) != VOCABULARY_SIZE or vocabulary.get(END_OF_TEXT) != END_OF_TEXT_ID:
        raise ValueError(
            f"{vocab_path} is not GPT-2's vocabulary ({len(vocabulary)} entries, {END_OF_TEXT} = "
            f"{vocabulary.get(END_OF_TEXT)}; expected {VOCABULARY_SIZE} and {END_OF_TEXT_ID})."
        )
    return vocabulary, tuple(merges)


@functools.lru_cache(maxsize=1)
def bpe_encoder():
    """A ``tokenizers.Tokenizer`` that encodes exactly like GPT-2 (``.encode_batch``, ``.decode``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # a keras-hub dependency

    vocabulary, merges = vocabulary_and_merges()
    rules = [tuple(rule.split(" ")) for rule in merges if not rule.startswith("#version")]
    tokenizer = Tokenizer(models.BPE(vocab=dict(vocabulary), merges=rules))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([END_OF_TEXT])
    return tokenizer


def encode_batch(texts):
    """GPT-2 token ids of each string in ``texts``: a list of int lists."""
    return [encoding.ids for encoding in bpe_encoder().encode_batch(list(texts))]
