r"""GPT2-MMI's backward model p(x | y) (Li et al. 2016, MMI-bidi) of Sordoni et al.
(2021), Sec. 5.3: GPT-2 trained by language modelling on future ⊕ past, so that it
scores the past given a candidate future (Table 2: ppl 19.30, BLEU 0.65 on WoW valid;
Table 5 test: ppl 19.35, BLEU 0.740).

    python -m trainers.train --config configs/dialogue_mmi.py --workdir runs/dialogue/mmi_backward
    python tools/eval_dialogue.py runs/dialogue/gpt2 --backward runs/dialogue/mmi_backward

GPT2-MMI itself has no training of its own: tools/eval_dialogue.py samples 50 next
utterances from the forward model (the dialogue_gpt2 workdir, nucleus p = 0.9) and keeps
the one with the highest log p(x | y) under this backward model (both restored from
their checkpoints); its perplexity is the forward model's. Data, backbone, optimizer and
arguments as configs/dialogue_gpt2.py.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")
gpt2 = import_beside(__file__, "dialogue_gpt2.py")


def get_config(arg=None):
    args = parse_arg(arg, **gpt2.ARGS)
    config = gpt2.full_size(args)
    config.experiment = "dialogue_mmi"
    config.model.method = "backward"
    return common.dialogue_options(config, args)
