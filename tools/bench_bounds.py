r"""Benchmark of tfmi's MI bounds: accuracy on correlated Gaussians and training speed.

    PYTHONPATH=. python tools/bench_bounds.py             # full run, ~25 min on 2 idle CPU cores
    PYTHONPATH=. python tools/bench_bounds.py --quick     # ~2-3 min, fewer tasks and steps

Prints markdown tables on stdout (progress goes to stderr) and writes every number,
the raw per-batch estimates included, to ``--out`` (JSON; rewritten after each task,
so an interrupted run keeps what it finished).

Accuracy: per bound, d (``--dims``) and true MI (``--mi-values``), the staircase model
trained ``--train-steps`` steps and scored on ``--eval-batches`` fresh batches: bias,
std and MSE of the trained and of the optimal critic. Speed: steps/s and achieved
FLOP/s per bound and batch size against a float32 matmul peak. Conditional bounds:
the DEMI methods' training step beside InfoNCE's at the same K. What each number
means, and how it is measured: ``tfmi.evaluation.bound_benchmark``.
"""

import argparse
import time

import tensorflow as tf

from tfmi.bounds import UNCONDITIONAL_BOUNDS
from tfmi.console import progress
from tfmi.evaluation import bound_benchmark as bench
from tfmi.evaluation.benchmarking import comma_list, format_seconds, load_average, machine_info
from tfmi.json_files import write_json
from tfmi.models.demi import METHODS as DEMI_METHODS


# Settings that --quick changes; a flag given on the command line wins over both.
PRESETS = {
    "full": {
        "bounds": list(UNCONDITIONAL_BOUNDS),
        "dims": [5, 20],
        "mi_values": [0.5, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0],
        "train_steps": 2000,
        "eval_batches": 50,
        "speed_bounds": list(UNCONDITIONAL_BOUNDS),
        "speed_batch_sizes": [128, 1024],
        "speed_seconds": 2.0,
        "speed_repeats": 3,
        "conditional_k": [16, 64, 256],
    },
    "quick": {
        "bounds": list(UNCONDITIONAL_BOUNDS),
        "dims": [20],
        "mi_values": [2.0, 6.0, 10.0],
        "train_steps": 300,
        "eval_batches": 20,
        "speed_bounds": ["infonce", "nwj", "smile"],
        "speed_batch_sizes": [128, 1024],
        "speed_seconds": 0.5,
        "speed_repeats": 3,
        "conditional_k": [16, 64],
    },
}


