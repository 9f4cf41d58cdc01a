r"""What reproducing Tschannen et al. (2020) costs: training speed and memory of every
encoder / critic pair of the paper, and the time of its Figures 1-4 on this machine.

    PYTHONPATH=. python tools/bench_tschannen_cost.py --quick   # ~1 s of timing per pair, ~3-5 min
    PYTHONPATH=. python tools/bench_tschannen_cost.py           # 5 s x 3 calls per pair

For each encoder (realnvp, residual_mlp, mlp, convnet; the paper's full sizes, on the
392-pixel MNIST halves) and each critic (bilinear, separable, concat) the model of
``halves_config`` of configs/tschannen2020/common.py (g_1 and g_2, the critic, I_NCE, Adam) is built
as the trainer builds it and its training step is timed as the trainer runs it: a
tf.function looping ``model.train_step(next(iterator))`` over the MNIST halves
pipeline at batch 128, by ``tfmi.evaluation.benchmarking.time_steps``: calls sized to
``--seconds``, the best of ``--repeats`` gives steps/s (the median beside it) and the
CPU share (below 1: other work took cores during the timing).

Each pair runs in its own process, so its memory is its own. Host memory: the RSS
once TensorFlow and the MNIST arrays are loaded ("RSS before model"), then the peak
RSS while the run (input pipeline, model, optimizer) is built by
``tfmi.models.run.build_run`` and trained (Linux VmHWM after a reset; elsewhere
ru_maxrss, which also counts the loading, reported apart as "peak_rss_loading_mib").
On a GPU, the peak of ``tf.config.experimental.get_memory_info``. The parameters and Adam's two slots take
12 bytes per parameter (also reported).

The estimated time of a full reproduction is 21,000 steps x 20 seeds of that pair
(one config, one bound) at the measured rate, one run after another on this machine;
the summary adds up the runs of Figures 1-4 (2 bounds each; Fig. 4 also 2 targets t),
which take most of the paper's compute. Not included: the evaluation of checkpoints
(tools/eval_checkpoints.py), Fig. 2's Jacobian logging every 1,000 steps, the
adversarial run of Fig. 1c and the CIFAR-10 runs of App. G (63,000 steps on
1536-value halves).

Prints markdown tables on stdout (progress on stderr) and writes everything to
``--out`` (JSON, rewritten after each pair).
"""

import argparse
import math
import os
import time

from tfmi.console import progress
from tfmi.evaluation import benchmarking
from tfmi.json_files import write_json

ENCODERS = ("realnvp", "residual_mlp", "mlp", "convnet")
CRITICS = ("bilinear", "separable", "concat")
STEPS_PER_RUN = 21000
SEEDS = 20

# The runs of Figures 1-4 per (encoder, critic): bounds x targets, each 20 seeds x 21k steps.
PAPER_RUNS = {
    ("realnvp", "bilinear"): ("Fig. 1a, b", 2),
    ("residual_mlp", "bilinear"): ("Fig. 2, 5", 2),
    ("mlp", "bilinear"): ("Fig. 3, 6 + Fig. 4, 7", 2 + 4),
    ("mlp", "separable"): ("Fig. 3, 6", 2),
    ("mlp", "concat"): ("Fig. 3, 6", 2),
    ("convnet", "bilinear"): ("Fig. 4, 7", 4),
}

PRESETS = {"quick": {"seconds": 1.0, "repeats": 2}, "full": {"seconds": 5.0, "repeats": 3}}


