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

The evaluation itself (restoring, sampling, reranking, the metrics) is
tfmi.evaluation.dialogue; this file holds the command line and the paper's tables.
"""

import argparse
import math
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmi.console import Progress, run_reporting_errors  # noqa: E402

PROGRESS = Progress(stdout=True)  # progress lines, on stdout with the results: the tool's output is its log

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


def _sampler(args, offset=0):
    import keras_hub

    return keras_hub.samplers.TopPSampler(p=args.top_p, k=args.top_k or None, seed=args.seed + offset)


def evaluate(args):
    from tfmi.encoders.gpt2 import gpt2_tokenizer
    from tfmi.evaluation import dialogue, text_metrics
    from tfmi.json_files import write_json

    tokenizer = gpt2_tokenizer()
    backward = dialogue.restore_run(args.backward)[1] if args.backward else None
    if backward is not None and backward.objective.generates_responses:
        raise ValueError(
            f"--backward {args.backward} is a {backward.method!r} run; pass a dialogue_mmi (backward) run."
        )
    rows, samples, mmi_done = [], {}, False
    for index, workdir in enumerate(args.workdirs):
        config, model = dialogue.restore_run(workdir)
        if not model.objective.generates_responses:
            raise ValueError(f"{workdir} is the backward model p(x | y): pass it with --backward.")
        label = LABELS[model.method]
        with_mmi = backward is not None and model.method == "lm" and not mmi_done
        token_metrics = text_metrics.TokenLevelMetrics()
        nll, tokens, responses, mmi_responses, references = 0.0, 0.0, [], [], []
        generator = dialogue.Generator(model, _sampler(args, index))
        mmi_generator = dialogue.Generator(model, _sampler(args, 1000 + index)) if with_mmi else None
        start = time.time()
        for batch in dialogue.evaluation_batches(config, args.split, args.batch_size, args.max_examples):
            batch_nll, batch_tokens = dialogue.teacher_forced(model, batch, token_metrics)
            nll, tokens = nll + batch_nll, tokens + batch_tokens
            responses += dialogue.sample_responses(generator, batch, args.max_new_tokens)
            if with_mmi:
                candidates = dialogue.sample_responses(mmi_generator, batch, args.max_new_tokens, args.mmi_samples)
                mmi_responses += dialogue.mmi_rerank(backward, batch, candidates, args.mmi_samples)
            for row, length in zip(batch["future_ids"], batch["future_length"]):
                references.append(dialogue.first_utterance(row[:length]))
            PROGRESS(f"{workdir}: {len(responses)} examples, {time.time() - start:.0f} s")
        if not responses:
            raise ValueError(f"{workdir}: the {args.split} split has no examples.")
        token_level = token_metrics.result()
        common = {"ppl": text_metrics.perplexity(nll, tokens), "rep": token_level["rep"],
                  "wrep": token_level["wrep"], "uniq": token_level["uniq"], "tokens": tokens}
        generated, texts = dialogue.response_metrics(responses, references, tokenizer)
        rows.append({"model": label, "workdir": workdir, "examples": len(responses), **common, **generated})
        samples[label] = texts[:5]
        if with_mmi:
            mmi_generated, mmi_texts = dialogue.response_metrics(mmi_responses, references, tokenizer)
            rows.append({"model": "GPT2-MMI", "workdir": f"{workdir} + {args.backward}",
                         "examples": len(responses), **common, **mmi_generated})
            samples["GPT2-MMI"] = mmi_texts[:5]
            mmi_done = True
        if index == 0:
            truth, truth_texts = dialogue.response_metrics(references, references, tokenizer)
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
