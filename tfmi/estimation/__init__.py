"""MI estimation from paired samples: ``estimate_mi`` and the pieces it is made of.

``estimate.py`` holds ``estimate_mi``, ``conditional.py`` ``estimate_cmi`` (I(x; y | z)),
``pairwise.py`` every pair of a table's columns, ``lagged.py`` a series against a
shifted one; ``protocol.py`` what they share (``MIEstimate``, splits, checks, interval, warnings);
``neural.py`` fits a neural critic; ``heldout.py`` turns any fitted pair scorer
``scores(x [a, d_x], y [b, d_y]) -> [a, b]`` into an estimate with a standard error on
pairs it never saw.
"""

from tfmi.estimation.conditional import estimate_cmi
from tfmi.estimation.estimate import estimate_mi
from tfmi.estimation.lagged import lagged_mi
from tfmi.estimation.pairwise import pairwise_mi
from tfmi.estimation.protocol import MIEstimate

__all__ = ["estimate_mi", "estimate_cmi", "MIEstimate", "pairwise_mi", "lagged_mi"]
