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
their own virtualenv through the peer script bmi_peer.py (shipped in
``tfmi.evaluation.peers``), a subprocess that reads the same samples from an .npz file.

Scores, per estimator over its runs (true MI I > 0 on every task of this suite):

    absolute error |I_hat - I|,  MAE its mean,
    solved: |log(I_hat / I)| < log 1.5 (Czyz et al. 2023); an estimate <= 0 is never solved;
            for a truth of 0 (conditional MI), |I_hat| < 0.05 nats,
    failed: the estimator raised or returned NaN/inf; counted unsolved, with error I
            (the error of answering 0),
    covered: the run's interval (where the estimator gives one) holds the truth.

tfmi/peer ratios, for each tfmi estimator on the runs it shares with the peers: MAE /
MAE of the best peer (the lowest MAE on the shared runs, among the peers that share the
most runs: bmi's InfoNCE, NWJ, DV, MINE, KSG, CCA), the largest excess error over
the best peer of each run (whichever peer erred least on it) and how many runs exceed it
by more than 0.1 nats, and total seconds / total seconds of bmi's KSG and of its InfoNCE with 2,000
steps (and with its default 10,000).

``tfmi.evaluation.cmi_benchmark`` runs and reports its conditional MI benchmark with these
functions: a ``Suite`` names what a report shows (tasks, groups, time references), and
``record_estimate`` and ``run_peer_script`` run any estimator function or peer script.
``run_benchmark`` is the body of both tools' ``main`` (runs, progress lines, the report).
"""

import dataclasses
import json
import math
import os
import pathlib
import subprocess
import tempfile
import time

import numpy as np

import tfmi
from tfmi.console import progress
from tfmi.data import ground_truth
from tfmi.evaluation import benchmarking
from tfmi.evaluation.peers import peer_script_path
from tfmi.json_files import write_json

__all__ = [
    "Suite",
    "MI_SUITE",
    "ESTIMATORS",
    "PEER_ESTIMATORS",
    "QUICK_TASKS",
    "TASK_GROUPS",
    "summarise_groups",
    "result_path",
    "run_tfmi",
    "run_peer",
    "task_fields",
    "record_estimate",
    "missing_runs",
    "run_peer_script",
    "covers",
    "load_results",
    "is_solved",
    "summarise",
    "report_markdown",
    "expand_tasks",
    "run_benchmark",
]

# tfmi's estimators: name -> keyword arguments of tfmi.estimate_mi. One line per estimator.
ESTIMATORS = {
    "tfmi-default": {},
    "tfmi-default-unscreened": {"screen": False},  # the default before the k-NN screen: every candidate fitted
    "tfmi-smile": {"estimator": "smile"},
    "tfmi-nwj": {"estimator": "nwj"},
    "tfmi-copula": {"estimator": "copula"},
    "tfmi-mixture": {"estimator": "mixture"},
    "tfmi-flow": {"estimator": "flow"},
}

# benchmark-mi's estimators, run by the peer script bmi_peer.py (see its docstring for the settings).
PEER_ESTIMATORS = ("bmi-infonce", "bmi-nwj", "bmi-dv", "bmi-mine", "bmi-ksg", "bmi-cca", "bmi-infonce-2k")
TIME_REFERENCES = ("bmi-ksg", "bmi-infonce-2k", "bmi-infonce")

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
SOLVED_ZERO_TOLERANCE = 0.05  # nats: how close to 0 a solved estimate of a zero truth is
PEER_SCRIPT = peer_script_path("bmi_peer")


def result_path(results_dir, task, n, seed, estimator):
    """The file of one run."""
    return pathlib.Path(results_dir) / task / f"n{n}_seed{seed}" / f"{estimator}.json"


def task_fields(task):
    """What a run's record says of its MI task: its name, exact MI and dimensions."""
    return {"task": task.name, "mi_true": task.mi, "dim_x": task.dim_x, "dim_y": task.dim_y}


def _record(described_task, n, seed, estimator, **fields):
    return {**described_task, "n": int(n), "seed": int(seed), "estimator": estimator, "cpus": os.cpu_count(),
            **fields}


def _write_record(record, results_dir):
    path = result_path(results_dir, record["task"], record["n"], record["seed"], record["estimator"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, path)
    return record


def record_estimate(estimate, arrays, kwargs, described_task, n, seed, name, results_dir):
    """Times ``estimate(*arrays in float32, seed=seed, **kwargs)`` and writes the record of
    run ``name`` (``described_task``: ``task_fields``' dict, "mi_true" the exact value): the
    result's .mi, and its stderr, interval, warnings and method where it has them; a raised
    error is a failed run, not the end of a benchmark."""
    load, start = benchmarking.load_average(), time.perf_counter()
    try:
        result = estimate(*(a.astype(np.float32) for a in arrays), **{"seed": seed, **kwargs})
        fields = {"estimate": float(result.mi)}
        for extra in ("stderr", "interval", "warnings", "method"):
            if hasattr(result, extra):
                fields[extra] = getattr(result, extra)
    except Exception as error:
        fields = {"estimate": None, "error": f"{type(error).__name__}: {error}"}
    record = _record(described_task, n, seed, name, seconds=time.perf_counter() - start, kwargs=kwargs,
                     load_average_1m=load, **fields)
    return _write_record(record, results_dir)


def run_tfmi(name, task, n, seed, results_dir, kwargs=None):
    """Runs tfmi's estimator ``name`` (a key of ``ESTIMATORS``, or any name with ``kwargs``)
    on (task, n, seed) unless its result file exists; returns the record (None if skipped)."""
    if result_path(results_dir, task.name, n, seed, name).exists():
        return None
    kwargs = ESTIMATORS[name] if kwargs is None else kwargs
    return record_estimate(tfmi.estimate_mi, task.sample(n, seed), kwargs, task_fields(task), n, seed, name,
                           results_dir)


def missing_runs(names, results_dir, task_name, n, seed):
    """The estimators of ``names`` without a result file for (task, n, seed)."""
    return [name for name in names if not result_path(results_dir, task_name, n, seed, name).exists()]


def run_peer(peer_python, names, task, n, seed, results_dir, timeout=None):
    """Runs the peer estimators ``names`` that have no result file on (task, n, seed) in one
    subprocess of ``peer_python`` (``PEER_SCRIPT``, fed an .npz of x and y); returns
    their records, as ``run_peer_script``."""
    if not missing_runs(names, results_dir, task.name, n, seed):
        return []
    x, y = task.sample(n, seed)
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "samples.npz")
        np.savez(data, x=x, y=y)
        return run_peer_script(peer_python, PEER_SCRIPT, names, data, task_fields(task), n, seed, results_dir,
                               timeout)


def run_peer_script(peer_python, script, names, data, described_task, n, seed, results_dir, timeout=None):
    """Runs ``peer_python script --data DATA --estimators JSON --out JSON`` for the estimators
    of ``names`` without a result file and writes their records (with the versions the
    peer reports). An estimator that raised inside the peer is recorded as failed; one
    without a result (the peer crashed or ran past ``timeout`` seconds) is not recorded,
    so the next run tries it again."""
    task_name = described_task["task"]
    names = missing_runs(names, results_dir, task_name, n, seed)
    if not names:
        return []
    load = benchmarking.load_average()
    with tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "peer.json")
        command = [peer_python, str(script), "--data", str(data), "--estimators", json.dumps(names), "--out", out]
        try:
            completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            failure = None if completed.returncode == 0 else " | ".join(completed.stderr.strip().splitlines()[-3:])
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout} s"
        report = {"results": {}}
        if os.path.exists(out):
            with open(out) as handle:
                report = json.load(handle)
    versions = {key: value for key, value in report.items() if key not in ("results", "n")}
    records = []
    for name in names:
        fields = report["results"].get(name)
        if fields is None:  # not recorded, so a later run retries it (a timeout may be the machine's load)
            progress(f"peer {name} on {task_name} n={n} seed={seed}: no result ({failure})")
            continue
        records.append(_write_record(_record(described_task, n, seed, name, load_average_1m=load, **versions,
                                             **fields), results_dir))
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
    """|log(estimate / truth)| < log 1.5 (for a truth of 0: |estimate| < 0.05 nats); False for a
    missing or non-finite estimate, and for a non-positive estimate of a positive truth."""
    if not _finite(estimate):
        return False
    if truth == 0:
        return abs(estimate) < SOLVED_ZERO_TOLERANCE
    return estimate > 0 and abs(math.log(estimate / truth)) < SOLVED_LOG_RATIO


