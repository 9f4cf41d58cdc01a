r"""Benchmark of tfmi's MI bounds: accuracy on correlated Gaussians and training speed.

    PYTHONPATH=. python tools/bench_bounds.py             # full run, ~25 min on 2 idle CPU cores
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

Conditional bounds. The training step of ``configs/demi_synthetic.py`` for InfoNCE and
each DEMI method (demi, demi_is, demi_bo, demi_var) at the same total number of
candidates K (``--conditional-k``), timed the same way on one pre-sampled batch, and
its cost relative to InfoNCE's step.
"""

import argparse
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
from tfmi.config_utils import load_config
from tfmi.jsonio import write_json
from tfmi.critics import Separable
from tfmi.data import build_dataset, gaussians
from tfmi.models import Bound, build_model
from tfmi.models.demi import METHODS as DEMI_METHODS
from tfmi.optim import make_optimizer

CONFIGS = pathlib.Path(__file__).resolve().parents[1] / "configs"
STAIRCASE_CONFIG = CONFIGS / "gaussian_staircase.py"
DEMI_CONFIG = CONFIGS / "demi_synthetic.py"

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
    parser.add_argument("--conditional-k", type=_list_of(int),
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


def machine_info():
    """What the timings depend on: CPUs, load, library versions."""
    cpu_model = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo
                     if line.startswith("model name")]
        cpu_model = names[0] if names else cpu_model
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable_cpus(),
        "cpu_model": cpu_model,
        "load_average_1m_at_start": load_average(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def make_model(args, bound, batch, total_steps):
    """The staircase model for ``bound``, built on ``batch``, with its optimizer built."""
    config = load_config(f"{STAIRCASE_CONFIG}:bound={bound},critic={args.critic}")
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

    NWJ is evaluated at 1 + log ratio, where it is tight; every other bound at the log
    ratio itself (JS adds the 1 inside; TUBA and interpolated get the baseline a(x) = 1,
    which makes TUBA tight). What remains is the estimator's own bias and variance.
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


def run_task(args, bound, dim, mi, batches):
    """Trains one critic with ``bound`` on the task (dim, mi) and evaluates it on ``batches``."""
    rho = float(gaussians.rho_from_mi(mi, dim))
    model, config = make_model(args, bound, batches[0], args.train_steps)
    loop = make_train_loop(model, args.batch_size, dim, mi, args.seed)
    start = time.perf_counter()
    call_loop(loop, 0, 1)  # the first step traces the loop
    traced = time.perf_counter()
    call_loop(loop, 1, args.train_steps - 1)
    end = time.perf_counter()
    record = {
        "bound": bound,
        "dim": dim,
        "true_mi": mi,
        "rho": rho,
        "trace_seconds": traced - start,
        "train_steps_per_sec": (args.train_steps - 1) / max(end - traced, 1e-9),
        "trained": summarize(trained_estimates(model, batches), mi),
        "optimal": summarize(optimal_estimates(config.model.bound, batches, rho), mi),
    }
    keras.backend.clear_session()
    return record


def run_accuracy(args, report):
    """Every (d, MI, bound) task; appends to report["accuracy"] and saves after each."""
    tasks = [(dim, mi) for dim in args.dims for mi in args.mi_values]
    total, done, start = len(tasks) * len(args.bounds), 0, time.perf_counter()
    for dim, mi in tasks:
        batches = eval_batches(args.batch_size, dim, mi, args.seed, args.eval_batches)
        for bound in args.bounds:
            record = run_task(args, bound, dim, mi, batches)
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


def time_loop(loop, seconds, repeats):
    """Warms ``loop(start, n)`` up, sizes n so one call takes about ``seconds``, then
    times ``repeats`` calls. Returns n, the best call's steps/s, and every call's
    wall-clock and process CPU seconds."""
    call_loop(loop, 0, 1)
    steps, elapsed = 1, 0.0
    while elapsed < seconds / 4:
        steps *= 4
        elapsed = timed_call(loop, steps)["wall"]
    steps = max(1, round(steps * seconds / elapsed))
    calls = [timed_call(loop, steps) for _ in range(repeats)]
    best = min(calls, key=lambda call: call["wall"])
    return {
        "steps_per_call": steps,
        "calls": calls,
        "rate": steps / best["wall"],
        "rate_median": steps / float(np.median([call["wall"] for call in calls])),
        # CPU seconds per wall second over the usable cores: near 1 when this process
        # had the machine; lower when other work took the cores during the timing.
        "cpu_share": best["cpu"] / best["wall"] / usable_cpus(),
    }


def timed_call(loop, steps):
    """Wall-clock and process CPU seconds of one call of ``loop`` over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    call_loop(loop, 0, steps)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def load_average():
    """The 1-minute load average (runnable processes), None where the OS has none."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def usable_cpus():
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


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


def matmul_rate(args):
    """Float32 FLOP/s of a large tf.matmul on this machine (2 n^3 FLOPs per matmul)."""
    timing = time_loop(make_matmul_loop(args.matmul_size), args.speed_seconds, args.speed_repeats)
    return {**timing, "flops_per_sec": 2.0 * args.matmul_size**3 * timing["rate"]}


def _mlp_macs(sequential):
    """Multiply-adds per example of an MLP (a Sequential of Dense layers)."""
    return sum(int(np.prod(layer.kernel.shape)) for layer in sequential.layers)


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


def time_training(args, bound, batch_size):
    """Steps/s and FLOP counts of the staircase model's training step for one setting."""
    dim, mi = args.speed_dim, 4.0
    batch = sample_batch(batch_size, dim, mi, [2 * args.seed + EVAL_STREAM, 0])
    model, _ = make_model(args, bound, batch, total_steps=10**9)
    loop = make_train_loop(model, batch_size, dim, mi, args.seed)
    timing = time_loop(loop, args.speed_seconds, args.speed_repeats)
    record = {
        "bound": bound,
        "batch_size": batch_size,
        "dim": dim,
        "steps_per_sec": timing.pop("rate"),
        "steps_per_sec_median": timing.pop("rate_median"),
        **timing,
        "flops_per_step_analytic": analytic_step_flops(model, batch_size),
        "flops_per_step_tf_profiler": profiled_step_flops(model, batch),
    }
    keras.backend.clear_session()
    return record


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
            record = time_training(args, bound, batch_size)
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
    rate = matmul_rate(args)
    progress(
        f"matmul: {rate['flops_per_sec'] / 1e9:.1f} GFLOP/s (CPU share {rate['cpu_share']:.2f})"
    )
    return rate


def time_demi_training(args, method, k):
    """Steps/s of the DEMI synthetic model's training step (configs/demi_synthetic.py)
    for ``method`` with K total candidates, on one pre-sampled batch (data cost left out)."""
    config = load_config(f"{DEMI_CONFIG}:method={method},k={k}")
    keras.utils.set_random_seed(args.seed)
    batch = next(iter(build_dataset(config.data, config.batch_size, args.seed)))
    model = build_model(config.model)
    model.compile(optimizer=make_optimizer(config.optimizer, config.total_steps))
    model.build_from_batch(batch)
    model.optimizer.build(model.trainable_variables)

    @tf.function
    def loop(start, num_steps):
        for _ in tf.range(start, start + num_steps):
            model.train_step(batch)
        return model.optimizer.iterations

    timing = time_loop(loop, args.speed_seconds, args.speed_repeats)
    keras.backend.clear_session()
    return {
        "method": method,
        "k": k,
        "batch_size": config.batch_size,
        "steps_per_sec": timing.pop("rate"),
        "steps_per_sec_median": timing.pop("rate_median"),
        **timing,
    }


def run_conditional_speed(args, report):
    """Every DEMI method at each K, timed beside InfoNCE at the same K; fills
    report["conditional_speed"] with the cost of a step relative to InfoNCE's."""
    results = report["conditional_speed"] = []
    for k in args.conditional_k:
        for method in DEMI_METHODS:
            record = time_demi_training(args, method, k)
            results.append(record)
            write_json(report, args.out)
            progress(
                f"conditional {method:9s} K={k:<4d} {record['steps_per_sec']:7.1f} steps/s "
                f"(CPU share {record['cpu_share']:.2f})"
            )
    infonce = {r["k"]: r["steps_per_sec"] for r in results if r["method"] == "infonce"}
    for record in results:
        record["cost_vs_infonce"] = infonce[record["k"]] / record["steps_per_sec"]


def conditional_speed_table(report):
    """Steps/s and cost per step relative to InfoNCE per (method, K)."""
    rows = [
        [r["method"], str(r["k"]), str(r["batch_size"]), f"{r['steps_per_sec']:.1f}",
         f"{r['cost_vs_infonce']:.2f}", f"{r['cpu_share']:.2f}"]
        for r in report["conditional_speed"]
    ]
    note = (
        "K total candidates per positive: InfoNCE contrasts a batch of K; each DEMI method "
        "a batch of K/2 with K/2 - 1 negatives in each of its two terms (Sordoni et al. "
        "Sec. 5.1). Cost = InfoNCE's steps/s at the same K / the method's. Every step also "
        "evaluates all the total-MI estimates the trainer logs."
    )
    header = ["method", "K", "batch", "steps/s", "cost vs InfoNCE", "CPU share"]
    return markdown_table(header, rows) + "\n\n" + note


def fmt(value, signed=False):
    """A short number for a table cell: 2 decimals, or 2 significant digits when huge."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if not math.isfinite(value) or abs(value) >= 1e5:
        return f"{value:{sign}.2g}"
    return f"{value:{sign}.{0 if abs(value) >= 100 else 2}f}"


def markdown_table(header, rows):
    """A markdown table from a header list and rows of cell strings."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def accuracy_tables(report, args):
    """Per d: bias / std of the trained and of the optimal critic, then MSE per cell."""
    cells = {(rec["bound"], rec["dim"], rec["true_mi"]): rec for rec in report["accuracy"]}
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
    row = [_mse_pair(rec["trained"]["mse"], rec["optimal"]["mse"]) if rec else "-" for rec in records]
    done = [rec for rec in records if rec]
    if not done:
        return row + ["-"]
    means = [float(np.mean([rec[critic]["mse"] for rec in done])) for critic in ("trained", "optimal")]
    return row + [_mse_pair(*means)]


def _mse_pair(trained, optimal):
    return f"{fmt(trained)} ({fmt(optimal)})"


def speed_table(report):
    """Steps/s and achieved FLOP/s per (bound, batch size), relative to the matmul peak."""
    speed = report["speed"]
    header = ["bound", "batch", "steps/s", "CPU share", "MFLOP/step (analytic)",
              "MFLOP/step (TF count)", "GFLOP/s", "% of matmul peak"]
    rows = []
    for record in speed["results"]:
        analytic = record["flops_per_step_analytic"]
        rows.append([
            record["bound"],
            str(record["batch_size"]),
            f"{record['steps_per_sec']:.1f}",
            f"{record['cpu_share']:.2f}",
            fmt(analytic / 1e6) if analytic else "-",
            fmt(record["flops_per_step_tf_profiler"] / 1e6),
            fmt(record["flops_per_sec_analytic"] / 1e9) if analytic else "-",
            f"{100 * record['fraction_of_matmul_peak']:.1f}" if analytic else "-",
        ])
    before, after, size = speed["matmul_before"], speed["matmul_after"], speed["matmul_size"]
    note = (
        f"Peak: float32 tf.matmul of {size}x{size} matrices, "
        f"{before['flops_per_sec'] / 1e9:.1f} GFLOP/s before and "
        f"{after['flops_per_sec'] / 1e9:.1f} after the timings; the higher is the peak. "
        "FLOPs per step = 3 x forward matmul FLOPs (MLP towers + B^2 e score matmul + "
        "baseline MLP); steps/s is the best of the timed calls of a multi-step "
        "tf.function; CPU share = process CPU time / wall time / usable cores of that "
        "call (below 1: other work shared the cores)."
    )
    return markdown_table(header, rows) + "\n\n" + note


def machine_table(machine):
    """The machine and library versions as a two-column table."""
    return markdown_table(["", ""], [[key, str(value)] for key, value in machine.items()])


def progress(message):
    """A progress line on stderr, so stdout keeps only the tables."""
    print(message, file=sys.stderr, flush=True)


def format_seconds(seconds):
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m{seconds:02d}s"


def main(argv=None):
    args = parse_args(argv)
    tf.get_logger().setLevel("ERROR")  # one tf.function per model: retracing warnings are expected
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
        run_accuracy(args, report)
        print("## Accuracy: correlated Gaussians\n\n" + accuracy_tables(report, args) + "\n")
    if not args.skip_speed:
        run_speed(args, report)
        print("## Speed: staircase model training step\n\n" + speed_table(report) + "\n")
    if not args.skip_conditional:
        run_conditional_speed(args, report)
        print("## Speed: DEMI conditional bounds\n\n" + conditional_speed_table(report) + "\n")
    report["total_seconds"] = time.perf_counter() - start
    write_json(report, args.out)
    print(f"Wrote {args.out} ({format_seconds(report['total_seconds'])}).")


if __name__ == "__main__":
    main()
