"""What ``estimate_mi`` and ``estimate_cmi`` share below their fitting: the result, the
typed settings of the fitters, the checks of their arguments, the split sizes, the rule
that a later candidate must beat the kept one, the interval, the serial-dependence
factor and the warnings. The protocol itself, which fits and reads candidates, is
``driver``.

The 95% interval mi +- t_{0.975} stderr (Student's t with the test values less one
degrees of freedom) is cut at 0.
"""

import dataclasses
import logging

import numpy as np
import scipy.stats

from tfmi.estimation.defaults import DEFAULT_CRITIC

__all__ = ["MIEstimate", "FitSettings", "Z_95", "BOOTSTRAP_REFITS", "MAX_FIT_PAIRS", "MIN_SPLIT_ROWS", "beats",
           "serial_factor", "interval", "identical", "constant_column_warnings", "log_warnings", "warnings_for"]

logger = logging.getLogger("tfmi.estimation")

BOOTSTRAP_REFITS = 32  # refits of a closed-form model for its bias and fitting variance
MAX_FIT_PAIRS = 20_000  # train pairs a model fits on (and a fifth as many validation pairs)
PAIRS_PER_DIMENSION = 10  # fewer train pairs per input dimension than this: a warning
CEILING_MARGIN = 1.0  # an estimate within this many nats of its ceiling: a warning
Z_95 = 1.959964
MIN_SPLIT_ROWS = 5  # rows of each split at least, for the models that need no batch


@dataclasses.dataclass
class MIEstimate:
    """The result of ``estimate_mi`` (and of ``estimate_cmi``, for I(x; y | z)).

    Attributes:
      mi: the estimate in nats, computed once on the test split (for the copula and
        the mixture, corrected for the held-out bias that bootstrap refits show).
      stderr: its standard error: the test split's noise, from the per-pair terms of
        the held-out estimator (delta method for the partition term, rows treated as
        independent; see ``tfmi.estimation.heldout``; for the DEMI estimators, from the
        per-batch values), plus for the copula and the mixture the variance of the fit
        itself (bootstrap refits). A critic's or the flow's stderr leaves out the
        fitting variance and the bias of an under-trained critic.
      interval: the 95% interval mi +- q stderr, q Student's t quantile for the number of
        test values (1.96 for thousands, 2.26 for 10; ``interval``), cut at 0 since
        MI >= 0 (an interval wholly below 0 becomes (0, 0)).
      warnings: reasons to distrust the number (few pairs for the dimension, a negative
        estimate, an estimate at its method's ceiling, x identical to y, an input that
        looks discrete, constant columns left out); each is also
        logged on the "tfmi.estimation" logger.
      method: how the number was computed, e.g. "infonce critic, held-out infonce on
        2000 test pairs".
      curve: the fitting curve of the chosen candidate, dicts with the keys
        ``candidates.CURVE_KEYS``: {"stage", "train", "valid", "measure"}, stage a
        training step or a model size (see ``candidates.Candidate``).
      best_step: the stage kept (best on validation).
      settings: every argument that produced the estimate, with n_train, n_valid, n_test.
      columns: {"x": names, "y": names[, "z": names]}: the column names of each input
        given as a pandas DataFrame or named Series, None for an input without names.
      diagnostics: what the fit found beside the number: each candidate's validation
        score under "auto" ("validation_infonce", or "validation_conditional_infonce"
        for ``estimate_cmi``, "validation_mi" for a discrete side), the terms of a chain
        rule or of strata ("terms"), the classes of a discrete side ("classes").
    """

    mi: float
    stderr: float
    interval: tuple
    warnings: list
    method: str
    curve: list
    best_step: int
    settings: dict
    columns: dict = None
    diagnostics: dict = dataclasses.field(default_factory=dict)

    def __float__(self):
        return self.mi

    @property
    def normalized(self):
        """The MI on the correlation scale, sqrt(1 - exp(-2 I)) (I cut at 0): the
        |correlation| of a Gaussian pair with this MI (Linfoot's informational
        coefficient of correlation), in [0, 1); for I(x; y | z), the |partial
        correlation| of such a Gaussian."""
        return float(correlation_scale(self.mi))

    @property
    def normalized_interval(self):
        """``interval`` on the correlation scale (the map is increasing, so its ends map)."""
        return tuple(float(correlation_scale(end)) for end in self.interval)


def correlation_scale(mi):
    """sqrt(1 - exp(-2 max(mi, 0))) of a number or an array (NaN stays NaN): I = -1/2 log(1 - rho^2)
    solved for |rho|."""
    return np.sqrt(-np.expm1(-2.0 * np.maximum(mi, 0.0)))


@dataclasses.dataclass(frozen=True)
class FitSettings:
    """How the candidates are fitted and read, the arguments of ``estimate_mi`` and
    ``estimate_cmi`` once checked (the fitters read these fields, nothing else).
    ``critic`` is a name of ``tfmi.critics.CRITICS`` or a critic layer."""

    estimator: str = "auto"
    seed: int = 0
    bootstrap: int = BOOTSTRAP_REFITS
    max_fit_pairs: int = MAX_FIT_PAIRS
    valid_fraction: float = 0.2
    test_fraction: float = 0.2
    serial_dependence: bool = False
    screen: bool = True
    critic: object = DEFAULT_CRITIC
    critic_args: dict = dataclasses.field(default_factory=dict)
    bound_args: dict = dataclasses.field(default_factory=dict)
    batch_size: int = 256
    learning_rate: float = None
    max_steps: int = 2000
    eval_every: int = 100
    patience: int = 5
    verbose: int = 0








