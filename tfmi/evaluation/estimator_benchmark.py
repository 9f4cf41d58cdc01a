r"""tfmi's MI estimators against benchmark-mi's on tasks with exact MI (the logic of
tools/bench_estimators.py).

Each run is one (task, n, seed, estimator): the task of ``tfmi.data.ground_truth`` draws
n pairs with ``seed``, the estimator estimates I(x; y) from them, and one JSON file
``RESULTS/<task>/n<n>_seed<seed>/<estimator>.json`` keeps the estimate and its seconds.
A run whose file exists is skipped, so a benchmark resumes where it stopped and can be
run in pieces; the report is made from whatever files exist and names that subset.

tfmi's estimators are the lines of ``ESTIMATORS``: a name and the keyword arguments of
``tfmi.estimate_mi(x, y, **kwargs)`` (``seed`` is the data seed unless the line sets one).
A new estimator is one more line. benchmark-mi's estimators (``PEER_ESTIMATORS``) run in
their own virtualenv through tools/bmi_peer.py, a subprocess that reads the same samples
from an .npz file.

Scores, per estimator over its runs (true MI I > 0 on every task):

    absolute error |I_hat - I|,  MAE its mean,
    solved: |log(I_hat / I)| < log 1.5 (Czyz et al. 2023); an estimate <= 0 is never solved,
    failed: the estimator raised or returned NaN/inf; counted unsolved, with error I
            (the error of answering 0).

tfmi/peer ratios, for each tfmi estimator on the runs it shares with the peers: MAE /
MAE of the best peer (the lowest MAE on the shared runs, among the peers that share the
most runs: bmi's InfoNCE, NWJ, DV, MINE, KSG, CCA), the largest excess error over
the best peer of each run (whichever peer erred least on it) and how many runs exceed it
by more than 0.1 nats, and total seconds / total seconds of bmi's InfoNCE with 2,000
steps (and with its default 10,000).
"""

import json
import math
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import tfmi
from tfmi.data import ground_truth
from tfmi.json_files import write_json

__all__ = [
    "ESTIMATORS",
    "PEER_ESTIMATORS",
    "QUICK_TASKS",
    "TASK_GROUPS",
    "summarise_groups",
    "result_path",
    "run_tfmi",
    "run_peer",
    "load_results",
    "is_solved",
    "summarise",
    "report_markdown",
]

# tfmi's estimators: name -> keyword arguments of tfmi.estimate_mi. One line per estimator.
ESTIMATORS = {
    "tfmi-default": {},
    "tfmi-smile": {"estimator": "smile"},
    "tfmi-nwj": {"estimator": "nwj"},
    "tfmi-copula": {"estimator": "copula"},
    "tfmi-mixture": {"estimator": "mixture"},
    "tfmi-flow": {"estimator": "flow"},
}

# benchmark-mi's estimators, run by tools/bmi_peer.py (see its docstring for the settings).
PEER_ESTIMATORS = ("bmi-infonce", "bmi-nwj", "bmi-dv", "bmi-mine", "bmi-ksg", "bmi-cca", "bmi-infonce-2k")
TIME_REFERENCES = ("bmi-infonce-2k", "bmi-infonce")

TASK_GROUPS = {
    "all": list(ground_truth.TASKS),
    "bmi": [task.name for task in ground_truth.BMI_TASKS],
    "high_mi": [task.name for task in ground_truth.HIGH_MI_TASKS],
    "mixtures": [task.name for task in ground_truth.MIXTURE_TASKS],
}
QUICK_TASKS = (
    "1v1-normal-0.75",
    "student-identity-2-2-1",
    "multinormal-sparse-5-5-2-2.0",
    "half_cube-multinormal-sparse-5-5-2-2.0",
    "multinormal-corr-20-20-6nats",
)
SOLVED_LOG_RATIO = math.log(1.5)
PEER_SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "tools" / "bmi_peer.py"


def result_path(results_dir, task, n, seed, estimator):
    """The file of one run."""
    return pathlib.Path(results_dir) / task / f"n{n}_seed{seed}" / f"{estimator}.json"


