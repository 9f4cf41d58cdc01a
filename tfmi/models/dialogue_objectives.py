r"""The training methods of ``DialogueModel``: what each adds to language modelling.

One object per method holds all that the method decides: the sequence its LM is
trained on, the numbers it reads off each replica's rows ("columns"), its terms of the
loss on the gathered global batch, the names it logs, the chance level of its
accuracies, its extra layers and the batch fields it needs. The model runs GPT-2 and
gathers; it never asks which method it is.

``OBJECTIVES[method]`` and the loss (w = ``mi_weight``, 0.1 in App. B.3; LM = mean NLL
of the scored future tokens):

    "lm"               LM                                                (GPT2)
    "infonce"          LM - w I_NCE(x; y)                                (InfoNCE)
    "demi"             LM - w [I_NCE(x; y) + I_VAR(x; y | x')]           (DEMI, I_VAR)
    "demi_bo"          LM - w [I_NCE(x'; y) + I_BO(x; y | x')]           (DEMI, I_BO)
    "transfertransfo"  LM + nsp_weight CE(next-sentence head)            (Wolf et al. 2019)
    "backward"         LM of the past given the future, p(x | y)         (GPT2-MMI's scorer)

The critic (App. B.1) is phi(x, y) = f(x)^T f(y), f(s) the last-layer GPT-2 state at the
last real token of s (``DialogueModel.represent``); f(x) is read off the LM pass over
past ⊕ future at position past_length - 1 (GPT-2 is causal).

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

Logged per MI term: its value (nats) and accuracy (the true future scores highest; ties
count as misses), and once, at step 0, the chance level of each accuracy (``chance_*``).
"""

import keras
import numpy as np
import tensorflow as tf

from tfmi import bounds, distribute
from tfmi.config_utils import field_names
from tfmi.encoders.gpt2 import concat_padded, last_token_states

__all__ = [
    "OBJECTIVES",
    "LanguageModelling",
    "Backward",
    "InfoNCE",
    "Demi",
    "DemiBoosted",
    "TransferTransfo",
    "build_objective",
]


def _accuracy(positive, negatives):
    """Fraction of rows whose positive beats every negative (ties are misses)."""
    return tf.reduce_mean(tf.cast(positive > tf.reduce_max(negatives, axis=1), tf.float32))


def _gathered(tensor):
    """``tensor`` of this replica's rows -> the global batch's (no gradient: ints, ids)."""
    return distribute.gather_from_replicas(tf.convert_to_tensor(tensor))


def _row_offset(local_rows):
    """Index of this replica's first row in the global batch."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tf.constant(0, tf.int32)
    return tf.cast(context.replica_id_in_sync_group, tf.int32) * local_rows


class LanguageModelling:
    """"lm": the LM of the future given the past alone (the GPT2 row); the base of the
    others, whose hooks add nothing here."""

    name = "lm"
    metric_names = ()
    # The model continues a past with a response; the backward model scores pasts instead.
    generates_responses = True

    def lm_sequences(self, batch):
        """(ids, mask, target_mask) of the sequence the LM is trained on: past ⊕ future."""
        return batch["lm_ids"], batch["lm_mask"], batch["lm_target_mask"]

    def check_batch(self, batch):
        """Raises ValueError when the (eager, global) batch lacks what the method needs."""
        lm_ids, past_ids = np.asarray(batch["lm_ids"]), np.asarray(batch["past_ids"])
        for row, length in enumerate(np.asarray(batch["past_length"])):
            if not np.array_equal(lm_ids[row, :length], past_ids[row, :length]):
                raise ValueError(
                    "lm_ids must start with the past (lm_ids = past ⊕ future); row "
                    f"{row} differs. The batch does not follow tfmi.data.dialogue's contract."
                )

    def layers(self):
        """{model attribute: Keras layer} the method adds to the model (none here)."""
        return {}

    def build_layers(self, model):
        """Creates the variables of ``layers()`` on ``model``."""
        return None

    def columns(self, model, batch, lm_states, training):
        """{name: float [b, k]} of this replica's b rows that the loss needs; the model
        gathers them into the global batch's ``rows``."""
        return {}

    def objective(self, rows, outputs):
        """What the method adds to -LM (maximised), from the global batch's ``rows``;
        puts the values it logs into ``outputs``."""
        return 0.0

    def chance_levels(self, batch):
        """{chance_*: the accuracy of a critic that guesses} on the global ``batch``."""
        return {}


