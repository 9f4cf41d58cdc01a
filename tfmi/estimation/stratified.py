r"""Discrete columns beside continuous ones, and discrete conditions: strata.

With x_d the discrete columns of a side and x_c its others, z_d the discrete columns of
a condition and z_c its others, k running over the observed values (rows) of the
discrete columns and p_k = n_k / n the share of the rows in stratum k:

    I([x_d, x_c]; y)     = I(x_d; y) + sum_k p_k I(x_c; y | x_d = k)       (chain rule)
    I(x; y | [z_d, z_c]) = sum_k p_k I(x; y | z_c, z_d = k)

Each term is an estimate of its own (``estimate_mi`` or ``estimate_cmi`` on the rows of
the stratum, with the caller's arguments and seed), so no density model sees a repeated
value as a narrow peak. A side or condition constant within a stratum contributes
exactly 0 there. Standard errors: a stratified sum adds its strata's variances and the
multinomial spread of the p_k (delta method),

    var = sum_k p_k^2 se_k^2 + (sum_k p_k I_k^2 - (sum_k p_k I_k)^2) / n,

and the two terms of the chain rule, fitted separately, add in quadrature.
"""

import dataclasses

import numpy as np

from tfmi.estimation import discrete, inputs, protocol

__all__ = ["Term", "ZERO", "discrete_columns", "discrete_masks", "as_choice", "category_columns", "strata",
           "over_strata", "stratified_sum", "combined_estimate", "is_constant"]


@dataclasses.dataclass(frozen=True)
class Term:
    """One estimated term: its value and standard error in nats, its ``warnings`` and how
    it was computed (``method``)."""

    mi: float
    stderr: float
    warnings: tuple = ()
    method: str = "exact: constant within the stratum"

    @classmethod
    def of(cls, result):
        """The Term of an ``MIEstimate``."""
        return cls(float(result.mi), float(result.stderr), tuple(result.warnings), result.method)


ZERO = Term(0.0, 0.0)


def discrete_columns(choice, array, labels, caller, name):
    """(mask [d]: the columns of ``array`` [n, d] read as discrete, found: whether "auto"
    found them). ``choice``: True (all), False (none), "auto" (all when the side looks
    discrete as a whole, ``discrete.levels``; else each column that looks discrete alone),
    or a list of column indices or names (``labels``, a DataFrame's)."""
    d = array.shape[1]
    forms = (f"{caller}: discrete_{name} must be 'auto', True, False or a list of {name}'s discrete columns "
             "(indices or names)")
    if isinstance(choice, (bool, np.bool_)):
        return np.full(d, bool(choice)), False
    if isinstance(choice, str) and choice == "auto":
        if discrete.levels(array) is not None:
            return np.ones(d, bool), True
        mask = np.array([discrete.levels(array[:, [j]]) is not None for j in range(d)])
        return mask, bool(mask.any())
    listed = [choice] if isinstance(choice, (int, np.integer, str)) else choice
    if isinstance(listed, (list, tuple, np.ndarray)) and len(listed) > 0:
        mask = np.zeros(d, bool)
        for item in listed:
            if isinstance(item, (int, np.integer)) and not isinstance(item, bool) and -d <= item < d:
                mask[item] = True
            elif isinstance(item, str) and labels is not None and item in labels:
                mask[labels.index(item)] = True
            else:
                known = f"its columns are {labels[:12]}" if labels else f"its column indices are 0..{d - 1}"
                raise ValueError(f"{forms}; {item!r} is not one of them ({known}).")
        return mask, False
    raise ValueError(f"{forms}, got {choice!r}.")


def discrete_masks(choices, categories, arrays, columns, estimator, caller):
    """({name: mask [d] of the columns read as discrete, category columns always},
    {name: whether "auto" found columns beyond the categories}) of each input named in
    ``choices`` (its ``arrays[name]``: complete rows), less its constant columns
    (``drop_constant`` removes them next). With an ``estimator`` other than "auto" only
    "auto" may find columns (for the warning); True or a list is refused."""
    masks, found = {}, {}
    for name in choices:
        masks[name], found[name] = discrete_columns(choices[name], arrays[name], columns[name], caller, name)
        if categories[name] is not None:  # told as categories already: "auto" found only what lies beyond
            found[name] = bool((masks[name] & ~categories[name]).any())
            masks[name] |= categories[name]
    said = [f"discrete_{name}={choices[name]!r}" for name in choices if masks[name].any() and not found[name]]
    if said and estimator != "auto":
        raise ValueError(f"{caller}: {', '.join(said)} needs estimator='auto' (discrete columns are read from a "
                         f"contingency table, as classes or by strata); estimator {estimator!r} models every "
                         f"column as continuous.")
    return {name: mask[np.ptp(arrays[name], axis=0) != 0] for name, mask in masks.items()}, found


