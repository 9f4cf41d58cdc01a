r"""Draws the figures of Tschannen et al. (2020) from trainer workdirs, with a results table.

    python tools/sweep.py --config configs/mnist_invertible.py --args nce nwj \
        --seeds 0 1 2 --root runs/fig1
    python tools/eval_checkpoints.py --workdir runs/fig1/*/seed_*
    python tools/plot_tschannen.py runs/fig1 --figure 1 --out fig1.png --table

Arguments are workdirs or roots searched for workdirs (ROOT/ARG/seed_N: any directory
holding a config.json); runs of experiments that the figure does not draw are skipped.
Runs with the same config but for the seed form one curve: the mean over seeds, with
the spread (``--spread minmax``: min to max, the default; ``std``: mean +- the sample
standard deviation, ddof = 1) shaded; x is the training iteration. The curves come
from WORKDIR/eval_curve.json (tools/eval_checkpoints.py: test accuracy of the linear
classifier, testing I_EST and loss) and WORKDIR/metrics.jsonl (the Jacobian
percentiles "jacobian/log_condition_pP" and the non-i.i.d. estimates).

Figures (the appendix figures that belong to a main figure are drawn with it):

    1       Fig. 1 (a, b): RealNVP g_1, g_2 (configs/mnist_invertible.py): test accuracy
            and testing I_EST per bound (critic); (c) with configs/mnist_adversarial.py
            runs: test accuracy against encoder iterations.
    2, 5    Fig. 2 (a, b) + 2c / 5: residual MLP with coupled noise
            (configs/mnist_noninvertible.py): accuracy, I_EST and the 0th, 20th, ...,
            100th percentiles of log condition numbers of g_1's Jacobian, pooled over
            runs as the paper does when eval_curve.json holds them (--jacobian_points),
            else the mean over runs of each run's logged percentiles.
    3, 6    Fig. 3 + 6: critic capacity (configs/mnist_critic_capacity.py): accuracy
            for I_NCE and I_NWJ, testing I_NWJ (Fig. 3) and I_NCE (Fig. 6) per critic.
    4, 7    Fig. 4 (a, b) + 7: encoder architecture at a target t
            (configs/mnist_encoder_arch.py): accuracy and testing loss L_t = |I_EST - t|.
    noniid  Fig. 4c: I_NCE / I_NWJ from i.i.d. and non-i.i.d. batches
            (configs/noniid_gaussian.py) against the true MI.
    8, 9    Fig. 8, 9: Figures 3 and 4 on CIFAR-10 (configs/cifar10_halves.py).

What the paper states is drawn beside ours: the pixel baselines (about 85% on MNIST,
84% with the coupled noise, 24% on CIFAR-10; dashed), our own pixel baseline of the
same evaluation (dotted, from eval_curve.json), log(batch size) = 4.85 for I_NCE,
about 94% for supervised MLP / ConvNet (Sec. 3.3), L_t = 0 after 7k iterations
(Fig. 7) and the true MI of App. E (0.0204 nats). The paper states no other numbers
for these curves: its claims are orderings, which ``--table`` checks.

Writes the PNG and, beside it, <stem>.json (the aggregated curves). ``--table``
prints a markdown table (one row per config: seeds, final step, final test accuracy,
train accuracy, I_EST, loss, our pixel baseline, what the paper states and whether
ours agrees), then the paper's comparative claims checked on our numbers, and writes
both to <stem>_table.json.
"""

import argparse
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfmi import workdir as workdir_lib  # noqa: E402
from tfmi.evaluation.checkpoints import read_eval_curve  # noqa: E402
from tfmi.jsonio import json_safe  # noqa: E402

# ---------------------------------------------------------------------------------------
# What the paper states (Tschannen et al. 2020)

PAPER = {
    "pixel_mnist": 0.85,  # Sec. 3 "Setup": linear classifier on x_top, "about 85%"
    "pixel_mnist_noisy": 0.84,  # Sec. 3.1: "drops to about 84% due to the added noise"
    "pixel_cifar10": 0.24,  # App. G: "about 24%"
    "supervised_mnist": 0.94,  # Sec. 3.3: MLP and ConvNet trained end to end, "about 94%"
    "target_reached_step": 7000,  # Sec. 3.3: L_t ~ 0 "after 7k iterations"
    "noniid_true_mi": -0.5 * math.log(1 - 0.4**2 / 2**2),  # App. E: 0.0204 nats
    "runs": 20,  # "averaged over 20 runs"
}

