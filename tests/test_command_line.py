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


def run_tfmi(*args, cwd, command=None, timeout=300):
    """``python -m tfmi.command_line ARGS`` (or ``command``) in ``cwd``: the CompletedProcess."""
    env = {name: value for name, value in os.environ.items() if name not in ("TFMI_DEBUG", "TF_CPP_MIN_LOG_LEVEL")}
    command = command or [sys.executable, "-m", "tfmi.command_line"]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
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
    process = subprocess.Popen([sys.executable, "-m", "tfmi.command_line", "mi", "a.npy", "b.npy"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=helpers.default_sigint)
    try:
        said = []
        while not said or "loading TensorFlow" not in said[-1]:
            said.append(process.stderr.readline())
            assert said[-1], "the script ended before loading TensorFlow"
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert rest.splitlines() == [command_line.STOPPED]


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
    (["mi", "a.npy", "b.npy", "--estimator", "bogus"], ["unknown estimator 'bogus'; choose one of ['auto'"]),
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


def test_a_header_is_a_first_row_that_is_not_all_numbers(tmp_path):
    (tmp_path / "named.csv").write_text("\ufeffa, 2b\n1,2\n\n3,4\n")  # a BOM, a blank line
    (tmp_path / "bare.tsv").write_text("1\t2\n3\t4\n")
    named = command_line.read_table(tmp_path / "named.csv")
    assert named.names == ["a", "2b"] and named.lines == [2, 4]
    bare = command_line.read_table(tmp_path / "bare.tsv")
    assert bare.names is None and bare.lines == [1, 2]
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

    parquet.write_table(pyarrow.table({"x": [1.0, 2.0], "label": ["a", "b"], "y": [3, 4]}), tmp_path / "t.parquet")
    np.testing.assert_array_equal(command_line.load_columns(tmp_path / "t.parquet", "y,x").values, [[3, 1], [4, 2]])
    with pytest.raises(ValueError, match=r"t.parquet: column 'label' holds 'a', not a number, at row 0"):
        command_line.load_columns(tmp_path / "t.parquet", "label")


def test_parquet_without_pyarrow_says_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "t.parquet").write_bytes(b"PAR1")
    for module in ("pyarrow", "pyarrow.parquet", "pandas"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
    with pytest.raises(ValueError, match=r"t.parquet: reading Parquet needs pyarrow: pip install pyarrow"):
        command_line.read_table(tmp_path / "t.parquet")
