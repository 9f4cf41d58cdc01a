"""Keras models that own encoders, a critic and a bound, built by name from a config.

``MODELS`` maps ``config.model.name`` to the model's class; every other field of
``config.model`` is a constructor argument (parts as blocks {"name": ..., **kwargs}), so
``build_model(config.model)`` is ``MODELS[name](**fields)`` and
``MODELS[name](**model.get_config())`` rebuilds a model. To add a model: a subclass of
``MIModel`` in its own file (forward, build_from_batch, export_endpoints, get_config;
defaults in its constructor) and one line in ``MODELS``.
"""

import os

import keras

from tfmi.errors import InputError
from tfmi.models.adversarial import AdversarialModel
from tfmi.models.base import MIModel, as_dict
from tfmi.models.bound import LOGGED_BOUNDS, Bound
from tfmi.models.demi import DecomposedEstimatorModel
from tfmi.models.infomax import InfoMaxModel
from tfmi.models.moco import MoCoModel
from tfmi.models.simclr import SimCLRModel

__all__ = [
    "AdversarialModel",
    "Bound",
    "DecomposedEstimatorModel",
    "InfoMaxModel",
    "MIModel",
    "MoCoModel",
    "SimCLRModel",
    "LOGGED_BOUNDS",
    "MODELS",
    "build_model",
    "export_model",
]


def _dialogue_model(**fields):
    """``tfmi.models.dialogue.DialogueModel``: GPT-2 needs keras-hub (the text extra),
    imported only when a dialogue model is built."""
    from tfmi.models.dialogue import DialogueModel

    return DialogueModel(**fields)


MODELS = {
    "infomax": InfoMaxModel,
    "adversarial": AdversarialModel,
    "demi_synthetic": DecomposedEstimatorModel,
    "simclr": SimCLRModel,
    "moco": MoCoModel,
    "dialogue": _dialogue_model,
}


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
