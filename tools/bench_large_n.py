r"""Time, estimate and peak memory of ``tfmi.estimate_mi``'s default as the rows grow.

    PYTHONPATH=. python tools/bench_large_n.py                      # 10k, 100k, 1M rows; 1 + 1 and 5 + 5 columns
    PYTHONPATH=. python tools/bench_large_n.py --rows 20000,200000 --dims 1 --out bench_large_n_quick

Each (rows, d) is one fresh process (its peak memory is its own) drawing a Gaussian with
corr(x_i, y_i) = 0.6 on d pairs of columns (I = -d/2 log(1 - 0.36), exact), calling
``estimate_mi(x, y)`` with its defaults. One JSON file per measurement under
``--results`` (skipped when present: the benchmark resumes); then a table on stdout and
``--out``.json / .md. Seconds are wall time on this machine, TensorFlow's tracing
included; the load average at the start of each measurement is recorded.
"""

import argparse
import json
import os
import pathlib
import sys
import time

from tfmi.console import progress
from tfmi.evaluation import benchmarking
from tfmi.json_files import write_json

RHO = 0.6


def measure(rows, dims):
    """Runs in the child: one estimate; prints its record."""
    import numpy as np

    import tfmi

    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, dims)).astype(np.float32)
    y = (RHO * x + np.sqrt(1 - RHO**2) * rng.standard_normal((rows, dims))).astype(np.float32)
    load, start = benchmarking.load_average(), time.perf_counter()
    result = tfmi.estimate_mi(x, y)
    benchmarking.print_result({
        "rows": rows, "dims": dims, "mi_true": float(-dims / 2 * np.log(1 - RHO**2)), "estimate": result.mi,
        "interval": list(result.interval), "seconds": time.perf_counter() - start,
        "peak_rss_mib": benchmarking.peak_rss_mib(), "method": result.method, "load_average_1m": load,
    })


def _list_of_ints(text):
    return [int(item) for item in text.split(",") if item.strip()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=_list_of_ints, default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--dims", type=_list_of_ints, default=[1, 5], help="columns of x (and of y)")
    parser.add_argument("--results", default="bench_large_n_results", help="folder of per-measurement files")
    parser.add_argument("--out", default="docs/bench_large_n", help="report path without suffix")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--measure", nargs=2, type=int, help=argparse.SUPPRESS)  # the child's entry
    args = parser.parse_args(argv)
    if args.measure:
        measure(*args.measure)
        return 0
    records = []
    for dims in args.dims:
        for rows in args.rows:
            path = pathlib.Path(args.results) / f"rows{rows}_dims{dims}.json"
            if not path.exists():
                progress(f"estimate_mi on {rows} rows of {dims} + {dims} columns ...")
                try:
                    record = benchmarking.run_worker(__file__, ["--measure", rows, dims], timeout=args.timeout)
                except RuntimeError as error:
                    record = {"rows": rows, "dims": dims, "error": str(error)[-500:]}
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(record, path)
            records.append(json.loads(path.read_text()))
    table = benchmarking.markdown_table(
        ["rows", "columns", "true MI", "estimate (95% interval)", "seconds", "peak RSS (MiB)", "method"],
        [[f"{r['rows']:,}", f"{r['dims']} + {r['dims']}"]
         + ([f"{r['mi_true']:.4f}", f"{r['estimate']:.4f} ({r['interval'][0]:.4f}, {r['interval'][1]:.4f})",
             f"{r['seconds']:.1f}", f"{r['peak_rss_mib']:.0f}", r["method"]] if "error" not in r
            else ["", f"failed: {r['error'][-120:]}", "", "", ""]) for r in records])
    machine = benchmarking.machine_info()
    print(table)
    benchmarking.write_markdown(f"{args.out}.md", f"# estimate_mi as the rows grow\n\n{machine['cpu_model']}, "
                                f"{os.cpu_count()} CPUs; load average at each start in the JSON.\n\n{table}\n")
    write_json({"machine": machine, "runs": records}, f"{args.out}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
