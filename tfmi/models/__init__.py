"""Keras models that own encoders, a critic and a bound, built by name from a config."""

import os

import keras

from tfmi import critics as critics_lib
from tfmi.models.base import MIModel
from tfmi.models.bound import LOGGED_BOUNDS, Bound
from tfmi.models.demi import DemiModel
from tfmi.models.infomax import InfoMaxModel

__all__ = ["Bound", "DemiModel", "InfoMaxModel", "MIModel", "LOGGED_BOUNDS", "build_model", "export_model", "MODELS"]


def _build_infomax(config):
    critic_config = dict(config.critic)
    critic = critics_lib.get(critic_config.pop("name"), **critic_config)
    bound_config = dict(config.bound)
    bound = Bound(bound_config.pop("name"), **bound_config)
    return InfoMaxModel(critic, bound, target_mi=config.get("target_mi"))


def _build_demi_synthetic(config):
    return DemiModel(config.method, config.hidden_units, config.embed_dim)


MODELS = {"infomax": _build_infomax, "demi_synthetic": _build_demi_synthetic}


def build_model(config):
    """Builds the model that ``config.name`` names (a key of ``MODELS``)."""
    if config.name not in MODELS:
        raise ValueError(f"Unknown model {config.name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[config.name](config)


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
