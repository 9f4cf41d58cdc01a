"""InfoMin and DEMI with a momentum encoder and a MoCo memory queue (Sordoni et al. 2021,
Sec. 5.2.1 and Listing 1; Tian et al. 2020; He et al. 2020; Chen et al. 2020b).

Query side: backbone f and head g (and, for DEMI's Listing 1, a second head g_bo on the same
features); key side: f_ema and g_ema, copies of f and g updated after every step by

    theta_ema <- m * theta_ema + (1 - m) * theta          (m = ``momentum``, 0.999)

Queries and keys are L2-normalised. With a queue Q of K keys from earlier steps, the
critic of a query q and its key k is the MoCo logit row

    s(q) = [q . k, q . Q_1, ..., q . Q_K] / T              [B, 1 + K], positive first

and a loss term is the mean over the rows of -log_softmax(s)[0], in nats: log(K + 1)
minus the InfoNCE estimate with K + 1 candidates. Views: x and y of the same image, x' a subview of x ("x_sub":
an aggressive crop or a cutout), encoded by the same f. ``method``:

    "infomin"        nce_x_y                                    I_NCE(x; y)
    "infomin_multi"  nce_x_y + nce_xp_y                         I_NCE(x; y) + I_NCE(x'; y)
    "demi"           nce_x_y + nce_xp_y + bo_x_xp + bo_xp_x     DEMI's Listing 1: both
                     decompositions of I(x, x'; y), the conditional terms I_BO(x; y | x')
                     and I_BO(x'; y | x) estimated by the boosted critic, whose logits
                     s(q_bo(x)) + stop_gradient(s(q(x'))) reuse the unconditional ones
                     (the boosted Listing-1 objective: not the synthetic model's I_CNCE
                     nor the dialogue model's I_VAR, which share the config value "demi").

Every term is logged on its own (nce_x_y, nce_xp_y, bo_x_xp, bo_xp_x), with "loss"
(their sum) and "accuracy" (share of rows of s(q(x)) whose positive scores highest).

Queue and distribution: the keys of the GLOBAL batch (gathered across replicas in
replica order) replace the oldest B entries, so the queue and its pointer are the same
on every replica and equal the one-replica queue. The queue size must be a multiple of
the global batch (checked in ``build_from_batch``). The EMA and the enqueue run after
the optimizer step, in one cross-replica update (as Keras applies gradients), so no
variable is broadcast between replicas.

Batch norm: the model adds none of its own; both encoders run in training mode, so the
key encoder normalises with batch statistics, as in MoCo. There is no Shuffle-BN (He et
al. 2020, Sec. 3.3): a backbone with synchronised BN (tfmi ResNet,
``synchronized_bn=True``, what the configs use) takes its statistics over the global
batch, which makes R replicas equal one, but a query and its key are normalised with
statistics of the same images, the "leak" Shuffle-BN removes; expect that to cost some
accuracy against the paper's numbers.
"""

import threading

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds, distribute
from tfmi import encoders as encoders_lib
from tfmi.errors import InputError
from tfmi.layers import mlp
from tfmi.models.base import MIModel, build_part, part_section

__all__ = ["MoCoModel", "METHODS"]

METHODS = ("infomin", "infomin_multi", "demi")
_TERMS = {
    "infomin": ("nce_x_y",),
    "infomin_multi": ("nce_x_y", "nce_xp_y"),
    "demi": ("nce_x_y", "nce_xp_y", "bo_x_xp", "bo_xp_x"),
}


def _unit_rows_initializer(seed):
    """Initializer of random unit rows (MoCo's initial queue), the same on every run."""

    def initializer(shape, dtype=None):
        rows = tf.random.stateless_normal(shape, seed=[seed, 0x4D6F436F], dtype="float32")
        return tf.cast(tf.math.l2_normalize(rows, axis=-1), dtype or "float32")

    return initializer


