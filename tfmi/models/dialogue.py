r"""GPT-2 dialogue models: language modelling plus MI between past and future
(Sordoni et al. 2021, Sec. 5.3, App. B), and the baselines of their Table 2.

A dialogue (x_1, ..., x_L) is split at k: past x = (x_1 .. x_k), future y = (x_{k+1} ..),
subview x' = x_k. Batches follow the contract of ``tfmi.data.dialogue`` (right-padded
int32 ids with masks and lengths): past_*, future_*, subview_*, lm_* (past ⊕ future,
``lm_target_mask[t] = 1`` where lm_ids[t + 1] is a scored future token), example_id and,
for "demi" (I_VAR), negative_ids / negative_mask [B, N, F]: futures sampled offline from
p_GPT2(y | x') by ``tools/sample_negatives.py``.

Critic (App. B.1): f(s) = the last-layer GPT-2 state at the last real token of s, run
on the past and on the future separately; phi(x, y) = f(x)^T f(y). Because GPT-2 is
causal and lm_ids starts with the past, f(x) is read off the LM pass at position
past_length - 1: the same number as a separate pass over the past (checked on the first
batch; without dropout it is exact), one forward pass saved.

``method`` and the loss (w = ``mi_weight``, 0.1 in App. B.3; LM = mean NLL of the
scored future tokens):

    "lm"               LM                                                (GPT2)
    "infonce"          LM - w I_NCE(x; y)                                (InfoNCE)
    "demi"             LM - w [I_NCE(x; y) + I_VAR(x; y | x')]           (DEMI, I_VAR)
    "demi_bo"          LM - w [I_NCE(x'; y) + I_BO(x; y | x')]           (DEMI, I_BO)
    "transfertransfo"  LM + nsp_weight CE(next-sentence head)            (Wolf et al. 2019)
    "backward"         LM of the past given the future, p(x | y)         (GPT2-MMI's scorer)

I_NCE(x; y): ``bounds.infonce`` on the [B, B] scores with the other B - 1 futures of the
global batch as negatives from p(y) (App. B.1: "the number of candidates N is equated to
the batch size"); ``unconditional="subview"`` uses f(x') instead of f(x), Eq. 5's
I_NCE(x'; y).

I_VAR(x; y | x') (Eq. 7, Prop. 2) with q_xi = GPT-2 conditioned on x' alone: the true
future among itself and N - 1 negatives y_k ~ q(y | x'), scored by the same critic
phi(x', x, y) = f(x)^T f(y) (x contains x'):

    I_VAR = E[ log e^{phi(y_1)} / (1/N sum_k e^{phi(y_k)}) ] - E[ KL(p(y|x') || q(y|x')) ].

The negatives are sampled offline from a frozen GPT-2 (the trained dialogue_gpt2 run),
so the KL term does not depend on any trained variable: it has no gradient and no
estimate (p(y | x') is unknown). The loss and the logged "mi_cond" are the contrastive
term, ``bounds.cnce`` on the offline negatives = I_VAR + KL: the paper's recipe (Sec. 4.1
detaches the contrastive term from q and fits q by maximum likelihood, which is what
the offline GPT-2 was trained by). Upper limit log N.

I_BO(x; y | x') (Eq. 10, Prop. 4): ``bounds.boosted`` with in-batch negatives from
p(y), phi = f(x)^T f(y) boosted by the stop-gradient psi = f(x')^T f(y), trained by the
I_NCE(x'; y) term; needs no offline negatives.

TransferTransfo: a linear next-sentence head on the last-token state of past ⊕ candidate,
the true future against ``num_distractors`` futures of other dialogues of the global
batch (row i takes the futures of rows i+1, ..., i+d mod B); the head's loss is weighted
by ``nsp_weight`` (0.5: the reference implementation's lm_coef 2 : mc_coef 1).

Under a multi-replica strategy each replica runs GPT-2 on its own rows; the small
tensors (NLL sums, token counts, f(x), f(y), conditional scores, head logits) are
gathered with ``distribute.gather_from_replicas``, whose gradient all-reduces, so the
loss and the gradients equal those of one device on the global batch.

Logged (trackers): loss, lm_loss, lm_nll_sum and lm_tokens (their ratio over many steps
is the token-level NLL, exp of it the perplexity), and per MI term its value (nats) and
accuracy (the true future scores highest; ties count as misses); the chance level of
each accuracy is logged once, at step 0 (``chance_*``).
"""

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds, distribute
from tfmi.encoders.gpt2 import build_gpt2, last_token_states, lm_logits
from tfmi.models.base import MIModel, as_dict, part_section

