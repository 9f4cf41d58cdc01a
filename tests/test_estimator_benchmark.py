"""tfmi.evaluation.estimator_benchmark and tools/bench_estimators.py: scores, ratios,
resumable result files, the benchmark tools' shared main (run_benchmark), the --quick run."""

import argparse
import json
import math
import os
import subprocess
import sys
import types

import pytest

from tfmi.data import ground_truth
from tfmi.evaluation import estimator_benchmark as bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(estimator, task, estimate, truth, seconds=1.0, seed=0):
    return {"task": task, "n": 5000, "seed": seed, "estimator": estimator, "mi_true": truth,
            "estimate": estimate, "seconds": seconds}


def test_solved_is_within_a_factor_1_5_and_never_for_non_positive_estimates():
    assert bench.is_solved(1.49, 1.0) and bench.is_solved(0.67, 1.0)
    assert not bench.is_solved(1.51, 1.0) and not bench.is_solved(0.66, 1.0)
    assert not bench.is_solved(0.0, 1.0) and not bench.is_solved(-0.5, 1.0)
    assert not bench.is_solved(None, 1.0) and not bench.is_solved(math.nan, 1.0)


def test_summary_scores_and_ratios_by_hand():
    records = [
        record("tfmi-default", "a", 1.1, 1.0, seconds=2.0), record("tfmi-default", "b", None, 2.0, seconds=4.0),
        record("bmi-infonce", "a", 0.8, 1.0, seconds=10.0), record("bmi-infonce", "b", 1.0, 2.0, seconds=10.0),
        record("bmi-nwj", "a", 0.9, 1.0), record("bmi-nwj", "b", 1.9, 2.0),
        record("bmi-infonce-2k", "a", 0.8, 1.0, seconds=3.0), record("bmi-infonce-2k", "b", 1.0, 2.0, seconds=3.0),
    ]
    summary = bench.summarise(records)
    own = summary["tfmi-default"]
    # errors 0.1 and 2.0 (a failed run counts the truth as its error)
    assert own["mae"] == pytest.approx(1.05) and own["solved"] == 1 and own["failed"] == 1
    best = own["vs_best_peer"]
    assert best["peer"] == "bmi-nwj" and best["peer_mae"] == pytest.approx(0.1)
    assert best["mae_ratio"] == pytest.approx(10.5)
    assert best["worst_excess_error"] == pytest.approx(1.9) and best["worst_excess_task"] == "b"
    assert best["runs_over_best_run_peer_by_0.1"] == 1
    assert own["time_ratio_bmi-infonce-2k"] == pytest.approx(1.0)
    assert own["time_ratio_bmi-infonce"] == pytest.approx(0.3)
    assert summary["bmi-infonce"]["solved"] == 1  # 0.8 / 1.0 is inside a factor 1.5, 1.0 / 2.0 is not
    partial = bench.summarise(records + [record("bmi-dv", "a", 1.0, 1.0)])["tfmi-default"]["vs_best_peer"]
    assert partial["peer"] == "bmi-nwj"  # bmi-dv is exact on its one run but shares fewer runs
    assert partial["worst_excess_error"] == pytest.approx(1.9)  # run a's best peer is now bmi-dv (error 0)
    table = bench.summary_table(summary)
    assert "| tfmi-default | 2 | 1.050 | 1.050 | 1/2 | 1 |" in table


def test_run_tfmi_writes_one_file_per_run_and_skips_it_next_time(tmp_path, monkeypatch):
    calls = []

    class Result:
        mi = 0.5

    def fake_estimate_mi(x, y, **kwargs):
        calls.append((x.shape, y.shape, kwargs))
        return Result()

    monkeypatch.setattr(bench.tfmi, "estimate_mi", fake_estimate_mi)
    task = ground_truth.get_task("multinormal-dense-2-2-0.5")
    first = bench.run_tfmi("tfmi-smile", task, 700, 3, tmp_path)
    assert calls == [((700, 2), (700, 2), {"seed": 3, "estimator": "smile"})]
    assert first["estimate"] == 0.5 and first["mi_true"] == task.mi
    path = bench.result_path(tmp_path, task.name, 700, 3, "tfmi-smile")
    assert json.loads(path.read_text())["estimate"] == 0.5
    assert bench.run_tfmi("tfmi-smile", task, 700, 3, tmp_path) is None and len(calls) == 1
    assert [r["estimator"] for r in bench.load_results(tmp_path)] == ["tfmi-smile"]
    assert bench.load_results(tmp_path, seeds={0}) == []


def test_a_raising_estimator_is_recorded_as_failed(tmp_path, monkeypatch):
    def broken(x, y, **kwargs):
        raise RuntimeError("diverged")

    monkeypatch.setattr(bench.tfmi, "estimate_mi", broken)
    result = bench.run_tfmi("tfmi-default", ground_truth.get_task("1v1-normal-0.75"), 700, 0, tmp_path)
    assert result["estimate"] is None and "diverged" in result["error"]
    assert bench.summarise([result])["tfmi-default"]["failed"] == 1