class MoCoModel(MIModel):
    """InfoMin / InfoMin (multi) / DEMI's Listing 1 with a momentum key encoder and a key queue.

    Args (the fields of ``config.model``, but ``key_backbone``):
      backbone: the query encoder f, any Keras model mapping images [B, H, W, C] to
        features [B, D] (it must accept the subview's size as well), or a config block
        {"name": "resnet", ...} of ``tfmi.encoders``, then built twice: f and f_ema.
      key_backbone: the key encoder f_ema, a model of the same architecture (its
        weights are overwritten by f's when the model is built). None: built from the
        block, or a clone of a built ``backbone`` (``keras.models.clone_model``).
      method: one of ``METHODS``.
      head_hidden: hidden widths of the heads g, g_ema, g_bo (ReLU MLPs; InfoMin: one
        layer as wide as the features, 2048 for ResNet-50).
      head_dim: output width of the heads (128).
      queue_size: K, the number of keys in the memory (65,536); a multiple of the global
        batch size.
      momentum: m of the EMA of the key encoder (0.999).
      temperature: T dividing every logit (0.2 in MoCo v2; 0.15 in InfoMin's code).
      queue_seed: seed of the initial random unit keys.

    Batches: dicts with "x" and "y" [B, H, W, C] and, for infomin_multi and demi,
    "x_sub" (the subview x', any size f accepts); other keys are ignored.
    """

    def __init__(
        self,
        backbone,
        key_backbone=None,
        *,
        method="demi",
        head_hidden=(2048,),
        head_dim=128,
        queue_size=65536,
        momentum=0.999,
        temperature=0.2,
        queue_seed=0,
        **kwargs,
    ):
        if method not in METHODS:
            raise ValueError(f"Unknown MoCo method {method!r}; choose one of {list(METHODS)}.")
        if not isinstance(queue_size, (int, np.integer)) or isinstance(queue_size, bool) or queue_size < 1:
            raise ValueError(f"MoCoModel: queue_size must be a positive integer, got {queue_size!r}.")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"MoCoModel: momentum must lie in [0, 1], got {momentum!r}.")
        if not temperature > 0:
            raise ValueError(f"MoCoModel: temperature must be positive, got {temperature!r}.")
        super().__init__(["loss", *_TERMS[method], "accuracy"], **kwargs)
        self.method = method
        self.head_hidden = tuple(int(units) for units in head_hidden)
        self.head_dim = int(head_dim)
        self.queue_size = int(queue_size)
        self.momentum = float(momentum)
        self.temperature = float(temperature)
        self.queue_seed = int(queue_seed)
        if backbone is None:
            raise InputError("model.backbone of the moco model must name an encoder, e.g. {'name': 'resnet50'}.")
        self.backbone = build_part(backbone, encoders_lib.get, "backbone")
        self._keep_sections(backbone=part_section(backbone, self.backbone))
        if key_backbone is None and isinstance(backbone, keras.Model):
            key_backbone = keras.models.clone_model(backbone)
        self.key_backbone = build_part(backbone if key_backbone is None else key_backbone, encoders_lib.get, "backbone")
        if self.key_backbone is self.backbone:
            raise ValueError("MoCoModel: key_backbone must be a separate model, not the query backbone itself.")
        self.head = mlp(self.head_hidden, self.head_dim, name="head")
        self.key_head = mlp(self.head_hidden, self.head_dim, name="key_head")
        self.bo_head = mlp(self.head_hidden, self.head_dim, name="bo_head") if method == "demi" else None
        # Identical on every replica; updated only through _update_state (see train_step).
        self.queue = self.add_weight(
            shape=(self.queue_size, self.head_dim), initializer=_unit_rows_initializer(self.queue_seed),
            trainable=False, name="queue", aggregation="only_first_replica",
        )
        self.queue_pointer = self.add_weight(
            shape=(), dtype="int64", initializer="zeros", trainable=False, name="queue_pointer",
            aggregation="only_first_replica",
        )
        self._ema_pairs = []
        # Not an attribute Keras tracks: holds the step's keys between forward and
        # after_train_step, one slot per replica thread.
        object.__setattr__(self, "_step_state", threading.local())

    @property
    def uses_subview(self):
        """Whether the method encodes the subview x' ("x_sub")."""
        return self.method != "infomin"

    # --- encoders --------------------------------------------------------------------

    def _features(self, encoder, images, training):
        features = encoder(images, training=training)
        if features.shape.rank != 2:
            raise ValueError(
                f"MoCoModel: the backbone must return features [batch, dim], got shape "
                f"{features.shape}; end it with global pooling."
            )
        return features

    @staticmethod
    def _normalize(embedding):
        # float32 whatever the compute dtype: the logits go through a softmax over K + 1.
        return tf.math.l2_normalize(tf.cast(embedding, tf.float32), axis=-1)

    def keys(self, y, training=False):
        """k = g_ema(f_ema(y)) / ||.||: [B, head_dim], no gradient."""
        features = self._features(self.key_backbone, y, training)
        return tf.stop_gradient(self._normalize(self.key_head(features, training=training)))

    def contrast_logits(self, queries, keys):
        """MoCo logits [B, 1 + K]: column 0 holds q_i . k_i / T, then q_i . Q_j / T."""
        positive = tf.reduce_sum(queries * keys, axis=-1, keepdims=True)
        negatives = tf.matmul(queries, tf.convert_to_tensor(self.queue), transpose_b=True)
        return tf.concat([positive, negatives], axis=1) / self.temperature

    # --- the objective ---------------------------------------------------------------

    def forward(self, batch, training=False):
        """The loss of ``method`` on the global batch and each of its terms (module
        docstring); queries and keys are gathered from all replicas, in replica order."""
        gather = distribute.gather_from_replicas
        if self.uses_subview and "x_sub" not in batch:
            raise ValueError(
                f"method {self.method!r} needs the subview x' in the batch key 'x_sub' "
                f"(got the keys {sorted(batch)}); use a dataset with a subview or method 'infomin'."
            )
        f_x = self._features(self.backbone, batch["x"], training)
        keys = gather(self.keys(batch["y"], training))
        q_x = gather(self._normalize(self.head(f_x, training=training)))
        logits = {"s_x_y": self.contrast_logits(q_x, keys)}
        if self.uses_subview:
            f_xp = self._features(self.backbone, batch["x_sub"], training)
            q_xp = gather(self._normalize(self.head(f_xp, training=training)))
            logits["s_xp_y"] = self.contrast_logits(q_xp, keys)
        if self.method == "demi":
            q_bo_x = gather(self._normalize(self.bo_head(f_x, training=training)))
            q_bo_xp = gather(self._normalize(self.bo_head(f_xp, training=training)))
            logits["s_bo_x_y"] = self.contrast_logits(q_bo_x, keys)
            logits["s_bo_xp_y"] = self.contrast_logits(q_bo_xp, keys)
            terms = bounds.demi_listing1_loss(**logits)  # loss + the four terms
        else:
            terms = {"nce_x_y": bounds.contrastive_cross_entropy(logits["s_x_y"])}
            if self.uses_subview:
                terms["nce_xp_y"] = bounds.contrastive_cross_entropy(logits["s_xp_y"])
            terms["loss"] = tf.add_n(list(terms.values()))
        outputs = {name: value if name == "loss" else tf.stop_gradient(value) for name, value in terms.items()}
        hits = tf.equal(tf.argmax(logits["s_x_y"], axis=1), 0)
        outputs["accuracy"] = tf.reduce_mean(tf.cast(hits, tf.float32))
        if training:
            # For after_train_step of the same step. Per thread: MirroredStrategy traces
            # each replica's step in its own thread, concurrently.
            self._step_state.keys = keys
        return outputs

    # --- state updated once per step: EMA and queue ----------------------------------

    def after_train_step(self):
        """After the optimizer step: the EMA of the key encoder towards the just-updated
        query encoder, then the global batch's keys (computed before the update, as in
        MoCo) into the queue."""
        keys = getattr(self._step_state, "keys", None)
        if keys is None:
            raise RuntimeError("MoCoModel.after_train_step needs forward(batch, training=True) in the same step.")
        self._step_state.keys = None
        self._update_state(keys, ema=True)

    def enqueue(self, keys):
        """Writes the global batch's keys [B, head_dim] into the queue at the pointer
        (rows pointer .. pointer + B - 1, modulo K) and advances the pointer by B."""
        self._update_state(tf.convert_to_tensor(keys, tf.float32), ema=False)

    def _update_state(self, keys, ema):
        # One merge for all variables, as Keras's optimizers do: each device updates its
        # own copy with identical values, nothing is broadcast.
        pointer = tf.convert_to_tensor(self.queue_pointer)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._apply_updates, tf.distribute.get_strategy(), keys, pointer, ema
        )

    def _apply_updates(self, strategy, keys, pointer, ema):
        update = strategy.extended.update
        if ema:
            momentum = self.momentum
            for key_variable, query_variable in self._ema_pairs:
                update(
                    key_variable.value,
                    lambda k, q: k.assign(momentum * k + (1.0 - momentum) * tf.cast(q, k.dtype)),
                    args=(query_variable.value,),
                    group=False,
                )
        size = self.queue_size

        def write(queue, keys, pointer):
            rows = (pointer + tf.range(tf.shape(keys, out_type=tf.int64)[0])) % size
            return queue.scatter_update(tf.IndexedSlices(tf.cast(keys, queue.dtype), rows))

        def advance(variable, keys, pointer):
            return variable.assign((pointer + tf.shape(keys, out_type=tf.int64)[0]) % size)

        update(self.queue.value, write, args=(keys, pointer), group=False)
        update(self.queue_pointer.value, advance, args=(keys, pointer), group=False)

    # --- Keras plumbing --------------------------------------------------------------

    def call(self, images, training=False):
        """Backbone features f(images) (what the export serves)."""
        return self.backbone(images, training=training)

    def build_from_batch(self, batch):
        """Creates every variable from a global batch, copies f, g into f_ema, g_ema and
        freezes the latter (updated only by the EMA). Raises ValueError when the queue
        size is not a multiple of the global batch size."""
        global_batch = int(batch["x"].shape[0])
        if self.queue_size % global_batch:
            below = max(self.queue_size // global_batch, 1) * global_batch
            raise ValueError(
                f"model.queue_size={self.queue_size} is not divisible by the global batch "
                f"size {global_batch}: the MoCo queue takes whole batches. Choose a queue "
                f"size that is a multiple of {global_batch} (e.g. {below}) or another batch size."
            )
        if self.uses_subview and "x_sub" not in batch:
            raise ValueError(
                f"method {self.method!r} needs the subview x' in the batch key 'x_sub' "
                f"(the dataset gives {sorted(batch)}); set the dataset's subview or use 'infomin'."
            )
        sample = {name: tensor[:2] for name, tensor in batch.items()}
        features = self._features(self.backbone, sample["x"], False)
        self.head(features)
        if self.bo_head is not None:
            self.bo_head(features)
        if self.uses_subview:
            self._features(self.backbone, sample["x_sub"], False)
        self.key_head(self._features(self.key_backbone, sample["y"], False))
        query = self.backbone.weights + self.head.weights
        key = self.key_backbone.weights + self.key_head.weights
        if [tuple(v.shape) for v in query] != [tuple(v.shape) for v in key]:
            raise ValueError(
                "MoCoModel: key_backbone must have the architecture of backbone (its weights "
                "differ in number or shape)."
            )
        self._ema_pairs = []
        for key_variable, query_variable in zip(key, query):
            key_variable.assign(query_variable)
            if query_variable.trainable:
                self._ema_pairs.append((key_variable, query_variable))
            # Out of the optimizer's reach; the key BN layers still use batch statistics
            # in training mode (the layers stay trainable, only the variables do not).
            key_variable.trainable = False
        self._image_shape = tuple(int(size) for size in batch["x"].shape[1:])
        self.built = True

    def export_endpoints(self):
        """{"encoder": f}: backbone features (before the head) of images shaped like x."""
        return {"encoder": (self.backbone, [tf.TensorSpec([None, *self._image_shape], tf.float32, name="images")])}

    def get_config(self):
        return {
            **self._parts,
            "method": self.method,
            "head_hidden": self.head_hidden,
            "head_dim": self.head_dim,
            "queue_size": self.queue_size,
            "momentum": self.momentum,
            "temperature": self.temperature,
            "queue_seed": self.queue_seed,
        }
