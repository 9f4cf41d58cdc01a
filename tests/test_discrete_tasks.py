"""tfmi.data.discrete_tasks: each task's exact MI against an independent Monte Carlo mean
of its log ratio on draws of the task itself (or a by-hand plug-in), and the benchmark
tool's records on a small run, resumed."""

import json

import numpy as np
import pytest
from scipy import special, stats

from tfmi.data import discrete_tasks


def _class_log_ratio_mean(task, n=200_000):
    """Mean of the exact log p(x | c) - log p(x) over n draws of a one-feature class task
    (the class densities as the task states them, the priors as drawn): a Monte Carlo
    check of the task's quadrature and of its sampler against each other."""
    x, labels = task.sample(n, seed=99)
    x = x[:, 0]
    classes = np.unique(labels)
    priors = np.bincount(labels) / n
    mixture = task.name.endswith("mixture")
    centres = classes * (2.5 if mixture else 1.0)
    offsets, scale = ((-1.0, 1.0), 0.5) if mixture else ((0.0,), 1.0)
    log_densities = special.logsumexp([stats.norm.logpdf(x[None, :], centres[:, None] + offset, scale)
                                       for offset in offsets], axis=0) - np.log(len(offsets))
    log_marginal = special.logsumexp(log_densities + np.log(priors[classes])[:, None], axis=0)
    return float(np.mean(log_densities[np.searchsorted(classes, labels), np.arange(n)] - log_marginal))


@pytest.mark.parametrize("name", [name for name, task in discrete_tasks.TASKS.items() if task.family == "classes"])
def test_class_tasks_exact_mi_is_the_mean_log_ratio_of_their_draws(name):
    task = discrete_tasks.get_task(name)
    assert _class_log_ratio_mean(task) == pytest.approx(task.mi, abs=0.01)


def test_the_contingency_and_count_tasks_match_their_draws():
    table = discrete_tasks.get_task("contingency-4x5")
    a, b = table.sample(400_000, seed=3)
    joint = np.zeros((4, 5))
    np.add.at(joint, (a[:, 0].astype(int), b), 1.0)
    joint /= joint.sum()
    plug_in = np.sum(special.xlogy(joint, joint / (joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True))))
    assert plug_in == pytest.approx(table.mi, abs=0.002)
    counts = discrete_tasks.get_task("counts-poisson")
    rate, k = counts.sample(200_000, seed=4)
    grid = np.linspace(1e-6, 80.0, 20_001)
    prior = stats.gamma.pdf(grid, 2.0, scale=2.0)
    p_k = np.trapezoid(stats.poisson.pmf(np.arange(200)[:, None], grid[None, :]) * prior, grid, axis=1)
    log_ratio = stats.poisson.logpmf(k, rate[:, 0]) - np.log(p_k[k])
    assert float(np.mean(log_ratio)) == pytest.approx(counts.mi, abs=0.01)
    with pytest.raises(KeyError, match="no discrete task 'dice'"):
        discrete_tasks.get_task("dice")


def test_the_benchmark_tool_scores_and_resumes(tmp_path, helpers, monkeypatch):
    tool = helpers.load_tool("bench_discrete")
    results, out = tmp_path / "runs.json", tmp_path / "report"
    arguments = ["--tasks", "contingency-4x5,classes-2-balanced", "--seeds", "0", "--n", "800",
                 "--results", str(results), "--out", str(out)]
    assert tool.main(arguments) == 0
    records = json.loads(results.read_text())
    assert len(records) == 4 and all(record["truth"] > 0 for record in records.values())
    calls = []
    monkeypatch.setattr(tool, "run_method", lambda *args: calls.append(args))
    assert tool.main(arguments) == 0 and calls == []  # every run read back
    assert "| contingency | tfmi-default | 1 |" in out.with_suffix(".md").read_text()


def test_rare_classes_do_not_make_the_count_task_s_estimate_run_away():
    """Poisson counts against their rate read as 26 classes, the rarest with a handful of
    train rows: those share the pooled density, so the estimate stays near the exact 0.518
    with a narrow interval (with a Gaussian per class from 3 rows up: 0.859 [0, 4.90])."""
    import tfmi

    task = discrete_tasks.get_task("counts-poisson")
    x, counts = task.sample(5000, seed=2)
    result = tfmi.estimate_mi(x, counts, seed=2)
    assert abs(result.mi - task.mi) < 0.1 and result.interval[1] - result.interval[0] < 0.3, result
