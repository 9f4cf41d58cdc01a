"""tfmi: mutual-information estimation and MI-based representation learning in TF2 / Keras 3.

    import tfmi
    result = tfmi.estimate_mi(x, y)
    result.mi, result.stderr  # held-out estimate in nats and its standard error
    tfmi.estimate_cmi(x, y, z)  # I(x; y | z), the same protocol

Modules: ``tfmi.bounds`` (bounds as pure functions of score matrices),
``tfmi.critics`` (Keras critic layers), ``tfmi.models`` (trainable models),
``tfmi.data`` (tf.data pipelines), ``tfmi.distribute`` (strategies),
``tfmi.estimation`` (estimate_mi, estimate_cmi, pairwise_mi, lagged_mi: MI of arrays,
held out, with an interval), ``tfmi.evaluation`` (what a trained model is worth),
``tfmi.sklearn`` (scikit-learn scorers).
"""

import importlib

__version__ = "0.1.0"
__all__ = ["bounds", "critics", "estimate_mi", "estimate_cmi", "MIEstimate", "pairwise_mi", "lagged_mi"]

# Imported on first use, so that light modules (tfmi.json_files, tfmi.config_utils) and
# the plotting tools that need only them do not pay for importing TensorFlow.
_LAZY = {  # name -> (module, attribute of it; None: the module itself)
    "bounds": ("tfmi.bounds", None),
    "critics": ("tfmi.critics", None),
    "estimate_mi": ("tfmi.estimation", "estimate_mi"),
    "estimate_cmi": ("tfmi.estimation", "estimate_cmi"),
    "MIEstimate": ("tfmi.estimation", "MIEstimate"),
    "pairwise_mi": ("tfmi.estimation", "pairwise_mi"),
    "lagged_mi": ("tfmi.estimation", "lagged_mi"),
    "sklearn": ("tfmi.sklearn", None),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'tfmi' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value
