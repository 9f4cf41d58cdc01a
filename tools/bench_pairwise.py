r"""Benchmark of pairwise MI on a table whose every pairwise MI is known: ``tfmi.pairwise_mi``
against ennemi's ``pairwise_mi`` and scikit-learn's ``mutual_info_regression``.

    PYTHONPATH=. python tools/bench_pairwise.py --quick                       # 8 columns, 28 pairs
    PYTHONPATH=. python tools/bench_pairwise.py --ennemi-python /work/peers/ennemi-venv/bin/python \
        --results bench_pairwise_results                                      # 16 columns, 120 pairs

The table (``tfmi.data.pairwise_table``): 16 single columns, 10,000 rows, in independent
blocks: a Gaussian copula of three columns with monotone margins, two Gaussian mixtures,
three functional pairs y = f(x) + noise, three independent columns; 8 dependent pairs
(exact MI in closed form, by quadrature, or Monte Carlo of the exact log ratio), 112
independent ones (MI 0). The methods, each on the same samples:

- "tfmi-default": ``tfmi.pairwise_mi(table, seed=0)`` (estimator "auto"), its pairs kept
  in ``tfmi-default.jsonl`` as they finish, so an interrupted run resumes pair by pair.
- "ennemi": ``ennemi.pairwise_mi(values, k=3)`` in a subprocess of ``--ennemi-python`` (a
  virtualenv with ennemi; see the peer script pairwise_peer.py in ``tfmi.evaluation.peers``),
  fed an .npz of the table.
- "sklearn": ``sklearn.feature_selection.mutual_info_regression(x_i, x_j, n_neighbors=3,
  random_state=0)`` per pair (the KSG estimator with small noise).

One JSON file per method under ``--results/<table>/n<rows>_seed<seed>/`` (skipped when
present), then the report: seconds (the estimation's wall time, no imports: for tfmi the
call of ``pairwise_mi``, its worker processes' start included, and of a run resumed from
its pairs file only the pairs computed by that call; ennemi's call; scikit-learn's calls
summed), MAE over all pairs, on the dependent pairs, per family, and the share of
independent pairs whose 95% interval holds 0 (tfmi alone gives intervals); printed and
written to ``--out`` (.md, .json), with tfmi's heatmap at ``--heatmap``.
"""

import argparse
import datetime
import hashlib
import os
import sys
import tempfile
import time

import numpy as np

from tfmi.console import progress
from tfmi.data import pairwise_table
from tfmi.evaluation import benchmarking
from tfmi.evaluation import estimator_benchmark as bench
from tfmi.evaluation.peers import peer_script_path
from tfmi.json_files import write_json

METHODS = ("tfmi-default", "ennemi", "sklearn")
PEER_SCRIPT = peer_script_path("pairwise_peer")
FAMILIES = ("copula", "mixture", "functional", "independent")


def _list_of(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help=f"the {len(pairwise_table.QUICK_COLUMNS)} columns of pairwise_table.QUICK_COLUMNS")
    parser.add_argument("--columns", type=_list_of, help="comma-separated columns of pairwise_table.NAMES")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the table (default 10,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the table and of every method")
    parser.add_argument("--methods", type=_list_of, default=list(METHODS), help=f"from {list(METHODS)}")
    parser.add_argument("--ennemi-python", help="python of a virtualenv with ennemi; runs 'ennemi'")
    parser.add_argument("--heatmap", help="PNG of tfmi's matrix (default docs/pairwise_heatmap.png for the whole "
                        "table; none otherwise)")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="the date the report states")
    bench.add_report_arguments(parser, "bench_pairwise")
    args = parser.parse_args(argv)
    args.out = bench.report_path(args, "bench_pairwise")
    if args.columns is None:
        args.columns = list(pairwise_table.QUICK_COLUMNS if args.quick else pairwise_table.NAMES)
    unknown = sorted(set(args.columns) - set(pairwise_table.NAMES))
    if unknown or len(args.columns) < 2:
        parser.error(f"--columns: unknown {unknown} or fewer than 2; choose from {list(pairwise_table.NAMES)}")
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(METHODS)}")
    if args.ennemi_python and not os.access(args.ennemi_python, os.X_OK):
        parser.error(f"--ennemi-python {args.ennemi_python} is not an executable; see {PEER_SCRIPT}")
    if args.rows < 100:
        parser.error("--rows must be >= 100")
    whole = args.columns == list(pairwise_table.NAMES)
    if args.heatmap is None and whole and not args.quick:
        args.heatmap = "docs/pairwise_heatmap.png"
    return args


def table_name(columns):
    """The folder of a column selection: "all16", "quick8", or "cols<p>-<hash>"."""
    if list(columns) == list(pairwise_table.NAMES):
        return f"all{len(columns)}"
    if list(columns) == list(pairwise_table.QUICK_COLUMNS):
        return f"quick{len(columns)}"
    return f"cols{len(columns)}-{hashlib.sha256(','.join(columns).encode()).hexdigest()[:8]}"


def _described(columns):
    return {"task": table_name(columns), "columns": list(columns)}


