r"""TransferTransfo baseline (Wolf et al. 2019) of Sordoni et al. (2021), Sec. 5.3:
LM + a next-sentence-prediction head on the last-token state of past ⊕ candidate, the
true future against a distractor future of another dialogue of the batch (Table 2: ppl
19.32, BLEU 0.75 on WoW valid; Table 5 test: ppl 19.33, BLEU 0.752).

    python -m trainers.train --config configs/dialogue_transfertransfo.py \
        --workdir runs/dialogue/transfertransfo
    python tools/eval_dialogue.py runs/dialogue/transfertransfo

Head loss weight 0.5 (the reference implementation's lm_coef 2 : mc_coef 1), one
distractor (``--config.model.num_distractors``). No speaker token-type embeddings
(GPT2Backbone has none). Data, backbone, optimizer and arguments as
configs/dialogue_gpt2.py.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
gpt2 = import_beside(__file__, "dialogue_gpt2.py")


def get_config(arg=None):
    args = parse_arg(arg, **gpt2.ARGS)
    config = gpt2.full_size(args)
    config.experiment = "dialogue_transfertransfo"
    config.model.method = "transfertransfo"
    return common.dialogue_options(config, args)
