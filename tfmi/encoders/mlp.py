"""MLP encoders of Tschannen et al. (2020): a plain MLP and a residual MLP at the identity.

``MLP`` (Sec. 3.2 and 3.3): Dense(300, ReLU) -> Dense(300, ReLU) -> Dense(100), on the
flat 392-pixel top half of an MNIST digit; 392 * 300 + 300 + 300 * 300 + 300 +
300 * 100 + 100 = 238,300 parameters ("238k parameters", Sec. 3.3).

``ResidualMLP`` (Sec. 3.1, "Bias towards hard-to-invert encoders", Figure 2): 4 hidden
layers as wide as the input plus a linear output layer, each with a skip connection,

    h_0 = x,   h_k = h_{k-1} + relu(W_k h_{k-1} + b_k)   (k = 1..4),
    g(x) = h_4 + W_5 h_4 + b_5,

so that with all weights at 0 the network is the identity. The authors' notebook
initialises every kernel from a truncated normal with standard deviation 1e-4 and every
bias at 0: each W_k then has spectral norm ~2e-3 at width 392, so g starts within ~1e-2
of the identity and its Jacobian has a condition number of ~1.05.
"""

import keras

from tfmi.encoders.base import FlatInputEncoder

__all__ = ["MLP", "ResidualMLP"]


@keras.saving.register_keras_serializable(package="tfmi")
class MLP(FlatInputEncoder):
    """Plain MLP encoder: Dense(h, activation) per hidden width, then a linear Dense.

    Args:
      input_dim: features per example (392 for an MNIST half).
      hidden_units: hidden widths; the paper's (300, 300).
      output_dim: representation size; the paper's 100.
      activation: hidden activation; the paper's ReLU.
    """

    def __init__(self, input_dim=392, hidden_units=(300, 300), output_dim=100, activation="relu", **kwargs):
        if input_dim < 1 or output_dim < 1 or any(units < 1 for units in hidden_units):
            raise ValueError(
                f"MLP: input_dim, hidden_units and output_dim must be positive, got "
                f"{input_dim}, {tuple(hidden_units)}, {output_dim}."
            )
        inputs = keras.Input((input_dim,), name="x")
        h = inputs
        for i, units in enumerate(hidden_units):
            h = keras.layers.Dense(units, activation=activation, name=f"dense_{i}")(h)
        outputs = keras.layers.Dense(output_dim, name="output")(h)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.hidden_units = tuple(int(units) for units in hidden_units)
        self.activation = activation

    def get_config(self):
        return {
            **self._base_config(),
            "input_dim": self.input_dim,
            "hidden_units": self.hidden_units,
            "output_dim": self.output_dim,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="tfmi")
class ResidualMLP(FlatInputEncoder):
    """Residual MLP initialised near the identity: ``h <- h + layer(h)`` for every layer.

    Args:
      input_dim: features per example; every layer has this width (392 in the paper).
      num_hidden: hidden (ReLU) layers before the linear output layer; the paper's 4.
      init_stddev: standard deviation of the truncated-normal kernel initialiser (biases
        start at 0); the authors' 1e-4. With 0 the network starts exactly at the
        identity (and the ReLU layers get no gradient until the output layer moves).
      activation: hidden activation; the paper's ReLU.
    """

    def __init__(self, input_dim=392, num_hidden=4, init_stddev=1e-4, activation="relu", **kwargs):
        if input_dim < 1 or num_hidden < 0 or init_stddev < 0:
            raise ValueError(
                f"ResidualMLP: needs input_dim >= 1, num_hidden >= 0 and init_stddev >= 0, "
                f"got {input_dim}, {num_hidden}, {init_stddev}."
            )
        inputs = keras.Input((input_dim,), name="x")
        h = inputs
        for i in range(num_hidden + 1):
            last = i == num_hidden
            dense = keras.layers.Dense(
                input_dim,
                activation=None if last else activation,
                kernel_initializer=_kernel_initializer(init_stddev),
                bias_initializer="zeros",
                name="output" if last else f"dense_{i}",
            )
            h = keras.layers.Add(name=f"skip_{i}")([h, dense(h)])
        super().__init__(inputs=inputs, outputs=h, **kwargs)
        self.num_hidden = int(num_hidden)
        self.init_stddev = float(init_stddev)
        self.activation = activation

    def get_config(self):
        return {
            **self._base_config(),
            "input_dim": self.input_dim,
            "num_hidden": self.num_hidden,
            "init_stddev": self.init_stddev,
            "activation": self.activation,
        }


def _kernel_initializer(stddev):
    # A fresh initializer per layer: an unseeded Keras initializer reused across layers
    # would give every layer the same values.
    if stddev == 0:
        return keras.initializers.Zeros()
    return keras.initializers.TruncatedNormal(stddev=stddev)
