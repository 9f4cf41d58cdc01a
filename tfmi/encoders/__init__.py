"""Encoders g: Keras models mapping flat views [B, input_dim] to representations.

The encoders of Tschannen et al. (2020), for the flat 392-pixel top and bottom halves of
MNIST digits:

- ``RealNVP`` (Sec. 3.1, Figure 1): 30 additive coupling layers, invertible by design.
- ``ResidualMLP`` (Sec. 3.1, Figure 2): 4 hidden layers as wide as the input with skip
  connections, initialised near the identity.
- ``MLP`` (Sec. 3.2, 3.3; Figures 3, 4): Dense(300) -> Dense(300) -> Dense(100).
- ``ConvNet`` (Sec. 3.3, Figure 4): two strided 5x5 convolutions, layer norm, pooling.

And GPT-2 for the dialogue experiments of Sordoni et al. (2021), Sec. 5.3: ``"gpt2"``
builds a keras-hub ``GPT2Backbone`` (token ids -> states; see ``tfmi.encoders.gpt2``,
imported on first use since it needs the ``text`` extra).

Every encoder checks that its input is a [batch, input_dim] matrix, is serialisable
through ``get_config``, and can be built by name with ``tfmi.encoders.get``.
"""

import keras

from tfmi.encoders.base import FlatInputEncoder, check_flat_inputs
from tfmi.encoders.convnet import ConvNet
from tfmi.encoders.mlp import MLP, ResidualMLP
from tfmi.encoders.realnvp import CouplingFlow, RealNVP
from tfmi.encoders.resnet import ResNet, resnet18, resnet50

__all__ = [
    "ENCODERS",
    "get",
    "FlatInputEncoder",
    "check_flat_inputs",
    "RealNVP",
    "CouplingFlow",
    "MLP",
    "ResidualMLP",
    "ConvNet",
    "ResNet",
]


def _gpt2(**kwargs):
    from tfmi.encoders import gpt2  # keras-hub is an optional dependency (the text extra)

    return gpt2.build_gpt2(**kwargs)


ENCODERS = {
    "gpt2": _gpt2,
    "realnvp": RealNVP,
    "mlp": MLP,
    "residual_mlp": ResidualMLP,
    "convnet": ConvNet,
    # Image backbones: [B, H, W, 3] in [0, 1] -> pooled features (tfmi.encoders.resnet).
    "resnet": ResNet,
    "resnet18": resnet18,
    "resnet50": resnet50,
}


def get(name, **kwargs):
    """Builds an encoder by name: one of ``ENCODERS`` with its keyword arguments.

    A Keras model passed as ``name`` is returned as it is.
    """
    if isinstance(name, keras.Model):
        return name
    if name not in ENCODERS:
        raise ValueError(f"Unknown encoder {name!r}; choose one of {sorted(ENCODERS)}.")
    try:
        return ENCODERS[name](**kwargs)
    except TypeError as error:
        raise ValueError(f"Bad arguments for encoder {name!r}: {error}") from None
