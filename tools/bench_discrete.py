r"""Benchmark of MI with a discrete side: tfmi's default against scikit-learn on tasks with
exact MI (``tfmi.data.discrete_tasks``), over data seeds.

    PYTHONPATH=. python tools/bench_discrete.py --results bench_discrete_results.json   # 8 tasks x 20 seeds
    PYTHONPATH=. python tools/bench_discrete.py --seeds 0,1 --n 2000                      # a quick look

The methods, on the same samples in one run:

- "tfmi-default": ``tfmi.estimate_mi(x, y, seed=seed)`` (``discrete_y="auto"``: the label
  or count is found discrete; a contingency table for two discrete sides, class-conditional
  mixtures for one), with its 95% interval.
- "sklearn": ``mutual_info_classif(x, y, n_neighbors=3)`` (the k-NN estimate of Ross 2014)
  for a continuous feature against a label or count, ``mutual_info_score`` for two discrete
  sides; scikit-learn has no joint MI of several features with a label ("label-10-features":
  no value).

Per family: the MAE over tasks and seeds, the largest error, tfmi's interval coverage of
the exact MI, and the seconds. Each (task, n, seed, method) result is kept in
``--results`` (JSON, written after each run) and skipped when present, so a run resumes;
the report is printed and written to ``--out`` (.md keeping its hand-written section, .json).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

from tfmi.data import discrete_tasks
from tfmi.evaluation import benchmarking
from tfmi.json_files import write_json

METHODS = ("tfmi-default", "sklearn")


def _list_of(kind):
    return lambda text: [kind(item) for item in text.split(",") if item]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=_list_of(str), default=list(discrete_tasks.TASKS))
    parser.add_argument("--n", type=int, default=5000, help="rows per sample (default 5,000)")
    parser.add_argument("--seeds", type=_list_of(int), default=list(range(20)), help="data seeds (default 0-19)")
    parser.add_argument("--results", default="bench_discrete_results.json", help="JSON of every run (resumable)")
    parser.add_argument("--out", default="docs/bench_discrete", help="report path without extension")
    return parser.parse_args(argv)


def run_method(method, task, x, y, seed):
    """{"estimate", "low", "high", "seconds", "method"} of one method on one sample (None
    where the method has no estimate of this task)."""
    started = time.perf_counter()
    if method == "tfmi-default":
        import tfmi

        result = tfmi.estimate_mi(x, y, seed=seed)
        return {"estimate": result.mi, "low": result.interval[0], "high": result.interval[1],
                "seconds": time.perf_counter() - started, "method": result.method}
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.metrics import mutual_info_score

    if task.discrete == "both":
        value = float(mutual_info_score(x[:, 0], y))
    elif x.shape[1] == 1:
        value = float(mutual_info_classif(x, y, n_neighbors=3, random_state=seed)[0])
    else:
        return None
    return {"estimate": value, "low": None, "high": None, "seconds": time.perf_counter() - started,
            "method": "mutual_info_score" if task.discrete == "both" else "mutual_info_classif (k = 3)"}


def run(args, results):
    for name in args.tasks:
        task = discrete_tasks.get_task(name)
        for seed in args.seeds:
            x, y = task.sample(args.n, seed)
            for method in METHODS:
                key = f"{name}|{args.n}|{seed}|{method}"
                if key in results:
                    continue
                record = run_method(method, task, x, y, seed)
                results[key] = None if record is None else {**record, "task": name, "family": task.family,
                                                            "truth": task.mi, "n": args.n, "seed": seed,
                                                            "estimator": method}
                write_json(results, args.results)
            benchmarking.progress(f"{name} seed {seed} done")


def summary(records):
    """Per family and method: runs, MAE, largest error, coverage (tfmi), seconds."""
    rows = {}
    for record in records:
        rows.setdefault((record["family"], record["estimator"]), []).append(record)
    found = []
    for (family, method), group in sorted(rows.items()):
        errors = np.array([abs(r["estimate"] - r["truth"]) for r in group])
        with_interval = [r for r in group if r["low"] is not None]
        covered = sum(r["low"] <= r["truth"] <= r["high"] for r in with_interval)
        found.append({"family": family, "method": method, "runs": len(group), "mae": float(errors.mean()),
                      "largest": float(errors.max()), "covered": covered, "intervals": len(with_interval),
                      "seconds": float(np.mean([r["seconds"] for r in group]))})
    return found


def report(records, args):
    rows = summary(records)
    table = benchmarking.markdown_table(
        ["family", "method", "runs", "MAE (nats)", "largest error", "95% interval holds the truth", "mean s"],
        [[r["family"], r["method"], str(r["runs"]), f"{r['mae']:.4f}", f"{r['largest']:.4f}",
          f"{r['covered']}/{r['intervals']} ({r['covered'] / r['intervals']:.0%})" if r["intervals"] else "n/a",
          f"{r['seconds']:.2f}"] for r in rows])
    tasks = benchmarking.markdown_table(
        ["task", "family", "exact MI", "tfmi MAE", "tfmi coverage", "sklearn MAE"],
        [[name, task.family, f"{task.mi:.4f}"] + _task_cells(records, name) for name, task in discrete_tasks.TASKS.items()
         if name in args.tasks])
    machine = benchmarking.machine_info()
    return (f"# MI with a discrete side: tfmi against scikit-learn\n\n"
            f"Run by tools/bench_discrete.py: {len(args.tasks)} tasks of tfmi.data.discrete_tasks, n = {args.n}, "
            f"seeds {args.seeds[0]}-{args.seeds[-1]} ({len(args.seeds)}), both methods on the same samples. "
            f"Machine: {machine['cpu_count']} CPU cores.\n\n"
            f"## Per family\n\n{table}\n\n## Per task\n\n{tasks}\n")


def _task_cells(records, name):
    cells = []
    for method in METHODS:
        group = [r for r in records if r["task"] == name and r["estimator"] == method]
        if not group:
            cells += ["-"] if method == "sklearn" else ["-", "-"]
            continue
        mae = f"{np.mean([abs(r['estimate'] - r['truth']) for r in group]):.4f}"
        if method == "tfmi-default":
            covered = sum(r["low"] <= r["truth"] <= r["high"] for r in group)
            cells += [mae, f"{covered}/{len(group)}"]
        else:
            cells.append(mae)
    return cells


def main(argv=None):
    args = parse_args(argv)
    if os.path.abspath(args.results) == os.path.abspath(f"{args.out}.json"):
        raise SystemExit(f"error: --results {args.results} is the report's JSON (--out {args.out}); give another file.")
    results = json.load(open(args.results)) if os.path.exists(args.results) else {}
    run(args, results)
    records = [record for key, record in results.items() if record is not None and record["task"] in args.tasks
               and record["n"] == args.n and record["seed"] in args.seeds]
    markdown = report(records, args)
    print(markdown)
    benchmarking.write_markdown(f"{args.out}.md", markdown)
    write_json({"n": args.n, "seeds": args.seeds, "summary": summary(records), "runs": records}, f"{args.out}.json")
    print(f"Wrote {args.out}.md and {args.out}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
