"""The checks of the estimators' inputs: arrays, pandas DataFrames and Series (pandas is
optional: nothing here imports it), anything with ``__array__``.

``as_matrix`` turns one input into a checked float64 matrix [n, d]; ``column_names``
gives the names a DataFrame or a named Series carries, so that a result can report
them. A table's text, category and date columns are refused by name: MI here is of
numbers.
"""

import numpy as np

__all__ = ["NAN_POLICIES", "as_int", "as_seed", "bootstrap_count", "split_sizes", "drop_constant", "as_matrix",
           "category_codes", "check_pairs", "check_nan_policy", "column_names", "complete_rows", "is_pandas"]

NAN_POLICIES = ("raise", "omit")  # a missing value (NaN): refused, or its row left out


def is_pandas(value):
    """Whether ``value`` is a pandas object (told without importing pandas)."""
    return type(value).__module__.split(".")[0] == "pandas"


def column_names(array):
    """The column names of a DataFrame (as strings) or [name] of a named Series; None for
    anything else."""
    if not is_pandas(array):
        return None
    if getattr(array, "ndim", None) == 2:
        return [str(name) for name in array.columns]
    return None if getattr(array, "name", None) is None else [str(array.name)]


def _table_values(table, caller, name):
    """A DataFrame or Series as float64 values, missing entries NaN; ValueError naming the
    columns that do not hold numbers."""
    frame = table if table.ndim == 2 else table.to_frame()
    # NumPy's and pandas' nullable numbers (Int64, Float64, boolean) have kinds b, i, u, f.
    not_numbers = {str(column): str(dtype) for column, dtype in frame.dtypes.items() if dtype.kind not in "biuf"}
    if not_numbers:
        kinds = sorted(set(not_numbers.values()))
        raise ValueError(
            f"{caller}: {name} has columns that are not numbers: {list(not_numbers)[:12]} ({', '.join(kinds)}); pass "
            f"numbers: category codes (e.g. df[column].astype('category').cat.codes), timestamps as seconds."
        )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def as_matrix(array, caller, name, allow_nan=None):
    """``array`` as a float64 matrix [n, d] (a 1-d array is one feature), checked:
    real numbers, finite (NaN, a missing value, allowed with ``allow_nan`` True; False:
    the caller's nan_policy refuses it, and the error names the policy), within
    float32's range; one ValueError naming ``name`` otherwise."""
    if is_pandas(array) and getattr(array, "ndim", 0) in (1, 2):
        array = _table_values(array, caller, name)
    if np.iscomplexobj(array):
        raise ValueError(
            f"{caller}: {name} holds complex numbers; pass their real and imaginary parts as separate columns."
        )
    if np.asarray(array).dtype.kind in "mM":
        raise ValueError(f"{caller}: {name} holds dates or durations; pass them as numbers (e.g. seconds).")
    try:
        array = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{caller}: {name} must hold numbers, got values that are not ({error}).") from None
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{caller}: {name} must be [n_samples, n_features], got shape {array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{caller}: {name} is empty (0 rows of shape {array.shape}); pass the samples.")
    missing = np.isnan(array)
    infinite = np.isinf(array)
    if infinite.any():
        bad = int(np.sum(infinite.any(axis=1)))
        raise ValueError(f"{caller}: {name} holds inf values in {bad} rows; remove or clip them first.")
    if missing.any() and not allow_nan:
        bad = int(np.sum(missing.any(axis=1)))
        fix = "pass nan_policy='omit' to leave those rows out, or fill them" if allow_nan is False else (
            "leave those rows out or fill them")
        raise ValueError(f"{caller}: {name} holds NaN (missing) values in {bad} rows; {fix} first.")
    if missing.all():
        raise ValueError(f"{caller}: {name} holds no values (every entry is NaN); pass the samples.")
    largest = float(np.nanmax(np.abs(array)))
    if largest > float(np.finfo(np.float32).max):
        raise ValueError(
            f"{caller}: {name} holds values up to {largest:.3g}, beyond float32's range "
            f"({np.finfo(np.float32).max:.3g}); rescale {name} (MI does not change under rescaling)."
        )
    return array


def check_pairs(x, y, caller, name_x="x", name_y="y"):
    """``x``, ``y`` as float64 matrices [n, d] (``as_matrix``) with the same number of rows."""
    arrays = [as_matrix(x, caller, name_x), as_matrix(y, caller, name_y)]
    if len(arrays[0]) != len(arrays[1]):
        raise ValueError(
            f"{caller}: {name_x} and {name_y} must pair up row by row, got {len(arrays[0])} and "
            f"{len(arrays[1])} rows."
        )
    return arrays


def check_nan_policy(nan_policy, caller):
    """``nan_policy`` checked against ``NAN_POLICIES``."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"{caller}: nan_policy must be one of {list(NAN_POLICIES)} ('omit': leave out the rows "
                         f"with a missing value), got {nan_policy!r}.")
    return nan_policy


def complete_rows(arrays, caller):
    """({name: the rows of each [n, d] array where no input holds a NaN}, a note on the
    rows left out or None); ValueError when none is left."""
    kept = np.all([~np.isnan(array).any(axis=1) for array in arrays.values()], axis=0)
    left_out = int(len(kept) - kept.sum())
    if left_out == 0:
        return arrays, None
    if left_out == len(kept):
        raise ValueError(f"{caller}: every one of the {len(kept)} rows holds a missing value (NaN) in "
                         f"{' or '.join(arrays)}: no complete row is left to estimate from.")
    names = " or ".join(name for name, array in arrays.items() if np.isnan(array).any())
    note = (f"{left_out} of {len(kept)} rows held a missing value (NaN) in {names} and were left out "
            f"(nan_policy='omit'); the estimate is of the {len(kept) - left_out} complete rows.")
    return {name: array[kept] for name, array in arrays.items()}, note


def _is_number(value):
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (bool, np.bool_))


def _refuse_numbers_as_text(values, caller, where):
    """ValueError for a text column that holds numbers (all or some): numbers read as
    text, or a stray marker such as "?" in a column of numbers, are not categories."""
    if values.dtype.kind not in "OSU" and str(values.dtype) != "string":
        return
    numbers = [_is_number(value) for value in values]
    if any(numbers):
        others = sorted({str(value) for value, number in zip(values, numbers) if not number})[:5]
        what = (f"and {others} that are not" if others else "all of them numbers written as text")
        raise ValueError(f"{caller}: {where} holds numbers {what}; convert it with "
                         f"pandas.to_numeric(column, errors='coerce') (what is not a number becomes missing) or "
                         f"fix those values.")


def category_codes(array, caller, name):
    """(``array``, None, None) unless it is a DataFrame or Series with columns that hold
    categories (text, pandas' category or boolean dtype): then (the table with each such
    column replaced by float64 codes, one per distinct value in sorted order, missing
    entries NaN; the mask [d] of those columns; a note naming them and their counts of
    categories)."""
    if not is_pandas(array) or getattr(array, "ndim", 0) not in (1, 2):
        return array, None, None
    frame = array if array.ndim == 2 else array.to_frame()
    mask = np.array([dtype.kind in "OSUb" or str(dtype) in ("category", "string", "boolean") for dtype in frame.dtypes])
    if not mask.any():
        return array, None, None
    frame, counts = frame.copy(), []
    for j in np.flatnonzero(mask):
        column = frame.iloc[:, j]
        present = column.notna().to_numpy()
        where = name if array.ndim == 1 else f"{name}'s column {str(frame.columns[j])!r}"
        _refuse_numbers_as_text(column[present], caller, where)
        levels, inverse = np.unique(column[present].astype(str).to_numpy(), return_inverse=True)
        coded = np.full(len(column), np.nan)
        coded[present] = inverse
        frame.isetitem(j, coded)
        counts.append(f"{str(frame.columns[j])!r} ({len(levels)})")
    kind = "'s columns hold categories" if mask.all() else " has category columns"
    return frame, mask, f"{name}{kind}: {', '.join(counts)} categories, read as discrete codes"


def as_int(value, name, minimum, caller="estimate_mi", maximum=None):
    """An integer argument; integral floats such as 64.0 are accepted."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != int(value):
        raise ValueError(f"{caller}: {name} must be an integer, got {value!r}.")
    if int(value) < minimum or (maximum is not None and int(value) > maximum):
        bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise ValueError(f"{caller}: {name} must be {bounds}, got {value!r}.")
    return int(value)


def as_seed(value, caller):
    """A seed NumPy, Keras and TensorFlow all take: an integer in [0, 2^32 - 1]."""
    return as_int(value, "seed", 0, caller, maximum=2**32 - 1)


def bootstrap_count(value, caller):
    """The number of bootstrap refits: 0 (none) or at least 2 (a variance needs two)."""
    value = as_int(value, "bootstrap", 0, caller)
    if value == 1:
        raise ValueError(f"{caller}: bootstrap must be 0 (no refits) or >= 2 (a variance needs two), got 1.")
    return value


def split_sizes(n, valid_fraction, test_fraction, caller):
    """(n_train, n_valid, n_test) of n rows; ValueError for fractions outside (0, 1) or
    summing to 1 or more."""
    for name, fraction in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"{caller}: {name} must lie in (0, 1), got {fraction}.")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"{caller}: valid_fraction + test_fraction must leave pairs to train on, got "
            f"{valid_fraction} + {test_fraction}."
        )
    n_test = int(round(n * test_fraction))
    n_valid = int(round(n * valid_fraction))
    return n - n_valid - n_test, n_valid, n_test


def drop_constant(arrays, columns, caller):
    """Removes the constant columns of ``arrays[name]`` for each name of ``columns`` (they
    carry no information and make every model singular); ``columns`` maps each name to its
    column names, or None (then the columns are told by index). Returns {name: the
    constant columns' names or indices}. ValueError when every column of one is constant."""
    constant = {}
    for name, labels in columns.items():
        indices = np.flatnonzero(np.ptp(arrays[name], axis=0) == 0)
        if len(indices) == arrays[name].shape[1]:
            raise ValueError(f"{caller}: {name} is constant (zero variance in every column): nothing to estimate.")
        arrays[name] = np.delete(arrays[name], indices, axis=1)
        constant[name] = [int(i) if labels is None else labels[i] for i in indices]
    return constant