FIGURES = {
    "1": {"experiments": ("mnist_invertible", "mnist_adversarial"), "title": "Fig. 1: invertible encoders (RealNVP)"},
    "2": {"experiments": ("mnist_noninvertible",), "title": "Fig. 2, 5: residual MLP encoders, coupled noise"},
    "3": {"experiments": ("mnist_critic_capacity",), "title": "Fig. 3, 6: critic capacity (MLP encoders)"},
    "4": {"experiments": ("mnist_encoder_arch",), "title": "Fig. 4a, b, 7: encoder architecture at a target I_EST = t"},
    "noniid": {"experiments": ("noniid_gaussian",), "title": "Fig. 4c: InfoNCE / NWJ under non-i.i.d. sampling"},
    "8": {"experiments": ("cifar10_halves_critic",), "title": "Fig. 8: critic capacity on CIFAR-10"},
    "9": {"experiments": ("cifar10_halves_encoder",), "title": "Fig. 9: encoder architecture on CIFAR-10"},
}
ALIASES = {"5": "2", "6": "3", "7": "4", "4c": "noniid"}

BOUND_LABELS = {"infonce": "I_NCE", "nwj": "I_NWJ", "dv": "I_DV", "js": "I_JS", "kpair": "K-pair", "triplet": "triplet"}
CRITIC_LABELS = {"bilinear": "bilinear", "separable": "separable", "concat": "MLP (concat)", "inner_product": "inner product"}
ENCODER_LABELS = {"mlp": "MLP", "convnet": "ConvNet", "realnvp": "RealNVP", "residual_mlp": "residual MLP"}
PERCENTILES = (0, 20, 40, 60, 80, 100)


# ---------------------------------------------------------------------------------------
# Reading workdirs


def find_workdirs(paths):
    """Every trainer workdir at or below ``paths`` (sorted, no duplicates)."""
    try:
        return workdir_lib.find_workdirs(paths)
    except workdir_lib.WorkdirError as error:
        raise SystemExit(f"error: {error}") from None


def describe(config):
    """The fields of a config that tell the paper's settings apart (everything but the seed)."""
    model, data = config.get("model") or {}, config.get("data") or {}
    encoder = model.get("encoder_x") or model.get("encoder") or {}
    return {
        "experiment": config.get("experiment"),
        "dataset": data.get("name"),
        "bound": (model.get("bound") or {}).get("name"),
        "critic": (model.get("critic") or {}).get("name"),
        "encoder": encoder.get("name"),
        "target_mi": model.get("target_mi"),
        "noise_std": data.get("noise_std"),
        "iid": data.get("iid"),
        "batch_size": config.get("batch_size"),
        "learning_rate": (config.get("optimizer") or {}).get("learning_rate"),
    }


def load_run(workdir):
    """One workdir: its config, description, eval_curve records and metrics.jsonl records."""
    run = workdir_lib.Workdir(workdir)
    config = run.read_config()
    curve = read_eval_curve(run.eval_curve_path)
    return {
        "workdir": workdir,
        "config": config,
        "desc": describe(config),
        "seed": config.get("seed"),
        "records": (curve or {}).get("records", []),
        "pixel": ((curve or {}).get("pixel_baseline") or {}).get("accuracy"),
        "metrics": run.read_metrics(),
    }


def group_runs(runs):
    """Runs that differ only in the seed, grouped: a list of (description, [runs])."""
    groups = {}
    for run in runs:
        key = json.dumps(run["desc"], sort_keys=True)
        groups.setdefault(key, (run["desc"], []))[1].append(run)
    return [groups[key] for key in sorted(groups, key=lambda k: sort_key(groups[k][0]))]


def sort_key(desc):
    order = lambda table, value: list(table).index(value) if value in table else len(table)  # noqa: E731
    return (
        desc["experiment"] or "",
        order(BOUND_LABELS, desc["bound"]),
        order(CRITIC_LABELS, desc["critic"]),
        order(ENCODER_LABELS, desc["encoder"]),
        desc["target_mi"] or 0.0,
        bool(desc["iid"]),
    )


def label(desc, without=()):
    """A legend label for a config; ``without`` leaves out the fields a panel fixes."""
    experiment = desc["experiment"] or ""
    parts = []
    if experiment == "mnist_adversarial":
        return "adversarial (no MI estimator)"
    if "bound" not in without and desc["bound"]:
        parts.append(BOUND_LABELS.get(desc["bound"], desc["bound"]))
    if experiment.endswith("encoder_arch") or experiment.endswith("_encoder"):
        parts.append(ENCODER_LABELS.get(desc["encoder"], desc["encoder"]))
        if desc["target_mi"] is not None:
            parts.append(f"t={desc['target_mi']:g}")
    elif experiment.endswith("critic_capacity") or experiment.endswith("_critic"):
        parts.append(f"{CRITIC_LABELS.get(desc['critic'], desc['critic'])} critic")
    elif experiment == "mnist_invertible" and desc["critic"] != "bilinear":
        parts.append(f"{CRITIC_LABELS.get(desc['critic'], desc['critic'])} critic")
    elif experiment == "noniid_gaussian":
        parts.append("i.i.d." if desc["iid"] else "non-i.i.d.")
    return ", ".join(parts) or experiment