def _write(record, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(record, path)
    return record


def _base(columns, rows, seed, method):
    return {**_described(columns), "n": rows, "seed": seed, "estimator": method, "cpus": os.cpu_count(),
            "load_average_1m": benchmarking.load_average()}


def run_tfmi(columns, rows, seed, results, log=progress):
    """tfmi.pairwise_mi on the table, resumed from its JSON-lines file; returns the result."""
    import tfmi

    names, values = pairwise_table.sample(rows, seed, columns)
    path = bench.result_path(results, table_name(columns), rows, seed, "tfmi-default")
    path.parent.mkdir(parents=True, exist_ok=True)
    base, started = _base(columns, rows, seed, "tfmi-default"), time.perf_counter()  # the load at the start

    def progress(done, total, pair):
        elapsed = time.perf_counter() - started
        log(f"tfmi-default: {done}/{total} pairs ({pair}), {benchmarking.format_seconds(elapsed)}")

    result = tfmi.pairwise_mi(dict(zip(names, values.T)), seed=seed, results=path.with_suffix(".jsonl"),
                              progress=progress)
    # the call's wall time, its worker processes' start included (the pairs run on every core,
    # as ennemi's do); pair_seconds: the sum of the pairs' own times
    record = {**base, "matrix": result.matrix, "low": result.low, "high": result.high, "seconds": result.seconds,
              "pair_seconds": sum(pair.seconds for pair in result.table), "reused": result.reused,
              "methods": sorted({pair.method for pair in result.table}),
              "warnings": {pair.pair: list(pair.warnings) for pair in result.table if pair.warnings}}
    _write(record, path)
    return result


def run_sklearn(columns, rows, seed, results):
    """mutual_info_regression(x_i, x_j) for each pair i < j; returns the record."""
    from sklearn.feature_selection import mutual_info_regression

    names, values = pairwise_table.sample(rows, seed, columns)
    base, seconds = _base(columns, rows, seed, "sklearn"), 0.0
    matrix = np.full((len(names), len(names)), np.nan)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            start = time.perf_counter()
            matrix[i, j] = matrix[j, i] = mutual_info_regression(values[:, [i]], values[:, j], n_neighbors=3,
                                                                 random_state=seed)[0]
            seconds += time.perf_counter() - start
    import sklearn

    record = {**base, "matrix": matrix, "seconds": seconds,
              "params": {"n_neighbors": 3, "random_state": seed}, "scikit-learn": sklearn.__version__}
    return _write(record, bench.result_path(results, table_name(columns), rows, seed, "sklearn"))


def run_ennemi(python, columns, rows, seed, results, timeout):
    """ennemi.pairwise_mi in a subprocess of ``python`` (``PEER_SCRIPT``)."""
    _, values = pairwise_table.sample(rows, seed, columns)
    with tempfile.TemporaryDirectory() as scratch:
        data = os.path.join(scratch, "table.npz")
        np.savez(data, values=values)
        return bench.run_peer_script(python, PEER_SCRIPT, ["ennemi"], data, _described(columns), rows, seed, results,
                                     timeout)


def run(args):
    """Runs every selected method that has no result file yet."""
    folder = (table_name(args.columns), args.rows, args.seed)
    missing = bench.missing_runs(args.methods, args.results, *folder)
    if "sklearn" in missing:
        progress("sklearn: mutual_info_regression per pair")
        run_sklearn(args.columns, args.rows, args.seed, args.results)
    if "ennemi" in missing:
        if args.ennemi_python:
            progress("ennemi: pairwise_mi in its virtualenv")
            run_ennemi(args.ennemi_python, args.columns, args.rows, args.seed, args.results, args.peer_timeout)
        else:
            progress("no --ennemi-python: ennemi not run (an existing result is reported)")
    if "tfmi-default" in missing:
        run_tfmi(args.columns, args.rows, args.seed, args.results)


# Scoring -------------------------------------------------------------------------------


def score(record, columns):
    """The scores of one method's record against ``pairwise_table.true_mi``."""
    truth = pairwise_table.true_mi(columns)
    upper = np.triu_indices(len(columns), 1)
    estimate = np.array(record["matrix"], dtype=float)[upper]
    exact = truth[upper]
    error = np.abs(estimate - exact)
    families = np.array([pairwise_table.family(columns[i], columns[j]) for i, j in zip(*upper)])
    dependent = exact > 0
    scores = {"method": record["estimator"], "seconds": record["seconds"], "pairs": len(exact),
              "mae": float(error.mean()), "mae_dependent": float(error[dependent].mean()),
              "mae_independent": float(error[~dependent].mean()),
              # the dependent pairs of each family's blocks; "independent": every pair of MI 0
              "family_mae": {family: float(error[families == family].mean()) for family in FAMILIES
                             if np.any(families == family)}}
    if "low" in record:
        low, high = (np.array(record[end], dtype=float)[upper] for end in ("low", "high"))
        scores["independent_holds_zero"] = [int(np.sum(low[~dependent] <= 0.0)), int(np.sum(~dependent))]
        holds = (low[dependent] <= exact[dependent]) & (exact[dependent] <= high[dependent])
        scores["dependent_holds_truth"] = [int(np.sum(holds)), int(np.sum(dependent))]
    return scores


def _fraction(counts):
    return "n/a (no interval)" if counts is None else f"{counts[0]}/{counts[1]} ({counts[0] / counts[1]:.0%})"


def report_markdown(records, columns, rows, seed, date, note):
    """The summary table, MAE per family and every dependent pair, in markdown."""
    by_method = {record["estimator"]: record for record in records}
    scores = [score(by_method[name], columns) for name in METHODS if name in by_method]
    truth = pairwise_table.true_mi(columns)
    upper = list(zip(*np.triu_indices(len(columns), 1)))
    dependent = [(i, j) for i, j in upper if truth[i, j] > 0]
    summary = benchmarking.markdown_table(
        ["method", "seconds", "s / pair", "MAE, all pairs", f"MAE, dependent ({len(dependent)})",
         f"MAE, independent ({len(upper) - len(dependent)})", "independent pairs: interval holds 0",
         "dependent pairs: interval holds the truth"],
        [[s["method"], f"{s['seconds']:.2f}", f"{s['seconds'] / s['pairs']:.3f}", f"{s['mae']:.4f}",
          f"{s['mae_dependent']:.4f}", f"{s['mae_independent']:.4f}", _fraction(s.get("independent_holds_zero")),
          _fraction(s.get("dependent_holds_truth"))] for s in scores])
    families = [family for family in FAMILIES if family in scores[0]["family_mae"]]
    family_table = benchmarking.markdown_table(
        ["family", *[s["method"] for s in scores]],
        [[family, *[f"{s['family_mae'][family]:.4f}" for s in scores]] for family in families])
    pair_rows = []
    for i, j in dependent:
        cells = [f"{columns[i]} ~ {columns[j]}", pairwise_table.family(columns[i], columns[j]), f"{truth[i, j]:.4f}"]
        for name in (s["method"] for s in scores):
            record = by_method[name]
            value = f"{record['matrix'][i][j]:.4f}"
            if "low" in record:
                value += f" [{record['low'][i][j]:.3f}, {record['high'][i][j]:.3f}]"
            cells.append(value)
        pair_rows.append(cells)
    pairs_table = benchmarking.markdown_table(["pair", "family", "true MI", *[s["method"] for s in scores]],
                                              pair_rows)
    versions = "; ".join(f"{name}: {by_method[name].get(key)}" for name, key in (("ennemi", "ennemi"),
                                                                                ("sklearn", "scikit-learn"))
                         if name in by_method)
    return (
        f"# Pairwise MI on a table with known MI: tfmi.pairwise_mi, ennemi, scikit-learn\n\n"
        f"Run on {date} by tools/bench_pairwise.py: {len(columns)} columns of tfmi.data.pairwise_table "
        f"({len(upper)} pairs: {len(dependent)} dependent, {len(upper) - len(dependent)} independent), "
        f"{rows} rows, seed {seed}. {note}" + (f" Versions: {versions}." if versions else "") + "\n\n"
        "Seconds: the estimation's wall time with the imports excluded (tfmi: the pairwise_mi call, its "
        "worker processes' start included; ennemi: its pairwise_mi call; scikit-learn: its calls summed); "
        "MAE in nats against the exact MI (0 for the independent pairs); the intervals are tfmi's 95% "
        "intervals (ennemi and scikit-learn give none).\n\n"
        f"{summary}\n\n## MAE per family (nats)\n\n{family_table}\n\n"
        f"## The dependent pairs\n\nestimate [tfmi's 95% interval] in nats.\n\n{pairs_table}\n"
    )


def main(argv=None):
    args = parse_args(argv)
    if not args.report_only:
        run(args)
    folder = bench.result_path(args.results, table_name(args.columns), args.rows, args.seed, "x").parent
    records = bench.load_results(args.results, {table_name(args.columns)}, {args.rows}, {args.seed},
                                 set(args.methods))
    if not records:
        progress(f"no results under {folder}")
        return 1
    loads = ", ".join(f"{record['estimator']} {record['load_average_1m']:.1f}" for record in records
                      if record.get("load_average_1m") is not None)
    note = f"Machine: {os.cpu_count()} CPU cores shared with other work; load average (1 min) at each start: {loads}."
    benchmarking.write_report(args.out, report_markdown(records, args.columns, args.rows, args.seed, args.date, note),
                              {"columns": args.columns, "rows": args.rows, "seed": args.seed, "date": args.date,
                               "true_mi": pairwise_table.true_mi(args.columns),
                               "scores": [score(record, args.columns) for record in records], "runs": records})
    jsonl = folder / "tfmi-default.jsonl"
    if args.heatmap and jsonl.exists() and any(record["estimator"] == "tfmi-default" for record in records):
        import tfmi

        names, values = pairwise_table.sample(args.rows, args.seed, args.columns)
        result = tfmi.pairwise_mi(dict(zip(names, values.T)), seed=args.seed, results=jsonl)  # all read back
        result.plot(args.heatmap)
        progress(f"Wrote {args.heatmap} ({result.reused} of {len(result.table)} pairs read back)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