def _load_average():
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _record(task, n, seed, estimator, **fields):
    return {"task": task.name, "n": int(n), "seed": int(seed), "estimator": estimator, "mi_true": task.mi,
            "dim_x": task.dim_x, "dim_y": task.dim_y, "cpus": os.cpu_count(), **fields}


def run_tfmi(name, task, n, seed, results_dir, kwargs=None):
    """Runs tfmi's estimator ``name`` (a key of ``ESTIMATORS``, or any name with ``kwargs``)
    on (task, n, seed) unless its result file exists; returns the record (None if skipped)."""
    path = result_path(results_dir, task.name, n, seed, name)
    if path.exists():
        return None
    kwargs = ESTIMATORS[name] if kwargs is None else kwargs
    x, y = task.sample(n, seed)
    load, start = _load_average(), time.perf_counter()
    try:
        result = tfmi.estimate_mi(x.astype(np.float32), y.astype(np.float32), **{"seed": seed, **kwargs})
        fields = {"estimate": float(result.mi)}
        for extra in ("stderr", "interval", "warnings", "method"):
            if hasattr(result, extra):
                fields[extra] = getattr(result, extra)
    except Exception as error:  # a failing estimator is a result, not the end of the benchmark
        fields = {"estimate": None, "error": f"{type(error).__name__}: {error}"}
    record = _record(task, n, seed, name, seconds=time.perf_counter() - start, kwargs=kwargs,
                     load_average_1m=load, **fields)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, path)
    return record


