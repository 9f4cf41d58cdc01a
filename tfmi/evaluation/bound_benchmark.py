r"""Benchmark of tfmi's MI bounds: accuracy on correlated Gaussians and training speed
(the measurements and tables of tools/bench_bounds.py).

Accuracy. For each bound, dimension d and true MI I (nats), the model of
``configs/gaussian_staircase.py`` (by default the separable critic, hidden (256, 256),
embed 32; the config's bound settings: SMILE clip 5, interpolated alpha 0.5 with an MLP
baseline, MINE momentum 0.9) is trained by ``InfoMaxModel`` with the config's Adam 5e-4
for ``train_steps`` steps, each on a fresh batch of the task of ``tfmi.data.gaussians``
(x ~ N(0, I_d), y = rho x + sqrt(1 - rho^2) eps). The trained critic then scores
``eval_batches`` fresh batches, and the bound is computed on each:

    bias = mean estimate - I,   std / variance across eval batches,   MSE = mean (estimate - I)^2.

The same eval batches scored with the optimal critic log p(y|x) / p(y) of
``gaussians.log_density_ratio`` (+1 for NWJ, which is tight at 1 + log ratio; TUBA and
interpolated with baseline a(x) = 1) give the estimator's own bias and variance, which
separates it from the error of fitting the critic. InfoNCE cannot exceed log B.

Speed. Training steps per second of the same model per bound and batch size on fresh
in-graph batches of d = ``dim``, timed over calls of a tf.function that runs many
steps (``tfmi.evaluation.benchmarking.time_steps``: a warm-up call, a calibration that
sizes a call to ``seconds``, the best of ``repeats`` calls). Achieved
FLOP/s are compared with the peak FLOP/s of a float32 ``tf.matmul`` of ``size``
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
candidates K, timed the same way on one pre-sampled batch, and its cost relative to
InfoNCE's step.
"""

import math
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from tfmi.config_utils import load_config
from tfmi.critics import Separable
from tfmi.data import gaussians
from tfmi.evaluation.benchmarking import markdown_table, time_steps
from tfmi.models import Bound
from tfmi.models.bound import Baseline
from tfmi.models.run import build_run

CONFIGS = pathlib.Path(__file__).resolve().parents[2] / "configs"
STAIRCASE_CONFIG = CONFIGS / "gaussian_staircase.py"
DEMI_CONFIG = CONFIGS / "demi_synthetic.py"

# Seed streams: batch t of a stream is drawn with the stateless seed (2 * seed + stream, t).
TRAIN_STREAM, EVAL_STREAM = 0, 1
# True MI of the timed task (the speed does not depend on it).
SPEED_MI = 4.0


# --- accuracy -------------------------------------------------------------------------


def make_model(bound, batch, total_steps, critic="separable", learning_rate=None, seed=0):
    """The model of configs/gaussian_staircase.py for ``bound`` and ``critic`` (the
    config's learning rate unless ``learning_rate``), set up by ``build_run`` with
    ``seed`` for batches of the shape of ``batch``, its optimizer built.
    Returns (model, config)."""
    config = load_config(f"{STAIRCASE_CONFIG}:bound={bound},critic={critic}")
    config.batch_size, config.data.dim = (int(size) for size in batch["x"].shape)
    config.seed, config.total_steps = seed, total_steps
    if learning_rate is not None:
        config.optimizer.learning_rate = learning_rate
    return build_run(config).model, config


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
    if "baseline" in settings:
        settings["baseline"] = "none"
    bound = Bound(name, **settings)
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


def run_task(bound, dim, mi, batches, train_steps, critic="separable", learning_rate=None, seed=0):
    """Trains one critic with ``bound`` for ``train_steps`` steps on the task (dim, mi),
    each on a fresh batch of the size of ``batches[0]``, and evaluates it on ``batches``:
    the record of one accuracy cell (trained and optimal critic)."""
    batch_size = int(batches[0]["x"].shape[0])
    rho = float(gaussians.rho_from_mi(mi, dim))
    model, config = make_model(bound, batches[0], train_steps, critic, learning_rate, seed)
    loop = make_train_loop(model, batch_size, dim, mi, seed)
    start = time.perf_counter()
    call_loop(loop, 0, 1)  # the first step traces the loop
    traced = time.perf_counter()
    call_loop(loop, 1, train_steps - 1)
    end = time.perf_counter()
    record = {
        "bound": bound,
        "dim": dim,
        "true_mi": mi,
        "rho": rho,
        "trace_seconds": traced - start,
        "train_steps_per_sec": (train_steps - 1) / max(end - traced, 1e-9),
        "trained": summarize(trained_estimates(model, batches), mi),
        "optimal": summarize(optimal_estimates(config.model.bound, batches, rho), mi),
    }
    keras.backend.clear_session()
    return record


# --- speed ----------------------------------------------------------------------------


def time_loop(loop, seconds, repeats):
    """``benchmarking.time_steps`` of ``loop(start, n)``, a tf.function of n steps."""
    return time_steps(lambda steps: call_loop(loop, 0, steps), seconds, repeats)


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


