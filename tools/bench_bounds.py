r"""Benchmark of tfmi's MI bounds: accuracy on correlated Gaussians and training speed.

    PYTHONPATH=. python tools/bench_bounds.py             # full run, ~25 min on 2 CPU cores
    PYTHONPATH=. python tools/bench_bounds.py --quick     # ~2-3 min, fewer tasks and steps

Prints markdown tables on stdout (progress goes to stderr) and writes every number,
the raw per-batch estimates included, to ``--out`` (JSON; rewritten after each task,
so an interrupted run keeps what it finished).

Accuracy. For each bound, dimension d and true MI I (nats), the model of
``configs/gaussian_staircase.py`` (by default the separable critic, hidden (256, 256),
embed 32; the config's bound settings: SMILE clip 5, interpolated alpha 0.5 with an MLP
baseline, MINE momentum 0.9) is trained by ``InfoMaxModel`` with the config's Adam 5e-4
for ``--train-steps`` steps, each on a fresh batch of the task of ``tfmi.data.gaussians``
(x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) eps). The trained critic then scores
``--eval-batches`` fresh batches, and the bound is computed on each:

    bias = mean estimate - I,   std / variance across eval batches,   MSE = mean (estimate - I)^2.

The same eval batches scored with the optimal critic log p(y|x) / p(y) of
``gaussians.log_density_ratio`` (+1 for NWJ, which is tight at 1 + log ratio; TUBA and
interpolated with baseline a(x) = 1) give the estimator's own bias and variance, which
separates it from the error of fitting the critic. InfoNCE cannot exceed log B.

Speed. Training steps per second of the same model per bound and batch size on fresh
in-graph batches of d = ``--speed-dim``, timed with ``time.perf_counter`` over calls of a
tf.function that runs many steps, after a warm-up call and a calibration that sizes a
call to ``--speed-seconds``; the best of ``--speed-repeats`` calls is reported. Achieved
FLOP/s are compared with the peak FLOP/s of a float32 ``tf.matmul`` of ``--matmul-size``
squared matrices measured in the same run. FLOPs per step are counted analytically,
matmuls only (bias adds, activations and the bounds' elementwise work are left out):

    forward = 2 * (B * (macs(phi_x) + macs(phi_y) + macs(baseline)) + B^2 * e)
    step    = 3 * forward      (the backward pass costs about twice the forward)

with macs(mlp) = sum over its Dense layers of n_in * n_out, e the embedding width and
the baseline MLP present for TUBA and interpolated only. TensorFlow's own count of one
step's graph (``tf.compat.v1.profiler``, all ops with registered FLOP statistics) is
reported beside it as a check.
"""

import argparse
import importlib.util
import json
import math
import os
import pathlib
import platform
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from tfmi.bounds import UNCONDITIONAL_BOUNDS
from tfmi.critics import Separable
from tfmi.data import gaussians
from tfmi.models import Bound, build_model
from tfmi.optim import make_optimizer

STAIRCASE_CONFIG = pathlib.Path(__file__).resolve().parents[1] / "configs" / "gaussian_staircase.py"

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
    },
}

# Seed streams: batch t of a stream is drawn with the stateless seed (2 * seed + stream, t).
TRAIN_STREAM, EVAL_STREAM = 0, 1


def _list_of(kind):
    """An argparse type for comma-separated lists of ``kind``."""
    return lambda text: [kind(item) for item in text.split(",") if item.strip()]


