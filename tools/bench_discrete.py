r"""Benchmark of MI with a discrete side: tfmi's default against scikit-learn, ennemi and
npeet on tasks with exact MI (``tfmi.data.discrete_tasks``), over data seeds.

    PYTHONPATH=. python tools/bench_discrete.py --results bench_discrete_results.json \
        --peer-python /work/peers/ennemi-venv/bin/python                                 # 8 tasks x 20 seeds
    PYTHONPATH=. python tools/bench_discrete.py --seeds 0,1 --n 2000                      # a quick look

The methods, on the same samples in one run:

- "tfmi-default": ``tfmi.estimate_mi(x, y, seed=seed)`` (``discrete_y="auto"``: the label
  or count is found discrete; a contingency table for two discrete sides, class-conditional
  mixtures for one), with its 95% interval.
- "sklearn": ``mutual_info_classif(x, y, n_neighbors=3)`` (the k-NN estimate of Ross 2014)
  for a continuous feature against a label or count, ``mutual_info_score`` for two discrete
  sides; scikit-learn has no joint MI of several features with a label ("label-10-features":
  no value).
- "ennemi", "npeet": ``ennemi.estimate_mi(y, x, discrete_y=True, discrete_x=...)`` (Ross
  2014's k-NN estimate, k = 3, or the contingency table; no joint MI of several features)
  and npeet's ``micd`` (k = 3, in nats) or ``midd``, run by the peer script discrete_peer.py
  (in ``tfmi.evaluation.peers``) in ``--peer-python`` (a virtualenv with ennemi and
  npeet-plus), one process per task fed an .npz of its samples; not run without it.

Per family: the MAE over tasks and seeds, the largest error, tfmi's interval coverage of
the exact MI, and the seconds. Each (task, n, seed, method) result is kept in
``--results`` (JSON, written after each run) and skipped when present, so a run resumes;
the report is printed and written to ``--out`` (.md keeping its hand-written section, .json).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from tfmi.console import progress
from tfmi.data import discrete_tasks
from tfmi.evaluation import benchmarking
from tfmi.evaluation.peers import peer_script_path
from tfmi.json_files import write_json

METHODS = ("tfmi-default", "sklearn", "ennemi", "npeet")
PEERS = ("ennemi", "npeet")  # run by PEER_SCRIPT in --peer-python
PEER_SCRIPT = peer_script_path("discrete_peer")


def parse_args(argv=None):
    parser = benchmarking.seeded_parser(__doc__, discrete_tasks.TASKS, "rows per sample", "discrete")
    parser.add_argument("--peer-python", help="python of a virtualenv with ennemi and npeet-plus: runs 'ennemi' and "
                        f"'npeet' ({PEER_SCRIPT})")
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
    import sklearn
    from sklearn.feature_selection import mutual_info_classif
    from sklearn.metrics import mutual_info_score

    if task.discrete == "both":
        value = float(mutual_info_score(x[:, 0], y))
    elif x.shape[1] == 1:
        value = float(mutual_info_classif(x, y, n_neighbors=3, random_state=seed)[0])
    else:
        return None
    return {"estimate": value, "low": None, "high": None, "seconds": time.perf_counter() - started,
            "method": "mutual_info_score" if task.discrete == "both" else "mutual_info_classif (k = 3)",
            "version": f"scikit-learn {sklearn.__version__}"}


def run_peers(task, n, seeds, names, python):
    """{(seed, name): record or None} of the peers ``names`` on the samples of ``seeds``, in
    one process of ``PEER_SCRIPT``; a peer that failed there raises."""
    arrays = {"count": len(seeds), "discrete_x": task.discrete == "both"}
    for i, seed in enumerate(seeds):
        arrays[f"x_{i}"], arrays[f"y_{i}"] = task.sample(n, seed)
        arrays[f"seed_{i}"] = seed
    with tempfile.TemporaryDirectory() as scratch:
        data, out = os.path.join(scratch, "samples.npz"), os.path.join(scratch, "peers.json")
        np.savez(data, **arrays)
        subprocess.run([python, PEER_SCRIPT, "--data", data, "--estimators", json.dumps(names), "--out", out],
                       check=True)
        with open(out) as handle:
            report = json.load(handle)
    found = {}
    for name in names:
        runs = report["results"][name]
        if isinstance(runs, dict):
            raise RuntimeError(f"{name} on {task.name}: {runs['error']}")
        version = f"ennemi {report['ennemi']}" if name == "ennemi" else f"npeet-plus {report['npeet_plus']}"
        for seed, record in zip(seeds, runs):
            found[seed, name] = None if record is None else {**record, "low": None, "high": None, "version": version}
    return found


def _store(results, task, n, seed, method, record):
    results[f"{task.name}|{n}|{seed}|{method}"] = None if record is None else {
        **record, "task": task.name, "family": task.family, "truth": task.mi, "n": n, "seed": seed,
        "estimator": method}


def run(args, results):
    peers_run = bool(args.peer_python) and os.access(args.peer_python, os.X_OK)
    if not peers_run:
        progress(f"no --peer-python ({args.peer_python}): ennemi and npeet not run (existing results "
                 "are reported)")
    for name in args.tasks:
        task = discrete_tasks.get_task(name)
        missing = {seed: [m for m in PEERS if f"{name}|{args.n}|{seed}|{m}" not in results] for seed in args.seeds}
        names = [m for m in PEERS if any(m in methods for methods in missing.values())]
        if peers_run and names:
            seeds = [seed for seed in args.seeds if missing[seed]]
            for (seed, method), record in run_peers(task, args.n, seeds, names, args.peer_python).items():
                if method in missing[seed]:
                    _store(results, task, args.n, seed, method, record)
            write_json(results, args.results)
            progress(f"{name}: {', '.join(names)} done")
        for seed in args.seeds:
            x, y = task.sample(args.n, seed)
            for method in ("tfmi-default", "sklearn"):
                if f"{name}|{args.n}|{seed}|{method}" not in results:
                    _store(results, task, args.n, seed, method, run_method(method, task, x, y, seed))
                    write_json(results, args.results)
            progress(f"{name} seed {seed} done")


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
        ["task", "family", "exact MI", "tfmi MAE", "tfmi coverage"] + [f"{m} MAE" for m in METHODS[1:]],
        [[name, task.family, f"{task.mi:.4f}"] + _task_cells(records, name)
         for name, task in discrete_tasks.TASKS.items() if name in args.tasks])
    machine = benchmarking.machine_info()
    versions = sorted({r["version"] for r in records if r.get("version")})
    return (f"# MI with a discrete side: tfmi against scikit-learn, ennemi and npeet\n\n"
            f"Run by tools/bench_discrete.py: {len(args.tasks)} tasks of tfmi.data.discrete_tasks, n = {args.n}, "
            f"seeds {args.seeds[0]}-{args.seeds[-1]} ({len(args.seeds)}), every method on the same samples"
            f"{' (' + ', '.join(versions) + ')' if versions else ''}. A method with no value on a task (no joint "
            f"MI of several features) has no row for its family. "
            f"Machine: {machine['cpu_count']} CPU cores.\n\n"
            f"## Per family\n\n{table}\n\n## Per task\n\n{tasks}\n")


def _task_cells(records, name):
    cells = []
    for method in METHODS:
        group = [r for r in records if r["task"] == name and r["estimator"] == method]
        if not group:
            cells += ["-", "-"] if method == "tfmi-default" else ["-"]
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
    benchmarking.write_report(args.out, report(records, args),
                              {"n": args.n, "seeds": args.seeds, "summary": summary(records), "runs": records})
    return 0


if __name__ == "__main__":
    sys.exit(main())
