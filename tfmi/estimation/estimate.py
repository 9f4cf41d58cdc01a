"""``estimate_mi``: fit on one split, choose on another, report on a third.

The pairs are split once at random into three disjoint parts:

  train        fits each candidate (``candidates.CANDIDATES``);
  validation   early stopping and every choice: the training step or model size to
               keep, and with ``estimator="auto"`` which candidate wins;
  test         the reported number, computed once, by the held-out estimator of the
               chosen candidate (``heldout``: a model's plug-in mean, or a critic's bound
               with all test pairs as candidates).

Each candidate reads the pairs through maps fitted on the train rows
(``candidates.Representations``): per-coordinate normal scores (monotone, MI-preserving, no heavy
tails) or standardised values (affine: mixtures stay mixtures). Three splits rather
than K-fold cross-fitting: one fit instead of K keeps the default fast. The fit's own
error is not in the test split's noise: for the closed-form models (copula, mixture)
``bootstrap`` refits on resampled train rows measure it, and the reported value is
corrected for the held-out bias they show (``driver.debiased``); a critic's or the flow's
interval covers the test split's noise only.
"""

import dataclasses
import logging
from typing import NamedTuple

import sys

import numpy as np

from tfmi.estimation import candidates as candidates_lib
from tfmi.estimation import defaults, discrete, driver, inputs, mixed, stratified
from tfmi.estimation.defaults import DEFAULT_CRITIC, DEMI_ESTIMATORS
from tfmi.estimation.inputs import as_int
from tfmi.estimation.protocol import BOOTSTRAP_REFITS, MAX_FIT_PAIRS, MIEstimate
from tfmi.estimation import protocol

__all__ = ["estimate_mi", "MIEstimate"]

logger = logging.getLogger("tfmi.estimation")

ESTIMATORS = ("auto", "copula", "mixture", "flow")  # besides the bounds and the DEMI estimators
MODEL_ESTIMATORS = ("auto", "copula", "mixture")  # need no batch ("auto" skips its batch-trained candidates)
MAX_DATASET_PAIRS = 1_000_000  # pairs read from a dataset at most (max_pairs)


def _as_matrix(array, name, allow_nan=False):
    """float64 [n, d], checked (``inputs.as_matrix``); kept in float64 until mapped to
    normal scores."""
    return inputs.as_matrix(array, "estimate_mi", name, allow_nan)


def _from_dataset(dataset, max_pairs):
    """A dataset of single (x, y) pairs (or {"x", "y"} dicts) as two arrays and a warning
    (None when it ended within the cap): at most
    ``max_pairs`` pairs are read, in batches, with a warning when more were available (a
    dataset of unknown length, e.g. ``repeat().filter(...)`` or an endless generator,
    stops there rather than filling memory)."""
    import tensorflow as tf  # a caller with a dataset has imported it

    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "estimate_mi: the dataset x is infinite (e.g. .repeat()); pass a finite one, e.g. dataset.take(n)."
        )
    spec = dataset.element_spec
    if isinstance(spec, dict) and set(spec) != {"x", "y"}:
        raise ValueError(f"estimate_mi: the dataset yields dicts with the keys {sorted(spec)}; they must be exactly "
                         f"'x' and 'y' (lower case), e.g. dataset.map(lambda d: {{'x': d[...], 'y': d[...]}}).")
    specs = (spec["x"], spec["y"]) if isinstance(spec, dict) else spec
    if not isinstance(specs, tuple) or len(specs) != 2:
        raise ValueError("estimate_mi: the dataset x must yield (x, y) pairs or {'x': ..., 'y': ...} dicts.")
    for name, part in zip("xy", specs):
        if part.shape.rank is not None and part.shape.rank > 1:
            raise ValueError(
                f"estimate_mi: the dataset yields {name} of shape {part.shape}, i.e. batches; pass "
                f"dataset.unbatch() (single pairs) or arrays."
            )
    xs, ys = [], []
    for element in dataset.take(max_pairs + 1).batch(8192).as_numpy_iterator():
        x, y = (element["x"], element["y"]) if isinstance(element, dict) else element
        xs.append(x)
        ys.append(y)
    if not xs:
        raise ValueError("estimate_mi: the dataset is empty.")
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(x) <= max_pairs:
        return x, y, None
    length = "of unknown length" if cardinality == tf.data.UNKNOWN_CARDINALITY else f"of {cardinality} pairs"
    message = (f"read the first {max_pairs} pairs of a dataset {length} (max_pairs={max_pairs}); pass "
               f"max_pairs= to read more, or dataset.take(n).")
    return x[:max_pairs], y[:max_pairs], message


