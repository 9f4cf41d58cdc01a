r"""The ``tfmi`` console script: mutual information of arrays on disk.

    tfmi mi X Y                      # I(X; Y): tfmi.estimate_mi
    tfmi cmi X Y --given Z           # I(X; Y | Z): tfmi.estimate_cmi
    tfmi mi TABLE.csv --x-columns a,b --y-columns c [--json]
    tfmi pairwise TABLE.csv [--columns a,b,c] [--given z] [--plot heatmap.png] [--results pairs.jsonl]
                                     # every pair of columns: tfmi.pairwise_mi

Files are read (``read_table``, ``load_columns``) before TensorFlow is imported, so bad
input fails at once; ``tfmi --help`` does not import it (a subcommand's --help does, to
list the library's own estimator names and defaults). Exit status: 0 done; 2 bad input,
one ``error: ...`` line on stderr; 74 (EX_IOERR) the result could not be written to stdout
(closed, disk full), one ``error: ...`` line; 130 stopped by Ctrl-C; 141 (128 + SIGPIPE)
the reader of stdout went away (``tfmi ... | head``), quietly as ``cat`` does.
"""

import sys

STOPPED = "tfmi: stopped by SIGINT (Ctrl-C); nothing was estimated."
try:  # imports take a moment (NumPy): Ctrl-C then ends in the same one line
    import argparse
    import contextlib
    import csv
    import dataclasses
    import errno
    import importlib
    import inspect
    import json
    import logging
    import math
    import os
    import signal
    import time
    import warnings
    import zipfile
    import zlib
    from pathlib import Path
    from typing import NamedTuple

    import numpy as np

    import tfmi
    from tfmi.console import Progress, native_stderr_captured, run_reporting_errors
    from tfmi.errors import InputError
    from tfmi.json_files import json_safe
except KeyboardInterrupt:
    print(STOPPED, file=sys.stderr)
    sys.exit(130)

__all__ = ["main", "read_table", "load_columns", "read_inputs", "read_pairwise_columns", "report",
           "report_pairwise"]

PACKAGE = Path(__file__).resolve().parent
LIST_AT_MOST = 12  # column names listed in a message or a report

INPUT_RULE = """\
inputs: .npy, .npz, .csv, .tsv and .parquet (needs pyarrow) files; in a .csv / .tsv a
first row with no number in it is the header (one with a number is data); a 1-d array
is one column; dates, times and durations are refused (convert them to numbers).
X, Y (and Z) each come from their own file, or all from the one TABLE when only one
file is given. Which columns: --x-columns for X (likewise --y-, --z-), else
--columns, else all; by header name or 0-based index (a,b or 0,3). Which array of an
.npz: --x-key for X (likewise --y-, --z-), else --key (an .npz of one array needs
none). With one TABLE, X, Y (and Z) each need their own --x-columns or --x-key.
Rows pair up: row i of every file is one sample.
exit status: 0 done, 2 bad input (one "error: ..." line), 74 stdout not writable,
130 interrupted (Ctrl-C), 141 stdout's reader gone (| head)."""

