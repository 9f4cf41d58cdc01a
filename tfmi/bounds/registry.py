"""One registry from a bound's name to its function: ``BOUNDS`` and ``get(name)``.

Each function takes the [B, B] score matrix and only its own arguments (``clip`` for
SMILE, ``alpha`` for the interpolated bound, ``margin`` for the triplet objective).
Two bounds also take a value computed from state the caller keeps
(``STATE_ARGUMENTS``): TUBA and the interpolated bound a baseline ``log_baseline``
(log a(x_i), one per row), MINE the log of its moving average ``log_moving_average``
(``MineMovingAverage`` keeps it). ``kpair`` and ``triplet`` are the metric-learning
losses of ``METRIC_LOSSES`` as objectives to maximise (-loss): not MI estimates.
"""

import inspect

from tfmi.bounds.classic import dv, infonce, interpolated, js, mine, nwj, smile, tuba
from tfmi.bounds.losses import kpair_loss, triplet_loss

__all__ = ["BOUNDS", "STATE_ARGUMENTS", "get", "arguments", "kpair", "triplet"]


def kpair(scores):
    """-kpair_loss(scores): the K-pair objective, maximised like a bound (log B + this
    value is I_NCE of the same scores)."""
    return -kpair_loss(scores)


def triplet(scores, margin=1.0):
    """-triplet_loss(scores, margin): the triplet objective, maximised like a bound."""
    return -triplet_loss(scores, margin)


BOUNDS = {
    "infonce": infonce,
    "nwj": nwj,
    "tuba": tuba,
    "dv": dv,
    "js": js,
    "smile": smile,
    "interpolated": interpolated,
    "mine": mine,
    "kpair": kpair,
    "triplet": triplet,
}

# Arguments that are not settings but values of the state a caller keeps for the bound.
STATE_ARGUMENTS = ("log_baseline", "log_moving_average")


def get(name):
    """The function of the bound called ``name`` (a key of ``BOUNDS``)."""
    if name not in BOUNDS:
        raise ValueError(f"Unknown bound {name!r}; choose one of {list(BOUNDS)}.")
    return BOUNDS[name]


def arguments(name):
    """{argument: default} of bound ``name``'s own settings (no scores, no state
    argument; a required one has the default ``inspect.Parameter.empty``)."""
    parameters = list(inspect.signature(get(name)).parameters.values())[1:]
    return {p.name: p.default for p in parameters if p.name not in STATE_ARGUMENTS}