def beats(terms, kept_terms):
    """Whether per-row ``terms`` [n] (larger is better) beat ``kept_terms`` [n] of the same
    rows by more than two standard errors of their paired difference: the rule by which
    a later candidate replaces the kept one (a model, a critic, the copula's family)."""
    difference = np.asarray(terms) - np.asarray(kept_terms)
    return bool(np.mean(difference) > 2.0 * np.std(difference, ddof=1) / np.sqrt(len(difference)))






def serial_factor(terms, rows):
    """The variance factor of the mean of ``terms`` [m] (per-row terms of an estimate)
    when rows close in time are dependent: the Newey-West long-run variance of the terms
    taken in time order (``rows`` [m], their row numbers) over their variance,

        f = 1 + 2 sum_{h=1}^{L} (1 - h / (L + 1)) rho_h,

    rho_h the autocorrelation at lag h (Bartlett kernel); L from Andrews' (1991) AR(1)
    plug-in rule, 1.1447 (4 r^2 m / ((1 - r)^2 (1 + r)^2))^(1/3) with r the lag-1
    autocorrelation, at most m / 2. At least 1: a negative autocorrelation is not taken
    to narrow the interval. The standard error is multiplied by sqrt(f)."""
    series = np.asarray(terms, np.float64)[np.argsort(rows, kind="stable")]
    m = len(series)
    centred = series - series.mean()
    variance = float(centred @ centred) / m
    if m < 4 or variance <= 0:
        return 1.0
    autocorrelation = lambda h: float(centred[:-h] @ centred[h:]) / (m * variance)
    r = min(max(autocorrelation(1), -0.97), 0.97)
    lags = int(min(m // 2, np.ceil(1.1447 * (4 * r**2 * m / ((1 - r) ** 2 * (1 + r) ** 2)) ** (1 / 3))))
    factor = 1.0 + 2.0 * sum((1.0 - h / (lags + 1)) * autocorrelation(h) for h in range(1, lags + 1))
    return max(factor, 1.0)


def interval(mi, stderr, dof=None):
    """The 95% interval mi +- q stderr, cut at 0 since MI >= 0 (wholly below 0: (0, 0)):
    q is Student's t quantile with ``dof`` degrees of freedom (the test values less one:
    the standard error of a mean of few values is itself uncertain; 2.26 for 10 values),
    or the normal 1.96 when ``dof`` is None."""
    quantile = Z_95 if dof is None else float(scipy.stats.t.ppf(0.975, max(int(dof), 1)))
    return (max(mi - quantile * stderr, 0.0), max(mi + quantile * stderr, 0.0))


def identical(x, y):
    """Whether x and y hold the same values (their MI is infinite for continuous data)."""
    return x.shape == y.shape and np.array_equal(x, y)


def constant_column_warnings(constant):
    """One warning per input with constant columns (``drop_constant``'s result)."""
    return [f"{name} has constant columns {columns} (zero variance): they carry no information and were left out."
            for name, columns in constant.items() if columns]


def log_warnings(found, caller):
    """Each warning on the "tfmi.estimation" logger."""
    for message in found:
        logger.warning("%s: %s", caller, message)


def warnings_for(result, ceiling_name, n_train, dims, identical, constant, input_notes=(), caller="estimate_mi",
                 discrete_levels=None, extra=()):
    """Reasons to distrust ``result`` (a ``heldout.HeldOutEstimate``); ``dims`` maps each
    input's name to its columns; ``constant`` each name to its constant columns' names
    or indices (``drop_constant``); ``input_notes``: what was read of the input (a dataset
    read in part, rows left out for a missing value), listed first;
    ``discrete_levels``: {name: distinct values, or None} of the inputs that look
    discrete (``discrete.levels``); ``extra``: the estimator's own warnings, listed last."""
    result_mi, ceiling = result.mi, result.ceiling
    found = list(input_notes)
    total = sum(dims.values())
    if n_train < PAIRS_PER_DIMENSION * total:
        shapes = ", ".join(f"d_{name}={dim}" for name, dim in dims.items())
        found.append(
            f"{n_train} train pairs for {total} input dimensions ({shapes}): too few to fit a critic "
            f"(want >= {PAIRS_PER_DIMENSION} per dimension); the estimate may be far below the true MI."
        )
    found += constant_column_warnings(constant)
    for name, count in (discrete_levels or {}).items():
        if count is not None:
            found.append(
                f"{name} looks discrete ({count} distinct values) and was modelled as continuous: a density model "
                f"sees a repeated value as a narrow peak, so the estimate may be off" + (
                    " (the default estimator, estimator='auto', reads a discrete side as classes or from a "
                    "contingency table)." if caller == "estimate_mi" else ".")
            )
    if identical:
        found.append(
            "x and y are identical: for continuous data their mutual information (conditional or not) is "
            "infinite, and the estimate only says how far the fitted model reached."
        )
    if result_mi + Z_95 * result.stderr < 0:
        found.append(
            f"the estimate {result_mi:.4f} nats is below 0 by more than 1.96 standard errors; MI is >= 0: "
            f"the fitted model or critic overfitted the train split."
        )
    if ceiling is not None and result_mi > ceiling - CEILING_MARGIN:
        found.append(
            f"the estimate {result_mi:.4f} nats is at the ceiling of its method: {ceiling_name}; the true MI "
            f"may be larger: use more pairs, or an estimator without that ceiling."
        )
    found += list(extra)
    log_warnings(found, caller)
    return found
