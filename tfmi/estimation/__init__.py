"""MI estimation from paired samples: ``estimate_mi`` and the pieces it is made of.

``estimate.py`` holds ``estimate_mi`` (splits, checks, warnings) and ``MIEstimate``;
``neural.py`` fits a neural critic; ``heldout.py`` turns any fitted pair scorer
``scores(x [a, d_x], y [b, d_y]) -> [a, b]`` into an estimate with a standard error on
pairs it never saw.
"""

from tfmi.estimation.estimate import MIEstimate, estimate_mi

__all__ = ["estimate_mi", "MIEstimate"]