def test_run_peer_passes_the_samples_by_file_and_records_what_the_peer_returned(tmp_path):
    """A stand-in for the peer's python: checks the .npz and answers for bmi-cca only."""
    fake = tmp_path / "fake_python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, numpy as np\n"
        "args = dict(zip(sys.argv[2::2], sys.argv[3::2]))\n"
        "data = np.load(args['--data'])\n"
        "assert data['x'].shape == (700, 3) and data['y'].shape == (700, 3)\n"
        "assert json.loads(args['--estimators']) == ['bmi-cca', 'bmi-ksg']\n"
        "json.dump({'benchmark-mi': '0.1.3', 'results': {'bmi-cca': {'estimate': 1.0, 'seconds': 0.5}}},"
        " open(args['--out'], 'w'))\n")
    fake.chmod(0o755)
    task = ground_truth.get_task("multinormal-sparse-3-3-2-2.0")
    records = bench.run_peer(str(fake), ["bmi-cca", "bmi-ksg"], task, 700, 0, tmp_path)
    assert [(r["estimator"], r["estimate"], r["benchmark-mi"]) for r in records] == [("bmi-cca", 1.0, "0.1.3")]
    assert bench.result_path(tmp_path, task.name, 700, 0, "bmi-cca").exists()
    assert not bench.result_path(tmp_path, task.name, 700, 0, "bmi-ksg").exists()  # retried next time
    assert bench.run_peer(str(fake), ["bmi-cca"], task, 700, 0, tmp_path) == []  # present: not run again


@pytest.mark.parametrize("argv,message", [
    (["--tasks", "nope"], "unknown tasks ['nope']"),
    (["--estimators", "tfmi-magic"], "unknown estimators ['tfmi-magic']"),
    (["--n", "100"], "--n values must be >= 600"),
    (["--peer-python", "/nonexistent/python"], "is not an executable"),
])
def test_cli_rejects_bad_arguments_with_exit_status_2(argv, message, capsys, helpers):
    with pytest.raises(SystemExit) as exit_info:
        helpers.load_tool("bench_estimators").parse_args(argv + ["--report-only"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_task_groups_expand(helpers):
    args = helpers.load_tool("bench_estimators").parse_args(["--tasks", "high_mi,1v1-normal-0.75", "--report-only"])
    assert args.tasks == [t.name for t in ground_truth.HIGH_MI_TASKS] + ["1v1-normal-0.75"]
    assert helpers.load_tool("bench_estimators").parse_args(["--quick"]).estimators[0] == "tfmi-default"


def test_run_benchmark_runs_each_cell_with_a_progress_line_then_writes_the_report(tmp_path, capsys):
    task = ground_truth.get_task("1v1-normal-0.75")
    args = argparse.Namespace(tasks=[task.name], n=[1000], seeds=[0, 1], results=str(tmp_path / "runs"),
                              out=str(tmp_path / "report"), report_only=False)
    cells = []

    def run_cell(task_name, n, seed):
        cells.append((task_name, n, seed))
        record = bench.record_estimate(lambda x, y, seed: types.SimpleNamespace(mi=0.25 + seed), task.sample(n, seed),
                                       {}, bench.task_fields(task), n, seed, "tfmi-default", args.results)
        return f"{task_name} n={n} seed={seed}", [record]

    assert bench.run_benchmark(args, run_cell, ["tfmi-default"], estimators={"tfmi-default": {}}) == 0
    assert cells == [(task.name, 1000, 0), (task.name, 1000, 1)]
    said = capsys.readouterr()
    lines = said.err.splitlines()
    assert lines[0].startswith(f"[1/2] {task.name} n=1000 seed=0: tfmi-default 0.25 (0 s) | ")
    assert lines[1].startswith(f"[2/2] {task.name} n=1000 seed=1: tfmi-default 1.25 (0 s) | ")
    assert lines[2] == f"Wrote {args.out}.md and {args.out}.json"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["estimators"] == {"tfmi-default": {}} and report["subset"]["runs"] == 2
    assert said.out.strip() == (tmp_path / "report.md").read_text().strip()
    assert "Machine: " in said.out and "| tfmi-default | 2 |" in said.out
    args.report_only, args.results = True, str(tmp_path / "none")
    assert bench.run_benchmark(args, run_cell, ["tfmi-default"]) == 1 and len(cells) == 2
    assert capsys.readouterr().err == f"no results under {args.results} for this selection\n"


@pytest.mark.slow
def test_quick_run_writes_the_table_and_the_json(tmp_path):
    out = tmp_path / "report"
    command = [sys.executable, os.path.join(ROOT, "tools", "bench_estimators.py"), "--quick",
               "--results", str(tmp_path / "results"), "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": ROOT}, timeout=1800)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["subset"]["tasks"] == sorted(bench.QUICK_TASKS)
    assert report["subset"]["estimators"] == ["tfmi-default"] and report["subset"]["runs"] == 5
    for run in report["runs"]:
        assert run["mi_true"] == pytest.approx(ground_truth.get_task(run["task"]).mi)
        assert math.isfinite(run["estimate"]) and run["seconds"] > 0
    assert 0 <= report["summary"]["all"]["tfmi-default"]["solved"] <= 5
    assert report["summary"]["high_mi"]["tfmi-default"]["runs"] == 1  # the 6-nat Gaussian
    markdown = (tmp_path / "report.md").read_text()
    assert "| tfmi-default | 5 |" in markdown and markdown.count("| 5000 | 0 |") == 5
    assert completed.stdout.strip() == markdown.strip()
