"""The decomposed MI estimators of DEMI on synthetic data (Sordoni et al. 2021, Sec. 5.1):
I(x; y) = I(x'; y) + I(x; y | x') with a subview x' of x.

Encoders: f, an MLP on the concatenation [x', x] (x zeroed for the subview alone), and
g, an MLP on y; Sec. 5.1 / App. A.6 use one hidden ReLU layer of 100 and 100 outputs.
The critics are

    psi(x', y)    = f([x', 0])^T g(y)     unconditional, I_NCE(x'; y)
    phi(x', x, y) = f([x', x])^T g(y)     conditional,   I(x; y | x')

Batches are dicts {"x", "xprime", "y"} with optionally "y_cond" [B, K - 1, d_y], exact
samples of p(y | x') per row (the negatives of I_CNCE), and "true_mi". ``method``
decides what is trained:

    "infonce"   I_NCE(f([x', x]); g(y)) with the B in-batch candidates
    "demi"      I_NCE(x'; y) + I_CNCE(x; y | x'), negatives from p(y | x') (needs y_cond);
                the conditional-NCE objective, not the MoCo / SimCLR Listing-1 loss nor
                the dialogue model's I_VAR, which share the config value "demi"
    "demi_is"   I_NCE(x'; y) + I_IS, in-batch negatives weighted by psi
    "demi_bo"   I_NCE(x'; y) + I_BO, in-batch negatives, psi detached in the boost
    "demi_var"  I_NCE(x'; y) + I_CNCE with negatives from a learned Gaussian q(y | x'),
                q trained by maximum likelihood at the same rate

Every step also evaluates, without gradients, "mi_nce_is" = I_NCE(x'; y) + I_IS on the
shared in-batch negatives (needs no p(y | x'); Fig. 2 bottom), "mi_infonce" and, when
the batch has y_cond, "mi_demi" = I_NCE(x'; y) + I_CNCE with the true conditional
negatives (Fig. 2 top). "mi", the total-MI estimate, is mi_infonce for the InfoNCE
method, else mi_demi when y_cond is given and mi_nce_is otherwise.
"""

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds, distribute
from tfmi.layers import mlp
from tfmi.models.base import MIModel

__all__ = ["DecomposedEstimatorModel", "METHODS"]

METHODS = ("infonce", "demi", "demi_is", "demi_bo", "demi_var")


