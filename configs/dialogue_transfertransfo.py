r"""TransferTransfo baseline (Wolf et al. 2019) of Sordoni et al. (2021), Sec. 5.3:
LM + a next-sentence-prediction head on the last-token state of past ⊕ candidate, the
true future against a distractor future of another dialogue of the batch (Table 2: ppl
19.32, BLEU 0.75 on WoW valid; Table 5 test: ppl 19.33, BLEU 0.752).

    python -m trainers.train --config configs/dialogue_transfertransfo.py \
        --workdir runs/dialogue/transfertransfo
    python tools/eval_dialogue.py runs/dialogue/transfertransfo

Head loss weight 0.5 (the reference implementation's lm_coef 2 : mc_coef 1), one
distractor (``--config.model.num_distractors``). No speaker token-type embeddings
(GPT2Backbone has none). Arguments as configs/dialogue_gpt2.py.
"""

from tfmi.config_utils import dialogue_config_from_args, parse_dialogue_arg


def get_config(arg=None):
    return dialogue_config_from_args(
        "dialogue_transfertransfo", "transfertransfo", parse_dialogue_arg(arg)
    )
