r"""Curves over training from runs of several seeds: per run, then their mean and spread.

A run is a dict with "records" (the records of its eval_curve.json:
``tfmi.evaluation.checkpoints``, one per evaluated checkpoint with "step",
"test_accuracy", "mi", "loss", "bounds", "log_condition", ...) and "metrics" (the
records of its metrics.jsonl, one per logged step). A series is one {step: value} per
run; ``aggregate`` gives their mean and spread step by step (min to max, or mean -+ the
sample standard deviation), ``final_values`` / ``first_values`` the per-run values at
the last step every run reached / at the first one, ``summary`` their (mean, low, high).
"""

import math

import numpy as np

from tfmi.encoders.jacobian import PAPER_PERCENTILES


def aggregate(series, spread="minmax"):
    """Mean and spread over runs of curves {step: value}, step by step.

    ``series``: a list of dicts {step: value}, one per run. At each step that any run
    has, the runs that have it (non-finite values left out) give the mean, and the
    spread: their min and max (``minmax``) or mean -+ their sample standard deviation
    (``std``, ddof = 1; 0 for a single run). Returns {"steps", "mean", "low", "high",
    "n"} (lists).
    """
    if spread not in ("minmax", "std"):
        raise ValueError(f"spread must be minmax or std, got {spread!r}.")
    steps = sorted({step for run in series for step in run})
    out = {"steps": [], "mean": [], "low": [], "high": [], "n": []}
    for step in steps:
        values = np.array([run[step] for run in series if step in run and finite(run[step])], dtype=np.float64)
        if not len(values):
            continue
        mean = float(values.mean())
        if spread == "minmax":
            low, high = float(values.min()), float(values.max())
        else:
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            low, high = mean - std, mean + std
        for key, value in zip(out, (step, mean, low, high, len(values))):
            out[key].append(value)
    return out


def finite(value):
    """Whether ``value`` is a finite number (None and NaN are not)."""
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def eval_series(runs, metric, x="step"):
    """One {x: value} per run from eval_curve records (``metric`` "mi_<name>": a bound of "bounds")."""
    series = []
    for run in runs:
        curve = {}
        for record in run["records"]:
            if metric.startswith("bound_"):
                value = (record.get("bounds") or {}).get(metric[len("bound_"):])
            else:
                value = record.get(metric)
            if value is not None and record.get(x) is not None:
                curve[record[x]] = value
        if curve:
            series.append(curve)
    return series


def metric_series(runs, name):
    """One {step: value} per run from metrics.jsonl (e.g. "train/mi")."""
    series = []
    for run in runs:
        curve = {record["step"]: record[name] for record in run["metrics"] if name in record}
        if curve:
            series.append(curve)
    return series


def pooled_percentiles(runs):
    """Percentiles 0, 20, ..., 100 of log condition numbers pooled over runs, per step.

    The paper's reading (Fig. 2c, 5): the condition numbers at 128 inputs of every run
    are aggregated, then the percentiles taken (the notebook's "lower" method). From
    eval_curve records with "log_condition" (None, i.e. a singular Jacobian, counts as
    +inf). Returns {"steps", "percentiles": {p: [...]}} or None when no run has them.
    """
    pooled = {}
    for run in runs:
        for record in run["records"]:
            values = record.get("log_condition")
            if values:
                pooled.setdefault(record["step"], []).extend(math.inf if v is None else v for v in values)
    if not pooled:
        return None
    steps = sorted(pooled)
    rows = [np.percentile(np.asarray(pooled[s], np.float64), PAPER_PERCENTILES, method="lower") for s in steps]
    return {"steps": steps,
            "percentiles": {p: [float(row[i]) for row in rows] for i, p in enumerate(PAPER_PERCENTILES)}}


def logged_percentiles(runs, spread):
    """The runs' logged percentiles "jacobian/log_condition_pP" aggregated over runs, per P."""
    result = {}
    for p in PAPER_PERCENTILES:
        series = metric_series(runs, f"jacobian/log_condition_p{p}")
        if series:
            result[p] = aggregate(series, spread)
    return result or None


def final_values(runs, metric, last=None):
    """Per run, the value of ``metric`` at the last step that every run reached.

    Eval-curve metrics: the record at that step. metrics.jsonl metrics ("train/..."):
    the mean of the ``last`` logged values up to that step (the non-i.i.d. estimates
    are noisy). Returns (step, [values]) or (None, []).
    """
    series = _series(runs, metric)
    if not series:
        return None, []
    step = min(max(curve) for curve in series)
    values = [_value_at(curve, step, last) for curve in series]
    return step, [v for v in values if finite(v)]


def seed_values(runs, metric, last=None):
    """{seed: the run's value of ``metric``} at the step of ``final_values``, for the runs
    that have a finite one (the per-seed numbers a paired claim reads)."""
    step, _ = final_values(runs, metric, last)
    found = {}
    for run in runs if step is not None else ():
        series = _series([run], metric)
        value = _value_at(series[0], step, last) if series else None
        if finite(value):
            found[run["seed"]] = value
    return found


def _series(runs, metric):
    return metric_series(runs, metric) if metric.startswith("train/") else eval_series(runs, metric)


def _value_at(curve, step, last):
    """A curve's value at ``step``, or the mean of its ``last`` values up to it."""
    if last:
        steps = [s for s in sorted(curve) if s <= step][-last:]
        return float(np.mean([curve[s] for s in steps])) if steps else None
    return curve.get(step)


def first_values(runs, metric):
    """Per run, the value of eval-curve ``metric`` at its first evaluated step."""
    series = eval_series(runs, metric)
    return [curve[min(curve)] for curve in series]


def summary(values, spread):
    """(mean, low, high) of per-run values (the same spread as the figure)."""
    if not values:
        return None
    values = np.asarray(values, np.float64)
    mean = float(values.mean())
    if spread == "minmax":
        return mean, float(values.min()), float(values.max())
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return mean, mean - std, mean + std