__all__ = ["DialogueModel", "METHODS", "concat_padded"]

METHODS = ("lm", "infonce", "demi", "demi_bo", "transfertransfo", "backward")
_UNCONDITIONAL = ("past", "subview")


def concat_padded(first, first_length, second, second_length):
    """Right-padded ``first[:l1] ⊕ second[:l2]`` per row.

    first [B, T1], second [B, T2] int ids; lengths [B]. Returns (ids [B, T1 + T2],
    mask [B, T1 + T2] bool, target_mask [B, T1 + T2] bool), target_mask[t] true where
    ids[t + 1] is a token of ``second`` (the positions whose next-token prediction
    scores log p(second | first)).
    """
    first, second = tf.convert_to_tensor(first), tf.convert_to_tensor(second)
    l1 = tf.cast(first_length, tf.int32)[:, None]
    l2 = tf.cast(second_length, tf.int32)[:, None]
    t1, t2 = tf.shape(first)[1], tf.shape(second)[1]
    positions = tf.range(t1 + t2)[None, :]
    in_first = positions < l1
    in_second = (positions >= l1) & (positions < l1 + l2)
    from_first = tf.gather(first, tf.broadcast_to(tf.minimum(positions, t1 - 1), [tf.shape(first)[0], t1 + t2]), batch_dims=1)
    from_second = tf.gather(second, tf.clip_by_value(positions - l1, 0, t2 - 1), batch_dims=1)
    ids = tf.where(in_first, from_first, tf.where(in_second, from_second, tf.zeros_like(from_first)))
    target = (positions >= l1 - 1) & (positions < l1 + l2 - 1)
    return ids, in_first | in_second, target


def _gathered(tensor):
    """``tensor`` of this replica's rows -> the global batch's (no gradient: ints, ids)."""
    return distribute.gather_from_replicas(tf.convert_to_tensor(tensor))


def _gather_rows(columns):
    """{name: float [b, k_name]} of this replica's rows -> {name: [B, k_name]} of the
    global batch, in ONE all-gather.

    One gather, not one per tensor: the gradient of each all-gather is itself a pair of
    collectives, and several of them can be traced in a different order on different
    replicas (the tape's order among independent ops is not fixed), which mismatches
    the collectives across devices.
    """
    names = sorted(columns)
    widths = [tf.shape(columns[name])[1] for name in names]
    packed = distribute.gather_from_replicas(tf.concat([tf.cast(columns[n], tf.float32) for n in names], axis=1))
    return dict(zip(names, tf.split(packed, tf.stack(widths), axis=1, num=len(names))))