# ---------------------------------------------------------------------------------------
# Mean and spread over seeds


def aggregate(series, spread="minmax"):
    """Mean and spread over runs of curves {step: value}, step by step.

    ``series``: a list of dicts {step: value}, one per run. At each step that any run
    has, the runs that have it (non-finite values left out) give the mean, and the
    spread: their min and max (``minmax``) or mean -+ their sample standard deviation
    (``std``, ddof = 1; 0 for a single run). Returns {"steps", "mean", "low", "high",
    "n"} (lists).
    """
    if spread not in ("minmax", "std"):
        raise ValueError(f"spread must be minmax or std, got {spread!r}.")
    steps = sorted({step for run in series for step in run})
    out = {"steps": [], "mean": [], "low": [], "high": [], "n": []}
    for step in steps:
        values = np.array([run[step] for run in series if step in run and _finite(run[step])], dtype=np.float64)
        if not len(values):
            continue
        mean = float(values.mean())
        if spread == "minmax":
            low, high = float(values.min()), float(values.max())
        else:
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            low, high = mean - std, mean + std
        for key, value in zip(out, (step, mean, low, high, len(values))):
            out[key].append(value)
    return out


def _finite(value):
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def eval_series(runs, metric, x="step"):
    """One {x: value} per run from eval_curve records (``metric`` "mi_<name>": a bound of "bounds")."""
    series = []
    for run in runs:
        curve = {}
        for record in run["records"]:
            if metric.startswith("bound_"):
                value = (record.get("bounds") or {}).get(metric[len("bound_"):])
            else:
                value = record.get(metric)
            if value is not None and record.get(x) is not None:
                curve[record[x]] = value
        if curve:
            series.append(curve)
    return series


def metric_series(runs, name):
    """One {step: value} per run from metrics.jsonl (e.g. "train/mi")."""
    series = []
    for run in runs:
        curve = {record["step"]: record[name] for record in run["metrics"] if name in record}
        if curve:
            series.append(curve)
    return series


def pooled_percentiles(runs):
    """Percentiles 0, 20, ..., 100 of log condition numbers pooled over runs, per step.

    The paper's reading (Fig. 2c, 5): the condition numbers at 128 inputs of every run
    are aggregated, then the percentiles taken (the notebook's "lower" method). From
    eval_curve records with "log_condition" (None, i.e. a singular Jacobian, counts as
    +inf). Returns {"steps", "percentiles": {p: [...]}} or None when no run has them.
    """
    pooled = {}
    for run in runs:
        for record in run["records"]:
            values = record.get("log_condition")
            if values:
                pooled.setdefault(record["step"], []).extend(math.inf if v is None else v for v in values)
    if not pooled:
        return None
    steps = sorted(pooled)
    rows = [np.percentile(np.asarray(pooled[s], np.float64), PERCENTILES, method="lower") for s in steps]
    return {"steps": steps, "percentiles": {p: [float(row[i]) for row in rows] for i, p in enumerate(PERCENTILES)}}


def logged_percentiles(runs, spread):
    """The runs' logged percentiles "jacobian/log_condition_pP" aggregated over runs, per P."""
    result = {}
    for p in PERCENTILES:
        series = metric_series(runs, f"jacobian/log_condition_p{p}")
        if series:
            result[p] = aggregate(series, spread)
    return result or None


# ---------------------------------------------------------------------------------------
# Figures


def pixel_reference(desc):
    """(the paper's pixel-baseline accuracy, its wording) for a config's data."""
    if desc["dataset"] == "cifar10_halves":
        return PAPER["pixel_cifar10"], "paper: pixels ~24%"
    if desc["noise_std"]:
        return PAPER["pixel_mnist_noisy"], "paper: noisy pixels ~84%"
    return PAPER["pixel_mnist"], "paper: pixels ~85%"