def parse_args(argv=None):
    """Command-line flags, with the unset ones filled from the full or quick preset."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few tasks and steps (~2-3 min)")
    parser.add_argument("--out", default="bench_bounds.json", help="JSON file of all results")
    parser.add_argument("--critic", default="separable", help="critic of the staircase config")
    parser.add_argument("--bounds", type=comma_list(str), help="comma-separated bound names")
    parser.add_argument("--dims", type=comma_list(int), help="task dimensions d, e.g. 5,20")
    parser.add_argument("--mi-values", type=comma_list(float), help="true MI values in nats")
    parser.add_argument("--batch-size", type=int, default=128, help="accuracy batch size")
    parser.add_argument("--train-steps", type=int, help="training steps per task")
    parser.add_argument("--eval-batches", type=int, help="fresh batches per evaluation")
    parser.add_argument("--learning-rate", type=float, help="default: the config's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-bounds", type=comma_list(str), help="bounds to time")
    parser.add_argument("--speed-batch-sizes", type=comma_list(int), help="e.g. 128,1024")
    parser.add_argument("--speed-dim", type=int, default=20, help="d of the timed task")
    parser.add_argument("--speed-seconds", type=float, help="target length of a timed call")
    parser.add_argument("--speed-repeats", type=int, help="timed calls; the best is kept")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the peak n x n matmul")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--conditional-k", type=comma_list(int),
                        help="total candidates K of the timed DEMI steps, e.g. 16,64")
    parser.add_argument("--skip-conditional", action="store_true")
    args = parser.parse_args(argv)
    for key, value in PRESETS["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = sorted(set(args.bounds + args.speed_bounds) - set(UNCONDITIONAL_BOUNDS))
    if unknown:
        parser.error(f"unknown bounds {unknown}; choose from {list(UNCONDITIONAL_BOUNDS)}")
    if args.train_steps < 1 or args.eval_batches < 2:
        parser.error("--train-steps must be >= 1 and --eval-batches >= 2")
    if any(k < 4 or k % 2 for k in args.conditional_k):
        parser.error("--conditional-k values must be even and >= 4 (DEMI splits K in two)")
    if args.batch_size < 2 or min(args.speed_batch_sizes) < 2:
        parser.error("batch sizes must be >= 2 (the bounds contrast pairs within a batch)")
    return args


def run_accuracy(args, report):
    """Every (d, MI, bound) task; appends to report["accuracy"] and saves after each."""
    tasks = [(dim, mi) for dim in args.dims for mi in args.mi_values]
    total, done, start = len(tasks) * len(args.bounds), 0, time.perf_counter()
    for dim, mi in tasks:
        batches = bench.eval_batches(args.batch_size, dim, mi, args.seed, args.eval_batches)
        for bound in args.bounds:
            record = bench.run_task(bound, dim, mi, batches, args.train_steps, args.critic, args.learning_rate,
                                    args.seed)
            report["accuracy"].append(record)
            write_json(report, args.out)
            done += 1
            elapsed = time.perf_counter() - start
            trained, optimal = record["trained"], record["optimal"]
            progress(
                f"[{done}/{total}] {bound:12s} d={dim:<3d} I={mi:<5g} "
                f"trained {trained['mean']:8.3f} +- {trained['std']:.3f} | "
                f"optimal {optimal['mean']:8.3f} +- {optimal['std']:.3f} | "
                f"{record['train_steps_per_sec']:.0f} steps/s | "
                f"ETA {format_seconds(elapsed / done * (total - done))}"
            )


def run_speed(args, report):
    """Every (bound, batch size) timing between two matmul-peak timings, whose best is
    the peak; fills report["speed"]."""
    speed = report["speed"] = {
        "matmul_size": args.matmul_size,
        "matmul_before": timed_matmul(args),
        "results": [],
    }
    for bound in args.speed_bounds:
        for batch_size in args.speed_batch_sizes:
            record = bench.time_training(bound, batch_size, args.speed_dim, args.speed_seconds, args.speed_repeats,
                                          args.critic, args.learning_rate, args.seed)
            speed["results"].append(record)
            write_json(report, args.out)
            progress(
                f"speed {bound:12s} B={batch_size:<5d} {record['steps_per_sec']:7.1f} steps/s "
                f"(CPU share {record['cpu_share']:.2f})"
            )
    speed["matmul_after"] = timed_matmul(args)
    speed["peak_flops_per_sec"] = max(
        speed["matmul_before"]["flops_per_sec"], speed["matmul_after"]["flops_per_sec"]
    )
    for record in speed["results"]:
        if record["flops_per_step_analytic"] is not None:
            achieved = record["flops_per_step_analytic"] * record["steps_per_sec"]
            record["flops_per_sec_analytic"] = achieved
            record["fraction_of_matmul_peak"] = achieved / speed["peak_flops_per_sec"]
    report["load_average_1m_after_speed"] = load_average()


def timed_matmul(args):
    """``matmul_rate`` with progress lines."""
    progress(f"timing a {args.matmul_size}x{args.matmul_size} float32 matmul ...")
    rate = bench.matmul_rate(args.matmul_size, args.speed_seconds, args.speed_repeats)
    progress(
        f"matmul: {rate['flops_per_sec'] / 1e9:.1f} GFLOP/s (CPU share {rate['cpu_share']:.2f})"
    )
    return rate


def run_conditional_speed(args, report):
    """Every DEMI method at each K, timed beside InfoNCE at the same K; fills
    report["conditional_speed"] with the cost of a step relative to InfoNCE's."""
    results = report["conditional_speed"] = []
    for k in args.conditional_k:
        for method in DEMI_METHODS:
            record = bench.time_demi_training(method, k, args.speed_seconds, args.speed_repeats, args.seed)
            results.append(record)
            write_json(report, args.out)
            progress(
                f"conditional {method:9s} K={k:<4d} {record['steps_per_sec']:7.1f} steps/s "
                f"(CPU share {record['cpu_share']:.2f})"
            )
    infonce = {r["k"]: r["steps_per_sec"] for r in results if r["method"] == "infonce"}
    for record in results:
        record["cost_vs_infonce"] = infonce[record["k"]] / record["steps_per_sec"]


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one tf.function per model: retracing warnings are expected
    start = time.perf_counter()
    report = {
        "machine": machine_info(libraries=True),
        "settings": vars(args),
        "flops_formula": (
            "step = 3 * 2 * (B * (macs(phi_x) + macs(phi_y) + macs(baseline)) + B^2 * embed_dim); "
            "macs(mlp) = sum of n_in * n_out over its Dense layers; matmuls only"
        ),
        "accuracy": [],
    }
    print("# tfmi bound benchmark\n\n" + bench.machine_table(report["machine"]) + "\n")
    if not args.skip_accuracy:
        run_accuracy(args, report)
        tables = bench.accuracy_tables(report["accuracy"], args.bounds, args.dims, args.mi_values, args.batch_size,
                                       args.train_steps, args.eval_batches)
        print("## Accuracy: correlated Gaussians\n\n" + tables + "\n")
    if not args.skip_speed:
        run_speed(args, report)
        print("## Speed: staircase model training step\n\n" + bench.speed_table(report["speed"]) + "\n")
    if not args.skip_conditional:
        run_conditional_speed(args, report)
        print("## Speed: DEMI conditional bounds\n\n" + bench.conditional_speed_table(report["conditional_speed"])
              + "\n")
    report["total_seconds"] = time.perf_counter() - start
    write_json(report, args.out)
    print(f"Wrote {args.out} ({format_seconds(report['total_seconds'])}).")


if __name__ == "__main__":
    main()