def _row_offset(local_rows):
    """Index of this replica's first row in the global batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(context.replica_id_in_sync_group, tf.int32) * local_rows


def _build_backbone(section):
    """GPT-2 from ``build_gpt2``'s keyword arguments, or from its Keras serialisation
    (what ``get_config`` gives for a backbone passed built)."""
    if "class_name" in section:
        return keras.saving.deserialize_keras_object(section)
    return build_gpt2(**section)


def _accuracy(positive, negatives):
    """Fraction of rows whose positive beats every negative (ties are misses)."""
    return tf.reduce_mean(tf.cast(positive > tf.reduce_max(negatives, axis=1), tf.float32))


class DialogueModel(MIModel):
    """GPT-2 trained by one of ``METHODS`` on dialogue batches (see the module doc).

    Args (the fields of ``config.model``):
    backbone: a ``keras_hub.models.GPT2Backbone``, or the keyword arguments of
    ``tfmi.encoders.gpt2.build_gpt2`` that build one (preset, max_sequence_length, ...).
    mi_weight: w of the MI terms. unconditional: "past" (I_NCE(x; y), App. B.1) or
    "subview" (I_NCE(x'; y), Eq. 5) for the unconditional term of "demi".
    num_distractors, nsp_weight: TransferTransfo's head.
    """

    def __init__(
        self,
        backbone,
        method="lm",
        mi_weight=0.1,
        unconditional="past",
        num_distractors=1,
        nsp_weight=0.5,
        **kwargs,
    ):
        if method not in METHODS:
            raise ValueError(f"Unknown dialogue method {method!r}; choose one of {list(METHODS)}.")
        if unconditional not in _UNCONDITIONAL:
            raise ValueError(
                f"unconditional={unconditional!r}; choose 'past' (I_NCE(x; y)) or 'subview' (I_NCE(x'; y))."
            )
        if method == "transfertransfo" and num_distractors < 1:
            raise ValueError(f"num_distractors must be >= 1 for TransferTransfo, got {num_distractors}.")
        names = ["loss", "lm_loss", "lm_nll_sum", "lm_tokens"]
        if method in ("infonce", "demi"):
            names += ["mi_nce", "acc_nce"]
        if method == "demi":
            names += ["mi_cond", "acc_cond", "mi"]
        if method == "demi_bo":
            names += ["mi_nce_subview", "acc_nce_subview", "mi_bo", "acc_bo", "mi"]
        if method == "transfertransfo":
            names += ["nsp_loss", "acc_nsp"]
        super().__init__(names, **kwargs)
        self.backbone = backbone if isinstance(backbone, keras.Model) else _build_backbone(as_dict(backbone))
        self._keep_sections(backbone=part_section(backbone, self.backbone))
        self.method = method
        self.mi_weight = float(mi_weight)
        self.unconditional = unconditional
        self.num_distractors = int(num_distractors)
        self.nsp_weight = float(nsp_weight)
        if method == "transfertransfo":
            self.nsp_head = keras.layers.Dense(1, name="nsp_head")
        self._chance = {}

    # --- building blocks --------------------------------------------------------------

    def states(self, token_ids, padding_mask, training=False):
        """Last-layer GPT-2 states [B, T, D] of right-padded ids."""
        return self.backbone(
            {"token_ids": tf.convert_to_tensor(token_ids), "padding_mask": tf.cast(padding_mask, "int32")},
            training=training,
        )

    def represent(self, token_ids, padding_mask, length, training=False):
        """f(s): the last-layer state at the last real token of each row: [B, D]."""
        return last_token_states(self.states(token_ids, padding_mask, training), length)

    def logits(self, states):
        """Tied LM logits: states [..., D] -> [..., V]."""
        return lm_logits(self.backbone, states)

    def token_nll(self, states, token_ids, target_mask):
        """NLL of the scored next tokens per row: (sums [B], counts [B]).

        Only the positions of ``states[:, :-1]`` where ``target_mask`` is set go through
        the vocabulary projection (a [B, T, V] logit tensor would not fit GPT-2's 50k
        words).
        """
        scored = tf.cast(target_mask[:, :-1], tf.bool)
        rows = tf.cast(tf.where(scored)[:, 0], tf.int32)
        hidden = tf.boolean_mask(states[:, :-1], scored)
        labels = tf.boolean_mask(token_ids[:, 1:], scored)
        logits = tf.cast(self.logits(hidden), tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)
        num_rows = tf.shape(token_ids)[0]
        sums = tf.math.unsorted_segment_sum(nll, rows, num_rows)
        counts = tf.math.unsorted_segment_sum(tf.ones_like(nll), rows, num_rows)
        return sums, counts

    def sequence_log_prob(self, first, first_length, second, second_length):
        """log p(second | first) summed over the tokens of ``second``, per row [B]
        (no dropout): the forward model scores p(y | x), the backward model p(x | y)."""
        ids, mask, target = concat_padded(first, first_length, second, second_length)
        states = self.states(ids, mask, training=False)
        nll_sums, _ = self.token_nll(states, ids, target)
        return -nll_sums

    def _lm_batch(self, batch):
        """(ids, mask, target_mask) of the sequence the LM is trained on."""
        if self.method == "backward":
            return concat_padded(
                batch["future_ids"], batch["future_length"], batch["past_ids"], batch["past_length"]
            )
        return batch["lm_ids"], batch["lm_mask"], batch["lm_target_mask"]

    # --- the objective ----------------------------------------------------------------

    def forward(self, batch, training=False):
        # Each replica runs GPT-2 on its own rows and reduces them to a few numbers per
        # row (columns); one all-gather makes them the global batch's.
        ids, mask, target = self._lm_batch(batch)
        lm_states = self.states(ids, mask, training)
        nll_sums, token_counts = self.token_nll(lm_states, ids, target)
        columns = {"nll": nll_sums[:, None], "tokens": token_counts[:, None]}
        if self.method in ("infonce", "demi", "demi_bo"):
            columns.update(self._mi_columns(batch, lm_states, training))
        elif self.method == "transfertransfo":
            columns.update(self._nsp_columns(batch, lm_states, training))
        rows = _gather_rows(columns)

        nll_sum, tokens = tf.reduce_sum(rows["nll"]), tf.reduce_sum(rows["tokens"])
        lm_loss = nll_sum / tf.maximum(tokens, 1.0)
        outputs = {"lm_loss": lm_loss, "lm_nll_sum": nll_sum, "lm_tokens": tokens}
        objective = 0.0  # maximised: the MI terms times mi_weight, or minus the head's loss
        if self.method in ("infonce", "demi", "demi_bo"):
            objective = self._mi_terms(rows, outputs)
        elif self.method == "transfertransfo":
            objective = -self.nsp_weight * self._nsp_term(rows, outputs)
        outputs["loss"] = lm_loss - objective
        return {k: v if k == "loss" else tf.stop_gradient(v) for k, v in outputs.items()}

    def _mi_columns(self, batch, lm_states, training):
        """This replica's f(x), f(y) (and f(x')), and for "demi" the conditional scores
        of I_VAR on the offline negatives."""
        columns = {
            # f(x) read off the LM pass over past ⊕ future (see the module doc)
            "fx": last_token_states(lm_states, batch["past_length"]),
            "fy": self.represent(batch["future_ids"], batch["future_mask"], batch["future_length"], training),
        }
        if self.method == "demi_bo" or self.unconditional == "subview":
            columns["fxs"] = self.represent(
                batch["subview_ids"], batch["subview_mask"], batch["subview_length"], training
            )
        if self.method != "demi":
            return columns
        if "negative_ids" not in batch:
            raise ValueError(
                "method 'demi' needs futures sampled from p_GPT2(y | x') in the batches "
                "(negative_ids): run tools/sample_negatives.py and set config.data."
                "negatives_path, or use method 'demi_bo', which needs none."
            )
        negative_ids, negative_mask = batch["negative_ids"], batch["negative_mask"]
        shape = tf.shape(negative_ids)
        rows, count, width = shape[0], shape[1], shape[2]
        flat_mask = tf.reshape(negative_mask, [rows * count, width])
        negative_repr = self.represent(
            tf.reshape(negative_ids, [rows * count, width]),
            flat_mask,
            tf.reduce_sum(tf.cast(flat_mask, tf.int32), axis=1),
            training,
        )
        negative_repr = tf.reshape(negative_repr, [rows, count, -1])
        fx, fy = columns["fx"], columns["fy"]
        columns["cond_pos"] = tf.reduce_sum(fx * fy, axis=-1, keepdims=True)  # phi(x', x, y_1)
        columns["cond_neg"] = tf.einsum("bd,bkd->bk", fx, negative_repr)  # phi(x', x, y_k)
        return columns

    def _mi_terms(self, rows, outputs):
        """The MI terms of the global batch (times mi_weight); fills ``outputs``."""
        fy = rows["fy"]
        if self.method == "demi_bo":
            psi = tf.matmul(rows["fxs"], fy, transpose_b=True)  # [B, B] f(x')^T f(y)
            phi = tf.matmul(rows["fx"], fy, transpose_b=True)  # [B, B] f(x)^T f(y)
            psi_pos, psi_neg = bounds.split_scores(psi)
            phi_pos, phi_neg = bounds.split_scores(phi)
            nce_subview = bounds.infonce(psi)
            boosted = bounds.boosted(phi_pos, phi_neg, tf.stop_gradient(psi_pos), tf.stop_gradient(psi_neg))
            outputs.update(
                mi_nce_subview=nce_subview,
                acc_nce_subview=_accuracy(psi_pos, psi_neg),
                mi_bo=boosted,
                acc_bo=_accuracy(phi_pos + psi_pos, phi_neg + psi_neg),
                mi=nce_subview + boosted,
            )
            return self.mi_weight * (nce_subview + boosted)
        unconditional = rows["fxs"] if self.unconditional == "subview" else rows["fx"]
        scores = tf.matmul(unconditional, fy, transpose_b=True)
        positive, negatives = bounds.split_scores(scores)
        nce = bounds.infonce(scores)
        outputs.update(mi_nce=nce, acc_nce=_accuracy(positive, negatives))
        if self.method == "infonce":
            return self.mi_weight * nce
        cond_positive, cond_negatives = rows["cond_pos"][:, 0], rows["cond_neg"]
        conditional = bounds.cnce(cond_positive, cond_negatives)
        outputs.update(
            mi_cond=conditional,
            acc_cond=_accuracy(cond_positive, cond_negatives),
            mi=nce + conditional,
        )
        return self.mi_weight * (nce + conditional)

    def _nsp_columns(self, batch, lm_states, training):
        """Head logits of this replica's rows: the true future (column 0), then the
        futures of the next ``num_distractors`` rows of the global batch."""
        lm_length = tf.reduce_sum(tf.cast(batch["lm_mask"], tf.int32), axis=1)
        logits = [self.nsp_head(last_token_states(lm_states, lm_length))[:, 0]]
        future_ids, future_length = _gathered(batch["future_ids"]), _gathered(batch["future_length"])
        local_rows = tf.shape(batch["past_ids"])[0]
        global_rows = tf.shape(future_ids)[0]
        rows = _row_offset(local_rows) + tf.range(local_rows)
        for shift in range(1, self.num_distractors + 1):
            other = tf.math.floormod(rows + shift, global_rows)
            ids, mask, _ = concat_padded(
                batch["past_ids"], batch["past_length"],
                tf.gather(future_ids, other), tf.gather(future_length, other),
            )
            states = self.states(ids, mask, training)
            length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
            logits.append(self.nsp_head(last_token_states(states, length))[:, 0])
        return {"nsp": tf.stack(logits, axis=1)}

    def _nsp_term(self, rows, outputs):
        """Cross-entropy of the next-sentence head over the global batch."""
        logits = rows["nsp"]
        nsp_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.zeros(tf.shape(logits)[:1], tf.int32), logits=logits
        ))
        outputs.update(nsp_loss=nsp_loss, acc_nsp=_accuracy(logits[:, 0], logits[:, 1:]))
        return nsp_loss

    # --- trainer hooks ----------------------------------------------------------------

    def call(self, inputs, training=False):
        """Last-layer states of {"token_ids", "padding_mask"}."""
        return self.states(inputs["token_ids"], inputs["padding_mask"], training)

    def build_from_batch(self, batch):
        """Creates the variables on one (global, eager) batch and checks the batch
        against the model: sequence lengths within GPT-2's positions, the past a prefix
        of lm_ids, the offline negatives of I_VAR ("demi")."""
        max_positions = int(self.backbone.max_sequence_length)
        ids, mask, target = self._lm_batch(batch)
        if int(ids.shape[1]) > max_positions:
            raise ValueError(
                f"LM sequences of {int(ids.shape[1])} tokens exceed the backbone's "
                f"max_sequence_length={max_positions}: raise model.backbone.max_sequence_length "
                "or lower data.max_past_tokens / data.max_future_tokens."
            )
        past_length = np.asarray(batch["past_length"])
        if self.method != "backward":
            lm_ids, past_ids = np.asarray(batch["lm_ids"]), np.asarray(batch["past_ids"])
            for row, length in enumerate(past_length):
                if not np.array_equal(lm_ids[row, :length], past_ids[row, :length]):
                    raise ValueError(
                        "lm_ids must start with the past (lm_ids = past ⊕ future); row "
                        f"{row} differs. The batch does not follow tfmi.data.dialogue's contract."
                    )
        if self.method == "demi" and "negative_ids" not in batch:
            raise ValueError(
                "method 'demi' needs futures sampled from p_GPT2(y | x'): run "
                "tools/sample_negatives.py and set config.data.negatives_path."
            )
        self.states(ids, mask)
        if self.method == "transfertransfo":
            self.nsp_head.build((None, int(self.backbone.hidden_dim)))
        self.built = True
        global_rows = int(batch["past_ids"].shape[0])
        if self.method in ("infonce", "demi"):
            self._chance["chance_nce"] = 1.0 / global_rows
        if self.method == "demi":
            self._chance["chance_cond"] = 1.0 / (int(batch["negative_ids"].shape[1]) + 1)
        if self.method == "demi_bo":
            self._chance["chance_nce_subview"] = self._chance["chance_bo"] = 1.0 / global_rows
        if self.method == "transfertransfo":
            self._chance["chance_nsp"] = 1.0 / (self.num_distractors + 1)

    def periodic_metrics(self, step):
        """The chance level of each accuracy, once (step 0)."""
        return dict(self._chance) if step == 0 else {}

    def export_endpoints(self):
        """"backbone": (token_ids, padding_mask) -> last-layer states [B, T, D];
        "lm": the same inputs -> next-token logits [B, T, V]."""
        signature = [
            tf.TensorSpec([None, None], tf.int32, name="token_ids"),
            tf.TensorSpec([None, None], tf.int32, name="padding_mask"),
        ]

        @tf.function
        def backbone(token_ids, padding_mask):
            return self.states(token_ids, padding_mask)

        @tf.function
        def lm(token_ids, padding_mask):
            return self.logits(self.states(token_ids, padding_mask))

        return {"backbone": (backbone, signature), "lm": (lm, signature)}

    def get_config(self):
        return {
            **self._parts,
            "method": self.method,
            "mi_weight": self.mi_weight,
            "unconditional": self.unconditional,
            "num_distractors": self.num_distractors,
            "nsp_weight": self.nsp_weight,
        }

