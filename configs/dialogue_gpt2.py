r"""GPT2 baseline of Sordoni et al. (2021), Sec. 5.3: GPT-2 fine-tuned by language
modelling on dialogues (Table 2: ppl 19.21, BLEU 0.78 on WoW valid; Table 5 test: ppl
19.24, BLEU 0.775).

    python -m trainers.train --config configs/dialogue_gpt2.py --workdir runs/dialogue/gpt2
    python tools/eval_dialogue.py runs/dialogue/gpt2

Default: a small GPT-2 (4 layers, d = 256, GPT-2's BPE) trained from scratch, offline,
on the chitchat-dataset corpus. The paper's setting needs network once and the WoW
JSON: ``configs/dialogue_gpt2.py:preset=gpt2_base_en,source=wow,path=DIR`` (pretrained
GPT-2 small, Adam 6.25e-5 linearly decayed to 0, batch 5 per GPU on 2 GPUs: add
``--config.strategy=mirrored``). Arguments: preset, source, path, runlocal (a
seconds-long CPU smoke run); the learning rate, steps and seed are fields
(``--config.optimizer.learning_rate=``, ``--config.total_steps=``, ``--config.seed=``).
The values: configs/sordoni2021/common.py (``dialogue_config``).

This run is also DEMI's proposal: ``tools/sample_negatives.py --workdir`` this run's
workdir samples the futures y ~ p_GPT2(y | x') that configs/dialogue_demi.py reads.
"""

from tfmi.config_utils import import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")


def get_config(arg=None):
    args = parse_arg(
        arg, preset="", source="chitchat", path="", negatives_path="", mi_weight=0.1, runlocal=False
    )
    return common.dialogue_config("dialogue_gpt2", "lm", args)
