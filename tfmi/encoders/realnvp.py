"""RealNVP encoder of Tschannen et al. (2020), Sec. 3.1 and Figure 1: invertible by design.

"We model g1 and g2 using the invertible RealNVP architecture (Dinh et al., 2016). We use
a total of 30 coupling layers, and each of them computes the shift using a separate MLP
with two ReLU hidden layers, each with 512 units." Each coupling layer splits its input
x = [x_a, x_b] (x_a the first floor(D / 2) coordinates) and computes

    additive (the paper's, shift only):  y = [x_a, x_b + t(x_a)]
    affine (optional):                    y = [x_a, x_b * s(x_a) + t(x_a)],
                                          s = 1e-7 + softplus(r(x_a) + log(e - 1))

with t (and r) an MLP floor(D/2) -> 512 -> 512 -> D - floor(D/2) (ReLU). The inverse is
x = [y_a, y_b - t(y_a)] (resp. (y_b - t(y_a)) / s(y_a)). An additive coupling has a
unit-triangular Jacobian, so log|det dy/dx| = 0: the flow is volume preserving, and it
is invertible for every value of the parameters, so I(g1(X1); g2(X2)) = I(X1; X2)
throughout training. A fixed permutation between consecutive couplings makes every
coordinate get transformed: random permutations (one per gap, from ``seed``) as in the
authors' notebook, or "reverse", which swaps the two halves (the classic alternation).
A last permutation undoes their composition, so that output coordinate i is input
coordinate i transformed: with the shifts at ~0 the flow is the identity, not a shuffle
of the coordinates as in the notebook (a fixed permutation changes neither the MI nor
what a linear classifier can read from the representation).

Initialisation follows the notebook: every kernel of every shift network is drawn from a
truncated normal with standard deviation 1e-4 and every bias is 0, so each t(x_a) is
~1e-9 on [0, 1] pixels and the flow starts at the identity up to ~1e-8. (The affine variant adds
log(e - 1) so that s = 1 at initialisation as well; the notebook's affine flow for the
adversarial experiment of Appendix B starts at s = softplus(0) = 0.69 instead.)

The flow is a ``tfp.bijectors.Chain`` of ``tfp.bijectors.RealNVP`` and
``tfp.bijectors.Permute``. Bijectors cache results keyed by their input tensor; the layer
feeds them ``tf.identity`` copies so that no cached graph tensor leaks across
``tf.function`` traces and ``inverse(forward(x))`` is really computed.
"""

import numpy as np
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfmi.encoders.base import FlatInputEncoder, check_flat_inputs

tfb = tfp.bijectors

__all__ = ["RealNVP", "CouplingFlow", "COUPLINGS", "PERMUTATIONS"]

COUPLINGS = ("additive", "affine")
PERMUTATIONS = ("random", "reverse")
# softplus(_UNIT_SCALE_OFFSET) == 1: affine couplings start with unit scale.
_UNIT_SCALE_OFFSET = float(np.log(np.expm1(1.0)))


