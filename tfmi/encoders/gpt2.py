r"""GPT-2 (Radford et al., 2019) through keras-hub: tokenizer, backbone, LM head.

- ``gpt2_tokenizer()``: GPT-2's byte-level BPE (50,257 tokens, ``<|endoftext|>`` = 50256)
  from the vocabulary files bundled in ``tfmi/encoders/gpt2_vocab/`` (OpenAI's
  ``encoder.json`` / ``vocab.bpe``; see the README there), so it works offline and
  gives the same ids as every keras-hub GPT-2 preset.
- ``build_gpt2(preset)``: a ``keras_hub.models.GPT2Backbone``. ``preset="gpt2_base_en"``
  (the paper's GPT-2 small, 124M parameters) loads OpenAI's weights with
  ``from_preset`` (downloaded from Kaggle on first use, then cached); ``preset=None``
  builds a small randomly initialised GPT-2 of the same architecture (pre-LayerNorm
  transformer decoder, learned positions, tied input/output embedding) for offline
  work and tests.
- ``lm_logits(backbone, h)``: next-token logits of the tied LM head,
  ``logits = h @ E^T`` with E the [50257, d] token embedding.
- ``last_token_states(h, lengths)``: h[b, lengths[b] - 1], the "state of the last layer
  corresponding to the last token" that DEMI's critic scores (App. B.1).
- ``concat_padded(a, la, b, lb)``: right-padded ``a[:la] ⊕ b[:lb]`` per row, with the
  positions whose next-token prediction scores log p(b | a).

The backbone takes ``{"token_ids": int [B, T], "padding_mask": [B, T]}`` and returns the
last layer's states [B, T, hidden_dim] (causal attention: position t sees 0..t).
"""

import keras
import keras_hub
import tensorflow as tf

from tfmi.encoders.bpe import (
    END_OF_TEXT_ID,
    VOCAB_DIR,
    VOCABULARY_SIZE,
    gpt2_vocabulary_files,
    vocabulary_and_merges,
)
from tfmi.errors import InputError

__all__ = [
    "VOCABULARY_SIZE",
    "END_OF_TEXT_ID",
    "VOCAB_DIR",
    "PRESETS",
    "gpt2_vocabulary_files",
    "GPT2BPETokenizer",
    "gpt2_tokenizer",
    "build_gpt2",
    "lm_logits",
    "last_token_states",
    "concat_padded",
]

PRESETS = tuple(keras_hub.models.GPT2Backbone.presets)


@keras.saving.register_keras_serializable(package="tfmi")
class GPT2BPETokenizer(keras_hub.models.GPT2Tokenizer):
    """keras-hub's ``GPT2Tokenizer`` with OpenAI's exact pre-tokenisation in Python.

    keras-hub 0.32 splits text before BPE with Llama 3's regex on its Python path
    (Hugging Face ``tokenizers``), which differs from GPT-2's on some whitespace runs
    ("a\\n\\nb": GPT-2 gives [64, 198, 198, 65], keras-hub [64, 628, 65]). This class
    puts back GPT-2's own pre-tokenizer (``ByteLevel(use_regex=True)``: the regex of
    OpenAI's encoder.py), so eager calls give exactly GPT-2's ids. Inside a
    ``tf.function`` keras-hub's TensorFlow path runs instead; it matches GPT-2 except on
    such whitespace runs (tfmi's data pipeline tokenizes eagerly).
    """

    def _set_vocabulary_and_merges_tokenizers(self, vocabulary, merges):
        super()._set_vocabulary_and_merges_tokenizers(vocabulary, merges)
        from tokenizers import pre_tokenizers  # a keras-hub dependency

        self._tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(
            add_prefix_space=self.add_prefix_space, use_regex=True
        )


def gpt2_tokenizer(sequence_length=None):
    """GPT-2's byte-level BPE tokenizer (a ``GPT2BPETokenizer``), offline.

    Called eagerly on a string it returns an int32 array of ids; on a list of strings,
    a list of id lists (Hugging Face ``tokenizers``, exactly OpenAI's encoding); inside
    a ``tf.function`` / ``tf.data`` map it runs keras-hub's TensorFlow path (see
    ``GPT2BPETokenizer``). ``detokenize`` maps ids back to text. ``sequence_length``
    pads (with 0) / truncates to a fixed length, as keras-hub does.
    """
    vocabulary, merges = vocabulary_and_merges()
    return GPT2BPETokenizer(vocabulary=dict(vocabulary), merges=list(merges), sequence_length=sequence_length)


