"""The evaluation-over-training and figure tools of Tschannen et al. (2020):
tools/eval_checkpoints.py (tfmi.evaluation.checkpoints) and tools/plot_tschannen.py
(tfmi.evaluation.seed_curves and tfmi.evaluation.tschannen_claims).

The plot tests fabricate tiny workdirs (config.json of the real configs, eval_curve.json,
metrics.jsonl) whose means and spreads are computed here by hand. The checkpoint test
trains a runlocal run of configs/mnist_critic_capacity.py and checks the evaluation
against the trainer's own initial weights, its SavedModel export and I_NCE computed in
NumPy from the checkpoint's critic kernel.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tfmi.config_utils import load_config
from tfmi.evaluation import seed_curves, tschannen_claims
from tfmi.workdir import CHECKPOINTS, CONFIG, EVAL_CURVE, METRICS

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIGS = REPO_ROOT / "configs"


@pytest.fixture(scope="module")
def plot_tschannen(helpers):
    return helpers.load_tool("plot_tschannen")


def _workdir(root, spec, seed, records=(), metrics=(), pixel=None):
    """A fabricated workdir ROOT/<spec arg>/seed_N of the config ``spec``."""
    config = load_config(f"{CONFIGS}/{spec}")
    config.seed = seed
    name = spec.split(":", 1)[-1].replace(",", "_").replace("=", "-")
    workdir = Path(root) / name / f"seed_{seed}"
    workdir.mkdir(parents=True)
    (workdir / CONFIG).write_text(config.to_json_best_effort())
    if records:
        curve = {"settings": {}, "pixel_baseline": {"accuracy": pixel} if pixel else None, "records": list(records)}
        (workdir / EVAL_CURVE).write_text(json.dumps(curve))
    (workdir / METRICS).write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return workdir


def _records(accuracies, estimates, steps=(0, 1000, 2000, 3000)):
    return [
        {"step": step, "test_accuracy": acc, "train_accuracy": acc + 0.01, "mi": mi, "loss": -mi}
        for step, acc, mi in zip(steps, accuracies, estimates)
    ]


# --- mean and spread over seeds -------------------------------------------------------


def test_aggregate_mean_minmax_and_sample_std_step_by_step():
    series = [{0: 1.0, 10: 2.0}, {0: 3.0}, {0: 5.0, 10: float("nan")}]
    minmax = seed_curves.aggregate(series, "minmax")
    assert minmax["steps"] == [0, 10] and minmax["n"] == [3, 1]
    assert minmax["mean"] == pytest.approx([3.0, 2.0])
    assert minmax["low"] == pytest.approx([1.0, 2.0]) and minmax["high"] == pytest.approx([5.0, 2.0])
    std = seed_curves.aggregate(series, "std")
    # Sample std of (1, 3, 5) is 2; a single run has no spread.
    assert std["low"] == pytest.approx([1.0, 2.0]) and std["high"] == pytest.approx([5.0, 2.0])
    series = [{0: 0.90}, {0: 0.94}]
    std = seed_curves.aggregate(series, "std")
    assert std["high"][0] - std["mean"][0] == pytest.approx(math.sqrt(2 * 0.02**2))
    with pytest.raises(ValueError, match="minmax or std"):
        seed_curves.aggregate(series, "sem")


def test_pooled_percentiles_pool_the_runs_then_read_the_lower_value():
    runs = [
        {"records": [{"step": 0, "log_condition": [0.1, 0.2, 0.3]}, {"step": 5, "log_condition": [1.0]}]},
        {"records": [{"step": 0, "log_condition": [0.5, 0.4]}, {"step": 5, "log_condition": [3.0, None]}]},
    ]
    pooled = seed_curves.pooled_percentiles(runs)
    assert pooled["steps"] == [0, 5]
    # Step 0 pools five values; percentile p is the sorted value at floor(p / 100 * 4).
    assert ([pooled["percentiles"][p][0] for p in (0, 20, 40, 60, 80, 100)]
            == pytest.approx([0.1, 0.1, 0.2, 0.3, 0.4, 0.5]))
    # A singular Jacobian (stored as None) counts as an infinite condition number.
    assert pooled["percentiles"][100][1] == math.inf and pooled["percentiles"][0][1] == 1.0


# --- what the paper states -------------------------------------------------------------


def test_paper_values_are_the_papers():
    paper = tschannen_claims.PAPER
    # App. E prints the true MI of the non-i.i.d. task: 0.0204 nats.
    assert paper["noniid_true_mi"] == pytest.approx(0.0204, abs=5e-5)
    assert (paper["pixel_mnist"], paper["pixel_mnist_noisy"], paper["pixel_cifar10"]) == (0.85, 0.84, 0.24)
    assert (paper["supervised_mnist"], paper["target_reached_step"], paper["runs"]) == (0.94, 7000, 20)
    desc = {"dataset": "mnist_halves", "noise_std": 0.0}
    assert tschannen_claims.pixel_reference(desc)[0] == 0.85
    assert tschannen_claims.pixel_reference({**desc, "noise_std": 0.1})[0] == 0.84
    assert tschannen_claims.pixel_reference({**desc, "dataset": "cifar10_halves"})[0] == 0.24


def _row(accuracy, mi, first_accuracy=None, seeds=(0, 1, 2), **desc):
    """A results row whose seeds read ``accuracy`` and ``mi`` -+ 0.001 (seed 1 the value itself)."""
    spread = lambda value: {seed: value + 0.001 * (seed - 1) for seed in seeds}  # noqa: E731
    return {"config": desc.get("critic") or desc.get("encoder") or "run", "desc": desc,
            "test_accuracy": None if accuracy is None else (accuracy, accuracy, accuracy),
            "mi": None if mi is None else (mi, mi, mi), "first_accuracy": first_accuracy,
            "log_condition_median": None,
            "per_seed": {"test_accuracy": {} if accuracy is None else spread(accuracy),
                         "mi": {} if mi is None else spread(mi)}}


def test_claims_hold_or_fail_on_hand_made_rows():
    rows = [_row(0.90, 4.6, critic="bilinear", bound="infonce", batch_size=128),
            _row(0.92, 4.0, critic="concat", bound="infonce", batch_size=128)]
    held = {c["claim"]: c["holds"] for c in tschannen_claims.claims("3", rows)}
    # bilinear 90% < concat 92% on every seed: the paper's ordering is contradicted; log 128 - 0.5 = 4.35.
    assert held["I_NCE: bilinear critic more accurate than the MLP (concat) critic (Sec. 3.2)"] == "contradicted"
    assert held["bilinear: testing I_NCE close to log 128 = 4.85 (within 0.5 nats, our reading of 'close')"] is True
    assert held["concat: testing I_NCE close to log 128 = 4.85 (within 0.5 nats, our reading of 'close')"] is False
    rows = [_row(0.95, None, encoder="convnet", bound="nwj", target_mi=2.0),
            _row(0.93, None, encoder="mlp", bound="nwj", target_mi=2.0)]
    (claim,) = tschannen_claims.claims("4", rows)
    assert claim["holds"] == "holds" and claim["ours"] == "95.0% vs 93.0%"
    rows = [_row(0.95, None, encoder="convnet", bound="nwj", target_mi=2.0, seeds=(0,)),
            _row(0.93, None, encoder="mlp", bound="nwj", target_mi=2.0, seeds=(0,))]
    assert tschannen_claims.claims("4", rows)[0]["holds"] == "not shown at 1 seed"
    rows = [_row(None, 0.03, iid=False), _row(None, 0.01, iid=True)]
    assert [c["holds"] for c in tschannen_claims.claims("noniid", rows)] == [True, True]
    rows = [_row(None, 0.01, iid=False)]  # below the true MI 0.0204: the paper says above
    assert [c["holds"] for c in tschannen_claims.claims("noniid", rows)] == [False]


# --- the figure and the table ---------------------------------------------------------


def test_plot_and_table_from_two_seeds(tmp_path, capsys, plot_tschannen):
    root = tmp_path / "runs"
    spec = "mnist_critic_capacity.py:bilinear,bound=nce"
    _workdir(root, spec, 0, _records([0.80, 0.88, 0.90], [1.0, 3.0, 4.0]), pixel=0.849)
    _workdir(root, spec, 1, _records([0.82, 0.86, 0.94, 0.95], [1.2, 3.4, 4.4, 4.5]), pixel=0.851)
    out = tmp_path / "fig3.png"
    plot_tschannen.main([str(root), "--figure", "3", "--out", str(out), "--table"])
    printed = capsys.readouterr().out

    header = out.read_bytes()[:8]
    assert header == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20000
    import matplotlib.image

    assert matplotlib.image.imread(str(out)).shape[0] > 300

    curves = json.loads((tmp_path / "fig3.json").read_text())["panels"]
    accuracy = curves["test accuracy, I_NCE"]["bilinear critic"]
    assert accuracy["steps"] == [0, 1000, 2000, 3000] and accuracy["n"] == [2, 2, 2, 1]
    assert accuracy["mean"] == pytest.approx([0.81, 0.87, 0.92, 0.95])
    assert accuracy["low"] == pytest.approx([0.80, 0.86, 0.90, 0.95])
    assert accuracy["high"] == pytest.approx([0.82, 0.88, 0.94, 0.95])
    assert curves["testing I_NCE (Fig. 6)"]["bilinear critic"]["mean"][2] == pytest.approx(4.2)

    # The table reads the last step that both seeds reached (2000).
    table = json.loads((tmp_path / "fig3_table.json").read_text())
    (row,) = table["rows"]
    assert row["seeds"] == 2 and row["final_step"] == 2000
    assert row["test_accuracy"] == pytest.approx([0.92, 0.90, 0.94])
    assert row["mi"] == pytest.approx([4.2, 4.0, 4.4])
    assert row["pixel_baseline"] == pytest.approx(0.85)
    assert row["agrees"] is True  # bilinear clearly beats the pixel baseline
    assert "| I_NCE, bilinear critic | 2 | 2000 | 92.0% [90.0, 94.0] |" in printed
    assert "I_NCE close to log 128 = 4.85" in printed

    # The same with the standard deviation as the spread.
    plot_tschannen.main([str(root), "--figure", "6", "--out", str(tmp_path / "std.png"), "--table", "--spread", "std"])
    (row,) = json.loads((tmp_path / "std_table.json").read_text())["rows"]
    std = math.sqrt(2 * 0.02**2)
    assert row["test_accuracy"] == pytest.approx([0.92, 0.92 - std, 0.92 + std])


def test_table_checks_the_papers_critic_claims(tmp_path, capsys, plot_tschannen):
    root = tmp_path / "runs"
    for critic, accuracy, nwj in (("bilinear", 0.93, 2.0), ("separable", 0.91, 2.5), ("concat", 0.86, 3.5)):
        _workdir(root, f"mnist_critic_capacity.py:{critic},bound=nwj", 0, _records([0.85, accuracy], [0.0, nwj]))
    plot_tschannen.main([str(root), "--figure", "3", "--out", str(tmp_path / "f.png"), "--table"])
    claims = json.loads((tmp_path / "f_table.json").read_text())["claims"]
    held = {claim["claim"]: claim["holds"] for claim in claims}
    # One seed each: a difference of means cannot be told from seed noise.
    assert held["I_NWJ: bilinear critic more accurate than the MLP (concat) critic (Sec. 3.2)"] == "not shown at 1 seed"
    assert held["I_NWJ: MLP (concat) critic reaches a higher testing I_NWJ than bilinear (Fig. 3)"] == (
        "not shown at 1 seed")
    assert "93.0% vs 86.0%" in capsys.readouterr().out
    for seed, shift in ((1, 0.004), (2, -0.003)):  # two more seeds, each critic moved alike: the ordering holds
        for critic, accuracy, nwj in (("bilinear", 0.93, 2.0), ("separable", 0.91, 2.5), ("concat", 0.86, 3.5)):
            _workdir(root, f"mnist_critic_capacity.py:{critic},bound=nwj", seed,
                     _records([0.85, accuracy + shift + 0.002 * (critic == "bilinear") * seed], [0.0, nwj + shift]))
    plot_tschannen.main([str(root), "--figure", "3", "--out", str(tmp_path / "f.png"), "--table"])
    held = {claim["claim"]: claim["holds"]
            for claim in json.loads((tmp_path / "f_table.json").read_text())["claims"]}
    assert held["I_NWJ: bilinear critic more accurate than the MLP (concat) critic (Sec. 3.2)"] == "holds"
    assert held["I_NWJ: bilinear critic more accurate than separable (Sec. 3.2)"] == "holds"
    assert held["I_NWJ: MLP (concat) critic reaches a higher testing I_NWJ than bilinear (Fig. 3)"] == "holds"


def test_noniid_figure_reads_metrics_jsonl(tmp_path, capsys, plot_tschannen):
    root = tmp_path / "runs"
    steps = (100, 200, 300)
    _workdir(root, "noniid_gaussian.py:nce", 0,
             metrics=[{"step": s, "train/mi": v} for s, v in zip(steps, (0.1, 0.3, 0.5))])
    _workdir(root, "noniid_gaussian.py:nce,iid", 0,
             metrics=[{"step": s, "train/mi": v} for s, v in zip(steps, (-0.2, 0.0, -0.1))])
    plot_tschannen.main([str(root), "--figure", "noniid", "--out", str(tmp_path / "n.png"), "--table", "--last", "2"])
    rows = {row["config"]: row for row in json.loads((tmp_path / "n_table.json").read_text())["rows"]}
    # The final value is the mean of the last two logged estimates.
    assert rows["I_NCE, non-i.i.d."]["mi"][0] == pytest.approx(0.4)
    assert rows["I_NCE, i.i.d."]["mi"][0] == pytest.approx(-0.05)
    assert rows["I_NCE, non-i.i.d."]["agrees"] is True and rows["I_NCE, i.i.d."]["agrees"] is True
    assert (tmp_path / "n.png").exists()
    assert "0.0204" in capsys.readouterr().out


def test_plot_refuses_runs_of_another_figure(tmp_path, plot_tschannen):
    _workdir(tmp_path / "runs", "noniid_gaussian.py:nce", 0, metrics=[{"step": 1, "train/mi": 0.1}])
    with pytest.raises(SystemExit, match="no workdir of"):
        plot_tschannen.main([str(tmp_path / "runs"), "--figure", "3", "--out", str(tmp_path / "x.png")])


# --- evaluation of checkpoints --------------------------------------------------------


def test_eval_checkpoints_refuses_runs_without_checkpoints_or_halves(tmp_path):
    from tfmi.evaluation import checkpoints

    empty = _workdir(tmp_path / "a", "mnist_critic_capacity.py:runlocal", 0)
    with pytest.raises(ValueError, match="holds no checkpoints"):
        checkpoints.evaluate_checkpoints(empty)
    gaussian = _workdir(tmp_path / "b", "noniid_gaussian.py:runlocal", 0)
    with pytest.raises(ValueError, match="noniid_gaussian.*metrics.jsonl"):
        checkpoints.evaluate_checkpoints(gaussian)
    with pytest.raises(ValueError, match="no config.json"):
        checkpoints.evaluate_checkpoints(tmp_path)


def test_the_model_names_its_evaluated_encoder(tmp_path):
    """g_1 comes from the model (infomax: encoder_x; adversarial: encoder); a run whose
    model has none is refused before any data is loaded."""
    from tfmi.evaluation import checkpoints

    for spec, attribute in (("mnist_critic_capacity.py:runlocal", "encoder_x"),
                            ("mnist_adversarial.py:runlocal", "encoder")):
        config = checkpoints.load_run_config(_workdir(tmp_path / attribute, spec, 0))
        model, encoder = checkpoints.build_run_model(config)
        assert encoder is getattr(model, attribute) and encoder is not None
    assert model.checkpoint_record(9) == {"encoder_iterations": model.encoder_iterations(9)}
    assert "mi" not in model.metric_names  # mi_weight 0: no held-out estimate to read
    # With mi_weight > 0 the adversarial forward reads the label of the held-out batches too.
    from tfmi.data.mnist_halves import Halves

    spec = "mnist_adversarial.py:runlocal,mi_weight=0.1"
    model, _ = checkpoints.build_run_model(checkpoints.load_run_config(_workdir(tmp_path / "mi", spec, 0)))
    rng = np.random.default_rng(0)
    test = Halves(*rng.uniform(size=(2, 256, 392)).astype(np.float32), rng.integers(0, 10, 256))
    estimate = checkpoints._evaluate_bounds(model, checkpoints.held_out_batches(test, 128))
    assert estimate["mi_batches"] == 2 and math.isfinite(estimate["mi"])
    pixels = _workdir(tmp_path / "pixels", "mnist_critic_capacity.py:runlocal", 0)
    config = json.loads((pixels / CONFIG).read_text())
    config["model"]["encoder_x"] = None
    (pixels / CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="'infomax' model without a top-half encoder g_1"):
        checkpoints.load_run_config(pixels)


def test_eval_checkpoints_on_a_runlocal_run(tmp_path, capsys, helpers):
    import tensorflow as tf

    from tfmi.data import mnist_halves
    from tfmi.evaluation import checkpoints, linear_eval
    from trainers import train as trainer

    config = load_config(f"{CONFIGS}/mnist_critic_capacity.py:runlocal")
    config.checkpoint_every = 2
    config.keep_checkpoints = 3  # ckpt-2, ckpt-4, ckpt-6
    workdir = tmp_path / "run"
    trainer.train(config, str(workdir))
    eval_checkpoints = helpers.load_tool("eval_checkpoints")
    args = ["--workdir", str(workdir), "--num_train", "600", "--num_test", "160"]
    eval_checkpoints.main(args)
    curve = json.loads((workdir / EVAL_CURVE).read_text())
    records = {record["step"]: record for record in curve["records"]}
    assert sorted(records) == [0, 2, 4, 6]
    assert records[0]["source"] == "init" and records[6]["source"] == "checkpoint"
    assert curve["settings"]["num_test"] == 160 and curve["pixel_baseline"]["num_test"] == 160
    for record in records.values():
        assert 0.1 < record["test_accuracy"] <= 1 and 0.1 < record["train_accuracy"] <= 1
        assert record["mi_batches"] == 160 // 16 and math.isfinite(record["mi"])
        assert record["bounds"]["infonce"] == pytest.approx(record["mi"])  # the run's bound is I_NCE

    # Step 6: I_NCE in NumPy from the exported encoders and the checkpoint's critic kernel.
    test = mnist_halves.load_mnist_halves("test")
    test = type(test)(*(array[:160] for array in test))
    kernel = tf.train.load_checkpoint(str(workdir / CHECKPOINTS / "ckpt-6")).get_tensor(
        "model/critic/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    )
    encode_x = linear_eval.load_encoder(workdir, "encoder_x")
    encode_y = linear_eval.load_encoder(workdir, "encoder_y")
    estimates = []
    for batch in checkpoints.held_out_batches(test, 16):
        scores = encode_x(batch["x"]).astype(np.float64) @ kernel @ encode_y(batch["y"]).astype(np.float64).T
        log_norm = np.log(np.exp(scores - scores.max(1, keepdims=True)).sum(1)) + scores.max(1)
        estimates.append(np.mean(np.diag(scores) - log_norm) + np.log(16))
    assert records[6]["mi"] == pytest.approx(np.mean(estimates), abs=1e-4)
    assert abs(records[6]["mi"] - records[0]["mi"]) > 1e-3  # the steps differ: each was restored

    # Step 0 is the trainer's initialisation: two Adam steps of 1e-4 from the ckpt-2 weights.
    model, _ = checkpoints.build_run_model(checkpoints.load_run_config(workdir))
    initial = [variable.numpy().copy() for variable in model.trainable_variables]
    checkpoints.restore_checkpoint(model, str(workdir / CHECKPOINTS / "ckpt-2"))
    for before, variable in zip(initial, model.trainable_variables):
        assert np.abs(variable.numpy() - before).max() < 5e-4
    assert max(np.abs(v).max() for v in initial) > 0.05  # a different draw would differ by that much

    # A killed evaluation resumes: only the missing step is evaluated, to the same values.
    curve["records"] = [r for r in curve["records"] if r["step"] != 6]
    (workdir / EVAL_CURVE).write_text(json.dumps(curve))
    capsys.readouterr()
    eval_checkpoints.main(args)
    assert "1 of 4 steps to evaluate" in capsys.readouterr().out
    resumed = {r["step"]: r for r in json.loads((workdir / EVAL_CURVE).read_text())["records"]}
    assert sorted(resumed) == [0, 2, 4, 6]
    assert resumed[6]["test_accuracy"] == records[6]["test_accuracy"]
    assert resumed[6]["mi"] == pytest.approx(records[6]["mi"], abs=1e-6)

    # Other settings are refused rather than mixed into the file.
    with pytest.raises(SystemExit) as exit_info:
        eval_checkpoints.main(["--workdir", str(workdir), "--num_train", "600", "--num_test", "80"])
    assert exit_info.value.code == 2
    assert "num_test" in capsys.readouterr().err
