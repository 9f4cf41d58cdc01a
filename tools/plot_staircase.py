r"""Draws the MI staircase (Poole et al. 2019, Fig. 2) from trainer workdirs.

    python tools/plot_staircase.py runs/staircase/* --out staircase.png

Each workdir is a run of configs/gaussian_staircase.py; its config.json names the
bound and whether the task is cubic, its metrics.jsonl holds the training estimate.
One panel per bound (one row per task): the logged estimate, its exponential moving
average within each stage, the true MI and, for InfoNCE, the log(batch size) ceiling. Also prints a
markdown table of the mean estimate over the last half of each stage.
"""

import argparse
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfmi.workdir import Workdir  # noqa: E402

BOUND_ORDER = ("infonce", "nwj", "tuba", "dv", "js", "smile", "interpolated", "mine")


def load_run(workdir):
    """Returns (config dict, steps, estimates, true MI) of one staircase workdir."""
    run = Workdir(workdir)
    for path in (run.config_path, run.metrics_path):
        if not os.path.exists(path):
            raise SystemExit(f"error: {workdir} is not a trainer workdir: {path} is missing.")
    config = run.read_config()
    if config.get("experiment") != "gaussian_staircase":
        raise SystemExit(f"error: {workdir} holds a {config.get('experiment')!r} run, not a staircase.")
    records = run.read_metrics()
    steps = np.array([r["step"] for r in records])
    estimates = np.array([r["train/mi"] for r in records])
    true_mi = np.array([r["train/true_mi"] for r in records])
    return config, steps, estimates, true_mi


def run_label(config):
    bound = config["model"]["bound"]
    name = bound["name"]
    if name == "smile":
        return f"smile (tau={bound['clip']})"
    if name == "interpolated":
        return f"interpolated (alpha={bound['alpha']})"
    return name


def moving_average(values, stages, decay=0.7):
    """Exponential moving average of ``values`` that restarts where ``stages`` (the
    true MI) changes, so that no stage's average lags into the next one."""
    smoothed, current = [], values[0]
    for index, value in enumerate(values):
        if index and stages[index] != stages[index - 1]:
            current = value
        current = decay * current + (1 - decay) * value
        smoothed.append(current)
    return np.array(smoothed)


def stage_table(runs):
    """Markdown rows: mean estimate over the second half of each true-MI stage."""
    lines = []
    true_values = sorted({float(v) for _, _, _, t in runs for v in t})
    header = "| bound | task | " + " | ".join(f"MI={v:g}" for v in true_values) + " |"
    lines += [header, "|" + "---|" * (len(true_values) + 2)]
    for config, steps, estimates, true_mi in runs:
        cells = []
        for value in true_values:
            stage = np.flatnonzero(true_mi == value)
            half = stage[len(stage) // 2 :]
            cells.append(f"{estimates[half].mean():.2f}" if len(half) else "-")
        task = "cubic" if config["data"]["cubic"] else "gaussian"
        lines.append(f"| {run_label(config)} | {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs, out):
    tasks = sorted({bool(config["data"]["cubic"]) for config, *_ in runs})
    labels = []
    for config, *_ in sorted(runs, key=lambda r: _order(r[0])):
        if run_label(config) not in labels:
            labels.append(run_label(config))
    fig, axes = plt.subplots(
        len(tasks), len(labels), figsize=(3.2 * len(labels), 3.0 * len(tasks)), squeeze=False, sharey=True
    )
    for config, steps, estimates, true_mi in runs:
        row = tasks.index(bool(config["data"]["cubic"]))
        ax = axes[row, labels.index(run_label(config))]
        ax.plot(steps, estimates, color="tab:blue", alpha=0.3, linewidth=0.8, label="estimate")
        ax.plot(steps, moving_average(estimates, true_mi), color="tab:blue", linewidth=1.5, label="moving average")
        ax.plot(steps, true_mi, color="black", linewidth=1.2, label="true MI")
        if config["model"]["bound"]["name"] == "infonce":
            ceiling = math.log(config["batch_size"])
            ax.axhline(ceiling, color="tab:red", linestyle="--", linewidth=1, label="log(batch)")
        task = "cubic" if tasks[row] else "Gaussian"
        ax.set_title(f"{run_label(config)} ({task})", fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylim(-1, 14)
        ax.grid(alpha=0.3)
    for row in range(len(tasks)):
        axes[row, 0].set_ylabel("MI (nats)")
    handles, names = [], []
    for ax in axes.flat:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(handle)
                names.append(name)
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _order(config):
    name = config["model"]["bound"]["name"]
    return BOUND_ORDER.index(name) if name in BOUND_ORDER else len(BOUND_ORDER)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdirs", nargs="+", help="trainer workdirs of configs/gaussian_staircase.py runs")
    parser.add_argument("--out", default="staircase.png", help="PNG file to write")
    args = parser.parse_args(argv)
    runs = [load_run(workdir) for workdir in args.workdirs if os.path.isdir(workdir)]
    if not runs:
        raise SystemExit("error: none of the given paths is a workdir.")
    plot(runs, args.out)
    print(stage_table(runs))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
