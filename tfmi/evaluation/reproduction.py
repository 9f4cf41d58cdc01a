r"""The reproduction report (docs/reproduction.md): per-seed results, their statistics over
seeds, the papers' claims read over seeds, and the report's tables.

Per-seed files: one JSON per finished run, ``docs/reproduction_runs/EXPERIMENT/RUN/seed_N.json``
(``read_seed_folder``). Tschannen et al. (2020) runs are written here from trainer workdirs
(``export_tschannen``: the config, the seed, the final step's test / train accuracy, I_EST
and loss, the whole eval curve, the logged estimates, the wall time and the command); the
staircase and DEMI files are written by tools/plot_staircase.py and the DEMI sweep.

Statistics, the same everywhere in the report:

- a config's value: mean ± sd over its seeds (sample sd, ddof 1; n the seeds that have a
  value; no sd for n = 1), by ``seed_stats``;
- "A > B" between configs run with the same seeds: ``seed_claims.paired_verdict`` on the
  paired differences (holds beyond ``PAIRED_Z`` = 2 standard errors, contradicted below
  -2, otherwise or with one seed "not shown at n seeds"); a seed one side lacks is left
  out of the pairing, so a missing seed lowers n;
- "A under a ceiling c": the same test on c - A (``under_ceiling``);
- "A follows B within ``FOLLOW_TOLERANCE`` nats": two one-sided paired tests
  (``within``): holds when A > B - tol and B > A - tol both hold, contradicted when either
  is contradicted (A is shown to lie outside B ± tol), otherwise not shown;
- several comparisons read together (``all_of``): holds when every one holds,
  contradicted when any is contradicted, otherwise not shown;
- Tschannen et al.'s claims against a stated value or a run's own start (the booleans of
  ``tschannen_claims.claims``) are read seed by seed (``seedwise_verdict``): holds when
  the claim holds on each of n >= 2 seeds, contradicted when it fails on each, otherwise
  not shown (with 3 seeds a lenient reading: 1 in 8 under symmetric noise, about the
  paired rule's leniency at 3 seeds).
"""

import collections
import datetime
import glob
import json
import math
import os
import re

import numpy as np

from tfmi.evaluation.benchmarking import markdown_table
from tfmi.evaluation.checkpoints import read_eval_curve
from tfmi.evaluation.seed_claims import CLOSE_TOLERANCE, PAIRED_Z, paired_verdict
from tfmi.evaluation.seed_curves import seed_values, summary
from tfmi.evaluation.tschannen_claims import (
    FIGURES,
    claims,
    group_runs,
    label,
    load_run,
    results_table,
)
from tfmi.json_files import write_json
from tfmi.workdir import Workdir

FOLLOW_TOLERANCE = 0.1  # nats: "DEMI-VAR follows DEMI", "I_BO accurately estimates the critic"
LAST = 10  # logged estimates averaged for a metrics.jsonl final (plot_tschannen's --last)
METRIC_PREFIXES = ("train/mi", "train/true_mi", "jacobian/log_condition_p")  # metrics.jsonl fields kept

# --- statistics ----------------------------------------------------------------------------


def seed_stats(values):
    """{"mean", "sd", "n"} of per-seed values (a {seed: value} dict or a list; None and
    non-finite values left out): the mean, the sample sd (ddof 1; None for one value)."""
    values = list(values.values()) if isinstance(values, dict) else list(values)
    values = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not values:
        return {"mean": None, "sd": None, "n": 0}
    mean, _, high = summary(values, "std")  # (mean, mean - sd, mean + sd)
    return {"mean": mean, "sd": high - mean if len(values) > 1 else None, "n": len(values)}


def format_stat(stat, digits=2, percent=False):
    """"mean ± sd" (one value: the value alone; none: "-")."""
    if stat["mean"] is None:
        return "-"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = f"{scale * stat['mean']:.{digits}f}"
    return text + (f" ± {scale * stat['sd']:.{digits}f}{unit}" if stat["sd"] is not None else unit)


def constant(value, seeds):
    """{seed: value} for each of ``seeds``: a stated value paired with every seed."""
    return {seed: float(value) for seed in seeds}


def under_ceiling(values, ceiling):
    """paired_verdict of "the ceiling exceeds the estimate" over the seeds of ``values``."""
    return paired_verdict(constant(ceiling, values), values)


def within(a, b, tolerance=FOLLOW_TOLERANCE):
    """(verdict, mean of a - b, its standard error) of "a follows b within ``tolerance``"
    (module docstring: two one-sided paired tests)."""
    above, mean_low, stderr = paired_verdict(a, b, margin=-tolerance)
    below, _, _ = paired_verdict(b, a, margin=-tolerance)
    verdict = all_of([above, below])
    return verdict, mean_low - tolerance, stderr


def all_of(verdicts):
    """One verdict for several comparisons read together (module docstring)."""
    verdicts = list(verdicts)
    if verdicts and all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "contradicted" for v in verdicts):
        return "contradicted"
    shown = [v for v in verdicts if v.startswith("not shown")]
    return min(shown, key=_seed_count) if shown else "not shown at 0 seeds"


def _seed_count(verdict):
    found = re.search(r"(\d+) seed", verdict)
    return int(found.group(1)) if found else 0


def not_shown(n):
    """The wording of ``paired_verdict`` for n seeds."""
    return f"not shown at {n} seed{'' if n == 1 else 's'}"


def seedwise_verdict(outcomes):
    """A claim's verdict from its outcome on each seed ({seed: bool}; module docstring)."""
    n = len(outcomes)
    if n >= 2 and all(outcomes.values()):
        return "holds"
    if n >= 2 and not any(outcomes.values()):
        return "contradicted"
    return not_shown(n)


def tally(verdicts):
    """"holds 9/12, contradicted 3/12": how many of the verdicts read each way."""
    counts = collections.Counter("not shown" if v.startswith("not shown") else v for v in verdicts)
    order = ("holds", "not shown", "contradicted")
    return ", ".join(f"{name} {counts[name]}/{len(verdicts)}" for name in order if counts[name])


# --- per-seed files --------------------------------------------------------------------


def read_seed_folder(folder):
    """{RUN: {seed: record}} of FOLDER/RUN/seed_N.json ({} when the folder is absent)."""
    found = collections.defaultdict(dict)
    for path in sorted(glob.glob(os.path.join(folder, "*", "seed_*.json"))):
        with open(path) as handle:
            record = json.load(handle)
        seed = record.get("seed", int(re.search(r"seed_(\d+)", os.path.basename(path)).group(1)))
        found[os.path.basename(os.path.dirname(path))][seed] = record
    return dict(found)


# --- wall time of a run ----------------------------------------------------------------

_EPOCH = re.compile(r"^[IWEF]0000 00:00:(\d+\.\d+)\s+(\d+) ")
_GLOG = re.compile(r"^[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d\.\d+)\s")


def train_wall_seconds(log_path):
    """(seconds, processes) of training from a workdir's train.log, or (None, 0).

    Each process that wrote the log (a resumed run has several) starts at its first
    absl line, which carries the Unix time ("I0000 00:00:<epoch> <pid>"), and ends at its
    last time-stamped line ("IMMDD HH:MM:SS.ffffff", read in this machine's time zone, the
    runs' own here); the seconds are the sum over processes (a pause between them is
    not counted). Python's start before TensorFlow's first line is missed (a few seconds,
    minutes on a loaded machine), so this is a lower bound.
    """
    if not os.path.exists(log_path):
        return None, 0
    segments = []  # [start epoch, pid, last epoch]
    with open(log_path, errors="replace") as handle:
        for line in handle:
            epoch = _EPOCH.match(line)
            if epoch:
                stamp, pid = float(epoch.group(1)), epoch.group(2)
                if not segments or segments[-1][1] != pid:
                    segments.append([stamp, pid, stamp])
                continue
            stamp = _GLOG.match(line)
            if stamp and segments:
                start = datetime.datetime.fromtimestamp(segments[-1][0])
                month, day, hour, minute, second = (float(g) for g in stamp.groups())
                when = datetime.datetime(start.year, int(month), int(day), int(hour), int(minute)) + \
                    datetime.timedelta(seconds=second)
                segments[-1][2] = max(segments[-1][2], when.timestamp())
    if not segments:
        return None, 0
    return sum(end - start for start, _, end in segments), len(segments)