@keras.saving.register_keras_serializable(package="tfmi")
class CouplingFlow(keras.layers.Layer):
    """The RealNVP flow as a Keras layer: [B, dim] -> [B, dim], with its inverse.

    Owns one shift network (a Keras Sequential) per coupling layer and the
    ``tfp.bijectors`` chain that uses them. See the module docstring for the math and
    ``RealNVP`` for the arguments.
    """

    def __init__(
        self,
        dim,
        num_couplings=30,
        hidden_units=(512, 512),
        coupling="additive",
        permutation="random",
        seed=0,
        init_stddev=1e-4,
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if dim < 2:
            raise ValueError(f"CouplingFlow: needs dim >= 2 to split into two halves, got {dim}.")
        if num_couplings < 1:
            raise ValueError(f"CouplingFlow: needs num_couplings >= 1, got {num_couplings}.")
        if coupling not in COUPLINGS:
            raise ValueError(f"CouplingFlow: unknown coupling {coupling!r}; choose one of {COUPLINGS}.")
        if permutation not in PERMUTATIONS:
            raise ValueError(
                f"CouplingFlow: unknown permutation {permutation!r}; choose one of {PERMUTATIONS}."
            )
        if init_stddev < 0:
            raise ValueError(f"CouplingFlow: init_stddev must be >= 0, got {init_stddev}.")
        self.dim = int(dim)
        self.num_couplings = int(num_couplings)
        self.hidden_units = tuple(int(units) for units in hidden_units)
        self.coupling = coupling
        self.permutation = permutation
        self.seed = int(seed)
        self.init_stddev = float(init_stddev)
        self.activation = activation
        self.num_masked = self.dim // 2
        transformed = self.dim - self.num_masked
        outputs_per_net = transformed if coupling == "additive" else 2 * transformed
        # One attribute per network: tf.train.Checkpoint (which the trainer's checkpoints
        # use) sees a Keras layer's attributes but not the layers inside a Python list.
        for i in range(self.num_couplings):
            setattr(self, f"shift_net_{i}", self._shift_net(outputs_per_net, name=f"shift_net_{i}"))
        self.permutations = self._permutations()
        steps = []
        for i, net in enumerate(self.shift_nets):
            if i > 0:
                steps.append(tfb.Permute(self.permutations[i - 1], name=f"permute_{i - 1}"))
            steps.append(self._coupling_bijector(net, i))
        self.final_permutation = _undo(self.permutations, self.dim)
        if self.final_permutation is not None:
            steps.append(tfb.Permute(self.final_permutation, name="unpermute"))
        # Chain applies its list from the last element to the first. It holds no
        # variables of its own (the networks above do), so it stays out of checkpoints.
        object.__setattr__(self, "_bijector", tfb.Chain(steps[::-1], name="realnvp"))

    def _shift_net(self, output_units, name):
        def initializer():
            # A fresh initializer per layer: a reused unseeded one repeats its values.
            if self.init_stddev == 0:
                return keras.initializers.Zeros()
            return keras.initializers.TruncatedNormal(stddev=self.init_stddev)

        layers = [
            keras.layers.Dense(units, activation=self.activation, kernel_initializer=initializer())
            for units in self.hidden_units
        ]
        layers.append(keras.layers.Dense(output_units, kernel_initializer=initializer()))
        return keras.Sequential(layers, name=name)

    def _permutations(self):
        if self.permutation == "reverse":
            return [np.arange(self.dim, dtype=np.int32)[::-1].copy() for _ in range(self.num_couplings - 1)]
        rng = np.random.default_rng(self.seed)
        return [rng.permutation(self.dim).astype(np.int32) for _ in range(self.num_couplings - 1)]

    def _coupling_bijector(self, net, index):
        name = f"coupling_{index}"
        if self.coupling == "additive":
            return tfb.RealNVP(
                num_masked=self.num_masked,
                shift_and_log_scale_fn=lambda x_a, output_units: (net(x_a), None),
                is_constant_jacobian=True,
                name=name,
            )

        def bijector_fn(x_a, output_units):
            shift, raw_scale = tf.split(net(x_a), 2, axis=-1)
            scale = 1e-7 + tf.nn.softplus(raw_scale + _UNIT_SCALE_OFFSET)
            return tfb.Chain([tfb.Shift(shift), tfb.Scale(scale)])

        return tfb.RealNVP(num_masked=self.num_masked, bijector_fn=bijector_fn, name=name)

    @property
    def shift_nets(self):
        """The shift network of each coupling layer, in the order they are applied."""
        return [getattr(self, f"shift_net_{i}") for i in range(self.num_couplings)]

    @property
    def bijector(self):
        """The ``tfp.bijectors.Chain`` that maps x to y."""
        return self._bijector

    def build(self, input_shape):
        for net in self.shift_nets:
            net.build((None, self.num_masked))

    def call(self, x):
        return self._bijector.forward(tf.identity(x))

    def inverse(self, y):
        """x = g^{-1}(y)."""
        return self._bijector.inverse(tf.identity(y))

    def forward_log_det_jacobian(self, x):
        """log |det dg/dx| at every row of x: shape [B] (0 for additive couplings)."""
        x = tf.identity(x)
        fldj = self._bijector.forward_log_det_jacobian(x, event_ndims=1)
        # A constant Jacobian comes back as a scalar; give one value per example.
        return tf.broadcast_to(tf.cast(fldj, x.dtype), tf.shape(x)[:-1])

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "num_couplings": self.num_couplings,
            "hidden_units": self.hidden_units,
            "coupling": self.coupling,
            "permutation": self.permutation,
            "seed": self.seed,
            "init_stddev": self.init_stddev,
            "activation": self.activation,
        }


