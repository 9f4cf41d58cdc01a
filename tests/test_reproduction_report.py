"""The reproduction report (tfmi.evaluation.reproduction, tools/reproduction_report.py):
its statistics on synthetic per-seed numbers, the claims' verdicts (holds, not shown,
contradicted, a missing seed), the export of a fake trainer workdir and the report
rebuilt around its hand-written section. No training."""

import datetime
import json
import math

import numpy as np
import pytest

from tfmi.evaluation import reproduction


# --- statistics ----------------------------------------------------------------------------


def test_seed_stats_are_the_mean_the_sample_sd_and_the_count():
    stats = reproduction.seed_stats({0: 1.0, 1: 2.0, 2: 4.0})
    assert stats["mean"] == pytest.approx(7 / 3) and stats["n"] == 3
    assert stats["sd"] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    two = reproduction.seed_stats({0: 1.0, 1: None, 2: math.nan, 3: 3.0})  # None and NaN left out
    assert two == {"mean": 2.0, "sd": pytest.approx(math.sqrt(2)), "n": 2}
    assert reproduction.seed_stats([5.0]) == {"mean": 5.0, "sd": None, "n": 1}
    assert reproduction.seed_stats({})["n"] == 0
    assert reproduction.format_stat(reproduction.seed_stats([0.8, 0.82]), 1, percent=True) == "81.0 ± 1.4%"
    assert reproduction.format_stat(reproduction.seed_stats([5.0])) == "5.00"


def _files(folder, method, k, mi, estimates, figure="top"):
    """DEMI per-seed files as the sweep's export writes them: one per seed of ``estimates``."""
    for seed, estimate in estimates.items():
        name = f"{method}{'_bottom' if figure == 'bottom' else ''}_k-{k}_mi-{mi}"
        path = folder / name / f"seed_{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"figure": figure, "method": method, "k": k, "total_mi": float(mi),
                                    "estimate": estimate, "seed": seed, "command": "python tools/sweep.py ..."}))


@pytest.fixture
def demi_folder(tmp_path):
    folder = tmp_path / "runs" / "demi_synthetic"
    # K=8, 10 nats: DEMI clearly above InfoNCE on every seed (differences 0.30, 0.31, 0.29).
    _files(folder, "infonce", 8, 10, {0: 2.00, 1: 2.01, 2: 1.99})
    _files(folder, "demi", 8, 10, {0: 2.30, 1: 2.32, 2: 2.28})
    _files(folder, "demi_var", 8, 10, {0: 2.31, 1: 2.31, 2: 2.29})
    _files(folder, "demi_is", 8, 10, {0: 1.00, 1: 1.10, 2: 0.90})
    # K=32, 10 nats: the seeds overlap (differences +0.2, -0.2, +0.05); DEMI-VAR 0.5 below DEMI.
    _files(folder, "infonce", 32, 10, {0: 3.0, 1: 3.4, 2: 3.2})
    _files(folder, "demi", 32, 10, {0: 3.2, 1: 3.2, 2: 3.25})
    _files(folder, "demi_var", 32, 10, {0: 2.7, 1: 2.71, 2: 2.74})
    # K=8, 5 nats: reversed; DEMI lacks seed 2 (a run that did not finish).
    _files(folder, "infonce", 8, 5, {0: 1.77, 1: 1.78, 2: 1.76})
    _files(folder, "demi", 8, 5, {0: 1.47, 1: 1.48})
    return folder