def wall_seconds(workdir):
    """{"train", "processes", "eval"}: training seconds from train.log
    (``train_wall_seconds``) and evaluation seconds, the sum of eval_curve.json's
    per-checkpoint "seconds" (restore, features, classifier, bounds; the evaluation
    process's start and data loading, 15-25 s a run, are not in the file), None without one."""
    train, processes = train_wall_seconds(os.path.join(workdir, "train.log"))
    curve = read_eval_curve(workdir)
    evaluation = float(sum(r.get("seconds") or 0.0 for r in curve["records"])) if curve else None
    return {"train": train, "processes": processes, "eval": evaluation}


def measure_wall_times(roots):
    """{root name: {"runs", "train_seconds", "eval_seconds", "processes"}} over every
    trainer workdir (a folder holding config.json) below each root."""
    measured = {}
    for root in roots:
        runs = [os.path.dirname(p) for p in sorted(glob.glob(os.path.join(root, "**", "config.json"), recursive=True))]
        walls = [wall_seconds(run) for run in runs]
        measured[os.path.basename(os.path.normpath(root))] = {
            "runs": len(runs),
            "runs_timed": sum(w["train"] is not None for w in walls),
            "train_seconds": sum(w["train"] or 0.0 for w in walls),
            "eval_seconds": sum(w["eval"] or 0.0 for w in walls),
            "processes": sum(w["processes"] for w in walls),
        }
    return measured


# --- Tschannen et al.: export ----------------------------------------------------------

FIGURE_OF = {experiment: key for key, figure in FIGURES.items() for experiment in figure["experiments"]}


def figure_folder(key):
    """The per-seed folder of a figure key of ``tschannen_claims.FIGURES``: fig3, noniid."""
    return f"fig{key}" if key.isdigit() else key


def run_finished(run):
    """(finished, why not): trained to its config's total_steps and, for an image-halves
    run, evaluated at that step (eval_curve.json is written checkpoint by checkpoint)."""
    total = run["config"].get("total_steps")
    logged = max((r["step"] for r in run["metrics"]), default=None)
    if logged is None or logged < total:
        return False, f"trained to step {logged} of {total}"
    if run["desc"]["experiment"] == "noniid_gaussian":
        return True, ""
    evaluated = max((r["step"] for r in run["records"]), default=None)
    if evaluated is None or evaluated < total:
        return False, f"no eval_curve.json record at step {total} (last: {evaluated})"
    return True, ""


def sweep_commands(log_paths):
    """{workdir: (config spec, extra arguments)} from tools/sweep.py logs (their lines
    "[i/n] -m trainers.train --config SPEC --workdir W --config.seed=S EXTRA")."""
    pattern = re.compile(r"-m trainers\.train --config (\S+) --workdir (\S+) --config\.seed=\d+(.*)$")
    found = {}
    for path in log_paths or ():
        with open(path, errors="replace") as handle:
            for line in handle:
                match = pattern.search(line)
                if match:
                    found[os.path.abspath(match.group(2))] = (match.group(1), match.group(3).strip())
    return found


def run_command(workdir, run, sweeps):
    """{"config", "arg", "root", "seeds", "extra", "eval_flags", "command"}: the sweep that
    trains this run and the evaluation that writes its eval_curve.json (eval_flags None:
    no evaluation). The config argument and the extra flags come from the sweep's log when
    given, else from the workdir's name (tools/sweep.py's "," -> "_", "=" -> "-") and
    --config.total_steps."""
    workdir = os.path.abspath(workdir)
    name_dir, root = os.path.dirname(workdir), os.path.dirname(os.path.dirname(workdir))
    spec, extra = sweeps.get(workdir, (None, None))
    if spec is None:
        arg = os.path.basename(name_dir).replace("_", ",").replace("-", "=")
        spec = f"configs/{run['desc']['experiment']}.py:{arg}"
        extra = f"--config.total_steps={run['config'].get('total_steps')}"
    config, _, arg = spec.partition(":")
    seeds = sorted(int(s.split("_")[1]) for s in os.listdir(name_dir) if re.fullmatch(r"seed_\d+", s))
    short_root = f"runs/{os.path.basename(root)}"
    command = (f"python tools/sweep.py --config {config} --root {short_root} --seeds {' '.join(map(str, seeds))} "
               f"--args {arg}" + (f" -- {extra}" if extra else ""))
    settings, flags = run.get("settings"), None
    if settings:
        flags = " ".join([f"--{flag} {settings[flag]}" for flag in ("num_train", "num_test") if settings.get(flag)] +
                         (["--no_pixels"] if run.get("pixel") is None else []))
        command += (f" && python tools/eval_checkpoints.py --workdir {short_root}/{os.path.basename(name_dir)}/"
                    f"{os.path.basename(workdir)} {flags}").rstrip()
    return {"config": config, "arg": arg, "root": short_root, "seeds": seeds, "extra": extra, "eval_flags": flags,
            "command": command}


def seed_record(workdir, run, sweeps, commit=None):
    """The per-seed JSON of a finished Tschannen et al. run (module docstring)."""
    if run["records"]:
        last = run["records"][-1]
        final = {key: last.get(key) for key in ("test_accuracy", "train_accuracy", "mi", "loss")}
    else:
        final = {"mi": seed_values([run], "train/mi", LAST).get(run["seed"])}
    metrics = [{k: v for k, v in r.items() if k == "step" or k.startswith(METRIC_PREFIXES)} for r in run["metrics"]]
    figure = FIGURE_OF[run["desc"]["experiment"]]
    sweep = run_command(workdir, run, sweeps)
    return {
        "paper": "Tschannen et al. (2020)",
        "figure": figure,
        "config": label(run["desc"]),
        "run": os.path.basename(os.path.dirname(os.path.normpath(workdir))),
        "seed": run["seed"],
        "description": run["desc"],
        "steps": run["config"].get("total_steps"),
        "final_step": max(r["step"] for r in (run["records"] or run["metrics"])),
        "final": final,
        "final_reads": "the last eval_curve.json record" if run["records"] else
                       f"the mean of the last {LAST} logged train/mi (as tools/plot_tschannen.py --table reads it)",
        "pixel": run["pixel"],
        "records": run["records"],
        "metrics": [m for m in metrics if len(m) > 1],
        "wall_seconds": wall_seconds(workdir),
        "commit": commit,
        "sweep": sweep,
        "command": sweep["command"],
    }


