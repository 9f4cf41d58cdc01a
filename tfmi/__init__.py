"""tfmi: mutual-information estimation and MI-based representation learning in TF2 / Keras 3.

    import tfmi
    result = tfmi.estimate_mi(x, y, estimator="smile")
    result.mi  # held-out estimate in nats

Modules: ``tfmi.bounds`` (bounds as pure functions of score matrices),
``tfmi.critics`` (Keras critic layers), ``tfmi.models`` (trainable models),
``tfmi.data`` (tf.data pipelines), ``tfmi.distribute`` (strategies).
"""

from tfmi import bounds, critics
from tfmi.estimate import MIEstimate, estimate_mi

__version__ = "0.1.0"
__all__ = ["bounds", "critics", "estimate_mi", "MIEstimate"]
