"""The checks of the estimators' inputs: arrays, pandas DataFrames and Series (pandas is
optional: nothing here imports it), anything with ``__array__``.

``as_matrix`` turns one input into a checked float64 matrix [n, d]; ``column_names``
gives the names a DataFrame or a named Series carries, so that a result can report
them. A table's text, category and date columns are refused by name: MI here is of
numbers.
"""

import numpy as np

__all__ = ["as_matrix", "check_pairs", "column_names", "is_pandas"]


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


def as_matrix(array, caller, name):
    """``array`` as a float64 matrix [n, d] (a 1-d array is one feature), checked:
    real numbers, finite, within float32's range; one ValueError naming ``name`` otherwise."""
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
    if not np.all(np.isfinite(array)):
        bad = int(np.sum(~np.isfinite(array).all(axis=1)))
        raise ValueError(f"{caller}: {name} holds NaN or inf values in {bad} rows; remove them first.")
    largest = float(np.max(np.abs(array)))
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
