r"""InfoNCE model of Sordoni et al. (2021), Sec. 5.3: LM + 0.1 x I_NCE(x; y) between
the past and the future, critic f(x)^T f(y) with f the last-layer GPT-2 state at the
last token, the other futures of the batch (10) as negatives from p(y) (Table 2: ppl
18.85, BLEU 0.80 on WoW valid; Table 5 test: ppl 18.88, BLEU 0.799).

    python -m trainers.train --config configs/dialogue_infonce.py --workdir runs/dialogue/infonce
    python tools/eval_dialogue.py runs/dialogue/infonce

Logged: mi_nce (nats, at most log 10 = 2.30) and acc_nce, the fraction of pasts whose
true future scores highest (chance_nce = 0.1 at step 0). Arguments as
configs/dialogue_gpt2.py, plus mi_weight.
"""

from tfmi.config_utils import dialogue_config_from_args, parse_dialogue_arg


def get_config(arg=None):
    return dialogue_config_from_args("dialogue_infonce", "infonce", parse_dialogue_arg(arg))
