r"""Benchmark of the feature-selection scorers: tfmi.sklearn's against scikit-learn's.

    PYTHONPATH=. python tools/bench_feature_selection.py --quick      # 2,000 rows, 10 features: a minute
    PYTHONPATH=. nohup python tools/bench_feature_selection.py --accuracy-seeds 10 &   # docs/bench_feature_selection

The problems (``tfmi.data.selection_problems``, exact MI per feature): a regression
table whose 5 informative features reach y linearly (z, exp(z), z^3 and a weak z) or
through (z^2 - 1) / sqrt(2) (zero correlation), and a 3-class table whose 5 informative
features have Gaussian class-conditionals up to a monotone map (mean shifts, exp, cube,
a scale-only feature, a weak shift); every other feature is noise (MI 0). On the same
data, in the same run: tfmi's ``mutual_info_regression`` (its default estimator, and
``estimator="copula"``) and ``mutual_info_classif`` against scikit-learn's functions of
the same names (k-NN estimators, ``n_neighbors=3``). Per scorer: seconds for the whole
table, the MAE against the exact MI over all features and over the informative ones,
the largest score of a noise feature, and whether the top k (k = 5, the informative
count) are exactly the informative features.

``--accuracy-seeds K`` adds the accuracy study of the classification scorers on one
feature: x | c ~ N(mu_c, 1) for the class layouts of ``ACCURACY_CASES`` (and labels
independent of x), at 2,000 and 10,000 rows, K data seeds each: the error of tfmi's
``continuous_discrete_mi`` (and its interval's coverage) against scikit-learn's
``mutual_info_classif`` on the same samples.

Each (problem, scorer) result is kept in ``--results`` (JSON, written after each run)
and skipped when present, so a run resumes; ``--report-only`` runs nothing. The report
is printed and written to ``--out`` (.md, keeping its hand-written section, and .json).
"""

import argparse
import json
import logging
import os
import sys
import time

import numpy as np
import sklearn.feature_selection

import tfmi.sklearn
from tfmi.console import progress
from tfmi.data import selection_problems
from tfmi.estimation.mixed import continuous_discrete_mi
from tfmi.evaluation import benchmarking
from tfmi.json_files import write_json

PROBLEMS = {"regression": selection_problems.regression_problem,
            "classification": selection_problems.classification_problem}
SCORERS = {  # name -> (problem, score_func(X, y, seed) -> [p])
    "tfmi-default": ("regression", lambda X, y, seed: tfmi.sklearn.mutual_info_regression(X, y, seed=seed)),
    "tfmi-copula": ("regression", lambda X, y, seed: tfmi.sklearn.mutual_info_regression(
        X, y, seed=seed, estimator="copula")),
    "sklearn-regression": ("regression", lambda X, y, seed: sklearn.feature_selection.mutual_info_regression(
        X, y, random_state=seed)),
    "tfmi-classif": ("classification", lambda X, y, seed: tfmi.sklearn.mutual_info_classif(X, y, seed=seed)),
    "sklearn-classif": ("classification", lambda X, y, seed: sklearn.feature_selection.mutual_info_classif(
        X, y, random_state=seed)),
}

# name -> (class means, priors); x | c ~ N(mean_c, 1). Means all 0: labels independent of x.
ACCURACY_CASES = {"2 classes, shift 1": ((0.0, 1.0), (0.5, 0.5)),
                  "3 classes, shifts 1": ((0.0, 1.0, 2.0), (0.2, 0.3, 0.5)),
                  "4 close classes": ((0.0, 0.3, 0.6, 0.9), (0.25,) * 4),
                  "5 classes, shifts 2": ((0.0, 2.0, 4.0, 6.0, 8.0), (0.2,) * 5),
                  "3 classes, independent": ((0.0, 0.0, 0.0), (1 / 3,) * 3)}
ACCURACY_ROWS = (2000, 10_000)


