"""tools/plot_staircase.py over seeds: the stage table's mean +- standard deviation and
seed count against NumPy on synthetic runs, the export of each run's stage means, and
the runs of a sweep not finished (or not started) left out."""

import json

import numpy as np
import pytest

STAGES = (2.0, 4.0)
STEPS_PER_STAGE = 100


def _write_run(folder, bound, seed, levels, cubic=False, steps=None):
    """A staircase workdir whose estimate is ``levels[k] + 0.01 * seed`` through stage k."""
    folder.mkdir(parents=True)
    config = {"experiment": "gaussian_staircase", "seed": seed, "total_steps": STEPS_PER_STAGE * len(STAGES),
              "batch_size": 64, "model": {"bound": {"name": bound}},
              "data": {"cubic": cubic, "steps_per_stage": STEPS_PER_STAGE, "mi_values": list(STAGES)}}
    (folder / "config.json").write_text(json.dumps(config))
    lines = []
    for step in range(10, (steps or config["total_steps"]) + 1, 10):
        stage = min((step - 1) // STEPS_PER_STAGE, len(STAGES) - 1)
        lines.append(json.dumps({"step": step, "train/mi": levels[stage] + 0.01 * seed,
                                 "train/true_mi": STAGES[stage]}))
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "runs"
    for seed in (0, 1, 2):
        _write_run(root / "infonce" / f"seed_{seed}", "infonce", seed, (1.7, 3.0))
        _write_run(root / "nwj,cubic" / f"seed_{seed}", "nwj", seed, (1.5, 3.5), cubic=True)
    _write_run(root / "dv" / "seed_0", "dv", 0, (1.8, 3.7), steps=150)  # stopped half-way: left out
    (root / "dv" / "seed_1").mkdir()  # not started
    return root


def test_the_table_gives_mean_and_sd_over_seeds_and_the_export_each_run(sweep, tmp_path, capsys, helpers):
    tool = helpers.load_tool("plot_staircase")
    out, export = tmp_path / "staircase.png", tmp_path / "export"
    tool.main([*map(str, sorted(sweep.glob("*/seed_*"))), "--out", str(out), "--export", str(export),
               "--command", "python tools/sweep.py ..."])
    said = capsys.readouterr()
    assert "2 unfinished runs left out" in said.err and out.stat().st_size > 0
    rows = [line for line in said.out.splitlines() if line.startswith("| infonce") or line.startswith("| nwj")]
    spread = np.std([0.0, 0.01, 0.02], ddof=1)  # the seeds' offsets
    assert rows[0] == f"| infonce | gaussian | 3 | {1.71:.2f} ± {spread:.2f} | {3.01:.2f} ± {spread:.2f} |"
    assert rows[1].startswith("| nwj | cubic | 3 | 1.51 ± 0.01 | 3.51 ± 0.01 |")
    record = json.loads((export / "nwj,cubic" / "seed_2.json").read_text())
    assert record["stage_means"] == {"2": pytest.approx(1.52), "4": pytest.approx(3.52)}
    assert (record["task"], record["seed"], record["steps"], record["command"]) == ("cubic", 2, 200,
                                                                                   "python tools/sweep.py ...")
    assert sorted(path.parent.name for path in export.glob("*/seed_*.json")).count("infonce") == 3
    assert not (export / "dv").exists()
