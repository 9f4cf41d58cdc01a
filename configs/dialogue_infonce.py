r"""InfoNCE model of Sordoni et al. (2021), Sec. 5.3: LM + 0.1 x I_NCE(x; y) between
the past and the future, critic f(x)^T f(y) with f the last-layer GPT-2 state at the
last token, the other futures of the batch (10) as negatives from p(y) (Table 2: ppl
18.85, BLEU 0.80 on WoW valid; Table 5 test: ppl 18.88, BLEU 0.799).

    python -m trainers.train --config configs/dialogue_infonce.py --workdir runs/dialogue/infonce
    python tools/eval_dialogue.py runs/dialogue/infonce

Logged: mi_nce (nats, at most log 10 = 2.30) and acc_nce, the fraction of pasts whose
true future scores highest (chance_nce = 0.1 at step 0). Data, backbone, optimizer and
arguments as configs/dialogue_gpt2.py, plus mi_weight.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
gpt2 = import_beside(__file__, "dialogue_gpt2.py")


def get_config(arg=None):
    args = parse_arg(arg, **gpt2.ARGS)
    config = gpt2.full_size(args)
    config.experiment = "dialogue_infonce"
    config.model.method = "infonce"
    return common.dialogue_options(config, args)
