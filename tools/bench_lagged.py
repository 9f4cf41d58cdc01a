r"""Benchmark of ``tfmi.lagged_mi`` on series with exact MI at each lag
(``tfmi.data.lagged_tasks``), against ennemi's ``lag=``, over data seeds: the value, and
whether the 95% interval holds the exact MI with and without the serial-dependence
correction.

    PYTHONPATH=. nice -n 10 python tools/bench_lagged.py --ennemi-python /work/peers/ennemi-venv/bin/python \
        --results /work/prof/bench_lagged_runs.json                    # 3 tasks x 20 seeds, n = 5,000
    PYTHONPATH=. python tools/bench_lagged.py --seeds 0,1 --n 2000 --results /tmp/lagged.json --out /tmp/lagged

The methods, on the same samples (x, y [n]), at the lags ``--lags`` (default 1, 2, 5):

- "tfmi-corrected": ``tfmi.lagged_mi(x, y, lags=lags, seed=seed)`` (the default estimator;
  ``serial_dependence=True``, lagged_mi's default: the standard error widened by the
  Newey-West long-run variance of the model's terms in time order,
  ``protocol.serial_factor``).
- "tfmi-uncorrected": the same call with ``serial_dependence=False``: the same values (the
  report counts the runs where they differ), the interval of rows taken as independent.
- "ennemi": ``ennemi.estimate_mi(y, x, lag=lags, k=3)`` in a subprocess of
  ``--ennemi-python`` (a virtualenv with ennemi; tfmi/evaluation/peers/lagged_peer.py), fed an .npz of the
  series. ennemi's lag k is I(y_t; x_{t-k}), tfmi's I(x_t; y_{t+k}): the same quantity;
  each run first checks that with ``lagged_peer.py --check-convention`` (the report quotes
  it). Without ``--ennemi-python`` ennemi is not run (results already kept are reported).

Per task and lag: the exact MI, each method's MAE, tfmi's bias (mean estimate - exact),
the coverage of the 95% interval over the seeds and its mean width for both tfmi
variants; per method the mean seconds of one call (all lags); per family the totals.
Each (task, n, lags, seed, method) result is kept in ``--results`` (JSON, written after
each run) and skipped when present, so a run resumes; the report is printed and written to
``--out`` (.md keeping its hand-written section, .json).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from tfmi.data import lagged_tasks
from tfmi.console import progress
from tfmi.evaluation import benchmarking
from tfmi.evaluation.peers import peer_script_path
from tfmi.json_files import write_json

METHODS = ("tfmi-corrected", "tfmi-uncorrected", "ennemi")
TFMI = {"tfmi-corrected": True, "tfmi-uncorrected": False}  # method -> serial_dependence
PEER_SCRIPT = peer_script_path("lagged_peer")


def parse_args(argv=None):
    parser = benchmarking.seeded_parser(__doc__, lagged_tasks.TASKS, "steps per series", "lagged")
    parser.add_argument("--lags", type=benchmarking.comma_list(int), default=list(lagged_tasks.LAGS),
                        help="default 1,2,5")
    parser.add_argument("--methods", type=benchmarking.comma_list(str), default=list(METHODS),
                        help=f"from {list(METHODS)}")
    parser.add_argument("--ennemi-python", help="python of a virtualenv with ennemi; runs 'ennemi'")
    parser.add_argument("--peer-timeout", type=float, default=600.0, help="seconds one ennemi call may take")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.methods) - set(METHODS)) + sorted(set(args.tasks) - set(lagged_tasks.TASKS))
    if unknown:
        parser.error(f"unknown methods or tasks {unknown}; methods {list(METHODS)}, tasks {list(lagged_tasks.TASKS)}")
    if not args.lags or 0 in args.lags:
        parser.error("--lags must be non-zero integers")
    if args.ennemi_python and not os.access(args.ennemi_python, os.X_OK):
        parser.error(f"--ennemi-python {args.ennemi_python} is not an executable; "
                     "see tfmi/evaluation/peers/lagged_peer.py")
    return args


def run_tfmi(method, x, y, lags, seed):
    """{"estimate", "low", "high", "stderr" (lists over lags), "seconds", "method"} of
    ``lagged_mi`` with ``serial_dependence`` as ``method`` says."""
    import tfmi

    started = time.perf_counter()
    result = tfmi.lagged_mi(x, y, lags=lags, seed=seed, serial_dependence=TFMI[method])
    return {"estimate": result.mi.tolist(), "low": result.low.tolist(), "high": result.high.tolist(),
            "stderr": [r.stderr for r in result.estimates], "seconds": time.perf_counter() - started,
            "method": result.estimates[0].method}


def run_ennemi(python, x, y, lags, timeout):
    """ennemi's record from tfmi/evaluation/peers/lagged_peer.py, or None (reported) when it gave none."""
    with tempfile.TemporaryDirectory() as scratch:
        data, out = os.path.join(scratch, "series.npz"), os.path.join(scratch, "peer.json")
        np.savez(data, x=x, y=y, lags=np.asarray(lags))
        command = [python, str(PEER_SCRIPT), "--data", data, "--estimators", '["ennemi"]', "--out", out]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
            failure = done.stderr.strip()[-500:] if done.returncode else None
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout} s"
        report = json.load(open(out)) if os.path.exists(out) else {"results": {}}
    fields = report["results"].get("ennemi")
    if fields is None or "error" in fields:
        progress(f"ennemi gave no result: {failure or fields}")
        return None
    return {"estimate": [fields["estimates"][str(lag)] for lag in lags], "low": None, "high": None, "stderr": None,
            "seconds": fields["seconds"], "method": f"ennemi {report['ennemi']} estimate_mi(y, x, lag=lags, k=3)"}


