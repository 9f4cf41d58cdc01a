"""SimCLR (Chen et al. 2020) and SimCLR + DEMI (Sordoni et al. 2021, Sec. 5.2.2, Listing 1).

Batches are dicts of GLOBAL-batch tensors split over replicas by the trainer:
"x", "y" [B, H, W, 3] float32 in [0, 1] (two augmented views of each image), "label"
[B] int32, and for "simclr_demi" "x_sub" [B, s, s, 3], the subview x' of x.

f is the backbone (a ResNet, features h), g the projection head (z = g(h), 128-d),
and the critic the cosine similarity at temperature tau (``tfmi.critics.Cosine``).
Each replica encodes its own images; the projections are gathered across replicas
(``tfmi.distribute.gather_from_replicas``) so every anchor is contrasted with the whole
global batch, and with synchronised batch norm a run on R replicas gives the loss of
one device on the same global batch.

Methods:

    "simclr"       NT-Xent: for each of the 2N views, the positive is its partner and
                   the 2N - 2 other views are negatives,
                   loss = 1/(2N) sum_k -log softmax_{c != k}(cos(z_k, z_c) / tau)[partner(k)]
    "simclr_demi"  Listing 1 with in-batch candidates: anchors x_i (head g) and x'_i
                   (head g), BO anchors x_i and x'_i (second head g_bo), candidates the
                   2N projections [y_1..y_N, x_1..x_N] of g, the anchor's own x_i masked
                   (2N - 2 negatives per anchor, as NT-Xent),
                   loss = nce_x_y + nce_xp_y + bo_x_xp + bo_xp_x
                   (``tfmi.bounds.demi_listing1_loss``; the BO terms add the detached
                   unconditional logits to the BO head's logits).

Logged: "loss", "nt_xent", "contrastive_acc" (the positive scores highest) and for
"simclr_demi" the four Listing-1 terms. With ``num_classes`` > 0 a linear probe on
the detached features of x learns the labels beside ("probe_loss", "probe_acc"); its
gradient never reaches the backbone.
"""

import keras
import tensorflow as tf

from tfmi import bounds, critics, distribute
from tfmi import encoders as encoders_lib
from tfmi.layers import ProjectionHead
from tfmi.models.base import MIModel, build_part, part_section

__all__ = ["SimCLRModel", "SIMCLR_METHODS", "nt_xent"]

SIMCLR_METHODS = ("simclr", "simclr_demi")
# Score of a masked candidate: drops out of every softmax, stays finite when summed.
_MASKED = -1e9


def nt_xent(z_x, z_y, temperature=0.5):
    """SimCLR's NT-Xent loss (Chen et al. 2020, Eq. 1) of N pairs (z_x[i], z_y[i]).

    With u = z / |z| and s(a, b) = u_a . u_b / tau over the 2N views, for anchor k
    with partner p(k): l_k = -log( e^{s(k, p(k))} / sum_{c != k} e^{s(k, c)} ), and
    loss = 1/(2N) sum_k l_k (2N - 1 candidates, 2N - 2 negatives per anchor).
    Returns (loss, accuracy), accuracy the share of anchors whose partner scores highest.
    """
    z_x = tf.math.l2_normalize(tf.cast(z_x, tf.float32), axis=-1)
    z_y = tf.math.l2_normalize(tf.cast(z_y, tf.float32), axis=-1)
    n = tf.shape(z_x)[0]
    self_mask = tf.eye(n) * _MASKED
    s_xy = tf.matmul(z_x, z_y, transpose_b=True) / temperature
    s_xx = tf.matmul(z_x, z_x, transpose_b=True) / temperature + self_mask
    s_yy = tf.matmul(z_y, z_y, transpose_b=True) / temperature + self_mask
    logits = tf.concat([tf.concat([s_xy, s_xx], 1), tf.concat([tf.transpose(s_xy), s_yy], 1)], 0)
    labels = tf.tile(tf.range(n), [2])
    loss = bounds.contrastive_cross_entropy(logits, labels)
    accuracy = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels), tf.float32))
    return loss, accuracy


