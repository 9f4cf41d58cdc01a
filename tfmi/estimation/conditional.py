"""``estimate_cmi``: I(x; y | z) in nats, with the protocol of ``estimate_mi``.

    I(x; y | z) = E log p(x, y | z) / (p(x | z) p(y | z))
                = I(x; [y, z]) - I(x; z)                      (chain rule)

Both terms are read from one fitted model of the joint (x, y, z) (``ChainRule``): the
model's log ratio for (x; [y, z]) minus that of its own (x, z) marginal, per row. For a
Gaussian this is the partial-correlation closed form
0.5 (log det S_xz + log det S_yz - log det S_z - log det S_xyz); the errors of the two
terms are those of one fit and cancel where they should, which two separately fitted
estimates of I(x; [y, z]) and I(x; z) do not.

The candidates (``CMI_CANDIDATES``), fitted to the pairs (x, [y, z]):

  copula      the elliptical copula on normal scores (Gaussian, or Student-t with the
              degrees of freedom that fit validation best): Gaussian-copula and
              Student-t dependence, any monotone margins;
  mixture     a full-covariance Gaussian mixture on standardised values: clusters,
              nonlinear dependence on z, conditional independence given a nonlinear z;
  regression  two neural conditional Gaussians on normal scores, q(x | y, z) and
              q(x | z) (``regression``), whose difference of log densities is the
              pointwise CMI: any smooth dependence on z with additive noise.

The copula and the mixture are models of ``estimate_mi`` with exact marginals; the
chain rule reads both terms from one fit. With ``estimator="auto"`` the first is kept
unless a later one beats the kept one on validation by more than two standard errors
of the paired difference of the *conditional* InfoNCE (``conditional_infonce``): each
validation row's y is scored against the y of the rows nearest to it in z (normal
scores), draws of roughly p(y | z). The test split is read once (plug-in mean of the
chosen model's pointwise CMI), bias-corrected by bootstrap refits, and the interval is
cut at 0, as in ``estimate_mi`` (``driver``). Discrete columns: ``stratified``.
"""

import dataclasses
import logging
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp
from sklearn.neighbors import NearestNeighbors

from tfmi.estimation import candidates as candidates_lib
from tfmi.estimation import copula, discrete, driver, estimate, heldout, inputs, protocol, stratified
from tfmi.estimation.inputs import as_int
from tfmi.estimation.protocol import BOOTSTRAP_REFITS, MAX_FIT_PAIRS, MIEstimate

__all__ = ["estimate_cmi", "ChainRule", "CMI_CANDIDATES", "CMI_ESTIMATORS", "conditional_infonce"]

logger = logging.getLogger("tfmi.estimation")

CMI_CANDIDATES = ("copula", "mixture", "regression")  # in order of preference: a later one must beat the kept one
CMI_ESTIMATORS = ("auto", *CMI_CANDIDATES)
NEIGHBOURS = 32  # rows nearest in z whose y are a validation row's negatives
SELECTION_ROWS = 2048  # validation rows scored for the choice, at most
# The networks read normal scores: on standardised values a skewed margin (exp of a
# Gaussian) is no conditional Gaussian, and q(x | z) misfit more than q(x | y, z) (2 nats
# read 3.79); on normal scores 1.97.
REGRESSION_INPUTS = "normal"


class ChainRule:
    """The pointwise CMI of one fitted model of (x, [y, z]): its log ratio for
    (x; [y, z]) minus that of its (x, z) marginal.

    ``model``: a ``copula.LatentScorer`` (the copula: per-coordinate maps, then a
    Gaussian or Student-t ratio) or a ``mixture.MixtureRatio`` (on the values as
    given), of x [n, d_x] and yz = [y, z] [n, d_y + d_z]. ``pointwise(x, yz) -> [n]``.
    """

    def __init__(self, model, dim_x, dim_y, dim_z):
        self.model, self.dim_y = model, dim_y
        self.ratio = model.ratio if isinstance(model, copula.LatentScorer) else model
        self.xz_ratio = self.ratio.marginal(np.r_[np.arange(dim_x), np.arange(dim_x + dim_y, dim_x + dim_y + dim_z)])

    def latents(self, x, yz):
        if isinstance(self.model, copula.LatentScorer):
            return self.model.latents(x, yz)
        return np.asarray(x, np.float64), np.asarray(yz, np.float64)

    def pointwise(self, x, yz):
        u, v = self.latents(x, yz)
        return self.ratio.pointwise(u, v) - self.xz_ratio.pointwise(u, v[:, self.dim_y :])