class GaussianConditional(keras.layers.Layer):
    """q(y | x') = N(W x' + b, diag(exp(2 s))): the variational proposal of I_VAR; ``seed``
    of W's initialiser (None: Keras's draw)."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed

    def build(self, xprime_shape, y_shape):
        dim_y = y_shape[-1]
        self.mean = keras.layers.Dense(dim_y, kernel_initializer=keras.initializers.GlorotUniform(self.seed),
                                       name="mean", dtype=self.dtype_policy)
        self.mean.build(xprime_shape)
        self.log_scale = self.add_weight(shape=(dim_y,), initializer="zeros", name="log_scale")

    def log_prob(self, xprime, y):
        """log q(y | x') per row: [B]."""
        z = (y - self.mean(xprime)) * tf.exp(-self.log_scale)
        return tf.reduce_sum(-0.5 * z**2 - self.log_scale - 0.5 * np.log(2 * np.pi), axis=-1)

    def sample(self, xprime, num_samples, seed):
        """num_samples draws per row: [B, num_samples, d]."""
        mean = self.mean(xprime)[:, None, :]
        noise = tf.random.stateless_normal(tf.shape(tf.tile(mean, [1, num_samples, 1])), seed=seed)
        return mean + tf.exp(self.log_scale) * noise

    def call(self, xprime, y):
        return self.log_prob(xprime, y)


class DecomposedEstimatorModel(MIModel):
    """Trains one of the decomposed estimators ``METHODS`` on (x, x', y) batches and logs
    the total-MI estimates (registered as "demi_synthetic").

    Args (the fields of ``config.model``): method, one of ``METHODS``; hidden_units and
    embed_dim of the MLPs f and g; seed of their initialisers (None: Keras draws them
    from Python's random state, which the trainer seeds). The parts take the model's
    dtype policy.

    The number of conditional negatives equals B - 1 (as many as in-batch negatives),
    also for the samples of q in "demi_var".
    """

    def __init__(self, method="demi", hidden_units=100, embed_dim=100, seed=None, **kwargs):
        if method not in METHODS:
            raise ValueError(f"Unknown DEMI method {method!r}; choose one of {list(METHODS)}.")
        names = ["loss", "mi", "mi_infonce", "mi_demi", "mi_nce_is", "nce_xprime", "cnce", "true_mi"]
        if method == "demi_var":
            names.append("proposal_nll")
        super().__init__(names, **kwargs)
        self.method = method
        self.hidden_units = hidden_units
        self.embed_dim = embed_dim
        self.seed = seed
        seeds = [None] * 3 if seed is None else [seed, seed + 2, seed + 4]
        self.f = mlp((hidden_units,), embed_dim, name="f", seed=seeds[0], dtype=self.dtype_policy)
        self.g = mlp((hidden_units,), embed_dim, name="g", seed=seeds[1], dtype=self.dtype_policy)
        if method == "demi_var":
            self.proposal = GaussianConditional(seeds[2], name="proposal", dtype=self.dtype_policy)
        self._step_seed = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="step_seed",
            aggregation="only_first_replica",
        )

    def critics(self, x, xprime, y):
        """Embeddings: f([x', x]), f([x', 0]) and g(y)."""
        joint = self.f(tf.concat([xprime, x], axis=-1))
        subview = self.f(tf.concat([xprime, tf.zeros_like(x)], axis=-1))
        return joint, subview, self.g(y)

    def _conditional_scores(self, joint, y_candidates):
        """phi for each row against its own candidates [B, K, d] -> [B, K]."""
        shape = tf.shape(y_candidates)
        flat = self.g(tf.reshape(y_candidates, [-1, y_candidates.shape[-1]]))
        embedded = tf.reshape(flat, [shape[0], shape[1], self.embed_dim])
        return tf.einsum("be,bke->bk", joint, embedded)

    def forward(self, batch, training=False):
        gather = distribute.gather_from_replicas
        x, xprime, y = gather(batch["x"]), gather(batch["xprime"]), gather(batch["y"])
        joint, subview, gy = self.critics(x, xprime, y)
        psi = tf.matmul(subview, gy, transpose_b=True)  # [B, B] psi(x'_i, y_j)
        phi = tf.matmul(joint, gy, transpose_b=True)  # [B, B] phi(x'_i, x_i, y_j)
        nce_xprime = bounds.infonce(psi)
        phi_pos, phi_inbatch = bounds.split_scores(phi)
        psi_pos, psi_inbatch = bounds.split_scores(psi)
        nce_is = nce_xprime + bounds.importance_sampled(
            phi_pos, phi_inbatch, tf.stop_gradient(psi_inbatch)
        )
        outputs = {"mi_infonce": bounds.infonce(phi), "mi_nce_is": nce_is, "nce_xprime": nce_xprime}
        has_conditional = "y_cond" in batch
        if has_conditional:
            # all_gather of a rank-3 tensor forgets the static width that g needs.
            y_cond = tf.ensure_shape(gather(batch["y_cond"]), [None, None, batch["y_cond"].shape[-1]])
            outputs["cnce"] = bounds.cnce(phi_pos, self._conditional_scores(joint, y_cond))
            outputs["mi_demi"] = nce_xprime + outputs["cnce"]
        elif self.method == "demi":
            raise ValueError(
                "method 'demi' needs negatives from p(y | x'): batches must hold 'y_cond'. "
                "Without a conditional sampler use demi_bo, demi_is or demi_var."
            )
        if self.method == "infonce":
            objective = outputs["mi_infonce"]
        elif self.method == "demi":
            objective = outputs["mi_demi"]
        elif self.method == "demi_is":
            objective = nce_is
        elif self.method == "demi_bo":
            objective = nce_xprime + bounds.boosted(
                phi_pos, phi_inbatch, tf.stop_gradient(psi_pos), tf.stop_gradient(psi_inbatch)
            )
        else:
            num_negatives = tf.shape(y)[0] - 1
            seed = tf.stack([tf.constant(7, tf.int64), tf.convert_to_tensor(self._step_seed)])
            y_q = tf.stop_gradient(self.proposal.sample(xprime, num_negatives, seed))
            nll = -tf.reduce_mean(self.proposal(xprime, y))
            objective = nce_xprime + bounds.cnce(phi_pos, self._conditional_scores(joint, y_q)) - nll
            outputs["proposal_nll"] = nll
        if self.method == "infonce":
            outputs["mi"] = outputs["mi_infonce"]
        else:
            outputs["mi"] = outputs["mi_demi"] if has_conditional else nce_is
        outputs["loss"] = -objective
        outputs = {k: v if k == "loss" else tf.stop_gradient(v) for k, v in outputs.items()}
        if "true_mi" in batch:
            outputs["true_mi"] = tf.reduce_mean(batch["true_mi"])
        return outputs

    def after_train_step(self):
        self._step_seed.assign_add(1)

    def call(self, inputs, training=False):
        joint, _, gy = self.critics(inputs["x"], inputs["xprime"], inputs["y"])
        return tf.matmul(joint, gy, transpose_b=True)

    def build_from_batch(self, batch):
        """Creates every variable by running the encoders (and q) once on ``batch``."""
        self.critics(batch["x"], batch["xprime"], batch["y"])
        if self.method == "demi_var":
            self.proposal(batch["xprime"], batch["y"])
        self.built = True
        self._input_dims = (int(batch["x"].shape[-1]), int(batch["y"].shape[-1]))

    def export_endpoints(self):
        """f on [x', x] (input 2d) and g on y (input d)."""
        dim_x, dim_y = self._input_dims
        return {
            "f": (self.f, [tf.TensorSpec([None, 2 * dim_x], tf.float32, name="xprime_x")]),
            "g": (self.g, [tf.TensorSpec([None, dim_y], tf.float32, name="y")]),
        }

    def get_config(self):
        seed = {} if self.seed is None else {"seed": self.seed}  # a config gives none: the trainer seeds
        return {"method": self.method, "hidden_units": self.hidden_units, "embed_dim": self.embed_dim, **seed}
