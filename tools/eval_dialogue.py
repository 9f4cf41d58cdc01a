r"""Evaluates dialogue runs: Sordoni et al. (2021), Table 2 (valid: ppl, BLEU) and Tables
5 / 6 (test / valid: ppl, seq-rep-avg, rep, wrep, uniq, dist-1, dist-2, BLEU, Entropy-4).

    python tools/eval_dialogue.py runs/dialogue/gpt2 runs/dialogue/transfertransfo \
        runs/dialogue/infonce runs/dialogue/demi --backward runs/dialogue/mmi_backward \
        --split valid --out runs/dialogue/eval_valid.json

For each WORKDIR (restored from its newest checkpoint), on the examples of its own
config.data with ``split`` (valid -> Tables 2 and 6, test -> Table 5):

- ppl: exp(token NLL) of the reference futures, teacher-forced (past ⊕ future, the
  scored tokens of lm_target_mask: up to 3 future utterances);
- rep, wrep, uniq: Welleck et al.'s next-token metrics on the same positions
  (tfmi.evaluation.text_metrics.TokenLevelMetrics; greedy next-token predictions);
- a generated next utterance per example: nucleus sampling p = 0.9 (keras-hub
  TopPSampler) from the past, up to --max-new-tokens, stopped at <|endoftext|>;
  BLEU (sacrebleu, 0..100) against the reference next utterance; seq-rep-avg on the
  GPT-2 ids of each response; dist-1, dist-2 and Entropy-4 on whitespace words;
- --backward WORKDIR (a dialogue_mmi run, p(x | y)): the GPT2-MMI row, from the first
  WORKDIR whose method is "lm": --mmi-samples (50) responses sampled from it per
  past, the one with the largest log p(x | y) kept; its ppl and token metrics are the
  forward model's.

Prints a markdown table with the paper's values beside ours ("ours / paper") and writes
the records as JSON (--out). --max-examples keeps the first N examples (a smoke run in
about a minute on CPU with a tiny model). --top-k K > 0 restricts nucleus sampling to
the K most likely tokens first: sorting GPT-2's 50,257 logits per step dominates CPU
time; a trained model's 0.9-nucleus lies within the top 1,000 almost always.
"""

import argparse
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfmi.cli import run_reporting_errors  # noqa: E402

METRICS = ("ppl", "seq_rep_avg", "rep", "wrep", "uniq", "dist_1", "dist_2", "bleu", "entropy_4")
# Tables 5 (test) and 6 (valid) of Sordoni et al. (2021); Table 2's valid ppl/BLEU
# (mean of 3 seeds) differ from Table 6 in places and are listed separately.
PAPER = {
    "test": {
        "GPT2": (19.24, 0.064, 0.130, 0.132, 7393, 0.064, 0.392, 0.775, 0.095),
        "TransferTransfo": (19.33, 0.078, 0.134, 0.132, 7735, 0.058, 0.386, 0.752, 0.084),
        "GPT2-MMI": (19.35, 0.070, 0.129, 0.135, 7623, 0.052, 0.384, 0.740, 0.092),
        "InfoNCE": (18.88, 0.065, 0.126, 0.131, 8432, 0.065, 0.390, 0.799, 0.107),
        "DEMI": (18.66, 0.050, 0.120, 0.128, 8666, 0.070, 0.405, 0.810, 0.108),
        "Ground Truth": (None, 0.052, 0.095, None, 9236, 0.069, 0.416, None, 0.110),
    },
    "valid": {
        "GPT2": (19.21, 0.066, 0.136, 0.134, 7259, 0.083, 0.432, 0.780, 0.106),
        "TransferTransfo": (19.32, 0.074, 0.134, 0.133, 7223, 0.082, 0.431, 0.750, 0.106),
        "GPT2-MMI": (19.30, 0.065, 0.126, 0.130, 7351, 0.082, 0.425, 0.650, 0.106),
        "InfoNCE": (18.85, 0.065, 0.126, 0.126, 7300, 0.091, 0.046, 0.800, 0.107),
        "DEMI": (18.70, 0.054, 0.130, 0.120, 7375, 0.077, 0.047, 0.820, 0.108),
        "Ground Truth": (None, 0.052, 0.095, None, 9236, 0.069, 0.416, None, 0.110),
    },
}
TABLE2 = {"GPT2": (19.21, 0.78), "TransferTransfo": (19.32, 0.75), "GPT2-MMI": (19.30, 0.65),
          "InfoNCE": (18.85, 0.80), "DEMI": (18.70, 0.82)}
