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

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, bo=False, preset="", source="chitchat", path="", negatives_path="", mi_weight=0.1, runlocal=False
    )
    if args.pop("bo"):
        return common.dialogue_config("dialogue_demi_bo", "demi_bo", args)
    return common.dialogue_config("dialogue_demi", "demi", args)