def covers(record, value):
    """Whether the run's interval holds ``value``; None for a run without an interval."""
    interval = record.get("interval")
    if not interval or not all(_finite(bound) for bound in interval):
        return None
    return interval[0] <= value <= interval[1]


def absolute_error(record):
    """|estimate - truth|, or truth for a failed run (the error of answering 0)."""
    estimate = record.get("estimate")
    return abs(estimate - record["mi_true"]) if _finite(estimate) else abs(record["mi_true"])


def _cell(record):
    return record["task"], record["n"], record["seed"]


def _coverage(cells):
    """covered / runs with an interval, over all runs and over the runs whose truth is 0."""
    coverage = {}
    for key, chosen in (("", cells), ("zero_truth_", [r for r in cells if r["mi_true"] == 0])):
        held = [covers(r, r["mi_true"]) for r in chosen]
        held = [h for h in held if h is not None]
        if held:
            coverage.update({f"{key}interval_runs": len(held), f"{key}covered": sum(held)})
    return coverage


def summarise(records, time_references=TIME_REFERENCES):
    """Per estimator: runs, MAE, solved, failed, seconds, interval coverage; for tfmi's, the
    ratios to the best peer and the time ratios to ``time_references``."""
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
            **_coverage(list(cells.values())),
        }
    peers = [name for name in by_estimator if is_peer(name)]
    for name, cells in by_estimator.items():
        if is_peer(name):
            continue
        summary[name]["vs_best_peer"] = _versus_peers(cells, {peer: by_estimator[peer] for peer in peers})
        for reference in time_references:
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


