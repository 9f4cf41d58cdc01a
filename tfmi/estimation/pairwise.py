r"""``pairwise_mi``: the mutual information of every pair of a table's columns.

For columns x_1 .. x_p and each unordered pair i < j,

    M[i, j] = M[j, i] = I(x_i; x_j)           estimate_mi(x_i, x_j, ...)
    M[i, j] = M[j, i] = I(x_i; x_j | z)       estimate_cmi(x_i, x_j, z, ...) with given= z

each entry exactly what the single-pair call returns (the same arguments and seed), with
its 95% interval; p (p - 1) / 2 calls in all, spread over worker processes (``n_jobs``,
all cores by default; loky's reusable processes, which stay up between calls). The table is
checked and converted once, column by column (a row is left out only by nan_policy="omit",
pair by pair); each finished pair can be appended to a JSON-lines file with the settings
and data fingerprints that produced it, so that an interrupted run resumes where it stopped.
"""

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
import pickle
import re
import sys
import time

import joblib
import numpy as np
from joblib.externals.loky import get_reusable_executor

import tfmi
from tfmi.console import native_stderr_captured
from tfmi.estimation import conditional, estimate, inputs, protocol, stratified
from tfmi.json_files import json_safe

__all__ = ["pairwise_mi", "PairwiseMI", "PairEstimate", "PairwiseInterrupted"]

logger = logging.getLogger(__name__)

CALLER = "pairwise_mi"
LIST_AT_MOST = 12  # column names shown in a message
NOT_SETTINGS = ("verbose",)  # keywords that do not change an estimate


@dataclasses.dataclass(frozen=True)
class PairEstimate:
    """One pair's estimate: I(x; y) (or I(x; y | given)) in nats, its 95% interval
    [low, high], stderr, method and warnings (those of the ``MIEstimate``), the seconds
    it took and whether it was read back from a results file instead of computed."""

    x: str
    y: str
    mi: float
    low: float
    high: float
    stderr: float
    method: str
    warnings: tuple
    seconds: float
    reused: bool = False

    @property
    def pair(self):
        """"x ~ y"."""
        return f"{self.x} ~ {self.y}"

    @property
    def holds_zero(self):
        """Whether the 95% interval holds 0 (no evidence of dependence)."""
        return self.low <= 0.0


class PairwiseInterrupted(KeyboardInterrupt):
    """Ctrl-C during ``pairwise_mi``: ``done`` of ``total`` pairs had finished, kept in the
    ``results`` file (None: not kept)."""

    def __init__(self, done, total, results):
        self.done, self.total, self.results = done, total, results
        kept = f"kept in {results}: rerun with the same results= to resume" if results else (
            "not kept: pass results='pairs.jsonl' to keep finished pairs across runs")
        super().__init__(f"{done} of {total} pairs finished, {kept}")


def cell_text(value):
    """A heatmap cell's text: the value to 2 decimals ("0.00", not "-0.00", for a small negative estimate)."""
    text = f"{value:.2f}"
    return "0.00" if text == "-0.00" else text


def _pandas(method):
    try:
        import pandas
    except ImportError:
        raise ImportError(f"PairwiseMI.{method} needs pandas: pip install 'tfmi[table]'") from None
    return pandas