def conditional_infonce(pointwise, x, yz, dim_y, neighbours):
    """[n] per-row terms of InfoNCE with conditional negatives: row i's (x_i, y_i, z_i)
    against (x_i, y_j, z_i) for the rows j of ``neighbours[i]`` ([n, k], nearest in z):

        r(x_i, y_i, z_i) - log mean_{j in {i} + N(i)} exp r(x_i, y_j, z_i).

    With negatives drawn from p(y | z_i) it is a lower bound on I(x; y | z) (at most
    log(1 + k)), largest for the true log ratio r: a larger mean marks a better model.
    ``pointwise(x, yz) -> [n]`` is r on rows of x and yz = [y, z]."""
    n, k = neighbours.shape
    rows = np.repeat(np.arange(n), k)
    swapped = np.concatenate([yz[neighbours.ravel(), :dim_y], yz[rows, dim_y:]], axis=1)
    positive = np.asarray(pointwise(x, yz), np.float64)
    negatives = np.asarray(pointwise(x[rows], swapped), np.float64).reshape(n, k)
    scores = np.concatenate([positive[:, None], negatives], axis=1)
    return positive - (logsumexp(scores, axis=1) - np.log(k + 1))


def _nearest_in_z(z, k):
    """[n, k] indices of each row's k nearest other rows in ``z``."""
    k = min(k, len(z) - 1)
    _, indices = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    return indices[:, 1:]


def _conditional(candidate, dims):
    """The CMI candidate of a model candidate fitted to (x, [y, z])."""
    chain = ChainRule(candidate.model, *dims)
    return dataclasses.replace(
        candidate, scores=None, model=chain, evaluate=lambda x, yz: heldout.plugin(chain.pointwise, x, yz),
        refit=lambda rows: ChainRule(candidate.refit(rows), *dims),
    )


def _fit_regression(views, settings, dims):
    """The pair of neural conditional Gaussians (``regression``) on normal scores."""
    from tfmi.estimation import regression  # TensorFlow: imported when the networks are fitted

    (x_train, yz_train), (x_valid, yz_valid) = (views.model_train(REGRESSION_INPUTS, settings),
                                                views[REGRESSION_INPUTS][1])
    model = regression.fit_conditional_gaussians(x_train, yz_train, x_valid, yz_valid, dims[2], seed=settings.seed)
    curve = [candidates_lib.curve_point(p["step"], p["train_nll"], p["valid_nll"],
                                        "negative log-likelihood, both networks")
             for p in model.history]
    best_step = min(model.history, key=lambda p: p["valid_nll"])["step"]
    return candidates_lib.Candidate(
        "conditional Gaussian networks", REGRESSION_INPUTS, None, lambda x, yz: heldout.plugin(model.pointwise, x, yz),
        curve, best_step, len(x_train), None, model)


def _fit_candidates(views, settings, dims):
    """The CMI candidates of ``settings.estimator`` fitted on train ("auto": those of
    ``CMI_CANDIDATES`` that fit; a one-component mixture stays: a Gaussian of the values,
    not of their normal scores, it avoids the rank maps' noise where the residual given
    z is small beside the margins)."""
    names = CMI_CANDIDATES if settings.estimator == "auto" else (settings.estimator,)
    found = []
    for name in names:
        try:
            if name == "regression":
                found.append(_fit_regression(views, settings, dims))
                continue
            candidate = candidates_lib.CANDIDATES[name](views, settings)
        except ValueError as error:
            if len(names) == 1:
                raise ValueError(f"estimate_cmi: the {name} model cannot be fitted: {error}") from None
            logger.info("estimate_cmi: no %s candidate (%s)", name, error)
            continue
        found.append(_conditional(candidate, dims))
    if settings.verbose:
        for candidate in found:
            for point in candidate.curve:
                logger.info("estimate_cmi: %s: stage %s: train %s, validation %s (%s)", candidate.name, point["stage"],
                            point["train"], point["valid"], point["measure"])
    if not found:
        raise ValueError("estimate_cmi: no model could be fitted to these rows; use more rows than columns.")
    return found


