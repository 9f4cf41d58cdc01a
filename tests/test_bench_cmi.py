"""tfmi.evaluation.cmi_benchmark, tools/bench_cmi.py and the peer script cmi_peer.py: scores on
zero truths, interval coverage, the report, samples written once, the peer's Gaussian
baseline and its command line."""

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from tfmi.data import cmi_ground_truth
from tfmi.evaluation import cmi_benchmark
from tfmi.evaluation import estimator_benchmark as bench


def record(estimator, task, estimate, truth, interval=None, seconds=1.0):
    fields = {"task": task, "n": 5000, "seed": 0, "estimator": estimator, "mi_true": truth, "estimate": estimate,
              "seconds": seconds}
    return {**fields, "interval": interval} if interval else fields


def test_a_zero_truth_is_solved_within_0_05_nats():
    assert bench.is_solved(0.04, 0.0) and bench.is_solved(-0.04, 0.0)
    assert not bench.is_solved(0.06, 0.0) and not bench.is_solved(None, 0.0)


def test_summary_scores_coverage_and_ratios_by_hand():
    zero, one = "normal-1-1-z1-0nats", "normal-1-1-z5-1nats"
    records = [
        record("tfmi-default", zero, 0.02, 0.0, interval=[0.0, 0.05], seconds=4.0),
        record("tfmi-default", one, 0.7, 1.0, interval=[0.6, 0.8], seconds=6.0),
        record("ennemi-joint", zero, 0.01, 0.0, seconds=1.0), record("ennemi-joint", one, 0.6, 1.0, seconds=1.0),
        record("gaussian-linear", zero, 0.0, 0.0, seconds=0.0), record("gaussian-linear", one, 0.9, 1.0, seconds=0.0),
    ]
    groups = bench.summarise_groups(records, cmi_benchmark.SUITE)
    assert set(groups) == {"all", "gaussian", "independent", "zero"}
    own = groups["all"]["tfmi-default"]
    # errors 0.02 and 0.3; 0.02 is within 0.05 of 0, 0.7 / 1.0 is within a factor 1.5
    assert own["mae"] == pytest.approx(0.16) and own["solved"] == 2
    assert (own["interval_runs"], own["covered"]) == (2, 1)  # [0.6, 0.8] misses 1.0
    assert (own["zero_truth_interval_runs"], own["zero_truth_covered"]) == (1, 1)
    best = own["vs_best_peer"]
    assert best["peer"] == "gaussian-linear" and best["mae_ratio"] == pytest.approx(0.16 / 0.05)
    assert own["time_ratio_ennemi-joint"] == pytest.approx(5.0) and "interval_runs" not in groups["all"]["ennemi-joint"]
    markdown = bench.report_markdown(records, groups, suite=cmi_benchmark.SUITE)
    assert markdown.startswith("# tfmi vs k-NN estimators on tasks with exact conditional MI")
    assert "| task | n | seed | true CMI | tfmi-default | ennemi-joint | gaussian-linear | best peer |" in markdown
    row = "| tfmi-default | 2 | 0.160 | 0.160 | 2/2 | 0 | 5.0 | 1/2 (truth 0: 1/1) | 3.20 (vs gaussian-linear"
    assert row in markdown
    assert "## Every task whose CMI is 0" in markdown and "time / infomeasure-ksg" in markdown


def test_run_tfmi_reads_the_samples_written_once_and_passes_the_estimator(tmp_path, monkeypatch):
    calls = []

    class Result:
        mi, stderr, interval = 0.4, 0.05, (0.3, 0.5)

    def fake_estimate_cmi(x, y, z, **kwargs):
        calls.append((x.shape, y.shape, z.shape, x.dtype, kwargs))
        return Result()

    monkeypatch.setattr(cmi_benchmark.tfmi, "estimate_cmi", fake_estimate_cmi, raising=False)
    task = cmi_ground_truth.get_cmi_task("normal-2-2-z5-2nats")
    first = cmi_benchmark.run_tfmi("tfmi-copula", task, 300, 2, tmp_path)
    assert calls == [((300, 2), (300, 2), (300, 5), np.float32, {"seed": 2, "estimator": "copula"})]
    assert first["mi_true"] == 2.0 and first["dim_z"] == 5 and first["interval"] == (0.3, 0.5)
    with np.load(cmi_benchmark.samples_path(tmp_path, task.name, 300, 2)) as data:
        assert np.array_equal(data["z"], task.sample(300, 2)[2])
    assert cmi_benchmark.run_tfmi("tfmi-copula", task, 300, 2, tmp_path) is None and len(calls) == 1
    assert [r["estimator"] for r in bench.load_results(tmp_path)] == ["tfmi-copula"]  # the .npz is no result