@dataclasses.dataclass
class PairwiseMI:
    """The result of ``pairwise_mi``.

    Attributes:
      names: the p column names, in the order of the matrices.
      matrix: [p, p] I(x_i; x_j) in nats, symmetric, NaN on the diagonal.
      low, high: [p, p] the 95% intervals' ends, likewise.
      table: the ``PairEstimate`` of each pair i < j, in row-major order.
      given: the names of the columns conditioned on (None: plain MI).
      settings: the function called, estimator, seed and further keyword arguments.
      n_rows: rows of the table.
      reused: pairs read back from ``results`` rather than computed.
      results: the JSON-lines file of the pairs (None: none).
      seconds: wall time of the call.
    """

    names: list
    matrix: np.ndarray
    low: np.ndarray
    high: np.ndarray
    table: list
    given: list
    settings: dict
    n_rows: int
    reused: int = 0
    results: str = None
    seconds: float = 0.0

    @property
    def title(self):
        """"I(x_i; x_j)" or "I(x_i; x_j | z)"."""
        return f"I(x_i; x_j | {', '.join(self.given)})" if self.given else "I(x_i; x_j)"

    @property
    def normalized(self):
        """``matrix`` on the correlation scale, sqrt(1 - exp(-2 I)) (``MIEstimate.normalized``)."""
        return protocol.correlation_scale(self.matrix)

    def by_mi(self):
        """The pairs, largest MI first."""
        return sorted(self.table, key=lambda pair: -pair.mi if math.isfinite(pair.mi) else math.inf)

    def to_dict(self):
        """A JSON-ready dict: names, the matrices (None on the diagonal), the pairs and the settings."""
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        fields["table"] = [dataclasses.asdict(pair) for pair in self.table]
        return json_safe(fields)

    def to_frame(self):
        """The matrix as a pandas DataFrame labelled by column name on both axes."""
        pandas = _pandas("to_frame")
        return pandas.DataFrame(self.matrix, index=list(self.names), columns=list(self.names))

    def long_frame(self):
        """One row per pair, largest MI first: pair, x, y, mi, low, high, stderr, method,
        warnings (a pandas DataFrame)."""
        pandas = _pandas("long_frame")
        rows = [{"pair": pair.pair, "x": pair.x, "y": pair.y, "mi": pair.mi, "low": pair.low, "high": pair.high,
                 "stderr": pair.stderr, "method": pair.method, "warnings": list(pair.warnings)}
                for pair in self.by_mi()]
        return pandas.DataFrame(rows, columns=["pair", "x", "y", "mi", "low", "high", "stderr", "method", "warnings"])

    def plot(self, path=None, ax=None):
        """The heatmap of ``matrix``: column names on both axes, the value in each cell,
        hatching where the 95% interval holds 0, a colorbar in nats. Draws on ``ax`` (a
        matplotlib Axes) or a new figure; saves a PNG at ``path`` when given; returns the
        figure. Uses no pyplot, so it runs under any backend (Agg included)."""
        from matplotlib import colormaps, patches
        from matplotlib.figure import Figure

        size = len(self.names)
        if ax is None:
            side = max(4.5, 0.55 * size + 2.5)
            figure = Figure(figsize=(side + 1.2, side), layout="constrained")
            ax = figure.add_subplot()
        figure = ax.figure
        finite = self.matrix[np.isfinite(self.matrix)]
        top = max(float(finite.max()) if finite.size else 0.0, 1e-3)
        image = ax.imshow(self.matrix, cmap=colormaps["viridis"].with_extremes(bad="#d9d9d9"), vmin=0.0, vmax=top)
        font = max(5.0, min(10.0, 140.0 / size))
        for i in range(size):
            for j in range(size):
                if i == j:
                    continue
                value = self.matrix[i, j]
                ax.text(j, i, cell_text(value), ha="center", va="center", fontsize=font,
                        color="white" if value < 0.6 * top else "black")
                if self.low[i, j] <= 0.0:
                    ax.add_patch(patches.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                                   edgecolor=(1.0, 1.0, 1.0, 0.3), linewidth=0))
        ax.set_xticks(range(size), labels=self.names, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(size), labels=self.names)
        ax.set_title(f"pairwise mutual information {self.title}, {self.n_rows} rows")
        ax.set_xlabel("column (hatched: the 95% interval holds 0)")
        ax.set_ylabel("column")
        figure.colorbar(image, ax=ax, label="mutual information (nats)", shrink=0.8)
        if path is not None:
            figure.savefig(path, dpi=120)
        return figure


# Checking the table once ---------------------------------------------------------------


def _listed(names):
    return ", ".join(names[:LIST_AT_MOST]) + (", ..." if len(names) > LIST_AT_MOST else "")


def _table_columns(table):
    """(names, {name: raw column}) of a DataFrame, a mapping {name: 1-d column} or a 2-d
    array (names "0", "1", ...)."""
    if inputs.is_pandas(table) and getattr(table, "ndim", 0) == 2:
        names = inputs.column_names(table)
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"{CALLER}: the DataFrame names columns {duplicated} more than once; rename them "
                             f"(df.columns = [...]) so that each pair has its names.")
        return names, {name: table.iloc[:, index] for index, name in enumerate(names)}
    if isinstance(table, dict):
        names = [str(name) for name in table]
        if len(set(names)) < len(names):
            raise ValueError(f"{CALLER}: the dict's keys {list(table)} name some column twice once made strings.")
        return names, dict(zip(names, table.values()))
    if inputs.is_pandas(table) or np.ndim(table) != 2:
        shape = table.shape if inputs.is_pandas(table) else np.shape(table)
        raise ValueError(f"{CALLER}: table must be a DataFrame, a dict {{name: column}} or a 2-d array "
                         f"[n_rows, n_columns], got {type(table).__name__} of shape {shape}; for two arrays use "
                         f"tfmi.estimate_mi(x, y).")
    array = np.asarray(table)
    names = [str(index) for index in range(array.shape[1])]
    return names, {name: array[:, index] for index, name in enumerate(names)}