def _choose(fitted, views, dim_y):
    """The first candidate unless a later one beats it by more than two standard errors of
    the paired difference of their validation ``conditional_infonce``. Returns (chosen,
    {name: its mean})."""
    if len(fitted) == 1:
        return fitted[0], {}
    z_normal = views["normal"][1][1][:SELECTION_ROWS, dim_y:]
    neighbours = _nearest_in_z(z_normal, NEIGHBOURS)
    terms = {}
    for candidate in fitted:
        x, yz = (part[:SELECTION_ROWS] for part in views[candidate.inputs][1])
        terms[candidate.name] = conditional_infonce(candidate.model.pointwise, x, yz, dim_y, neighbours)
    return candidates_lib.preferred(fitted, terms), {name: float(np.mean(values)) for name, values in terms.items()}


def estimate_cmi(
    x,
    y,
    z,
    *,
    estimator="auto",
    valid_fraction=0.2,
    test_fraction=0.2,
    bootstrap=BOOTSTRAP_REFITS,
    max_fit_pairs=MAX_FIT_PAIRS,
    nan_policy="raise",
    discrete_x="auto",
    discrete_y="auto",
    discrete_z="auto",
    serial_dependence=False,
    seed=0,
    verbose=0,
):
    """Estimates the conditional mutual information I(x; y | z) in nats, with a standard
    error, from rows (x_i, y_i, z_i).

    The rows are split into train / validation / test as in ``estimate_mi``; the
    candidate models of (x, [y, z]) fit on train, choose on validation, and the chosen
    model's pointwise CMI (``ChainRule``) is averaged once over the test rows, then
    corrected for its held-out bias by ``bootstrap`` refits (module docstring).
    Deterministic for a given ``seed``.

    Args:
      x, y, z: arrays [n, d_x], [n, d_y], [n, d_z] (1-d arrays are one column).
      estimator: "auto" (the copula, or the mixture where it is clearly better on
        validation), "copula" or "mixture" (``CMI_ESTIMATORS``).
      valid_fraction, test_fraction: shares of the rows for validation and test.
      bootstrap: refits for the bias correction and the fit's variance (0: none).
      max_fit_pairs: the models fit on at most this many train rows (and choose on a
        fifth as many validation rows); the test read-out uses every test row.
      nan_policy: a missing value (NaN) in x, y or z: "raise" (refused) or "omit" (its
        row left out; ``warnings`` says how many).
      discrete_x, discrete_y, discrete_z: which columns are discrete (labels, counts,
        categories), as in ``estimate_mi``: "auto", True, False or a list of columns.
        With ``estimator="auto"``: discrete columns of z split the rows into strata,
        I(x; y | z) = sum_k p_k I(x; y | z_c, z_d = k) (``stratified``); with a
        continuous z, a side with discrete columns (say x) is read by the chain rule
        I(x; y | z) = I(x; [y, z]) - I(x; z), two ``estimate_mi`` calls.
      serial_dependence: rows are consecutive times of a series: the standard error is
        widened for it, as in ``estimate_mi``.
      seed: the split and the fits; verbose: log each candidate's fitting curve.

    Returns:
      An ``MIEstimate`` (``.mi`` is I(x; y | z)), its ``diagnostics`` with
      ``validation_conditional_infonce`` per candidate under "auto".
    """
    if estimator not in CMI_ESTIMATORS:
        raise ValueError(f"estimate_cmi: unknown estimator {estimator!r}; choose one of {list(CMI_ESTIMATORS)}.")
    nan_policy = inputs.check_nan_policy(nan_policy, "estimate_cmi")
    given = _checked_inputs(x, y, z, {"x": discrete_x, "y": discrete_y, "z": discrete_z}, estimator, nan_policy)
    if estimator == "auto" and any(mask.any() for mask in given.masks.values()):
        again = dict(valid_fraction=valid_fraction, test_fraction=test_fraction, bootstrap=bootstrap,
                     max_fit_pairs=max_fit_pairs, serial_dependence=serial_dependence, seed=seed, verbose=verbose)
        return _with_discrete_columns(given.arrays, given.masks, again, given.notes, given.columns)
    settings = protocol.FitSettings(
        estimator=estimator, seed=inputs.as_seed(seed, "estimate_cmi"),
        bootstrap=inputs.bootstrap_count(bootstrap, "estimate_cmi"),
        max_fit_pairs=as_int(max_fit_pairs, "max_fit_pairs", 2, "estimate_cmi"), valid_fraction=valid_fraction,
        test_fraction=test_fraction, serial_dependence=bool(serial_dependence), verbose=verbose)
    return _continuous_cmi(given, settings, nan_policy)


