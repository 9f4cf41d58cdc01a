"""Keras models that own encoders, a critic and a bound, built by name from a config.

``MODELS`` maps ``config.model.name`` to the model's class; every other field of
``config.model`` is a constructor argument (parts as blocks {"name": ..., **kwargs}), so
``build_model(config.model)`` is ``MODELS[name](**fields)`` and
``MODELS[name](**model.get_config())`` rebuilds a model. To add a model: a subclass of
``MIModel`` in its own file (forward, build_from_batch, export_endpoints, get_config;
defaults in its constructor) and one line in ``MODELS``.
"""

import collections.abc
import importlib
import os

import keras

from tfmi.errors import InputError
from tfmi.models.base import as_dict

# name -> (module, attribute): imported when first asked for, so that a user of one model
# (estimate_mi's DEMI estimators: demi.py) loads neither the others' encoders (ResNet,
# RealNVP on TensorFlow Probability) nor keras-hub (the dialogue model, the text extra).
_PUBLIC = {
    "AdversarialModel": ("tfmi.models.adversarial", "AdversarialModel"),
    "Bound": ("tfmi.models.bound", "Bound"),
    "LOGGED_BOUNDS": ("tfmi.models.bound", "LOGGED_BOUNDS"),
    "DecomposedEstimatorModel": ("tfmi.models.demi", "DecomposedEstimatorModel"),
    "DialogueModel": ("tfmi.models.dialogue", "DialogueModel"),
    "InfoMaxModel": ("tfmi.models.infomax", "InfoMaxModel"),
    "MIModel": ("tfmi.models.base", "MIModel"),
    "MoCoModel": ("tfmi.models.moco", "MoCoModel"),
    "SimCLRModel": ("tfmi.models.simclr", "SimCLRModel"),
    "as_dict": ("tfmi.models.base", "as_dict"),
}
_MODEL_CLASSES = {  # config.model.name -> the name of its class in _PUBLIC
    "infomax": "InfoMaxModel",
    "adversarial": "AdversarialModel",
    "demi_synthetic": "DecomposedEstimatorModel",
    "simclr": "SimCLRModel",
    "moco": "MoCoModel",
    "dialogue": "DialogueModel",
}

__all__ = [*(name for name in _PUBLIC if name != "DialogueModel"), "MODELS", "build_model", "export_model"]


def __getattr__(name):
    if name not in _PUBLIC:
        # not input: the module protocol (hasattr, from-imports of submodules) expects it
        raise AttributeError(f"module 'tfmi.models' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    return getattr(importlib.import_module(module), attribute)


class _Registry(collections.abc.Mapping):
    """``config.model.name`` -> the model's class, its module imported on first look-up."""

    def __getitem__(self, name):
        return __getattr__(_MODEL_CLASSES[name])

    def __iter__(self):
        return iter(_MODEL_CLASSES)

    def __len__(self):
        return len(_MODEL_CLASSES)


MODELS = _Registry()


def build_model(config):
    """``MODELS[config.name](**fields)``, the fields every one of ``config`` (a
    ConfigDict or dict) but "name". Raises InputError for an unknown model or field."""
    fields = as_dict(config)
    name = fields.pop("name", None)
    if name not in MODELS:
        raise InputError(f"Unknown model {name!r} (config.model.name); choose one of {sorted(MODELS)}.")
    try:
        return MODELS[name](**fields)
    except TypeError as error:
        if "argument" not in str(error):
            raise
        # A required field missing: the constructor names it.
        raise InputError(f"config.model of the {name!r} model: {error}.") from None


def export_model(model, directory):
    """Writes one SavedModel per endpoint of ``model.export_endpoints()`` under
    ``directory/<name>``, each serving its function as the "serve" signature.
    Returns the list of written paths."""
    paths = []
    for name, (function, signature) in model.export_endpoints().items():
        archive = keras.export.ExportArchive()
        archive.track(function)
        archive.add_endpoint("serve", function, input_signature=signature)
        path = os.path.join(directory, name)
        archive.write_out(path, verbose=False)
        paths.append(path)
    return paths
