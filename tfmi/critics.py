"""Critics: Keras layers whose ``call(x, y)`` returns the [B, B] score matrix.

``scores[i, j] = f(x_i, y_j)`` for x of shape [B, d_x] and y of shape [B, d_y]; the
positive pairs (x_i, y_i) lie on the diagonal. Every critic is serialisable through
``get_config`` and can be rebuilt by name with ``tfmi.critics.get``.
"""

import inspect

import keras
import tensorflow as tf

from tfmi.layers import mlp

__all__ = ["Bilinear", "Separable", "Concat", "InnerProduct", "Cosine", "get", "CRITICS"]


def _check_pair(x, y, name):
    if x.shape.rank != 2 or y.shape.rank != 2:
        raise ValueError(
            f"{name}: x and y must be [batch, features] matrices, got shapes "
            f"{x.shape} and {y.shape}."
        )


class Bilinear(keras.layers.Layer):
    """Bilinear critic f(x, y) = x^T W y (van den Oord et al. 2018). ``seed``: of W's
    Glorot-uniform initialiser (None: Keras draws it from Python's random state)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, x_shape, y_shape):
        self.kernel = self.add_weight(
            shape=(x_shape[-1], y_shape[-1]), initializer=keras.initializers.GlorotUniform(self.seed), name="kernel"
        )

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}

    def call(self, x, y):
        _check_pair(x, y, "Bilinear")
        return tf.matmul(tf.matmul(x, self.kernel), y, transpose_b=True)


class InnerProduct(keras.layers.Layer):
    """Inner-product critic f(x, y) = x^T y (no parameters; x and y of equal width)."""

    def call(self, x, y):
        _check_pair(x, y, "InnerProduct")
        if x.shape[-1] is not None and y.shape[-1] is not None and x.shape[-1] != y.shape[-1]:
            raise ValueError(
                f"InnerProduct: x and y must have the same width, got {x.shape[-1]} and "
                f"{y.shape[-1]}; use Bilinear or Separable for different widths."
            )
        return tf.matmul(x, y, transpose_b=True)


class Cosine(keras.layers.Layer):
    """Cosine critic f(x, y) = x^T y / (|x| |y| tau), SimCLR's NT-Xent scores.

    ``temperature`` is tau (SimCLR uses 0.5 on CIFAR-10, 0.1 on ImageNet).
    """

    def __init__(self, temperature=0.5, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"Cosine: temperature must be positive, got {temperature}.")
        self.temperature = temperature

    def call(self, x, y):
        _check_pair(x, y, "Cosine")
        x = tf.math.l2_normalize(x, axis=-1)
        y = tf.math.l2_normalize(y, axis=-1)
        return tf.matmul(x, y, transpose_b=True) / self.temperature

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


class Separable(keras.layers.Layer):
    """Separable critic f(x, y) = phi_1(x)^T phi_2(y) with two MLPs.

    phi_k: Dense(h) -> ... -> Dense(embed_dim), ``activation`` between hidden layers.
    Poole et al. (2019) use hidden (256, 256), embed 32; Tschannen et al. (2020) use
    hidden (100,), embed 100. ``seed`` seeds the initialisers (``tfmi.layers.mlp``); the
    MLPs take the critic's dtype policy.
    """

    def __init__(self, hidden_units=(256, 256), embed_dim=32, activation="relu", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.embed_dim = embed_dim
        self.activation = activation
        self.seed = seed
        phi_y_seed = None if seed is None else seed + len(self.hidden_units) + 1
        self.phi_x = mlp(self.hidden_units, embed_dim, activation, name="phi_x", seed=seed, dtype=self.dtype_policy)
        self.phi_y = mlp(self.hidden_units, embed_dim, activation, name="phi_y", seed=phi_y_seed,
                         dtype=self.dtype_policy)

    def build(self, x_shape, y_shape):
        self.phi_x.build(x_shape)
        self.phi_y.build(y_shape)

    def call(self, x, y):
        _check_pair(x, y, "Separable")
        return tf.matmul(self.phi_x(x), self.phi_y(y), transpose_b=True)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "embed_dim": self.embed_dim,
            "activation": self.activation,
            "seed": self.seed,
        }


class Concat(keras.layers.Layer):
    """Concatenated critic f(x, y) = phi([x, y]) evaluated on all B x B pairs.

    phi is an MLP with ``hidden_units`` and a scalar output. Its first layer is applied
    as W [x; y] + b = W_x x + W_y y + b: the [B, B, d_x + d_y] tensor of concatenated
    pairs is never built, so memory is B^2 h for the first hidden width h instead of
    B^2 (d_x + d_y + h). ``seed`` seeds the initialisers (``tfmi.layers.mlp``); the
    sublayers take the critic's dtype policy.
    """

    def __init__(self, hidden_units=(256, 256), activation="relu", seed=None, **kwargs):
        super().__init__(**kwargs)
        if not hidden_units:
            raise ValueError("Concat: needs at least one hidden layer.")
        self.hidden_units = tuple(hidden_units)
        self.activation = activation
        self.seed = seed
        first = self.hidden_units[0]
        initializers = (["glorot_uniform"] * 2 if seed is None
                        else [keras.initializers.GlorotUniform(seed + i) for i in (0, 1)])
        self.first_x = keras.layers.Dense(first, use_bias=True, kernel_initializer=initializers[0], name="first_x",
                                          dtype=self.dtype_policy)
        self.first_y = keras.layers.Dense(first, use_bias=False, kernel_initializer=initializers[1], name="first_y",
                                          dtype=self.dtype_policy)
        self.head = mlp(self.hidden_units[1:], 1, activation, name="head", seed=None if seed is None else seed + 2,
                        dtype=self.dtype_policy)
        self._activation_fn = keras.activations.get(activation)

    def build(self, x_shape, y_shape):
        self.first_x.build(x_shape)
        self.first_y.build(y_shape)
        self.head.build((None, None, self.hidden_units[0]))

    def call(self, x, y):
        _check_pair(x, y, "Concat")
        hidden = self.first_x(x)[:, None, :] + self.first_y(y)[None, :, :]
        hidden = self._activation_fn(hidden)
        return tf.squeeze(self.head(hidden), axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "activation": self.activation,
            "seed": self.seed,
        }


CRITICS = {
    "bilinear": Bilinear,
    "separable": Separable,
    "concat": Concat,
    "inner_product": InnerProduct,
    "cosine": Cosine,
}


def get(name, seed=None, **kwargs):
    """Builds a critic by name: one of ``CRITICS`` with its keyword arguments; ``seed``
    goes to the critics that have initialisers (the parameter-free ones take none)."""
    if isinstance(name, keras.layers.Layer):
        return name
    if name not in CRITICS:
        raise ValueError(f"Unknown critic {name!r}; choose one of {sorted(CRITICS)}.")
    if seed is not None and "seed" in inspect.signature(CRITICS[name]).parameters:
        kwargs["seed"] = seed
    try:
        return CRITICS[name](**kwargs)
    except TypeError as error:
        raise ValueError(f"Bad arguments for critic {name!r}: {error}") from None