LABELS = {"lm": "GPT2", "transfertransfo": "TransferTransfo", "infonce": "InfoNCE", "demi": "DEMI",
          "demi_bo": "DEMI"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdirs", nargs="+", help="dialogue trainer workdirs (forward models)")
    parser.add_argument("--backward", default="", help="dialogue_mmi workdir: p(x | y) for GPT2-MMI")
    parser.add_argument("--split", default="valid", choices=("valid", "test", "train"))
    parser.add_argument("--max-examples", type=int, default=0, help="first N examples (0 = all)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=40)
    parser.add_argument("--mmi-samples", type=int, default=50)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=0, help="0 = exact nucleus over the vocabulary")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="", help="JSON file of the results")
    return parser.parse_args(argv)


def _first_utterance(tokens, end_id):
    tokens = list(np.asarray(tokens))
    return tokens[: tokens.index(end_id)] if end_id in tokens else tokens


def _eval_batches(config, split, batch_size, max_examples):
    from tfmi.data.dialogue import dialogue_dataset_from_config

    data = config.data.copy_and_resolve_references()
    data.negatives_path = ""
    data.pad_to_multiple = 0  # one shape: generation traces once
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


def _sampler(args, offset=0):
    import keras_hub

    return keras_hub.samplers.TopPSampler(p=args.top_p, k=args.top_k or None, seed=args.seed + offset)


def teacher_forced(model, batch, token_metrics):
    """(NLL sum, tokens) of the reference futures; updates the token-level metrics."""
    import tensorflow as tf

    ids, mask, target = batch["lm_ids"], batch["lm_mask"], batch["lm_target_mask"]
    states = model.states(ids, mask)
    nll, count = model.token_nll(states, ids, target)
    scored = target[:, :-1].astype(bool)
    logits = model.logits(tf.boolean_mask(states[:, :-1], scored))
    predictions = np.zeros(ids.shape, np.int64)
    predictions[:, :-1][scored] = np.argmax(np.asarray(logits), axis=-1)
    token_metrics.update(predictions, ids, np.concatenate([scored, np.zeros([len(ids), 1], bool)], axis=1))
    return float(np.sum(nll)), float(np.sum(count))


def generate(model, batch, args, sampler, samples=1):
    """``samples`` responses per past (rows repeated), as GPT-2 id lists."""
    from tfmi.data.dialogue import END_OF_TEXT_ID

    past, length = np.repeat(batch["past_ids"], samples, axis=0), np.repeat(batch["past_length"], samples)
    max_new = min(args.max_new_tokens, int(model.backbone.max_sequence_length) - past.shape[1])
    if max_new < 1:
        raise ValueError(
            f"the pasts ({past.shape[1]} tokens) leave no room to generate in the backbone's "
            f"{int(model.backbone.max_sequence_length)} positions."
        )
    ids, mask = model.generate(past, length, max_new, stop_token_ids=[END_OF_TEXT_ID], sampler=sampler)
    return [row[m].tolist() for row, m in zip(ids, mask)]


def mmi_rerank(backward, batch, candidates, samples):
    """The candidate with the largest log p(x | y) under the backward model, per past."""
    from tfmi.data.dialogue import END_OF_TEXT_ID

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
    # In chunks: each scored token carries a vocabulary-sized logit vector.
    chunk = 128
    scores = np.concatenate([
        np.asarray(backward.sequence_log_prob(
            future[i : i + chunk], future_length[i : i + chunk], past[i : i + chunk], past_length[i : i + chunk]
        ))
        for i in range(0, rows, chunk)
    ]).reshape(-1, samples)
    best = scores.argmax(axis=1)
    return [candidates[i * samples + b] for i, b in enumerate(best)]


def _decode(tokenizer, sequences):
    """The text of each token-id list ("" for an empty one)."""
    texts = [tokenizer.detokenize(np.asarray(ids, np.int32)) if len(ids) else "" for ids in sequences]
    return [t.numpy().decode("utf-8", "replace") if hasattr(t, "numpy") else str(t) for t in texts]


def response_metrics(responses, references, tokenizer):
    from tfmi.evaluation import text_metrics

    texts, reference_texts = _decode(tokenizer, responses), _decode(tokenizer, references)
    words = [t.split() for t in texts]
    return {
        "seq_rep_avg": text_metrics.seq_rep_avg(responses),
        "dist_1": text_metrics.distinct_n(words, 1),
        "dist_2": text_metrics.distinct_n(words, 2),
        "entropy_4": text_metrics.entropy_n(words, 4),
        "bleu": text_metrics.bleu(texts, reference_texts),
    }, texts