class SimCLRModel(MIModel):
    """Backbone f + projection head g (+ BO head g_bo for "simclr_demi") trained with
    ``method`` (one of ``SIMCLR_METHODS``) at cosine temperature ``temperature``.

    ``backbone``: an image encoder of ``tfmi.encoders`` as a config block
    {"name": "resnet", ...} or built; ``proj_dim``: width of z (128); ``proj_hidden``: hidden
    width of the head (None: the feature width, SimCLR v1); ``proj_layers``: hidden layers of the head;
    ``synchronized_bn``: cross-replica batch norm in the heads (the backbone's is set
    where it is built); ``num_classes``: classes of the linear probe (0: none).
    """

    def __init__(self, backbone, method="simclr", temperature=0.5, proj_dim=128, proj_hidden=None,
                 proj_layers=1, synchronized_bn=True, num_classes=0, **kwargs):
        if method not in SIMCLR_METHODS:
            raise ValueError(f"Unknown SimCLR method {method!r}; choose one of {list(SIMCLR_METHODS)}.")
        if not temperature > 0:
            raise ValueError(f"SimCLR: temperature must be positive, got {temperature}.")
        names = ["loss", "nt_xent", "contrastive_acc"]
        if method == "simclr_demi":
            names += ["nce_x_y", "nce_xp_y", "bo_x_xp", "bo_xp_x"]
        if num_classes:
            names += ["probe_loss", "probe_acc"]
        super().__init__(names, **kwargs)
        self.backbone = build_part(backbone, encoders_lib.get, "backbone")
        self._keep_sections(backbone=part_section(backbone, self.backbone))
        backbone = self.backbone
        self.method = method
        self.temperature = temperature
        self.num_classes = num_classes
        self.proj_dim, self.proj_hidden, self.proj_layers = proj_dim, proj_hidden, proj_layers
        self.synchronized_bn = synchronized_bn
        feature_dim = int(backbone.outputs[0].shape[-1])
        head = dict(output_dim=proj_dim, hidden_dim=proj_hidden, num_hidden=proj_layers,
                    synchronized_bn=synchronized_bn, input_dim=feature_dim)
        self.head = ProjectionHead(name="head", **head)
        self.bo_head = ProjectionHead(name="bo_head", **head) if method == "simclr_demi" else None
        # float32 under mixed precision too: the losses are computed in float32.
        self.critic = critics.Cosine(temperature, name="critic", dtype="float32")
        self.probe = keras.layers.Dense(num_classes, name="probe") if num_classes else None
        self._image_shape = None

    def _project(self, head, features, training):
        return tf.cast(head(features, training=training), tf.float32)

    def _listing1_terms(self, z_x, z_xp, z_y, q_bo_x, q_bo_xp):
        """Listing 1 on the global batch: candidates [y_1..y_N, x_1..x_N], own x masked."""
        n = tf.shape(z_x)[0]
        candidates = tf.concat([z_y, z_x], axis=0)
        own_view = tf.concat([tf.zeros([n, n]), tf.eye(n) * _MASKED], axis=1)
        scores = [self.critic(anchor, candidates) + own_view for anchor in (z_x, z_xp, q_bo_x, q_bo_xp)]
        return bounds.demi_listing1_loss(*scores, labels=tf.range(n))

    def forward(self, batch, training=False):
        gather = distribute.gather_from_replicas
        x, y = batch["x"], batch["y"]
        local = tf.shape(x)[0]
        # One backbone call on both views: batch norm sees the 2N images together.
        features = self.backbone(tf.concat([x, y], axis=0), training=training)
        z = self._project(self.head, features, training)
        z_x, z_y = gather(z[:local]), gather(z[local:])
        contrastive, accuracy = nt_xent(z_x, z_y, self.temperature)
        outputs = {"nt_xent": contrastive, "contrastive_acc": accuracy}
        if self.method == "simclr":
            loss = contrastive
        else:
            if "x_sub" not in batch:
                raise ValueError(
                    "method 'simclr_demi' needs the subview x' of x: batches must hold 'x_sub' "
                    "(set the dataset's subview option, e.g. data.subview='crop')."
                )
            sub_features = self.backbone(batch["x_sub"], training=training)
            z_xp = gather(self._project(self.head, sub_features, training))
            q_bo = self._project(self.bo_head, tf.concat([features[:local], sub_features], 0), training)
            terms = self._listing1_terms(z_x, z_xp, z_y, gather(q_bo[:local]), gather(q_bo[local:]))
            loss = terms.pop("loss")
            outputs.update(terms)
        if self.probe is not None:
            logits = gather(tf.cast(self.probe(tf.stop_gradient(features[:local])), tf.float32))
            labels = gather(tf.cast(batch["label"], tf.int32))
            probe_loss = tf.reduce_mean(
                tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
            )
            predicted = tf.argmax(logits, axis=1, output_type=tf.int32)
            outputs["probe_loss"] = probe_loss
            outputs["probe_acc"] = tf.reduce_mean(tf.cast(tf.equal(predicted, labels), tf.float32))
            loss = loss + probe_loss
        outputs = {name: tf.stop_gradient(value) for name, value in outputs.items()}
        outputs["loss"] = loss
        return outputs

    def call(self, images, training=False):
        return self.backbone(images, training=training)

    def build_from_batch(self, batch):
        """Creates every variable by running the backbone and heads once on ``batch``."""
        features = self.backbone(batch["x"][:2], training=False)
        self.head(features)
        if self.bo_head is not None:
            self.bo_head(features)
        if self.probe is not None:
            self.probe(features)
        self._image_shape = tuple(int(d) for d in batch["x"].shape[1:])
        self.built = True

    def export_endpoints(self):
        """{"encoder": the backbone's features h (before the head) of float32 images in [0, 1]}."""
        if self._image_shape is None:
            raise ValueError("SimCLRModel: call build_from_batch(batch) before exporting.")
        encoder = self.backbone
        if encoder.compute_dtype != "float32":  # mixed precision: serve float32 features
            inputs = keras.Input(self._image_shape, name="images")
            outputs = keras.layers.Activation("linear", dtype="float32", name="features")(encoder(inputs))
            encoder = keras.Model(inputs, outputs, name="encoder")
        return {"encoder": (encoder, [tf.TensorSpec([None, *self._image_shape], tf.float32, name="images")])}

    def get_config(self):
        return {
            **self._parts,
            "method": self.method,
            "temperature": self.temperature,
            "proj_dim": self.proj_dim,
            "proj_hidden": self.proj_hidden,
            "proj_layers": self.proj_layers,
            "synchronized_bn": self.synchronized_bn,
            "num_classes": self.num_classes,
        }
