"""One record per bound, ``RECORDS``: all that the library needs to know about a bound,
and the one place a new bound is registered.

A ``BoundRecord`` holds the bound's function, its kind, the layer that keeps its state
(if it has one) and how a critic trained with it is read on held-out pairs. Everything
else is derived from the records: ``BOUNDS`` (name -> function, for a model or config),
``UNCONDITIONAL_BOUNDS``, ``CONDITIONAL_BOUNDS``, ``METRIC_LOSSES``,
``STATE_ARGUMENTS``. The model layer (``tfmi.models.Bound``) and the estimator
(``tfmi.estimation.neural``) build a bound's state and read its held-out form from here.

Each function of ``BOUNDS`` takes the [B, B] score matrix and only its own settings
(``clip`` for SMILE, ``alpha`` for the interpolated bound, ``margin`` for the triplet
objective). A bound with a state also takes the value its state layer computes (its
``argument``): TUBA and the interpolated bound a baseline ``log_baseline``
(log a(x_i), one per row), MINE the log of its moving average ``log_moving_average``.
``kpair`` and ``triplet`` are the metric-learning losses as objectives to maximise
(-loss): not MI estimates. The conditional bounds of DEMI take the positive [B] and
negative [B, K - 1] scores instead and are not in ``BOUNDS``.
"""

import dataclasses
import inspect
from typing import Callable

from tfmi.bounds.classic import dv, infonce, interpolated, js, mine, nwj, smile, tuba
from tfmi.bounds.conditional import boosted, cnce, importance_sampled, var
from tfmi.bounds.losses import kpair_loss, triplet_loss
from tfmi.bounds.state import Baseline, MineAverage

__all__ = [
    "BoundRecord",
    "RECORDS",
    "BOUNDS",
    "UNCONDITIONAL_BOUNDS",
    "CONDITIONAL_BOUNDS",
    "METRIC_LOSSES",
    "STATE_ARGUMENTS",
    "get",
    "arguments",
    "settings",
    "split_settings",
    "kpair",
    "triplet",
]

KINDS = ("unconditional", "conditional", "metric loss")


@dataclasses.dataclass(frozen=True)
class BoundRecord:
    """What the library knows of one bound.

    function: the bound. Unconditional bounds and metric losses: (scores [B, B], its own
      settings, its state's value) -> scalar; conditional ones: (positive [B],
      negatives [B, K - 1], ...) -> scalar.
    kind: "unconditional" (a lower bound on I(x; y)), "conditional" (DEMI's, on
      I(x; y | x')) or "metric loss" (an objective -loss, not an MI estimate).
    state: None, or the layer of ``tfmi.bounds.state`` that keeps the bound's state;
      called on (scores, x) it returns the function's argument ``state.argument``.
    heldout_args: for an unconditional bound (and only for one), a function of the
      bound's settings (defaults filled in) that returns the keyword arguments of
      ``tfmi.estimation.heldout.estimate`` reading a critic trained with the bound on
      held-out pairs.
    """

    function: Callable
    kind: str = "unconditional"
    state: type | None = None
    heldout_args: Callable | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"BoundRecord: kind must be one of {list(KINDS)}, got {self.kind!r}.")
        if (self.kind == "unconditional") != (self.heldout_args is not None):
            raise ValueError("BoundRecord: an unconditional bound, and only one, has heldout_args.")


def kpair(scores):
    """-kpair_loss(scores): the K-pair objective, maximised like a bound (log B + this
    value is I_NCE of the same scores)."""
    return -kpair_loss(scores)


def triplet(scores, margin=1.0):
    """-triplet_loss(scores, margin): the triplet objective, maximised like a bound."""
    return -triplet_loss(scores, margin)


def _read_as(method, **fixed):
    """A held-out form that the bound's settings do not change."""
    return lambda settings: {"method": method, **fixed}


def _smile_heldout_args(settings):
    """SMILE is read with its own clip; without one its value is DV's."""
    if settings["clip"] is None:
        return {"method": "dv"}
    return {"method": "smile", "clip": settings["clip"]}


RECORDS = {
    "infonce": BoundRecord(infonce, heldout_args=_read_as("infonce")),
    # NWJ(f) = TUBA(f - 1) with a(x) = 1.
    "nwj": BoundRecord(nwj, heldout_args=_read_as("tuba", shift=-1.0)),
    "tuba": BoundRecord(tuba, state=Baseline, heldout_args=_read_as("tuba", shift=0.0)),
    "dv": BoundRecord(dv, heldout_args=_read_as("dv")),
    # The JS-trained estimator's value is TUBA(f) with a(x) = 1.
    "js": BoundRecord(js, heldout_args=_read_as("tuba", shift=0.0)),
    "smile": BoundRecord(smile, heldout_args=_smile_heldout_args),
    # With every held-out pair as a candidate the interpolated bound is read as InfoNCE.
    "interpolated": BoundRecord(interpolated, state=Baseline, heldout_args=_read_as("infonce")),
    # MINE's value is DV's; only its gradient differs.
    "mine": BoundRecord(mine, state=MineAverage, heldout_args=_read_as("dv")),
    "kpair": BoundRecord(kpair, kind="metric loss"),
    "triplet": BoundRecord(triplet, kind="metric loss"),
    "cnce": BoundRecord(cnce, kind="conditional"),
    "var": BoundRecord(var, kind="conditional"),
    "importance_sampled": BoundRecord(importance_sampled, kind="conditional"),
    "boosted": BoundRecord(boosted, kind="conditional"),
}


def _names(kind):
    return tuple(name for name, record in RECORDS.items() if record.kind == kind)


UNCONDITIONAL_BOUNDS = _names("unconditional")  # the names configs and estimate_mi accept
CONDITIONAL_BOUNDS = _names("conditional")
METRIC_LOSSES = _names("metric loss")
# The bounds on a [B, B] score matrix, the names a model's bound block accepts.
BOUNDS = {name: record.function for name, record in RECORDS.items() if record.kind != "conditional"}
# Arguments that are not settings but values of the state a caller keeps for the bound.
STATE_ARGUMENTS = tuple(dict.fromkeys(record.state.argument for record in RECORDS.values() if record.state))


def get(name):
    """The function of the bound called ``name`` (a key of ``BOUNDS``)."""
    if name not in BOUNDS:
        raise ValueError(f"Unknown bound {name!r}; choose one of {list(BOUNDS)}.")
    return BOUNDS[name]


def _defaults(parameters):
    return {p.name: p.default for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD}


def arguments(name):
    """{argument: default} of bound ``name``'s own settings (no scores, no state
    argument; a required one has the default ``inspect.Parameter.empty``)."""
    parameters = list(inspect.signature(get(name)).parameters.values())[1:]
    return {key: value for key, value in _defaults(parameters).items() if key not in STATE_ARGUMENTS}


def _state_settings(name):
    """{setting: default} of the layer of bound ``name``'s state ({} without one)."""
    get(name)  # refuses a name outside BOUNDS, naming them
    state = RECORDS[name].state
    return {} if state is None else _defaults(inspect.signature(state).parameters.values())


def settings(name):
    """{setting: default} that bound ``name`` takes: its function's own settings
    (``arguments``) and those of its state's layer."""
    return {**arguments(name), **_state_settings(name)}


def split_settings(name, given):
    """(settings for bound ``name``'s function, settings for its state's layer) from one
    dict: a setting goes to the state when its layer takes it, any other to the function."""
    for_state = _state_settings(name)
    return (
        {key: value for key, value in given.items() if key not in for_state},
        {key: value for key, value in given.items() if key in for_state},
    )