def parse_args(argv=None):
    """Command-line flags, with the unset ones filled from the full or quick preset."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="few tasks and steps (~2-3 min)")
    parser.add_argument("--out", default="bench_bounds.json", help="JSON file of all results")
    parser.add_argument("--critic", default="separable", help="critic of the staircase config")
    parser.add_argument("--bounds", type=_list_of(str), help="comma-separated bound names")
    parser.add_argument("--dims", type=_list_of(int), help="task dimensions d, e.g. 5,20")
    parser.add_argument("--mi-values", type=_list_of(float), help="true MI values in nats")
    parser.add_argument("--batch-size", type=int, default=128, help="accuracy batch size")
    parser.add_argument("--train-steps", type=int, help="training steps per task")
    parser.add_argument("--eval-batches", type=int, help="fresh batches per evaluation")
    parser.add_argument("--learning-rate", type=float, help="default: the config's")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-bounds", type=_list_of(str), help="bounds to time")
    parser.add_argument("--speed-batch-sizes", type=_list_of(int), help="e.g. 128,1024")
    parser.add_argument("--speed-dim", type=int, default=20, help="d of the timed task")
    parser.add_argument("--speed-seconds", type=float, help="target length of a timed call")
    parser.add_argument("--speed-repeats", type=int, help="timed calls; the best is kept")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the peak n x n matmul")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args(argv)
    for key, value in PRESETS["quick" if args.quick else "full"].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    unknown = sorted(set(args.bounds + args.speed_bounds) - set(UNCONDITIONAL_BOUNDS))
    if unknown:
        parser.error(f"unknown bounds {unknown}; choose from {list(UNCONDITIONAL_BOUNDS)}")
    if args.batch_size < 2 or min(args.speed_batch_sizes) < 2:
        parser.error("batch sizes must be >= 2 (the bounds contrast pairs within a batch)")
    return args


def machine_info():
    """What the timings depend on: CPUs, load, library versions."""
    cpu_model = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
        cpu_model = names[0] if names else cpu_model
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "load_average_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load_staircase_config():
    """The module of configs/gaussian_staircase.py (configs are files, not a package)."""
    spec = importlib.util.spec_from_file_location("gaussian_staircase", STAIRCASE_CONFIG)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_model(config_module, args, bound, batch, total_steps):
    """The staircase model for ``bound``, built on ``batch``, with its optimizer built."""
    config = config_module.get_config(f"bound={bound},critic={args.critic}")
    if args.learning_rate is not None:
        config.optimizer.learning_rate = args.learning_rate
    keras.utils.set_random_seed(args.seed)
    model = build_model(config.model)
    model.compile(optimizer=make_optimizer(config.optimizer, total_steps))
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)
    return model, config


def sample_batch(batch_size, dim, mi, seed_pair):
    """One batch {"x", "y"} of the correlated-Gaussian task with I(x; y) = ``mi`` nats."""
    x, y = gaussians.sample_correlated_gaussian(batch_size, dim, mi, seed=seed_pair)
    return {"x": x, "y": y}


def make_train_loop(model, batch_size, dim, mi, seed):
    """``loop(start, num_steps)``: a tf.function of ``num_steps`` training steps, step t
    on a fresh batch drawn with seed (2 * seed + TRAIN_STREAM, t)."""
    stream = tf.constant(2 * seed + TRAIN_STREAM, tf.int64)

    @tf.function
    def train_loop(start, num_steps):
        for step in tf.range(start, start + num_steps):
            model.train_step(sample_batch(batch_size, dim, mi, tf.stack([stream, step])))
        return model.optimizer.iterations

    return train_loop


def call_loop(loop, start, num_steps):
    """Runs ``loop`` and waits for its result."""
    return loop(tf.constant(start, tf.int64), tf.constant(num_steps, tf.int64)).numpy()


def eval_batches(batch_size, dim, mi, seed, count):
    """The ``count`` held-out batches of a task, shared by every bound for a fair comparison."""
    stream = 2 * seed + EVAL_STREAM
    return [sample_batch(batch_size, dim, mi, [stream, index]) for index in range(count)]


def trained_estimates(model, batches):
    """The model's bound on each batch, with its trained critic (and baseline): [n]."""
    estimate = tf.function(lambda batch: model.forward(batch, training=False)["mi"])
    return np.array([float(estimate(batch)) for batch in batches])


def optimal_estimates(bound_config, batches, rho):
    """The bound on each batch with the optimal critic f* = log p(y|x) / p(y): [n].

    NWJ is tight at 1 + log ratio, every other bound here at the log ratio itself (JS adds
    the 1 inside; TUBA and interpolated use the baseline a(x) = 1).
    """
    settings = dict(bound_config)
    name = settings.pop("name")
    bound = Bound(name, **{**settings, "baseline": "none"})
    shift = 1.0 if name == "nwj" else 0.0
    values = []
    for batch in batches:
        scores = gaussians.log_density_ratio(batch["x"], batch["y"], rho) + shift
        values.append(float(bound(scores, batch["x"])))
    return np.array(values)


