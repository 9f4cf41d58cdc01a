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

Library: tfmi.evaluation.tschannen_claims (the paper's statements, claim checks,
panels) and tfmi.evaluation.seed_curves (means and spreads over seeds).
"""

import argparse
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfmi import workdir as workdir_lib  # noqa: E402
from tfmi.console import progress  # noqa: E402
from tfmi.encoders.jacobian import PAPER_PERCENTILES  # noqa: E402
from tfmi.evaluation.seed_curves import (  # noqa: E402
    aggregate, eval_series, finite, logged_percentiles, metric_series, pooled_percentiles)
from tfmi.evaluation.tschannen_claims import (  # noqa: E402
    ALIASES, FIGURES, PAPER, claims, group_runs, label, load_run, panels_for, pixel_reference, results_table,
    table_markdown)
from tfmi.json_files import json_safe  # noqa: E402


def find_workdirs(paths):
    """Every trainer workdir at or below ``paths`` (sorted, no duplicates)."""
    try:
        return workdir_lib.find_workdirs(paths)
    except workdir_lib.WorkdirError as error:
        raise SystemExit(f"error: {error}") from None


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
        ours = [run["pixel"] for _, runs in panel["groups"] for run in runs if finite(run["pixel"])]
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
        for index, p in enumerate(PAPER_PERCENTILES):
            ax.plot(pooled["steps"], pooled["percentiles"][p], color=cmap(index / 5), label=f"p{p}")
        source = f"pooled over {len(runs)} runs (eval_curve)"
        drawn["pooled"] = pooled
    else:
        logged = logged_percentiles(runs, spread)
        if not logged:
            ax.text(0.5, 0.5, "no Jacobian condition numbers\n(metrics.jsonl or eval_curve.json)",
                    ha="center", va="center", transform=ax.transAxes, fontsize=8)
            return drawn
        for index, p in enumerate(PAPER_PERCENTILES):
            if p in logged:
                curve = logged[p]
                ax.plot(curve["steps"], curve["mean"], color=cmap(index / 5), label=f"p{p}")
                ax.fill_between(curve["steps"], curve["low"], curve["high"], color=cmap(index / 5), alpha=0.15,
                                linewidth=0)
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
    fig.suptitle(f"Tschannen et al. (2020) {FIGURES[figure]['title']}: ours, mean over seeds, {what} shaded",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return curves


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="workdirs, or roots holding workdirs (ROOT/ARG/seed_N)")
    parser.add_argument("--figure", required=True, choices=sorted(FIGURES) + sorted(ALIASES), help="which figure")
    parser.add_argument("--out", default=None, help="PNG to write (default tschannen_fig<F>.png)")
    parser.add_argument("--spread", choices=("minmax", "std"), default="minmax", help="shaded spread over seeds")
    parser.add_argument("--table", action="store_true", help="print the results table; write <stem>_table.json")
    parser.add_argument("--last", type=int, default=10,
                        help="logged points averaged for metrics.jsonl finals (non-i.i.d.)")
    args = parser.parse_args(argv)
    figure = ALIASES.get(args.figure, args.figure)
    out = args.out or f"tschannen_fig{figure}.png"
    wanted = FIGURES[figure]["experiments"]
    runs = []
    for workdir in find_workdirs(args.paths):
        run = load_run(workdir)
        if run["desc"]["experiment"] not in wanted:
            progress(f"skipping {workdir}: a {run['desc']['experiment']!r} run, not one of Figure {figure}'s "
                     f"{list(wanted)}")
            continue
        if not run["records"] and figure != "noniid" and not run["metrics"]:
            progress(f"skipping {workdir}: no eval_curve.json (run tools/eval_checkpoints.py) and no metrics.jsonl")
            continue
        if not run["records"] and figure != "noniid":
            progress(f"note: {workdir} has no eval_curve.json; run tools/eval_checkpoints.py --workdir {workdir}")
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
    progress(f"wrote {out} and {stem}.json ({len(runs)} runs, {len(groups)} configs)")
    if args.table:
        rows = results_table(figure, groups, args.spread, args.last)
        found = claims(figure, rows)
        print(table_markdown(rows, found, args.spread))
        with open(f"{stem}_table.json", "w") as handle:
            json.dump(json_safe({"figure": figure, "spread": args.spread, "rows": rows, "claims": found}), handle,
                      indent=1)
        progress(f"wrote {stem}_table.json")


if __name__ == "__main__":
    main()