class _Inputs(NamedTuple):
    """``estimate_cmi``'s inputs once checked: float64 ``arrays`` {"x", "y", "z"} of the
    complete rows less constant columns, their column names, the discrete ``masks``,
    ``notes`` on what was read (and the constant columns left out), the ``constant``
    columns, the rows ``left_out`` note or None."""

    arrays: dict
    columns: dict
    masks: dict
    notes: list
    constant: dict
    left_out: object


def _checked_inputs(x, y, z, choices, estimator, nan_policy):
    """The ``_Inputs`` of the caller's x, y, z: categories coded, rows with a missing value
    left out (``nan_policy``), discrete columns found, constant columns dropped;
    ValueError naming what is wrong."""
    sides, categories, category_notes = stratified.category_columns({"x": x, "y": y, "z": z}, choices, estimator,
                                                                    "estimate_cmi")
    arrays = {name: inputs.as_matrix(sides[name], "estimate_cmi", name, allow_nan=nan_policy == "omit")
              for name in "xyz"}
    columns = {name: inputs.column_names(array) for name, array in zip("xyz", (x, y, z))}
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"estimate_cmi: x, y and z must pair up row by row, got {lengths} rows.")
    arrays, left_out = inputs.complete_rows(arrays, "estimate_cmi")
    masks, _ = stratified.discrete_masks(choices, categories, arrays, columns, estimator, "estimate_cmi")
    if np.all(np.ptp(arrays["z"], axis=0) == 0):
        raise ValueError("estimate_cmi: z is constant (zero variance in every column): I(x; y | z) = I(x; y); "
                         "use estimate_mi(x, y).")
    constant = inputs.drop_constant(arrays, columns, "estimate_cmi")
    notes = [note for note in (*category_notes, left_out) if note] + protocol.constant_column_warnings(constant)
    return _Inputs(arrays, columns, masks, notes, constant, left_out)