def check_convention(python):
    """The line ``lagged_peer.py --check-convention`` prints; SystemExit when it fails."""
    done = subprocess.run([python, str(PEER_SCRIPT), "--check-convention"], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"error: ennemi's lag convention check failed: {done.stdout}{done.stderr[-500:]}")
    return done.stdout.strip()


def _key(name, args, seed, method):
    return f"{name}|{args.n}|{','.join(map(str, args.lags))}|{seed}|{method}"


def run(args, results):
    """Every (task, seed, method) run missing from ``results``, written after each."""
    runs_ennemi = "ennemi" in args.methods and args.ennemi_python
    if "ennemi" in args.methods and not args.ennemi_python:
        progress("no --ennemi-python: ennemi not run (results already kept are reported)")
    warmed = False
    for name in args.tasks:
        task = lagged_tasks.get_task(name)
        truth = [task.mi(lag) for lag in args.lags]
        for seed in args.seeds:
            x, y = task.sample(args.n, seed)
            for method in args.methods:
                key = _key(name, args, seed, method)
                if key in results or (method == "ennemi" and not runs_ennemi):
                    continue
                if method in TFMI:
                    if not warmed:  # the first call traces TensorFlow's functions: not timed
                        run_tfmi(method, x[:500], y[:500], args.lags, seed)
                        warmed = True
                    record = run_tfmi(method, x, y, args.lags, seed)
                else:
                    record = run_ennemi(args.ennemi_python, x, y, args.lags, args.peer_timeout)
                    if record is None:
                        continue
                results[key] = {**record, "task": name, "family": task.family, "truth": truth, "lags": args.lags,
                                "n": args.n, "seed": seed, "estimator": method}
                write_json(results, args.results)
            progress(f"{name} seed {seed} done")


# Scoring -------------------------------------------------------------------------------


def _rows(records):
    """One row per (task, family, method, lag, seed): exact, estimate, low, high."""
    rows = []
    for r in records:
        for i, lag in enumerate(r["lags"]):
            rows.append({"task": r["task"], "family": r["family"], "method": r["estimator"], "lag": lag,
                         "seed": r["seed"], "truth": r["truth"][i], "estimate": r["estimate"][i],
                         "low": None if r["low"] is None else r["low"][i],
                         "high": None if r["high"] is None else r["high"][i]})
    return rows


def _scores(group):
    """MAE, largest error, bias; coverage and mean width where the rows have intervals."""
    errors = np.array([row["estimate"] - row["truth"] for row in group])
    found = {"values": len(group), "mae": float(np.abs(errors).mean()), "largest": float(np.abs(errors).max()),
             "bias": float(errors.mean()), "covered": None, "width": None}
    if group[0]["low"] is not None:
        found["covered"] = int(sum(row["low"] <= row["truth"] <= row["high"] for row in group))
        found["width"] = float(np.mean([row["high"] - row["low"] for row in group]))
    return found


def per_lag(records):
    """{(task, lag, method): scores} over the seeds."""
    grouped = {}
    for row in _rows(records):
        grouped.setdefault((row["task"], row["lag"], row["method"]), []).append(row)
    return {key: _scores(group) for key, group in grouped.items()}


def per_family(records):
    """Per family and method: the scores over tasks, lags and seeds, and the mean seconds of a call."""
    grouped = {}
    for row in _rows(records):
        grouped.setdefault((row["family"], row["method"]), []).append(row)
    found = []
    for (family, method), group in sorted(grouped.items()):
        seconds = [r["seconds"] for r in records if r["family"] == family and r["estimator"] == method]
        found.append({"family": family, "method": method, **_scores(group), "calls": len(seconds),
                      "seconds": float(np.mean(seconds))})
    return found


def differing_values(records):
    """(runs where tfmi-uncorrected's values differ from tfmi-corrected's, runs compared)."""
    corrected = {(r["task"], r["seed"]): r["estimate"] for r in records if r["estimator"] == "tfmi-corrected"}
    pairs = [(corrected[(r["task"], r["seed"])], r["estimate"]) for r in records
             if r["estimator"] == "tfmi-uncorrected" and (r["task"], r["seed"]) in corrected]
    return sum(not np.allclose(a, b, rtol=0, atol=1e-12) for a, b in pairs), len(pairs)