def _chosen(selection, names, argument):
    """The names of ``selection`` (a name, an index, or a list of them) among ``names``."""
    if selection is None:
        return []
    items = [selection] if isinstance(selection, (str, int, np.integer)) else list(selection)
    chosen = []
    for item in items:
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < len(names):
            name = names[int(item)]
        elif str(item) in names:
            name = str(item)
        else:
            raise ValueError(f"{CALLER}: {argument} names no column {item!r}; the table has {len(names)} columns: "
                             f"{_listed(names)} (pass names, or 0-based indices).")
        if name in chosen:
            raise ValueError(f"{CALLER}: {argument} lists column {name!r} twice; list each column once.")
        chosen.append(name)
    return chosen


def _checked_column(values, name, allow_nan):
    """(One column as float64 [n], checked by ``inputs.as_matrix`` (numbers, finite or,
    with ``allow_nan``, missing), whether it held categories: text, pandas' category or
    boolean dtype, read as codes by ``inputs.category_codes``)."""
    values, categories, _ = inputs.category_codes(values, CALLER, f"column {name!r}")
    matrix = inputs.as_matrix(values, CALLER, f"column {name!r}", allow_nan)
    if matrix.shape[1] != 1:
        raise ValueError(f"{CALLER}: column {name!r} holds {matrix.shape[1]} columns; pass one column per name.")
    return np.ascontiguousarray(matrix[:, 0]), categories is not None


def _fingerprint(array):
    """The SHA-256 of the float64 values (and shape) of ``array``, 16 hex digits."""
    digest = hashlib.sha256(str(array.shape).encode())
    digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


# The results file ----------------------------------------------------------------------


def _key(settings):
    """The canonical text of a pair's settings: what a results line must match to be reused."""
    return json.dumps(json_safe(settings), sort_keys=True, default=repr)


def _read_back(path):
    """{settings key: record} of the JSON-lines file ``path`` (none: {}); a torn line (a
    run killed while writing) is skipped."""
    if path is None or not os.path.exists(path):
        return {}
    found = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                record = json.loads(line)
                found[_key(record["settings"])] = record
            except (ValueError, KeyError, TypeError):
                continue
    return found


def _open_results(path):
    """``path`` opened for appending, on a fresh line (after a torn last line)."""
    ends_cleanly = True
    if os.path.exists(path) and os.path.getsize(path):
        with open(path, "rb") as handle:
            handle.seek(-1, os.SEEK_END)
            ends_cleanly = handle.read(1) == b"\n"
    handle = open(path, "a", encoding="utf-8")
    if not ends_cleanly:
        handle.write("\n")
    return handle


def _from_record(record, x, y, reused):
    number = lambda value: math.nan if value is None else float(value)  # noqa: E731
    return PairEstimate(x, y, number(record["mi"]), number(record["low"]), number(record["high"]),
                        number(record["stderr"]), record["method"], tuple(record["warnings"]),
                        float(record.get("seconds") or 0.0), reused)


def _check_results_path(results):
    if results is None:
        return None
    results = os.fspath(results)
    if os.path.isdir(results):
        raise ValueError(f"{CALLER}: results={results!r} is a directory; pass a file path such as 'pairs.jsonl'.")
    folder = os.path.dirname(os.path.abspath(results))
    if not os.path.isdir(folder):
        raise ValueError(f"{CALLER}: results={results!r}: the folder {folder} does not exist; create it first.")
    return results


# The pairs -----------------------------------------------------------------------------


def _discrete_flags(discrete, names, all_names, categories):
    """{name: True, False or "auto"} of the columns ``names`` from ``discrete`` (see
    ``pairwise_mi``), category columns True; None where every column is left to each
    estimate's own "auto"."""
    if discrete is None:
        flags = {name: True if name in categories else "auto" for name in names}
        return flags if categories else None
    if isinstance(discrete, (bool, np.bool_)):
        flags = {name: bool(discrete) for name in names}
    else:
        chosen = _chosen(discrete, all_names, "discrete")
        flags = {name: name in chosen for name in names}
    said_continuous = [name for name in names if name in categories and flags[name] is False]
    if said_continuous:
        raise ValueError(f"{CALLER}: columns {said_continuous} hold categories (text); they cannot be continuous: "
                         f"list them in discrete, or pass numbers.")
    return flags