def run_peer(peer_python, names, task, n, seed, results_dir, timeout=None):
    """Runs the peer estimators ``names`` that have no result file on (task, n, seed) in one
    subprocess of ``peer_python``; returns their records. An estimator that raised inside
    the peer is recorded as failed; one without a result (the peer crashed or ran past
    ``timeout`` seconds) is not recorded, so the next run tries it again."""
    names = [name for name in names if not result_path(results_dir, task.name, n, seed, name).exists()]
    if not names:
        return []
    x, y = task.sample(n, seed)
    load = _load_average()
    with tempfile.TemporaryDirectory() as scratch:
        data, out = os.path.join(scratch, "samples.npz"), os.path.join(scratch, "peer.json")
        np.savez(data, x=x, y=y)
        command = [peer_python, str(PEER_SCRIPT), "--data", data, "--estimators", json.dumps(names), "--out", out]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            failure = None if completed.returncode == 0 else " | ".join(completed.stderr.strip().splitlines()[-3:])
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout} s"
        report = {"results": {}}
        if os.path.exists(out):
            with open(out) as handle:
                report = json.load(handle)
    records = []
    for name in names:
        fields = report["results"].get(name)
        if fields is None:  # not recorded, so a later run retries it (a timeout may be the machine's load)
            print(f"peer {name} on {task.name} n={n} seed={seed}: no result ({failure})", file=sys.stderr)
            continue
        versions = {key: report[key] for key in ("benchmark-mi", "jax") if key in report}
        record = _record(task, n, seed, name, load_average_1m=load, **versions, **fields)
        path = result_path(results_dir, task.name, n, seed, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(record, path)
        records.append(record)
    return records


def load_results(results_dir, tasks=None, sizes=None, seeds=None, estimators=None):
    """Every record under ``results_dir``, optionally only those of the given subsets."""
    records = []
    for path in sorted(pathlib.Path(results_dir).glob("*/n*_seed*/*.json")):
        with open(path) as handle:
            record = json.load(handle)
        if ((tasks is None or record["task"] in tasks) and (sizes is None or record["n"] in sizes)
                and (seeds is None or record["seed"] in seeds)
                and (estimators is None or record["estimator"] in estimators)):
            records.append(record)
    return records


def _finite(value):
    return value is not None and math.isfinite(value)


def is_solved(estimate, truth):
    """|log(estimate / truth)| < log 1.5; False for a missing, non-finite or non-positive estimate."""
    return _finite(estimate) and estimate > 0 and abs(math.log(estimate / truth)) < SOLVED_LOG_RATIO


def absolute_error(record):
    """|estimate - truth|, or truth for a failed run (the error of answering 0)."""
    estimate = record.get("estimate")
    return abs(estimate - record["mi_true"]) if _finite(estimate) else abs(record["mi_true"])


def _cell(record):
    return record["task"], record["n"], record["seed"]


def summarise(records):
    """Per estimator: runs, MAE, solved, failed, seconds; for tfmi's, the ratios to bmi."""
    by_estimator = {}
    for record in records:
        by_estimator.setdefault(record["estimator"], {})[_cell(record)] = record
    summary = {}
    for name, cells in by_estimator.items():
        errors = [absolute_error(r) for r in cells.values()]
        summary[name] = {
            "runs": len(cells),
            "mae": float(np.mean(errors)),
            "median_error": float(np.median(errors)),
            "solved": sum(is_solved(r.get("estimate"), r["mi_true"]) for r in cells.values()),
            "failed": sum(not _finite(r.get("estimate")) for r in cells.values()),
            "seconds": float(sum(r.get("seconds") or 0.0 for r in cells.values())),
        }
    peers = [name for name in by_estimator if is_peer(name)]
    for name, cells in by_estimator.items():
        if is_peer(name):
            continue
        summary[name]["vs_best_peer"] = _versus_peers(cells, {peer: by_estimator[peer] for peer in peers})
        for reference in TIME_REFERENCES:
            shared = sorted(set(cells) & set(by_estimator.get(reference, {})))
            if shared:
                own = sum(cells[c].get("seconds") or 0.0 for c in shared)
                theirs = sum(by_estimator[reference][c].get("seconds") or 0.0 for c in shared)
                summary[name][f"time_ratio_{reference}"] = own / max(theirs, 1e-12)
                summary[name][f"time_ratio_{reference}_runs"] = len(shared)
    return summary


def is_peer(name):
    """A peer's estimator (run in its own virtualenv), not one of tfmi's."""
    return not name.startswith("tfmi-")


def _versus_peers(cells, peers):
    """tfmi's runs ``cells`` against the peers' runs: the best peer over the runs (lowest
    MAE on the shared runs, among the peers that share the most runs, so that a partly
    run peer cannot win on a few easy tasks) and the MAE ratio to it; and per run the
    excess error over the best peer of that run (any peer), its largest value and task."""
    best = None
    for peer, theirs in peers.items():
        shared = sorted(set(cells) & set(theirs))
        if not shared:
            continue
        own = np.mean([absolute_error(cells[c]) for c in shared])
        peer_mae = float(np.mean([absolute_error(theirs[c]) for c in shared]))
        candidate = {"peer": peer, "runs": len(shared), "mae_ratio": float(own / max(peer_mae, 1e-12)),
                     "peer_mae": peer_mae}
        if best is None or (-candidate["runs"], candidate["peer_mae"]) < (-best["runs"], best["peer_mae"]):
            best = candidate
    if best is None:
        return None
    excess = {c: absolute_error(cells[c]) - min(absolute_error(theirs[c]) for theirs in peers.values() if c in theirs)
              for c in cells if any(c in theirs for theirs in peers.values())}
    worst = max(excess, key=excess.get)
    return {**best, "worst_excess_error": float(excess[worst]), "worst_excess_task": worst[0],
            "runs_over_best_run_peer_by_0.1": sum(value > 0.1 for value in excess.values())}


def summarise_groups(records):
    """``summarise`` of the records of each task group ("all", "bmi", "high_mi") that has any."""
    groups = {}
    for group, tasks in TASK_GROUPS.items():
        chosen = [r for r in records if r["task"] in tasks]
        if chosen:
            groups[group] = summarise(chosen)
    return groups


def _order(names):
    """tfmi's estimators first (in ESTIMATORS order), then the peer's."""
    rank = {name: i for i, name in enumerate(list(ESTIMATORS) + list(PEER_ESTIMATORS))}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


def runs_table(records):
    """Markdown: one row per (task, n, seed), per estimator "estimate (error) seconds"."""
    names = _order({r["estimator"] for r in records})
    cells = {}
    for record in records:
        cells.setdefault(_cell(record), {})[record["estimator"]] = record
    task_order = {name: i for i, name in enumerate(ground_truth.TASKS)}
    lines = ["| task | n | seed | true MI | " + " | ".join(names) + " | best peer |", "|" + "---|" * (5 + len(names))]
    for cell in sorted(cells, key=lambda c: (task_order.get(c[0], len(task_order)), c[0], c[1], c[2])):
        row = cells[cell]
        truth = next(iter(row.values()))["mi_true"]
        entries = []
        for name in names:
            record = row.get(name)
            if record is None:
                entries.append("")
            elif not _finite(record.get("estimate")):
                entries.append("failed")
            else:
                mark = "" if is_solved(record["estimate"], truth) else "*"
                entries.append(f"{record['estimate']:.3f}{mark} ({absolute_error(record):.3f}) "
                               f"{record.get('seconds') or 0:.0f}s")
        peers = [r for name, r in row.items() if is_peer(name)]
        best = min(peers, key=absolute_error) if peers else None
        entries.append(f"{best['estimator']} ({absolute_error(best):.3f})" if best else "")
        lines.append(f"| {cell[0]} | {cell[1]} | {cell[2]} | {truth:.3f} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def summary_table(summary):
    """Markdown: per estimator MAE, solved, failed, seconds and the tfmi/peer ratios."""
    lines = ["| estimator | runs | MAE | median error | solved | failed | mean s | MAE / best peer "
             "| worst excess over the run's best peer | runs > 0.1 over it | time / bmi-infonce-2k "
             "| time / bmi-infonce |", "|" + "---|" * 12]
    for name in _order(summary):
        s = summary[name]
        best = s.get("vs_best_peer")
        ratio = f"{best['mae_ratio']:.2f} (vs {best['peer']}, {best['runs']} runs)" if best else "-"
        excess = f"{best['worst_excess_error']:.3f} ({best['worst_excess_task']})" if best else "-"
        over = str(best["runs_over_best_run_peer_by_0.1"]) if best else "-"
        times = [f"{s[f'time_ratio_{ref}']:.2f} ({s[f'time_ratio_{ref}_runs']} runs)" if f"time_ratio_{ref}" in s
                 else "-" for ref in TIME_REFERENCES]
        lines.append(f"| {name} | {s['runs']} | {s['mae']:.3f} | {s['median_error']:.3f} | {s['solved']}/{s['runs']} | "
                     f"{s['failed']} | "
                     f"{s['seconds'] / s['runs']:.1f} | {ratio} | {excess} | {over} | {times[0]} | {times[1]} |")
    return "\n".join(lines)


def subset_description(records):
    """Which tasks, sizes, seeds and estimators the records cover."""
    return {
        "tasks": sorted({r["task"] for r in records}),
        "n": sorted({r["n"] for r in records}),
        "seeds": sorted({r["seed"] for r in records}),
        "estimators": _order({r["estimator"] for r in records}),
        "runs": len(records),
    }


GROUP_TITLES = {"all": "All tasks", "bmi": "bmi's 40 tasks (elliptical and transformed)",
                "high_mi": "Above log(batch): 20-d Gaussians", "mixtures": "Mixtures (bmi's 7 and 6 of tfmi's)"}


def report_markdown(records, groups, machine_note=""):
    """The whole report: what it covers, the summary of each task group, then every run."""
    subset = subset_description(records)
    tables = "".join(f"## {GROUP_TITLES[group]}\n\n{summary_table(summary)}\n\n" for group, summary in groups.items())
    return (
        "# tfmi vs benchmark-mi on tasks with exact MI\n\n"
        f"Runs: {subset['runs']} over {len(subset['tasks'])} tasks, n = {subset['n']}, seeds {subset['seeds']}. "
        f"{machine_note}\n\n"
        "Solved: |log(estimate / truth)| < log 1.5 (an estimate <= 0 is unsolved); failed runs count "
        "as unsolved with error = truth. Ratios use the runs each tfmi estimator shares with the peers; "
        "the best peer of a run is the peer with the smallest error on it (chosen knowing the truth).\n\n"
        + tables
        + "## Every run\n\nestimate (absolute error) seconds; * = not solved.\n\n"
        + runs_table(records) + "\n"
    )
