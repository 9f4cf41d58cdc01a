"""``tfmi.pairwise_mi`` and ``tfmi pairwise``: every pair of a table's columns, each
exactly the single-pair ``estimate_mi`` / ``estimate_cmi`` call, resumable from a
JSON-lines file; its heatmap; the benchmark table with known MI (tfmi.data.pairwise_table).
Small tables (4 columns x 600 rows) and the copula where the default is not the point."""

import json
import math
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

import tfmi
from tfmi import command_line
from tfmi.data import ground_truth, pairwise_table
from tfmi.estimation import pairwise

pd = pytest.importorskip("pandas")

ROWS = 600
# A Gaussian table: columns a, b, c, d ~ N(0, R); I(i; j) = -1/2 log(1 - R_ij^2).
CORRELATION = np.array([[1.0, 0.8, 0.3, 0.0], [0.8, 1.0, 0.5, 0.0], [0.3, 0.5, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
NAMES = ["a", "b", "c", "d"]


def _gaussian_values(rows=ROWS, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, 4)) @ np.linalg.cholesky(CORRELATION).T


@pytest.fixture
def frame():
    return pd.DataFrame(_gaussian_values(), columns=NAMES)


def _single_pair_checks(result, single):
    """Every pair of ``result`` is ``single(i, j)`` (an MIEstimate) in every field."""
    for pair in result.table:
        i, j = result.names.index(pair.x), result.names.index(pair.y)
        expected = single(i, j)
        assert (pair.mi, (pair.low, pair.high), pair.stderr) == (expected.mi, expected.interval, expected.stderr)
        assert (pair.method, list(pair.warnings)) == (expected.method, expected.warnings)
        assert result.matrix[i, j] == result.matrix[j, i] == expected.mi
        assert (result.low[j, i], result.high[j, i]) == expected.interval
    assert np.isnan(np.diag(result.matrix)).all() and np.isnan(np.diag(result.low)).all()


# The function ------------------------------------------------------------------------


def test_a_dataframe_gives_a_labelled_matrix_whose_values_hold_the_gaussian_mi(frame):
    result = tfmi.pairwise_mi(frame, estimator="copula")
    assert result.names == NAMES and len(result.table) == 6
    table = result.to_frame()
    assert list(table.index) == NAMES and list(table.columns) == NAMES
    assert table.loc["a", "b"] == table.loc["b", "a"] == result.matrix[0, 1]
    long = result.long_frame()
    assert list(long.columns[:6]) == ["pair", "x", "y", "mi", "low", "high"]
    assert list(long["mi"]) == sorted(long["mi"], reverse=True) and long["pair"].iloc[0] == "a ~ b"
    for pair in result.table:
        truth = -0.5 * math.log(1 - CORRELATION[NAMES.index(pair.x), NAMES.index(pair.y)] ** 2)
        # 99.9% (3.29 stderr) rather than the 95% interval: six pairs at 95% miss one a quarter of the time
        assert abs(pair.mi - truth) <= 3.29 * pair.stderr, (pair, truth)
        assert pair.holds_zero == (pair.low == 0.0)
    assert not result.table[NAMES.index("b")].holds_zero  # a ~ b: 0.51 nats, far from 0
    normalized = result.normalized  # the correlation scale: |rho| of a Gaussian with that MI
    assert np.isnan(np.diag(normalized)).all()
    upper = np.triu_indices(len(NAMES), 1)
    np.testing.assert_allclose(normalized[upper], np.sqrt(1 - np.exp(-2 * np.clip(result.matrix[upper], 0, None))))


def test_every_pair_is_the_single_pair_call_of_estimate_mi():
    """Computed in two worker processes, each pair is still the call made here."""
    values = _gaussian_values()
    result = tfmi.pairwise_mi(values, estimator="copula", seed=3, bootstrap=8, n_jobs=2)
    assert result.names == ["0", "1", "2", "3"] and result.settings["seed"] == 3
    _single_pair_checks(result, lambda i, j: tfmi.estimate_mi(values[:, i], values[:, j], estimator="copula", seed=3,
                                                              bootstrap=8))


def test_the_default_estimator_is_the_single_pair_default_on_a_tiny_table():
    values = _gaussian_values(rows=250)[:, :3]
    result = tfmi.pairwise_mi(values)
    _single_pair_checks(result, lambda i, j: tfmi.estimate_mi(values[:, i], values[:, j]))


def test_given_columns_condition_every_pair_as_estimate_cmi(frame):
    result = tfmi.pairwise_mi(frame, given="c", estimator="copula")
    assert result.names == ["a", "b", "d"] and result.given == ["c"] and result.title == "I(x_i; x_j | c)"
    z = frame["c"].to_numpy()
    _single_pair_checks(result, lambda i, j: tfmi.estimate_cmi(frame[result.names[i]].to_numpy(),
                                                               frame[result.names[j]].to_numpy(), z,
                                                               estimator="copula"))
    # Gaussian partial correlation of a and b given c
    r_ab, r_ac, r_bc = CORRELATION[0, 1], CORRELATION[0, 2], CORRELATION[1, 2]
    partial = (r_ab - r_ac * r_bc) / math.sqrt((1 - r_ac**2) * (1 - r_bc**2))
    pair = result.table[0]
    assert pair.pair == "a ~ b" and abs(pair.mi + 0.5 * math.log(1 - partial**2)) <= 3.29 * pair.stderr


def test_columns_by_name_or_index_and_a_dict_table(frame):
    by_name = tfmi.pairwise_mi(frame, columns=["d", "a", "b"], estimator="copula", bootstrap=0)
    by_index = tfmi.pairwise_mi(frame, columns=[3, 0, 1], estimator="copula", bootstrap=0)
    as_dict = tfmi.pairwise_mi({name: frame[name].to_numpy() for name in NAMES}, columns=["d", "a", "b"],
                               estimator="copula", bootstrap=0)
    assert by_name.names == by_index.names == as_dict.names == ["d", "a", "b"]
    assert np.array_equal(by_name.matrix, by_index.matrix, equal_nan=True)
    assert np.array_equal(by_name.matrix, as_dict.matrix, equal_nan=True)


def _lines(path):
    """The records of a JSON-lines file; a torn line is skipped."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def test_an_interrupted_run_keeps_its_pairs_and_a_rerun_computes_only_the_rest(frame, tmp_path, monkeypatch):
    path = tmp_path / "pairs.jsonl"
    seen = []

    def stop_after_two(done, total, pair):
        seen.append((done, total, pair))
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as stopped:
        tfmi.pairwise_mi(frame, estimator="copula", results=path, progress=stop_after_two, n_jobs=1)
    assert isinstance(stopped.value, pairwise.PairwiseInterrupted)
    assert (stopped.value.done, stopped.value.total) == (2, 6) and str(path) in str(stopped.value)
    assert seen == [(1, 6, "a ~ b"), (2, 6, "a ~ c")]
    kept = _lines(path)
    assert [(line["settings"]["x"], line["settings"]["y"]) for line in kept] == [("a", "b"), ("a", "c")]

    calls, progress = [], []
    original = pairwise.estimate.estimate_mi
    monkeypatch.setattr(pairwise.estimate, "estimate_mi", lambda *args, **kwargs: calls.append(1) or original(
        *args, **kwargs))
    with open(path, "a") as handle:
        handle.write('{"settings": {"x": "a", "y"')  # a line torn by a killed run
    resumed = tfmi.pairwise_mi(frame, estimator="copula", results=path, progress=lambda *a: progress.append(a),
                               n_jobs=1)
    assert len(calls) == 4 and resumed.reused == 2 and [a[0] for a in progress] == [3, 4, 5, 6]
    assert [pair.reused for pair in resumed.table] == [True, True, False, False, False, False]
    fresh = tfmi.pairwise_mi(frame, estimator="copula")
    assert np.array_equal(resumed.matrix, fresh.matrix, equal_nan=True)
    assert len(_lines(path)) == 6 and path.read_text().count("\n") == 7  # the torn line alone on its line

    calls.clear()
    changed = frame.assign(d=frame["d"] * 2.0 + 1.0)  # d's values change: only its 3 pairs are computed again
    tfmi.pairwise_mi(changed, estimator="copula", results=path, n_jobs=1)
    assert len(calls) == 3
    calls.clear()
    tfmi.pairwise_mi(frame, estimator="copula", seed=1, results=path, n_jobs=1)  # other settings: nothing read back
    assert len(calls) == 6


BAD_INPUTS = [
    ({"columns": ["a", "x"]}, "columns names no column 'x'"),
    ({"columns": ["a"]}, "needs at least 2 columns"),
    ({"columns": ["a", "b"], "given": "b"}, "also in given"),
    ({"columns": ["a", "a", "b"]}, "lists column 'a' twice"),
    ({"given": 7}, "given names no column 7"),
    ({"progress": "yes"}, "progress must be None or a callable"),
    ({"n_jobs": 0}, "n_jobs must be -1 (all cores) or a whole number >= 1"),
]


@pytest.mark.parametrize("kwargs,message", BAD_INPUTS, ids=[message for _, message in BAD_INPUTS])
def test_bad_arguments_are_one_value_error_naming_them(frame, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tfmi.pairwise_mi(frame, estimator="copula", **kwargs)


def test_nan_policy_omit_gives_each_pair_the_rows_complete_in_its_columns(frame):
    holed = frame.assign(a=frame["a"].where(frame.index % 7 != 0), c=frame["c"].where(frame.index % 5 != 1))
    result = tfmi.pairwise_mi(holed, estimator="copula", nan_policy="omit", bootstrap=4, n_jobs=1)

    def single(i, j):
        both = holed[[result.names[i], result.names[j]]].dropna()
        return tfmi.estimate_mi(both.iloc[:, 0], both.iloc[:, 1], estimator="copula", nan_policy="omit",
                                bootstrap=4)

    for pair in result.table:
        expected = single(result.names.index(pair.x), result.names.index(pair.y))
        assert (pair.mi, pair.stderr) == (expected.mi, expected.stderr)
        missing = {"a", "c"} & {pair.x, pair.y}
        assert any("were left out" in message for message in pair.warnings) == bool(missing), pair


def test_discrete_columns_are_passed_to_each_pair_as_its_sides(frame):
    labelled = frame.assign(d=(frame["a"] > 0).astype(int) + (frame["a"] > 1).astype(int))
    result = tfmi.pairwise_mi(labelled, columns=["a", "b", "d"], discrete=["d"], bootstrap=4, n_jobs=1)
    pair = result.table[1]
    assert pair.pair == "a ~ d" and pair.method.startswith("y as 3 classes")
    expected = tfmi.estimate_mi(labelled["a"], labelled["d"], discrete_x=False, discrete_y=True, bootstrap=4)
    assert (pair.mi, pair.stderr) == (expected.mi, expected.stderr)
    with pytest.raises(ValueError, match="discrete names no column 'q'"):
        tfmi.pairwise_mi(labelled, discrete=["q"])
    conditioned = tfmi.pairwise_mi(labelled, columns=["a", "b"], given="d", discrete=["d"], bootstrap=4, n_jobs=1)
    expected = tfmi.estimate_cmi(labelled["a"], labelled["b"], labelled["d"], discrete_x=False, discrete_y=False,
                                 discrete_z=True, bootstrap=4)
    assert conditioned.table[0].method.startswith("strata: the mean over the 3 values of z's discrete columns")
    assert (conditioned.table[0].mi, conditioned.table[0].stderr) == (expected.mi, expected.stderr)


def test_text_columns_of_a_table_are_discrete_sides(frame):
    cities = np.array(["Oslo", "Rome", "Lima"])[(frame["a"] > 0).astype(int) + (frame["a"] > 1).astype(int)]
    named = frame.assign(city=cities)
    result = tfmi.pairwise_mi(named, columns=["a", "city"], bootstrap=4, n_jobs=1)
    expected = tfmi.estimate_mi(named["a"], named["city"], bootstrap=4)
    assert result.table[0].method.startswith("y as 3 classes") and result.table[0].mi == expected.mi
    with pytest.raises(ValueError, match=r"columns \['city'\] hold categories \(text\); they cannot be continuous"):
        tfmi.pairwise_mi(named, columns=["a", "city"], discrete=False)


def test_bad_tables_are_one_value_error_naming_the_column(frame, tmp_path):
    with pytest.raises(ValueError, match=r"columns \['d'\] are constant"):
        tfmi.pairwise_mi(frame.assign(d=1.0), estimator="copula")
    with pytest.raises(ValueError, match=r"column 'b' holds NaN \(missing\) values in 1 rows; pass "
                                         r"nan_policy='omit'"):
        tfmi.pairwise_mi(frame.assign(b=frame["b"].where(frame.index != 5)), estimator="copula")
    with pytest.raises(ValueError, match=r"columns \['e'\] hold categories \(text\): they are discrete, and "
                                         r"estimator 'copula' models every column as continuous"):
        tfmi.pairwise_mi(frame.assign(e=["u", "v"] * 300), estimator="copula")
    with pytest.raises(ValueError, match=r"column 'e' holds numbers and \['v'\] that are not"):
        tfmi.pairwise_mi(frame.assign(e=[1.0, "v"] * 300), estimator="copula")  # numbers and text in one column
    with pytest.raises(ValueError, match="names columns \\['a'\\] more than once"):
        tfmi.pairwise_mi(frame.rename(columns={"b": "a"}), estimator="copula")
    with pytest.raises(ValueError, match="table must be a DataFrame, a dict"):
        tfmi.pairwise_mi(np.zeros(10), estimator="copula")
    with pytest.raises(ValueError, match="is a directory"):
        tfmi.pairwise_mi(frame, estimator="copula", results=tmp_path)


def test_without_pandas_the_frames_say_how_to_install_it(frame, monkeypatch):
    result = tfmi.pairwise_mi(frame, columns=["a", "b"], estimator="copula", bootstrap=0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    for method in (result.to_frame, result.long_frame):
        with pytest.raises(ImportError, match=re.escape("pip install 'tfmi[table]'")):
            method()


def test_the_heatmap_is_a_png_with_the_names_values_and_marks(frame, tmp_path):
    result = tfmi.pairwise_mi(frame, estimator="copula")
    path = tmp_path / "heatmap.png"
    figure = result.plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    heatmap, colorbar = figure.axes
    assert [label.get_text() for label in heatmap.get_xticklabels()] == NAMES
    assert [label.get_text() for label in heatmap.get_yticklabels()] == NAMES
    assert colorbar.get_ylabel() == "mutual information (nats)" and "I(x_i; x_j)" in heatmap.get_title()
    shown = sorted(text.get_text() for text in heatmap.texts)
    values = result.matrix[~np.eye(4, dtype=bool)]
    assert shown == sorted(f"{value:.2f}".replace("-0.00", "0.00") for value in values)
    hatched = [patch for patch in heatmap.patches if patch.get_hatch()]
    assert len(hatched) == 2 * sum(pair.holds_zero for pair in result.table) > 0
    from matplotlib.figure import Figure

    axes = Figure().add_subplot()
    assert result.plot(ax=axes) is axes.figure and not (tmp_path / "other.png").exists()


# The command line ----------------------------------------------------------------------


def _write_table(folder, values, names):
    path = folder / "table.csv"
    np.savetxt(path, values, delimiter=",", header=",".join(names), comments="", fmt="%.17g")
    return path


def test_the_command_prints_the_named_matrix_and_pairs_and_writes_the_heatmap(tmp_path, monkeypatch, capsys):
    _write_table(tmp_path, _gaussian_values(), NAMES)
    monkeypatch.chdir(tmp_path)
    command_line.main(["pairwise", "table.csv", "--estimator", "copula", "--plot", "heatmap.png", "--quiet"])
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("I(x_i; x_j) in nats: 4 columns of table.csv, 600 rows, 6 pairs")
    assert out[1].split() == NAMES and [line.split()[0] for line in out[2:6]] == NAMES
    pairs = [line for line in out if " ~ " in line]
    assert pairs[0].startswith("a ~ b") and len(pairs) == 6
    values = [float(line.split()[3]) for line in pairs]
    assert values == sorted(values, reverse=True) and (tmp_path / "heatmap.png").stat().st_size > 0
    expected = tfmi.pairwise_mi(pd.read_csv(tmp_path / "table.csv"), estimator="copula")
    assert values[0] == round(expected.matrix[0, 1], 4)

    command_line.main(["pairwise", "table.csv", "--columns", "d,a,b", "--given", "c", "--estimator", "copula",
                       "--json", "--quiet"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["names"] == ["d", "a", "b"] and shown["given"] == ["c"]
    assert shown["matrix"][0][0] is None and shown["matrix"][1][2] == shown["matrix"][2][1] > 0.1


CLI_BAD_INPUTS = [
    (["--columns", "a,x"], "no column 'x' (--columns)"),
    (["--columns", "a,b", "--given", "b"], "in --columns and in --given"),
    (["--columns", "a"], "at least 2 columns"),
    (["--results", "missing/pairs.jsonl"], "--results missing/pairs.jsonl: the folder"),
    (["--given", "c", "--estimator", "flow"], "--estimator 'flow' is not one"),
]


@pytest.mark.parametrize("args,fragment", CLI_BAD_INPUTS, ids=[fragment for _, fragment in CLI_BAD_INPUTS])
def test_bad_command_input_is_one_error_line_and_status_2(tmp_path, monkeypatch, capsys, args, fragment):
    _write_table(tmp_path, _gaussian_values(rows=50), NAMES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TFMI_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        command_line.main(["pairwise", "table.csv", *args, "--quiet"])
    said = capsys.readouterr()
    assert stopped.value.code == 2 and said.out == ""
    assert len(said.err.splitlines()) == 1 and said.err.startswith("error: ") and fragment in said.err, said.err


def test_ctrl_c_keeps_the_finished_pairs_and_a_rerun_reads_them_back(tmp_path, monkeypatch, capsys, helpers):
    """SIGINT once the results file holds a pair: whatever the machine's speed, the run
    stops with 130 among its 435 pairs (each with 200 bootstrap refits) and says how many
    pairs the file keeps."""
    names = [f"c{index}" for index in range(30)]
    values = np.random.default_rng(0).standard_normal((ROWS, 30))
    values[:, 1] += values[:, 0]
    _write_table(tmp_path, values, names)
    path = tmp_path / "pairs.jsonl"
    arguments = ["pairwise", "table.csv", "--estimator", "copula", "--bootstrap", "200", "--results", "pairs.jsonl"]
    process = subprocess.Popen([sys.executable, "-m", "tfmi.command_line", *arguments], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=helpers.default_sigint)
    try:
        assert helpers.wait_for(lambda: path.exists() and path.read_text().count("\n") >= 1, 300, process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        helpers.stop(process)
    assert process.returncode == 130 and out == "", err
    kept = _lines(path)
    assert 1 <= len(kept) < 435
    assert err.splitlines()[-1] == (f"tfmi: stopped by SIGINT (Ctrl-C); {len(kept)} of 435 pairs finished, kept in "
                                    f"pairs.jsonl: run the same command again to resume.")
    # The rerun of three of the columns reads back those of its pairs that the file holds.
    finished = {(line["settings"]["x"], line["settings"]["y"]): line["mi"] for line in kept}
    subset = [("c0", "c1"), ("c0", "c2"), ("c1", "c2")]
    monkeypatch.chdir(tmp_path)
    command_line.main([*arguments, "--columns", "c0,c1,c2", "--json"])
    said = capsys.readouterr()
    shown = json.loads(said.out)
    reused = [pair for pair in subset if pair in finished]
    assert shown["reused"] == len(reused) and f"{len(reused)} read back from pairs.jsonl" in said.err
    for row in shown["table"]:
        assert row["reused"] == ((row["x"], row["y"]) in finished)
        if row["reused"]:
            assert row["mi"] == finished[row["x"], row["y"]]


# The benchmark table -----------------------------------------------------------------


def test_the_benchmark_table_s_mi_values_match_their_formulas():
    assert len(pairwise_table.NAMES) == 16 and set(pairwise_table.QUICK_COLUMNS) <= set(pairwise_table.NAMES)
    # the quadrature against the closed form of a linear f: 1/2 log(1 + a^2 / sigma^2)
    assert pairwise_table.additive_noise_mi(lambda x: 2.0 * x, 0.5) == pytest.approx(0.5 * math.log(17), abs=1e-9)
    assert pairwise_table.additive_noise_mi(pairwise_table._square, 0.5) == pytest.approx(pairwise_table.QUAD_MI,
                                                                                           abs=5e-5)
    assert pairwise_table.additive_noise_mi(pairwise_table._sine, 0.3) == pytest.approx(pairwise_table.SINE_MI,
                                                                                         abs=5e-5)
    # ... and against the Monte Carlo mean of the exact log ratio log N(y; f(x), s^2) - log p(y)
    rng = np.random.default_rng(1)
    for function, sigma, truth in ((pairwise_table._square, 0.5, pairwise_table.QUAD_MI),
                                   (pairwise_table._sine, 0.3, pairwise_table.SINE_MI)):
        x = rng.standard_normal(20_000)
        y = function(x) + sigma * rng.standard_normal(20_000)
        nodes = np.linspace(-8, 8, 2001)
        weights = np.exp(-nodes**2 / 2)
        weights /= weights.sum()
        marginal = np.exp(-(y[:, None] - function(nodes)[None, :]) ** 2 / (2 * sigma**2)) @ weights
        ratio = -((y - function(x)) ** 2) / (2 * sigma**2) - np.log(marginal)
        assert abs(ratio.mean() - truth) <= 4 * ratio.std() / math.sqrt(len(x))
    names = list(pairwise_table.NAMES)
    truth = pairwise_table.true_mi(names)
    assert np.array_equal(truth, truth.T, equal_nan=True)
    assert truth[names.index("g_normal"), names.index("g_lognormal")] == pytest.approx(-0.5 * math.log(1 - 0.64))
    assert truth[names.index("ai_x"), names.index("ai_y")] == ground_truth.MIXTURE_MI["1v1-AI"][0]
    assert truth[names.index("uniform_x"), names.index("uniform_y")] == pytest.approx(0.1 - math.log(0.2))
    assert np.count_nonzero(truth[np.triu_indices(16, 1)]) == 8
    assert pairwise_table.family("quad_x", "sine_y") == "independent"


def test_the_benchmark_table_s_blocks_are_drawn_alike_whichever_columns_are_chosen():
    names, values = pairwise_table.sample(3000, seed=2)
    chosen, subset = pairwise_table.sample(3000, seed=2, columns=["quad_y", "g_cube"])
    assert np.array_equal(subset, values[:, [names.index("quad_y"), names.index("g_cube")]])
    copula = values[:, :3]
    normal_scores = np.log(copula[:, 1])  # g_lognormal back to its normal
    assert np.corrcoef(copula[:, 0], normal_scores)[0, 1] == pytest.approx(0.8, abs=0.03)
    assert abs(np.corrcoef(values[:, names.index("x_shape_x")], values[:, names.index("x_shape_y")])[0, 1]) < 0.06


def test_the_benchmark_tool_scores_against_the_truth_and_resumes(tmp_path, helpers, monkeypatch):
    tool = helpers.load_tool("bench_pairwise")
    columns = ["g_normal", "g_lognormal", "ind_normal"]
    arguments = ["--columns", ",".join(columns), "--rows", "400", "--methods", "tfmi-default,sklearn",
                 "--results", str(tmp_path / "runs"), "--out", str(tmp_path / "report"),
                 "--heatmap", str(tmp_path / "heatmap.png"), "--date", "2026-12-07"]
    assert tool.main(arguments) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    truth = pairwise_table.true_mi(columns)
    upper = np.triu_indices(3, 1)
    for scores, run in zip(report["scores"], report["runs"]):
        errors = np.abs(np.array(run["matrix"], dtype=float)[upper] - truth[upper])
        assert scores["mae"] == pytest.approx(errors.mean()) and scores["mae_dependent"] == pytest.approx(errors[0])
    tfmi_scores = next(s for s in report["scores"] if s["method"] == "tfmi-default")
    assert tfmi_scores["independent_holds_zero"][1] == 2 and tfmi_scores["dependent_holds_truth"][1] == 1
    markdown = (tmp_path / "report.md").read_text()
    assert "Run on 2026-12-07" in markdown and "| tfmi-default |" in markdown and "| sklearn |" in markdown
    assert (tmp_path / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    # a rerun computes nothing: every method has its result file
    monkeypatch.setattr(tool, "run_sklearn", lambda *args: pytest.fail("sklearn ran again"))
    monkeypatch.setattr(tool, "run_tfmi", lambda *args: pytest.fail("tfmi ran again"))
    assert tool.main(arguments) == 0


def test_the_benchmark_scores_of_exact_and_wrong_matrices(helpers):
    tool = helpers.load_tool("bench_pairwise")
    columns = list(pairwise_table.QUICK_COLUMNS)
    truth = pairwise_table.true_mi(columns)
    exact = {"estimator": "tfmi-default", "seconds": 1.0, "matrix": truth, "low": np.maximum(truth - 0.01, 0.0),
             "high": truth + 0.01}
    scores = tool.score(exact, columns)
    assert scores["mae"] == 0.0 and scores["independent_holds_zero"] == [25, 25]
    assert scores["dependent_holds_truth"] == [3, 3]
    shifted = {"estimator": "sklearn", "seconds": 1.0, "matrix": truth + 0.1}
    scores = tool.score(shifted, columns)
    assert scores["mae"] == pytest.approx(0.1) and "independent_holds_zero" not in scores
    assert set(scores["family_mae"]) == {"copula", "mixture", "functional", "independent"}


def test_workers_import_tensorflow_only_for_a_network_and_keep_its_start_up_lines_quiet(tmp_path):
    """With workers, a pair that trains a critic imports TensorFlow in its worker: its
    start-up lines (native code's, on file descriptor 2) are kept out of the output, the
    rest of what the pair writes is not; the caller's process imports no TensorFlow."""
    script = (
        "import sys, numpy as np, tfmi\n"
        "values = np.random.default_rng(0).standard_normal((400, 3)); values[:, 1] += values[:, 0]\n"
        "result = tfmi.pairwise_mi(values, estimator='infonce', n_jobs=2, batch_size=64, max_steps=20, eval_every=10)\n"
        "print(len(result.table), 'tensorflow' in sys.modules)\n"
    )
    process = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600)
    assert process.returncode == 0, process.stderr
    assert process.stdout.split() == ["3", "False"]
    assert not any(pairwise.TENSORFLOW_START.match(line) for line in process.stderr.splitlines()), process.stderr
    for line in ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
                 "I0000 00:00:1796636908.301607    5856 port.cc:153] oneDNN custom operations are on.",
                 "E0000 00:00:1796636910.348479    5856 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
                 "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild"):
        assert pairwise.TENSORFLOW_START.match(line)
    assert not pairwise.TENSORFLOW_START.match("estimate_mi: the estimate is near its ceiling log(n)")