def time_pair(encoder, critic, batch_size, seconds, repeats, seed=0):
    """Builds the pair's run as the trainer does (``build_run``) and times its training
    step (in the child process of ``run_child``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from tfmi.config_utils import import_beside
    from tfmi.data import mnist_halves
    from tfmi.models.run import build_run

    tf.get_logger().setLevel("ERROR")
    gpus = tf.config.list_physical_devices("GPU")
    tschannen2020 = import_beside(__file__, "../configs/tschannen2020/common.py")
    config = tschannen2020.halves_config(
        "bench_tschannen_cost", dataset="mnist_halves", encoder=encoder, critic=critic, bound="nce",
        learning_rate=1e-4, batch_size=batch_size, total_steps=STEPS_PER_RUN, eval_every=1000,
    )
    config.seed = seed
    # Loaded (and cached for the process) before the measurement: loading, not the run.
    mnist_halves.load_mnist_images(
        source=config.data.source, data_dir=config.data.data_dir or None, download=config.data.download
    )
    rss_before = benchmarking.current_rss_mib()
    peak_process = benchmarking.peak_rss_mib()  # TensorFlow's import and the data loading
    reset = benchmarking.reset_peak_rss()
    run = build_run(config)
    model, optimizer = run.model, run.optimizer
    parameters = int(sum(int(tf.size(v)) for v in model.trainable_variables))
    iterator = iter(run.dataset())

    @tf.function
    def train_loop(iterator, num_steps):
        for _ in tf.range(num_steps):
            model.train_step(next(iterator))
        return optimizer.iterations

    if gpus:
        tf.config.experimental.reset_memory_stats("GPU:0")
    timing = benchmarking.time_steps(lambda steps: train_loop(iterator, tf.constant(steps)).numpy(), seconds, repeats)
    record = {
        "encoder": encoder,
        "critic": critic,
        "batch_size": batch_size,
        "parameters": parameters,
        "param_and_adam_mib": 12 * parameters / 2**20,
        **{key: timing[key] for key in ("trace_seconds", "steps_per_call", "calls")},
        "steps_per_sec": timing["rate"],
        "steps_per_sec_median": timing["rate_median"],
        "cpu_share": timing["cpu_share"],
        "rss_before_model_mib": rss_before,
        "peak_rss_loading_mib": peak_process,
        "peak_rss_mib": benchmarking.peak_rss_since_reset_mib() if reset else benchmarking.peak_rss_mib(),
        "peak_rss_scope": "model build + training" if reset else "whole process",
        "device": "GPU" if gpus else "CPU",
    }
    if gpus:
        record["gpu_peak_mib"] = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return record


def run_child(encoder, critic, args):
    """Times one pair in a fresh Python process; returns its record (or an error record)."""
    start = time.perf_counter()
    try:
        record = benchmarking.run_worker(__file__, [
            "--worker", f"{encoder},{critic}", "--batch-size", args.batch_size,
            "--seconds", args.seconds, "--repeats", args.repeats,
        ], timeout=args.timeout)
    except RuntimeError as error:
        return {"encoder": encoder, "critic": critic, "error": " | ".join(str(error).splitlines()[-3:])}
    record["process_seconds"] = time.perf_counter() - start
    return record


def reproduction_hours(rate, runs=1):
    """Hours for ``runs`` configs x 20 seeds x 21,000 steps at ``rate`` steps/s."""
    return runs * SEEDS * STEPS_PER_RUN / rate / 3600.0


def fmt_hours(hours):
    if hours is None or not math.isfinite(hours):
        return "-"
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"


def speed_table(records):
    header = ["encoder", "critic", "params", "steps/s", "ms/step", "CPU share", "trace s",
              "peak RSS MiB", "RSS before model MiB", "params+Adam MiB", "GPU peak MiB",
              "21k x 20 seeds (one config)"]
    rows = []
    for r in records:
        if "error" in r:
            rows.append([r["encoder"], r["critic"], f"failed: {r['error']}"] + [""] * (len(header) - 3))
            continue
        rows.append([
            r["encoder"], r["critic"], f"{r['parameters'] / 1e6:.2f}M", f"{r['steps_per_sec']:.1f}",
            f"{1000 / r['steps_per_sec']:.1f}", f"{r['cpu_share']:.2f}", f"{r['trace_seconds']:.1f}",
            f"{r['peak_rss_mib']:.0f}", f"{r['rss_before_model_mib']:.0f}" if r["rss_before_model_mib"] else "-",
            f"{r['param_and_adam_mib']:.0f}", f"{r['gpu_peak_mib']:.0f}" if "gpu_peak_mib" in r else "-",
            fmt_hours(reproduction_hours(r["steps_per_sec"])),
        ])
    return benchmarking.markdown_table(header, rows)


def paper_summary(records):
    """Rows for the runs of Figures 1-4 and their total, from the measured rates."""
    rates = {(r["encoder"], r["critic"]): r["steps_per_sec"] for r in records if "error" not in r}
    rows, total = [], 0.0
    for pair, (figures, configs) in PAPER_RUNS.items():
        if pair not in rates:
            continue
        hours = reproduction_hours(rates[pair], configs)
        total += hours
        rows.append({"encoder": pair[0], "critic": pair[1], "figures": figures, "configs": configs,
                     "runs": configs * SEEDS, "hours": hours})
    return rows, total


def summary_table(rows, total):
    cells = [[row["figures"], row["encoder"], row["critic"], str(row["configs"]), str(row["runs"]),
              fmt_hours(row["hours"])] for row in rows]
    cells.append(["**Figures 1-4, all runs**", "", "", "", str(sum(r["runs"] for r in rows)),
                  f"**{fmt_hours(total)}**"])
    return benchmarking.markdown_table(["figures", "encoder", "critic", "configs", "runs (x 21k steps)", "time"], cells)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="~1 s of timing per pair, 2 calls")
    parser.add_argument("--out", default="bench_tschannen_cost.json", help="JSON file of all results")
    parser.add_argument("--encoders", default=",".join(ENCODERS), help="comma-separated encoders")
    parser.add_argument("--critics", default=",".join(CRITICS), help="comma-separated critics")
    parser.add_argument("--batch-size", type=int, default=128, help="the paper's 128")
    parser.add_argument("--seconds", type=float, default=None, help="length of one timed call")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per pair; the best is kept")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per pair's process")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)  # ENCODER,CRITIC: time one pair
    args = parser.parse_args(argv)
    for key, value in PRESETS["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.encoders = [e for e in args.encoders.split(",") if e]
    args.critics = [c for c in args.critics.split(",") if c]
    unknown = sorted(set(args.encoders) - set(ENCODERS)) + sorted(set(args.critics) - set(CRITICS))
    if unknown:
        parser.error(f"unknown encoders / critics {unknown}; choose from {list(ENCODERS)} and {list(CRITICS)}")
    if args.batch_size < 2 or args.seconds <= 0 or args.repeats < 1:
        parser.error("--batch-size must be >= 2, --seconds > 0 and --repeats >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        encoder, critic = args.worker.split(",")
        benchmarking.print_result(time_pair(encoder, critic, args.batch_size, args.seconds, args.repeats))
        return
    start = time.perf_counter()
    report = {"machine": benchmarking.machine_info(),
              "settings": {k: v for k, v in vars(args).items() if k != "worker"},
              "steps_per_run": STEPS_PER_RUN, "seeds": SEEDS, "results": []}
    pairs = [(e, c) for e in args.encoders for c in args.critics]
    for index, (encoder, critic) in enumerate(pairs):
        record = run_child(encoder, critic, args)
        report["results"].append(record)
        write_json(report, args.out)
        if "error" in record:
            message = f"FAILED: {record['error']}"
        else:
            message = (f"{record['steps_per_sec']:.1f} steps/s (CPU share {record['cpu_share']:.2f}), "
                       f"peak RSS {record['peak_rss_mib']:.0f} MiB, {record['process_seconds']:.0f} s")
        elapsed = time.perf_counter() - start
        eta = elapsed / (index + 1) * (len(pairs) - index - 1)
        progress(f"[{index + 1}/{len(pairs)}] {encoder:12s} x {critic:9s} {message} | ETA {eta / 60:.1f} min")
    rows, total = paper_summary(report["results"])
    report.update(paper_runs=rows, paper_total_hours=total, total_seconds=time.perf_counter() - start,
                  load_average_1m_at_end=benchmarking.load_average())
    write_json(report, args.out)
    device = next((r["device"] for r in report["results"] if "device" in r), "?")
    machine = report["machine"]
    print(f"# Tschannen et al. (2020): training step per encoder / critic pair\n\n"
          f"{device}; {machine['cpu_model']}, {machine['cpus_usable']} usable cores; batch {args.batch_size}, "
          f"I_NCE, Adam; {'quick' if args.quick else 'full'} timing ({args.repeats} calls of ~{args.seconds:g} s, "
          f"best kept).\n")
    print(speed_table(report["results"]) + "\n")
    print("Estimated time of the full reproduction (20 seeds x 21,000 steps per config, one run at a "
          "time on this machine; evaluation, Jacobian logging, Fig. 1c and App. G not included):\n")
    print(summary_table(rows, total) + "\n")
    print(f"Wrote {args.out} ({report['total_seconds'] / 60:.1f} min).")


if __name__ == "__main__":
    main()