def _list_of(text):
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 rows and 10 features")
    parser.add_argument("--n", type=int, help="rows (default 10,000; 2,000 with --quick)")
    parser.add_argument("--features", type=int, help="features, 5 informative (default 50; 10 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="data seed, and every scorer's seed")
    parser.add_argument("--scorers", type=_list_of, default=list(SCORERS), help=f"from {list(SCORERS)}")
    parser.add_argument("--results", help="results file (default bench_feature_selection_results[_quick].json)")
    parser.add_argument("--out", help="report path without suffix (default docs/bench_feature_selection, "
                        "or bench_feature_selection_quick with --quick: the committed report stays)")
    parser.add_argument("--accuracy-seeds", type=int, default=0,
                        help="data seeds of the classification accuracy study (0: none)")
    parser.add_argument("--report-only", action="store_true", help="report the existing results only")
    args = parser.parse_args(argv)
    suffix = "_quick" if args.quick else ""
    args.n = args.n or (2000 if args.quick else 10_000)
    args.features = args.features or (10 if args.quick else 50)
    args.results = args.results or f"bench_feature_selection_results{suffix}.json"
    args.out = args.out or ("bench_feature_selection_quick" if args.quick else "docs/bench_feature_selection")
    unknown = sorted(set(args.scorers) - set(SCORERS))
    if unknown:
        parser.error(f"unknown scorers {unknown}; choose from {list(SCORERS)}")
    if args.features < 5 or args.n < 200:
        parser.error("--features must be >= 5 (the informative ones) and --n >= 200")
    return args


def _key(scorer, args):
    return f"{scorer} n={args.n} p={args.features} seed={args.seed}"


def run(args, results):
    """Runs every selected scorer without a result, saving the results after each."""
    problems = {}
    for scorer in args.scorers:
        if _key(scorer, args) in results:
            continue
        name = SCORERS[scorer][0]
        if name not in problems:
            problems[name] = PROBLEMS[name](args.n, args.features, args.seed)
        problem = problems[name]
        load = benchmarking.load_average()
        progress(f"{scorer}: {name}, {args.n} rows x {args.features} features ...")
        start = time.perf_counter()
        scores = np.asarray(SCORERS[scorer][1](problem.X, problem.y, args.seed), dtype=np.float64)
        seconds = time.perf_counter() - start
        results[_key(scorer, args)] = {"scorer": scorer, "problem": name, "n": args.n, "features": args.features,
                                       "seed": args.seed, "seconds": seconds, "load_at_start": load,
                                       "scores": scores.tolist(), "mi_true": problem.mi.tolist(),
                                       "names": problem.names, "informative": problem.informative}
        write_json(results, args.results)
        progress(f"{scorer}: {seconds:.1f} s")


def run_accuracy(args, results):
    """The classification accuracy study (module docstring), one result per (case, rows,
    seed), saved as it goes."""
    for case, (means, priors) in ACCURACY_CASES.items():
        truth = selection_problems.gaussian_classes_mi(means, np.ones(len(means)), priors)
        for n in ACCURACY_ROWS:
            for seed in range(args.accuracy_seeds):
                key = f"accuracy {case} n={n} seed={seed}"
                if key in results:
                    continue
                rng = np.random.default_rng([seed, n])
                labels = rng.choice(len(means), size=n, p=priors)
                x = rng.standard_normal(n) + np.asarray(means)[labels]
                start = time.perf_counter()
                ours = continuous_discrete_mi(x, labels, seed=seed)
                middle = time.perf_counter()
                theirs = sklearn.feature_selection.mutual_info_classif(x[:, None], labels, random_state=seed)[0]
                results[key] = {"case": case, "n": n, "seed": seed, "mi_true": truth, "tfmi": ours.mi,
                                "interval": list(ours.interval), "sklearn": float(theirs),
                                "seconds": [middle - start, time.perf_counter() - middle]}
        write_json(results, args.results)
        progress(f"accuracy: {case} done")


def accuracy_report(records):
    """Per case and row count: exact MI, each side's mean and largest absolute error (of
    the estimates clipped at 0, as the scorers return them), and the coverage of tfmi's
    interval."""
    rows = []
    for case in ACCURACY_CASES:
        for n in ACCURACY_ROWS:
            chosen = [r for r in records if r["case"] == case and r["n"] == n]
            if not chosen:
                continue
            truth = chosen[0]["mi_true"]
            ours = np.abs([max(r["tfmi"], 0.0) - truth for r in chosen])  # clipped, as both scorers clip
            theirs = np.abs([max(r["sklearn"], 0.0) - truth for r in chosen])
            covered = sum(r["interval"][0] <= truth <= r["interval"][1] for r in chosen)
            rows.append([case, f"{n}", f"{truth:.4f}", f"{ours.mean():.4f}", f"{ours.max():.4f}",
                         f"{covered}/{len(chosen)}", f"{theirs.mean():.4f}", f"{theirs.max():.4f}"])
    return benchmarking.markdown_table(["x given c ~ N(mu_c, 1)", "rows", "exact MI", "tfmi MAE", "tfmi max error",
                                        "tfmi interval holds it", "scikit-learn MAE", "scikit-learn max error"], rows)


def summary(record):
    """Seconds, MAE (all features, informative ones), the largest noise score, and whether
    the top k are the k informative features."""
    scores, truth = np.array(record["scores"]), np.array(record["mi_true"])
    informative = record["informative"]
    noise = np.setdiff1d(np.arange(len(scores)), informative)
    top = set(np.argsort(-scores, kind="stable")[: len(informative)].tolist())
    return {"seconds": record["seconds"], "mae": float(np.mean(np.abs(scores - truth))),
            "mae_informative": float(np.mean(np.abs(scores - truth)[informative])),
            "largest_noise": float(scores[noise].max()) if len(noise) else 0.0,
            "top_k_informative": len(top & set(informative)), "k": len(informative),
            "top_k_exact": top == set(informative)}


def report(records):
    """The markdown report: one summary table, and the informative features' scores."""
    rows = []
    for record in records:
        s = summary(record)
        rows.append([record["scorer"], record["problem"], f"{s['seconds']:.1f}", f"{s['mae']:.4f}",
                     f"{s['mae_informative']:.4f}", f"{s['largest_noise']:.4f}",
                     f"{s['top_k_informative']}/{s['k']}" + (" (exact)" if s["top_k_exact"] else "")])
    first = records[0]
    lines = ["# Feature-selection scorers: tfmi.sklearn against scikit-learn", "",
             f"{first['n']} rows x {first['features']} features, 5 informative, seed {first['seed']}; "
             f"{os.cpu_count()} CPUs, load average (1 min) at each start: "
             + ", ".join(f"{r['scorer']} {r['load_at_start']:.1f}" for r in records) + ".", "",
             benchmarking.markdown_table(["scorer", "problem", "seconds", "MAE (all)", "MAE (informative)",
                                          "largest noise score", "top 5 informative"], rows)]
    for problem in dict.fromkeys(record["problem"] for record in records):
        chosen = [record for record in records if record["problem"] == problem]
        header = ["feature", "exact MI"] + [record["scorer"] for record in chosen]
        table = [[chosen[0]["names"][j], f"{chosen[0]['mi_true'][j]:.4f}"]
                 + [f"{record['scores'][j]:.4f}" for record in chosen] for j in chosen[0]["informative"]]
        lines += ["", f"Informative features of the {problem} problem (nats):", "",
                  benchmarking.markdown_table(header, table)]
    return "\n".join(lines) + "\n"


def configure_logging():
    """The script's logging (set when it runs as a program, not when ``main`` is called
    from Python, whose logging it would change for good)."""
    logging.basicConfig(format="%(asctime)s %(message)s", level=logging.WARNING)
    logging.getLogger("tfmi.sklearn").setLevel(logging.INFO)  # a line per feature, with the time left
    # The noise features' estimates below 0 each log a warning: expected here, and 45 of them.
    logging.getLogger("tfmi.estimation").setLevel(logging.ERROR)


def main(argv=None):
    args = parse_args(argv)
    results = {}
    if os.path.exists(args.results):
        with open(args.results) as handle:
            results = json.load(handle)
    if not args.report_only:
        run(args, results)
        run_accuracy(args, results)
    records = [results[_key(scorer, args)] for scorer in args.scorers if _key(scorer, args) in results]
    accuracy = [value for key, value in results.items()
                if key.startswith("accuracy ") and value["seed"] < (args.accuracy_seeds or np.inf)]
    if not records:
        progress(f"no results in {args.results} for this selection")
        return 1
    markdown = report(records)
    if accuracy:
        seeds = len({r["seed"] for r in accuracy})
        markdown += (f"\nOne feature, classes of Gaussians: continuous_discrete_mi (tfmi.sklearn.mutual_info_classif's "
                     f"estimate) and scikit-learn's mutual_info_classif on the same samples, {seeds} data seeds:\n\n"
                     + accuracy_report(accuracy) + "\n")
    benchmarking.write_report(args.out, markdown, {"runs": records,
                                                   "summary": {r["scorer"]: summary(r) for r in records},
                                                   "accuracy": accuracy})
    return 0


if __name__ == "__main__":
    configure_logging()
    sys.exit(main())