def test_demi_claims_hold_are_not_shown_or_contradicted_per_cell(demi_folder):
    cells = reproduction.demi_cells(demi_folder)
    assert cells[(10.0, 8)]["demi"] == {0: 2.30, 1: 2.32, 2: 2.28}
    found = {claim["id"]: claim["cells"] for claim in reproduction.demi_claims(cells)}
    verdict, mean, stderr = found["nce"][(10.0, 8)]
    assert verdict == "holds" and mean == pytest.approx(0.30)
    assert stderr == pytest.approx(np.std([0.30, 0.31, 0.29], ddof=1) / math.sqrt(3))
    assert found["nce"][(10.0, 32)][0] == "not shown at 3 seeds"
    # The missing seed is left out of the pairing: two seeds, still clearly reversed.
    assert found["nce"][(5.0, 8)][0] == "contradicted"
    # DEMI-VAR within 0.1 of DEMI: holds at K=8; 0.5 below at K=32: contradicted.
    assert found["var"][(10.0, 8)][0] == "holds" and found["var"][(10.0, 32)][0] == "contradicted"
    assert found["var"][(10.0, 8)][1] == pytest.approx(0.01 / 3)  # the mean difference itself, not shifted
    # DEMI-IS below each of the three other methods at K=8, 10 nats.
    assert found["is"][(10.0, 8)][0] == "holds"
    assert (10.0, 32) not in found["is"]  # no DEMI-IS run there: no verdict
    # Every estimate under its ceiling: log 8 = 2.08 for InfoNCE, 2 log 4 = 2.77 for DEMI.
    assert found["ceiling"][(10.0, 8)][0] == "holds"
    table = reproduction.demi_values_table(cells)
    assert "| 5 | DEMI (true p(y\\|x')) | 1.48 ± 0.01 (2) | - |" in table
    assert "not shown at 3 seeds (+0.02 ± 0.12)" in reproduction.demi_verdict_table(reproduction.demi_claims(cells))


def test_the_bottom_figure_is_read_against_infonce_and_its_own_ceiling(demi_folder, tmp_path):
    # DEMI-BO read as I_NCE + I_IS (bottom): ceiling min(2 log K, MI); 2 log 8 = 4.16, 2 log 32 = 6.93.
    _files(demi_folder, "demi_bo", 8, 10, {0: 3.90, 1: 3.95, 2: 3.92}, figure="bottom")
    _files(demi_folder, "demi_bo", 32, 10, {0: 5.00, 1: 5.10, 2: 5.05}, figure="bottom")
    _files(demi_folder, "demi_bo", 32, 5, {0: 5.20, 1: 5.30, 2: 5.25}, figure="bottom")  # above the true MI
    cells = reproduction.demi_cells(demi_folder)
    assert cells[(10.0, 8)][reproduction.BOTTOM] == {0: 3.90, 1: 3.95, 2: 3.92}
    assert cells[(10.0, 8)]["demi"] == {0: 2.30, 1: 2.32, 2: 2.28}  # the top's DEMI-BO is another method
    found = {claim["id"]: claim for claim in reproduction.demi_claims(cells)}
    assert found["bottom_nce"]["figure"] == "bottom" and found["nce"]["figure"] == "top"
    assert found["bottom_nce"]["cells"][(10.0, 8)][0] == "holds"  # 3.92 against InfoNCE's 2.00
    assert found["bottom_nce"]["cells"][(10.0, 8)][1] == pytest.approx(3.923333 - 2.0, abs=1e-5)
    assert (5.0, 32) not in found["bottom_nce"]["cells"]  # no InfoNCE run there
    ceiling = found["bottom_ceiling"]["cells"]
    assert ceiling[(10.0, 8)][0] == "holds" and ceiling[(5.0, 32)][0] == "contradicted"  # 5.25 > 5 nats
    close = found["bottom_close"]["cells"]
    assert close[(10.0, 8)][0] == "holds"  # 0.24 under 2 log 8, within 0.5
    assert close[(10.0, 8)][1] == pytest.approx(3.923333 - 2 * math.log(8), abs=1e-5)  # estimate - ceiling
    assert close[(10.0, 32)][0] == "contradicted"  # 1.88 under 2 log 32
    assert found["is"]["cells"][(10.0, 8)][0] == "holds"  # the bottom run is not one the top's DEMI-IS is below
    assert "| 10 | I_NCE+I_IS (DEMI-BO, bottom) | 3.92 ± 0.03 (3) | 5.05 ± 0.05 (3) |" in \
        reproduction.demi_values_table(cells)
    assert "|  | 2 log K (bottom) | 4.16 | 6.93 |" in reproduction.demi_values_table(cells)
    changes = reproduction.changes_section([], reproduction.demi_claims(cells), tmp_path / "none.md")
    assert ("- DEMI Fig. 2 (bottom): I_NCE + I_IS approaches its ceiling min(2 log K, true MI): within 0.5 nats of it "
            "(our reading of 'approaches') at 10 nats, K=32: yes at one seed, **contradicted**") in changes