def build_gpt2(
    preset=None,
    *,
    num_layers=2,
    num_heads=2,
    hidden_dim=128,
    intermediate_dim=512,
    max_sequence_length=256,
    dropout=0.1,
    load_weights=True,
):
    """A ``keras_hub.models.GPT2Backbone``: pretrained from ``preset`` or small and random.

    preset: a keras-hub GPT-2 preset (``"gpt2_base_en"`` is the paper's GPT-2 small: 12
        layers, 12 heads, d = 768, 3072 MLP units, 1024 positions), a Kaggle / Hugging
        Face handle or a local preset directory: ``GPT2Backbone.from_preset(preset,
        dropout=dropout)`` with the preset's own architecture (the size arguments are
        ignored). Downloading needs network access once; without it this raises a
        ``RuntimeError`` that names the offline option.
    preset=None (or ""): a randomly initialised GPT-2 of the given size with GPT-2's
        vocabulary of 50,257 tokens (default: 2 layers, 2 heads, d = 128, 6.9M
        parameters, most of them the embedding).
    dropout: the rate on all layers (the paper's 10%, App. B.3).
    """
    if preset:
        return _from_preset(str(preset), dropout=dropout, load_weights=load_weights)
    for name, value in (
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("hidden_dim", hidden_dim),
        ("intermediate_dim", intermediate_dim),
        ("max_sequence_length", max_sequence_length),
    ):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"build_gpt2: {name} must be a positive integer, got {value!r}.")
    if hidden_dim % num_heads:
        raise ValueError(
            f"build_gpt2: hidden_dim ({hidden_dim}) must be divisible by num_heads ({num_heads})."
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"build_gpt2: dropout must be in [0, 1), got {dropout!r}.")
    return keras_hub.models.GPT2Backbone(
        vocabulary_size=VOCABULARY_SIZE,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        max_sequence_length=max_sequence_length,
    )


def _from_preset(preset, *, dropout, load_weights):
    try:
        return keras_hub.models.GPT2Backbone.from_preset(preset, load_weights=load_weights, dropout=dropout)
    except Exception as error:  # noqa: BLE001  (kagglehub / requests / HF raise many types)
        if _is_unknown_preset(error):
            raise ValueError(
                f"Unknown GPT-2 preset {preset!r}: use one of {list(PRESETS)}, a Kaggle or Hugging "
                "Face handle, a local preset directory, or preset=None for a small random GPT-2."
            ) from None
        first_line = (str(error).strip().splitlines() or [""])[0][:300]
        raise InputError(
            f"Could not load the GPT-2 preset {preset!r} ({type(error).__name__}: {first_line}). "
            "Pretrained weights are downloaded from Kaggle on first use and need network access. "
            "Offline options: (1) preset=None (config.model.preset='') trains a small randomly "
            "initialised GPT-2 with the same architecture and tokenizer; (2) on a machine with "
            f"network, run keras_hub.models.GPT2Backbone.from_preset({preset!r}).save_to_preset(DIR) "
            "(or copy the kagglehub cache, ~/.cache/kagglehub), bring DIR here and pass preset=DIR."
        ) from error


def _is_unknown_preset(error):
    return isinstance(error, ValueError) and "Unknown preset identifier" in str(error)


def lm_logits(backbone, hidden_states):
    """Next-token logits [..., 50257] of GPT-2's tied LM head: ``h @ E^T``.

    E is the backbone's token embedding (keras-hub's ``ReversibleEmbedding`` with tied
    weights), so ``logits[..., v] = <h, E[v]>``; no bias, as in GPT-2.
    """
    return backbone.token_embedding(hidden_states, reverse=True)


def last_token_states(hidden_states, lengths):
    """h[b, lengths[b] - 1, :] for every b: [B, T, d], int [B] -> [B, d].

    With right-padded sequences this is the last real token's state (for the dialogue
    data, the ``<|endoftext|>`` that closes the past or the future).
    """
    lengths = tf.convert_to_tensor(lengths)
    index = tf.maximum(tf.cast(lengths, tf.int32) - 1, 0)
    return tf.gather(hidden_states, index, axis=1, batch_dims=1)


def concat_padded(first, first_length, second, second_length):
    """Right-padded ``first[:l1] ⊕ second[:l2]`` per row.

    first [B, T1], second [B, T2] int ids; lengths [B]. Returns (ids [B, T1 + T2],
    mask [B, T1 + T2] bool, target_mask [B, T1 + T2] bool), target_mask[t] true where
    ids[t + 1] is a token of ``second`` (the positions whose next-token prediction
    scores log p(second | first)).
    """
    first, second = tf.convert_to_tensor(first), tf.convert_to_tensor(second)
    l1 = tf.cast(first_length, tf.int32)[:, None]
    l2 = tf.cast(second_length, tf.int32)[:, None]
    t1, t2 = tf.shape(first)[1], tf.shape(second)[1]
    positions = tf.range(t1 + t2)[None, :]
    in_first = positions < l1
    in_second = (positions >= l1) & (positions < l1 + l2)
    from_first = tf.gather(
        first, tf.broadcast_to(tf.minimum(positions, t1 - 1), [tf.shape(first)[0], t1 + t2]), batch_dims=1)
    from_second = tf.gather(second, tf.clip_by_value(positions - l1, 0, t2 - 1), batch_dims=1)
    ids = tf.where(in_first, from_first, tf.where(in_second, from_second, tf.zeros_like(from_first)))
    target = (positions >= l1 - 1) & (positions < l1 + l2 - 1)
    return ids, in_first | in_second, target
