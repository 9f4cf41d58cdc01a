r"""Draws Fig. 2 of Sordoni et al. (2021) from runs of configs/demi_synthetic.py.

    python tools/sweep.py --config configs/demi_synthetic.py --root runs/demi_synthetic \
        --args {infonce,demi,demi_is,demi_bo,demi_var}",k="{8,16,32,64,128,256}",mi=10"
    python tools/sweep.py --config configs/demi_synthetic.py --root runs/demi_synthetic \
        --args demi_bo",bottom,k="{8,16,32,64,128,256}",mi=10"
    python tools/plot_demi_synthetic.py runs/demi_synthetic/* --out demi_synthetic.png

Top figure: the total MI each method estimates (mean over the last ``--last`` logged
points; with several seeds of a setting, their mean with error bars from the lowest to
the highest seed) against the number of candidates K, one panel per total MI, with the ground
truth, the log K ceiling of InfoNCE and the 2 log(K/2) ceiling of DEMI. Bottom figure
(``*_bottom.png``): DEMI-BO evaluated as I_NCE + I_IS on shared negatives, with no
access to p(y|x'), ceiling 2 log K, beside the top figure's InfoNCE runs (K in-batch
candidates, ceiling log K). Prints the values as markdown tables and writes
them to a JSON file beside the figure.
"""

import argparse
import collections
import json
import math
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfmi.console import progress  # noqa: E402
from tfmi.evaluation.reproduction import demi_run  # noqa: E402

METHOD_LABELS = {
    "infonce": "InfoNCE",
    "demi": "DEMI (true p(y|x'))",
    "demi_is": "DEMI-IS",
    "demi_bo": "DEMI-BO",
    "demi_var": "DEMI-VAR",
}


def table(runs, figure):
    """Markdown: one row per (total MI, method), one column per K."""
    ks = sorted({run["k"] for run in runs})
    lines = [
        f"Fig. 2 ({figure}): estimated total MI (nats)",
        "",
        "| total MI | method | " + " | ".join(f"K={k}" for k in ks) + " |",
        "|" + "---|" * (len(ks) + 2),
    ]
    grouped = collections.defaultdict(dict)
    for run in runs:
        grouped[(run["total_mi"], run["method"])].setdefault(run["k"], []).append(run["estimate"])
    for (total, method), by_k in sorted(grouped.items(),
                                        key=lambda item: (item[0][0], list(METHOD_LABELS).index(item[0][1]))):
        cells = [f"{np.mean(by_k[k]):.2f}" if k in by_k else "-" for k in ks]
        label = "DEMI-BO (I_NCE + I_IS)" if figure == "bottom" and method == "demi_bo" else METHOD_LABELS[method]
        label = label.replace("|", "\\|")  # a bare | would split the cell
        lines.append(f"| {total:g} | {label} | " + " | ".join(cells) + " |")
    if figure == "top":
        lines.append("| | log K | " + " | ".join(f"{math.log(k):.2f}" for k in ks) + " |")
        lines.append("| | 2 log(K/2) | " + " | ".join(f"{2 * math.log(k / 2):.2f}" for k in ks) + " |")
    else:
        lines.append("| | log K | " + " | ".join(f"{math.log(k):.2f}" for k in ks) + " |")
        lines.append("| | 2 log K | " + " | ".join(f"{2 * math.log(k):.2f}" for k in ks) + " |")
    return "\n".join(lines)


def over_seeds(runs):
    """The runs of one (figure, method, K, total MI) as one: the mean estimate over seeds,
    error bars to the lowest and highest seed ("low", "high"; one seed: +- its own spread
    over the last logged points), "seeds" the count."""
    grouped = collections.defaultdict(list)
    for run in runs:
        grouped[(run["figure"], run["method"], run["k"], run["total_mi"])].append(run)
    merged = []
    for group in grouped.values():
        estimates = np.array([run["estimate"] for run in group])
        spread = group[0]["std"] if len(group) == 1 else 0.0
        merged.append({**group[0], "estimate": float(estimates.mean()), "seeds": len(group),
                       "low": float(estimates.min()) - spread, "high": float(estimates.max()) + spread,
                       "workdirs": [run["workdir"] for run in group]})
    return merged


def plot(runs, figure, out):
    runs = over_seeds(runs)
    seeds = max(run["seeds"] for run in runs)
    totals = sorted({run["total_mi"] for run in runs})
    fig, axes = plt.subplots(1, len(totals), figsize=(4.2 * len(totals), 3.6), squeeze=False)
    for ax, total in zip(axes[0], totals):
        subset = [run for run in runs if run["total_mi"] == total]
        ks = np.array(sorted({run["k"] for run in subset}), dtype=float)
        for method, label in METHOD_LABELS.items():
            if figure == "bottom":
                label = {"demi_bo": "DEMI-BO read as I_NCE + I_IS", "infonce": "InfoNCE (top's runs)"}.get(method)
            points = sorted((run["k"], run["estimate"], run["low"], run["high"]) for run in subset
                            if run["method"] == method and label)
            if points:
                k, estimate, low, high = map(np.array, zip(*points))
                ax.errorbar(k, estimate, yerr=[estimate - low, high - estimate], marker="o", markersize=3, capsize=2,
                            label=label)
        ax.axhline(total, color="black", linewidth=1.2, label="true MI")
        ax.plot(ks, np.log(ks), color="gray", linestyle="--", linewidth=1, label="log K")
        if figure == "top":
            ax.plot(ks, 2 * np.log(ks / 2), color="gray", linestyle=":", linewidth=1.2, label="2 log(K/2)")
        else:
            ax.plot(ks, 2 * np.log(ks), color="gray", linestyle=":", linewidth=1.2, label="2 log K")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("number of candidates K")
        ax.set_ylabel("estimated I(x, x'; y) (nats)")
        ax.set_title(f"true MI = {total:g} nats")
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    title = "top: DEMI vs InfoNCE" if figure == "top" else "bottom: DEMI-BO evaluated as I_NCE + I_IS"
    spread = f"mean of {seeds} seeds, bars lowest to highest" if seeds > 1 else "one seed, bars its last points' sd"
    fig.suptitle(f"Sordoni et al. (2021) Fig. 2, {title} ({spread}); the paper prints no values", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workdirs", nargs="+", help="workdirs of configs/demi_synthetic.py runs")
    parser.add_argument("--out", default="demi_synthetic.png", help="PNG of the top figure")
    parser.add_argument("--last", type=int, default=8, help="logged points averaged per run")
    args = parser.parse_args(argv)
    runs = []
    for workdir in args.workdirs:
        run = demi_run(workdir, args.last)
        if run is None:
            progress(f"skipping {workdir}: not a configs/demi_synthetic.py run with logged estimates")
        else:
            runs.append({**run, "workdir": workdir})
    if not runs:
        raise SystemExit("error: no finished configs/demi_synthetic.py workdir among the given paths.")
    stem, _ = os.path.splitext(args.out)
    for figure, out in (("top", args.out), ("bottom", f"{stem}_bottom.png")):
        subset = [run for run in runs if run["figure"] == figure]
        if subset and figure == "bottom":  # InfoNCE with the same K in-batch candidates, for comparison
            subset += [run for run in runs if run["figure"] == "top" and run["method"] == "infonce"]
        if subset:
            plot(subset, figure, out)
            print(table(subset, figure), "\n")
            print(f"wrote {out}")
    with open(f"{stem}.json", "w") as f:
        json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
