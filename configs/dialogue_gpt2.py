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
The values are in full_size below; the other configs/dialogue_*.py load this file and
change the experiment's name and the method (the GPT-2 sizes:
configs/sordoni2021/common.py).

This run is also DEMI's proposal: ``tools/sample_negatives.py --workdir`` this run's
workdir samples the futures y ~ p_GPT2(y | x') that configs/dialogue_demi.py reads.
"""

import ml_collections

from tfmi.config_utils import base_config, import_beside, parse_arg

common = import_beside(__file__, "sordoni2021/common.py")

# The arguments and their defaults (the other configs/dialogue_*.py take the same;
# configs/dialogue_demi.py adds bo).
ARGS = dict(preset="", source="chitchat", path="", negatives_path="", mi_weight=0.1, runlocal=False)


def get_config(arg=None):
    args = parse_arg(arg, **ARGS)
    return common.dialogue_options(full_size(args), args)


def full_size(args):
    """The run before the ``runlocal`` option."""
    config = base_config("dialogue_gpt2")
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
    config.model.method = "lm"
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
    return config