def summarize(estimates, true_mi):
    """Bias, spread and MSE of per-batch estimates of ``true_mi``."""
    estimates = np.asarray(estimates, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        mean = float(np.mean(estimates))
        variance = float(np.var(estimates, ddof=1)) if len(estimates) > 1 else 0.0
        mse = float(np.mean((estimates - true_mi) ** 2))
    return {
        "mean": mean,
        "bias": mean - true_mi,
        "std": math.sqrt(variance) if variance >= 0 else float("nan"),
        "variance": variance,
        "mse": mse,
        "estimates": estimates.tolist(),
    }


def run_task(config_module, args, bound, dim, mi, batches):
    """Trains one critic with ``bound`` on the task (dim, mi) and evaluates it on ``batches``."""
    rho = float(gaussians.rho_from_mi(mi, dim))
    model, config = make_model(config_module, args, bound, batches[0], args.train_steps)
    loop = make_train_loop(model, args.batch_size, dim, mi, args.seed)
    start = time.perf_counter()
    call_loop(loop, 0, args.train_steps)
    train_seconds = time.perf_counter() - start
    record = {
        "bound": bound,
        "dim": dim,
        "true_mi": mi,
        "rho": rho,
        "train_seconds_with_tracing": train_seconds,
        "trained": summarize(trained_estimates(model, batches), mi),
        "optimal": summarize(optimal_estimates(config.model.bound, batches, rho), mi),
    }
    keras.backend.clear_session()
    return record


def run_accuracy(config_module, args, report):
    """Every (d, MI, bound) task; appends to report["accuracy"] and saves after each."""
    tasks = [(dim, mi) for dim in args.dims for mi in args.mi_values]
    total, done, start = len(tasks) * len(args.bounds), 0, time.perf_counter()
    for dim, mi in tasks:
        batches = eval_batches(args.batch_size, dim, mi, args.seed, args.eval_batches)
        for bound in args.bounds:
            record = run_task(config_module, args, bound, dim, mi, batches)
            report["accuracy"].append(record)
            save_json(report, args.out)
            done += 1
            elapsed = time.perf_counter() - start
            trained, optimal = record["trained"], record["optimal"]
            progress(
                f"[{done}/{total}] {bound:12s} d={dim:<3d} I={mi:<5g} "
                f"trained {trained['mean']:8.3f} +- {trained['std']:.3f} | "
                f"optimal {optimal['mean']:8.3f} +- {optimal['std']:.3f} | "
                f"{args.train_steps / record['train_seconds_with_tracing']:.0f} steps/s | "
                f"ETA {format_seconds(elapsed / done * (total - done))}"
            )


def time_loop(loop, seconds, repeats):
    """Warms ``loop(start, n)`` up, sizes n so one call takes about ``seconds``, then
    times ``repeats`` calls: returns (n, [seconds per call])."""
    call_loop(loop, 0, 1)
    steps, elapsed = 1, 0.0
    while elapsed < seconds / 4:
        steps *= 4
        elapsed = timed_call(loop, steps)
    steps = max(1, round(steps * seconds / elapsed))
    return steps, [timed_call(loop, steps) for _ in range(repeats)]


def timed_call(loop, steps):
    """Wall-clock seconds of one call of ``loop`` over ``steps`` steps."""
    start = time.perf_counter()
    call_loop(loop, 0, steps)
    return time.perf_counter() - start


def make_matmul_loop(size):
    """``loop(start, n)``: n chained float32 [size, size] matmuls in one tf.function.

    The right factor is orthogonal, so the running product keeps its scale (no
    overflow, no denormals to slow the arithmetic down).
    """
    left = tf.random.stateless_normal([size, size], seed=[0, 0])
    right, _ = tf.linalg.qr(tf.random.stateless_normal([size, size], seed=[0, 1]))

    @tf.function
    def matmul_loop(start, num_steps):
        product = left
        for _ in tf.range(start, start + num_steps):
            product = tf.matmul(product, right)
        return product[0, 0]

    return matmul_loop


def matmul_peak(args):
    """Float32 FLOP/s of a large tf.matmul on this machine (2 n^3 FLOPs per matmul)."""
    steps, times = time_loop(make_matmul_loop(args.matmul_size), args.speed_seconds, args.speed_repeats)
    flops = 2.0 * args.matmul_size**3
    return {
        "size": args.matmul_size,
        "matmuls_per_call": steps,
        "call_seconds": times,
        "flops_per_sec": flops * steps / min(times),
    }


def _mlp_macs(sequential):
    """Multiply-adds per example of an MLP (a Sequential of Dense layers)."""
    return sum(int(layer.kernel.shape[0]) * int(layer.kernel.shape[1]) for layer in sequential.layers)


def analytic_step_flops(model, batch_size):
    """Matmul FLOPs of one training step, by the formula of the module docstring.

    Counted for the separable critic only; None for other critics.
    """
    critic = model.critic
    if not isinstance(critic, Separable):
        return None
    macs = batch_size * (_mlp_macs(critic.phi_x) + _mlp_macs(critic.phi_y))
    macs += batch_size**2 * critic.embed_dim
    if model.bound.uses_baseline and model.bound.baseline == "mlp":
        macs += batch_size * _mlp_macs(model.bound.baseline_net)
    return 3 * 2 * macs


def profiled_step_flops(model, batch):
    """TensorFlow's FLOP count of one training step's graph (tf.compat.v1.profiler)."""
    graph = tf.function(model.train_step).get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def time_training(config_module, args, bound, batch_size):
    """Steps/s and FLOP counts of the staircase model's training step for one setting."""
    dim, mi = args.speed_dim, 4.0
    batch = sample_batch(batch_size, dim, mi, [2 * args.seed + EVAL_STREAM, 0])
    model, _ = make_model(config_module, args, bound, batch, total_steps=10**9)
    steps, times = time_loop(
        make_train_loop(model, batch_size, dim, mi, args.seed), args.speed_seconds, args.speed_repeats
    )
    record = {
        "bound": bound,
        "batch_size": batch_size,
        "dim": dim,
        "steps_per_call": steps,
        "call_seconds": times,
        "steps_per_sec": steps / min(times),
        "steps_per_sec_median": steps / float(np.median(times)),
        "flops_per_step_analytic": analytic_step_flops(model, batch_size),
        "flops_per_step_tf_profiler": profiled_step_flops(model, batch),
    }
    keras.backend.clear_session()
    return record


def run_speed(config_module, args, report):
    """Matmul peak, then every (bound, batch size) timing; fills report["speed"]."""
    progress(f"timing the peak: {args.matmul_size}x{args.matmul_size} float32 matmul ...")
    peak = matmul_peak(args)
    progress(f"peak matmul: {peak['flops_per_sec'] / 1e9:.1f} GFLOP/s")
    report["speed"] = {"matmul_peak": peak, "results": []}
    for bound in args.speed_bounds:
        for batch_size in args.speed_batch_sizes:
            record = time_training(config_module, args, bound, batch_size)
            if record["flops_per_step_analytic"] is not None:
                achieved = record["flops_per_step_analytic"] * record["steps_per_sec"]
                record["flops_per_sec_analytic"] = achieved
                record["fraction_of_matmul_peak"] = achieved / peak["flops_per_sec"]
            report["speed"]["results"].append(record)
            save_json(report, args.out)
            progress(f"speed {bound:12s} B={batch_size:<5d} {record['steps_per_sec']:.1f} steps/s")


def fmt(value, signed=False):
    """A short number for a table cell: 2 decimals, or 2 significant digits when huge."""
    if value is None:
        return "-"
    if not math.isfinite(value) or abs(value) >= 1000:
        return f"{value:+.2g}" if signed else f"{value:.2g}"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def markdown_table(header, rows):
    """A markdown table from a header list and rows of cell strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_tables(report, args):
    """Per d: bias / std of the trained and of the optimal critic, then MSE per cell."""
    cells = {(r["bound"], r["dim"], r["true_mi"]): r for r in report["accuracy"]}
    header = ["bound"] + [f"I={mi:g}" for mi in args.mi_values]
    sections = []
    for dim in args.dims:
        for critic in ("trained", "optimal"):
            rows = [
                [bound] + [_bias_std(cells.get((bound, dim, mi)), critic) for mi in args.mi_values]
                for bound in args.bounds
            ]
            title = f"### d = {dim}, {critic} critic: bias / std (nats), batch {args.batch_size}"
            sections.append(title + "\n\n" + markdown_table(header, rows))
        rows = [[bound] + _mse_cells(cells, bound, dim, args.mi_values) for bound in args.bounds]
        title = f"### d = {dim}: MSE (nats^2), trained critic (optimal critic)"
        sections.append(title + "\n\n" + markdown_table(header + ["mean over I"], rows))
    limit = f"InfoNCE cannot exceed log {args.batch_size} = {math.log(args.batch_size):.2f} nats."
    steps = f"{args.train_steps} training steps, {args.eval_batches} eval batches per cell."
    return "\n\n".join(sections) + f"\n\n{limit} {steps}"


def _bias_std(record, critic):
    if record is None:
        return "-"
    summary = record[critic]
    return f"{fmt(summary['bias'], signed=True)} / {fmt(summary['std'])}"


def _mse_cells(cells, bound, dim, mi_values):
    """MSE cells 'trained (optimal)' per MI value, then their means over MI."""
    records = [cells.get((bound, dim, mi)) for mi in mi_values]
    row = [f"{fmt(r['trained']['mse'])} ({fmt(r['optimal']['mse'])})" if r else "-" for r in records]
    done = [r for r in records if r]
    if done:
        means = [float(np.mean([r[critic]["mse"] for r in done])) for critic in ("trained", "optimal")]
        row.append(f"{fmt(means[0])} ({fmt(means[1])})")
    else:
        row.append("-")
    return row


def speed_table(report):
    """Steps/s and achieved FLOP/s per (bound, batch size), relative to the matmul peak."""
    peak = report["speed"]["matmul_peak"]
    header = ["bound", "batch", "steps/s", "MFLOP/step (analytic)", "MFLOP/step (TF count)",
              "GFLOP/s", "% of matmul peak"]
    rows = []
    for r in report["speed"]["results"]:
        analytic = r["flops_per_step_analytic"]
        rows.append([
            r["bound"],
            str(r["batch_size"]),
            f"{r['steps_per_sec']:.1f}",
            fmt(analytic / 1e6) if analytic else "-",
            fmt(r["flops_per_step_tf_profiler"] / 1e6),
            fmt(r["flops_per_sec_analytic"] / 1e9) if analytic else "-",
            f"{100 * r['fraction_of_matmul_peak']:.1f}" if analytic else "-",
        ])
    note = (
        f"Peak: {peak['size']}x{peak['size']} float32 tf.matmul at "
        f"{peak['flops_per_sec'] / 1e9:.1f} GFLOP/s. FLOPs per step = 3 x forward matmul "
        "FLOPs (MLP towers + B^2 e score matmul + baseline MLP); steps/s is the best of "
        "the timed calls of a multi-step tf.function."
    )
    return markdown_table(header, rows) + "\n\n" + note


def machine_table(machine):
    """The machine and library versions as a two-column table."""
    return markdown_table(["", ""], [[key, str(value)] for key, value in machine.items()])


def json_safe(value):
    """``value`` with non-finite floats as None, so the JSON file is standard JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def save_json(report, path):
    """Writes ``report`` to ``path`` atomically (a reader never sees half a file)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(json_safe(report), handle, indent=1, allow_nan=False)
    os.replace(temporary, path)


def progress(message):
    """A progress line on stderr, so stdout keeps only the tables."""
    print(message, file=sys.stderr, flush=True)


def format_seconds(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one tf.function per model: retracing warnings are expected
    config_module = load_staircase_config()
    start = time.perf_counter()
    report = {
        "machine": machine_info(),
        "settings": vars(args),
        "flops_formula": (
            "step = 3 * 2 * (B * (macs(phi_x) + macs(phi_y) + macs(baseline)) + B^2 * embed_dim); "
            "macs(mlp) = sum of n_in * n_out over its Dense layers; matmuls only"
        ),
        "accuracy": [],
    }
    print("# tfmi bound benchmark\n\n" + machine_table(report["machine"]) + "\n")
    if not args.skip_accuracy:
        run_accuracy(config_module, args, report)
        print("## Accuracy: correlated Gaussians\n\n" + accuracy_tables(report, args) + "\n")
    if not args.skip_speed:
        run_speed(config_module, args, report)
        print("## Speed: staircase model training step\n\n" + speed_table(report) + "\n")
    report["total_seconds"] = time.perf_counter() - start
    save_json(report, args.out)
    print(f"Wrote {args.out} ({format_seconds(report['total_seconds'])}).")


if __name__ == "__main__":
    main()
