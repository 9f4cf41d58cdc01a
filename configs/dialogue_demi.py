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
(chance 1/N), mi = their sum. See tfmi.models.dialogue_objectives for the exact terms. Data,
backbone, optimizer and arguments as configs/dialogue_gpt2.py, plus bo, negatives_path
(the .npz) and mi_weight.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
gpt2 = import_beside(__file__, "dialogue_gpt2.py")


def get_config(arg=None):
    args = parse_arg(arg, bo=False, **gpt2.ARGS)
    config = gpt2.full_size(args)
    config.experiment = "dialogue_demi_bo" if args["bo"] else "dialogue_demi"
    # bo: I_BO with in-batch negatives; else I_VAR with the sampled negatives.
    config.model.method = "demi_bo" if args["bo"] else "demi"
    return common.dialogue_options(config, args)
