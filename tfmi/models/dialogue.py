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

``method`` picks the training method: "lm" (GPT2), "infonce", "demi" (I_VAR), "demi_bo"
(I_BO), "transfertransfo" or "backward" (p(x | y), GPT2-MMI's scorer). Each is an object
of ``tfmi.models.dialogue_objectives`` (the losses and their math are there): the model
runs GPT-2 and gathers, the objective says what to read off the rows and what to add to
the LM loss.

Under a multi-replica strategy each replica runs GPT-2 on its own rows; the small
tensors (NLL sums, token counts, f(x), f(y), conditional scores, head logits) are
gathered with ``distribute.gather_from_replicas``, whose gradient all-reduces, so the
loss and the gradients equal those of one device on the global batch.

Logged (trackers): loss, lm_loss, lm_nll_sum and lm_tokens (their ratio over many steps
is the token-level NLL, exp of it the perplexity), and the objective's own values.
"""

import keras
import tensorflow as tf

from tfmi import distribute
from tfmi.encoders.gpt2 import build_gpt2, concat_padded, last_token_states, lm_logits
from tfmi.models.base import MIModel, as_dict, part_section
from tfmi.models.dialogue_objectives import OBJECTIVES, build_objective

__all__ = ["DialogueModel", "METHODS"]

METHODS = tuple(OBJECTIVES)
_UNCONDITIONAL = ("past", "subview")


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


def _build_backbone(section):
    """GPT-2 from ``build_gpt2``'s keyword arguments, or from its Keras serialisation
    (what ``get_config`` gives for a backbone passed built)."""
    if "class_name" in section:
        return keras.saving.deserialize_keras_object(section)
    return build_gpt2(**section)


class DialogueModel(MIModel):
    """GPT-2 trained by one of ``METHODS`` on dialogue batches (see the module doc).

    Args (the fields of ``config.model``):
    backbone: a ``keras_hub.models.GPT2Backbone``, or the keyword arguments of
    ``tfmi.encoders.gpt2.build_gpt2`` that build one (preset, max_sequence_length, ...).
    method: the training method, a key of ``dialogue_objectives.OBJECTIVES``.
    mi_weight: w of the MI terms. unconditional: "past" (I_NCE(x; y), App. B.1) or
    "subview" (I_NCE(x'; y), Eq. 5) for the unconditional term of "infonce" and "demi".
    num_distractors, nsp_weight: TransferTransfo's head.
    Each method takes the fields it uses (``objective``); the others are kept for the config.
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
        if unconditional not in _UNCONDITIONAL:
            raise ValueError(
                f"unconditional={unconditional!r}; choose 'past' (I_NCE(x; y)) or 'subview' (I_NCE(x'; y))."
            )
        objective = build_objective(
            method, mi_weight=mi_weight, unconditional=unconditional,
            num_distractors=num_distractors, nsp_weight=nsp_weight,
        )
        super().__init__(["loss", "lm_loss", "lm_nll_sum", "lm_tokens", *objective.metric_names], **kwargs)
        # A plain object, kept out of Keras's tracking; its layers are the model's own attributes.
        object.__setattr__(self, "objective", objective)
        self.backbone = backbone if isinstance(backbone, keras.Model) else _build_backbone(as_dict(backbone))
        self._keep_sections(backbone=part_section(backbone, self.backbone))
        self.mi_weight = float(mi_weight)
        self.unconditional = unconditional
        self.num_distractors = int(num_distractors)
        self.nsp_weight = float(nsp_weight)
        for name, layer in objective.layers().items():
            setattr(self, name, layer)
        self._chance = {}

    @property
    def method(self):
        """The training method's name (a key of ``OBJECTIVES``)."""
        return self.objective.name

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

    # --- the objective ----------------------------------------------------------------

    def forward(self, batch, training=False):
        # Each replica runs GPT-2 on its own rows and reduces them to a few numbers per
        # row (columns); one all-gather makes them the global batch's.
        ids, mask, target = self.objective.lm_sequences(batch)
        lm_states = self.states(ids, mask, training)
        nll_sums, token_counts = self.token_nll(lm_states, ids, target)
        columns = {"nll": nll_sums[:, None], "tokens": token_counts[:, None]}
        columns.update(self.objective.columns(self, batch, lm_states, training))
        rows = _gather_rows(columns)

        nll_sum, tokens = tf.reduce_sum(rows["nll"]), tf.reduce_sum(rows["tokens"])
        lm_loss = nll_sum / tf.maximum(tokens, 1.0)
        outputs = {"lm_loss": lm_loss, "lm_nll_sum": nll_sum, "lm_tokens": tokens}
        objective = self.objective.objective(rows, outputs)  # maximised, beside -LM
        outputs["loss"] = lm_loss - objective
        return {k: v if k == "loss" else tf.stop_gradient(v) for k, v in outputs.items()}

    # --- trainer hooks ----------------------------------------------------------------

    def call(self, inputs, training=False):
        """Last-layer states of {"token_ids", "padding_mask"}."""
        return self.states(inputs["token_ids"], inputs["padding_mask"], training)

    def build_from_batch(self, batch):
        """Creates the variables on one (global, eager) batch and checks the batch
        against the model: sequence lengths within GPT-2's positions, and what the
        objective needs (the past a prefix of lm_ids, the offline negatives of "demi")."""
        max_positions = int(self.backbone.max_sequence_length)
        ids, mask, _ = self.objective.lm_sequences(batch)
        if int(ids.shape[1]) > max_positions:
            raise ValueError(
                f"LM sequences of {int(ids.shape[1])} tokens exceed the backbone's "
                f"max_sequence_length={max_positions}: raise model.backbone.max_sequence_length "
                "or lower data.max_past_tokens / data.max_future_tokens."
            )
        self.objective.check_batch(batch)
        self.states(ids, mask)
        self.objective.build_layers(self)
        self.built = True
        self._chance.update(self.objective.chance_levels(batch))

    def build_for_inference(self):
        """Creates the variables without a data batch (to restore a trained run)."""
        ids = tf.ones([1, 2], tf.int32)
        self.states(ids, tf.ones_like(ids))
        self.objective.build_layers(self)
        self.built = True
        return self

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

