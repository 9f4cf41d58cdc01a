r"""DEMI of Sordoni et al. (2021), Sec. 5.3 / App. B.1: LM + 0.1 x [I_NCE(x; y) +
I_VAR(x; y | x')], x' the last past utterance; the conditional term picks the true
future among itself and N - 1 = 9 futures sampled from p_GPT2(y | x') (GPT-2 as q,
nucleus p = 0.9, offline) (Table 2: ppl 18.70, BLEU 0.82 on WoW valid; Table 5 test: ppl
18.66, BLEU 0.810).

    python -m trainers.train --config configs/dialogue_gpt2.py --workdir runs/dialogue/gpt2
    python tools/sample_negatives.py --workdir runs/dialogue/gpt2 \
        --config configs/dialogue_demi.py --out runs/dialogue/negatives.npz
    python -m trainers.train --config configs/dialogue_demi.py:negatives_path=runs/dialogue/negatives.npz \
        --workdir runs/dialogue/demi
    python tools/eval_dialogue.py runs/dialogue/demi

``bo``: the I_BO variant (Eq. 10) instead, LM + 0.1 x [I_NCE(x'; y) + I_BO(x; y | x')]
with in-batch negatives; it needs no sampled negatives ("We also tried I_BO in this
setting and obtained similar results"). Logged: mi_nce / acc_nce, mi_cond / acc_cond
(chance 1/N), mi = their sum. See tfmi.models.dialogue for the exact terms. Arguments as
configs/dialogue_gpt2.py, plus bo, negatives_path (the .npz) and mi_weight.
"""

import ml_collections

from tfmi.config_utils import base_config, import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, bo=False, preset="", source="chitchat", path="", negatives_path="", mi_weight=0.1, runlocal=False
    )
    config = base_config("dialogue_demi_bo" if args["bo"] else "dialogue_demi")
    config.batch_size = 10  # 5 per GPU x 2 GPUs: run with --config.strategy=mirrored on two devices
    config.total_steps = 20000

    config.data = ml_collections.ConfigDict()
    config.data.name = "dialogue"
    config.data.source = args["source"]  # "chitchat" (offline) or "wow" (Wizard of Wikipedia)
    config.data.path = args["path"]
    config.data.split = "train"
    config.data.max_past = 5  # utterances
    config.data.max_future = 3
    config.data.max_utterance_tokens = 64
    config.data.max_past_tokens = 256
    config.data.max_future_tokens = 128
    config.data.negatives_path = args["negatives_path"]  # futures sampled by tools/sample_negatives.py
    config.data.num_negatives = 9  # N - 1 per example
    # Each batch padded to its longest row rounded up to 32 tokens, not to P + F = 384:
    # chitchat utterances are short, and a few distinct shapes trace a few times only.
    config.data.pad_to_multiple = 32
    config.data.max_dialogues = 0  # all

    config.model = ml_collections.ConfigDict()
    config.model.name = "dialogue"
    # bo: I_BO with in-batch negatives; else I_VAR with the sampled negatives.
    config.model.method = "demi_bo" if args["bo"] else "demi"
    config.model.mi_weight = args["mi_weight"]  # the MI terms' weight
    config.model.unconditional = "past"
    config.model.num_distractors = 1  # TransferTransfo's next-sentence head
    config.model.nsp_weight = 0.5
    # preset "": a small GPT-2 trained from scratch, offline; "gpt2_base_en": the
    # paper's pretrained GPT-2 small (downloaded once). Dropout 0.1 on all layers.
    config.model.backbone = dict(
        preset=args["preset"], max_sequence_length=384, dropout=0.1, **common.DIALOGUE_SMALL_GPT2
    )

    # Adam, linear decay to 0. The paper's 6.25e-5 fine-tunes a pretrained GPT-2; a GPT-2
    # trained from scratch learns nothing useful at that rate in a short run: 5e-4.
    learning_rate = 6.25e-5 if args["preset"] else 5e-4
    config.optimizer = dict(name="adam", learning_rate=learning_rate, schedule="linear", warmup_steps=0)

    config.update(common.DIALOGUE_TRAINER)
    if args["runlocal"]:
        common.dialogue_runlocal(config)
    return config
