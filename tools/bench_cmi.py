r"""Benchmark of conditional MI estimators on tasks with exact I(x; y | z): tfmi's
``estimate_cmi`` against ennemi, infomeasure and the Gaussian (partial-correlation) baseline.

    PYTHONPATH=. python tools/bench_cmi.py --quick --ennemi-python ennemi-venv/bin/python \
        --infomeasure-python knn-venv/bin/python --results /path/outside/the/repo
    PYTHONPATH=. python tools/bench_cmi.py --estimators '' --peers gaussian-linear --quick   # no tfmi, no venvs

The suite (``tfmi.data.cmi_ground_truth``): 26 tasks in six groups (gaussian, independent,
copula, student, mixture, link); ``--quick`` runs its 8 quick tasks. tfmi's estimators:
"tfmi-default" and "tfmi-NAME" (estimator=NAME of ``tfmi.estimation.conditional.CMI_ESTIMATORS``);
``--estimators ''`` runs none. The peers (the peer script cmi_peer.py shipped in
``tfmi.evaluation.peers``, each in a subprocess on the same samples): "ennemi" and
"ennemi-joint" need ``--ennemi-python`` (a virtualenv with ennemi), "infomeasure-ksg"
needs ``--infomeasure-python`` (with infomeasure); "gaussian-linear" runs with this Python.
A peer whose Python is not given is not run, but its existing results are reported.

One JSON file per (task, n, seed, estimator) under ``--results`` and the samples of each
(task, n, seed) as samples.npz beside them; existing ones are reused, so the benchmark
resumes and can run in pieces. Then the report, from every result under ``--results``
within the selection: printed (markdown) and written to ``--out`` (.json and .md).
``--report-only`` runs nothing.
"""

import argparse
import os
import sys

from tfmi.console import progress
from tfmi.data import cmi_ground_truth
from tfmi.evaluation import cmi_benchmark
from tfmi.evaluation import benchmarking
from tfmi.evaluation import estimator_benchmark as bench


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"the {len(cmi_benchmark.QUICK_TASKS)} quick tasks")
    parser.add_argument("--tasks", type=benchmarking.comma_list(str),
                        help=f"comma-separated task names or groups ({', '.join(cmi_benchmark.GROUPS)}); default all")
    parser.add_argument("--n", type=benchmarking.comma_list(int), default=[5000], help="sample sizes, e.g. 5000,10000")
    parser.add_argument("--seeds", type=benchmarking.comma_list(int), default=[0], help="data seeds, e.g. 0,1,2")
    parser.add_argument("--estimators", type=benchmarking.comma_list(str), default=["tfmi-default"],
                        help="tfmi's estimators: tfmi-default, tfmi-NAME for NAME of CMI_ESTIMATORS; '' for none")
    parser.add_argument("--peers", type=benchmarking.comma_list(str), default=list(cmi_benchmark.PEER_PACKAGES),
                        help=f"from {list(cmi_benchmark.PEER_PACKAGES)}; '' for none")
    parser.add_argument("--ennemi-python", help="python of a virtualenv with ennemi; runs ennemi and ennemi-joint")
    parser.add_argument("--infomeasure-python", help="python of a virtualenv with infomeasure; runs infomeasure-ksg")
    bench.add_report_arguments(parser, "bench_cmi")
    args = parser.parse_args(argv)
    args.out = bench.report_path(args, "bench_cmi")
    if args.tasks is None:
        args.tasks = list(cmi_benchmark.QUICK_TASKS) if args.quick else ["all"]
    args.tasks = bench.expand_tasks(parser, args.tasks, cmi_benchmark.GROUPS, cmi_ground_truth.CMI_TASKS)
    unknown = sorted(set(args.peers) - set(cmi_benchmark.PEER_PACKAGES))
    if unknown:
        parser.error(f"unknown peers {unknown}; choose from {list(cmi_benchmark.PEER_PACKAGES)}")
    for name in args.estimators:
        if not name.startswith("tfmi-"):
            parser.error(f"unknown estimator {name!r}: tfmi's are tfmi-default or tfmi-NAME (peers go in --peers)")
    if args.estimators and not args.report_only:
        _check_tfmi(parser, args.estimators)
    for flag in ("ennemi_python", "infomeasure_python"):
        path = getattr(args, flag)
        if path and not os.access(path, os.X_OK):
            parser.error(f"--{flag.replace('_', '-')} {path} is not an executable; see the docstring of "
                         f"{cmi_benchmark.PEER_SCRIPT} for the venv")
    if min(args.n) < 100:
        parser.error("--n values must be >= 100")
    return args


def _check_tfmi(parser, estimators):
    """One clear error when tfmi has no estimate_cmi or does not know a named estimator."""
    import tfmi

    if not hasattr(tfmi, "estimate_cmi"):
        parser.error("tfmi.estimate_cmi is not available in this checkout; run the peers only with --estimators ''")
    from tfmi.estimation.conditional import CMI_ESTIMATORS

    unknown = [name for name in estimators
               if name != "tfmi-default" and cmi_benchmark.tfmi_kwargs(name)["estimator"] not in CMI_ESTIMATORS]
    if unknown:
        parser.error(f"unknown estimators {unknown}; choose tfmi-default or tfmi-NAME, NAME in {list(CMI_ESTIMATORS)}")


def peer_pythons(args):
    """python -> the selected peers it runs (those whose virtualenv was given)."""
    pythons = {"ennemi": args.ennemi_python, "infomeasure": args.infomeasure_python, None: sys.executable}
    runs = {}
    for name in args.peers:
        python = pythons[cmi_benchmark.PEER_PACKAGES[name]]
        if python:
            runs.setdefault(python, []).append(name)
    return runs


def main(argv=None):
    args = parse_args(argv)
    runs = peer_pythons(args)
    skipped = sorted(set(args.peers) - {name for names in runs.values() for name in names})
    if skipped and not args.report_only:
        progress(f"not run (no virtualenv given): {skipped}; their existing results are reported")

    def run_cell(task_name, n, seed):
        task = cmi_ground_truth.get_cmi_task(task_name)
        records = [cmi_benchmark.run_tfmi(name, task, n, seed, args.results) for name in args.estimators]
        for python, names in runs.items():
            records += cmi_benchmark.run_peer(python, names, task, n, seed, args.results, args.peer_timeout)
        return f"{task_name} n={n} seed={seed} (CMI = {task.cmi:.3f})", records

    return bench.run_benchmark(args, run_cell, args.estimators + args.peers, cmi_benchmark.SUITE,
                               {name: cmi_benchmark.tfmi_kwargs(name) for name in args.estimators})


if __name__ == "__main__":
    sys.exit(main())