class Backward(LanguageModelling):
    """"backward": the LM of the past given the future, p(x | y) (GPT2-MMI's reranker)."""

    name = "backward"
    generates_responses = False

    def lm_sequences(self, batch):
        """future ⊕ past, the past's tokens scored."""
        return concat_padded(batch["future_ids"], batch["future_length"], batch["past_ids"], batch["past_length"])

    def check_batch(self, batch):
        """The backward LM builds its own sequences: nothing to check."""
        return None


class InfoNCE(LanguageModelling):
    """"infonce": LM - w I_NCE(x; y), or I_NCE(x'; y) with ``unconditional="subview"``."""

    name = "infonce"
    metric_names = ("mi_nce", "acc_nce")

    def __init__(self, mi_weight, unconditional):
        self.mi_weight = float(mi_weight)
        self.unconditional = unconditional

    def needs_subview(self):
        """Whether the loss reads f(x') of the subview."""
        return self.unconditional == "subview"

    def columns(self, model, batch, lm_states, training):
        """f(x) read off the LM pass over past ⊕ future, f(y) (and f(x'))."""
        columns = {
            "fx": last_token_states(lm_states, batch["past_length"]),
            "fy": model.represent(batch["future_ids"], batch["future_mask"], batch["future_length"], training),
        }
        if self.needs_subview():
            columns["fxs"] = model.represent(
                batch["subview_ids"], batch["subview_mask"], batch["subview_length"], training
            )
        return columns

    def unconditional_term(self, rows, outputs):
        """I_NCE of f(x) (or f(x')) against the futures of the global batch."""
        unconditional = rows["fxs"] if self.needs_subview() else rows["fx"]
        scores = tf.matmul(unconditional, rows["fy"], transpose_b=True)
        positive, negatives = bounds.split_scores(scores)
        nce = bounds.infonce(scores)
        outputs.update(mi_nce=nce, acc_nce=_accuracy(positive, negatives))
        return nce

    def objective(self, rows, outputs):
        return self.mi_weight * self.unconditional_term(rows, outputs)

    def chance_levels(self, batch):
        return {"chance_nce": 1.0 / int(batch["past_ids"].shape[0])}


