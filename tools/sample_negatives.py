r"""Samples DEMI's conditional negatives: N futures y ~ p_GPT2(y | x') per training example.

Sordoni et al. (2021), Sec. 5.3 / App. B.1: the conditional term I_VAR(x; y | x') needs
futures from p(y | x'); GPT-2 itself is the proposal q, conditioned on the restricted
context x' (the last past utterance) only, with nucleus sampling (p = 0.9), offline.

    python tools/sample_negatives.py --workdir runs/dialogue/gpt2 \
        --config configs/dialogue_demi.py --out runs/dialogue/negatives.npz
    python -m trainers.train --config configs/dialogue_demi.py:negatives_path=runs/dialogue/negatives.npz ...

--workdir: a trained dialogue_gpt2 run (its newest checkpoint; ``--step`` another);
``--fresh`` samples from a randomly initialised model of the config's model block
instead (tests, smoke runs). --config names the data the negatives are for (default:
the workdir's own config.data): the examples are ``tfmi.data.dialogue.examples_from_
config`` of that data section, so the example ids match what the DEMI run streams.

Each prompt x' (utterance k with its closing <|endoftext|>) is continued by
``--max-new-tokens`` sampled tokens (default data.max_future_tokens) and formatted like
a true future: as many utterances as the example's true future has, each cut to
data.max_utterance_tokens and closed by <|endoftext|> = 50256
(``tfmi.data.dialogue.format_future``). Writes ``--out`` (.npz): example_id int64 [M],
negative_ids int32 [M, N, F] (0-padded), negative_length int32 [M, N]. The file is written atomically
(temporary file + rename); progress is saved every ``--save-every`` batches to
OUT.partial.npz and a rerun of the same command resumes from it.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from tfmi.console import Progress, run_reporting_errors  # noqa: E402

PROGRESS = Progress(stdout=True)  # progress lines, on stdout with the results: the tool's output is its log


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workdir", help="trained dialogue LM run whose checkpoint samples")
    source.add_argument("--fresh", action="store_true", help="sample from a random model of --config")
    parser.add_argument("--config", default="", help="configs/NAME.py[:ARG]: the data to sample for")
    parser.add_argument("--out", required=True, help="output .npz")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: newest)")
    parser.add_argument("--num-negatives", type=int, default=0, help="N per example (default data.num_negatives or 9)")
    parser.add_argument("--max-new-tokens", type=int, default=0, help="default data.max_future_tokens")
    parser.add_argument("--batch-size", type=int, default=32, help="prompts per generate call (x N rows)")
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=0,
                        help="K > 0: nucleus within the K most likely tokens (sorting 50,257 logits per "
                        "step dominates CPU time; a trained model's 0.9-nucleus lies in the top 1,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-examples", type=int, default=0, help="first M examples only (0 = all)")
    parser.add_argument("--save-every", type=int, default=20, help="batches between progress saves")
    return parser.parse_args(argv)


def _atomic_savez(path, **arrays):
    temporary = f"{path}.tmp.npz"
    np.savez(temporary, **arrays)
    os.replace(temporary, path)


def _load_model(args):
    from tfmi.config_utils import load_config
    from tfmi.models import build_model
    from tfmi.evaluation.dialogue import restore_run

    if args.workdir:
        run_config, model = restore_run(args.workdir, args.step)
        config = load_config(args.config) if args.config else run_config
    else:
        if not args.config:
            raise ValueError("--fresh needs --config (its model block is the random model).")
        import keras

        config = load_config(args.config)
        keras.utils.set_random_seed(args.seed)
        model = build_model(config.model).build_for_inference()
    return config, model


def sample(args):
    import keras_hub

    from tfmi.data.dialogue import END_OF_TEXT_ID, examples_from_config, format_future
    from tfmi.evaluation.dialogue import Generator

    config, model = _load_model(args)
    data = config.data
    num_negatives = args.num_negatives or int(data.get("num_negatives", 0) or 9)
    max_new = args.max_new_tokens or int(data.get("max_future_tokens", 128))
    examples = examples_from_config(data)
    count = len(examples) if not args.max_examples else min(args.max_examples, len(examples))
    example_id = examples.example_id[:count]
    negative_ids = np.zeros((count, num_negatives, max_new), np.int32)
    negative_length = np.zeros((count, num_negatives), np.int32)
    done = np.zeros(count, bool)
    partial = f"{args.out}.partial.npz"
    if os.path.exists(partial):
        with np.load(partial) as saved:
            if saved["negative_ids"].shape == negative_ids.shape and np.array_equal(saved["example_id"], example_id):
                negative_ids, negative_length, done = saved["negative_ids"], saved["negative_length"], saved["done"]
                PROGRESS(f"resuming from {partial}: {int(done.sum())}/{count} examples done")
            else:
                PROGRESS(f"ignoring {partial}: written for other settings")

    # Prompts of similar length share a batch (generation starts at the shortest prompt).
    order = [i for i in np.argsort([len(s) for s in examples.subview[:count]], kind="stable") if not done[i]]
    sampler = keras_hub.samplers.TopPSampler(p=args.top_p, k=args.top_k or None, seed=args.seed + int(done.sum()))
    generator = Generator(model, sampler)
    start, batches = time.time(), 0
    total_left = len(order)
    # One shape for every call (the last batch padded with repeats): one trace / compile.
    width = max(len(s) for s in examples.subview[:count])
    for first in range(0, len(order), args.batch_size):
        rows = order[first : first + args.batch_size]
        padded_rows = rows + [rows[-1]] * (args.batch_size - len(rows))
        prompts = [examples.subview[i] for i in padded_rows for _ in range(num_negatives)]
        prompt_ids = np.zeros((len(prompts), width), np.int32)
        for r, prompt in enumerate(prompts):
            prompt_ids[r, : len(prompt)] = prompt
        lengths = np.array([len(p) for p in prompts], np.int32)
        new_ids, new_mask = generator(prompt_ids, lengths, max_new)
        for r, (ids, mask) in enumerate(zip(new_ids[: len(rows) * num_negatives], new_mask)):
            i, n = rows[r // num_negatives], r % num_negatives
            future = format_future(ids[mask], int(examples.num_future[i]), examples.max_utterance_tokens,
                                   max_new, END_OF_TEXT_ID)
            negative_ids[i, n, : len(future)] = future
            negative_length[i, n] = len(future)
        done[rows] = True
        batches += 1
        finished = first + len(rows)
        rate = finished / max(time.time() - start, 1e-9)
        PROGRESS(f"{int(done.sum())}/{count} examples | {rate:.2f} examples/s | "
                 f"ETA {(total_left - finished) / max(rate, 1e-9):.0f} s")
        if batches % args.save_every == 0:
            _atomic_savez(partial, example_id=example_id, negative_ids=negative_ids,
                          negative_length=negative_length, done=done)
    _atomic_savez(args.out, example_id=example_id, negative_ids=negative_ids, negative_length=negative_length)
    if os.path.exists(partial):
        os.remove(partial)
    print(f"wrote {args.out}: {count} examples x {num_negatives} negatives, up to {max_new} tokens", flush=True)
    return args.out


def main(argv=None):
    args = parse_args(argv)
    if not args.out.endswith(".npz"):
        args.out += ".npz"
    run_reporting_errors(sample, args)


if __name__ == "__main__":
    main()
