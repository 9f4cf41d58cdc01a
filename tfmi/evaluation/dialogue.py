r"""Dialogue evaluation (Sordoni et al. 2021, Tables 2, 5 and 6): restoring a trained
``DialogueModel``, sampling responses from it, and scoring them.

- ``restore_run(workdir)``: (config, model) of a dialogue trainer workdir, restored from
  a checkpoint (``DialogueModel.build_for_inference`` creates the variables without a batch).
- ``Generator(model, sampler)``: continues right-padded prompts with the model's backbone
  (keras-hub ``GPT2CausalLM``, cached decoding), nucleus sampling p = 0.9 by default
  (Holtzman et al. 2020; Sordoni et al. App. B.3).
- ``teacher_forced``: the token NLL of the reference futures (ppl = exp(NLL / tokens))
  and the next-token metrics rep / wrep / uniq (Welleck et al. 2020) on the same positions.
- ``sample_responses`` and ``mmi_rerank``: one sampled next utterance per past, or the
  GPT2-MMI response: of S samples from p(y | x), the one with the largest log p(x | y)
  under a backward model.
- ``response_metrics``: seq-rep-avg, dist-1, dist-2, Entropy-4 and BLEU of responses.
"""

import numpy as np
import tensorflow as tf

from tfmi.data.dialogue import END_OF_TEXT_ID, dialogue_dataset_from_config
from tfmi.evaluation import text_metrics
from tfmi.models import build_model
from tfmi.workdir import Workdir, restore_model

__all__ = [
    "Generator",
    "evaluation_batches",
    "first_utterance",
    "mmi_rerank",
    "response_metrics",
    "restore_run",
    "sample_responses",
    "teacher_forced",
]

# Candidates scored per call of the backward model: each scored token carries a
# vocabulary-sized logit vector.
_RERANK_CHUNK = 128


# --- restoring a run ------------------------------------------------------------------


def restore_run(workdir, step=None):
    """(config, model) of a dialogue trainer workdir, restored from its newest checkpoint
    (or the one of ``step``); dropout is inactive in every method used for evaluation.

    Raises ValueError naming the problem: not a workdir, not a dialogue run, no checkpoint.
    """
    run = Workdir(workdir)
    config = run.load_config()
    if config.model.get("name") != "dialogue":
        raise ValueError(f"{workdir} holds a {config.model.get('name')!r} model, not a dialogue model.")
    steps = dict(run.checkpoint_steps())
    if not steps:
        raise ValueError(f"{workdir} has no checkpoint ({run.checkpoint_dir}/ckpt-N.index): train it first.")
    if step is None:
        step = max(steps)
    if step not in steps:
        raise ValueError(f"{workdir} has no checkpoint of step {step}; it has {sorted(steps)}.")
    model = build_model(config.model).build_for_inference()
    restore_model(model, steps[step])
    return config, model


# --- generation -----------------------------------------------------------------------


class Generator:
    """Continues right-padded prompts with ``model``'s backbone and one sampler.

    model: a ``DialogueModel`` (its ``backbone`` is shared: the generator adds no
    variables). sampler: a ``keras_hub.samplers.Sampler`` (default nucleus sampling
    p = 0.9). Calls with the same width of ``prompt_ids`` reuse one traced generation
    function; a second sampler needs a second Generator.
    """

    def __init__(self, model, sampler=None):
        import keras_hub

        self.backbone = model.backbone
        self.max_sequence_length = int(model.backbone.max_sequence_length)
        self.causal_lm = keras_hub.models.GPT2CausalLM(backbone=model.backbone, preprocessor=None)
        self.causal_lm.compile(sampler=sampler or keras_hub.samplers.TopPSampler(p=0.9))

    def __call__(self, prompt_ids, prompt_length, max_new_tokens, stop_token_ids=None):
        """Up to ``max_new_tokens`` new tokens per prompt, stopped at any of ``stop_token_ids``.

        Returns (ids [B, max_new_tokens], mask [B, max_new_tokens]) of the new tokens
        (the stop token excluded), right-padded.
        """
        prompt_ids = np.asarray(prompt_ids, np.int32)
        prompt_length = np.asarray(prompt_length, np.int32)
        rows = prompt_ids.shape[0]
        # The width of prompt_ids, not the longest prompt, fixes the generated shape:
        # callers that pad to one width trace (and XLA-compile) generation once.
        total = int(prompt_ids.shape[1]) + int(max_new_tokens)
        if total > self.max_sequence_length:
            raise ValueError(
                f"prompts of width {int(prompt_ids.shape[1])} + {max_new_tokens} new tokens exceed "
                f"max_sequence_length={self.max_sequence_length}."
            )
        token_ids = np.zeros((rows, total), np.int32)
        padding_mask = np.zeros((rows, total), bool)
        for row, length in enumerate(prompt_length):
            token_ids[row, :length] = prompt_ids[row, :length]
            padding_mask[row, :length] = True
        result = self.causal_lm.generate(
            {"token_ids": token_ids, "padding_mask": padding_mask},
            stop_token_ids=tuple(stop_token_ids) if stop_token_ids else None,
        )
        out_ids, out_mask = np.asarray(result["token_ids"]), np.asarray(result["padding_mask"])
        new_ids = np.zeros((rows, max_new_tokens), np.int32)
        new_mask = np.zeros((rows, max_new_tokens), bool)
        stops = set(stop_token_ids or ())
        for row, length in enumerate(prompt_length):
            generated = out_ids[row, length:][out_mask[row, length:]]
            kept = []
            for token in generated[:max_new_tokens]:
                if int(token) in stops:
                    break
                kept.append(int(token))
            new_ids[row, : len(kept)] = kept
            new_mask[row, : len(kept)] = True
        return new_ids, new_mask


