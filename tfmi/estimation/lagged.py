r"""``lagged_mi``: the MI between a series and another one shifted in time.

For series x_t, y_t (t = 0 .. n-1, rows in time order) and each lag k,

    I_k = I(x_t; y_{t+k})                    (k < 0: y leads x by -k steps)
    I_k = I(x_t; y_{t+k} | z_t)              with ``given=z``

is ``estimate_mi`` (``estimate_cmi``) of the n - |k| aligned rows, with the same
arguments and seed. An AR(1) Gaussian series with coefficient phi has
I(x_t; x_{t+k}) = -1/2 log(1 - phi^(2k)).

Serial dependence: neighbouring rows of a series are not independent draws, so an
interval computed as if they were is too narrow. Each call is made with
``serial_dependence=True``: the standard error is widened by the long-run variance of the
test rows' terms in time order (``protocol.serial_factor``: Newey-West with a Bartlett
kernel and Andrews' bandwidth), which ``method`` states with its factor. What stays: the
random split puts rows next to test rows into train; for the closed-form models, which
fit few parameters, this matters little, for a critic or a flow it may bias the value
up. With ``serial_dependence=False`` passed, the interval is not corrected and each
result of series with a lag-1 autocorrelation beyond ``AUTOCORRELATION_WARNING`` says
so. How much the correction matters: docs/bench_lagged.md.
"""

import dataclasses

import numpy as np

from tfmi.estimation import conditional, estimate, inputs

__all__ = ["lagged_mi", "LaggedMI", "AUTOCORRELATION_WARNING"]

CALLER = "lagged_mi"
AUTOCORRELATION_WARNING = 0.1  # |lag-1 autocorrelation| of x or y from which each result warns


@dataclasses.dataclass
class LaggedMI:
    """The result of ``lagged_mi``: ``lags`` [L] and their ``estimates`` (``MIEstimate``,
    in the order of ``lags``); ``mi``, ``low``, ``high`` [L] arrays of the values and
    the 95% intervals' ends."""

    lags: list
    estimates: list

    @property
    def mi(self):
        return np.array([result.mi for result in self.estimates])

    @property
    def low(self):
        return np.array([result.interval[0] for result in self.estimates])

    @property
    def high(self):
        return np.array([result.interval[1] for result in self.estimates])

    def to_frame(self):
        """One row per lag: lag, mi, low, high, stderr, method (a pandas DataFrame)."""
        import pandas

        return pandas.DataFrame({"lag": self.lags, "mi": self.mi, "low": self.low, "high": self.high,
                                 "stderr": [result.stderr for result in self.estimates],
                                 "method": [result.method for result in self.estimates]})


def _lag_one_autocorrelation(series):
    """The lag-1 autocorrelation of the first column of ``series`` [n, d] (0 if constant)."""
    column = series[:, 0] - series[:, 0].mean()
    variance = float(np.dot(column, column))
    return float(np.dot(column[:-1], column[1:]) / variance) if variance > 0 else 0.0


def _aligned(array, lag, n, first):
    """The rows of ``array`` [n, d] paired at ``lag``: x_t (``first``) or y_{t+lag}."""
    start = (0 if lag >= 0 else -lag) if first else (lag if lag >= 0 else 0)
    return array[start : start + n - abs(lag)]


def lagged_mi(x, y, lags=(0, 1), given=None, **estimate_kwargs):
    """Estimates I(x_t; y_{t+k}) in nats for each lag k of ``lags`` (module docstring).

    Args:
      x, y: series [n, d_x], [n, d_y] (1-d: one column; arrays, DataFrames, Series), rows
        in time order, sampled at the same times.
      lags: integers; k > 0 pairs x_t with the later y_{t+k}, k < 0 with the earlier.
      given: a series z [n, d_z] conditioned on at the time of x: I(x_t; y_{t+k} | z_t).
      estimate_kwargs: passed to every ``estimate_mi`` (``estimate_cmi`` with ``given``)
        call: estimator, seed, bootstrap, nan_policy, serial_dependence (default True
        here), ...

    Returns:
      A ``LaggedMI``: ``.lags``, ``.estimates``, ``.mi``, ``.low``, ``.high``, ``.to_frame()``.
    """
    # NaN passes here: each call's nan_policy decides
    arrays = {name: inputs.as_matrix(array, CALLER, name, allow_nan=True) for name, array in (("x", x), ("y", y))}
    if given is not None:
        arrays["z"] = inputs.as_matrix(given, CALLER, "given", allow_nan=True)
    n = len(arrays["x"])
    if any(len(array) != n for array in arrays.values()):
        lengths = {name: len(array) for name, array in arrays.items()}
        raise ValueError(f"{CALLER}: x, y (and given) must be sampled at the same times, got {lengths} rows.")
    items = [lags] if isinstance(lags, (int, np.integer)) else list(lags)
    if not items or any(isinstance(lag, bool) or not isinstance(lag, (int, np.integer)) for lag in items):
        raise ValueError(f"{CALLER}: lags must be a non-empty list of integers, got {lags!r}.")
    too_far = [int(lag) for lag in items if abs(lag) >= n - 1]
    if too_far:
        raise ValueError(
            f"{CALLER}: lags {too_far} leave fewer than 2 aligned rows of the {n}; use lags under {n - 1}."
        )
    estimate_kwargs = {"serial_dependence": True, **estimate_kwargs}
    r_x, r_y = (_lag_one_autocorrelation(np.nan_to_num(arrays[name])) for name in "xy")
    note = None
    if max(abs(r_x), abs(r_y)) > AUTOCORRELATION_WARNING and not estimate_kwargs["serial_dependence"]:
        note = (f"x and y are serially dependent (lag-1 autocorrelations {r_x:.2f} and {r_y:.2f}): the rows are not "
                f"independent draws, so the interval may be too narrow; it is not corrected (serial_dependence=False).")
    estimates = []
    for lag in (int(lag) for lag in items):
        x_part, y_part = _aligned(arrays["x"], lag, n, True), _aligned(arrays["y"], lag, n, False)
        if given is None:
            result = estimate.estimate_mi(x_part, y_part, **estimate_kwargs)
        else:
            result = conditional.estimate_cmi(x_part, y_part, _aligned(arrays["z"], lag, n, True), **estimate_kwargs)
        if note:
            result = dataclasses.replace(result, warnings=[*result.warnings, note])
        estimates.append(result)
    return LaggedMI([int(lag) for lag in items], estimates)