def panels_for(figure, groups):
    """The panels of a figure: dicts of title, metric, ylabel, which groups, references."""
    has = lambda **kw: [g for g in groups if all(g[0].get(k) == v for k, v in kw.items())]  # noqa: E731
    bounds = [b for b in BOUND_LABELS if has(bound=b)]
    panels = []
    if figure == "1":
        inv = [g for g in groups if g[0]["experiment"] == "mnist_invertible"]
        if inv:
            panels.append(dict(title="(a) test accuracy", metric="test_accuracy", groups=inv, kind="accuracy"))
            panels.append(dict(title="(b) testing I_EST", metric="mi", groups=inv, kind="mi"))
        adv = [g for g in groups if g[0]["experiment"] == "mnist_adversarial"]
        if adv:
            panels.append(dict(title="(c) adversarially trained g_1", metric="test_accuracy", groups=adv,
                               kind="accuracy", x="encoder_iterations"))
    elif figure == "2":
        panels.append(dict(title="(a) test accuracy", metric="test_accuracy", groups=groups, kind="accuracy"))
        panels.append(dict(title="(b) testing I_EST", metric="mi", groups=groups, kind="mi"))
        for bound in bounds:
            name = {"infonce": "(c)", "nwj": "Fig. 5"}.get(bound, "")
            panels.append(dict(title=f"{name} log condition number, {BOUND_LABELS[bound]}".strip(),
                               groups=has(bound=bound), kind="jacobian"))
    elif figure in ("3", "8"):
        for bound in bounds:
            panels.append(dict(title=f"test accuracy, {BOUND_LABELS[bound]}", metric="test_accuracy",
                               groups=has(bound=bound), kind="accuracy", without=("bound",)))
        for bound in sorted(bounds, key=lambda b: b != "nwj"):
            name = {"nwj": "Fig. 3" if figure == "3" else "Fig. 8", "infonce": "Fig. 6" if figure == "3" else "Fig. 8"}
            panels.append(dict(title=f"testing {BOUND_LABELS[bound]} ({name.get(bound, '')})", metric="mi",
                               groups=has(bound=bound), kind="mi", without=("bound",)))
    elif figure in ("4", "9"):
        for bound in bounds:
            panels.append(dict(title=f"test accuracy, {BOUND_LABELS[bound]}", metric="test_accuracy",
                               groups=has(bound=bound), kind="accuracy", without=("bound",)))
        for bound in bounds:
            name = "Fig. 7" if figure == "4" else "Fig. 9"
            panels.append(dict(title=f"testing loss |I_EST - t|, {BOUND_LABELS[bound]} ({name})", metric="loss",
                               groups=has(bound=bound), kind="loss", without=("bound",)))
    elif figure == "noniid":
        for bound in bounds:
            panels.append(dict(title=f"{BOUND_LABELS[bound]} estimate", metric="train/mi", source="metrics",
                               groups=has(bound=bound), kind="noniid", without=("bound",)))
    return [p for p in panels if p["groups"]]


def draw_panel(ax, panel, spread, colors):
    """Draws one panel; returns the aggregated curves it drew {label: curve}."""
    drawn = {}
    kind, x = panel["kind"], panel.get("x", "step")
    scale = 100.0 if kind == "accuracy" else 1.0
    if kind == "jacobian":
        return draw_jacobian(ax, panel, spread)
    for desc, runs in panel["groups"]:
        if panel.get("source") == "metrics":
            series = metric_series(runs, panel["metric"])
        else:
            series = eval_series(runs, panel["metric"], x)
        if not series:
            continue
        curve = aggregate(series, spread)
        name = label(desc, panel.get("without", ()))
        color = colors(name)
        steps = np.array(curve["steps"])
        ax.plot(steps, scale * np.array(curve["mean"]), color=color, linewidth=1.5,
                label=f"{name} (n={max(curve['n'])})")
        ax.fill_between(steps, scale * np.array(curve["low"]), scale * np.array(curve["high"]),
                        color=color, alpha=0.2, linewidth=0)
        drawn[name] = curve
    descs = [desc for desc, _ in panel["groups"]]
    if kind == "accuracy":
        shown = set()
        for desc, runs in panel["groups"]:
            value, text = pixel_reference(desc)
            if text not in shown:
                ax.axhline(100 * value, color="gray", linestyle="--", linewidth=1, label=text)
                shown.add(text)
        ours = [run["pixel"] for _, runs in panel["groups"] for run in runs if _finite(run["pixel"])]
        if ours:
            ax.axhline(100 * float(np.mean(ours)), color="black", linestyle=":", linewidth=1.2,
                       label=f"ours: pixels {100 * float(np.mean(ours)):.1f}%")
        if any(d["experiment"] == "mnist_encoder_arch" for d in descs):
            ax.axhline(100 * PAPER["supervised_mnist"], color="tab:green", linestyle="--", linewidth=1,
                       label="paper: supervised ~94%")
        ax.set_ylabel("test accuracy (%)")
    elif kind == "mi":
        batch_sizes = {d["batch_size"] for d in descs if d["bound"] == "infonce" and d["batch_size"]}
        for batch in sorted(batch_sizes):
            ax.axhline(math.log(batch), color="tab:red", linestyle="--", linewidth=1,
                       label=f"log {batch} = {math.log(batch):.2f} (I_NCE ceiling)")
        ax.set_ylabel("testing I_EST (nats)")
    elif kind == "loss":
        ax.axhline(0.0, color="gray", linewidth=0.8)
        if any(d["dataset"] == "mnist_halves" for d in descs):
            ax.axvline(PAPER["target_reached_step"], color="tab:red", linestyle="--", linewidth=1,
                       label="paper: L_t ~ 0 after 7k")
        ax.set_ylabel("testing loss L_t (nats)")
    elif kind == "noniid":
        ax.axhline(PAPER["noniid_true_mi"], color="black", linewidth=1.2,
                   label=f"true MI = {PAPER['noniid_true_mi']:.4f} (App. E)")
        ax.set_ylabel("estimate on training batches (nats)")
    ax.set_xlabel("encoder iteration" if x == "encoder_iterations" else "training iteration")
    ax.set_title(panel["title"], fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5)
    return drawn


