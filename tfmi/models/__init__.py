"""Keras models that own encoders, a critic and a bound, built by name from a config."""

import os

import keras

from tfmi import critics as critics_lib
from tfmi import encoders as encoders_lib
from tfmi.models.adversarial import AdversarialModel
from tfmi.models.base import MIModel
from tfmi.models.bound import LOGGED_BOUNDS, Bound
from tfmi.models.demi import DemiModel
from tfmi.models.infomax import InfoMaxModel
from tfmi.models.moco import MoCoModel
from tfmi.models.simclr import SimCLRModel

__all__ = ["AdversarialModel", "Bound", "DemiModel", "InfoMaxModel", "MIModel", "MoCoModel", "SimCLRModel", "LOGGED_BOUNDS", "build_model", "export_model", "MODELS"]


def _named(spec, what):
    """(name, kwargs) of a config block {"name": ..., **kwargs}."""
    spec = dict(spec)
    if "name" not in spec:
        raise ValueError(f"model.{what} needs a 'name' (got the fields {sorted(spec)}).")
    return spec.pop("name"), spec


def _build_encoder(spec, what):
    """The encoder of a config block {"name": ..., **kwargs}, or None (the identity)."""
    if spec is None:
        return None
    name, kwargs = _named(spec, what)
    return encoders_lib.get(name, **kwargs)


def _build_infomax(config):
    critic_name, critic_kwargs = _named(config.critic, "critic")
    critic = critics_lib.get(critic_name, **critic_kwargs)
    bound_name, bound_kwargs = _named(config.bound, "bound")
    bound = Bound(bound_name, **bound_kwargs)
    return InfoMaxModel(
        critic,
        bound,
        encoder_x=_build_encoder(config.get("encoder_x"), "encoder_x"),
        encoder_y=_build_encoder(config.get("encoder_y"), "encoder_y"),
        target_mi=config.get("target_mi"),
        log_condition_every=config.get("log_condition_every", 0),
        condition_points=config.get("condition_points", 128),
    )


def _build_adversarial(config):
    encoder = _build_encoder(config.encoder, "encoder")
    if encoder is None:
        raise ValueError("model.encoder of the adversarial model must name an encoder.")
    mi_weight = config.get("mi_weight", 0.0)
    kwargs = {}
    if mi_weight:
        critic_name, critic_kwargs = _named(config.critic, "critic")
        bound_name, bound_kwargs = _named(config.bound, "bound")
        kwargs = dict(
            encoder_y=_build_encoder(config.get("encoder_y"), "encoder_y"),
            critic=critics_lib.get(critic_name, **critic_kwargs),
            bound=Bound(bound_name, **bound_kwargs),
        )
    return AdversarialModel(
        encoder,
        num_classes=config.get("num_classes", 10),
        warmup_steps=config.get("warmup_steps", 1000),
        probe_steps=config.get("probe_steps", 10),
        encoder_learning_rate=config.get("encoder_learning_rate", 1e-6),
        mi_weight=mi_weight,
        **kwargs,
    )


def _build_demi_synthetic(config):
    return DemiModel(config.method, config.hidden_units, config.embed_dim)


def _build_simclr(config):
    """SimCLR / SimCLR + DEMI: model.backbone {"name": "resnet50", ...}, model.method, ..."""
    backbone = _build_encoder(config.backbone, "backbone")
    return SimCLRModel(
        backbone,
        method=config.get("method", "simclr"),
        temperature=config.get("temperature", 0.5),
        proj_dim=config.get("proj_dim", 128),
        proj_hidden=config.get("proj_hidden", None),
        proj_layers=config.get("proj_layers", 1),
        synchronized_bn=config.get("synchronized_bn", True),
        num_classes=config.get("num_classes", 0),
    )


def _build_dialogue(config):
    # GPT-2 needs keras-hub (the text extra): imported only when a dialogue model is built.
    from tfmi.models.dialogue import build_dialogue_model

    return build_dialogue_model(config)


def _build_moco(config):
    """InfoMin / InfoMin (multi) / DEMI with a momentum encoder and a MoCo queue:
    model.backbone {"name": "resnet50", ...} (built twice: f and f_ema), model.method,
    head_hidden, head_dim, queue_size, momentum, temperature, queue_seed."""
    if config.get("backbone") is None:
        raise ValueError("model.backbone of the moco model must name an encoder, e.g. {'name': 'resnet50'}.")
    query, key = (_build_encoder(config.backbone, "backbone") for _ in range(2))
    return MoCoModel(
        query,
        key,
        method=config.get("method", "demi"),
        head_hidden=tuple(config.get("head_hidden", (2048,))),
        head_dim=config.get("head_dim", 128),
        queue_size=config.get("queue_size", 65536),
        momentum=config.get("momentum", 0.999),
        temperature=config.get("temperature", 0.2),
        queue_seed=config.get("queue_seed", 0),
    )


MODELS = {
    "infomax": _build_infomax,
    "adversarial": _build_adversarial,
    "demi_synthetic": _build_demi_synthetic,
    "simclr": _build_simclr,
    "moco": _build_moco,
    "dialogue": _build_dialogue,
}


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