def export_tschannen(workdirs, out_folder, sweep_logs=(), commit=None):
    """Writes OUT/FIGURE/RUN/seed_N.json for each finished workdir of a Tschannen et al.
    experiment; returns (written paths, [(workdir, why skipped)])."""
    sweeps = sweep_commands(sweep_logs)
    written, skipped = [], []
    for workdir in workdirs:
        run = load_run(workdir)
        if run["desc"]["experiment"] not in FIGURE_OF:
            skipped.append((workdir, f"a {run['desc']['experiment']!r} run, not one of Tschannen et al.'s"))
            continue
        finished, why = run_finished(run)
        if not finished:
            skipped.append((workdir, why))
            continue
        run["settings"] = (read_eval_curve(workdir) or {}).get("settings")
        record = seed_record(workdir, run, sweeps, commit)
        path = os.path.join(out_folder, figure_folder(record["figure"]), record["run"], f"seed_{record['seed']}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(record, path)
        written.append(path)
    return written, skipped


def export_table_seeds(table_path, out_folder, command=None, seed=0):
    """Per-seed JSON of a one-seed figure whose workdirs are gone, from its
    tools/plot_tschannen.py ``--table`` JSON (Fig. 1): two records per config, the first
    evaluated step (step 0) and the last, with the values the table holds; ``command``
    defaults to the figure's in ``TSCHANNEN``."""
    with open(table_path) as handle:
        table = json.load(handle)
    command = command or TSCHANNEN[table["figure"]]["command"]
    written = []
    for row in table["rows"]:
        if row["seeds"] != 1:
            raise ValueError(f"{table_path}: {row['config']} has {row['seeds']} seeds; export its workdirs instead.")
        final = {key: (row.get(key) or [None])[0] for key in ("test_accuracy", "train_accuracy", "mi", "loss")}
        records = [{"step": 0, "test_accuracy": row["first_accuracy"]}, {"step": row["final_step"], **final}]
        name = os.path.basename(os.path.normpath(row["workdirs"][0]))
        record = {"paper": "Tschannen et al. (2020)", "figure": table["figure"], "config": row["config"], "run": name,
                  "seed": seed, "description": row["desc"], "steps": row["final_step"], "final_step": row["final_step"],
                  "final": final, "final_reads": f"{table_path} (one seed; its workdirs are gone)",
                  "pixel": row["pixel_baseline"], "records": records, "metrics": [], "wall_seconds": None,
                  "command": command}
        path = os.path.join(out_folder, figure_folder(table["figure"]), name, f"seed_{seed}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(record, path)
        written.append(path)
    return written


# --- Sordoni et al. (DEMI): export ----------------------------------------------------


def demi_run(workdir, last=LAST):
    """{"figure", "method", "k", "total_mi", "estimate", "std"} of a configs/demi_synthetic.py
    workdir, or None (no config, no metrics, another experiment, no estimate logged):
    ``estimate`` the mean of the last ``last`` logged estimates (train/mi; train/mi_nce_is
    for the bottom figure, I_NCE + I_IS), ``std`` their spread."""
    run = Workdir(workdir)
    return demi_summary(run.read_config(), run.read_metrics(), last)


def demi_summary(config, records, last=LAST):
    """``demi_run``'s values from a workdir's config and metrics records."""
    if not config or not records or config.get("experiment") != "demi_synthetic":
        return None
    figure = config.get("figure", "top")
    metric = "train/mi_nce_is" if figure == "bottom" else "train/mi"
    values = np.array([r[metric] for r in records if metric in r][-last:], dtype=np.float64)
    if not len(values):
        return None
    return {"figure": figure, "method": config["model"]["method"], "k": config["k"],
            "total_mi": config["data"]["total_mi"], "estimate": float(values.mean()), "std": float(values.std())}


def export_demi(workdirs, out_folder, sweep_logs=(), commit=None):
    """Writes OUT/RUN/seed_N.json for each configs/demi_synthetic.py workdir trained to its
    total_steps (``demi_run``'s values, the seed, the steps, the commit, the sweep command
    and the wall time); returns (written paths, [(workdir, why skipped)])."""
    sweeps = sweep_commands(sweep_logs)
    written, skipped = [], []
    for workdir in workdirs:
        run = Workdir(workdir)
        config, records = run.read_config() or {}, run.read_metrics() or []
        logged = max((r["step"] for r in records), default=None)
        summary = demi_summary(config, records)
        if summary is None or logged is None or logged < config["total_steps"]:
            skipped.append((workdir, f"trained to step {logged} of {config.get('total_steps')}"))
            continue
        name = os.path.basename(os.path.dirname(os.path.normpath(workdir)))
        bottom = ",bottom" if summary["figure"] == "bottom" else ""
        arg = f"{summary['method']}{bottom},k={summary['k']},mi={summary['total_mi']:g}"
        sweeps.setdefault(os.path.abspath(workdir), (f"configs/demi_synthetic.py:{arg}", ""))
        sweep = run_command(workdir, {"desc": {"experiment": "demi_synthetic"}, "config": config}, sweeps)
        record = {**summary, "seed": config["seed"], "steps": config["total_steps"], "commit": commit, "last": LAST,
                  "wall_seconds": wall_seconds(workdir), "command": sweep["command"]}
        path = os.path.join(out_folder, name, f"seed_{config['seed']}.json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_json(record, path)
        written.append(path)
    return written, skipped


def export_runs(workdirs, runs_folder, sweep_logs=(), commit=None):
    """Per-seed files of finished runs: DEMI's under RUNS/demi_synthetic (``export_demi``),
    Tschannen et al.'s under RUNS/tschannen (``export_tschannen``); (written, skipped)."""
    demi = [w for w in workdirs if (Workdir(w).read_config() or {}).get("experiment") == "demi_synthetic"]
    others = [w for w in workdirs if w not in demi]
    written, skipped = export_demi(demi, os.path.join(runs_folder, "demi_synthetic"), sweep_logs, commit)
    more_written, more_skipped = export_tschannen(others, os.path.join(runs_folder, "tschannen"), sweep_logs, commit)
    return written + more_written, skipped + more_skipped


# --- Tschannen et al.: over seeds ------------------------------------------------------


def tschannen_runs(folder):
    """The runs of a figure's per-seed folder, in the shape ``tschannen_claims.load_run``
    gives (what ``results_table`` and ``claims`` read)."""
    runs = []
    for name, seeds in read_seed_folder(folder).items():
        for seed, record in sorted(seeds.items()):
            runs.append({"workdir": f"{name}/seed_{seed}", "config": None, "desc": record["description"],
                         "seed": seed, "records": record["records"], "pixel": record.get("pixel"),
                         "metrics": record.get("metrics") or [], "file": record})
    return runs


def tschannen_figure(figure, runs):
    """{"rows", "claims"} of a figure over seeds: ``results_table`` (mean ± sd) and
    ``claims``, each claim with "verdict" (paired claims as ``claims`` reads them; its
    booleans seed by seed, ``seedwise_verdict``) and "seeds"."""
    groups = group_runs(runs)
    rows = results_table(figure, groups, "std", LAST)
    found = claims(figure, rows)
    outcomes = collections.defaultdict(dict)
    for seed in sorted({run["seed"] for run in runs}):
        single = [(desc, [r for r in members if r["seed"] == seed]) for desc, members in groups]
        single_rows = results_table(figure, [(d, m) for d, m in single if m], "std", LAST)
        for claim in claims(figure, single_rows):
            if not isinstance(claim["holds"], str):
                outcomes[claim["claim"]][seed] = bool(claim["holds"])
    for claim in found:
        if isinstance(claim["holds"], str):
            claim["verdict"] = claim["holds"]
        else:
            claim["verdict"] = seedwise_verdict(outcomes[claim["claim"]])
            claim["per_seed"] = dict(outcomes[claim["claim"]])
    return {"rows": rows, "claims": found}


def tschannen_values_table(rows):
    """Markdown: per config, the seeds, the final step and mean ± sd of the finals (no sd
    for one seed)."""
    def cell(stat, seeds, percent=False):
        if stat is None:
            return "-"
        mean, _, high = stat  # results_table's "std" spread: (mean, mean - sd, mean + sd)
        return format_stat({"mean": mean, "sd": high - mean if seeds > 1 else None}, 1 if percent else 3, percent)

    body = [[row["config"].replace("|", "\\|"), str(row["seeds"]), str(row["final_step"]),
             cell(row["test_accuracy"], row["seeds"], True), cell(row["train_accuracy"], row["seeds"], True),
             cell(row["mi"], row["seeds"]), cell(row["loss"], row["seeds"])] for row in rows]
    return markdown_table(["config", "seeds", "final step", "test accuracy", "train accuracy", "I_EST (nats)",
                           "loss L_t"], body)


# --- Sordoni et al. (DEMI), Fig. 2 ----------------------------------------------------

DEMI_METHODS = ("infonce", "demi", "demi_is", "demi_bo", "demi_var")
BOTTOM = "demi_bo_bottom"  # Fig. 2 (bottom): DEMI-BO read as I_NCE + I_IS on shared negatives
DEMI_LABELS = {"infonce": "InfoNCE", "demi": "DEMI (true p(y|x'))", "demi_is": "DEMI-IS", "demi_bo": "DEMI-BO",
               "demi_var": "DEMI-VAR", BOTTOM: "I_NCE+I_IS (DEMI-BO, bottom)"}


def demi_cells(folder):
    """{(total MI, K): {method: {seed: estimate}}} of the per-seed files; a bottom-figure
    run is the method ``BOTTOM``."""
    cells = collections.defaultdict(dict)
    for seeds in read_seed_folder(folder).values():
        for seed, record in seeds.items():
            key = (float(record["total_mi"]), int(record["k"]))
            method = BOTTOM if record.get("figure", "top") == "bottom" else record["method"]
            cells[key].setdefault(method, {})[seed] = float(record["estimate"])
    return dict(cells)


def demi_ceiling(method, k, total_mi):
    """The most a method can read with K candidates: log K for InfoNCE, 2 log(K/2) for
    DEMI's two terms of K/2, 2 log K for the bottom figure's two terms sharing K, and never
    more than the true MI (all are lower bounds)."""
    bound = {"infonce": math.log(k), BOTTOM: 2 * math.log(k)}.get(method, 2 * math.log(k / 2))
    return min(bound, total_mi)


def demi_claims(cells):
    """The paper's readings of Fig. 2, each checked in every (MI, K) cell that has its
    runs: [{"id", "figure", "claim", "sides" (the methods its values show), "cells": {(MI,
    K): (verdict, mean difference or smallest margin, its standard error or None)}}]."""
    found = []

    def add(key, figure, claim, sides, check):
        result = {}
        for cell, methods in sorted(cells.items()):
            verdict = check(cell, methods)
            if verdict is not None:
                result[cell] = verdict
        found.append({"id": key, "figure": figure, "claim": claim, "sides": sides, "cells": result})

    def pair(a, b, test=paired_verdict):
        return lambda cell, m: test(m[a], m[b]) if a in m and b in m else None

    def weakest(cell, methods):
        top = {m: values for m, values in methods.items() if m in DEMI_METHODS}
        if "demi_is" not in top or len(top) < 2:
            return None
        tests = [paired_verdict(top[m], top["demi_is"]) for m in top if m != "demi_is"]
        return all_of(t[0] for t in tests), min(t[1] for t in tests), None

    def ceilings(methods_read):
        def check(cell, methods):
            tests = [under_ceiling(values, demi_ceiling(m, cell[1], cell[0]))
                     for m, values in methods.items() if m in methods_read]
            return (all_of(t[0] for t in tests), min(t[1] for t in tests), None) if tests else None
        return check

    def close(cell, methods):
        if BOTTOM not in methods:
            return None
        ceiling = demi_ceiling(BOTTOM, cell[1], cell[0])
        verdict, mean, stderr = paired_verdict(methods[BOTTOM], constant(ceiling - CLOSE_TOLERANCE, methods[BOTTOM]))
        return verdict, mean - CLOSE_TOLERANCE, stderr

    add("nce", "top", "DEMI (K/2 candidates per term) captures more of the MI than InfoNCE with K, at every K and MI",
        ("demi", "infonce"), pair("demi", "infonce"))
    add("var", "top", f"DEMI-VAR follows DEMI (within {FOLLOW_TOLERANCE:g} nats)", ("demi_var", "demi"),
        pair("demi_var", "demi", within))
    add("bo", "top",
        f"I_BO accurately estimates the conditional critic (DEMI-BO within {FOLLOW_TOLERANCE:g} nats of DEMI)",
        ("demi_bo", "demi"), pair("demi_bo", "demi", within))
    add("is", "top", "DEMI-IS is the weakest (below every other method)", ("demi_is", "demi_bo"), weakest)
    add("ceiling", "top", "every method under its ceiling: log K (InfoNCE), 2 log(K/2) (DEMI), and the true MI",
        ("infonce", "demi"), ceilings(DEMI_METHODS))
    add("bottom_nce", "bottom", "without p(y|x') at training or evaluation time, DEMI-BO read as I_NCE + I_IS "
        "captures more of the MI than InfoNCE with the same K", (BOTTOM, "infonce"), pair(BOTTOM, "infonce"))
    add("bottom_ceiling", "bottom", "I_NCE + I_IS stays under its ceiling: 2 log K (shared negatives) and the true MI",
        (BOTTOM,), ceilings((BOTTOM,)))
    add("bottom_close", "bottom", f"I_NCE + I_IS approaches its ceiling min(2 log K, true MI): within "
        f"{CLOSE_TOLERANCE:g} nats of it (our reading of 'approaches')", (BOTTOM,), close)
    return found


def demi_ours(claim, cells):
    """"ours" of a claim: the cells where it does not hold (at most 4, values mean ± sd of
    its sides), else its cell of largest MI and K."""
    missed = [cell for cell, verdict in claim["cells"].items() if verdict[0] != "holds"]
    shown = []
    for total, k in (missed or [max(claim["cells"])])[:4]:
        methods = cells[(total, k)]
        sides = []
        for method in claim["sides"]:
            text = f"{DEMI_LABELS[method].split(' ')[0]} {format_stat(seed_stats(methods.get(method, {})))}"
            if claim["id"] in ("ceiling", "bottom_ceiling", "bottom_close"):
                text += f" (ceiling {demi_ceiling(method, k, total):.2f})"
            sides.append(text)
        shown.append(f"{total:g} nats, K={k}: " + " vs ".join(sides))
    head = f"not holding in {len(missed)} of {len(claim['cells'])} cells: " if missed else ""
    return head + "; ".join(shown) + (" ..." if len(missed) > 4 else "")


def demi_values_table(cells):
    """Markdown: per total MI and method, mean ± sd (n) of the estimate at each K, then
    the ceilings."""
    ks = sorted({k for _, k in cells})
    body = []
    for total in sorted({mi for mi, _ in cells}):
        for method in DEMI_METHODS + (BOTTOM,):
            stats = [seed_stats(cells.get((total, k), {}).get(method, {})) for k in ks]
            if any(s["n"] for s in stats):
                body.append([f"{total:g}", DEMI_LABELS[method].replace("|", "\\|")] +
                            [f"{format_stat(s)} ({s['n']})" if s["n"] else "-" for s in stats])
    body.append(["", "log K"] + [f"{math.log(k):.2f}" for k in ks])
    body.append(["", "2 log(K/2)"] + [f"{2 * math.log(k / 2):.2f}" for k in ks])
    if any(BOTTOM in methods for methods in cells.values()):
        body.append(["", "2 log K (bottom)"] + [f"{2 * math.log(k):.2f}" for k in ks])
    return markdown_table(["total MI", "method"] + [f"K={k} (n)" for k in ks], body)


def demi_verdict_table(found):
    """Markdown: each claim's verdict per total MI (rows) and K (columns), with the mean
    difference ± its standard error where one comparison decides it."""
    keys = sorted({key for claim in found for key in claim["cells"]})
    ks = sorted({k for _, k in keys})
    body = []
    for index, claim in enumerate(found, 1):
        for total in sorted({mi for mi, _ in keys}):
            cells = []
            for k in ks:
                verdict = claim["cells"].get((total, k))
                if verdict is None:
                    cells.append("-")
                elif verdict[2] is None or not math.isfinite(verdict[2]):
                    cells.append(f"{verdict[0]} (min margin {verdict[1]:+.2f})")
                else:
                    cells.append(f"{verdict[0]} ({verdict[1]:+.2f} ± {verdict[2]:.2f})")
            body.append([f"D{index}", f"{total:g}"] + cells)
    return markdown_table(["claim", "total MI"] + [f"K={k}" for k in ks], body)


# --- the staircase (Poole et al. 2019), a warm-up ---------------------------------------


def staircase_claims(folder):
    """Three readings of Poole et al.'s Fig. 2 on the reduced staircase, over seeds:
    [{"claim", "ours", "verdict"}] (InfoNCE under log(batch) at every stage, the
    interpolated bound under 1 + log((batch - 1) / alpha), DV above the truth at the
    largest MI)."""
    runs = read_seed_folder(folder)
    found = []

    def stages(name):
        seeds = runs.get(name, {})
        values = collections.defaultdict(dict)
        for seed, record in seeds.items():
            for mi, mean in record["stage_means"].items():
                values[float(mi)][seed] = mean
        batch = next(iter(seeds.values()))["batch_size"] if seeds else None
        return dict(values), batch

    for task in ("", ",cubic"):
        values, batch = stages(f"infonce{task}")
        if values:
            ceiling = math.log(batch)
            tests = [under_ceiling(v, ceiling) for v in values.values()]
            top = seed_stats(values[max(values)])
            found.append({"claim": f"InfoNCE ({task[1:] or 'gaussian'}) stays under log {batch} = {ceiling:.2f} "
                                   "at every stage",
                          "ours": f"{format_stat(top)} at {max(values):g} nats (n={top['n']})",
                          "verdict": all_of(t[0] for t in tests)})
    values, batch = stages("interpolated")
    if values:
        ceiling = 1 + math.log((batch - 1) / 0.5)
        top = seed_stats(values[max(values)])
        found.append({"claim": f"interpolated (alpha 0.5) under 1 + log({batch - 1}/0.5) = {ceiling:.2f}",
                      "ours": f"{format_stat(top)} at {max(values):g} nats (n={top['n']})",
                      "verdict": all_of(under_ceiling(v, ceiling)[0] for v in values.values())})
    values, _ = stages("dv")
    if values:
        top_mi = max(values)
        top = seed_stats(values[top_mi])
        found.append({"claim": f"DV is no bound at finite batch: above the true MI at {top_mi:g} nats",
                      "ours": f"{format_stat(top)} (n={top['n']})",
                      "verdict": paired_verdict(values[top_mi], constant(top_mi, values[top_mi]))[0]})
    return found


# --- the one-seed table of docs/experiments.md ------------------------------------------


def one_seed_verdicts(markdown_path):
    """{claim: "yes" | "no"} of the one-seed claims table in docs/experiments.md (rows
    "| figure | claim | ours | holds |")."""
    found = {}
    if not os.path.exists(markdown_path):
        return found
    with open(markdown_path) as handle:
        for line in handle:
            cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
            if len(cells) == 4 and cells[3].lower() in ("yes", "no"):
                found[cells[1]] = cells[3].lower()
    return found


def changed_verdicts(one_seed, claims_over_seeds):
    """[(claim, one-seed verdict, verdict over seeds)] where the two differ: "yes" then
    anything but "holds", "no" then anything but "contradicted"."""
    changed = []
    for claim in claims_over_seeds:
        before = one_seed.get(claim["claim"])
        if before is not None and claim["verdict"] != ("holds" if before == "yes" else "contradicted"):
            changed.append((claim["claim"], before, claim["verdict"]))
    return changed


# --- the report's tables ------------------------------------------------------------------


def claims_table(rows):
    """Markdown of the report's per-paper table: rows of (figure, paper's claim, ours,
    verdict, command, figure link)."""
    header = ["figure", "paper's value or claim", "ours", "verdict", "command", "figure"]
    body = [[str(cell).replace("|", "\\|").replace("\n", " ") for cell in row] for row in rows]
    return markdown_table(header, body)


def statistics_paragraph():
    """The report's statement of its statistics (the module docstring, in short)."""
    return (
        f"Values are mean ± sd over seeds (sample sd, ddof 1) with n the seeds. \"A > B\" between configs holds when "
        f"the mean of the paired per-seed differences exceeds {PAIRED_Z:g} standard errors of it "
        f"(`tfmi.evaluation.seed_claims.paired_verdict`), is contradicted below -{PAIRED_Z:g}, and is otherwise "
        "\"not shown at n seeds\" (always so at one seed); with 3 seeds this is lenient (a Student-t test at 95% "
        "would ask 4.3). A ceiling c is read as c > A by the same test; \"A follows B\" as two one-sided paired "
        f"tests at a tolerance of {FOLLOW_TOLERANCE:g} nats (holds when both hold, contradicted when either is); "
        "several comparisons read together hold when all hold and are contradicted when any is. Tschannen et "
        "al.'s claims against a stated value or a run's own start are read seed by seed: holds on every seed "
        "(n >= 2), contradicted on none, otherwise not shown. Library: `tfmi.evaluation.reproduction`."
    )


# --- the report ------------------------------------------------------------------------------

EVAL_FLAGS = "--num_train 10000 --num_test 2000 --no_pixels"
TSCHANNEN = {  # per figure key: its label, the runs its sweep makes, its setting, its command when no file has one
    "1": {"label": "Fig. 1", "expected": 9, "png": "tschannen_fig1",
          "roots": "runs/tsch_fig1_seeds runs/tsch_fig1adv_seeds",
          "setting": "RealNVP 1,000 of 21,000 steps; adversarial 12,000 of 45,000 steps (1,000 of 4,000 encoder "
                     "iterations, the notebook's learning rates 1e-3 / 1e-5)",
          "command": "python tools/sweep.py --config configs/mnist_invertible.py --root runs/tsch_fig1_seeds --args "
                     "nce nwj --seeds 0 1 2 -- --config.total_steps=1000 --config.checkpoint_every=250 && python "
                     "tools/sweep.py --config configs/mnist_adversarial.py --root runs/tsch_fig1adv_seeds --args "
                     "probe_lr=1e-3,encoder_lr=1e-5 --seeds 0 1 2 -- --config.total_steps=12000 "
                     "--config.checkpoint_every=1100 && python tools/eval_checkpoints.py --workdir "
                     "runs/tsch_fig1_seeds/*/seed_* runs/tsch_fig1adv_seeds/*/seed_* --num_train 10000 "
                     "--num_test 2000"},
    "2": {"label": "Fig. 2, 5", "expected": 6, "png": "tschannen_fig2", "roots": "runs/tsch_fig2_seeds",
          "setting": "3,000 of 21,000 steps",
          "command": "python tools/sweep.py --config configs/mnist_noninvertible.py --root runs/tsch_fig2_seeds "
                     f"--args nce nwj --seeds 0 1 2 -- --config.total_steps=3000 && python tools/eval_checkpoints.py "
                     f"--workdir runs/tsch_fig2_seeds/*/seed_* {EVAL_FLAGS}"},
    "3": {"label": "Fig. 3, 6", "expected": 18, "png": "tschannen_fig3", "roots": "runs/tsch_fig3_seeds",
          "setting": "4,000 of 21,000 steps",
          "command": "python tools/sweep.py --config configs/mnist_critic_capacity.py --root runs/tsch_fig3_seeds "
                     "--args bilinear,bound=nce separable,bound=nce concat,bound=nce bilinear,bound=nwj "
                     "separable,bound=nwj concat,bound=nwj --seeds 0 1 2 -- --config.total_steps=4000 && python "
                     f"tools/eval_checkpoints.py --workdir runs/tsch_fig3_seeds/*/seed_* {EVAL_FLAGS}"},
    "4": {"label": "Fig. 4a, b, 7", "expected": 12, "png": "tschannen_fig4", "roots": "runs/tsch_fig4_seeds",
          "setting": "3,000 of 21,000 steps (the paper reaches L_t ~ 0 after 7,000)",
          "command": "python tools/sweep.py --config configs/mnist_encoder_arch.py --root runs/tsch_fig4_seeds "
                     "--args mlp,t=2 mlp,t=4 convnet,t=2 convnet,t=4 --seeds 0 1 2 -- --config.total_steps=3000 && "
                     f"python tools/eval_checkpoints.py --workdir runs/tsch_fig4_seeds/*/seed_* {EVAL_FLAGS}"},
    "noniid": {"label": "Fig. 4c, App. E", "expected": 9, "png": "tschannen_noniid", "roots": "runs/tsch_noniid_seeds",
               "setting": "5,000 of 20,000 steps",
               "command": "python tools/sweep.py --config configs/noniid_gaussian.py --root runs/tsch_noniid_seeds "
                          "--args nce nce,iid nwj --seeds 0 1 2 -- --config.total_steps=5000"},
}

# What needs a GPU or data this machine cannot download: (paper, what, the paper's value, command, cost).
NOT_HERE = [
    ("Tschannen et al. (2020)", "Figs. 1-4 at the full setting (21,000 steps, 20 runs, full linear evaluation)",
     "the orderings above, averaged over 20 runs",
     "python tools/sweep.py --config configs/mnist_critic_capacity.py --root runs/fig3 --args bilinear,bound=nce "
     "separable,bound=nce concat,bound=nce bilinear,bound=nwj separable,bound=nwj concat,bound=nwj --seeds "
     "$(seq 0 19) (likewise the other configs) && python tools/eval_checkpoints.py --workdir runs/fig3/*/seed_*",
     "360 runs: about 8 days on this 2-core CPU (docs/experiments.md, from the steps/s of "
     "tools/bench_tschannen_cost.py: MLP 44-123, residual MLP 21-37, ConvNet ~9, RealNVP under 2), most of it "
     "RealNVP's; 3 seeds instead of 20 about 1.2 days. A GPU: run tools/bench_tschannen_cost.py there (not measured)."),
    ("Tschannen et al. (2020)", "Figs. 8, 9 (App. G): Figs. 3, 4 on CIFAR-10 halves, 63,000 steps",
     "pixels ~24%; bilinear / separable critics beat the MLP critic; ConvNet beats MLP at the same t",
     "python -m trainers.train --config configs/cifar10_halves.py:critic,critic=CRITIC,bound=BOUND --workdir "
     "runs/cifar10_halves/critic_BOUND_CRITIC (and :encoder,encoder=ENCODER,bound=BOUND,t=T)",
     "needs the tfds cifar10 download (not reachable here); at the MNIST steps/s (the CIFAR halves are 4x wider) "
     "about 8 days of CPU for 20 runs, over half of it the ConvNet runs of Fig. 9 (estimate, not measured)"),
    ("Sordoni et al. (2021)", "Table 1: InfoMin + DEMI on ImageNet (IN1K 70.8 ± 0.1%, IN100 78.6 ± 0.2%) and "
     "transfer (STL10 96.4, C10 92.8, C100 75.0, Cars 51.8, CUB 43.6, Flowers 95.0)",
     "DEMI above InfoMin (70.1%) and InfoMin (multi) (70.2%) on IN1K; +3.7% on IN100",
     "python -m trainers.train --config configs/imagenet_demi.py:subview=crop --workdir runs/in1k_demi "
     "--config.strategy=multiworker --config.data.manual_dir=/data/imagenet_tars && python tools/linear_eval.py "
     "--workdir runs/in1k_demi --dataset imagenet2012 (likewise imagenet_infomin.py, imagenet_infomin_multi.py, "
     "imagenet100_*.py)",
     "needs ImageNet (manual download, ~150 GB) and GPUs: 200 epochs of ResNet-50 are about 10^19 FLOP a run "
     "(x at 224 forward and backward, x' at 96, the momentum key forward), about 20 H100-hours a run at the "
     "150 TFLOP/s of docs/bench_vision.md, twice that with a real input pipeline; 3 methods x 3 seeds on IN1K "
     "about 200-400 H100-hours, IN100 a tenth (estimate, not measured)"),
    ("Sordoni et al. (2021)", "Sec. 5.2.2: SimCLR + DEMI on CIFAR-10, 1,000 epochs",
     "94.7% linear top-1 against SimCLR 94.0%",
     "python -m trainers.train --config configs/cifar_simclr_demi.py --workdir runs/cifar_simclr_demi && python "
     "tools/linear_eval.py --workdir runs/cifar_simclr_demi --dataset cifar10 (and configs/cifar_simclr.py)",
     "needs the cifar10 download; about 200 days a run on this CPU, 1.5 h of compute on one H100 (3-4 h with the "
     "input pipeline) by docs/bench_vision.md's estimate: 2 methods x 3 seeds about 20 H100-hours"),
    ("Sordoni et al. (2021)", "Tables 2, 5, 6: GPT-2 fine-tuned on Wizard of Wikipedia with InfoNCE / DEMI",
     "valid ppl: GPT2 19.21, InfoNCE 18.85, DEMI 18.70; BLEU 0.78 / 0.80 / 0.82 (3 seeds)",
     "python -m trainers.train --config configs/dialogue_gpt2.py:preset=gpt2_base_en,source=wow,path=DIR "
     "--workdir runs/dialogue/gpt2 --config.strategy=mirrored (then tools/sample_negatives.py, dialogue_demi.py, "
     "dialogue_infonce.py, dialogue_transfertransfo.py, dialogue_mmi.py, tools/eval_dialogue.py: "
     "docs/experiments.md)",
     "needs the pretrained GPT-2 weights and the WoW JSON (neither reachable here) and GPUs: 5 models x 3 seeds of "
     "20,000 steps at batch 10 (about 8 x 10^7 tokens a run, 124M parameters: ~6 x 10^16 FLOP, small batches), "
     "about an hour a run on one H100, plus sampling the DEMI negatives from GPT-2; at the CPU rate of "
     "docs/bench_dialogue.md scaled to GPT-2 small, weeks a run (estimate, not measured). A tiny offline "
     "stand-in (one seed) is in docs/experiments.md"),
]


def paper_steps(experiment):
    """The paper's training steps of a Tschannen et al. experiment (App. E: 20,000; the
    adversarial run of Fig. 1c: 1,000 + 11 x 4,000 encoder iterations; else 21,000)."""
    return {"noniid_gaussian": 20000, "mnist_adversarial": 45000}.get(experiment, 21000)


def tschannen_section(runs_folder, docs_folder):
    """(markdown, claims over seeds): the Tschannen et al. table, the commands, the values
    per config and what is still running."""
    rows, commands, values, pending, found_all = [], [], [], [], []
    for key, meta in TSCHANNEN.items():
        runs = tschannen_runs(os.path.join(runs_folder, "tschannen", figure_folder(key)))
        png = _figure_link(docs_folder, meta["png"])
        tag = f"T{key}"
        commands.append(f"- {tag}: `{_figure_command(runs) or meta.get('command', '')}`")
        if len(runs) < meta["expected"]:
            pending.append(f"- {meta['label']}: {len(runs)} of {meta['expected']} runs exported; command {tag}"
                           + (f"; cost of the missing seeds: {meta['cost']}" if "cost" in meta else ""))
        if not os.path.exists(os.path.join(docs_folder, f"{meta['png']}_seeds.png")):
            pending.append(f"- {meta['label']}, the figure over seeds: `python tools/plot_tschannen.py {meta['roots']} "
                           f"--figure {key} --out docs/{meta['png']}_seeds.png --table`")
        if not runs:
            rows.append([meta["label"], FIGURES[key]["title"], f"runs in progress ({meta['setting']})", "pending",
                         tag, png])
            continue
        figure = tschannen_figure(key, runs)
        found_all += figure["claims"]
        n = len({run["seed"] for run in runs})
        steps = sorted({(run["file"]["steps"], paper_steps(run["desc"]["experiment"])) for run in runs})
        where = f"n={n} seed{'s' if n > 1 else ''}, " + "; ".join(f"{ours:,} of {paper:,} steps"
                                                                 for ours, paper in steps)
        for claim in figure["claims"]:
            rows.append([meta["label"], claim["claim"], f"{claim['ours']} ({where})", claim["verdict"], tag, png])
        values.append(f"\n**{meta['label']}** ({meta['setting']}; {_seed_range(runs)} of the paper's 20 runs; "
                      "per-seed files "
                      f"[reproduction_runs/tschannen/{figure_folder(key)}/](reproduction_runs/tschannen/"
                      f"{figure_folder(key)}/)):\n\n{tschannen_values_table(figure['rows'])}")
    text = [claims_table(rows), "", "Commands (each per-seed file holds its run's own):", "", *commands, "",
            "Values per config (mean ± sd over seeds at the last step every seed reached):", "", *values]
    if pending:
        text += ["", "Still to come (rerun `--export` when the sweeps finish, then this tool):", "", *pending]
    return "\n".join(text), found_all


def _seed_range(runs):
    """"3" or "3 to 5": the seeds per config of a figure's runs."""
    counts = sorted(collections.Counter(run["file"]["run"] for run in runs).values())
    return f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]} to {counts[-1]}"


def _figure_command(runs):
    """The sweep and evaluation commands of a figure's per-seed files, one per sweep."""
    sweeps = collections.OrderedDict()
    for run in runs:
        sweep = run["file"].get("sweep")
        if not sweep:
            sweeps.setdefault(run["file"]["command"], None)
            continue
        key = (sweep["config"], sweep["root"], sweep["extra"])
        entry = sweeps.setdefault(key, {"args": [], "seeds": set(), "flags": sweep.get("eval_flags")})
        entry["args"] += [sweep["arg"]] if sweep["arg"] not in entry["args"] else []
        entry["seeds"] |= set(sweep["seeds"])
    parts = []
    for key, entry in sweeps.items():
        if entry is None:
            parts.append(key)
            continue
        config, root, extra = key
        text = (f"python tools/sweep.py --config {config} --root {root} --seeds "
                f"{' '.join(map(str, sorted(entry['seeds'])))} --args {' '.join(entry['args'])}" +
                (f" -- {extra}" if extra else ""))
        if entry["flags"] is not None:
            text += f" && python tools/eval_checkpoints.py --workdir {root}/*/seed_* {entry['flags']}".rstrip()
        parts.append(text)
    return " ; ".join(parts)


def _figure_link(docs_folder, stem):
    """A link to the seeds' figure when it exists, else to the one-seed figure."""
    if os.path.exists(os.path.join(docs_folder, f"{stem}_seeds.png")):
        return f"[over seeds]({stem}_seeds.png)"
    if os.path.exists(os.path.join(docs_folder, f"{stem}_reduced.png")):
        return f"[one seed]({stem}_reduced.png)"
    return "-"


DEMI_COMMAND = ("python tools/sweep.py --config configs/demi_synthetic.py --root runs/demi_seeds --seeds 0 1 2 "
                "--args {infonce,demi,demi_is,demi_bo,demi_var}\",k=\"{8,32,128}\",mi=\"{5,10,15,20}")
DEMI_BOTTOM_COMMAND = ("python tools/sweep.py --config configs/demi_synthetic.py --root runs/demi_seeds --seeds 0 1 2 "
                       "--args demi_bo\",bottom,k=\"{8,32,128}\",mi=\"{5,10,15,20}")
DEMI_FIGURE_COMMAND = ("python tools/plot_demi_synthetic.py runs/demi_seeds/*/seed_* "
                       "--out docs/demi_synthetic_seeds.png --last 10")
# docs/experiments.md's one-seed reading (seed 0, MI 10 and 20) of the claims it stated: yes (holds) or no
ONE_SEED_DEMI = {"mi": (10.0, 20.0), "read": {"nce": "holds", "var": "holds", "bo": "contradicted", "is": "holds",
                                              "ceiling": "holds", "bottom_close": "holds"}}


def demi_section(runs_folder):
    """(markdown, claims): the Sordoni et al. table, Fig. 2's values and its verdicts per cell."""
    cells = demi_cells(os.path.join(runs_folder, "demi_synthetic"))
    found = demi_claims(cells) if cells else []
    docs_folder = os.path.dirname(os.path.normpath(runs_folder))
    links = {
        "top": "[over seeds](demi_synthetic_seeds.png)"
        if os.path.exists(os.path.join(docs_folder, "demi_synthetic_seeds.png")) else
        "[seed 0, MI 10 and 20](demi_synthetic.png)",
        "bottom": "[over seeds](demi_synthetic_seeds_bottom.png)"
        if os.path.exists(os.path.join(docs_folder, "demi_synthetic_seeds_bottom.png")) else
        "[seed 0, MI 10 and 20](demi_synthetic_bottom.png)",
    }
    commands = {"top": "S2", "bottom": "S2b"}
    rows = []
    for index, claim in enumerate(found, 1):
        figure = f"Fig. 2 ({claim['figure']})"
        verdicts = [v[0] for v in claim["cells"].values()]
        if not verdicts:
            rows.append([figure, claim["claim"], f"D{index}: no cell has the runs it compares", "-",
                         commands[claim["figure"]], links[claim["figure"]]])
            continue
        n = max(len(cells[cell].get(side, {})) for cell in claim["cells"] for side in claim["sides"])
        rows.append([figure, claim["claim"], f"D{index}: {demi_ours(claim, cells)} (n={n}, 10,000 steps; "
                     "K in {8, 32, 128})", tally(verdicts), commands[claim["figure"]], links[claim["figure"]]])
    for paper, what, value, _, _ in NOT_HERE:
        if paper.startswith("Sordoni"):
            rows.append([what.split(":")[0], f"{what.split(':', 1)[-1].strip()}: {value}",
                         "not run: needs a GPU or a download (below)", "not run", "below", "-"])
    text = [claims_table(rows), "", f"- S2: `{DEMI_COMMAND}` (the per-seed files: "
            "[reproduction_runs/demi_synthetic/](reproduction_runs/demi_synthetic/))",
            f"- S2b: `{DEMI_BOTTOM_COMMAND}` (the per-seed files: reproduction_runs/demi_synthetic/demi_bo_bottom_*)",
            f"- Figures: `{DEMI_FIGURE_COMMAND}` (top and, beside it, *_bottom.png)", "",
            "Fig. 2, estimated I(x, x'; y) in nats, mean ± sd (n seeds) of each run's mean of its last 10 "
            "logged estimates (the bottom figure's row: I_NCE + I_IS with the critic DEMI-BO trained, K shared "
            "negatives); the paper prints no numbers:", "", demi_values_table(cells) if cells else "-", "",
            "Verdicts per cell (D1-D8 as above; in brackets the mean paired difference ± its standard error; for "
            "D4, D5 and D7 the smallest margin of the comparisons read together; for D8 the mean of the estimate "
            "minus its ceiling):", "",
            demi_verdict_table(found) if found else "-"]
    return "\n".join(text), found


def staircase_section(runs_folder):
    """Markdown: the staircase's three readings over seeds (a warm-up: Poole et al. 2019)."""
    found = staircase_claims(os.path.join(runs_folder, "staircase"))
    if not found:
        return "No per-seed staircase files."
    command = next(iter(next(iter(read_seed_folder(os.path.join(runs_folder, "staircase")).values())).values()))
    rows = [["Poole et al. Fig. 2", c["claim"], c["ours"], c["verdict"], "P", "[over seeds](staircase_seeds.png)"]
            for c in found]
    return "\n".join([claims_table(rows), "", f"- P: `{command['command']}` (5,000 of 20,000 steps: 1,000 per "
                      "stage; per-seed files [reproduction_runs/staircase/](reproduction_runs/staircase/); every "
                      "bound's table over seeds: [experiments.md](experiments.md#the-staircase-poole-et-al-2019))"])


def not_here_section():
    """Markdown: what needs a GPU or a download, with its command and estimated cost."""
    rows = [[paper, what, value, f"`{command}`", cost] for paper, what, value, command, cost in NOT_HERE]
    body = [[cell.replace("|", "\\|") for cell in row] for row in rows]
    return markdown_table(["paper", "what", "paper's value", "command", "estimated cost"], body)


def changes_section(tschannen_found, demi_found, experiments_md):
    """Markdown: the claims whose verdict over seeds differs from the one-seed reading of
    docs/experiments.md (its claims table; for DEMI, its reading at MI 10 and 20)."""
    lines = []
    one_seed = one_seed_verdicts(experiments_md)
    compared = [c for c in tschannen_found if c["claim"] in one_seed]
    for claim, before, after in changed_verdicts(one_seed, tschannen_found):
        why = " (the same single run, read by the seed rule: one seed shows no claim)" if after == not_shown(1) else ""
        lines.append(f"- Tschannen et al.: {claim}: {before} at one seed, **{after}**{why}")
    for claim in demi_found:
        expected = ONE_SEED_DEMI["read"].get(claim["id"])
        for (total, k), verdict in sorted(claim["cells"].items()):
            if expected and total in ONE_SEED_DEMI["mi"] and verdict[0] != expected:
                before = "no" if expected == "contradicted" else "yes"
                lines.append(f"- DEMI Fig. 2 ({claim['figure']}): {claim['claim']} at {total:g} nats, K={k}: "
                             f"{before} at one seed, **{verdict[0]}**")
        new = {cell: v[0] for cell, v in claim["cells"].items() if not expected or cell[0] not in ONE_SEED_DEMI["mi"]}
        if new:
            totals = " and ".join(f"{t:g}" for t in sorted({t for t, _ in new}))
            why = "not in the one-seed grid" if expected else "a reading the one-seed table did not state"
            lines.append(f"- DEMI Fig. 2 ({claim['figure']}), new over seeds at {totals} nats "
                         f"({why}): {claim['claim']}: {tally(list(new.values()))}")
    head = (f"Compared: {len(compared)} Tschannen et al. claims of the one-seed table in "
            "[experiments.md](experiments.md#tschannen-et-al-2020) that the exported runs check (\"yes\" reads as "
            "holds, \"no\" as contradicted), and DEMI's one-seed reading at 10 and 20 nats (every claim of the top "
            "figure yes but DEMI-BO's; the bottom figure's \"approaches its 2 log K ceiling\" yes). Changed:")
    return "\n".join([head, "", *(lines or ["- none"])])


ROOT_LABELS = {"demi_seeds": "Sordoni et al. Fig. 2 (top and bottom)",
               "staircase_seeds": "the staircase (warm-up)"}


def cpu_section(runs_folder, wall_times):
    """Markdown: the wall time of the runs behind the report and how it was measured."""
    rows, total = [], 0.0
    for key, meta in TSCHANNEN.items():
        runs = tschannen_runs(os.path.join(runs_folder, "tschannen", figure_folder(key)))
        walls = [r["file"].get("wall_seconds") for r in runs if r["file"].get("wall_seconds")]
        if walls:
            train = sum(w["train"] or 0.0 for w in walls)
            evaluation = sum(w["eval"] or 0.0 for w in walls)
            total += train + evaluation
            rows.append([f"Tschannen et al. {meta['label']}", str(len(walls)), f"{train / 3600:.2f}",
                         f"{evaluation / 3600:.2f}", "per-seed files (wall_seconds)"])
        elif runs:
            rows.append([f"Tschannen et al. {meta['label']}", str(len(runs)), "-", "-", "not recorded (workdirs gone)"])
    for name, measured in sorted((wall_times or {}).get("roots", {}).items()):
        total += measured["train_seconds"] + measured["eval_seconds"]
        rows.append([ROOT_LABELS.get(name, name), str(measured["runs"]), f"{measured['train_seconds'] / 3600:.2f}",
                     f"{measured['eval_seconds'] / 3600:.2f}" if measured["eval_seconds"] else "-",
                     f"runs/{name}'s workdirs, measured {wall_times.get('measured', '?')} "
                     "([wall_times.json](reproduction_runs/tschannen/wall_times.json))"])
    table = markdown_table(["runs of", "runs", "training (h)", "evaluation (h)", "source"], rows)
    return "\n".join([
        f"**CPU hours: {total / 3600:.1f} h of wall time** for the runs above, one after another on the 2 shared "
        "cores of this machine (core-hours at most twice that), both parts lower bounds. Training: from each "
        "run's train.log, its first absl line (which carries the Unix time) to its last time-stamped line, "
        "summed over the processes of a resumed run, without Python's start before TensorFlow's first line; "
        "evaluation: the sum of eval_curve.json's per-checkpoint seconds, without the evaluation process's start "
        "and data loading (15-25 s a run in the sweep logs). "
        "(`tfmi.evaluation.reproduction.wall_seconds`)", "", table])


def build_report(runs_folder, docs_folder, experiments_md, wall_times=None):
    """The generated markdown of docs/reproduction.md (its first line the title)."""
    tschannen_text, tschannen_found = tschannen_section(runs_folder, docs_folder)
    demi_text, demi_found = demi_section(runs_folder)
    return "\n".join([
        "# Reproduction report: Tschannen et al. (2020) and Sordoni et al. (2021)", "",
        "Generated by `python tools/reproduction_report.py` from the per-seed files under "
        "[reproduction_runs/](reproduction_runs/) (one JSON per run, with the command that regenerates it). "
        "Columns: the paper's value or claim; ours, with the seeds (n), the steps and the reduction from the "
        "paper's setting; the verdict over seeds; the command (listed under each table); the figure.", "",
        statistics_paragraph(), "",
        "## Tschannen et al. (2020), On mutual information maximization for representation learning", "",
        "Reduced setting throughout: 3 to 5 of the paper's 20 runs, fewer steps (per figure below), linear evaluation "
        "on the first 10,000 training and 2,000 test digits (the paper: all of them).", "",
        tschannen_text, "",
        "## Sordoni et al. (2021), Decomposed mutual information estimation (DEMI)", "",
        demi_text, "",
        "## Warm-up: the MI staircase (Poole et al. 2019)", "",
        "Not one of the two papers: the bounds' behaviour that both build on, checked on the reduced staircase "
        "(1,000 steps per stage, batch 64, seeds 0-2).", "",
        staircase_section(runs_folder), "",
        "## Needs a GPU or a download", "",
        "Not run here (a 2-core CPU, no GPU, no access to ImageNet, CIFAR-10, GPT-2's weights or WoW); each "
        "config runs as given on a machine that has them. Costs are estimates unless a measurement is named.", "",
        not_here_section(), "",
        "## Verdicts that changed with seeds", "",
        changes_section(tschannen_found, demi_found, experiments_md), "",
        "## CPU hours", "",
        cpu_section(runs_folder, wall_times), "",
    ])