def draw_jacobian(ax, panel, spread):
    runs = [run for _, group in panel["groups"] for run in group]
    pooled = pooled_percentiles(runs)
    cmap = plt.get_cmap("viridis")
    drawn = {}
    if pooled:
        for index, p in enumerate(PERCENTILES):
            ax.plot(pooled["steps"], pooled["percentiles"][p], color=cmap(index / 5), label=f"p{p}")
        source = f"pooled over {len(runs)} runs (eval_curve)"
        drawn["pooled"] = pooled
    else:
        logged = logged_percentiles(runs, spread)
        if not logged:
            ax.text(0.5, 0.5, "no Jacobian condition numbers\n(metrics.jsonl or eval_curve.json)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8)
            return drawn
        for index, p in enumerate(PERCENTILES):
            if p in logged:
                curve = logged[p]
                ax.plot(curve["steps"], curve["mean"], color=cmap(index / 5), label=f"p{p}")
                ax.fill_between(curve["steps"], curve["low"], curve["high"], color=cmap(index / 5), alpha=0.15, linewidth=0)
        source = f"mean over {len(runs)} runs of each run's percentiles (metrics.jsonl)"
        drawn["logged"] = {str(p): curve for p, curve in logged.items()}
    ax.set_title(f"{panel['title']}\n{source}", fontsize=8)
    ax.set_xlabel("training iteration")
    ax.set_ylabel("log(sigma_max / sigma_min) of J_g1")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, ncol=2)
    return drawn