def test_run_peer_gives_the_peer_x_y_and_z_and_records_its_answer(tmp_path):
    fake = tmp_path / "fake_python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys, numpy as np\n"
        "args = dict(zip(sys.argv[2::2], sys.argv[3::2]))\n"
        "data = np.load(args['--data'])\n"
        "assert [data[k].shape for k in 'xyz'] == [(300, 1), (300, 1), (300, 3)]\n"
        "json.dump({'ennemi': '1.5.0', 'n': 300, 'results': {'ennemi': {'estimate': 0.3, 'seconds': 0.1}}},"
        " open(args['--out'], 'w'))\n")
    fake.chmod(0o755)
    task = cmi_ground_truth.get_cmi_task("link-tanh-1-1-z3")
    records = cmi_benchmark.run_peer(str(fake), ["ennemi", "ennemi-joint"], task, 300, 0, tmp_path)
    assert [(r["estimator"], r["estimate"], r["ennemi"], r["mi_true"]) for r in records] == [
        ("ennemi", 0.3, "1.5.0", task.cmi)]
    assert not bench.result_path(tmp_path, task.name, 300, 0, "ennemi-joint").exists()  # retried next time


def load_peer(monkeypatch):
    """The peer script cmi_peer.py as a module, with its folder first on sys.path as when it
    runs by path (it imports peer_script, beside it)."""
    monkeypatch.syspath_prepend(str(cmi_benchmark.PEER_SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("_cmi_peer", cmi_benchmark.PEER_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peer_gaussian_baseline_is_the_gaussian_cmi_of_the_sample_covariance(monkeypatch):
    peer = load_peer(monkeypatch)
    task = cmi_ground_truth.get_cmi_task("normal-2-2-z5-2nats")
    x, y, z = task.sample(20_000, seed=1)
    expected = cmi_ground_truth.gaussian_cmi(np.cov(np.concatenate([x, y, z], axis=1), rowvar=False), 2, 2)
    assert peer.gaussian_linear(x, y, z) == pytest.approx(expected, rel=1e-10)
    assert expected == pytest.approx(2.0, abs=0.05)
    assert set(peer.PEERS) == set(cmi_benchmark.PEER_PACKAGES)


def test_peer_command_line_writes_json_per_estimator(tmp_path):
    x, y, z = cmi_ground_truth.get_cmi_task("normal-1-1-z1-0.5nats").sample(2000, seed=0)
    np.savez(tmp_path / "samples.npz", x=x, y=y, z=z)
    command = [sys.executable, str(cmi_benchmark.PEER_SCRIPT), "--data", str(tmp_path / "samples.npz"),
               "--estimators", '["gaussian-linear"]', "--out", str(tmp_path / "out.json")]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["n"] == 2000 and "numpy" in report
    assert report["results"]["gaussian-linear"]["estimate"] == pytest.approx(0.5, abs=0.06)
    completed = subprocess.run(command[:-4] + ["--estimators", '["ksg"]', "--out", "x.json"], capture_output=True,
                               text=True, timeout=120)
    assert completed.returncode == 2 and "unknown estimators ['ksg']" in completed.stderr


@pytest.mark.parametrize("argv,message", [
    (["--tasks", "nope"], "unknown tasks ['nope']"),
    (["--peers", "npeet"], "unknown peers ['npeet']"),
    (["--estimators", "ennemi"], "unknown estimator 'ennemi'"),
    (["--ennemi-python", "/nonexistent/python"], "is not an executable"),
])
def test_cli_rejects_bad_arguments_with_exit_status_2(argv, message, capsys, helpers):
    with pytest.raises(SystemExit) as exit_info:
        helpers.load_tool("bench_cmi").parse_args(argv + ["--report-only"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_cli_expands_groups_and_routes_each_peer_to_its_virtualenv(helpers):
    tool = helpers.load_tool("bench_cmi")
    args = tool.parse_args(["--tasks", "link,normal-1-1-z1-0nats", "--ennemi-python", sys.executable,
                            "--report-only"])
    assert args.tasks == ["link-linear-1-1-z3", "link-tanh-1-1-z3", "normal-1-1-z1-0nats"]
    assert tool.peer_pythons(args) == {sys.executable: ["ennemi", "ennemi-joint", "gaussian-linear"]}
    quick = tool.parse_args(["--quick", "--estimators", "", "--peers", "gaussian-linear"])
    assert quick.tasks == list(cmi_benchmark.QUICK_TASKS) and quick.estimators == [] and quick.n == [5000]