def summarise_groups(records, suite=None):
    """``summarise`` of the records of each task group of ``suite`` (default ``MI_SUITE``:
    "all", "bmi", "high_mi", "mixtures") that has any."""
    suite = suite or MI_SUITE
    groups = {}
    for group, tasks in suite.groups.items():
        chosen = [r for r in records if r["task"] in tasks]
        if chosen:
            groups[group] = summarise(chosen, suite.time_references)
    return groups


def _order(names):
    """tfmi's estimators first, its default first, then in ESTIMATORS order; then the peers
    (in PEER_ESTIMATORS order); other names alphabetically within their side."""
    rank = {name: i for i, name in enumerate(list(ESTIMATORS) + list(PEER_ESTIMATORS))}
    return sorted(names, key=lambda name: (is_peer(name), name != "tfmi-default", rank.get(name, len(rank)), name))


def runs_table(records, suite=None):
    """Markdown: one row per (task, n, seed), per estimator "estimate (error) seconds"."""
    suite = suite or MI_SUITE
    names = _order({r["estimator"] for r in records})
    cells = {}
    for record in records:
        cells.setdefault(_cell(record), {})[record["estimator"]] = record
    task_order = {name: i for i, name in enumerate(suite.tasks)}
    lines = [f"| task | n | seed | true {suite.quantity} | " + " | ".join(names) + " | best peer |",
             "|" + "---|" * (5 + len(names))]
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


def _coverage_cell(s):
    if "interval_runs" not in s:
        return "-"
    zero = (f" (truth 0: {s['zero_truth_covered']}/{s['zero_truth_interval_runs']})"
            if "zero_truth_interval_runs" in s else "")
    return f"{s['covered']}/{s['interval_runs']}{zero}"


def summary_table(summary, suite=None):
    """Markdown: per estimator MAE, solved, failed, seconds, interval coverage and the
    tfmi/peer ratios."""
    references = (suite or MI_SUITE).time_references
    lines = ["| estimator | runs | MAE | median error | solved | failed | mean s | interval holds the truth "
             "| MAE / best peer | worst excess over the run's best peer | runs > 0.1 over it | "
             + " | ".join(f"time / {ref}" for ref in references) + " |", "|" + "---|" * (11 + len(references))]
    for name in _order(summary):
        s = summary[name]
        best = s.get("vs_best_peer")
        ratio = f"{best['mae_ratio']:.2f} (vs {best['peer']}, {best['runs']} runs)" if best else "-"
        excess = f"{best['worst_excess_error']:.3f} ({best['worst_excess_task']})" if best else "-"
        over = str(best["runs_over_best_run_peer_by_0.1"]) if best else "-"
        times = [f"{s[f'time_ratio_{ref}']:.2f} ({s[f'time_ratio_{ref}_runs']} runs)" if f"time_ratio_{ref}" in s
                 else "-" for ref in references]
        lines.append(f"| {name} | {s['runs']} | {s['mae']:.3f} | {s['median_error']:.3f} | {s['solved']}/{s['runs']} | "
                     f"{s['failed']} | {s['seconds'] / s['runs']:.1f} | {_coverage_cell(s)} | {ratio} | {excess} | "
                     f"{over} | " + " | ".join(times) + " |")
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


@dataclasses.dataclass(frozen=True)
class Suite:
    """What a benchmark's report names: its title, the quantity estimated ("MI", "CMI"),
    the tasks in report order, the task groups (name -> task names) and their titles, and
    the peers whose seconds tfmi's are compared with."""

    title: str
    quantity: str
    tasks: tuple
    groups: dict
    group_titles: dict
    time_references: tuple


MI_SUITE = Suite("tfmi vs benchmark-mi on tasks with exact MI", "MI", tuple(ground_truth.TASKS), TASK_GROUPS,
                 GROUP_TITLES, TIME_REFERENCES)