def _demi_estimate(arrays, splits, settings, conditional_sampler):
    """(result, curve, best step, method) of a DEMI estimator (``decomposed``, which
    imports TensorFlow: here, not for every estimate)."""
    from tfmi.estimation import decomposed

    result, curve, best_step = decomposed.demi_estimate(arrays, splits, settings, conditional_sampler)
    method = f"{settings.estimator}, mean over {len(result.terms)} test batches of {settings.batch_size}"
    return result, curve, best_step, method


def _candidate_estimate(arrays, splits, settings):
    """(result, curve, best step, method, warnings, diagnostics) of ``settings.estimator``
    through the candidates (``candidates``): fitted on train (a model on at most
    ``max_fit_pairs`` pairs; validation at most a fifth as many), chosen on validation,
    read once on every test pair (``driver.read_out``)."""
    estimator = settings.estimator
    views = driver.representations(arrays["x"], arrays["y"], splits, settings)
    notes, diagnostics = [], {}
    if estimator == "auto":
        fitted, notes = candidates_lib.fit_auto(views, settings)
    elif estimator in candidates_lib.CANDIDATES:
        fitted = [candidates_lib.CANDIDATES[estimator](views, settings)]
    else:
        fitted = [candidates_lib.fit_critic_candidate(views, settings, bound=estimator)]
    if len(fitted) > 1:
        chosen, diagnostics["validation_infonce"], miscalibrated = candidates_lib.choose(fitted, views)
        notes += [f"{name} left out: {note}" for name, note in miscalibrated.items() if name != chosen.name]
        miscalibrated = miscalibrated.get(chosen.name)
    else:
        chosen = fitted[0]
        # A named mixture or flow is checked; the copula is normalised with its margins by construction.
        miscalibrated = candidates_lib.miscalibration(chosen, views=views) if estimator in ("mixture", "flow") else None
    found = [] if miscalibrated is None else [
        f"{chosen.name}: {miscalibrated}; its plug-in mean may overstate the MI by that much or more. A model that "
        f"fits the data better (more pairs, another estimator) or a bound (estimator='infonce') is safer."]
    result, method = driver.read_out(chosen, views, splits, settings, ", ", "pairs")
    return result, chosen.curve, chosen.best_step, "; ".join([method, *notes]), found, diagnostics


def _ceiling_name(result, estimator):
    """What caps ``result``, in words, or None."""
    if result.ceiling is None:
        return None
    if estimator in DEMI_ESTIMATORS:
        return f"the DEMI estimate cannot exceed 2 log(batch_size) = {result.ceiling:.3f} nats"
    count = int(round(np.exp(result.ceiling)))
    return f"InfoNCE cannot exceed log(K) = log({count}) = {result.ceiling:.3f} nats"


