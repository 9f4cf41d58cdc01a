"""What the peer scripts beside this file share: their command line, the JSON they write
and the loop over their estimators. Standard library only: they run in their peers'
virtualenvs, without tfmi."""

import argparse
import json
import os
import sys

__all__ = ["parse_args", "write", "run_each"]


def parse_args(description, peers, arrays, argv=None):
    """--data (an .npz holding ``arrays``), --estimators (a JSON list of names of
    ``peers``, or a file holding one), --out; one usage error for anything else."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help=f".npz file with the arrays {arrays}")
    parser.add_argument("--estimators", default=json.dumps(list(peers)),
                        help=f"JSON list of names (or a file holding one) from {list(peers)}")
    parser.add_argument("--out", required=True, help="JSON file of the results")
    args = parser.parse_args(argv)
    text = args.estimators
    if os.path.exists(text):
        with open(text) as handle:
            text = handle.read()
    try:
        args.estimators = json.loads(text)
    except ValueError:
        parser.error(f"--estimators must be a JSON list of names, got {text!r}")
    if not isinstance(args.estimators, list) or not args.estimators:
        parser.error("--estimators must be a non-empty JSON list of names")
    unknown = [name for name in args.estimators if name not in peers]
    if unknown:
        parser.error(f"unknown estimators {unknown}; choose from {list(peers)}")
    if not os.path.exists(args.data):
        parser.error(f"--data {args.data} does not exist")
    return args


def write(report, path):
    """``report`` as JSON at ``path``, atomically (an interrupted run keeps the last one)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as handle:
        json.dump(report, handle, indent=1)
    os.replace(temporary, path)


def run_each(names, estimate, report, out, summary=lambda result: result):
    """``report["results"][name] = estimate(name)`` for each of ``names``, or the error it
    raised (one failing estimator must not lose the others); ``report`` is rewritten at
    ``out`` after each (an interrupted run keeps what finished), and a line
    "name: summary(result)" goes to stderr."""
    for name in names:
        try:
            report["results"][name] = estimate(name)
        except Exception as error:  # recorded, so that the benchmark reports it
            report["results"][name] = {"error": f"{type(error).__name__}: {error}"}
        write(report, out)
        print(f"{name}: {summary(report['results'][name])}", file=sys.stderr, flush=True)