def report_markdown(records, groups, machine_note="", suite=None):
    """The whole report: what it covers, the summary of each task group, then every run."""
    suite = suite or MI_SUITE
    subset = subset_description(records)
    tables = "".join(f"## {suite.group_titles.get(group, group)}\n\n{summary_table(summary, suite)}\n\n"
                     for group, summary in groups.items())
    return (
        f"# {suite.title}\n\n"
        f"Runs: {subset['runs']} over {len(subset['tasks'])} tasks, n = {subset['n']}, seeds {subset['seeds']}. "
        f"{machine_note}\n\n"
        "Solved: |log(estimate / truth)| < log 1.5 (an estimate <= 0 is unsolved; for a truth of 0, "
        f"|estimate| < {SOLVED_ZERO_TOLERANCE}); failed runs count "
        "as unsolved with error = truth. The interval column counts the runs whose interval holds the truth. "
        "Ratios use the runs each tfmi estimator shares with the peers; "
        "the best peer of a run is the peer with the smallest error on it (chosen knowing the truth).\n\n"
        + tables
        + "## Every run\n\nestimate (absolute error) seconds; * = not solved.\n\n"
        + runs_table(records, suite) + "\n"
    )


def progress_line(index, total, cell, records, elapsed):
    """One line of a benchmark's progress: the cell ("task n=... seed=... (I = ...)"),
    each new record's estimate and seconds, and the minutes so far."""
    done = [record for record in records if record]
    message = ", ".join(
        f"{r['estimator']} {'failed' if r.get('estimate') is None else round(r['estimate'], 3)} "
        f"({r.get('seconds') or 0:.0f} s)"
        for r in done) or "all present"
    return f"[{index + 1}/{total}] {cell}: {message} | {elapsed / 60:.1f} min"


def add_report_arguments(parser, name):
    """The options every benchmark tool shares: --peer-timeout, --results (per-run files),
    --out (report path without suffix; default docs/NAME, or NAME_quick with --quick, so
    the committed report stays) and --report-only."""
    parser.add_argument("--peer-timeout", type=float, default=3600, help="seconds allowed per peer subprocess")
    parser.add_argument("--results", default=f"{name}_results", help="folder of per-run result files")
    parser.add_argument("--out", help=f"report path without suffix (.json, .md); default docs/{name}, "
                        f"or {name}_quick with --quick (the committed report stays)")
    parser.add_argument("--report-only", action="store_true", help="make the report from existing results only")


def report_path(args, name):
    """--out, or its default (``add_report_arguments``)."""
    return args.out or (f"{name}_quick" if args.quick else f"docs/{name}")



def expand_tasks(parser, names, groups, tasks):
    """``names`` with each name of ``groups`` replaced by its tasks, each task once, in
    order; a usage error (``parser.error``) for a name in neither ``groups`` nor ``tasks``."""
    expanded = []
    for name in names:
        expanded += groups.get(name, [name])
    unknown = sorted(set(expanded) - set(tasks))
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {list(groups)} or {list(tasks)}")
    return list(dict.fromkeys(expanded))


def run_benchmark(args, run_cell, names, suite=None, estimators=None):
    """The body of a benchmark tool's ``main`` (tools/bench_estimators.py, tools/bench_cmi.py).

    Unless --report-only, ``run_cell(task_name, n, seed)`` -> (the cell's description, its
    new records) runs every selected cell, a progress line after each. Then the report of
    the results of the estimators ``names`` under --results within the selection, printed
    and written to --out (.md, and .json with ``estimators``: the keyword arguments of
    tfmi's estimators). Returns the exit status: 1 when there is no result.
    """
    suite = suite or MI_SUITE
    if not args.report_only:
        cells = [(task, n, seed) for task in args.tasks for n in args.n for seed in args.seeds]
        start = time.perf_counter()
        for index, cell in enumerate(cells):
            description, records = run_cell(*cell)
            progress(progress_line(index, len(cells), description, records, time.perf_counter() - start))
    records = load_results(args.results, set(args.tasks), set(args.n), set(args.seeds), set(names))
    if not records:
        progress(f"no results under {args.results} for this selection")
        return 1
    groups = summarise_groups(records, suite)
    load = benchmarking.load_average()
    load = "?" if load is None else f"{load:.1f}"
    note = f"Machine: {os.cpu_count()} CPUs; load average (1 min) {load} at the end."
    benchmarking.write_report(args.out, report_markdown(records, groups, note, suite),
                              {"subset": subset_description(records), "summary": groups, "runs": records,
                               "estimators": estimators})
    return 0