# --- evaluation -----------------------------------------------------------------------


def evaluation_batches(config, split, batch_size, max_examples=0):
    """NumPy batches of the examples of ``config.data`` with ``split``, in order, without
    negatives, all padded to one width (generation traces once); the first
    ``max_examples`` only when > 0."""
    data = config.data.copy_and_resolve_references()
    data.negatives_path = ""
    data.pad_to_multiple = 0
    dataset = dialogue_dataset_from_config(data, batch_size, 0, 0, split=split, shuffle=False, repeat=False)
    seen = 0
    for batch in dataset:
        batch = {k: v.numpy() for k, v in batch.items()}
        if max_examples and seen + len(batch["past_ids"]) > max_examples:
            keep = max_examples - seen
            batch = {k: v[:keep] for k, v in batch.items()}
        seen += len(batch["past_ids"])
        if len(batch["past_ids"]):
            yield batch
        if max_examples and seen >= max_examples:
            return


def first_utterance(tokens, end_id=END_OF_TEXT_ID):
    """The tokens of ``tokens`` before the first ``end_id`` (all of them when none)."""
    tokens = list(np.asarray(tokens))
    return tokens[: tokens.index(end_id)] if end_id in tokens else tokens


def teacher_forced(model, batch, token_metrics):
    """(NLL sum, tokens) of the reference futures of ``batch`` (its ``lm_target_mask``
    positions); updates ``token_metrics`` (a ``text_metrics.TokenLevelMetrics``) with the
    greedy next-token predictions at the same positions."""
    ids, mask, target = batch["lm_ids"], batch["lm_mask"], batch["lm_target_mask"]
    states = model.states(ids, mask)
    nll, count = model.token_nll(states, ids, target)
    scored = target[:, :-1].astype(bool)
    logits = model.logits(tf.boolean_mask(states[:, :-1], scored))
    predictions = np.zeros(ids.shape, np.int64)
    predictions[:, :-1][scored] = np.argmax(np.asarray(logits), axis=-1)
    token_metrics.update(predictions, ids, np.concatenate([scored, np.zeros([len(ids), 1], bool)], axis=1))
    return float(np.sum(nll)), float(np.sum(count))


def sample_responses(generator, batch, max_new_tokens, samples=1):
    """``samples`` next utterances per past of ``batch`` (rows repeated), as GPT-2 id
    lists, each stopped at <|endoftext|> and at most ``max_new_tokens`` long (fewer when
    the pasts leave less room in the backbone's positions)."""
    past, length = np.repeat(batch["past_ids"], samples, axis=0), np.repeat(batch["past_length"], samples)
    max_new = min(max_new_tokens, generator.max_sequence_length - past.shape[1])
    if max_new < 1:
        raise ValueError(
            f"the pasts ({past.shape[1]} tokens) leave no room to generate in the backbone's "
            f"{generator.max_sequence_length} positions."
        )
    ids, mask = generator(past, length, max_new, stop_token_ids=[END_OF_TEXT_ID])
    return [row[m].tolist() for row, m in zip(ids, mask)]


def mmi_rerank(backward, batch, candidates, samples):
    """Per past, the candidate with the largest log p(x | y) under ``backward`` (a
    "backward" DialogueModel); ``candidates`` holds ``samples`` responses per past, in
    the order of ``sample_responses(..., samples)``."""
    rows = len(candidates)
    # candidate ⊕ past must fit the backward model's positions: a candidate longer than
    # the room left by the (padded) pasts is scored on its first tokens.
    room = int(backward.backbone.max_sequence_length) - batch["past_ids"].shape[1]
    width = min(max(len(c) for c in candidates) + 1, room)
    future = np.zeros((rows, width), np.int32)
    future_length = np.zeros(rows, np.int32)
    for r, candidate in enumerate(candidates):
        tokens = (list(candidate) + [END_OF_TEXT_ID])[:width]  # formatted like a reference future
        future[r, : len(tokens)], future_length[r] = tokens, len(tokens)
    past, past_length = np.repeat(batch["past_ids"], samples, axis=0), np.repeat(batch["past_length"], samples)
    scores = np.concatenate([
        np.asarray(backward.sequence_log_prob(
            future[i : i + _RERANK_CHUNK], future_length[i : i + _RERANK_CHUNK],
            past[i : i + _RERANK_CHUNK], past_length[i : i + _RERANK_CHUNK],
        ))
        for i in range(0, rows, _RERANK_CHUNK)
    ]).reshape(-1, samples)
    best = scores.argmax(axis=1)
    return [candidates[i * samples + b] for i, b in enumerate(best)]


def decode(tokenizer, sequences):
    """The text of each token-id list ("" for an empty one)."""
    texts = [tokenizer.detokenize(np.asarray(ids, np.int32)) if len(ids) else "" for ids in sequences]
    return [t.numpy().decode("utf-8", "replace") if hasattr(t, "numpy") else str(t) for t in texts]


def response_metrics(responses, references, tokenizer):
    """({seq_rep_avg, dist_1, dist_2, entropy_4, bleu}, texts) of ``responses`` (GPT-2 id
    lists) against ``references``: seq-rep-avg on the ids, dist-n and Entropy-4 on
    whitespace words, BLEU (sacrebleu, 0..100) on the decoded texts."""
    texts, reference_texts = decode(tokenizer, responses), decode(tokenizer, references)
    words = [t.split() for t in texts]
    return {
        "seq_rep_avg": text_metrics.seq_rep_avg(responses),
        "dist_1": text_metrics.distinct_n(words, 1),
        "dist_2": text_metrics.distinct_n(words, 2),
        "entropy_4": text_metrics.entropy_n(words, 4),
        "bleu": text_metrics.bleu(texts, reference_texts),
    }, texts