@keras.saving.register_keras_serializable(package="tfmi")
class RealNVP(FlatInputEncoder):
    """Invertible RealNVP encoder [B, input_dim] -> [B, input_dim] (Sec. 3.1).

    Args:
      input_dim: features per example (392 for an MNIST half).
      num_couplings: coupling layers; the paper's 30.
      hidden_units: hidden widths of each shift network; the paper's (512, 512).
      coupling: "additive" (shift only, volume preserving; the paper's) or "affine"
        (shift and softplus scale, starting at scale 1).
      permutation: "random" (a seeded random permutation between consecutive couplings,
        as the authors' notebook) or "reverse" (swap the halves).
      seed: seed of the random permutations; stored in the config so that a rebuilt
        model permutes the same way and restored weights mean the same function.
      init_stddev: standard deviation of the truncated-normal initialiser of every
        shift-network kernel (biases start at 0); the notebook's 1e-4. 0 starts the
        flow exactly at the identity.
      activation: hidden activation of the shift networks; ReLU.

    Besides ``model(x)``: ``inverse(y)``, ``forward_log_det_jacobian(x)`` and
    ``bijector`` (the underlying ``tfp.bijectors.Chain``).
    """

    def __init__(
        self,
        input_dim=392,
        num_couplings=30,
        hidden_units=(512, 512),
        coupling="additive",
        permutation="random",
        seed=0,
        init_stddev=1e-4,
        activation="relu",
        **kwargs,
    ):
        flow = CouplingFlow(
            input_dim,
            num_couplings=num_couplings,
            hidden_units=hidden_units,
            coupling=coupling,
            permutation=permutation,
            seed=seed,
            init_stddev=init_stddev,
            activation=activation,
            name="flow",
        )
        inputs = keras.Input((input_dim,), name="x")
        outputs = flow(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        self.flow = flow

    @property
    def bijector(self):
        """The ``tfp.bijectors.Chain`` that maps x to y."""
        return self.flow.bijector

    def inverse(self, y):
        """x = g^{-1}(y) for y of shape [B, input_dim]."""
        check_flat_inputs(y, self.input_dim, "RealNVP.inverse")
        return self.flow.inverse(tf.convert_to_tensor(y, self.compute_dtype))

    def forward_log_det_jacobian(self, x):
        """log |det dg/dx| per example, shape [B]; identically 0 for additive couplings."""
        check_flat_inputs(x, self.input_dim, "RealNVP.forward_log_det_jacobian")
        return self.flow.forward_log_det_jacobian(tf.convert_to_tensor(x, self.compute_dtype))

    def get_config(self):
        flow = self.flow
        return {
            **self._base_config(),
            "input_dim": flow.dim,
            "num_couplings": flow.num_couplings,
            "hidden_units": flow.hidden_units,
            "coupling": flow.coupling,
            "permutation": flow.permutation,
            "seed": flow.seed,
            "init_stddev": flow.init_stddev,
            "activation": flow.activation,
        }


def _undo(permutations, dim):
    """The permutation that undoes the composition of ``permutations`` (None if that is
    the identity already).

    ``tfb.Permute(p)`` maps z to z[..., p]; after p_1, ..., p_k the coordinate i holds
    x[q[i]] with q = p_1[p_2]...[p_k], and gathering with argsort(q) restores x.
    """
    composed = np.arange(dim)
    for permutation in permutations:
        composed = composed[permutation]
    if np.array_equal(composed, np.arange(dim)):
        return None
    return np.argsort(composed).astype(np.int32)
