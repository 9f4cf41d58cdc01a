"""tfmi.evaluation.benchmarking, the helpers of the speed benchmarks in tools/: the step
timing against a fake clock whose every step costs a known time, the child-process
protocol on tiny scripts, the markdown table and the memory readings."""

import sys
import textwrap

import pytest

from tfmi.evaluation import benchmarking


class _FakeClock:
    """Each step costs 10 ms of wall time and 5 ms of process CPU time."""

    def __init__(self):
        self.wall, self.cpu, self.calls = 0.0, 0.0, []

    def run_steps(self, steps):
        self.calls.append(steps)
        self.wall += 0.010 * steps
        self.cpu += 0.005 * steps


def test_time_steps_sizes_the_calls_and_reports_the_best(monkeypatch):
    clock = _FakeClock()
    monkeypatch.setattr(benchmarking.time, "perf_counter", lambda: clock.wall)
    monkeypatch.setattr(benchmarking.time, "process_time", lambda: clock.cpu)
    monkeypatch.setattr(benchmarking, "usable_cpus", lambda: 2)
    timing = benchmarking.time_steps(clock.run_steps, seconds=1.0, repeats=3)
    # Trace with 1 step; 4, 16, 64 steps until a call takes 1/4 s (64 x 10 ms); then
    # 64 x 1 s / 0.64 s = 100 steps per call, 3 calls.
    assert clock.calls == [1, 4, 16, 64, 100, 100, 100]
    assert timing["trace_seconds"] == pytest.approx(0.010)
    assert timing["steps_per_call"] == 100
    assert timing["rate"] == pytest.approx(100.0) and timing["rate_median"] == pytest.approx(100.0)
    assert timing["cpu_share"] == pytest.approx(0.5 / 1.0 / 2)
    assert [call["wall"] for call in timing["calls"]] == pytest.approx([1.0, 1.0, 1.0])


def test_run_worker_returns_the_childs_last_record(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent("""
        import sys
        print("noise")
        print('RESULT {"n": 1}')
        print('RESULT {"n": 2, "argv": "%s"}' % " ".join(sys.argv[1:]))
    """))
    assert benchmarking.run_worker(script, ["--worker", 3]) == {"n": 2, "argv": "--worker 3"}


def test_run_worker_raises_with_the_childs_error(tmp_path):
    failing = tmp_path / "failing.py"
    failing.write_text("import sys\nsys.exit('out of memory at batch 1024')\n")
    with pytest.raises(RuntimeError, match="out of memory at batch 1024"):
        benchmarking.run_worker(failing, [])
    silent = tmp_path / "silent.py"
    silent.write_text("print('no record')\n")
    with pytest.raises(RuntimeError, match="no record"):
        benchmarking.run_worker(silent, [])


def test_markdown_table_and_seconds():
    table = benchmarking.markdown_table(["a", "b"], [["1", "2"], ["3", "4"]])
    assert table == "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    assert benchmarking.format_seconds(125.9) == "2m05s"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_memory_readings_are_consistent():
    now, peak = benchmarking.current_rss_mib(), benchmarking.peak_rss_mib()
    assert 0 < now <= peak + 1
    assert benchmarking.peak_rss_since_reset_mib() <= peak + 1
    machine = benchmarking.machine_info()
    assert machine["cpus_usable"] >= 1 and machine["cpu_count"] >= machine["cpus_usable"]


def test_write_markdown_keeps_the_hand_written_section(tmp_path):
    page = tmp_path / "bench.md"
    benchmarking.write_markdown(str(page), "# Title\n\n| a |\n|---|\n| 1 |\n")
    assert page.read_text() == "# Title\n\n| a |\n|---|\n| 1 |\n"
    hand = f"{benchmarking.HAND_WRITTEN_START}: kept -->\nWhy the numbers moved.\n{benchmarking.HAND_WRITTEN_END}"
    page.write_text(f"# Old title\n\n{hand}\n\n| a |\n|---|\n| 1 |\n")
    benchmarking.write_markdown(str(page), "# Title\n\n| a |\n|---|\n| 2 |\n")
    assert page.read_text() == f"# Title\n\n{hand}\n\n| a |\n|---|\n| 2 |\n"
