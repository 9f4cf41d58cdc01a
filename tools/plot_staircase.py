r"""Draws the MI staircase (Poole et al. 2019, Fig. 2) from trainer workdirs.

    python tools/plot_staircase.py runs/staircase/* --out staircase.png
    python tools/plot_staircase.py runs/staircase_seeds/*/seed_* --out staircase.png \
        --export docs/reproduction_runs/staircase --command "python tools/sweep.py ..."

Each workdir is a run of configs/gaussian_staircase.py; its config.json names the
bound, whether the task is cubic and the seed, its metrics.jsonl holds the training
estimate. One panel per bound (one row per task): the true MI, for InfoNCE the log(batch
size) ceiling, and per run the exponential moving average of the estimate within each
stage; with several seeds of a bound, their mean and a band from the lowest to the
highest seed (one seed: its logged estimate too). Also prints a markdown table of the
mean estimate over the last half of each stage: with several seeds, mean +- standard
deviation over them and their count. ``--export DIR`` writes each finished run's stage
means as DIR/RUN/seed_N.json (RUN the bound, ",cubic" for the cubic task), with the
command that regenerates it.
"""

import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfmi.console import progress  # noqa: E402
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


def task_name(config):
    return "cubic" if config["data"]["cubic"] else "gaussian"


def stage_means(estimates, true_mi):
    """{true MI: the mean estimate over the second half of its stage}."""
    means = {}
    for value in sorted({float(v) for v in true_mi}):
        stage = np.flatnonzero(true_mi == value)
        means[value] = float(estimates[stage[len(stage) // 2 :]].mean())
    return means


def grouped(runs):
    """[(label, task, [runs])]: the runs of each bound and task (its seeds), in BOUND_ORDER."""
    groups = {}
    for run in sorted(runs, key=lambda r: (_order(r[0]), r[0]["data"]["cubic"], r[0].get("seed", 0))):
        groups.setdefault((run_label(run[0]), task_name(run[0])), []).append(run)
    return [(label, task, members) for (label, task), members in groups.items()]


def stage_table(runs):
    """Markdown rows: per bound and task, the mean estimate over the second half of each
    true-MI stage; over several seeds, mean +- standard deviation (ddof 1) and the count."""
    true_values = sorted({float(v) for _, _, _, t in runs for v in t})
    lines = ["| bound | task | seeds | " + " | ".join(f"MI={v:g}" for v in true_values) + " |",
             "|" + "---|" * (len(true_values) + 3)]
    for label, task, members in grouped(runs):
        per_seed = [stage_means(estimates, true_mi) for _, _, estimates, true_mi in members]
        cells = []
        for value in true_values:
            found = [means[value] for means in per_seed if value in means]
            if not found:
                cells.append("-")
            elif len(found) == 1:
                cells.append(f"{found[0]:.2f}")
            else:
                cells.append(f"{np.mean(found):.2f} ± {np.std(found, ddof=1):.2f}")
        lines.append(f"| {label} | {task} | {len(members)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def export(runs, workdirs, folder, command):
    """Writes each run's stage means to FOLDER/RUN/seed_N.json (RUN: the bound, ",cubic"
    for the cubic task); returns the paths written."""
    written = []
    for (config, steps, estimates, true_mi), workdir in zip(runs, workdirs):
        name = config["model"]["bound"]["name"] + (",cubic" if config["data"]["cubic"] else "")
        record = {"bound": run_label(config), "task": task_name(config), "seed": config.get("seed", 0),
                  "steps": int(steps[-1]), "steps_per_stage": config["data"]["steps_per_stage"],
                  "batch_size": config["batch_size"],
                  "stage_means": {f"{value:g}": mean for value, mean in stage_means(estimates, true_mi).items()},
                  "workdir": os.path.basename(os.path.dirname(os.path.abspath(workdir))), "command": command}
        path = os.path.join(folder, name, f"seed_{record['seed']}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(json.dumps(record, indent=1) + "\n")
        written.append(path)
    return written


def plot(runs, out):
    tasks = sorted({bool(config["data"]["cubic"]) for config, *_ in runs})
    groups = grouped(runs)
    labels = list(dict.fromkeys(label for label, _, _ in groups))
    fig, axes = plt.subplots(
        len(tasks), len(labels), figsize=(3.2 * len(labels), 3.0 * len(tasks)), squeeze=False, sharey=True
    )
    for label, task, members in groups:
        config, steps, _, true_mi = members[0]
        row = tasks.index(bool(config["data"]["cubic"]))
        ax = axes[row, labels.index(label)]
        if len(members) == 1:
            ax.plot(steps, members[0][2], color="tab:blue", alpha=0.3, linewidth=0.8, label="estimate")
            ax.plot(steps, moving_average(members[0][2], true_mi), color="tab:blue", linewidth=1.5,
                    label="moving average")
        else:
            length = min(len(run[1]) for run in members)
            curves = np.array([moving_average(run[2][:length], run[3][:length]) for run in members])
            ax.fill_between(steps[:length], curves.min(axis=0), curves.max(axis=0), color="tab:blue", alpha=0.25,
                            linewidth=0, label="lowest to highest seed")
            ax.plot(steps[:length], curves.mean(axis=0), color="tab:blue", linewidth=1.5,
                    label="moving average, mean of seeds")
        ax.plot(steps, true_mi, color="black", linewidth=1.2, label="true MI")
        if config["model"]["bound"]["name"] == "infonce":
            ceiling = math.log(config["batch_size"])
            ax.axhline(ceiling, color="tab:red", linestyle="--", linewidth=1, label="log(batch)")
        seeds = f", {len(members)} seeds" if len(members) > 1 else ""
        ax.set_title(f"{label} ({'cubic' if task == 'cubic' else 'Gaussian'}{seeds})", fontsize=9)
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
    parser.add_argument("--export", metavar="DIR", help="write each finished run's stage means to DIR/RUN/seed_N.json")
    parser.add_argument("--command", default="", help="with --export: the command that regenerates the runs")
    args = parser.parse_args(argv)
    given = [workdir for workdir in args.workdirs if os.path.isdir(workdir)]
    # a sweep's run not started yet has no metrics: left out with the unfinished ones
    workdirs = [workdir for workdir in given if len(given) == 1 or os.path.exists(Workdir(workdir).metrics_path)]
    runs = [load_run(workdir) for workdir in workdirs]
    finished = [(run, workdir) for run, workdir in zip(runs, workdirs)
                if len(run[1]) and run[1][-1] >= run[0]["total_steps"]]
    if len(finished) < len(given):
        progress(f"{len(given) - len(finished)} unfinished runs left out")
    runs, workdirs = [run for run, _ in finished], [workdir for _, workdir in finished]
    if not runs:
        raise SystemExit("error: none of the given paths is a finished workdir.")
    plot(runs, args.out)
    print(stage_table(runs))
    progress(f"wrote {args.out}")
    if args.export:
        written = export(runs, workdirs, args.export, args.command)
        progress(f"wrote {len(written)} files under {args.export}")


if __name__ == "__main__":
    main()
