"""Shared pieces of the configs of Sordoni et al. (2021), "Decomposed Mutual Information
Estimation for Contrastive Representation Learning" (DEMI, ICML 2021).

One config of each family writes the data, model and optimizer sections, batch and
length in full: configs/imagenet_demi.py (Sec. 5.2.1), configs/cifar_simclr.py
(Sec. 5.2.2) and configs/dialogue_gpt2.py (Sec. 5.3 / App. B). Its variants load it with
``import_beside`` and state only what differs. This file holds what every config of a
family shares: the datasets' sizes, the GPT-2 sizes, the trainer's cadence, the check of
the ImageNet ``subview`` argument, and the ``runlocal`` and ``synthetic`` options
(applied last, to the full-size config). A config loads this file with
``import_beside(__file__, "sordoni2021/common.py")``. configs/demi_synthetic.py
(Sec. 5.1) needs none of it.
"""

import ml_collections

from tfmi.config_utils import apply_runlocal

# Training images, for epochs -> steps, and classes (of the synthetic stand-in).
IMAGENET_TRAIN_IMAGES = {"imagenet2012": 1_281_167, "imagenet100": 126_689}
IMAGENET_CLASSES = {"imagenet2012": 1000, "imagenet100": 100}
CIFAR10_TRAIN_IMAGES = 50_000

# The small offline GPT-2 (preset ""), trained from scratch on the chitchat corpus, and
# the tiny one of ``runlocal``. GPT-2's vocabulary (50,257 BPE tokens) in both.
DIALOGUE_SMALL_GPT2 = dict(num_layers=4, num_heads=4, hidden_dim=256, intermediate_dim=1024)
DIALOGUE_TINY_GPT2 = dict(num_layers=2, num_heads=2, hidden_dim=32, intermediate_dim=64)

# The trainer's fields of each family: loop and logging cadence, checkpoints (2 kept),
# export of the trained model; the vision runs in float32 without XLA
# (``--config.mixed_precision``, ``--config.jit_compile`` switch them).
VISION_TRAINER = dict(
    mixed_precision="", jit_compile=False, steps_per_loop=100, log_every=100, keep_checkpoints=2, export=True
)
IMAGENET_TRAINER = dict(VISION_TRAINER, checkpoint_every=5000, histogram_every=25000)
CIFAR_TRAINER = dict(VISION_TRAINER, checkpoint_every=2500, histogram_every=12500)
DIALOGUE_TRAINER = dict(
    steps_per_loop=50, log_every=100, checkpoint_every=1000, histogram_every=5000, keep_checkpoints=2, export=True
)

SUBVIEWS = ("crop", "cut")


def check_subview(subview):
    """The ImageNet configs' ``subview`` argument, checked: x' is a "crop" or a "cut" of x."""
    if subview not in SUBVIEWS:
        raise ValueError(f"subview must be crop or cut, got {subview!r}.")
    return subview


def imagenet_options(config, args):
    """Applies an ImageNet config's ``runlocal`` and ``synthetic`` arguments (in place).

    runlocal: a CPU smoke run: ResNet-18 of width 8, 32 x 32 images (16 x 16 subviews),
    head 32-16, queue 32, batch 8, 6 steps. synthetic: random images of the data's size
    and number of classes, no dataset needed."""
    num_classes = IMAGENET_CLASSES[config.data.dataset]
    if args["runlocal"]:
        apply_runlocal(config, steps=6, batch_size=8)
        config.data.image_size = 32
        config.data.subview_size = 16
        config.model.backbone.update(depth=18, width=8)
        config.model.head_hidden = (32,)
        config.model.head_dim = 16
        config.model.queue_size = 32
        config.optimizer.warmup_steps = 0
    if args["synthetic"]:
        synthetic_views(config, num_classes)
    return config


def cifar_options(config, args):
    """Applies a CIFAR-10 config's ``runlocal`` and ``synthetic`` arguments (in place).

    runlocal: a CPU smoke run: ResNet-18 of width 8, projection 64-32, learning rate 0.1
    after 2 warm-up steps, batch 16, 6 steps. synthetic: random 32 x 32 images of 10
    classes, no download."""
    if args["runlocal"]:
        apply_runlocal(config, steps=6, batch_size=16)
        config.model.backbone.update(depth=18, width=8)
        config.model.proj_hidden = 64
        config.model.proj_dim = 32
        config.optimizer.warmup_steps = 2
        config.optimizer.learning_rate = 0.1
    if args["synthetic"]:
        synthetic_views(config, num_classes=10)
    return config


def dialogue_options(config, args):
    """Applies a dialogue config's ``runlocal`` argument (in place): a CPU smoke run with
    the tiny GPT-2, short sequences, 8 dialogues, 3 sampled negatives, batch 4, 4 steps."""
    if args["runlocal"]:
        config.data.max_utterance_tokens = 16
        config.data.max_past_tokens = 48
        config.data.max_future_tokens = 24
        config.data.num_negatives = 3
        config.data.max_dialogues = 8
        config.data.pad_to_multiple = 0
        config.model.backbone.update(DIALOGUE_TINY_GPT2, max_sequence_length=80)
        apply_runlocal(config, steps=4, batch_size=4)
    return config


def synthetic_views(config, num_classes):
    """Swaps a vision config's data for random images of its size (in place): no
    dataset needed. The subview x', if any, keeps its size: data.subview_size for a
    "crop", the whole image for a "cut"."""
    size = config.data.image_size
    sub_size = {"": 0, "crop": config.data.subview_size, "cut": size}[config.data.subview]
    config.data = ml_collections.ConfigDict(
        dict(name="synthetic_views", image_size=size, sub_size=sub_size, num_classes=num_classes)
    )
    return config