def _continuous_cmi(given, settings, nan_policy):
    """The MIEstimate of I(x; y | z) by the protocol (``driver``): the CMI candidates of
    (x, [y, z]) fitted on train, chosen on validation (``_choose``), read once on test."""
    arrays = given.arrays
    n = len(arrays["x"])
    sizes = inputs.split_sizes(n, settings.valid_fraction, settings.test_fraction, "estimate_cmi")
    n_train, n_valid, n_test = sizes
    dims = tuple(arrays[name].shape[1] for name in "xyz")
    if min(n_valid, n_test) < 2 or n_train <= sum(dims) + 1:
        raise ValueError(
            f"estimate_cmi: {n} rows give {n_train} train, {n_valid} validation and {n_test} test rows; a model "
            f"of {sum(dims)} columns needs more train rows than columns and two rows in the others: use more rows."
        )
    record = {"estimator": settings.estimator, "bootstrap": settings.bootstrap, "max_fit_pairs": settings.max_fit_pairs,
              "valid_fraction": settings.valid_fraction, "test_fraction": settings.test_fraction,
              "nan_policy": nan_policy, "serial_dependence": settings.serial_dependence, "seed": settings.seed,
              "verbose": settings.verbose, "n_train": n_train, "n_valid": n_valid, "n_test": n_test}
    splits = driver.split(n, sizes, settings.seed)
    yz = np.concatenate([arrays["y"], arrays["z"]], axis=1)
    views = driver.representations(arrays["x"], yz, splits, settings)
    fitted = _fit_candidates(views, settings, dims)
    chosen, scores = _choose(fitted, views, dims[1])
    result, method = driver.read_out(chosen, views, splits, settings, " of (x, y, z), chain rule, ", "rows")
    found = protocol.warnings_for(result, None, n_train, dict(zip("xyz", dims)), protocol.identical(
                                      arrays["x"], arrays["y"]), given.constant,
                                  [given.left_out] if given.left_out else [], caller="estimate_cmi",
                                  discrete_levels={name: discrete.levels(arrays[name]) for name in "xyz"})
    return MIEstimate(result.mi, result.stderr, protocol.interval(result.mi, result.stderr, n_test - 1), found, method,
                      chosen.curve, chosen.best_step, record, given.columns,
                      {"validation_conditional_infonce": scores} if scores else {})


def _with_discrete_columns(arrays, masks, again, notes, columns):
    """The MIEstimate of I(x; y | z) where some columns are discrete (``stratified``):
    strata of z's discrete columns, each I(x; y | z's other columns) within them (an
    ``estimate_mi`` where z has no other column or it is constant there); with a
    continuous z, the chain rule I(s; o | z) = I(s; [o, z]) - I(s; z) for the side s with
    discrete columns."""
    kinds = {name: stratified.as_choice(mask) for name, mask in masks.items()}
    settings = {**again, "estimator": "auto", "discrete": kinds}
    if masks["z"].any():
        parts, rest = arrays["z"][:, masks["z"]], arrays["z"][:, ~masks["z"]]

        def within(rows):
            x, y, z = arrays["x"][rows], arrays["y"][rows], rest[rows]
            if stratified.is_constant(x) or stratified.is_constant(y):
                return stratified.ZERO
            if stratified.is_constant(z):
                return stratified.Term.of(estimate.estimate_mi(x, y, discrete_x=kinds["x"], discrete_y=kinds["y"],
                                                               **again))
            return stratified.Term.of(estimate_cmi(x, y, z[:, np.ptp(z, axis=0) > 0], discrete_x=kinds["x"],
                                                   discrete_y=kinds["y"], discrete_z=False, **again))

        terms, sizes = stratified.over_strata(parts, within, "estimate_cmi", "z's discrete columns",
                                              "merge rare values of z's discrete columns, or pass discrete_z=False")
        method = (f"strata: the mean over the {len(terms)} values of z's discrete columns of I(x; y | z's other "
                  f"columns) within each value's rows")
        return stratified.combined_estimate([stratified.stratified_sum(terms, sizes)], method, notes, settings,
                                            columns, "estimate_cmi")
    side = "x" if masks["x"].any() else "y"
    other = "y" if side == "x" else "x"
    joined = np.concatenate([arrays[other], arrays["z"]], axis=1)
    joined_kind = stratified.as_choice(np.r_[masks[other], np.zeros(arrays["z"].shape[1], bool)])
    total = estimate.estimate_mi(arrays[side], joined, discrete_x=kinds[side], discrete_y=joined_kind, **again)
    part = estimate.estimate_mi(arrays[side], arrays["z"], discrete_x=kinds[side], discrete_y=False, **again)
    method = f"chain rule: I({side}; [{other}, z]) - I({side}; z), two estimate_mi calls"
    negated = stratified.Term(-part.mi, part.stderr, tuple(part.warnings), part.method)
    return stratified.combined_estimate([stratified.Term.of(total), negated], method, notes, settings, columns,
                                        "estimate_cmi")