def test_a_demi_run_is_exported_with_its_command_once_trained(tmp_path):
    root = tmp_path / "runs" / "demi_seeds"
    workdirs = []
    for seed, steps in ((0, 1000), (1, 500)):  # seed 1 still training
        workdir = root / "demi_bo_bottom_k-8_mi-10" / f"seed_{seed}"
        workdir.mkdir(parents=True)
        config = {"experiment": "demi_synthetic", "figure": "bottom", "k": 8, "seed": seed, "total_steps": 1000,
                  "data": {"total_mi": 10.0}, "model": {"method": "demi_bo"}}
        (workdir / "config.json").write_text(json.dumps(config))
        metrics = [{"step": s, "train/mi": 1.0, "train/mi_nce_is": s / 100} for s in range(100, steps + 1, 100)]
        (workdir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
        workdirs.append(str(workdir))
    out = tmp_path / "reproduction_runs"
    written, skipped = reproduction.export_runs(workdirs, out, commit="abc1234")
    assert [w for w, _ in skipped] == [workdirs[1]] and "step 500 of 1000" in skipped[0][1]
    record = json.loads((out / "demi_synthetic" / "demi_bo_bottom_k-8_mi-10" / "seed_0.json").read_text())
    assert record["estimate"] == pytest.approx(np.mean(np.arange(1, 11)))  # the last 10 of mi_nce_is, not mi
    assert (record["figure"], record["method"], record["k"], record["total_mi"]) == ("bottom", "demi_bo", 8, 10.0)
    assert record["seed"] == 0 and record["steps"] == 1000 and record["commit"] == "abc1234"
    assert record["command"] == ("python tools/sweep.py --config configs/demi_synthetic.py --root runs/demi_seeds "
                                 "--seeds 0 1 --args demi_bo,bottom,k=8,mi=10")
    assert written == [str(out / "demi_synthetic" / "demi_bo_bottom_k-8_mi-10" / "seed_0.json")]


def test_tolerance_ceiling_and_combined_verdicts():
    demi = {0: 5.0, 1: 5.2, 2: 4.9}
    assert reproduction.within({s: v + 0.01 for s, v in demi.items()}, demi)[0] == "holds"
    assert reproduction.within({s: v - 0.5 for s, v in demi.items()}, demi)[0] == "contradicted"
    assert reproduction.within({0: 5.2, 1: 5.0, 2: 4.8}, demi)[0] == "not shown at 3 seeds"
    assert reproduction.under_ceiling({0: 4.0, 1: 4.1, 2: 4.05}, math.log(128))[0] == "holds"
    assert reproduction.under_ceiling({0: 5.0, 1: 5.1, 2: 5.05}, math.log(128))[0] == "contradicted"
    assert reproduction.all_of(["holds", "holds"]) == "holds"
    assert reproduction.all_of(["holds", "not shown at 2 seeds", "not shown at 3 seeds"]) == "not shown at 2 seeds"
    assert reproduction.all_of(["holds", "contradicted", "not shown at 3 seeds"]) == "contradicted"
    assert reproduction.seedwise_verdict({0: True, 1: True, 2: True}) == "holds"
    assert reproduction.seedwise_verdict({0: False, 1: False}) == "contradicted"
    assert reproduction.seedwise_verdict({0: True, 1: False, 2: True}) == "not shown at 3 seeds"
    assert reproduction.seedwise_verdict({0: True}) == "not shown at 1 seed"
    assert reproduction.tally(["holds", "holds", "contradicted", "not shown at 3 seeds"]) == \
        "holds 2/4, not shown 1/4, contradicted 1/4"


def test_a_verdict_that_changed_with_seeds_is_listed(tmp_path):
    table = tmp_path / "experiments.md"
    table.write_text("| figure | paper's claim | ours | holds |\n|---|---|---|---|\n"
                     "| Fig. 3, 6 | A beats B | 82% vs 80% | yes |\n| Fig. 3, 6 | C close to D | 4.3 | no |\n"
                     "| Fig. 3, 6 | E beats F | 81% vs 79% | yes |\n")
    one_seed = reproduction.one_seed_verdicts(table)
    assert one_seed == {"A beats B": "yes", "C close to D": "no", "E beats F": "yes"}
    over_seeds = [{"claim": "A beats B", "verdict": "not shown at 3 seeds"},
                  {"claim": "C close to D", "verdict": "contradicted"}, {"claim": "E beats F", "verdict": "holds"}]
    assert reproduction.changed_verdicts(one_seed, over_seeds) == [("A beats B", "yes", "not shown at 3 seeds")]


# --- the export of a Tschannen et al. run --------------------------------------------------


def _workdir(root, name, seed, experiment="mnist_critic_capacity", steps=200, evaluated=200, critic="bilinear",
             accuracy=0.8):
    """A fake trainer workdir: config.json, metrics.jsonl, train.log and, for image-halves
    runs, eval_curve.json evaluated up to ``evaluated``."""
    workdir = root / name / f"seed_{seed}"
    workdir.mkdir(parents=True)
    noniid = experiment == "noniid_gaussian"
    config = {"experiment": experiment, "seed": seed, "total_steps": steps, "batch_size": 128,
              "data": {"name": "noniid_gaussian" if noniid else "mnist_halves", "iid": False if noniid else None},
              "model": {"bound": {"name": "infonce"}, "critic": {"name": "concat" if noniid else critic},
                        "encoder_x": None if noniid else {"name": "mlp"}, "target_mi": None},
              "optimizer": {"learning_rate": 1e-4}}
    (workdir / "config.json").write_text(json.dumps(config))
    metrics = [{"step": s, "train/mi": 0.1 + s / 1000, "train/loss": -s, "train/steps_per_sec": 9.0}
               for s in range(100, steps + 1, 100)]
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (workdir / "train.log").write_text(
        "I0000 00:00:1796627473.500000   31952 port.cc:153] oneDNN\n"
        "I1207 07:11:19.866544 140610386205568 train.py:333] Starting\n")
    if not noniid:
        records = [{"step": s, "test_accuracy": accuracy + s / 10000 + 0.001 * seed, "train_accuracy": 0.85,
                    "mi": 4.0 + s / 1000, "loss": -4.0, "seconds": 0.5} for s in range(0, evaluated + 1, 100)]
        curve = {"settings": {"num_train": 10000, "num_test": 2000}, "pixel_baseline": None, "records": records}
        (workdir / "eval_curve.json").write_text(json.dumps(curve))
    return workdir


def _local(text):
    """Seconds since the epoch of a glog time "MMDD HH:MM:SS.ffffff" of 2026, read as
    train_wall_seconds reads it (this machine's time zone, the runs' own)."""
    return datetime.datetime.strptime(f"2026{text}", "%Y%m%d %H:%M:%S.%f").timestamp()


def test_the_export_writes_finished_runs_and_skips_the_others(tmp_path):
    runs = tmp_path / "runs" / "tsch_fig3_seeds"
    done = _workdir(runs, "bilinear_bound-nce", 0)
    half = _workdir(runs, "bilinear_bound-nce", 1, evaluated=100)  # evaluation still running
    noniid = _workdir(tmp_path / "runs" / "tsch_noniid_seeds", "nce", 2, experiment="noniid_gaussian", steps=1200)
    log = tmp_path / "sweep.log"
    log.write_text(f"[1/2] -m trainers.train --config configs/mnist_critic_capacity.py:bilinear,bound=nce "
                   f"--workdir {done} --config.seed=0 --config.total_steps=200\n")
    out = tmp_path / "reproduction_runs" / "tschannen"
    written, skipped = reproduction.export_tschannen([done, half, noniid], out, [log], commit="abc1234")
    assert [s[0] for s in skipped] == [half] and "at step 200" in skipped[0][1]
    record = json.loads((out / "fig3" / "bilinear_bound-nce" / "seed_0.json").read_text())
    assert record["final"] == {"test_accuracy": pytest.approx(0.82), "train_accuracy": 0.85, "mi": pytest.approx(4.2),
                               "loss": -4.0}
    assert record["config"] == "I_NCE, bilinear critic" and record["steps"] == 200 and len(record["records"]) == 3
    assert record["metrics"][0] == {"step": 100, "train/mi": pytest.approx(0.2)}  # train/loss etc. left out
    train = _local("1207 07:11:19.866544") - 1796627473.5
    assert record["wall_seconds"] == {"train": pytest.approx(train), "processes": 1, "eval": 1.5}
    assert record["command"] == (
        "python tools/sweep.py --config configs/mnist_critic_capacity.py --root runs/tsch_fig3_seeds --seeds 0 1 "
        "--args bilinear,bound=nce -- --config.total_steps=200 && python tools/eval_checkpoints.py --workdir "
        "runs/tsch_fig3_seeds/bilinear_bound-nce/seed_0 --num_train 10000 --num_test 2000 --no_pixels")
    # A non-i.i.d. run: the mean of its last 10 logged estimates (steps 300-1200), named from its folder.
    record = json.loads((out / "noniid" / "nce" / "seed_2.json").read_text())
    assert record["final"] == {"mi": pytest.approx(np.mean([0.1 + s / 1000 for s in range(300, 1201, 100)]))}
    assert "--args nce -- --config.total_steps=1200" in record["command"]
    assert len(written) == 2


def test_a_resumed_run_counts_each_process_not_the_pause(tmp_path):
    first, second = _local("1207 04:48:58.0"), _local("1207 07:01:01.0")  # the two processes' starts
    log = tmp_path / "train.log"
    log.write_text(f"I0000 00:00:{first:.6f}   14562 port.cc:153] a\n"
                   "I1207 04:49:02.000000 1396 train.py:333] Starting\n"
                   "I1207 04:51:58.000000 1396 train.py:429] step 5000\n"
                   f"I0000 00:00:{second:.6f}   29297 port.cc:153] a\n"
                   "I1207 07:01:05.000000 1402 train.py:325] Resumed\n")
    seconds, processes = reproduction.train_wall_seconds(log)
    assert processes == 2 and seconds == pytest.approx(180.0 + 4.0)
    assert reproduction.train_wall_seconds(tmp_path / "absent.log") == (None, 0)


# --- the report ------------------------------------------------------------------------------


def test_the_report_is_built_from_the_seed_files_and_keeps_its_hand_written_part(tmp_path, demi_folder, helpers):
    runs = tmp_path / "runs"
    workdirs = tmp_path / "work"
    for seed in (0, 1, 2):  # bilinear ~2.5 points above concat on every seed
        _workdir(workdirs, "bilinear_bound-nce", seed, accuracy=0.80)
        _workdir(workdirs, "concat_bound-nce", seed, critic="concat", accuracy=0.775)
    written, _ = reproduction.export_tschannen(sorted(workdirs.glob("*/seed_*")), runs / "tschannen")
    assert len(written) == 6
    out = tmp_path / "docs" / "reproduction.md"
    out.parent.mkdir()
    out.write_text("# old title\n\n<!-- Hand-written section: kept -->\nOur reading.\n"
                   "<!-- End of the hand-written section -->\n\nold tables\n")
    tool = helpers.load_tool("reproduction_report")
    tool.main(["--runs", str(runs), "--out", str(out), "--experiments", str(tmp_path / "none.md"),
               "--wall-times-file", str(tmp_path / "none.json")])
    text = out.read_text()
    assert text.startswith("# Reproduction report") and "Our reading." in text and "old tables" not in text
    assert ("| Fig. 3, 6 | I_NCE: bilinear critic more accurate than the MLP (concat) critic (Sec. 3.2) | "
            "82.1% vs 79.6% (n=3 seeds, 200 of 21,000 steps) | holds | T3 |") in text
    assert "| I_NCE, bilinear critic | 3 | 200 | 82.1 ± 0.1% | 85.0 ± 0.0% | 4.200 ± 0.000 | - |" in text
    assert ("- T3: `python tools/sweep.py --config configs/mnist_critic_capacity.py --root runs/work --seeds 0 1 2 "
            "--args bilinear,bound=nce concat,bound=nce -- --config.total_steps=200 && "
            "python tools/eval_checkpoints.py "
            "--workdir runs/work/*/seed_* --num_train 10000 --num_test 2000 --no_pixels`") in text
    assert "| Fig. 2, 5 | Fig. 2, 5: residual MLP encoders, coupled noise | runs in progress" in text
    assert "holds 1/3, not shown 1/3, contradicted 1/3" in text  # DEMI > InfoNCE over the three cells
    assert "## Needs a GPU or a download" in text and "Table 1" in text