def _input_arrays(x, y, xprime, estimator, critic, conditional_sampler, max_pairs, allow_nan=False):
    """({"x", "y"[, "xprime"]}: float64 matrices (NaN kept with ``allow_nan``), the
    dataset's truncation warning or None), checked against ``estimator`` and ``critic``;
    ValueError naming what is wrong."""
    # The bounds' and critics' names live with their TensorFlow code: imported only to check
    # a name other than the models' and the default critic.
    if estimator not in ESTIMATORS + DEMI_ESTIMATORS:
        from tfmi import bounds as bounds_lib

        known = ESTIMATORS + bounds_lib.UNCONDITIONAL_BOUNDS + DEMI_ESTIMATORS
        if estimator not in known:
            raise ValueError(f"estimate_mi: unknown estimator {estimator!r}; choose one of {list(known)}.")
    if isinstance(critic, str) and critic != defaults.DEFAULT_CRITIC:  # checked even where no critic is fitted
        from tfmi import critics as critics_lib

        if critic not in critics_lib.CRITICS:
            raise ValueError(f"estimate_mi: unknown critic {critic!r}; choose one of {sorted(critics_lib.CRITICS)}.")
    if _is_dataset(x):
        if y is not None:
            raise ValueError("estimate_mi: pass either a dataset of (x, y) pairs or two arrays, not both.")
        x, y, truncated = _from_dataset(x, as_int(max_pairs, "max_pairs", 2))
    elif y is None:
        raise ValueError("estimate_mi: y is missing; pass paired arrays x and y.")
    else:
        truncated = None
    arrays = {"x": _as_matrix(x, "x", allow_nan), "y": _as_matrix(y, "y", allow_nan)}
    if estimator in DEMI_ESTIMATORS:
        if xprime is None:
            raise ValueError(f"estimate_mi: estimator {estimator!r} needs the subview xprime.")
        arrays["xprime"] = _as_matrix(xprime, "xprime", allow_nan)
        if estimator == "demi" and conditional_sampler is None:
            raise ValueError(
                "estimate_mi: estimator 'demi' draws its conditional negatives from p(y | x'): "
                "pass conditional_sampler, or use 'demi_bo' / 'demi_is' / 'demi_var', which need none."
            )
    elif xprime is not None or conditional_sampler is not None:
        raise ValueError(
            f"estimate_mi: xprime and conditional_sampler go with the DEMI estimators "
            f"{list(DEMI_ESTIMATORS)}, not {estimator!r}."
        )
    return arrays, truncated


