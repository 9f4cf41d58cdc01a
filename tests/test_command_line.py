"""The ``tfmi`` console script (tfmi/command_line.py): files in, one readable block or
JSON out, one ``error:`` line (exit 2) for bad input. Runs of the script are subprocesses
(each imports TensorFlow, about 10 s: few of them, small n, the copula); reading files
and choosing columns are tested in-process, without TensorFlow."""

import dataclasses
import inspect
import json
import math
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tfmi import command_line
from tfmi.json_files import json_safe

README = Path(__file__).resolve().parents[1] / "README.md"
RHO = 0.8
GAUSSIAN_MI = -0.5 * math.log(1 - RHO**2)  # 0.5108 nats, the pair written by `pair`
INTERVAL = r"95% interval: (\S+) to (\S+) nats"
TF_NOISE = ("I0000", "absl::InitializeLog", "oneDNN", "cuda", "Traceback")


TFMI = [sys.executable, "-m", "tfmi.command_line"]


def _env():
    """This environment less what changes the script's messages."""
    return {name: value for name, value in os.environ.items() if name not in ("TFMI_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}


def run_tfmi(*args, cwd, command=None, timeout=300):
    """``python -m tfmi.command_line ARGS`` (or ``command``) in ``cwd``: the CompletedProcess."""
    return subprocess.run([*(command or TFMI), *map(str, args)], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def pair(tmp_path):
    """A Gaussian pair (rho = 0.8, 600 rows) as a.npy, b.npy and table.csv (header x,y)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(600)
    y = RHO * x + math.sqrt(1 - RHO**2) * rng.standard_normal(600)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", y)
    np.savetxt(tmp_path / "table.csv", np.column_stack([x, y]), delimiter=",", header="x,y", comments="", fmt="%.17g")
    return x, y


def _interval(text):
    low, high = re.search(INTERVAL, text).groups()
    return float(low), float(high)


# Runs of the script -------------------------------------------------------------------


def test_mi_prints_one_block_whose_interval_holds_the_gaussian_mi(pair, tmp_path):
    done = run_tfmi("mi", "a.npy", "b.npy", "--estimator", "copula", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    nats, bits = map(float, re.search(r"^I\(X; Y\) = (\S+) nats = (\S+) bits$", done.stdout, re.M).groups())
    low, high = _interval(done.stdout)
    assert low < GAUSSIAN_MI < high and low < nats < high
    assert bits == pytest.approx(nats / math.log(2), abs=1e-4)
    for line in ("method: copula model", "rows: 600 (360 train, 120 validation, 120 test)", "X: a.npy, 1 column",
                 "Y: b.npy, 1 column", "warnings: none"):
        assert line in done.stdout
    assert float(re.search(r"stderr: (\S+) nats", done.stdout).group(1)) > 0
    # Progress on stderr, each line the script's own: no TensorFlow start-up noise.
    assert "tfmi: reading a.npy" in done.stderr and "estimating I(X; Y) on 600 rows" in done.stderr
    assert all(line.startswith("tfmi: ") for line in done.stderr.splitlines()), done.stderr
    assert not any(noise in done.stderr for noise in TF_NOISE)


def test_json_of_one_table_is_the_whole_estimate_of_estimate_mi(pair, tmp_path):
    import tfmi

    done = run_tfmi("mi", "table.csv", "--x-columns", "x", "--y-columns", "y", "--estimator", "copula", "--json",
                    "--quiet", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    expected = tfmi.estimate_mi(*pair, estimator="copula")  # the same rows, read back exactly (%.17g)
    expected = json.dumps(json_safe(dataclasses.asdict(expected)))
    rounded = {"parse_float": lambda text: round(float(text), 9)}  # the same to 9 digits, every field
    printed = json.loads(done.stdout, **rounded)
    assert printed == json.loads(expected, **rounded)
    assert printed["interval"][0] < GAUSSIAN_MI < printed["interval"][1]


def test_readme_command_line_examples_run_and_their_true_values_lie_in_the_intervals(tmp_path):
    """The shell block of README's "Command line" section, run as it stands; each tfmi
    line's "# true value: V nats" must lie in the interval it prints (blocks first, then
    the one --json line)."""
    section = README.read_text().split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks, "README's Command line section has no bash block"
    script = "\n".join(blocks)
    truths = [float(value) for value in re.findall(r"# true value: ([0-9.]+) nats", script)]
    assert len(truths) == len(re.findall(r"^tfmi ", script, re.M)) >= 3
    bin_dir = Path(sys.executable).parent  # python and tfmi of this environment
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("TFMI_DEBUG", None)
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    blocks_text, _, json_text = done.stdout.partition("{")
    intervals = [tuple(map(float, found)) for found in re.findall(INTERVAL, blocks_text)]
    if json_text:
        intervals.append(tuple(json.loads("{" + json_text)["interval"]))
    assert len(intervals) == len(truths), done.stdout
    for truth, (low, high) in zip(truths, intervals):
        assert low - 5e-4 <= truth <= high + 5e-4, (truth, low, high, done.stdout)


def test_the_installed_entry_point_runs_and_help_lists_every_option(tmp_path):
    script = Path(sys.executable).parent / "tfmi"
    assert script.exists(), "the tfmi console script is not installed: pip install -e ."
    top = run_tfmi("--help", cwd=tmp_path, command=[str(script)])
    assert top.returncode == 0 and top.stderr == ""
    assert "mi " in top.stdout and "cmi " in top.stdout and "examples:" in top.stdout
    for name, command in command_line.COMMANDS.items():
        shown = run_tfmi(name, "--help", cwd=tmp_path, command=[str(script)])
        assert shown.returncode == 0 and "examples:" in shown.stdout
        flags = [f"--{keyword.replace('_', '-')}" for keyword in command.options]
        flags += ["--columns", "--key", "--json", "--quiet"] + [f"--{role}-{what}" for role in command.roles
                                                               for what in ("columns", "key")]
        assert all(flag in shown.stdout for flag in flags), shown.stdout


def test_help_does_not_import_tensorflow(tmp_path):
    code = ("import sys\nfrom tfmi import command_line\ntry:\n    command_line.main(['--help'])\n"
            "except SystemExit:\n    pass\nprint('tensorflow' in sys.modules)")
    done = run_tfmi(cwd=tmp_path, command=[sys.executable, "-c", code])
    assert done.stdout.splitlines()[-1] == "False" and done.stderr == ""


def test_ctrl_c_while_tensorflow_loads_is_one_line_and_status_130(pair, tmp_path, helpers):
    """A bound's estimator (its name's check imports TensorFlow, then it trains a critic):
    Ctrl-C after "loading the library" is one line and status 130."""
    process = subprocess.Popen([sys.executable, "-m", "tfmi.command_line", "mi", "a.npy", "b.npy", "--estimator",
                                "infonce"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=helpers.default_sigint)
    try:
        said = []
        while not said or "loading the library" not in said[-1]:
            said.append(process.stderr.readline())
            assert said[-1], "the script ended before loading the library"
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert rest.splitlines() == [command_line.STOPPED]


def test_a_result_that_cannot_be_written_is_not_status_0_and_a_gone_reader_is_a_quiet_141(pair, tmp_path):
    """Stdout closed (``>&-``): one error line, status 74, not a lost result with status 0.
    The reader gone (``| head``): no message, status 141 (128 + SIGPIPE) as cat's, not
    "error: [Errno 32] Broken pipe" or "Exception ignored". The pipe's read end is closed
    before the script starts, so its write fails every time. Both at once (each imports
    TensorFlow)."""
    args = [*TFMI, "mi", "a.npy", "b.npy", "--estimator", "copula", "--quiet"]
    read_end, write_end = os.pipe()
    os.close(read_end)
    runs = {
        "closed": subprocess.Popen(args, cwd=tmp_path, env=_env(), stderr=subprocess.PIPE, text=True,
                                   preexec_fn=lambda: os.close(1)),
        "gone": subprocess.Popen([*args, "--json"], cwd=tmp_path, env=_env(), stdout=write_end,
                                 stderr=subprocess.PIPE, text=True),
    }
    os.close(write_end)
    said = {name: run.communicate(timeout=300)[1] for name, run in runs.items()}
    assert runs["closed"].returncode == 74, said
    assert said["closed"].splitlines() == ["error: cannot write to stdout (standard output is closed): the output is "
                                           "lost; run it again with stdout open to a file or pipe that takes it "
                                           "(tfmi ... > result.txt)"]
    assert (runs["gone"].returncode, said["gone"]) == (128 + signal.SIGPIPE, "")


# Bad input: one line, exit 2 ----------------------------------------------------------


def _write_bad_inputs(folder, pair):
    x, y = pair
    np.save(folder / "short.npy", y[:-1])
    np.save(folder / "inf.npy", np.column_stack([x[:3], [1.0, 2.0, np.inf]]))
    np.save(folder / "complex.npy", x[:5] + 1j)
    np.savez(folder / "two.npz", x=x, y=y)
    texts = {
        "word.csv": "x,y\n1,2\n3,abc\n4,5\n",
        "hole.csv": "x,y\n1,2\n\n3,\n",
        "nan.csv": "x,y\n1,2\n3,nan\n",
        "ragged.csv": "x,y\n1,2\n3\n",
        "header.csv": "x,y\n",
        "empty.csv": "",
        "notes.txt": "1 2\n",
        "broken.npy": "not an array",
    }
    for name, text in texts.items():
        (folder / name).write_text(text)


BAD_INPUTS = [  # arguments, fragments the one error line must hold
    (["mi", "missing.npy", "b.npy"], ["missing.npy: no such file"]),
    (["mi", "notes.txt", "b.npy"], ["notes.txt: unknown file type '.txt'"]),
    (["mi", "a.npy", "short.npy"], ["X (a.npy) 600", "Y (short.npy) 599"]),
    (["cmi", "a.npy", "b.npy", "--given", "short.npy"], ["Z (short.npy) 599"]),
    (["mi", "word.csv", "--x-columns", "x", "--y-columns", "y"], ["word.csv: column 'y' holds 'abc'", "line 3"]),
    (["mi", "hole.csv", "--x-columns", "x", "--y-columns", "y"], ["hole.csv: column 'y' is empty at line 4"]),
    (["mi", "nan.csv", "--x-columns", "x", "--y-columns", "y"], ["nan.csv: column 'y' holds NaN at line 3"]),
    (["mi", "inf.npy", "--x-columns", "0", "--y-columns", "1"], ["inf.npy: column 1 holds inf at row 2"]),
    (["mi", "table.csv", "--x-columns", "x", "--y-columns", "q"], ["table.csv: no column 'q' (--y-columns)", "x, y"]),
    (["mi", "a.npy", "b.npy", "--columns", "3"], ["a.npy: no column '3' (--columns)", "no header"]),
    (["mi", "two.npz", "b.npy"], ["two.npz: holds several arrays (x, y)", "--key"]),
    (["mi", "two.npz", "--x-key", "x", "--y-key", "w"], ["two.npz: has no array 'w'"]),
    (["mi", "empty.csv", "b.npy"], ["empty.csv: the file is empty"]),
    (["mi", "header.csv", "b.npy"], ["header.csv: the file holds a header (x, y) but no rows"]),
    (["mi", "ragged.csv", "b.npy"], ["ragged.csv: line 3 has 1 field"]),
    (["mi", "broken.npy", "b.npy"], ["broken.npy: cannot read it"]),
    (["mi", "complex.npy", "b.npy"], ["complex.npy: holds complex128 values"]),
    (["mi", "table.csv"], ["table.csv is the only file", "--x-columns --y-columns"]),
    (["cmi", "a.npy", "b.npy"], ["cmi needs Z: --given"]),
    (["mi", "a.npy", "b.npy", "--estimator", "bogus"],
     ["--estimator 'bogus' is not one the command line runs; choose one of ['auto'"]),
]


@pytest.mark.parametrize("args,fragments", BAD_INPUTS, ids=[" ".join(args) for args, _ in BAD_INPUTS])
def test_bad_input_is_one_error_line_naming_it(pair, tmp_path, args, fragments):
    _write_bad_inputs(tmp_path, pair)
    done = run_tfmi(*args, "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: "), done.stderr
    assert all(fragment in done.stderr for fragment in fragments), done.stderr


def test_an_error_of_estimate_mi_is_one_line(pair, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    with pytest.raises(SystemExit) as stopped:
        command_line.main(["mi", "a.npy", "b.npy", "--valid-fraction", "0.5", "--test-fraction", "0.5", "--quiet"])
    assert stopped.value.code == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err.splitlines() == [
        "error: estimate_mi: valid_fraction + test_fraction must leave pairs to train on, got 0.5 + 0.5."]


def test_normalize_adds_the_correlation_scale_to_the_block_and_the_json(pair, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    command_line.main(["mi", "a.npy", "b.npy", "--estimator", "copula", "--normalize", "--quiet"])
    text = capsys.readouterr().out
    value, low, high = map(float, re.search(r"^correlation scale sqrt\(1 - exp\(-2 I\)\) = (\S+) \(95% interval "
                                            r"(\S+) to (\S+)\)$", text, re.M).groups())
    nats = float(re.search(r"= (\S+) nats", text).group(1))
    assert value == pytest.approx(math.sqrt(1 - math.exp(-2 * nats)), abs=1e-4) and low < RHO < high
    command_line.main(["mi", "a.npy", "b.npy", "--estimator", "copula", "--normalize", "--quiet", "--json"])
    printed = json.loads(capsys.readouterr().out)
    assert printed["normalized"] == pytest.approx(math.sqrt(1 - math.exp(-2 * printed["mi"])), abs=1e-12)
    assert printed["normalized_interval"][0] < RHO < printed["normalized_interval"][1]


def test_nan_policy_omit_reads_empty_and_na_fields_as_missing(pair, tmp_path, monkeypatch, capsys):
    """A CSV with empty fields and NA: refused with a line that names --nan-policy omit;
    with it, the estimate of the complete rows, and the warning counts the rest."""
    import tfmi

    x, y = pair
    lines = [f"{a:.17g},{b:.17g}" for a, b in zip(x, y)]
    lines[3], lines[10], lines[11] = f",{y[3]:.17g}", f"{x[10]:.17g},NA", f"{x[11]:.17g},  n/a "
    (tmp_path / "holes.csv").write_text("x,y\n" + "\n".join(lines) + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    arguments = ["mi", "holes.csv", "--x-columns", "x", "--y-columns", "y", "--estimator", "copula", "--quiet"]
    with pytest.raises(SystemExit) as stopped:
        command_line.main(arguments)
    said = capsys.readouterr().err
    assert stopped.value.code == 2 and said.splitlines() == [
        "error: holes.csv: column 'x' is empty at line 5; fill or drop that row, or pass --nan-policy omit to leave "
        "out the rows with a missing value"]
    command_line.main([*arguments, "--nan-policy", "omit", "--json"])
    printed = json.loads(capsys.readouterr().out)
    kept = np.ones(len(x), bool)
    kept[[3, 10, 11]] = False
    expected = tfmi.estimate_mi(x[kept], y[kept], estimator="copula")
    assert printed["mi"] == pytest.approx(expected.mi, abs=1e-12)
    assert printed["warnings"][0].startswith("3 of 600 rows held a missing value (NaN) in x or y and were left out")


def test_a_text_column_with_missing_fields_is_a_discrete_side(tmp_path, monkeypatch, capsys):
    """A CSV whose text column (cities, some empty or NA) stands beside a number column
    with empty fields: with --nan-policy omit, the cities are categories and the estimate
    is estimate_mi's on the complete rows with the city codes as a discrete side; `tfmi
    pairwise` reads the same table."""
    import tfmi

    rng = np.random.default_rng(6)
    codes = rng.integers(0, 3, 900)
    income = rng.normal(codes.astype(float), 1.0)
    cities = np.array(["Lima", "Oslo", "Rome"])[codes].astype(object)
    income_text = [f"{value:.17g}" for value in income]
    for row in (4, 40, 400):
        income_text[row] = ""
    for row in (7, 70):
        cities[row] = "NA" if row == 7 else ""
    (tmp_path / "people.csv").write_text("city,income\n" + "\n".join(f"{c},{v}" for c, v in zip(cities, income_text))
                                         + "\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    command_line.main(["mi", "people.csv", "--x-columns", "income", "--y-columns", "city", "--nan-policy", "omit",
                       "--quiet", "--json", "--bootstrap", "4"])
    printed = json.loads(capsys.readouterr().out)
    kept = np.ones(900, bool)
    kept[[4, 40, 400, 7, 70]] = False
    expected = tfmi.estimate_mi(income[kept], codes[kept], discrete_y=True, bootstrap=4)
    assert printed["mi"] == pytest.approx(expected.mi, abs=1e-12) and printed["method"].startswith("y as 3 classes")
    assert printed["warnings"][:2] == [
        "y's columns hold categories: 'city' (3) categories, read as discrete codes.",
        "5 of 900 rows held a missing value (NaN) in x or y and were left out (nan_policy='omit'); the estimate is "
        "of the 895 complete rows."]
    command_line.main(["pairwise", "people.csv", "--nan-policy", "omit", "--quiet", "--n-jobs", "1",
                       "--bootstrap", "4"])
    assert re.search(r"^city ~ income\s+(\S+)", capsys.readouterr().out, re.M)


def test_discrete_names_the_sides_that_are_classes(tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, 900)
    values = rng.normal(labels.astype(float), 1.0)
    np.savetxt(tmp_path / "classes.csv", np.column_stack([values, labels]), delimiter=",", header="v,c",
               comments="", fmt="%.17g")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    command_line.main(["mi", "classes.csv", "--x-columns", "v", "--y-columns", "c", "--discrete", "y", "--quiet"])
    assert "method: y as 3 classes: class-conditional mixtures" in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        command_line.main(["mi", "classes.csv", "--x-columns", "v", "--y-columns", "c", "--discrete", "c"])
    assert stopped.value.code == 2
    assert "--discrete names the sides x and y (e.g. --discrete y), got c" in capsys.readouterr().err


def _write_more_bad_inputs(folder, pair):
    """Files each of whose readings once went wrong: a row dropped, a traceback, or a
    message that did not name the file."""
    x, y = pair
    rows = "\n".join(f"{a:.17g},{b:.17g}" for a, b in zip(x[1:], y[1:]))
    (folder / "na.csv").write_text(f"1.3,NA\n{rows}\n")  # no header: line 1 is a sample
    with open(folder / "liar.npy", "wb") as handle:  # 2e12 rows claimed in 828 bytes
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f8", "fortran_order": False,
                                                      "shape": (2_000_000_000_000,)})
        handle.write(bytes(700))
    with zipfile.ZipFile(folder / "liar.npz", "w") as archive:
        archive.write(folder / "liar.npy", "x.npy")
    np.savez(folder / "good.npz", x=x, y=y)
    whole = (folder / "good.npz").read_bytes()
    (folder / "cut.npz").write_bytes(whole[: len(whole) // 2])
    (folder / "flipped.npz").write_bytes(whole[:200] + bytes([whole[200] ^ 0xFF]) + whole[201:])
    np.save(folder / "no_rows.npy", np.zeros((0, 2)))
    np.save(folder / "no_columns.npy", np.zeros((600, 0)))
    np.save(folder / "dates.npy", np.arange(600).astype("datetime64[D]"))
    (folder / "folder.csv").mkdir()


# Arguments, fragments the one error line must hold; main(ARGS) in-process (the copula: fast
# where a file was once taken as good and estimated).
MORE_BAD_INPUTS = [
    (["mi", "na.csv", "--x-columns", "0", "--y-columns", "1", "--estimator", "copula"],
     ["na.csv: column 1 holds 'NA', not a number, at line 1; fill or drop that row (a first row with a number "
      "in it is data; a header names no column by a number)"]),
    (["mi", "table.csv", "--x-columns", "", "--y-columns", "y", "--estimator", "copula"],
     ["table.csv: no column '' (--x-columns)"]),
    (["mi", "table.csv", "--x-columns", "\u00b2", "--y-columns", "y"],
     ["table.csv: no column '\u00b2' (--x-columns); it has 2 columns: x, y"]),
    (["mi", "liar.npy", "b.npy"], ["liar.npy: its header promises an array of shape (2000000000000,)",
                                   "but it holds 828 bytes: the file is cut short"]),
    (["mi", "liar.npz", "b.npy"], ["liar.npz[x]: its header promises an array of shape (2000000000000,)"]),
    (["mi", "cut.npz", "--x-key", "x", "--y-key", "y"],
     ["cut.npz: cannot read it: not an .npy array nor an .npz archive"]),
    (["mi", "flipped.npz", "--x-key", "x", "--y-key", "y"], ["flipped.npz[x]: cannot read it", "CRC"]),
    (["mi", "no_rows.npy", "b.npy"], ["no_rows.npy: holds no rows"]),
    (["mi", "no_columns.npy", "b.npy"], ["no_columns.npy: holds no columns"]),
    (["mi", "dates.npy", "b.npy"], ["dates.npy: column 0 holds datetime64[D] values", "convert it to numbers"]),
    (["mi", "folder.csv", "b.npy"], ["folder.csv is a directory, not a file"]),
    (["mi", "a.npy", "b.npy", "--estimator", "demi_bo"],
     ["--estimator 'demi_bo' is not one the command line runs; choose one of ['auto', 'copula'"]),
]


@pytest.mark.parametrize("args,fragments", MORE_BAD_INPUTS, ids=[" ".join(args) for args, _ in MORE_BAD_INPUTS])
def test_more_bad_input_is_one_error_line_naming_it(pair, tmp_path, monkeypatch, capsys, args, fragments):
    _write_more_bad_inputs(tmp_path, pair)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.delenv("TFMI_DEBUG", raising=False)
    with pytest.raises(SystemExit) as stopped:
        command_line.main([*args, "--quiet"])
    said = capsys.readouterr()
    assert stopped.value.code == 2 and said.out == ""
    assert len(said.err.splitlines()) == 1 and said.err.startswith("error: "), said.err
    assert all(fragment in said.err for fragment in fragments), said.err


def test_options_show_the_library_s_names_and_defaults():
    """A subcommand's --help lists the imported library's names and defaults."""
    import tfmi
    from tfmi import bounds, critics
    from tfmi.estimation import estimate

    for name, names in (("mi", estimate.ESTIMATORS + bounds.UNCONDITIONAL_BOUNDS), ("cmi", None)):
        command = command_line.COMMANDS[name]
        function = getattr(tfmi, command.function)
        if names is None:
            names = sys.modules[function.__module__].CMI_ESTIMATORS
        signature = inspect.signature(function).parameters
        shown = command_line.option_choices_and_defaults(command)
        assert shown["estimator"][0] == names
        assert {keyword: default for keyword, (_, default) in shown.items()} == {
            keyword: signature[keyword].default for keyword in command.options}
    assert command_line.option_choices_and_defaults(command_line.COMMANDS["mi"])["critic"][0] == tuple(critics.CRITICS)


# Reading files, in-process ------------------------------------------------------------


def _parsed(*args):
    """The parsed arguments of ``tfmi ARGS``."""
    _, subcommands = command_line.build_parser()
    return subcommands[args[0]].parse_intermixed_args(args[1:])


def test_a_header_is_a_first_row_with_no_number_in_it(tmp_path):
    (tmp_path / "named.csv").write_text("\ufeffa, 2b\n1,2\n\n3,4\n")  # a BOM, a blank line
    (tmp_path / "bare.tsv").write_text("1\t2\n3\t4\n")
    (tmp_path / "holes.csv").write_text("1.3,NA,\n3,4,5\n")  # a sample with missing values, not a header
    named = command_line.read_table(tmp_path / "named.csv")
    assert named.names == ["a", "2b"] and named.lines == [2, 4]
    bare = command_line.read_table(tmp_path / "bare.tsv")
    assert bare.names is None and bare.lines == [1, 2]
    holes = command_line.read_table(tmp_path / "holes.csv")
    assert holes.names is None and holes.lines == [1, 2]
    np.testing.assert_array_equal(command_line.load_columns(named).values, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(command_line.load_columns(bare, "1,0").values, [[2, 1], [4, 3]])
    np.testing.assert_array_equal(command_line.load_columns(named, "2b,0").values, [[2, 1], [4, 3]])


def test_arrays_npy_npz_and_one_dimension_as_one_column(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(3.0))
    np.save(tmp_path / "two.npy", np.arange(6).reshape(3, 2))
    np.savez(tmp_path / "single.npz", anything=np.ones((3, 2)))
    np.savez(tmp_path / "pair.npz", x=np.zeros(3), y=np.ones(3))
    assert command_line.load_columns(tmp_path / "one.npy").values.shape == (3, 1)
    np.testing.assert_array_equal(command_line.load_columns(tmp_path / "two.npy", "1").values[:, 0], [1, 3, 5])
    assert command_line.read_table(tmp_path / "single.npz").source.endswith("single.npz[anything]")
    np.testing.assert_array_equal(command_line.load_columns(command_line.read_table(tmp_path / "pair.npz", "y")).values,
                                  np.ones((3, 1)))


def test_role_columns_override_the_shared_ones_in_every_file(tmp_path, monkeypatch):
    for name in ("p.csv", "q.csv"):
        (tmp_path / name).write_text("a,b\n1,10\n2,20\n3,30\n")
    monkeypatch.chdir(tmp_path)
    inputs = command_line.read_inputs(_parsed("mi", "p.csv", "q.csv", "--columns", "b", "--x-columns", "a"), "xy")
    np.testing.assert_array_equal(inputs["x"].values[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(inputs["y"].values[:, 0], [10, 20, 30])
    table = command_line.read_inputs(_parsed("cmi", "p.csv", "--x-columns", "a", "--y-columns", "1",
                                             "--z-columns", "a,b"), "xyz")
    assert [table[role].values.shape[1] for role in "xyz"] == [1, 1, 2]
    assert table["z"].description == "p.csv, 2 columns (a, b)"


def test_parquet_columns_by_name(tmp_path):
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    parquet.write_table(pyarrow.table({"x": [1.0, 2.0], "label": ["a", "b"], "code": ["a", "7"], "y": [3, 4]}),
                        tmp_path / "t.parquet")
    np.testing.assert_array_equal(command_line.load_columns(tmp_path / "t.parquet", "y,x").values, [[3, 1], [4, 2]])
    text = command_line.load_columns(tmp_path / "t.parquet", "x,label").values  # a text column: categories
    assert list(text.columns) == ["x", "label"] and list(text["label"]) == ["a", "b"]
    with pytest.raises(ValueError, match=r"t.parquet: column 'code' holds 'a', not a number, at row 0"):
        command_line.load_columns(tmp_path / "t.parquet", "code")  # text beside numbers: not categories


def test_parquet_without_rows_or_of_dates_is_refused_as_in_every_format(tmp_path):
    """No rows: the file named, not NumPy's "zero-size array to reduction operation". A
    timestamp column: refused as an .npy of datetime64 is, not read as microseconds."""
    parquet = pytest.importorskip("pyarrow.parquet")
    import pyarrow

    parquet.write_table(pyarrow.table({"x": pyarrow.array([], pyarrow.float64())}), tmp_path / "empty.parquet")
    with pytest.raises(ValueError, match=r"^\S*empty.parquet: holds no rows; "):
        command_line.read_table(tmp_path / "empty.parquet")
    days = np.arange(3).astype("datetime64[D]").astype("datetime64[us]")
    parquet.write_table(pyarrow.table({"x": [1.0, 2.0, 3.0], "when": days}), tmp_path / "dated.parquet")
    with pytest.raises(ValueError, match=r"dated.parquet: column 'when' holds datetime64\[us\] values \(dates or "
                                         r"times\), not numbers; convert it to numbers"):
        command_line.load_columns(tmp_path / "dated.parquet", "x,when")


def test_parquet_without_pyarrow_says_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    for module in ("pyarrow", "pyarrow.parquet", "pandas"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ValueError, match=r"t.parquet: reading Parquet needs pyarrow: pip install pyarrow"):
        command_line.read_table(tmp_path / "t.parquet")