def plot(figure, groups, spread, out):
    panels = panels_for(figure, groups)
    if not panels:
        raise SystemExit(f"error: the runs hold nothing that Figure {figure} draws.")
    palette, names = plt.get_cmap("tab10"), []

    def colors(name):
        """One colour per legend label, the same in every panel (e.g. per critic)."""
        if name not in names:
            names.append(name)
        return palette(names.index(name) % 10)

    columns = min(len(panels), 4)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.3 * columns, 3.6 * rows), squeeze=False)
    curves = {}
    for ax, panel in zip(axes.flat, panels):
        curves[panel["title"]] = draw_panel(ax, panel, spread, colors)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    what = "min-max" if spread == "minmax" else "+-1 std"
    fig.suptitle(f"Tschannen et al. (2020) {FIGURES[figure]['title']}: ours, mean over seeds, {what} shaded", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return curves


# ---------------------------------------------------------------------------------------
# Table


def final_values(runs, metric, last=None):
    """Per run, the value of ``metric`` at the last step that every run reached.

    Eval-curve metrics: the record at that step. metrics.jsonl metrics ("train/..."):
    the mean of the ``last`` logged values up to that step (the non-i.i.d. estimates
    are noisy). Returns (step, [values]) or (None, []).
    """
    if metric.startswith("train/"):
        series = metric_series(runs, metric)
    else:
        series = eval_series(runs, metric)
    if not series:
        return None, []
    step = min(max(curve) for curve in series)
    values = []
    for curve in series:
        if last:
            steps = [s for s in sorted(curve) if s <= step][-last:]
            values.append(float(np.mean([curve[s] for s in steps])))
        else:
            values.append(curve.get(step))
    return step, [v for v in values if _finite(v)]


def first_values(runs, metric):
    series = eval_series(runs, metric)
    return [curve[min(curve)] for curve in series]


def summary(values, spread):
    """(mean, low, high) of per-run values (the same spread as the figure)."""
    if not values:
        return None
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if spread == "minmax":
        return mean, float(values.min()), float(values.max())
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return mean, mean - std, mean + std


def fmt(stat, percent=False, spread="minmax"):
    if stat is None:
        return "-"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    mean, low, high = (scale * v for v in stat)
    digits = 1 if percent else 3
    if spread == "std":
        return f"{mean:.{digits}f}{unit} +- {(high - mean):.{digits}f}"
    return f"{mean:.{digits}f}{unit} [{low:.{digits}f}, {high:.{digits}f}]"


def paper_statement(desc):
    """(what the paper states for this config, its reference accuracy or MI or None)."""
    experiment, critic, bound = desc["experiment"], desc["critic"], desc["bound"]
    pixel, _ = pixel_reference(desc)
    if experiment == "mnist_invertible":
        text = "accuracy rises above the ~85% pixel baseline; testing I_EST rises"
        if bound == "infonce":
            text += "; I_NCE <= log 128 = 4.85"
        return text, pixel
    if experiment == "mnist_adversarial":
        return "accuracy falls significantly below the ~85% pixel baseline (MI stays maximal)", pixel
    if experiment == "mnist_noninvertible":
        return "accuracy rises above the ~84% noisy pixel baseline; I_EST rises; log condition numbers rise", pixel
    if experiment in ("mnist_critic_capacity", "cifar10_halves_critic"):
        base = f"~{100 * pixel:.0f}%"
        text = {
            "concat": f"barely beats the {base} pixel baseline; highest I_NWJ",
            "separable": f"clearly beats the {base} pixel baseline",
            "bilinear": f"clearly beats the {base} pixel baseline, best accuracy; lowest I_NWJ",
        }.get(critic, "-")
        if bound == "infonce":
            text += "; I_NCE close to log 128 = 4.85"
        return text, pixel
    if experiment in ("mnist_encoder_arch", "cifar10_halves_encoder"):
        text = "L_t ~ 0 (I_EST = t) after 7k iterations" if desc["dataset"] == "mnist_halves" else "L_t ~ 0 (I_EST = t)"
        text += "; ConvNet beats MLP at the same t" if desc["encoder"] == "convnet" else "; below ConvNet at the same t"
        return text, desc["target_mi"]
    if experiment == "noniid_gaussian":
        if desc["iid"]:
            return "estimate below the true MI (a lower bound)", PAPER["noniid_true_mi"]
        return "estimate ABOVE the true MI", PAPER["noniid_true_mi"]
    return "-", None


def row_check(desc, runs, stats):
    """Whether our final numbers agree with what the paper states for this config alone."""
    experiment = desc["experiment"]
    accuracy = stats.get("test_accuracy")
    ours_pixel = [run["pixel"] for run in runs if _finite(run["pixel"])]
    pixel = float(np.mean(ours_pixel)) if ours_pixel else pixel_reference(desc)[0]
    if experiment == "noniid_gaussian":
        mi = stats.get("train/mi")
        if mi is None:
            return None
        return mi[0] < PAPER["noniid_true_mi"] if desc["iid"] else mi[0] > PAPER["noniid_true_mi"]
    if accuracy is None:
        return None
    if experiment in ("mnist_invertible", "mnist_noninvertible"):
        first = first_values(runs, "mi")
        rose = stats.get("mi") is not None and first and stats["mi"][0] > float(np.mean(first))
        return bool(accuracy[0] > pixel and rose)
    if experiment == "mnist_adversarial":
        return bool(accuracy[0] < pixel)
    if experiment in ("mnist_critic_capacity", "cifar10_halves_critic"):
        if desc["critic"] in ("bilinear", "separable"):
            return bool(accuracy[0] > pixel)
        return None  # "barely beats": judged against the other critics in the claims
    if experiment in ("mnist_encoder_arch", "cifar10_halves_encoder"):
        loss = stats.get("loss")
        return None if loss is None else bool(loss[0] < 0.1)
    return None


def median_condition(runs):
    """(first, last) median log condition number of g_1's Jacobian over training, or None.

    The paper's percentiles are 0, 20, ..., 100: the median is read as the mean of the
    40th and 60th, pooled over runs from eval_curve.json when it holds them, else the
    mean over runs of the percentiles each run logged."""
    pooled = pooled_percentiles(runs)
    if pooled:
        return None if len(pooled["steps"]) < 2 else (
            0.5 * (pooled["percentiles"][40][0] + pooled["percentiles"][60][0]),
            0.5 * (pooled["percentiles"][40][-1] + pooled["percentiles"][60][-1]),
        )
    logged = logged_percentiles(runs, "minmax")
    if not logged or 40 not in logged or 60 not in logged or len(logged[40]["mean"]) < 2:
        return None
    return (
        0.5 * (logged[40]["mean"][0] + logged[60]["mean"][0]),
        0.5 * (logged[40]["mean"][-1] + logged[60]["mean"][-1]),
    )


def results_table(figure, groups, spread, last):
    """Rows {config, seeds, step, test/train accuracy, I_EST, loss, pixels, paper, agrees}."""
    rows = []
    for desc, runs in groups:
        stats, step = {}, None
        metrics = ("train/mi",) if desc["experiment"] == "noniid_gaussian" else ("test_accuracy", "train_accuracy", "mi", "loss")
        for metric in metrics:
            at, values = final_values(runs, metric, last if metric.startswith("train/") else None)
            if values:
                stats[metric] = summary(values, spread)
                step = at if step is None else min(step, at)
        pixels = [run["pixel"] for run in runs if _finite(run["pixel"])]
        first = first_values(runs, "test_accuracy")
        median = median_condition(runs)
        text, reference = paper_statement(desc)
        rows.append({
            "config": label(desc),
            "experiment": desc["experiment"],
            "desc": desc,
            "seeds": len(runs),
            "final_step": step,
            "test_accuracy": stats.get("test_accuracy"),
            "first_accuracy": float(np.mean(first)) if first else None,
            "train_accuracy": stats.get("train_accuracy"),
            "mi": stats.get("mi") or stats.get("train/mi"),
            "loss": stats.get("loss") if desc["target_mi"] is not None else None,
            "pixel_baseline": float(np.mean(pixels)) if pixels else None,
            "log_condition_median": median,
            "paper": text,
            "paper_reference": reference,
            "agrees": row_check(desc, runs, stats),
            "workdirs": [run["workdir"] for run in runs],
        })
    return rows


def claims(figure, rows):
    """The paper's comparisons between configs, checked on our final numbers."""
    found = []
    by = lambda **kw: [r for r in rows if all(r["desc"].get(k) == v for k, v in kw.items())]  # noqa: E731
    mean = lambda stat: None if stat is None else stat[0]  # noqa: E731

    def add(text, ours, holds):
        found.append({"claim": text, "ours": ours, "holds": holds})

    if figure in ("3", "8"):
        nwj_figure = "Fig. 3" if figure == "3" else "Fig. 8"
        for bound in ("infonce", "nwj"):
            acc = {r["desc"]["critic"]: mean(r["test_accuracy"]) for r in by(bound=bound)}
            mi = {r["desc"]["critic"]: mean(r["mi"]) for r in by(bound=bound)}
            name = BOUND_LABELS[bound]
            for better in ("bilinear", "separable"):
                if acc.get(better) is not None and acc.get("concat") is not None:
                    add(f"{name}: {better} critic more accurate than the MLP (concat) critic (Sec. 3.2)",
                        f"{100 * acc[better]:.1f}% vs {100 * acc['concat']:.1f}%", acc[better] > acc["concat"])
            if acc.get("bilinear") is not None and acc.get("separable") is not None:
                add(f"{name}: bilinear critic more accurate than separable (Sec. 3.2)",
                    f"{100 * acc['bilinear']:.1f}% vs {100 * acc['separable']:.1f}%", acc["bilinear"] > acc["separable"])
            if bound == "nwj":
                for lower in ("bilinear", "separable"):
                    if mi.get(lower) is not None and mi.get("concat") is not None:
                        add(f"I_NWJ: MLP (concat) critic reaches a higher testing I_NWJ than {lower} ({nwj_figure})",
                            f"{mi['concat']:.2f} vs {mi[lower]:.2f} nats", mi["concat"] > mi[lower])
            if bound == "infonce":
                for row in by(bound="infonce"):
                    batch = row["desc"]["batch_size"]
                    if mean(row["mi"]) is not None and batch:
                        ceiling = math.log(batch)
                        add(f"{row['config']}: testing I_NCE close to log {batch} = {ceiling:.2f} "
                            "(within 0.5 nats, our reading of 'close')",
                            f"{mean(row['mi']):.2f} nats", mean(row["mi"]) > ceiling - 0.5)
    if figure in ("4", "9"):
        for bound in ("infonce", "nwj"):
            for t in sorted({r["desc"]["target_mi"] for r in by(bound=bound) if r["desc"]["target_mi"] is not None}):
                acc = {r["desc"]["encoder"]: mean(r["test_accuracy"]) for r in by(bound=bound, target_mi=t)}
                if acc.get("convnet") is not None and acc.get("mlp") is not None:
                    add(f"{BOUND_LABELS[bound]}, t={t:g}: ConvNet more accurate than MLP at the same bound (Sec. 3.3)",
                        f"{100 * acc['convnet']:.1f}% vs {100 * acc['mlp']:.1f}%", acc["convnet"] > acc["mlp"])
    if figure in ("1", "2"):
        for row in rows:
            first = row["first_accuracy"]
            if first is None or row["test_accuracy"] is None:
                continue
            if row["desc"]["experiment"] == "mnist_adversarial":
                add(f"{row['config']}: test accuracy falls during training, below the pixels' (Sec. 3.1, Fig. 1c)",
                    f"{100 * first:.1f}% -> {100 * mean(row['test_accuracy']):.1f}%",
                    mean(row["test_accuracy"]) < first)
            else:
                add(f"{row['config']}: test accuracy improves during training (Sec. 3.1)",
                    f"{100 * first:.1f}% -> {100 * mean(row['test_accuracy']):.1f}%",
                    mean(row["test_accuracy"]) > first)
    if figure == "2":
        for row in rows:
            median = row["log_condition_median"]
            if median is not None:
                add(f"{row['config']}: g_1 becomes ill-conditioned, the median log condition number rises "
                    "(Fig. 2c, 5)", f"{median[0]:.2f} -> {median[1]:.2f}", median[1] > median[0])
    if figure == "noniid":
        for row in rows:
            if row["mi"] is not None:
                above = mean(row["mi"]) > PAPER["noniid_true_mi"]
                want = not row["desc"]["iid"]
                add(f"{row['config']}: estimate {'above' if want else 'below'} the true MI "
                    f"{PAPER['noniid_true_mi']:.4f} (Sec. 4, App. E)", f"{mean(row['mi']):.4f} nats", above == want)
    return found


def table_markdown(rows, found, spread):
    header = ["config", "seeds", "final step", "test accuracy", "train accuracy", "I_EST (nats)",
              "loss L_t", "pixels (ours)", "paper states", "agrees"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["config"], str(row["seeds"]), str(row["final_step"] if row["final_step"] is not None else "-"),
            fmt(row["test_accuracy"], True, spread), fmt(row["train_accuracy"], True, spread),
            fmt(row["mi"], False, spread), fmt(row["loss"], False, spread),
            f"{100 * row['pixel_baseline']:.1f}%" if row["pixel_baseline"] is not None else "-",
            row["paper"], {True: "yes", False: "NO", None: "-"}[row["agrees"]],
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    what = "[min, max]" if spread == "minmax" else "+- sample std"
    lines.append("")
    lines.append(f"Values: mean over seeds {what} at the last step every seed reached (I_EST from "
                 "eval_curve.json on test batches; for runs without image halves the mean of the last "
                 f"--last estimates logged in metrics.jsonl); the paper averages {PAPER['runs']} runs "
                 "and states no final numbers beyond those quoted.")
    if found:
        lines += ["", "| paper's claim | ours | holds |", "|---|---|---|"]
        for claim in found:
            lines.append(f"| {claim['claim']} | {claim['ours']} | {'yes' if claim['holds'] else 'NO'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="workdirs, or roots holding workdirs (ROOT/ARG/seed_N)")
    parser.add_argument("--figure", required=True, choices=sorted(FIGURES) + sorted(ALIASES), help="which figure")
    parser.add_argument("--out", default=None, help="PNG to write (default tschannen_fig<F>.png)")
    parser.add_argument("--spread", choices=("minmax", "std"), default="minmax", help="shaded spread over seeds")
    parser.add_argument("--table", action="store_true", help="print the results table; write <stem>_table.json")
    parser.add_argument("--last", type=int, default=10, help="logged points averaged for metrics.jsonl finals (non-i.i.d.)")
    args = parser.parse_args(argv)
    figure = ALIASES.get(args.figure, args.figure)
    out = args.out or f"tschannen_fig{figure}.png"
    wanted = FIGURES[figure]["experiments"]
    runs = []
    for workdir in find_workdirs(args.paths):
        run = load_run(workdir)
        if run["desc"]["experiment"] not in wanted:
            print(f"skipping {workdir}: a {run['desc']['experiment']!r} run, not one of Figure {figure}'s {list(wanted)}",
                  file=sys.stderr)
            continue
        if not run["records"] and figure != "noniid" and not run["metrics"]:
            print(f"skipping {workdir}: no eval_curve.json (run tools/eval_checkpoints.py) and no metrics.jsonl",
                  file=sys.stderr)
            continue
        if not run["records"] and figure != "noniid":
            print(f"note: {workdir} has no eval_curve.json; run tools/eval_checkpoints.py --workdir {workdir}",
                  file=sys.stderr)
        runs.append(run)
    if not runs:
        raise SystemExit(f"error: no workdir of {list(wanted)} among {args.paths}.")
    groups = group_runs(runs)
    curves = plot(figure, groups, args.spread, out)
    stem, _ = os.path.splitext(out)
    with open(f"{stem}.json", "w") as handle:
        json.dump(json_safe({"figure": figure, "spread": args.spread, "paper": PAPER, "panels": curves,
                              "groups": [{"config": label(d), "desc": d, "workdirs": [r["workdir"] for r in rs]}
                                         for d, rs in groups]}), handle, indent=1)
    print(f"wrote {out} and {stem}.json ({len(runs)} runs, {len(groups)} configs)", file=sys.stderr)
    if args.table:
        rows = results_table(figure, groups, args.spread, args.last)
        found = claims(figure, rows)
        print(table_markdown(rows, found, args.spread))
        with open(f"{stem}_table.json", "w") as handle:
            json.dump(json_safe({"figure": figure, "spread": args.spread, "rows": rows, "claims": found}), handle, indent=1)
        print(f"wrote {stem}_table.json", file=sys.stderr)


if __name__ == "__main__":
    main()