def _is_dataset(value):
    """Whether ``value`` is a ``tf.data.Dataset`` (TensorFlow is then imported already)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and isinstance(value, tf.data.Dataset)


def _critic_defaults(estimator, critic, arrays):
    """(critic_args, learning rate) of ``estimator`` when the caller gives none."""
    if estimator in DEMI_ESTIMATORS:
        return {}, defaults.DEMI_LEARNING_RATE
    # A named bound is the estimate: its critic is sized to the input. In "auto" the
    # critic is the last candidate, after the models: bmi's (16, 8), whose cost does not
    # grow with the dimension (a (256, 128) concatenated critic on 50 inputs scores 65,536
    # pairs per step through 45,000 weights each: minutes on a CPU).
    if estimator == "auto":
        return (dict(defaults.DEFAULT_CRITIC_ARGS.get(critic, {})) if isinstance(critic, str) else {},
                defaults.DEFAULT_LEARNING_RATE)
    dims = arrays["x"].shape[1] + arrays["y"].shape[1]
    return defaults.default_critic_args(critic, dims), defaults.DEFAULT_LEARNING_RATE


def estimate_mi(
    x,
    y=None,
    *,
    xprime=None,
    estimator="auto",
    critic=DEFAULT_CRITIC,
    critic_args=None,
    bound_args=None,
    conditional_sampler=None,
    batch_size=256,
    learning_rate=None,
    max_steps=2000,
    eval_every=100,
    patience=5,
    valid_fraction=0.2,
    test_fraction=0.2,
    bootstrap=BOOTSTRAP_REFITS,
    max_fit_pairs=MAX_FIT_PAIRS,
    max_pairs=MAX_DATASET_PAIRS,
    screen=True,
    nan_policy="raise",
    discrete_x="auto",
    discrete_y="auto",
    serial_dependence=False,
    seed=0,
    verbose=0,
):
    """Estimates I(x; y) in nats from paired samples, with a standard error.

    Splits the pairs into train / validation / test (module docstring), fits the
    candidate estimators on train, makes every choice on validation, and reports the
    held-out estimate on the test pairs, computed once. Deterministic for a given
    ``seed``.

    Args:
      x, y: arrays [n, d_x] and [n, d_y] of paired samples (1-d arrays are one
        feature); or ``x`` a ``tf.data.Dataset`` of single (x, y) pairs and ``y=None``
        (call ``.unbatch()`` on a batched one): at most ``max_pairs`` pairs are read
        (default ``MAX_DATASET_PAIRS``, 10^6), with a warning when it held more or its
        length is unknown and it did not end; an infinite one (``.repeat()``) is refused.
      xprime: [n, d_x'] a subview of x for the decomposed (DEMI) estimators.
      estimator: "auto" (the default): the candidates of
        ``candidates.AUTO_CANDIDATES`` are fitted: the elliptical copula, a Gaussian
        mixture of the joint, the flow and an InfoNCE critic; the first is kept unless a
        later one beats it on validation (InfoNCE over the validation pairs) by more
        than two standard errors of the paired difference (chosen by
        ``tfmi.evaluation.estimator_benchmark``'s suite); "copula", "mixture" or "flow"
        alone (the plug-in mean of their log ratio on the test pairs); a bound of
        ``tfmi.bounds.UNCONDITIONAL_BOUNDS``: a critic is trained by maximising it on
        batches and scored on the test split by the same bound with all test pairs as
        candidates (``tfmi.estimation.heldout``; InfoNCE is then
        capped by log(n_test), not log(batch_size)); or a DEMI estimator of the total
        I({x, x'}; y) (Sordoni et al. 2021), which needs ``xprime``: "demi" (needs
        ``conditional_sampler``, draws of p(y | x')), "demi_bo", "demi_is", "demi_var".
      critic: a name of ``tfmi.critics.CRITICS`` or a critic layer; critic_args: its
        keyword arguments (default ``defaults.default_critic_args``: for a named bound the
        concatenated critic is an MLP (w, w / 2) on [x, y], w = 4 (d_x + d_y) rounded
        up to a power of two in [16, 256]; in "auto" bmi's (16, 8); for DEMI:
        ``hidden_units``, ``embed_dim``); bound_args: of the bound (e.g.
        ``{"clip": 5.0}`` for SMILE).
      conditional_sampler: ``f(xprime [b, d_x'], k) -> [b, k, d_y]`` samples of p(y | x').
      batch_size: pairs per training step (an integer; 64.0 is accepted).
      learning_rate: Adam's rate; for a critic the peak of a cosine decay over
        ``max_steps`` (None: ``defaults.DEFAULT_LEARNING_RATE``, 3e-2), for the DEMI
        estimators constant (None: ``defaults.DEMI_LEARNING_RATE``, 1e-2).
      max_steps, eval_every, patience: training length; validation every
        ``eval_every`` steps; stop after ``patience`` evaluations without improvement.
      bootstrap: refits of a closed-form model (copula, mixture) on resampled train
        rows, for the bias correction and the fitting variance (0: none).
      max_fit_pairs: the models (copula, mixture, flow) fit on at most this many train
        pairs, drawn at random (``method`` says so), and every candidate chooses on at
        most a fifth as many validation pairs; a critic trains on every train pair (its
        steps set its cost) and the test read-out uses every test pair (in blocks of
        ``heldout.MAX_CANDIDATES`` for a critic). Keeps the cost of large n nearly flat;
        raise it when more data still helps.
      valid_fraction, test_fraction: shares of the pairs for validation and test.
      screen: with ``estimator="auto"``, check the copula and then the mixture with k-NN
        (``screen.model_screen``: KSG on the model's latents of the train pairs against KSG
        on draws of the model): a copula beyond doubt is the answer, and the flow and the
        critic are fitted only when both models fail; False fits them all.
      nan_policy: a missing value (NaN) in x, y (or xprime): "raise" (refused, naming
        the input) or "omit" (its row left out; ``warnings`` says how many).
      discrete_x, discrete_y: whether a side is discrete (class labels, counts,
        categories as codes): "auto" (it takes at most ``discrete.MAX_LEVELS`` distinct
        rows, each seen ``discrete.MIN_ROWS_PER_LEVEL`` times on average; ``warnings``
        says so), True or False. With ``estimator="auto"``, two discrete sides are read
        from their contingency table (``discrete.contingency_mi``), one discrete side
        against a continuous one by class-conditional mixtures of the continuous side
        (``mixed.continuous_discrete_mi``: its distinct rows are the classes); a density
        model sees a repeated value as a narrow peak, so another estimator on a side
        that looks discrete gets a warning, and True with it is refused.
      serial_dependence: True when the rows are consecutive times of a series (rows
        close in time are not independent draws): the standard error, and so the
        interval, is widened by the long-run variance of the test rows' terms in time
        order (``protocol.serial_factor``, Newey-West). Not for the DEMI estimators.

    Returns:
      An ``MIEstimate``: ``.mi``, ``.stderr``, ``.interval``, ``.warnings``,
      ``.method``, ``.curve``, ``.best_step``, ``.settings``.
    """
    nan_policy = inputs.check_nan_policy(nan_policy, "estimate_mi")
    raw = protocol.FitSettings(
        estimator=estimator, seed=seed, bootstrap=bootstrap, max_fit_pairs=max_fit_pairs, valid_fraction=valid_fraction,
        test_fraction=test_fraction, serial_dependence=serial_dependence, screen=screen, critic=critic,
        critic_args=critic_args, bound_args=bound_args, batch_size=batch_size, learning_rate=learning_rate,
        max_steps=max_steps, eval_every=eval_every, patience=patience, verbose=verbose)
    given = _checked_inputs(x, y, xprime, raw, conditional_sampler, max_pairs, nan_policy, {"x": discrete_x,
                                                                                           "y": discrete_y})
    settings, sizes = _checked_settings(raw, given.arrays)
    record = {**_settings_record(settings, conditional_sampler, nan_policy), "n_train": sizes[0], "n_valid": sizes[1],
              "n_test": sizes[2], "discrete_x": discrete_x, "discrete_y": discrete_y}
    if estimator == "auto" and any(mask.any() for mask in given.masks.values()):
        return _discrete_estimate(given, raw, record)
    looks_discrete = {} if estimator == "auto" else _discrete_warnings(given.masks, given.arrays, given.columns)
    splits = driver.split(len(given.arrays["x"]), sizes, settings.seed)
    if estimator in DEMI_ESTIMATORS:
        result, curve, best_step, method = _demi_estimate(given.arrays, splits, settings, conditional_sampler)
        dof, model_warnings, diagnostics = len(result.terms) - 1, [], {}
    else:
        result, curve, best_step, method, model_warnings, diagnostics = _candidate_estimate(given.arrays, splits,
                                                                                            settings)
        dof = sizes[2] - 1
    dims = {name: given.arrays[name].shape[1] for name in "xy"}
    found = protocol.warnings_for(result, _ceiling_name(result, estimator), sizes[0], dims, given.identical,
                                  given.constant, given.notes, discrete_levels=looks_discrete, extra=model_warnings)
    return MIEstimate(result.mi, result.stderr, protocol.interval(result.mi, result.stderr, dof), found, method, curve,
                      best_step, record, given.columns, diagnostics)


class _Inputs(NamedTuple):
    """``estimate_mi``'s inputs once checked: float64 ``arrays`` {"x", "y"[, "xprime"]} of
    the complete rows less constant columns, their column names, the discrete ``masks``
    and whether "auto" ``found`` them, ``notes`` on what was read, the ``constant``
    columns left out, whether x and y are ``identical``."""

    arrays: dict
    columns: dict
    masks: dict
    found: dict
    notes: list
    constant: dict
    identical: bool


def _checked_inputs(x, y, xprime, raw, conditional_sampler, max_pairs, nan_policy, choices):
    """The ``_Inputs`` of the caller's x, y (and xprime): categories coded, a dataset read,
    rows with a missing value left out (``nan_policy``), discrete columns found, constant
    columns dropped; ValueError naming what is wrong."""
    columns = {"x": inputs.column_names(x), "y": inputs.column_names(y)}
    sides, categories, category_notes = stratified.category_columns({"x": x, "y": y}, choices, raw.estimator,
                                                                    "estimate_mi")
    arrays, truncated = _input_arrays(sides["x"], sides["y"], xprime, raw.estimator, raw.critic, conditional_sampler,
                                      max_pairs, allow_nan=nan_policy == "omit")
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"estimate_mi: x, y (and xprime) must pair up row by row, got {lengths} rows.")
    arrays, left_out = inputs.complete_rows(arrays, "estimate_mi")
    notes = [note for note in (truncated, *category_notes, left_out) if note]
    masks, found = stratified.discrete_masks(choices, categories, arrays, columns, raw.estimator, "estimate_mi")
    constant = inputs.drop_constant(arrays, columns, "estimate_mi")
    return _Inputs(arrays, columns, masks, found, notes, constant, protocol.identical(arrays["x"], arrays["y"]))


def _checked_settings(raw, arrays):
    """(the ``FitSettings`` of the caller's ``raw`` ones, checked, the critic's defaults
    filled in; the split sizes (n_train, n_valid, n_test), checked against what the
    estimator needs)."""
    estimator, batch_size = raw.estimator, as_int(raw.batch_size, "batch_size", 2)
    default_args, default_rate = _critic_defaults(estimator, raw.critic, arrays)
    settings = dataclasses.replace(
        raw, batch_size=batch_size, max_steps=as_int(raw.max_steps, "max_steps", 1),
        eval_every=as_int(raw.eval_every, "eval_every", 1), patience=as_int(raw.patience, "patience", 1),
        bootstrap=inputs.bootstrap_count(raw.bootstrap, "estimate_mi"),
        max_fit_pairs=as_int(raw.max_fit_pairs, "max_fit_pairs", 2), seed=inputs.as_seed(raw.seed, "estimate_mi"),
        critic_args=dict(raw.critic_args or default_args), bound_args=dict(raw.bound_args or {}),
        learning_rate=default_rate if raw.learning_rate is None else raw.learning_rate, screen=bool(raw.screen),
        serial_dependence=bool(raw.serial_dependence))
    n = len(arrays["x"])
    sizes = inputs.split_sizes(n, raw.valid_fraction, raw.test_fraction, "estimate_mi")
    few = protocol.MIN_SPLIT_ROWS
    if estimator in MODEL_ESTIMATORS:
        least, needs, fix = (few, few, few), f"at least {few} in each", ""
    elif estimator in DEMI_ESTIMATORS:
        least, needs, fix = (batch_size,) * 3, f"one batch of {batch_size} in every split", " or a smaller batch_size"
    else:
        least, needs = (batch_size, few, few), f"one batch of {batch_size} in train"
        fix = ", a smaller batch_size or the default estimator"
    if any(size < minimum for size, minimum in zip(sizes, least)):
        raise ValueError(f"estimate_mi: {n} samples give {sizes[0]} train, {sizes[1]} validation and {sizes[2]} test "
                         f"pairs; estimator {estimator!r} needs {needs}: use more samples{fix}.")
    if estimator in DEMI_ESTIMATORS and settings.serial_dependence:
        raise ValueError(f"estimate_mi: serial_dependence=True is not supported by {estimator} (its test values are "
                         f"batches); use the default estimator.")
    if estimator in DEMI_ESTIMATORS and sizes[2] < 2 * batch_size:
        raise ValueError(f"estimate_mi: {estimator} reads the test split in batches of {batch_size}, and {sizes[2]} "
                         f"test pairs make one: its standard error needs two; use more samples, a smaller batch_size "
                         f"or a larger test_fraction.")
    return settings, sizes


def _settings_record(settings, conditional_sampler, nan_policy):
    """``MIEstimate.settings`` of ``settings`` (a ``FitSettings``): every argument, the
    critic and the sampler by name."""
    record = {field.name: getattr(settings, field.name) for field in dataclasses.fields(settings)}
    critic = settings.critic
    return {**record, "critic": critic if isinstance(critic, str) else type(critic).__name__,
            "conditional_sampler": getattr(conditional_sampler, "__name__", None), "nan_policy": nan_policy}


def _discrete_estimate(given, raw, record):
    """The MIEstimate where some columns are discrete (``estimator="auto"``): the chain
    rule for a side with discrete columns beside continuous ones, else the contingency
    table of two discrete sides or the classes of one."""
    masks, arrays = given.masks, given.arrays
    detected = [name for name in "xy" if given.found[name]]
    if any(0 < mask.sum() < mask.size for mask in masks.values()):
        again = {field.name: getattr(raw, field.name) for field in dataclasses.fields(raw) if field.name != "estimator"}
        notes = given.notes + protocol.constant_column_warnings(given.constant)
        return _chain_rule_estimate(arrays, masks, detected, again, record, notes, given.columns)
    levels = {name: len(np.unique(arrays[name], axis=0)) if masks[name].all() else None for name in "xy"}
    if None not in levels.values():
        return _contingency_estimate(arrays, levels, detected, record, given.constant, given.notes, given.columns)
    return _classes_estimate(arrays, levels, detected, record, given.constant, given.notes, given.columns)


def _discrete_warnings(masks, arrays, columns):
    """{what: distinct values} of the sides (or columns of a side) that "auto" found
    discrete although a named estimator models them as continuous (``warnings_for``)."""
    found = {}
    for name, mask in masks.items():
        if mask.all():
            found[name] = len(np.unique(arrays[name], axis=0))
        for j in np.flatnonzero(mask) if 0 < mask.sum() < mask.size else ():
            label = j if columns[name] is None else repr(columns[name][j])
            found[f"{name}'s column {label}"] = len(np.unique(arrays[name][:, j]))
    return found


def _chain_rule_estimate(arrays, masks, detected, again, settings, notes, columns):
    """The MIEstimate of a side with discrete columns beside continuous ones
    (``stratified``): I([s_d, s_c]; o) = I(s_d; o) + sum_k p_k I(s_c; o | s_d = k), each
    term by ``estimate_mi`` with the same arguments (``again``); the first such side is
    split, the other keeps its columns' kinds (and is split in the terms' own calls)."""
    side = "x" if 0 < masks["x"].sum() < masks["x"].size else "y"
    other = "y" if side == "x" else "x"
    kinds = {other: stratified.as_choice(masks[other])}
    parts, rest = arrays[side][:, masks[side]], arrays[side][:, ~masks[side]]

    def estimate(side_part, other_part, discrete):
        sides = {side: side_part, other: other_part}
        choice = {side: discrete, **kinds}
        return stratified.Term.of(estimate_mi(sides["x"], sides["y"], discrete_x=choice["x"],
                                              discrete_y=choice["y"], nan_policy="raise", **again))

    def within(rows):
        if stratified.is_constant(rest[rows]) or stratified.is_constant(arrays[other][rows]):
            return stratified.ZERO
        return estimate(rest[rows], arrays[other][rows], False)

    first = estimate(parts, arrays[other], True)
    strata, sizes = stratified.over_strata(
        parts, within, "estimate_mi", f"{side}'s discrete columns",
        f"merge rare values of {side}'s discrete columns, or pass discrete_{side}=False")
    columns_named = [int(j) if columns[side] is None else columns[side][j] for j in np.flatnonzero(masks[side])]
    method = (f"chain rule: I({side}'s discrete columns {columns_named}; {other}) + the mean over their {len(strata)} "
              f"values of the MI of {side}'s other columns with {other} within each value's rows")
    if detected:
        notes = notes + [f"{side}'s columns {columns_named} look discrete: read by the chain rule over their values; "
                         f"pass discrete_{side}=False to treat "
                         f"them as continuous."]
    return stratified.combined_estimate([first, stratified.stratified_sum(strata, sizes)], method, notes,
                                        settings, columns, "estimate_mi")


def _detected_note(detected, levels, how):
    """The warning that "auto" found the sides ``detected`` discrete and read them ``how``."""
    sides = " and ".join(f"{name} ({levels[name]} distinct values)" for name in detected)
    verb = "looks" if len(detected) == 1 else "look"
    options = ", ".join(f"discrete_{name}=False" for name in detected)
    return (f"{sides} {verb} discrete: {how}; pass {options} to treat "
            f"{'it' if len(detected) == 1 else 'them'} as continuous.")


def _contingency_estimate(arrays, levels, detected, settings, constant, input_notes, columns):
    """The MIEstimate of two discrete sides: their contingency table's MI
    (``discrete.contingency_mi``) on all rows."""
    mi, stderr, (k_x, k_y), pointwise = discrete.contingency_mi(arrays["x"], arrays["y"])
    method = (f"contingency table of {k_x} x {k_y} observed values, plug-in on all {len(arrays['x'])} rows, "
              f"Miller-Madow bias correction")
    if settings["serial_dependence"]:
        factor = protocol.serial_factor(pointwise, np.arange(len(pointwise)))
        stderr *= float(np.sqrt(factor))
        method += f", stderr widened {np.sqrt(factor):.2f}x for serial dependence (Newey-West on the rows' terms)"
    found = list(input_notes) + protocol.constant_column_warnings(constant)
    if detected:
        found.append(_detected_note(detected, levels, "estimated from the contingency table"))
    protocol.log_warnings(found, "estimate_mi")
    return MIEstimate(mi, stderr, protocol.interval(mi, stderr), found, method, [], 0, settings, columns)


def _classes_estimate(arrays, levels, detected, settings, constant, input_notes, columns):
    """The MIEstimate of a discrete side against a continuous one: the distinct rows of the
    discrete side as classes, ``mixed.continuous_discrete_mi`` of the other side (the same
    seed, fractions and bootstrap; its folds and their sizes in the settings)."""
    labelled = "x" if levels["x"] is not None else "y"
    other = "y" if labelled == "x" else "x"
    codes = np.unique(arrays[labelled], axis=0, return_inverse=True)[1].reshape(-1)
    result = mixed.continuous_discrete_mi(arrays[other], codes, seed=settings["seed"],
                                          valid_fraction=settings["valid_fraction"],
                                          test_fraction=settings["test_fraction"], bootstrap=settings["bootstrap"],
                                          serial_dependence=settings["serial_dependence"])
    found = list(input_notes) + protocol.constant_column_warnings(constant)
    if detected:
        found.append(_detected_note(detected, levels, f"read as {levels[labelled]} classes, the MI of {other} with "
                                                      f"them from class-conditional mixtures"))
    protocol.log_warnings(found, "estimate_mi")
    # continuous_discrete_mi calls its continuous input x: here it is ``other``
    method = f"{labelled} as {levels[labelled]} classes: {result.method.replace(' x ', f' {other} ', 1)}"
    settings = {**settings, **{key: result.settings[key] for key in ("folds", "n_train", "n_valid", "n_test")}}
    return MIEstimate(result.mi, result.stderr, result.interval, found + result.warnings, method, result.curve,
                      result.best_step, settings, columns, result.diagnostics)