class Demi(InfoNCE):
    """"demi": LM - w [I_NCE(x; y) + I_VAR(x; y | x')], I_VAR on offline negatives."""

    name = "demi"
    metric_names = InfoNCE.metric_names + ("mi_cond", "acc_cond", "mi")

    @staticmethod
    def require_negatives(batch):
        """Raises ValueError when ``batch`` has no futures sampled from p_GPT2(y | x')."""
        if "negative_ids" not in batch:
            raise ValueError(
                "method 'demi' needs futures sampled from p_GPT2(y | x') in the batches "
                "(negative_ids): run tools/sample_negatives.py and set config.data."
                "negatives_path, or use method 'demi_bo', which needs none."
            )

    def check_batch(self, batch):
        super().check_batch(batch)
        self.require_negatives(batch)

    def columns(self, model, batch, lm_states, training):
        """InfoNCE's, and the conditional scores phi(x', x, y_1), phi(x', x, y_k) of
        the true future and the offline negatives."""
        columns = super().columns(model, batch, lm_states, training)
        self.require_negatives(batch)
        negative_ids, negative_mask = batch["negative_ids"], batch["negative_mask"]
        shape = tf.shape(negative_ids)
        rows, count, width = shape[0], shape[1], shape[2]
        flat_mask = tf.reshape(negative_mask, [rows * count, width])
        negative_repr = model.represent(
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

    def objective(self, rows, outputs):
        nce = self.unconditional_term(rows, outputs)
        cond_positive, cond_negatives = rows["cond_pos"][:, 0], rows["cond_neg"]
        conditional = bounds.cnce(cond_positive, cond_negatives)
        outputs.update(
            mi_cond=conditional,
            acc_cond=_accuracy(cond_positive, cond_negatives),
            mi=nce + conditional,
        )
        return self.mi_weight * (nce + conditional)

    def chance_levels(self, batch):
        return {**super().chance_levels(batch), "chance_cond": 1.0 / (int(batch["negative_ids"].shape[1]) + 1)}


class DemiBoosted(InfoNCE):
    """"demi_bo": LM - w [I_NCE(x'; y) + I_BO(x; y | x')], in-batch negatives only."""

    name = "demi_bo"
    metric_names = ("mi_nce_subview", "acc_nce_subview", "mi_bo", "acc_bo", "mi")

    def __init__(self, mi_weight):
        super().__init__(mi_weight, unconditional="subview")

    def objective(self, rows, outputs):
        fy = rows["fy"]
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

    def chance_levels(self, batch):
        chance = 1.0 / int(batch["past_ids"].shape[0])
        return {"chance_nce_subview": chance, "chance_bo": chance}


class TransferTransfo(LanguageModelling):
    """"transfertransfo": LM + nsp_weight CE of a next-sentence head (``nsp_head``)."""

    name = "transfertransfo"
    metric_names = ("nsp_loss", "acc_nsp")

    def __init__(self, num_distractors, nsp_weight):
        if num_distractors < 1:
            raise ValueError(f"num_distractors must be >= 1 for TransferTransfo, got {num_distractors}.")
        self.num_distractors = int(num_distractors)
        self.nsp_weight = float(nsp_weight)

    def layers(self):
        return {"nsp_head": keras.layers.Dense(1, name="nsp_head")}

    def build_layers(self, model):
        model.nsp_head.build((None, int(model.backbone.hidden_dim)))

    def columns(self, model, batch, lm_states, training):
        """Head logits of this replica's rows: the true future (column 0), then the
        futures of the next ``num_distractors`` rows of the global batch."""
        lm_length = tf.reduce_sum(tf.cast(batch["lm_mask"], tf.int32), axis=1)
        logits = [model.nsp_head(last_token_states(lm_states, lm_length))[:, 0]]
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
            states = model.states(ids, mask, training)
            length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
            logits.append(model.nsp_head(last_token_states(states, length))[:, 0])
        return {"nsp": tf.stack(logits, axis=1)}

    def objective(self, rows, outputs):
        """Minus nsp_weight times the head's cross-entropy over the global batch."""
        logits = rows["nsp"]
        nsp_loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=tf.zeros(tf.shape(logits)[:1], tf.int32), logits=logits
        ))
        outputs.update(nsp_loss=nsp_loss, acc_nsp=_accuracy(logits[:, 0], logits[:, 1:]))
        return -self.nsp_weight * nsp_loss

    def chance_levels(self, batch):
        return {"chance_nsp": 1.0 / (self.num_distractors + 1)}


OBJECTIVES = {
    objective.name: objective
    for objective in (LanguageModelling, InfoNCE, Demi, DemiBoosted, TransferTransfo, Backward)
}


def build_objective(method, **fields):
    """``OBJECTIVES[method]`` built from the model's config fields it takes (the others
    belong to other methods)."""
    if method not in OBJECTIVES:
        raise ValueError(f"Unknown dialogue method {method!r}; choose one of {list(OBJECTIVES)}.")
    objective = OBJECTIVES[method]
    taken = [name for name in field_names(objective.__init__) if name != "self"]
    return objective(**{name: fields[name] for name in taken})
