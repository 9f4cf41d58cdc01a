"""Layers shared by critics, encoders and models: the MLP and SimCLR's projection head.

Below critics, encoders and models in the import order (it imports no other tfmi module),
so that each of them builds its MLPs and heads from one definition.
"""

import keras

__all__ = ["mlp", "batch_norm", "ProjectionHead"]


def mlp(hidden_units, output_units, activation="relu", name=None, seed=None, dtype=None, **dense_kwargs):
    """A Sequential MLP: Dense(hidden, activation) for each hidden size, then a linear
    Dense(output_units).

    ``seed``: layer k's Glorot-uniform kernel is seeded by ``seed + k`` (None: Keras draws
    the seeds from Python's global random state). ``dtype``: the dtype policy of every
    layer (None: the global policy)."""
    sizes = [*hidden_units, output_units]
    layers = []
    for index, units in enumerate(sizes):
        if seed is not None:
            dense_kwargs["kernel_initializer"] = keras.initializers.GlorotUniform(seed + index)
        layers.append(keras.layers.Dense(units, activation=activation if index < len(sizes) - 1 else None,
                                         dtype=dtype, **dense_kwargs))
    model = keras.Sequential(layers, name=name)
    if dtype is not None:
        model.dtype_policy = dtype  # Sequential takes no dtype argument
    return model


def batch_norm(name, synchronized, momentum, zero_init=False):
    """Batch norm with epsilon 1e-5 (as ResNet's), cross-replica when ``synchronized``,
    gamma starting at 0 when ``zero_init`` (the last BN of a residual block)."""
    return keras.layers.BatchNormalization(
        momentum=momentum,
        epsilon=1e-5,
        synchronized=synchronized,
        gamma_initializer="zeros" if zero_init else "ones",
        name=name,
    )


class ProjectionHead(keras.Sequential):
    """SimCLR's projection MLP g: (Dense -> BN -> ReLU) x ``num_hidden`` -> Dense(output_dim).

    v1 (Chen et al. 2020a) has one hidden layer as wide as the features; v2 uses more.
    ``hidden_dim`` None: the input width. Features -> z in R^output_dim (128).
    """

    def __init__(self, output_dim=128, hidden_dim=None, num_hidden=1, synchronized_bn=False,
                 bn_momentum=0.9, input_dim=None, **kwargs):
        if input_dim is None and hidden_dim is None:
            raise ValueError("ProjectionHead: give hidden_dim or input_dim (the feature width).")
        hidden = hidden_dim or input_dim
        layers = [keras.Input((input_dim,))] if input_dim else []
        for i in range(num_hidden):
            layers += [
                keras.layers.Dense(hidden, use_bias=False, name=f"hidden{i + 1}"),
                batch_norm(f"hidden{i + 1}_bn", synchronized_bn, bn_momentum),
                keras.layers.ReLU(name=f"hidden{i + 1}_relu"),
            ]
        layers.append(keras.layers.Dense(output_dim, name="output"))
        super().__init__(layers, **kwargs)
        self.output_dim = output_dim
        self.hidden_dim = hidden_dim
        self.num_hidden = num_hidden
        self.synchronized_bn = synchronized_bn
        self.bn_momentum = bn_momentum
        self.input_dim = input_dim

    def get_config(self):
        return {
            "name": self.name,
            "output_dim": self.output_dim,
            "hidden_dim": self.hidden_dim,
            "num_hidden": self.num_hidden,
            "synchronized_bn": self.synchronized_bn,
            "bn_momentum": self.bn_momentum,
            "input_dim": self.input_dim,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
