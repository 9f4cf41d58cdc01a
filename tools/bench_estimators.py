r"""Benchmark of MI estimators on tasks with exact MI: tfmi's against benchmark-mi's.

    PYTHONPATH=. python tools/bench_estimators.py --quick                 # a few minutes, tfmi only
    PYTHONPATH=. python tools/bench_estimators.py --peer-python bmi-venv/bin/python \
        --results /path/outside/the/repo                                   # the whole suite

The suite (``tfmi.data.ground_truth``): the 40 tasks of benchmark-mi 0.1.3 ("Beyond Normal")
and 20-dimensional Gaussians with 6, 8 and 10 nats (above InfoNCE's log 256). tfmi's
estimators are the lines of ``tfmi.evaluation.estimator_benchmark.ESTIMATORS``; with
``--peer-python`` (a Python 3.11 virtualenv with benchmark-mi 0.1.3, see README) bmi's
InfoNCE, NWJ, DV, MINE, KSG and CCA run on the same samples, in a subprocess of the peer
script bmi_peer.py fed by an .npz file (shipped with tfmi: ``python -c "from
tfmi.evaluation.peers import peer_script_path; print(peer_script_path('bmi_peer'))"``).

One JSON file per (task, n, seed, estimator) under ``--results``; existing ones are skipped,
so the benchmark resumes and can run in pieces. Then the report, made from every result
under ``--results`` within the selected tasks / n / seeds / estimators: printed (markdown),
and written to ``--out`` (.json and .md). ``--report-only`` runs nothing.

``--quick``: 5 tasks, n = 5,000, seed 0, tfmi's default (and bmi's InfoNCE with 2,000
steps, KSG and CCA with a peer). Seconds are wall time per estimate on this machine,
tracing / JIT compilation included; other work on the same cores slows both sides (each
result records the 1-minute load average at its start).
"""

import argparse
import os
import sys

from tfmi.console import progress
from tfmi.data import ground_truth
from tfmi.evaluation import benchmarking
from tfmi.evaluation import estimator_benchmark as bench

QUICK = {"tasks": list(bench.QUICK_TASKS), "n": [5000], "seeds": [0],
         "estimators": ["tfmi-default", "bmi-infonce-2k", "bmi-ksg", "bmi-cca"]}
FULL = {"tasks": list(ground_truth.TASKS), "n": [5000, 10000], "seeds": [0, 1, 2],
        "estimators": list(bench.ESTIMATORS) + list(bench.PEER_ESTIMATORS)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 tasks, n=5000, seed 0, few estimators")
    parser.add_argument("--tasks", type=benchmarking.comma_list(str),
                        help="comma-separated task names or groups (bmi, high_mi, all); default all")
    parser.add_argument("--n", type=benchmarking.comma_list(int), help="sample sizes, e.g. 5000,10000")
    parser.add_argument("--seeds", type=benchmarking.comma_list(int), help="data seeds, e.g. 0,1,2")
    parser.add_argument("--estimators", type=benchmarking.comma_list(str),
                        help=f"from {list(bench.ESTIMATORS) + list(bench.PEER_ESTIMATORS)}")
    parser.add_argument("--peer-python", help="python of a benchmark-mi 0.1.3 virtualenv; runs the bmi-* estimators")
    bench.add_report_arguments(parser, "bench_estimators")
    args = parser.parse_args(argv)
    args.out = bench.report_path(args, "bench_estimators")
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.tasks = bench.expand_tasks(parser, args.tasks, bench.TASK_GROUPS, ground_truth.TASKS)
    unknown = sorted(set(args.estimators) - set(bench.ESTIMATORS) - set(bench.PEER_ESTIMATORS))
    if unknown:
        known = list(bench.ESTIMATORS) + list(bench.PEER_ESTIMATORS)
        parser.error(f"unknown estimators {unknown}; choose from {known}")
    if min(args.n) < 600:
        parser.error("--n values must be >= 600 (bmi's estimators train on half the samples in batches of 256)")
    if args.peer_python and not os.access(args.peer_python, os.X_OK):
        parser.error(f"--peer-python {args.peer_python} is not an executable; see README for making the venv")
    return args


def main(argv=None):
    args = parse_args(argv)
    own = [name for name in args.estimators if name in bench.ESTIMATORS]
    peers = [name for name in args.estimators if name in bench.PEER_ESTIMATORS] if args.peer_python else []
    if not args.report_only and not args.peer_python and len(own) < len(args.estimators):
        progress("no --peer-python: the bmi-* estimators run only with it (their existing results are reported)")

    def run_cell(task_name, n, seed):
        task = ground_truth.get_task(task_name)
        records = [bench.run_tfmi(name, task, n, seed, args.results) for name in own]
        if peers:
            records += bench.run_peer(args.peer_python, peers, task, n, seed, args.results, args.peer_timeout)
        return f"{task_name} n={n} seed={seed} (I = {task.mi:.3f})", records

    return bench.run_benchmark(args, run_cell, args.estimators, bench.MI_SUITE,
                               {name: bench.ESTIMATORS[name] for name in own})


if __name__ == "__main__":
    sys.exit(main())