def evaluate(args):
    from tfmi.data.dialogue import END_OF_TEXT_ID
    from tfmi.encoders.gpt2 import gpt2_tokenizer
    from tfmi.evaluation import text_metrics
    from tfmi.jsonio import write_json
    from tfmi.models.dialogue import restore_run

    tokenizer = gpt2_tokenizer()
    backward = restore_run(args.backward)[1] if args.backward else None
    if backward is not None and backward.method != "backward":
        raise ValueError(f"--backward {args.backward} is a {backward.method!r} run; pass a dialogue_mmi (backward) run.")
    rows, samples, mmi_done = [], {}, False
    for index, workdir in enumerate(args.workdirs):
        config, model = restore_run(workdir)
        if model.method == "backward":
            raise ValueError(f"{workdir} is the backward model p(x | y): pass it with --backward.")
        label = LABELS[model.method]
        with_mmi = backward is not None and model.method == "lm" and not mmi_done
        token_metrics = text_metrics.TokenLevelMetrics()
        nll, tokens, responses, mmi_responses, references, reference_ids = 0.0, 0.0, [], [], [], []
        sampler, mmi_sampler = _sampler(args, index), _sampler(args, 1000 + index)
        start = time.time()
        for batch in _eval_batches(config, args.split, args.batch_size, args.max_examples):
            batch_nll, batch_tokens = teacher_forced(model, batch, token_metrics)
            nll, tokens = nll + batch_nll, tokens + batch_tokens
            responses += generate(model, batch, args, sampler)
            if with_mmi:
                candidates = generate(model, batch, args, mmi_sampler, samples=args.mmi_samples)
                mmi_responses += mmi_rerank(backward, batch, candidates, args.mmi_samples)
            for row, length in zip(batch["future_ids"], batch["future_length"]):
                references.append(_first_utterance(row[:length], END_OF_TEXT_ID))
            print(f"{workdir}: {len(responses)} examples, {time.time() - start:.0f} s", flush=True)
        if not responses:
            raise ValueError(f"{workdir}: the {args.split} split has no examples.")
        token_level = token_metrics.result()
        common = {"ppl": text_metrics.perplexity(nll, tokens), "rep": token_level["rep"],
                  "wrep": token_level["wrep"], "uniq": token_level["uniq"], "tokens": tokens}
        generated, texts = response_metrics(responses, references, tokenizer)
        rows.append({"model": label, "workdir": workdir, "examples": len(responses), **common, **generated})
        samples[label] = texts[:5]
        if with_mmi:
            mmi_generated, mmi_texts = response_metrics(mmi_responses, references, tokenizer)
            rows.append({"model": "GPT2-MMI", "workdir": f"{workdir} + {args.backward}",
                         "examples": len(responses), **common, **mmi_generated})
            samples["GPT2-MMI"] = mmi_texts[:5]
            mmi_done = True
        if index == 0:
            truth, truth_texts = response_metrics(references, references, tokenizer)
            truth.update(ppl=None, bleu=None, wrep=None, rep=token_level["human_rep"], uniq=token_level["human_uniq"])
            ground_truth = {"model": "Ground Truth", "examples": len(references), **truth}
            samples["Ground Truth"] = truth_texts[:5]
    rows.append(ground_truth)
    table = markdown_table(rows, args.split)
    print(table)
    result = {"split": args.split, "rows": rows, "samples": samples, "settings": vars(args), "table": table}
    if args.out:
        write_json(result, args.out)
        print(f"wrote {args.out}")
    return result


def _format(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, int) or (isinstance(value, float) and value >= 1000):
        return f"{value:.0f}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:.2f}"


def markdown_table(rows, split):
    """Our values beside the paper's ("ours / paper"): Table 6 (valid) or 5 (test), and
    Table 2's ppl / BLEU for the valid split."""
    paper = PAPER.get(split, {})
    header = "| Model | " + " | ".join(METRICS) + " |"
    lines = [f"Ours / paper (Sordoni et al. 2021, Table {'6' if split == 'valid' else '5'}, WoW {split}); "
             "BLEU 0..100 (sacrebleu), paper BLEU as printed.", "", header,
             "|" + "---|" * (len(METRICS) + 1)]
    for row in rows:
        reference = paper.get(row["model"], (None,) * len(METRICS))
        cells = [f"{_format(row.get(m))} / {_format(p)}" for m, p in zip(METRICS, reference)]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    if split == "valid":
        lines += ["", "Table 2 (valid, mean of 3 seeds): ppl / BLEU — ours | paper", "",
                  "| Model | ppl | BLEU |", "|---|---|---|"]
        for row in rows:
            if row["model"] in TABLE2:
                ppl, bleu = TABLE2[row["model"]]
                lines.append(f"| {row['model']} | {_format(row['ppl'])} / {ppl} | {_format(row['bleu'])} / {bleu} |")
    return "\n".join(lines)


def main(argv=None):
    run_reporting_errors(evaluate, parse_args(argv))


if __name__ == "__main__":
    main()