PAIRWISE_RULE = """\
inputs: one TABLE (.csv, .tsv, .npy, .npz, .parquet, read as by tfmi mi); --columns
picks the columns to pair (header names or 0-based indices; default all but --given),
--given the columns every pair is conditioned on: I(x_i; x_j | z) by tfmi.estimate_cmi.
--results FILE appends each finished pair (JSON lines); a rerun with the same FILE
reads back the pairs of the same data and settings and computes only the rest.
exit status: 0 done, 2 bad input (one "error: ..." line), 74 stdout not writable,
130 interrupted (Ctrl-C: the finished pairs stay in --results), 141 stdout's reader gone."""
PROGRESS_EVERY = 2.0  # seconds between progress lines of tfmi pairwise, at least
QUIET = Progress(quiet=True)  # the default ``log`` of the functions below: no progress lines


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C, with the line that says what was kept."""


class Command(NamedTuple):
    """A subcommand: the tfmi function it calls and where its names are defined."""

    function: str  # an attribute of tfmi
    source: str  # the function's module, under tfmi
    estimators: tuple  # (module, constant) pairs: the names --estimator takes
    roles: str  # the arrays it reads, in the function's argument order
    options: tuple  # keywords of the function that are options (--max-steps: max_steps)
    title: str
    examples: tuple
    defaults: str = None  # the attribute of tfmi whose signature gives the options' defaults (None: function)


SHARED_OPTIONS = ("estimator", "seed", "valid_fraction", "test_fraction", "bootstrap", "max_fit_pairs", "nan_policy")
COMMANDS = {
    "mi": Command(
        "estimate_mi", "estimation.estimate",
        (("estimation.estimate", "ESTIMATORS"), ("bounds", "UNCONDITIONAL_BOUNDS")),
        "xy", SHARED_OPTIONS + ("critic", "max_steps", "batch_size"), "I(X; Y)",
        ("tfmi mi x.npy y.npy", "tfmi mi table.csv --x-columns a,b --y-columns c --estimator copula --json"),
    ),
    "cmi": Command(
        "estimate_cmi", "estimation.conditional", (("estimation.conditional", "CMI_ESTIMATORS"),),
        "xyz", SHARED_OPTIONS, "I(X; Y | Z)",
        ("tfmi cmi x.csv y.csv --given z.csv", "tfmi cmi table.csv --x-columns a --y-columns b --z-columns c,d"),
    ),
    "pairwise": Command(
        "pairwise_mi", "estimation.pairwise",
        (("estimation.estimate", "ESTIMATORS"), ("bounds", "UNCONDITIONAL_BOUNDS"),
         ("estimation.conditional", "CMI_ESTIMATORS")),
        "", SHARED_OPTIONS + ("n_jobs",), "I(x_i; x_j) for every pair of a table's columns",
        ("tfmi pairwise table.csv --plot heatmap.png --results pairs.jsonl",
         "tfmi pairwise table.csv --columns a,b,c --given z --estimator copula --json"),
        defaults="estimate_mi",
    ),
}
OPTIONS = {  # keyword: (type, help); the flag is --keyword-with-dashes
    "estimator": (str, "how the estimate is made"),
    "critic": (str, "the critic of a neural estimator"),
    "max_steps": (int, "training steps of a critic at most"),
    "batch_size": (int, "pairs per training step of a critic"),
    "valid_fraction": (float, "share of the rows that makes every choice"),
    "test_fraction": (float, "share of the rows that gives the reported number"),
    "bootstrap": (int, "refits of a closed-form model for its bias and error (0: none)"),
    "max_fit_pairs": (int, "train rows a model fits on at most"),
    "seed": (int, "seed of the split and of every fit"),
    "n_jobs": (int, "worker processes for the pairs (-1: all cores; 1: none)"),
    "nan_policy": (str, "a missing value (an empty field, NA, NaN): raise refuses it, omit leaves its row out"),
}


def estimator_names(command, bounds=True):
    """The estimators ``command`` can run: those of its (module, constant) pairs, from the
    library. Not every name the library takes: the DEMI ones need xprime and a sampler,
    which no file gives. The bounds' names import TensorFlow (seconds); ``bounds=False``
    leaves them out (the models' names import no TensorFlow)."""
    pairs = [(module, constant) for module, constant in command.estimators if bounds or module != "bounds"]
    return tuple(dict.fromkeys(sum((tuple(getattr(importlib.import_module(f"tfmi.{module}"), constant))
                                    for module, constant in pairs), ())))


def option_choices_and_defaults(command):
    """{keyword: (choices or None, default)} of ``command``'s options, from the library
    itself: ``estimator_names``, the critic names of ``tfmi.critics.CRITICS`` and the
    defaults of its function's signature. Imports TensorFlow (seconds): for a
    subcommand's --help only; a run checks --estimator once TensorFlow is loaded
    (``estimate``), the other names are left to the library's own check."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _native_stderr_captured():
        names = estimator_names(command)
        critics = tuple(importlib.import_module("tfmi.critics").CRITICS)
        nan_policies = importlib.import_module("tfmi.estimation.inputs").NAN_POLICIES
        own = inspect.signature(getattr(tfmi, command.function)).parameters
        passed_on = inspect.signature(getattr(tfmi, command.defaults or command.function)).parameters
    choices = {"estimator": names, "critic": critics, "nan_policy": nan_policies}
    return {keyword: (choices.get(keyword), (own if keyword in own else passed_on)[keyword].default)
            for keyword in command.options}


# Reading files -------------------------------------------------------------------------


class Table(NamedTuple):
    """The columns of a file as read (strings for a text file), before any is converted."""

    source: str  # the file, and the array of an .npz: "data.npz[x]"
    names: list  # the header's column names; None when the file has none
    columns: list  # one sequence of values per column
    lines: list  # a text file's line of each row; None: rows are told by 0-based index

    def where(self, row):
        return f"line {self.lines[row]}" if self.lines else f"row {row}"

    def label(self, index):
        return repr(self.names[index]) if self.names else str(index)


class Columns(NamedTuple):
    """Columns selected from a table and checked: values [n, d] float64 (a DataFrame
    when some are text: those hold their strings, read as categories by the library),
    and what they are."""

    values: object
    description: str  # e.g. "table.csv, 2 columns (a, b)"


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _count(number, noun):
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _listed(names):
    shown = ", ".join(names[:LIST_AT_MOST])
    return shown + (", ..." if len(names) > LIST_AT_MOST else "")


def _read_text(path, delimiter):
    """A .csv / .tsv file; a first row with no number in it is the header. A row with a
    number is data even with an empty or "NA" field: taken as a header, it would be a
    sample dropped without a word; as data its missing value is reported (``_numbers``)."""
    rows, lines = [], []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            for row in reader:
                if row:  # a blank line
                    rows.append(row)
                    lines.append(reader.line_num)
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    except csv.Error as error:
        raise InputError(f"{path}: line {reader.line_num}: {error}") from None
    if not rows:
        raise InputError(f"{path}: the file holds no rows")
    names = None if any(map(_is_number, rows[0])) else [cell.strip() for cell in rows[0]]
    if names is not None:
        rows, lines = rows[1:], lines[1:]
        if not rows:
            raise InputError(f"{path}: the file holds a header ({_listed(names)}) but no rows")
    width = len(names or rows[0])
    for row, line in zip(rows, lines):
        if len(row) != width:
            first = "the header" if names else f"line {lines[0]}"
            raise InputError(f"{path}: line {line} has {_count(len(row), 'field')}, {first} {width}")
    return Table(str(path), names, list(zip(*rows)), lines)


def _array_table(source, array):
    """A NumPy array of one or two dimensions as a table without names (dates and times
    pass, to be refused by ``_numbers`` as in every format)."""
    if array.dtype.kind not in "biufmM":
        hint = ": pass real and imaginary parts as columns" if array.dtype.kind == "c" else ""
        raise InputError(f"{source}: holds {array.dtype} values, not real numbers{hint}")
    if array.ndim not in (1, 2):
        raise InputError(f"{source}: holds an array of shape {array.shape}; tfmi reads 1-d (one column) "
                         f"or 2-d (rows x columns) arrays")
    matrix = array.reshape(-1, 1) if array.ndim == 1 else array
    return Table(source, None, list(matrix.T), None)


@contextlib.contextmanager
def _read_by_numpy(source):
    """The errors of reading ``source`` (numpy's, and zipfile's and zlib's for an .npz) as
    one ``InputError`` naming it."""
    try:
        yield
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{source}: cannot read it with numpy.load ({' '.join(str(error).split())})") from None


NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_npy_size(handle, size, source):
    """Refuses the .npy array at ``handle`` (``size`` bytes) when it is shorter than its
    header says: numpy.load allocates the whole array before it reads, so a cut file or a
    lying header (2e12 rows in 800 bytes) would end in a MemoryError."""
    version = np.lib.format.read_magic(handle)
    if version not in NPY_HEADERS:  # 3.0: structured arrays' names in UTF-8, refused later
        return
    shape, _, dtype = NPY_HEADERS[version](handle)
    needed = handle.tell() + math.prod(shape) * dtype.itemsize
    if needed > size and not dtype.hasobject:
        raise InputError(f"{source}: its header promises an array of shape {shape} ({needed} bytes) but it holds "
                         f"{size} bytes: the file is cut short or damaged; write it again (numpy.save)")


def _load_numpy(path):
    """numpy.load of ``path``: an .npy array (its size checked first) or an .npz archive."""
    with _read_by_numpy(path):
        with open(path, "rb") as handle:
            magic = handle.read(len(np.lib.format.MAGIC_PREFIX))
            if magic == np.lib.format.MAGIC_PREFIX:
                handle.seek(0)
                _check_npy_size(handle, path.stat().st_size, path)
            elif not zipfile.is_zipfile(handle):
                raise InputError(f"{path}: cannot read it: not an .npy array nor an .npz archive (a zip of .npy "
                                 f"arrays); is it cut short, or of another format?")
        return np.load(path, allow_pickle=False)


def _read_npy(path):
    array = _load_numpy(path)
    if not isinstance(array, np.ndarray):
        raise InputError(f"{path}: holds an .npz archive, not an .npy array; rename it to .npz")
    return _array_table(str(path), array)


def _read_npz(path, key):
    archive = _load_numpy(path)
    if isinstance(archive, np.ndarray):
        raise InputError(f"{path}: holds an .npy array, not an .npz archive; rename it to .npy")
    with archive:
        keys = archive.files
        if not keys:
            raise InputError(f"{path}: the archive holds no arrays")
        if key is None and len(keys) > 1:
            raise InputError(f"{path}: holds several arrays ({_listed(keys)}); pick one with --key NAME "
                             f"(or --x-key NAME, ...)")
        if key is not None and key not in keys:
            raise InputError(f"{path}: has no array {key!r}; it holds {_listed(keys)}")
        key = key or keys[0]
        member = key if key in archive.zip.namelist() else f"{key}.npy"  # as NpzFile names it
        with _read_by_numpy(f"{path}[{key}]"):
            with archive.zip.open(member) as handle:
                _check_npy_size(handle, archive.zip.getinfo(member).file_size, f"{path}[{key}]")
            return _array_table(f"{path}[{key}]", archive[key])


def _read_parquet(path):
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        parquet = None
    try:
        if parquet is not None:
            table = parquet.read_table(path)
            return Table(str(path), table.column_names, [column.to_numpy() for column in table.columns], None)
        import pandas  # its read_parquet may use fastparquet

        frame = pandas.read_parquet(path)
        names = [str(name) for name in frame.columns]
        return Table(str(path), names, [frame[name].to_numpy() for name in frame.columns], None)
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow: pip install pyarrow") from None
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: cannot read it as Parquet ({' '.join(str(error).split())})") from None


READERS = {
    ".npy": _read_npy,
    ".npz": _read_npz,
    ".csv": lambda path: _read_text(path, ","),
    ".tsv": lambda path: _read_text(path, "\t"),
    ".parquet": _read_parquet,
}


def read_table(path, key=None):
    """The ``Table`` of the file ``path`` (its array ``key`` for an .npz); one
    ``InputError`` naming the file for a missing, empty or unreadable one."""
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir() and suffix != ".parquet":  # a Parquet dataset may be a folder of part files
        raise InputError(f"{path} is a directory, not a file; give a file's path")
    if suffix not in READERS:
        raise InputError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; tfmi reads {', '.join(READERS)}")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    if key is not None and suffix != ".npz":
        raise InputError(f"{path}: a key picks an array of an .npz file; a {suffix} file has none")
    table = _read_npz(path, key) if suffix == ".npz" else READERS[suffix](path)
    if not table.columns or not len(table.columns[0]):
        raise InputError(f"{table.source}: holds no {'rows' if table.columns else 'columns'}; tfmi reads one "
                         f"sample per row, one number per column")
    return table


def _select(table, columns, option):
    """Indices of the comma-separated names or 0-based indices ``columns`` (None: all)."""
    if columns is None:
        return list(range(len(table.columns)))
    indices = []
    for token in (token.strip() for token in columns.split(",")):
        names = table.names or []
        if names.count(token) > 1:
            raise InputError(f"{table.source}: the header names {token!r} twice ({option}); pick it by index")
        if token in names:
            indices.append(names.index(token))
        elif token.isascii() and token.isdigit() and int(token) < len(table.columns):  # not "²"
            indices.append(int(token))
        else:
            listing = _listed(names or [f"{index}" for index in range(len(table.columns))])
            raise InputError(f"{table.source}: no column {token!r} ({option}); it has "
                             f"{_count(len(table.columns), 'column')}: {listing}" + ("" if names else " (no header)"))
    return indices


MISSING = ("", "na", "n/a", "nan", "null", "none")  # a text field that is a missing value (any case)
OMIT_MISSING = "or pass --nan-policy omit to leave out the rows with a missing value"


def _numbers(table, index, allow_missing=False):
    """Column ``index`` as float64, checked: numbers (not dates or times, which NumPy would
    turn into counts of some unit since 1970, in every format alike), finite; with
    ``allow_missing``, a missing value (a text field of ``MISSING``, or NaN) is NaN."""
    values = table.columns[index]
    if getattr(values, "dtype", np.dtype(float)).kind in "mM":  # datetime64, timedelta64
        raise InputError(f"{table.source}: column {table.label(index)} holds {values.dtype} values (dates or "
                         f"times), not numbers; convert it to numbers first (e.g. seconds since a start)")
    if allow_missing and getattr(values, "dtype", np.dtype(object)).kind not in "biuf":
        values = [np.nan if isinstance(value, str) and _is_missing(value) else value for value in values]
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        row = next((row for row, value in enumerate(values) if not _is_number(value)), 0)
        empty = str(values[row]).strip().lower() in MISSING
        what = "is empty" if str(values[row]).strip() == "" else f"holds {values[row]!r}, not a number,"
        header = table.lines and not table.names and row == 0  # a row the user may have meant as one
        first = " (a first row with a number in it is data; a header names no column by a number)" if header else ""
        fix = f"fill or drop that row{first}" + (f", {OMIT_MISSING}" if empty else "")
        raise InputError(f"{table.source}: column {table.label(index)} {what} at {table.where(row)}; {fix}") from None
    bad = np.flatnonzero(np.isinf(numbers) if allow_missing else ~np.isfinite(numbers))
    if len(bad):
        value = "NaN" if np.isnan(numbers[bad[0]]) else str(numbers[bad[0]])
        fix = "drop or clip those rows" if np.isinf(numbers[bad[0]]) else f"drop or fill those rows, {OMIT_MISSING}"
        raise InputError(f"{table.source}: column {table.label(index)} holds {value} at {table.where(bad[0])} "
                         f"(NaN or inf in {_count(len(bad), 'row')}); {fix}")
    return numbers


def _text(table, index):
    """Column ``index`` as an object array of its strings (a missing field None) when it
    is a text column: some field holds text and none a number; else None."""
    values = table.columns[index]
    if getattr(values, "dtype", np.dtype(object)).kind not in "OUS":
        return None
    fields = (value for value in values if not _is_missing(value))
    first = next(fields, None)
    if first is None or _is_number(first) or any(_is_number(value) for value in fields):  # numbers: at the first
        return None
    return np.array([None if _is_missing(value) else str(value).strip() for value in values], dtype=object)


def _is_missing(value):
    """Whether a field read from a file is a missing value: None, NaN or a text of ``MISSING``."""
    return (value is None or (isinstance(value, str) and value.strip().lower() in MISSING)
            or (isinstance(value, float) and np.isnan(value)))


def _column(table, index, allow_missing):
    """Column ``index``: its numbers (``_numbers``), or a pandas Series of the strings of a
    text column (categories, ``_text``)."""
    text = _text(table, index)
    if text is None:
        return _numbers(table, index, allow_missing)
    import pandas

    return pandas.Series(text, name=table.names[index] if table.names else str(index))


def load_columns(table, columns=None, option="--columns", allow_missing=False):
    """The ``Columns`` ``columns`` (comma-separated header names or 0-based indices;
    None: all) of ``table``, a ``Table`` or a path; ``option`` is named in errors; missing
    values are NaN with ``allow_missing`` (``_numbers``); a text column is a column of
    categories (``_text``), and then the values are a DataFrame."""
    table = table if isinstance(table, Table) else read_table(table)
    indices = _select(table, columns, option)
    read = [_column(table, index, allow_missing) for index in indices]
    if any(not isinstance(column, np.ndarray) for column in read):
        import pandas

        labels = [table.names[index] if table.names else str(index) for index in indices]
        values = pandas.DataFrame(dict(zip(labels, read))) if len(set(labels)) == len(labels) else None
        if values is None:
            raise InputError(f"{table.source}: the header names a column twice among {_listed(labels)}; rename it")
    else:
        values = np.column_stack(read)
    count = _count(len(indices), "column")
    names = f" ({_listed([table.names[index] for index in indices])})" if table.names else ""
    return Columns(values, f"{table.source}, {count}{names}")


def read_pairwise_columns(args, log=QUIET):
    """The columns of ``tfmi pairwise``: ({name: values [n]} of the --columns (default:
    all but --given) and --given columns of the TABLE, the names to pair, the names
    given), each checked as ``load_columns`` checks them."""
    log(f"reading {args.table}" + (f"[{args.key}]" if args.key is not None else ""))
    table = read_table(args.table, args.key)
    given = _select(table, args.given, "--given") if args.given is not None else []
    paired = (_select(table, args.columns, "--columns") if args.columns is not None
              else [index for index in range(len(table.columns)) if index not in given])
    names = {index: table.names[index] if table.names else str(index) for index in paired + given}
    both = [names[index] for index in paired if index in given]
    if both:
        raise InputError(f"columns {_listed(both)} are in --columns and in --given: a column conditioned on "
                         f"cannot be one of a pair; leave it out of --columns")
    used = list(names.values())
    twice = sorted({name for name in used if used.count(name) > 1})
    if twice:
        raise InputError(f"{table.source}: the header names {_listed(twice)} twice or more; pick the columns by "
                         f"0-based index with --columns (and --given), or rename them")
    if len(paired) < 2:
        raise InputError(f"{table.source}: pairwise needs at least 2 columns to pair, got {len(paired)} "
                         f"({_listed([names[index] for index in paired])}); name more with --columns")
    omit = getattr(args, "nan_policy", "raise") == "omit"
    columns = {names[index]: _column(table, index, omit) for index in paired + given}
    return columns, [names[index] for index in paired], [names[index] for index in given]


def read_inputs(args, roles, log=QUIET):
    """{role: Columns} for each role of ``roles`` ("xy" or "xyz") by the rule of
    ``INPUT_RULE``, from the parsed ``args`` of a subcommand; the rows must pair up."""
    single = args.y is None
    files = {"x": args.x, "y": args.y or args.x, "z": getattr(args, "given", None) or (args.x if single else None)}
    if "z" in roles and files["z"] is None:
        raise InputError("cmi needs Z: --given FILE, or one TABLE with --z-columns")
    shared = [role for role in roles if files[role] == args.x]
    if single and any(getattr(args, f"{role}_columns") is None and getattr(args, f"{role}_key") is None
                      for role in shared):
        flags = " ".join(f"--{role}-columns" for role in shared)
        raise InputError(f"{args.x} is the only file, so it holds {', '.join(r.upper() for r in shared)}: "
                         f"pick each one's columns ({flags}), or its array in an .npz (--x-key, ...)")
    tables, inputs = {}, {}
    for role in roles:
        # "is None", not "or": an empty --x-columns '' is refused by name, not read as all columns
        own_key, own_columns = getattr(args, f"{role}_key"), getattr(args, f"{role}_columns")
        key = args.key if own_key is None else own_key
        columns, option = (args.columns, "--columns") if own_columns is None else (own_columns, f"--{role}-columns")
        if (files[role], key) not in tables:
            log(f"reading {files[role]}" + (f"[{key}]" if key is not None else ""))
            tables[files[role], key] = read_table(files[role], key)
        inputs[role] = load_columns(tables[files[role], key], columns, option,
                                    allow_missing=getattr(args, "nan_policy", "raise") == "omit")
    lengths = {len(columns.values) for columns in inputs.values()}
    if len(lengths) > 1:
        told = ", ".join(f"{role.upper()} ({files[role]}) {len(columns.values)}" for role, columns in inputs.items())
        raise InputError(f"the rows must pair up, one sample per row, but the files have different row counts: {told}")
    return inputs


# Estimating and reporting --------------------------------------------------------------


def _native_stderr_captured():
    """What native code writes to file descriptor 2 in the block (TensorFlow logs at import
    before it reads TF_CPP_MIN_LOG_LEVEL) held back; written out after all when the block
    fails (it may say why)."""
    return native_stderr_captured(lambda written, failed: written if failed else b"")


@contextlib.contextmanager
def _library_logs(log):
    """tfmi's progress lines (its log records, verbose=1) as lines of ``log`` (a
    ``Progress``); its warnings are left to the report (they are in MIEstimate.warnings);
    TensorFlow's and absl's Python logs below ERROR and Python warnings silenced; anything
    printed goes to stderr, so that stdout holds the result alone."""
    handler = log.logging_handler()
    handler.addFilter(lambda record: record.levelno != logging.WARNING)
    loggers = {name: logging.getLogger(name) for name in ("tfmi", "tensorflow", "absl")}
    saved = {name: (logger.level, logger.propagate) for name, logger in loggers.items()}
    loggers["tfmi"].addHandler(handler)
    loggers["tfmi"].propagate = False
    for name, level in (("tfmi", logging.INFO), ("tensorflow", logging.ERROR), ("absl", logging.ERROR)):
        loggers[name].setLevel(level)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            yield
    finally:
        loggers["tfmi"].removeHandler(handler)
        for name, (level, propagate) in saved.items():
            loggers[name].setLevel(level)
            loggers[name].propagate = propagate


def library_function(command, options, log, runs=None):
    """``tfmi.<command.function>``, imported here (quietly: TensorFlow, where a name or the
    estimator needs it, logs at import), once the --estimator of ``options`` is checked
    against the names that ``runs`` (default ``command``) runs (``estimator_names``; the
    bounds' names only for a name that is no model's)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    log("loading the library")
    with _native_stderr_captured():
        function = getattr(tfmi, command.function)
        names = estimator_names(runs or command, bounds=False)
        if options.get("estimator", "auto") not in names:
            names = estimator_names(runs or command)
    if options.get("estimator", "auto") not in names:
        raise InputError(f"--estimator {options['estimator']!r} is not one the command line runs; "
                         f"choose one of {list(names)}")
    return function


def estimate(command, inputs, options, log=QUIET):
    """``command``'s function (``tfmi.estimate_mi`` / ``estimate_cmi``) of the arrays of
    ``inputs`` with the keyword arguments ``options``: an ``MIEstimate``, with progress
    lines on ``log`` (a ``Progress``). The library is imported here, quietly (TensorFlow
    only where the estimator trains a critic, a flow or networks)."""
    started = time.time()
    with _library_logs(log):
        function = library_function(command, options, log)
        sizes = ", ".join(f"{role.upper()} {columns.values.shape[1]}" for role, columns in inputs.items())
        log(f"estimating {command.title} on {len(inputs['x'].values)} rows (columns: {sizes})")
        result = function(*(columns.values for columns in inputs.values()), verbose=0 if log.quiet else 1, **options)
    log(f"done in {time.time() - started:.1f} s")
    return result


def report(result, inputs, title, normalize=False):
    """The readable block of an ``MIEstimate``: value, interval, (with ``normalize`` the
    correlation scale,) stderr, method, rows, inputs and warnings."""
    low, high = result.interval
    settings = result.settings
    split = ""
    if "folds" in settings:
        split = (f" ({settings['folds']} folds of {settings['n_train']} train and {settings['n_valid']} validation "
                 "rows; every row a test row once)")
    elif {"n_train", "n_valid", "n_test"} <= set(settings):
        split = f" ({settings['n_train']} train, {settings['n_valid']} validation, {settings['n_test']} test)"
    scale = []
    if normalize:
        ends = result.normalized_interval
        scale = [f"correlation scale sqrt(1 - exp(-2 I)) = {result.normalized:.4f} (95% interval {ends[0]:.4f} to "
                 f"{ends[1]:.4f})"]
    lines = [
        f"{title} = {result.mi:.4f} nats = {result.mi / math.log(2):.4f} bits",
        f"95% interval: {low:.4f} to {high:.4f} nats ({low / math.log(2):.4f} to {high / math.log(2):.4f} bits)",
        *scale,
        f"stderr: {result.stderr:.4f} nats",
        f"method: {result.method}",
        f"rows: {len(inputs['x'].values)}{split}",
        *(f"{role.upper()}: {columns.description}" for role, columns in inputs.items()),
        *([f"warning: {message}" for message in result.warnings] or ["warnings: none"]),
    ]
    return "\n".join(lines)


def _pairwise_matrix(result, matrix):
    width = max(8, *(len(name) for name in result.names))
    lines = [" " * width + "".join(f"{name:>{width + 1}}" for name in result.names)]
    for i, name in enumerate(result.names):
        cells = ("." if i == j else f"{value:.4f}" for j, value in enumerate(matrix[i]))
        lines.append(f"{name:<{width}}" + "".join(f"{cell:>{width + 1}}" for cell in cells))
    return lines


def report_pairwise(result, source, normalize=False):
    """The readable block of a ``PairwiseMI``: the labelled matrix (with ``normalize``,
    also on the correlation scale), the pairs by MI with their intervals, the method(s),
    the pairs read back and the warnings."""
    pairs = result.by_mi()
    width = max(len("pair"), *(len(pair.pair) for pair in pairs))
    scale = ["", "on the correlation scale, sqrt(1 - exp(-2 I)):",
             *_pairwise_matrix(result, result.normalized)] if normalize else []
    lines = [f"{result.title} in nats: {len(result.names)} columns of {source}, {result.n_rows} rows, "
             f"{len(pairs)} pairs", *_pairwise_matrix(result, result.matrix), *scale, "",
             f"{'pair':<{width}}  {'mi':>8}  {'95% interval':>18}  {'stderr':>7}"]
    for pair in pairs:
        zero = "  interval holds 0" if pair.holds_zero else ""
        lines.append(f"{pair.pair:<{width}}  {pair.mi:8.4f}  {pair.low:8.4f} to {pair.high:6.4f}  "
                     f"{pair.stderr:7.4f}{zero}")
    methods = {pair.method for pair in pairs}
    if len(methods) == 1:
        lines.append(f"method (every pair): {methods.pop()}")
    else:
        lines += [f"method of {pair.pair}: {pair.method}" for pair in result.table]
    if result.results:
        lines.append(f"results: {result.results} ({result.reused} of {len(pairs)} pairs read back)")
    warned = [f"warning: {pair.pair}: {message}" for pair in result.table for message in pair.warnings]
    return "\n".join(lines + (warned or ["warnings: none"]))


def _check_output_path(path, option):
    """An output file's folder must exist (found before hours of estimating, not after)."""
    if path is None:
        return
    if os.path.isdir(path):
        raise InputError(f"{option} {path} is a directory; give a file path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError(f"{option} {path}: the folder {folder} does not exist; create it first")


def _pairwise_progress(log):
    """The ``progress`` of ``tfmi.pairwise_mi``: a line at most every PROGRESS_EVERY
    seconds (and at the last pair) with the pairs done, elapsed time and time left."""
    started, shown, computed = time.time(), [0.0], [0]

    def progress(done, total, pair):
        computed[0] += 1
        now = time.time()
        if now - shown[0] >= PROGRESS_EVERY or done == total:
            shown[0] = now
            left = (now - started) / computed[0] * (total - done)
            log(f"{done}/{total} pairs ({pair} done), {now - started:.0f} s, about {left:.0f} s left")

    return progress


def _stopped_pairwise(stop, results):
    """The line of Ctrl-C during ``pairwise_mi`` (``stop``: its PairwiseInterrupted)."""
    done = getattr(stop, "done", None)
    line = ("tfmi: stopped by SIGINT (Ctrl-C) before a pair was estimated" if done is None else
            f"tfmi: stopped by SIGINT (Ctrl-C); {done} of {stop.total} pairs finished")
    if results:
        return f"{line}, kept in {results}: run the same command again to resume."
    return f"{line}, not kept: add --results pairs.jsonl to keep finished pairs across runs."


def _run_pairwise(args, command, log):
    """The text to print of ``tfmi pairwise``: the report or the JSON of ``tfmi.pairwise_mi``."""
    _check_output_path(args.results, "--results")
    _check_output_path(args.plot, "--plot")
    columns, paired, given = read_pairwise_columns(args, log)
    options = {keyword: getattr(args, keyword) for keyword in command.options if hasattr(args, keyword)}
    if args.discrete is not None:
        options["discrete"] = [token.strip() for token in args.discrete.split(",")]
    started = time.time()
    with _library_logs(log):
        function = library_function(command, options, log, runs=COMMANDS["cmi" if given else "mi"])
        pairs = len(paired) * (len(paired) - 1) // 2
        log(f"estimating {pairs} pairs of {len(paired)} columns on {len(columns[paired[0]])} rows"
            + (f", given {_listed(given)}" if given else ""))
        try:
            result = function(columns, paired, given or None, results=args.results,
                              progress=None if args.quiet else _pairwise_progress(log), verbose=0, **options)
        except KeyboardInterrupt as stop:
            # not input: Ctrl-C, told with the pairs that finished and where they are kept
            raise _Interrupted(_stopped_pairwise(stop, args.results)) from None
    log(f"done in {time.time() - started:.1f} s")
    if args.plot:
        result.plot(args.plot)
        log(f"heatmap written to {args.plot}")
    if args.json:
        fields = result.to_dict()
        if args.normalize:
            fields["normalized"] = json_safe(result.normalized)
        return json.dumps(fields, indent=1, allow_nan=False)
    return report_pairwise(result, args.table, args.normalize)


# The command line ----------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error told in one "error: ..." line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _indented(lines):
    return "\n".join(f"  {line}" for line in lines)


def _add_subcommand(commands, name, command, with_library):
    pairwise = not command.roles
    parser = commands.add_parser(
        name,
        help=f"estimate {command.title} with tfmi.{command.function}",
        description=f"Estimates {command.title} in nats{'' if pairwise else ' from paired rows'}, with "
                    f"tfmi.{command.function}.",
        epilog=f"{PAIRWISE_RULE if pairwise else INPUT_RULE}\n\nexamples:\n{_indented(command.examples)}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    output = _add_pairwise_arguments(parser) if pairwise else _add_role_arguments(parser, command)
    _add_options(parser, command, with_library, output)


def _add_pairwise_arguments(parser):
    parser.add_argument("table", metavar="TABLE", help="the file whose columns are paired")
    inputs = parser.add_argument_group("input")
    inputs.add_argument("--columns", metavar="LIST", help="the columns to pair (names or 0-based indices: a,b,c; "
                        "default: all but --given)")
    inputs.add_argument("--given", metavar="LIST", help="columns of TABLE that every pair is conditioned on")
    inputs.add_argument("--key", metavar="NAME", help="the array of an .npz file")
    inputs.add_argument("--discrete", metavar="LIST", help="the discrete columns (class labels, counts, codes); "
                        "the others continuous (default: each pair decides by the number of distinct values)")
    output = parser.add_argument_group("output")
    output.add_argument("--results", metavar="FILE", help="JSON-lines file that keeps each finished pair; a rerun "
                        "with the same FILE resumes")
    output.add_argument("--plot", metavar="PNG", help="write the heatmap of the matrix to this file")
    return output


def _add_role_arguments(parser, command):
    parser.add_argument("x", metavar="X", help="the file of X, or the one TABLE that holds every array")
    parser.add_argument("y", metavar="Y", nargs="?", help="the file of Y (none with one TABLE)")
    inputs = parser.add_argument_group("input")
    if "z" in command.roles:
        inputs.add_argument("--given", metavar="Z", help="the file of Z, the conditioning array")
    inputs.add_argument("--columns", metavar="LIST", help="columns of every file (names or 0-based indices: a,b)")
    inputs.add_argument("--key", metavar="NAME", help="the array of every .npz file")
    if command.roles == "xy":
        inputs.add_argument("--discrete", metavar="SIDES", help="x, y or x,y: the sides that are discrete (class "
                            "labels, counts, codes), the other continuous (default: decided by the number of "
                            "distinct values)")
    for role in command.roles:
        inputs.add_argument(f"--{role}-columns", metavar="LIST", help=f"columns of {role.upper()} (over --columns)")
        inputs.add_argument(f"--{role}-key", metavar="NAME",
                            help=f"the array of {role.upper()} in an .npz (over --key)")


def _add_options(parser, command, with_library, output=None):
    """The estimation options of ``command`` and --json, --quiet (in ``output``, a group, or a new one)."""
    estimation = parser.add_argument_group(f"estimation (the keyword arguments of tfmi.{command.function})")
    found = option_choices_and_defaults(command) if with_library else {}
    for keyword in command.options:
        choices, default = found.get(keyword, (None, None))
        kind, text = OPTIONS[keyword]
        if choices:
            text += f"; one of: {', '.join(choices)}"
        text += "" if default is None else f" (default: {default})"
        metavar = {str: "NAME", int: "N", float: "SHARE"}[kind]
        estimation.add_argument(f"--{keyword.replace('_', '-')}", type=kind, choices=choices, metavar=metavar,
                                default=argparse.SUPPRESS, help=text)
    output = output or parser.add_argument_group("output")
    output.add_argument("--json", action="store_true",
                        help=f"print the whole {'PairwiseMI' if not command.roles else 'MIEstimate'} as JSON")
    output.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    output.add_argument("--normalize", action="store_true",
                        help="also give the MI on the correlation scale, sqrt(1 - exp(-2 I)): the |correlation| of "
                             "a Gaussian pair with that MI")


def build_parser(help_of=None):
    """The ``tfmi`` argument parser, and {name: parser} of its subcommands ``mi``, ``cmi``
    and ``pairwise``; the subcommand ``help_of`` lists the library's names and defaults."""
    examples = _indented(example for command in COMMANDS.values() for example in command.examples)
    parser = _Parser(
        prog="tfmi",
        description="Mutual information of arrays on disk: a held-out estimate in nats, with a 95% interval.",
        epilog=f"examples:\n{examples}\n\ntfmi mi --help (cmi, pairwise) lists every option.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tfmi {tfmi.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        _add_subcommand(commands, name, command, with_library=name == help_of)
    return parser, commands.choices


def _discrete_sides(listed):
    """{"discrete_x": ..., "discrete_y": ...} of ``tfmi mi --discrete x,y`` (the sides
    listed are discrete, the others continuous); {} without the option."""
    if listed is None:
        return {}
    sides = [token.strip().lower() for token in listed.split(",")]
    unknown = [side for side in sides if side not in ("x", "y")]
    if unknown:
        raise InputError(f"--discrete names the sides x and y (e.g. --discrete y), got {', '.join(unknown)}")
    return {f"discrete_{side}": side in sides for side in ("x", "y")}


def _run(argv):
    """The text to print of ``tfmi ARGV``: the report, or the JSON of the estimate."""
    argv = sys.argv[1:] if argv is None else list(argv)
    asks_help = any(arg in ("-h", "--help") for arg in argv[1:])
    parser, subcommands = build_parser(help_of=argv[0] if argv and asks_help else None)
    name = argv[0] if argv and argv[0] in subcommands else parser.parse_args(argv).command  # help, or a usage error
    # intermixed: options may come between the files (tfmi mi a.npz --key k b.npz)
    args = subcommands[name].parse_intermixed_args(argv[1:])
    command = COMMANDS[name]
    log = Progress("tfmi: ", quiet=args.quiet)
    if not command.roles:
        return _run_pairwise(args, command, log)
    inputs = read_inputs(args, command.roles, log)
    options = {keyword: getattr(args, keyword) for keyword in command.options if hasattr(args, keyword)}
    options.update(_discrete_sides(getattr(args, "discrete", None)))
    result = estimate(command, inputs, options, log)
    if args.json:
        fields = dataclasses.asdict(result)
        if args.normalize:
            fields.update(normalized=result.normalized, normalized_interval=result.normalized_interval)
        return json.dumps(json_safe(fields), indent=1, allow_nan=False)
    return report(result, inputs, command.title, args.normalize)


def _write_out(text):
    """Prints ``text`` (None: nothing) and flushes stdout, whose failure must not be exit
    status 0 with the result lost: stdout closed or unwritable is one "error:" line and
    status 74; a reader gone (``| head``) ends quietly with SIGPIPE's status 141, as
    ``cat`` does (stdout then points at /dev/null, so that Python's flush at exit finds
    nothing to complain about: the recipe of the signal module's docs)."""
    try:
        if sys.stdout is None:
            # not input: file descriptor 1 closed at start (>&-), which Python makes sys.stdout None
            raise OSError(errno.EBADF, "standard output is closed")
        if text is not None:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE)
    except OSError as error:
        print(f"error: cannot write to stdout ({error.strerror or error}): the output is lost; run it again "
              f"with stdout open to a file or pipe that takes it (tfmi ... > result.txt)", file=sys.stderr)
        sys.exit(74)  # EX_IOERR: not 2, the input was fine


def main(argv=None):
    """The ``tfmi`` console script (``argv``: its arguments; None: sys.argv[1:])."""
    try:
        _write_out(None)  # a closed stdout fails now, not after seconds of estimating
        try:
            text = run_reporting_errors(_run, argv, stopped=None)
        except SystemExit as stop:
            if stop.code:  # a usage error or bad input, told on stderr
                raise
            text = None  # --help or --version: argparse has printed it
        _write_out(text)
    except KeyboardInterrupt as stop:
        print(stop.args[0] if isinstance(stop, _Interrupted) else STOPPED, file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
