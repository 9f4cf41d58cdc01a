r"""Speed of the dialogue objectives: what the MI terms cost on top of language modelling.

    python tools/bench_dialogue.py --out docs/bench_dialogue.json          # small GPT-2
    python tools/bench_dialogue.py --quick                                  # < 2 min on CPU
    python tools/bench_dialogue.py --preset gpt2_base_en --batch-size 5     # the paper's GPT-2

Each method (lm, infonce, demi) trains ``--steps`` timed steps (after 2 warm-up steps)
of ``DialogueModel.train_step`` inside one ``tf.function`` on synthetic batches of the
data contract (random GPT-2 ids; pasts of P/2..P tokens, futures of F/2..F, N sampled
negatives of F/2..F for DEMI), in a fresh subprocess each so that its peak memory is
its own. Training tokens/s counts the real tokens of past ⊕ future per second (the
LM's input); the overhead is the step time relative to LM-only. Generation: nucleus
sampling (p = 0.9, keras-hub TopPSampler) of ``--new-tokens`` tokens for a batch of
pasts, new tokens/s. Peak memory: the GPU allocator's peak when there is a GPU, else the
process's peak resident set size. Prints a markdown table and writes JSON (--out).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tfmi.evaluation.benchmarking import peak_memory_mib, print_result, run_worker  # noqa: E402

METHODS = ("lm", "infonce", "demi")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny GPT-2, short sequences: < 2 min on CPU")
    parser.add_argument("--preset", default="", help="keras-hub GPT-2 preset (default: the small offline GPT-2)")
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--past-tokens", type=int, default=256)
    parser.add_argument("--future-tokens", type=int, default=128)
    parser.add_argument("--negatives", type=int, default=9)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--top-k", type=int, default=0, help="nucleus within the top K (0: exact)")
    parser.add_argument("--out", default="")
    parser.add_argument("--worker", default="", help=argparse.SUPPRESS)  # method or "generate"
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.past_tokens, args.future_tokens = 4, 48, 24
        args.negatives, args.steps, args.new_tokens = 3, 10, 8
    return args


def _backbone(args):
    from tfmi.config_utils import import_beside
    from tfmi.encoders.gpt2 import build_gpt2

    sordoni2021 = import_beside(__file__, "../configs/sordoni2021/common.py")
    size = sordoni2021.DIALOGUE_TINY_GPT2 if args.quick else sordoni2021.DIALOGUE_SMALL_GPT2
    length = args.past_tokens + args.future_tokens + args.new_tokens
    return build_gpt2(args.preset or None, max_sequence_length=max(length, 16), dropout=0.1, **size)


def synthetic_batch(args, seed=0):
    """A batch of the tfmi.data.dialogue contract with random ids and lengths."""
    import numpy as np

    from tfmi.encoders.gpt2 import END_OF_TEXT_ID
    from tfmi.encoders.gpt2 import concat_padded

    rng = np.random.default_rng(seed)
    rows, past, future = args.batch_size, args.past_tokens, args.future_tokens

    def padded(count, width):
        lengths = rng.integers(max(width // 2, 1), width + 1, size=count).astype(np.int32)
        ids = np.zeros((count, width), np.int32)
        for row, length in enumerate(lengths):
            ids[row, :length] = rng.integers(0, END_OF_TEXT_ID, size=length)
            ids[row, length - 1] = END_OF_TEXT_ID
        return ids, (np.arange(width)[None] < lengths[:, None]).astype(np.int32), lengths

    past_ids, past_mask, past_length = padded(rows, past)
    future_ids, future_mask, future_length = padded(rows, future)
    subview_ids, subview_mask, subview_length = padded(rows, min(past, 65))
    lm_ids, lm_mask, lm_target = [np.asarray(t).astype(np.int32) for t in concat_padded(
        past_ids, past_length, future_ids, future_length)]
    negatives = padded(rows * args.negatives, future)
    return {
        "past_ids": past_ids, "past_mask": past_mask, "past_length": past_length,
        "future_ids": future_ids, "future_mask": future_mask, "future_length": future_length,
        "subview_ids": subview_ids, "subview_mask": subview_mask, "subview_length": subview_length,
        "lm_ids": lm_ids, "lm_mask": lm_mask, "lm_target_mask": lm_target,
        "example_id": np.arange(rows, dtype=np.int64),
        "negative_ids": negatives[0].reshape(rows, args.negatives, future),
        "negative_mask": negatives[1].reshape(rows, args.negatives, future),
    }


def worker(args):
    """One measurement in this process; prints a JSON line."""
    import keras
    import numpy as np
    import tensorflow as tf

    from tfmi.models.dialogue import DialogueModel

    keras.utils.set_random_seed(0)
    batch = {k: tf.constant(v) for k, v in synthetic_batch(args).items()}
    model = DialogueModel(_backbone(args), method="lm" if args.worker == "generate" else args.worker)
    model.build_from_batch(batch)
    if args.worker == "generate":
        import keras_hub

        from tfmi.evaluation.dialogue import Generator

        generator = Generator(model, keras_hub.samplers.TopPSampler(p=0.9, k=args.top_k or None, seed=0))
        past, length = batch["past_ids"].numpy(), batch["past_length"].numpy()
        generator(past, length, args.new_tokens)  # trace / compile
        start = time.perf_counter()
        generator(past, length, args.new_tokens)
        seconds = time.perf_counter() - start
        result = {"generated_tokens_per_sec": args.batch_size * args.new_tokens / seconds, "seconds": seconds}
    else:
        model.compile(optimizer=keras.optimizers.Adam(6.25e-5))
        model.optimizer.build(model.trainable_variables)
        step = tf.function(model.train_step)
        for _ in range(2):
            step(batch)
        float(model.trackers["loss"].result())
        start = time.perf_counter()
        for _ in range(args.steps):
            out = step(batch)
        float(out["loss"])
        seconds = (time.perf_counter() - start) / args.steps
        tokens = float(np.sum(batch["lm_mask"].numpy()))
        result = {"step_seconds": seconds, "train_tokens_per_sec": tokens / seconds}
    result["peak_memory_mib"], result["memory_kind"] = peak_memory_mib()
    print_result(result)


def run(args):
    from tfmi.json_files import write_json

    results = {}
    for name in METHODS + ("generate",):
        arguments = ["--worker", name] + [a for a in sys.argv[1:] if not a.startswith("--out")]
        if args.out:  # "--out X" given as two items: drop its value too
            arguments = [a for a in arguments if a != args.out]
        try:
            results[name] = run_worker(__file__, arguments)
        except RuntimeError as error:
            raise RuntimeError(f"the {name} measurement failed:\n{error}") from None
        print(f"{name}: {results[name]}", flush=True)
    base = results["lm"]["step_seconds"]
    memory_kind = results["lm"]["memory_kind"]
    lines = [
        f"GPT-2 {'tiny' if args.quick else (args.preset or 'small offline')}, batch {args.batch_size}, "
        f"past {args.past_tokens} / future {args.future_tokens} tokens (max), {args.negatives} DEMI negatives",
        "",
        f"| objective | train tokens/s | step (s) | overhead vs LM | {memory_kind} |",
        "|---|---|---|---|---|",
    ]
    for name in METHODS:
        r = results[name]
        lines.append(f"| {name} | {r['train_tokens_per_sec']:.0f} | {r['step_seconds']:.3f} | "
                     f"{r['step_seconds'] / base:.2f}x | {r['peak_memory_mib']:.0f} |")
    g = results["generate"]
    lines += ["", f"generation (nucleus p = 0.9{', top-k ' + str(args.top_k) if args.top_k else ''}): "
              f"{g['generated_tokens_per_sec']:.0f} new tokens/s, batch {args.batch_size}, "
              f"{args.new_tokens} tokens; {memory_kind} {g['peak_memory_mib']:.0f}"]
    table = "\n".join(lines)
    print(table)
    if args.out:
        write_json({"settings": {k: v for k, v in vars(args).items() if k != "worker"}, "results": results,
                    "table": table}, args.out)
    return results


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