def matmul_rate(size, seconds, repeats):
    """Float32 FLOP/s of a large tf.matmul on this machine (2 n^3 FLOPs per matmul)."""
    timing = time_loop(make_matmul_loop(size), seconds, repeats)
    return {**timing, "flops_per_sec": 2.0 * size**3 * timing["rate"]}


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
    state = model.bound.state
    if isinstance(state, Baseline) and state.baseline == "mlp":
        macs += batch_size * _mlp_macs(state.baseline_net)
    return 3 * 2 * macs


def profiled_step_flops(model, batch):
    """TensorFlow's FLOP count of one training step's graph (tf.compat.v1.profiler)."""
    graph = tf.function(model.train_step).get_concrete_function(batch).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops)


def time_training(bound, batch_size, dim, seconds, repeats, critic="separable", learning_rate=None, seed=0):
    """Steps/s and FLOP counts of the staircase model's training step for one setting,
    each step on a fresh in-graph batch of the task (dim, ``SPEED_MI``)."""
    mi = SPEED_MI
    batch = sample_batch(batch_size, dim, mi, [2 * seed + EVAL_STREAM, 0])
    model, _ = make_model(bound, batch, 10**9, critic, learning_rate, seed)
    loop = make_train_loop(model, batch_size, dim, mi, seed)
    timing = time_loop(loop, seconds, repeats)
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


def time_demi_training(method, k, seconds, repeats, seed=0):
    """Steps/s of the DEMI synthetic model's training step (configs/demi_synthetic.py)
    for ``method`` with K total candidates, on one pre-sampled batch (data cost left out)."""
    config = load_config(f"{DEMI_CONFIG}:method={method},k={k}")
    config.seed = seed
    run = build_run(config)
    model, batch = run.model, run.first_batch

    @tf.function
    def loop(start, num_steps):
        for _ in tf.range(start, start + num_steps):
            model.train_step(batch)
        return model.optimizer.iterations

    timing = time_loop(loop, seconds, repeats)
    keras.backend.clear_session()
    return {
        "method": method,
        "k": k,
        "batch_size": config.batch_size,
        "steps_per_sec": timing.pop("rate"),
        "steps_per_sec_median": timing.pop("rate_median"),
        **timing,
    }


# --- tables -----------------------------------------------------------------------------


def fmt(value, signed=False):
    """A short number for a table cell: 2 decimals, or 2 significant digits when huge."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if not math.isfinite(value) or abs(value) >= 1e5:
        return f"{value:{sign}.2g}"
    return f"{value:{sign}.{0 if abs(value) >= 100 else 2}f}"


def accuracy_tables(records, bounds, dims, mi_values, batch_size, train_steps, eval_batches):
    """Per d: bias / std of the trained and of the optimal critic, then MSE per cell, of
    the ``run_task`` records."""
    cells = {(rec["bound"], rec["dim"], rec["true_mi"]): rec for rec in records}
    header = ["bound"] + [f"I={mi:g}" for mi in mi_values]
    sections = []
    for dim in dims:
        for critic in ("trained", "optimal"):
            rows = [
                [bound] + [_bias_std(cells.get((bound, dim, mi)), critic) for mi in mi_values]
                for bound in bounds
            ]
            title = f"### d = {dim}, {critic} critic: bias / std (nats), batch {batch_size}"
            sections.append(title + "\n\n" + markdown_table(header, rows))
        rows = [[bound] + _mse_cells(cells, bound, dim, mi_values) for bound in bounds]
        title = f"### d = {dim}: MSE (nats^2), trained critic (optimal critic)"
        sections.append(title + "\n\n" + markdown_table(header + ["mean over I"], rows))
    limit = f"InfoNCE cannot exceed log {batch_size} = {math.log(batch_size):.2f} nats."
    steps = f"{train_steps} training steps, {eval_batches} eval batches per cell."
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


def speed_table(speed):
    """Steps/s and achieved FLOP/s per (bound, batch size), relative to the matmul peak:
    ``speed`` holds "results" (``time_training`` records with "flops_per_sec_analytic"
    and "fraction_of_matmul_peak"), "matmul_before", "matmul_after" and "matmul_size"."""
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


def conditional_speed_table(records):
    """Steps/s and cost per step relative to InfoNCE per (method, K)."""
    rows = [
        [r["method"], str(r["k"]), str(r["batch_size"]), f"{r['steps_per_sec']:.1f}",
         f"{r['cost_vs_infonce']:.2f}", f"{r['cpu_share']:.2f}"]
        for r in records
    ]
    note = (
        "K total candidates per positive: InfoNCE contrasts a batch of K; each DEMI method "
        "a batch of K/2 with K/2 - 1 negatives in each of its two terms (Sordoni et al. "
        "Sec. 5.1). Cost = InfoNCE's steps/s at the same K / the method's. Every step also "
        "evaluates all the total-MI estimates the trainer logs."
    )
    header = ["method", "K", "batch", "steps/s", "cost vs InfoNCE", "CPU share"]
    return markdown_table(header, rows) + "\n\n" + note


def machine_table(machine):
    """The machine and library versions as a two-column table."""
    return markdown_table(["", ""], [[key, str(value)] for key, value in machine.items()])