def as_choice(mask):
    """The ``discrete_...`` argument that says ``mask`` [d] again: True, False or the indices."""
    return bool(mask[0]) if mask.all() or not mask.any() else [int(j) for j in np.flatnonzero(mask)]


def category_columns(sides, choices, estimator, caller):
    """(sides, {name: mask of its category columns or None}, notes): the text, category
    and boolean columns of each DataFrame or Series side as codes (``inputs.category_codes``);
    ValueError where the caller said the side is continuous or chose an estimator other
    than "auto" (the density models read numbers only)."""
    coded, forced, notes = dict(sides), {}, []
    for name, side in sides.items():
        coded[name], forced[name], note = inputs.category_codes(side, caller, name)
        if note is None:
            continue
        if isinstance(choices[name], (bool, np.bool_)) and not choices[name]:
            raise ValueError(f"{caller}: {note}; they cannot be continuous (discrete_{name}=False): pass numbers.")
        if estimator != "auto":
            raise ValueError(f"{caller}: {note}; estimator {estimator!r} models its inputs as continuous: use "
                             f"estimator='auto'.")
        notes.append(note + ".")
    return coded, forced, notes


def is_constant(array):
    """Whether every column of ``array`` [n, d] is constant (or it has no column)."""
    return array.shape[1] == 0 or bool(np.all(np.ptp(array, axis=0) == 0))


def strata(array):
    """[(value, row indices)] of the distinct rows of ``array`` [n, d], in sorted order."""
    values, codes = np.unique(array, axis=0, return_inverse=True)
    codes = codes.reshape(-1)
    return [(values[k], np.flatnonzero(codes == k)) for k in range(len(values))]


def over_strata(discrete_part, estimate_rows, caller, what, fix):
    """([Term] of each stratum of ``discrete_part`` [n, d], [its rows]): ``estimate_rows(rows)``
    -> a Term. A stratum too small to estimate is one error naming it and ``fix``."""
    terms, sizes = [], []
    for value, rows in strata(discrete_part):
        try:
            terms.append(estimate_rows(rows))
        except ValueError as error:
            shown = ", ".join(f"{v:g}" for v in value)
            raise ValueError(f"{caller}: the stratum {what} = {shown} holds {len(rows)} of {len(discrete_part)} rows, "
                             f"too few to estimate within it ({error}); {fix}.") from None
        sizes.append(len(rows))
    return terms, np.array(sizes, np.float64)


def stratified_sum(terms, sizes):
    """Term of sum_k p_k I_k, p_k = sizes_k / n (module docstring)."""
    p = sizes / sizes.sum()
    values = np.array([term.mi for term in terms])
    errors = np.array([term.stderr for term in terms])
    mi = float(p @ values)
    spread = max(float(p @ values**2) - mi**2, 0.0) / sizes.sum()
    warnings = tuple(dict.fromkeys(w for term in terms for w in term.warnings if "constant columns" not in w))
    method = f"the mean over {len(terms)} strata, weighted by their rows, of: " + "; ".join(
        dict.fromkeys(term.method for term in terms))
    return Term(mi, float(np.sqrt(np.sum(p**2 * errors**2) + spread)), warnings, method)


def combined_estimate(terms, method, notes, settings, columns, caller):
    """The ``MIEstimate`` of the sum of ``terms`` (independent fits: standard errors add in
    quadrature), with ``notes`` first among its warnings and the normal 95% interval."""
    mi = float(sum(term.mi for term in terms))
    stderr = float(np.sqrt(sum(term.stderr**2 for term in terms)))
    own = list(notes)
    protocol.log_warnings(own, caller)  # the terms logged theirs as they were estimated
    found = own + [w for w in dict.fromkeys(w for term in terms for w in term.warnings) if w not in own]
    if mi + protocol.Z_95 * stderr < 0:
        found.append(f"the estimate {mi:.4f} nats is below 0 by more than 1.96 standard errors; MI is >= 0: a "
                     f"term's model overfitted its train split.")
    diagnostics = {"terms": [dataclasses.asdict(term) for term in terms]}
    return protocol.MIEstimate(mi, stderr, protocol.interval(mi, stderr), found, method, [], 0, settings, columns,
                               diagnostics)