def _check_n_jobs(n_jobs):
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or not (n_jobs == -1 or n_jobs >= 1):
        raise ValueError(f"{CALLER}: n_jobs must be -1 (all cores) or a whole number >= 1 (1: no worker "
                         f"processes), got {n_jobs!r}.")
    return int(n_jobs)


def _pair_record(pair, x, y, z, estimator, seed, estimate_kwargs):
    """(pair, the record of I(x; y) or I(x; y | z)): mi, low, high, stderr, method, warnings, seconds."""
    started = time.perf_counter()
    with _quiet_tensorflow_start():
        if z is None:
            result = estimate.estimate_mi(x, y, estimator=estimator, seed=seed, **estimate_kwargs)
        else:
            result = conditional.estimate_cmi(x, y, z, estimator=estimator, seed=seed, **estimate_kwargs)
    low, high = result.interval
    return pair, {"mi": result.mi, "low": low, "high": high, "stderr": result.stderr, "method": result.method,
                  "warnings": list(result.warnings), "seconds": time.perf_counter() - started}


def _picklable(value):
    try:
        pickle.dumps(value)
    except Exception:  # any object may refuse pickling in its own way
        return False
    return True


def _computed(jobs, n_jobs):
    """(pair, record) of each job (``_pair_record``'s arguments), as they finish: in this
    process, in order, with ``n_jobs`` 1, a single job or arguments that cannot be
    pickled; otherwise in worker processes. Closing the generator (Ctrl-C, an error)
    stops the workers' pairs."""
    cores = joblib.cpu_count()  # the cores this process may use
    workers = min(cores if n_jobs == -1 else n_jobs, len(jobs))
    if workers <= 1 or not _picklable(jobs[0][4:]):
        yield from (_pair_record(*job) for job in jobs)
        return
    threads = str(max(1, cores // workers))  # BLAS threads per worker: the cores shared out
    environment = {"OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
                   WORKER_FLAG: "1"}
    executor = get_reusable_executor(max_workers=workers, env=environment, initializer=exec,
                                      initargs=(WORKER_START,))
    waiting, running = iter(jobs), set()

    def submit_next():
        job = next(waiting, None)
        if job is not None:
            running.add(executor.submit(_pair_record, *job))

    for _ in range(2 * workers):  # a few queued per worker, no more: Ctrl-C has little to stop
        submit_next()
    try:
        while running:
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                running.discard(future)
                submit_next()
                yield future.result()
    finally:
        if running:  # Ctrl-C or an error: stop the pairs still running
            executor.shutdown(wait=False, kill_workers=True)


# A worker's first act: Ctrl-C ignored (it reaches the whole process group; the caller's
# process stops the workers). Run by the builtin exec, so that nothing is unpickled first.
WORKER_START = """
import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
"""
WORKER_FLAG = "TFMI_PAIRWISE_WORKER"  # set in the workers' environment

# TensorFlow's start-up lines, printed by native code when it is first imported: kept out of
# a worker's output, so that they show once, in the caller's process, if at all.
TENSORFLOW_START = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|To enable the following "
                              r"instructions|[IWE]0000 00:00:\d+\.\d+\s+\d+ (port|cudart_stub|cpu_feature_guard|"
                              r"cuda_platform|cuda_executor|cuda_diagnostics)\.cc)")


def _quiet_tensorflow_start():
    """In a worker that has not imported TensorFlow: its file descriptor 2 (native code's
    stderr) held back for the pair and written out after it, less ``TENSORFLOW_START``'s
    lines. TensorFlow is then imported only by the pairs that train a network (a worker
    used to import it at start: 2-3 s before its first pair)."""
    if os.environ.get(WORKER_FLAG) != "1" or "tensorflow" in sys.modules:
        return contextlib.nullcontext()
    return native_stderr_captured(lambda written, failed: b"".join(
        line for line in written.splitlines(keepends=True)
        if not TENSORFLOW_START.match(line.decode(errors="replace"))))


def _checked_table(table, columns, given, discrete, estimator, estimate_kwargs):
    """(the names of the columns to pair, of the given ones, {name: float64 column [n]},
    z [n, d_z] or None, the discrete flags of the paired columns or None, the keyword
    arguments of each single-pair call with discrete_z where it is said) of
    ``pairwise_mi``'s table and arguments; ValueError naming what is wrong."""
    all_names, raw = _table_columns(table)
    given_names = _chosen(given, all_names, "given")
    names = _chosen(columns, all_names, "columns") if columns is not None else [
        name for name in all_names if name not in given_names]
    both = [name for name in names if name in given_names]
    if both:
        raise ValueError(f"{CALLER}: columns {both} are also in given; a column conditioned on cannot be one of "
                         f"a pair: leave it out of columns.")
    if len(names) < 2:
        raise ValueError(f"{CALLER}: needs at least 2 columns to pair, got {len(names)} ({_listed(names)}); pass "
                         f"a table with more columns or list more in columns.")
    allow_nan = inputs.check_nan_policy(estimate_kwargs.get("nan_policy", "raise"), CALLER) == "omit"
    checked = {name: _checked_column(raw[name], name, allow_nan) for name in names + given_names}
    values = {name: column for name, (column, _) in checked.items()}
    categories = {name for name, (_, is_category) in checked.items() if is_category}
    if categories and estimator != "auto":
        raise ValueError(f"{CALLER}: columns {sorted(categories)} hold categories (text): they are discrete, and "
                         f"estimator {estimator!r} models every column as continuous; use estimator='auto' or "
                         f"leave them out.")
    lengths = {len(column) for column in values.values()}
    if len(lengths) > 1:
        raise ValueError(f"{CALLER}: the columns have different lengths {sorted(lengths)}; every column must hold "
                         f"one value per row.")
    constant = [name for name in names if np.nanmax(values[name]) == np.nanmin(values[name])]
    if constant:
        kept = [name for name in names if name not in constant]
        raise ValueError(f"{CALLER}: columns {constant} are constant (zero variance): they carry no information; "
                         f"leave them out, e.g. columns={kept[:LIST_AT_MOST]}.")
    z = np.column_stack([values[name] for name in given_names]) if given_names else None
    flags = _discrete_flags(discrete, names, all_names, categories)
    if given_names and (discrete is not None or categories & set(given_names)):  # else each estimate's "auto"
        given_flags = _discrete_flags(discrete, given_names, all_names, categories)
        discrete_z = stratified.as_choice(np.array([given_flags[name] is True for name in given_names]))
        estimate_kwargs = {**estimate_kwargs, "discrete_z": discrete_z}
    return names, given_names, values, z, flags, estimate_kwargs


def pairwise_mi(table, columns=None, given=None, *, estimator="auto", seed=0, results=None, progress=None,
                n_jobs=-1, discrete=None, **estimate_kwargs):
    """Estimates I(x_i; x_j) in nats for every pair i < j of ``table``'s columns, each by
    ``tfmi.estimate_mi(x_i, x_j, estimator=estimator, seed=seed, **estimate_kwargs)``, or
    I(x_i; x_j | z) by ``tfmi.estimate_cmi(x_i, x_j, z, ...)`` with ``given``.

    Args:
      table: a pandas DataFrame, a dict {name: 1-d column} or a 2-d array [n, p]
        (columns named "0", "1", ...); every column used must hold finite numbers, or
        with ``nan_policy="omit"`` (an argument of the single-pair calls) missing
        values too: each pair then reads the rows complete in its own columns (and the
        given ones).
      columns: the names (or 0-based indices) of the columns to pair; None: all but
        ``given``.
      given: name(s) or indices of the columns z to condition on; they form no pair.
      estimator, seed, estimate_kwargs: passed to every single-pair call.
      results: a JSON-lines file: each finished pair is appended at once with its
        settings (function, arguments, names and SHA-256 fingerprints of the columns);
        pairs already there with the same settings are read back, not recomputed.
        Ctrl-C keeps what finished and raises ``PairwiseInterrupted`` (a KeyboardInterrupt).
      progress: None or ``callable(done, total, pair_name)``, called after each pair
        computed (in the order they finish); ``done`` counts the pairs read back too.
      n_jobs: worker processes for the pairs: -1 all cores, 1 none (every pair in
        this process, in row-major order). Arguments that cannot be pickled (e.g. a
        critic given as a function) keep the pairs in this process.
      discrete: which columns are discrete (class labels, counts, categories as codes):
        None, each pair's ``estimate_mi`` decides ("auto": few distinct values); True or
        False for every column; or the names (or indices) of the discrete columns, the
        others continuous. It applies to the ``given`` columns too (``discrete_z``).
        Text, category and boolean columns of a DataFrame are discrete whatever it says
        (as codes, ``inputs.category_codes``); a given text column makes the other given
        columns continuous unless ``discrete`` names them.

    Returns:
      A ``PairwiseMI``: ``.matrix``, ``.low``, ``.high`` [p, p], ``.table`` of
      ``PairEstimate``, ``.to_frame()``, ``.long_frame()``, ``.plot(path)``.
    """
    started = time.perf_counter()
    if progress is not None and not callable(progress):
        raise ValueError(f"{CALLER}: progress must be None or a callable(done, total, pair_name), got "
                         f"{type(progress).__name__}.")
    results = _check_results_path(results)
    n_jobs = _check_n_jobs(n_jobs)
    names, given_names, values, z, flags, estimate_kwargs = _checked_table(table, columns, given, discrete, estimator,
                                                                          estimate_kwargs)
    function = "estimate_cmi" if given_names else "estimate_mi"
    options = {key: value for key, value in estimate_kwargs.items() if key not in NOT_SETTINGS}
    shared = {"function": function, "estimator": estimator, "seed": seed, "options": options,
              "given": given_names or None, "given_sha256": None if z is None else _fingerprint(z),
              "tfmi": tfmi.__version__}
    fingerprints = {name: _fingerprint(values[name]) for name in names}
    pairs = [(i, j) for i in range(len(names)) for j in range(i + 1, len(names))]
    keys = {(i, j): _key({**shared, "x": names[i], "y": names[j], "x_sha256": fingerprints[names[i]],
                          "y_sha256": fingerprints[names[j]],
                          **({} if flags is None else {"discrete": [flags[names[i]], flags[names[j]]]})})
            for i, j in pairs}
    previous = _read_back(results)
    finished = {pair: _from_record(previous[keys[pair]], names[pair[0]], names[pair[1]], True)
                for pair in pairs if keys[pair] in previous}
    if results is not None:
        logger.info("%s: %d pairs of %d columns; %d read back from %s (same data and settings), %d to compute",
                    CALLER, len(pairs), len(names), len(finished), results, len(pairs) - len(finished))

    todo = [pair for pair in pairs if pair not in finished]
    jobs = [(pair, values[names[pair[0]]], values[names[pair[1]]], z, estimator, seed,
             estimate_kwargs if flags is None else {**estimate_kwargs, "discrete_x": flags[names[pair[0]]],
                                                    "discrete_y": flags[names[pair[1]]]})
            for pair in todo]
    handle = None if results is None else _open_results(results)
    computed = _computed(jobs, n_jobs)
    try:
        for (i, j), record in computed:
            if handle is not None:
                handle.write(json.dumps(json_safe({"settings": json.loads(keys[i, j]), **record}),
                                        allow_nan=False) + "\n")
                handle.flush()
            finished[i, j] = _from_record(record, names[i], names[j], False)
            if progress is not None:
                progress(len(finished), len(pairs), finished[i, j].pair)
    except KeyboardInterrupt:
        kept = None if results is None else _read_back(results)  # exact, even when Ctrl-C fell after a write
        done = len(finished) if kept is None else sum(keys[pair] in kept for pair in pairs)
        # not input: Ctrl-C, told with the pairs that finished and where they are
        raise PairwiseInterrupted(done, len(pairs), results) from None
    finally:
        computed.close()  # stops the workers' pairs left (after Ctrl-C or an error)
        if handle is not None:
            handle.close()
    return _assembled(names, [finished[pair] for pair in pairs], pairs, given_names, shared, len(values[names[0]]),
                      results, time.perf_counter() - started)


def _assembled(names, estimates, pairs, given_names, shared, n_rows, results, seconds):
    """The ``PairwiseMI`` of the pairs' ``estimates`` (in the order of ``pairs``)."""
    matrices = {name: np.full((len(names), len(names)), np.nan) for name in ("mi", "low", "high")}
    for (i, j), pair in zip(pairs, estimates):
        for name, matrix in matrices.items():
            matrix[i, j] = matrix[j, i] = getattr(pair, name)
    settings = {key: shared[key] for key in ("function", "estimator", "seed", "options")}
    return PairwiseMI(list(names), matrices["mi"], matrices["low"], matrices["high"], estimates,
                      given_names or None, settings, n_rows, sum(pair.reused for pair in estimates), results, seconds)