def _cell(scores, field, digits=4):
    if scores is None or scores[field] is None:
        return "-"
    if field == "covered":
        return f"{scores['covered']}/{scores['values']}"
    return f"{scores[field]:.{digits}f}"


def report(records, args, convention):
    scores = per_lag(records)
    lag_rows = []
    for name in args.tasks:
        task = lagged_tasks.get_task(name)
        for lag in args.lags:
            get = lambda method: scores.get((name, lag, method))
            lag_rows.append([name, str(lag), f"{task.mi(lag):.4f}", _cell(get("tfmi-corrected"), "mae"),
                             _cell(get("ennemi"), "mae"), _cell(get("tfmi-corrected"), "bias"),
                             _cell(get("ennemi"), "bias"), _cell(get("tfmi-corrected"), "covered"),
                             _cell(get("tfmi-uncorrected"), "covered"), _cell(get("tfmi-corrected"), "width", 3),
                             _cell(get("tfmi-uncorrected"), "width", 3)])
    lag_table = benchmarking.markdown_table(
        ["task", "lag", "exact MI", "tfmi MAE", "ennemi MAE", "tfmi bias", "ennemi bias", "coverage corrected",
         "coverage uncorrected", "width corrected", "width uncorrected"], lag_rows)
    families = per_family(records)
    family_table = benchmarking.markdown_table(
        ["family", "method", "values", "MAE (nats)", "largest error", "bias", "95% interval holds the truth",
         "mean width", "calls", "mean s per call"],
        [[r["family"], r["method"], str(r["values"]), f"{r['mae']:.4f}", f"{r['largest']:.4f}", f"{r['bias']:+.4f}",
          "n/a" if r["covered"] is None else f"{r['covered']}/{r['values']} ({r['covered'] / r['values']:.0%})",
          "n/a" if r["width"] is None else f"{r['width']:.3f}", str(r["calls"]), f"{r['seconds']:.2f}"]
         for r in families])
    seconds_rows = []
    for name in args.tasks:
        cells = [name]
        for method in METHODS:
            times = [r["seconds"] for r in records if r["task"] == name and r["estimator"] == method]
            cells.append(f"{np.mean(times):.2f} ({len(times)})" if times else "-")
        seconds_rows.append(cells)
    seconds_table = benchmarking.markdown_table(["task", *(f"{m} s (calls)" for m in METHODS)], seconds_rows)
    differ, compared = differing_values(records)
    machine = benchmarking.machine_info()
    methods = sorted({r["method"] for r in records if r["estimator"] == "ennemi"})
    return (f"# Lagged MI on series with exact MI: tfmi.lagged_mi against ennemi, interval coverage\n\n"
            f"Run by tools/bench_lagged.py: {len(args.tasks)} tasks of tfmi.data.lagged_tasks, n = {args.n}, "
            f"lags {', '.join(map(str, args.lags))}, seeds {args.seeds[0]}-{args.seeds[-1]} ({len(args.seeds)}), "
            f"every method on the same samples. Machine: {machine['cpu_count']} CPU cores. "
            f"tfmi-uncorrected's values differ from tfmi-corrected's in {differ} of {compared} runs (only the "
            f"interval should). ennemi: {', '.join(methods) or 'not run'}.\n\n"
            f"ennemi's lag convention, checked this run: {convention or 'not checked (ennemi not run)'}\n\n"
            f"## Per task and lag\n\nMAE and bias (mean estimate - exact) over the seeds in nats; coverage: the "
            f"seeds whose 95% interval holds the exact MI; width: the interval's mean width.\n\n{lag_table}\n\n"
            f"## Per family\n\nOver tasks, lags and seeds (one value per task, lag and seed).\n\n{family_table}\n\n"
            f"## Seconds\n\nMean wall seconds of one call (all lags of one series).\n\n{seconds_table}\n")


def main(argv=None):
    args = parse_args(argv)
    if os.path.abspath(args.results) == os.path.abspath(f"{args.out}.json"):
        raise SystemExit(f"error: --results {args.results} is the report's JSON (--out {args.out}); give another file.")
    results = json.load(open(args.results)) if os.path.exists(args.results) else {}
    convention = None
    if "ennemi" in args.methods and args.ennemi_python:
        convention = check_convention(args.ennemi_python)
        progress(convention)
    run(args, results)
    wanted = {_key(name, args, seed, method) for name in args.tasks for seed in args.seeds for method in args.methods}
    records = [record for key, record in results.items() if key in wanted]
    if not records:
        raise SystemExit("error: no results to report")
    markdown = report(records, args, convention)
    benchmarking.write_report(args.out, markdown, {
                "n": args.n, "seeds": args.seeds, "lags": args.lags, "tasks": args.tasks,
                "exact": {name: {str(lag): lagged_tasks.get_task(name).mi(lag) for lag in args.lags}
                          for name in args.tasks},
                "ennemi_convention": convention, "summary": per_family(records),
                "per_lag": [{"task": task, "lag": lag, "method": method, **value}
                            for (task, lag, method), value in sorted(per_lag(records).items())],
                "machine": benchmarking.machine_info(), "runs": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
